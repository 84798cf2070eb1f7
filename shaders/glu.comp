#version 450
// y[r, f] = act(gu[r, f]) * gu[r, F + f] for a [rows, 2F] input (gate | up),
// one output element (spec 1: one vec4, F counted in vec4s) per invocation.
#include "vkg_pc.h"
#include "index.glsl"
#include "act.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(constant_id = 2) const uint ACT = 0;
layout(std430, binding = 0) readonly buffer G { float gu[]; };
layout(std430, binding = 0) readonly buffer G4 { vec4 gu4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform PC { vkg_pc_glu pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.rows * pc.F) return;
    uint r = i / pc.F, f = i - r * pc.F;
    uint src = pc.gu_off + r * 2u * pc.F + f;
    if (VEC4) {
        vec4 g = gu4[src], u = gu4[src + pc.F];
        y4[pc.y_off + i] = vec4(vkg_act(ACT, g.x), vkg_act(ACT, g.y), vkg_act(ACT, g.z), vkg_act(ACT, g.w)) * u;
    } else {
        y[pc.y_off + i] = vkg_act(ACT, gu[src]) * gu[src + pc.F];
    }
}
