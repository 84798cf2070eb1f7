#version 450
// y[i] = a[i] op b[i] for i < n (spec 2: 0 add, 1 mul, the vkg__binop codes),
// one element (spec 1: one vec4) per invocation. y may alias a or b.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(constant_id = 2) const uint OP = 0;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform PC { vkg_pc_binary pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.n) return;
    if (VEC4) {
        vec4 u = a4[pc.a_off + i], v = b4[pc.b_off + i];
        y4[pc.y_off + i] = OP == 1u ? u * v : u + v;
    } else {
        float u = a[pc.a_off + i], v = b[pc.b_off + i];
        y[pc.y_off + i] = OP == 1u ? u * v : u + v;
    }
}
