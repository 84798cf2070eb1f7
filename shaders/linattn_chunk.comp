#version 450
// Linear attention, chunked form (OPS.md 12), phase 1 of 3: one invocation per
// (chunk c, head h, key dim a) sums the chunk's own part of the state,
//   P[c, h, a, :] = sum_i gamma_h^(L-1-i) k[i, g, a] v[i, g, :]
//   PZ[c, h, a]   = sum_i gamma_h^(L-1-i) k[i, g, a]
// over the L rows i of the chunk, g = h / (H / KV), k already through the
// feature map, gamma_h = sigmoid(decay_h) (1 without decay). Layouts: linattn.glsl.
#include "vkg_pc.h"
#include "index.glsl"
#include "linattn.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 1) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = 2) writeonly buffer P { float p[]; };
layout(std430, binding = 2) writeonly buffer P4 { vec4 p4[]; };
layout(std430, binding = 3) readonly buffer DECAY { float decay[]; };
layout(push_constant) uniform PC { vkg_pc_linattn pc; };

vec4 load_v(uint base, uint c) {    // base: element index of the row's start
    if (VEC4) return v4[(base >> 2) + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = v[base + 4u * c + e];
    return r;
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.n_chunks * pc.H * D) return;
    uint a = id % D, h = (id / D) % pc.H, c = id / (D * pc.H);
    uint g = h / (pc.H / pc.KV);
    uint t0 = c * pc.chunk, L = min(pc.chunk, pc.T - t0);
    float lg = (pc.flags & VKG_LA_DECAY) != 0u ? la_log_sigmoid(decay[pc.d_off + h]) : 0.0;
    vec4 acc[D4];
    for (uint j = 0u; j < D4; j++) acc[j] = vec4(0.0);
    float zacc = 0.0;
    for (uint i = 0u; i < L; i++) {
        uint row = ((t0 + i) * pc.KV + g) * D;
        float w = exp(lg * float(L - 1u - i)) * k[pc.k_off + row + a];
        for (uint j = 0u; j < D4; j++) acc[j] += w * load_v(pc.v_off + row, j);
        zacc += w;
    }
    uint pb = (pc.p_off >> 2) + ((c * pc.H + h) * D + a) * D4;
    for (uint j = 0u; j < D4; j++) p4[pb + j] = acc[j];
    p[pc.pz_off + (c * pc.H + h) * 4u * D4 + a] = zacc;
}
