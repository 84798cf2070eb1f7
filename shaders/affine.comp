#version 450
// Per-channel affine (RepBN / BatchNorm at inference, OPS.md 6):
// y[r, c] = a[c] x[r, c] + b[c] (+ z_scale * z[r, c] when has_z: PRepBN's LayerNorm part).
// One element (spec 1: one vec4, C counted in vec4s) per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 3) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 4) readonly buffer Z { float z[]; };
layout(std430, binding = 4) readonly buffer Z4 { vec4 z4[]; };
layout(push_constant) uniform PC { vkg_pc_affine pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.rows * pc.C) return;
    uint c = i % pc.C;
    if (VEC4) {
        vec4 v = a4[pc.a_off + c] * x4[pc.x_off + i] + b4[pc.b_off + c];
        if (pc.has_z != 0u) v += pc.z_scale * z4[pc.z_off + i];
        y4[pc.y_off + i] = v;
    } else {
        float v = a[pc.a_off + c] * x[pc.x_off + i] + b[pc.b_off + c];
        if (pc.has_z != 0u) v += pc.z_scale * z[pc.z_off + i];
        y[pc.y_off + i] = v;
    }
}
