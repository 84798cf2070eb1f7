#version 450
// y[i] = act(x[i]) for i < n, one element (spec 1: one vec4) per invocation;
// spec 2 is the activation (vkg__act codes, act.glsl).
#include "vkg_pc.h"
#include "index.glsl"
#include "act.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(constant_id = 2) const uint ACT = 0;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform PC { vkg_pc_unary pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.n) return;
    if (VEC4) {
        vec4 v = x4[pc.x_off + i];
        y4[pc.y_off + i] = vec4(vkg_act(ACT, v.x), vkg_act(ACT, v.y), vkg_act(ACT, v.z), vkg_act(ACT, v.w));
    } else {
        y[pc.y_off + i] = vkg_act(ACT, x[pc.x_off + i]);
    }
}
