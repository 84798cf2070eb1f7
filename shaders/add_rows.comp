#version 450
// y[t, :] = x[t, :] + rows[first_row + t, :] (positional embedding), one element
// (spec 1: one vec4, C counted in vec4s) per invocation. y may alias x.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer R { float rows[]; };
layout(std430, binding = 1) readonly buffer R4 { vec4 rows4[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform PC { vkg_pc_add_rows pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.T * pc.C) return;
    uint r = pc.rows_off + pc.first_row * pc.C + i;
    if (VEC4) y4[pc.y_off + i] = x4[pc.x_off + i] + rows4[r];
    else y[pc.y_off + i] = x[pc.x_off + i] + rows[r];
}
