#version 450
// y[i] = x[i] for i < n: plain copy, one element (spec 1: one vec4) per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform PC { vkg_pc_copy pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.n) return;
    if (VEC4) y4[pc.y_off + i] = x4[pc.x_off + i];
    else y[pc.y_off + i] = x[pc.x_off + i];
}
