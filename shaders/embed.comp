#version 450
// y[t, :] = table[ids[t], :] (ids i32, range-checked on the host), one element
// (spec 1: one vec4, D counted in vec4s) per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(std430, binding = 0) readonly buffer I { int ids[]; };
layout(std430, binding = 1) readonly buffer E { float table[]; };
layout(std430, binding = 1) readonly buffer E4 { vec4 table4[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform PC { vkg_pc_embed pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.T * pc.D) return;
    uint t = i / pc.D, d = i - t * pc.D;
    uint src = pc.table_off + uint(ids[pc.ids_off + t]) * pc.D + d;
    if (VEC4) y4[pc.y_off + i] = table4[src];
    else y[pc.y_off + i] = table[src];
}
