#version 450
// Linear attention, recurrent form (OPS.md 12) for decoding steps: one
// invocation per (head h, block j of 4 value columns) runs the T tokens of the
// call in order, applying the feature map (spec 4) to q and k itself:
//   S[:, j] <- gamma S[:, j] + k_t v_t[j]^T,  z <- gamma z + k_t
//   o_t[j] = (q_t S[:, j]) / (q_t . z + 1e-6)
// Each invocation owns its columns of S (updated in place). Every invocation
// of a head keeps its own copy of z in registers; the one with j = 0 writes
// the new z to ZT (copied back to the state by the emitter), so that no
// invocation reads a z another has already replaced.
#include "vkg_pc.h"
#include "index.glsl"
#include "linattn.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 3) writeonly buffer O4 { vec4 o4[]; };
layout(std430, binding = 4) buffer S4 { vec4 s4[]; };
layout(std430, binding = 5) readonly buffer Z { float z[]; };
layout(std430, binding = 6) writeonly buffer ZT { float zt[]; };
layout(std430, binding = 7) readonly buffer DECAY { float decay[]; };
layout(push_constant) uniform PC { vkg_pc_linattn pc; };

// Feature-mapped row loads, zero beyond D (the feature of a pad would not be 0).
vec4 load_fq(uint base, uint c) {
    vec4 r = VEC4 ? q4[(base >> 2) + c] : vec4(0.0);
    for (uint e = 0u; e < 4u; e++) {
        if (!VEC4 && 4u * c + e < D) r[e] = q[base + 4u * c + e];
        r[e] = 4u * c + e < D ? la_feature(r[e]) : 0.0;
    }
    return r;
}
vec4 load_fk(uint base, uint c) {
    vec4 r = VEC4 ? k4[(base >> 2) + c] : vec4(0.0);
    for (uint e = 0u; e < 4u; e++) {
        if (!VEC4 && 4u * c + e < D) r[e] = k[base + 4u * c + e];
        r[e] = 4u * c + e < D ? la_feature(r[e]) : 0.0;
    }
    return r;
}
vec4 load_v(uint base, uint c) {
    if (VEC4) return v4[(base >> 2) + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = v[base + 4u * c + e];
    return r;
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.H * D4) return;
    uint j = id % D4, h = id / D4;
    uint g = h / (pc.H / pc.KV);
    float gam = (pc.flags & VKG_LA_DECAY) != 0u ? exp(la_log_sigmoid(decay[pc.d_off + h])) : 1.0;
    bool zero = (pc.flags & VKG_LA_INIT_ZERO) != 0u;
    uint sb = (pc.s_off >> 2) + h * D * D4 + j, zb = pc.z_off + h * 4u * D4;
    vec4 zr[D4];
    for (uint c = 0u; c < D4; c++) {
        zr[c] = vec4(0.0);
        for (uint e = 0u; e < 4u; e++) if (!zero && 4u * c + e < D) zr[c][e] = z[zb + 4u * c + e];
    }
    for (uint t = 0u; t < pc.T; t++) {
        uint kb = (t * pc.KV + g) * D, qb = (t * pc.H + h) * D;
        vec4 vj = load_v(pc.v_off + kb, j), num = vec4(0.0);
        float den = 0.0;
        for (uint a4 = 0u; a4 < D4; a4++) {
            vec4 qa = load_fq(pc.q_off + qb, a4), ka = load_fk(pc.k_off + kb, a4);
            zr[a4] = gam * zr[a4] + ka;
            den += dot(qa, zr[a4]);
            for (uint e = 0u; e < 4u; e++) {
                uint a = 4u * a4 + e;
                if (a >= D) break;
                vec4 s = (zero && t == 0u) ? ka[e] * vj : gam * s4[sb + a * D4] + ka[e] * vj;
                s4[sb + a * D4] = s;
                num += qa[e] * s;
            }
        }
        vec4 r = num / (den + LA_EPS);
        uint ob = pc.o_off + qb;
        if (VEC4) {
            o4[(ob >> 2) + j] = r;
        } else {
            for (uint e = 0u; e < 4u; e++) if (4u * j + e < D) o[ob + 4u * j + e] = r[e];
        }
    }
    if (j == 0u)
        for (uint a = 0u; a < 4u * D4; a++) zt[pc.pz_off + h * 4u * D4 + a] = zr[a / 4u][a % 4u];
}
