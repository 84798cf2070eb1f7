#version 450
// Linear attention, chunked form (OPS.md 12), phase 2 of 3: one invocation per
// (head h, key dim a) walks the chunks in order, turning each chunk's own part
// P[c] (phase 1) into the state before that chunk, in place, and leaves the
// state after the last chunk in S, z:
//   P[c] <- S;  S <- gamma_h^L_c S + (old P[c])        (same for PZ and z)
// S, z start from the stored state, or from zero with VKG_LA_INIT_ZERO.
// Non-causal use: no decay, and only the final S, z (the sums over all rows) are read.
#include "vkg_pc.h"
#include "index.glsl"
#include "linattn.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer P { float p[]; };
layout(std430, binding = 0) buffer P4 { vec4 p4[]; };
layout(std430, binding = 1) buffer S4 { vec4 s4[]; };
layout(std430, binding = 2) buffer Z { float z[]; };
layout(std430, binding = 3) readonly buffer DECAY { float decay[]; };
layout(push_constant) uniform PC { vkg_pc_linattn pc; };

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.H * D) return;
    uint a = id % D, h = id / D;
    bool zero = (pc.flags & VKG_LA_INIT_ZERO) != 0u;
    float lg = (pc.flags & VKG_LA_DECAY) != 0u ? la_log_sigmoid(decay[pc.d_off + h]) : 0.0;
    uint sb = (pc.s_off >> 2) + (h * D + a) * D4, zi = pc.z_off + h * 4u * D4 + a;
    vec4 s[D4];
    for (uint j = 0u; j < D4; j++) s[j] = zero ? vec4(0.0) : s4[sb + j];
    float zs = zero ? 0.0 : z[zi];
    for (uint c = 0u; c < pc.n_chunks; c++) {
        float gl = exp(lg * float(min(pc.chunk, pc.T - c * pc.chunk)));
        uint pb = (pc.p_off >> 2) + ((c * pc.H + h) * D + a) * D4;
        for (uint j = 0u; j < D4; j++) {
            vec4 own = p4[pb + j];
            p4[pb + j] = s[j];
            s[j] = gl * s[j] + own;
        }
        uint pzi = pc.pz_off + (c * pc.H + h) * 4u * D4 + a;
        float ownz = p[pzi];
        p[pzi] = zs;
        zs = gl * zs + ownz;
    }
    for (uint j = 0u; j < D4; j++) s4[sb + j] = s[j];
    z[zi] = zs;
}
