#version 450
// Linear attention, chunked form (OPS.md 12), phase 3 of 3: one invocation per
// (row t, head h). Row t is row i of chunk c; S0, z0 are the state before the
// chunk (phase 2's prefix P, PZ) and q, k already went through the feature map:
//   num = gamma^(i+1) q_t S0 + sum_{s in chunk, s <= t} gamma^(t-s) (q_t . k_s) v_s
//   den = gamma^(i+1) q_t . z0 + sum_{s in chunk, s <= t} gamma^(t-s) (q_t . k_s)
//   o_t = num / (den + 1e-6)
// Non-causal (spec 3 false): S0, z0 are the sums over all rows, no chunk term.
// Bindings 4 and 5 hold S0 and z0 at s_off / z_off (P twice when causal).
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
layout(std430, binding = 4) readonly buffer S4 { vec4 s4[]; };
layout(std430, binding = 5) readonly buffer Z { float z[]; };
layout(std430, binding = 6) readonly buffer DECAY { float decay[]; };
layout(push_constant) uniform PC { vkg_pc_linattn pc; };

// Row loads (base: element index of the row's start), zero-padded to D4 vec4s.
vec4 load_q(uint base, uint c) {
    if (VEC4) return q4[(base >> 2) + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = q[base + 4u * c + e];
    return r;
}
vec4 load_k(uint base, uint c) {
    if (VEC4) return k4[(base >> 2) + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = k[base + 4u * c + e];
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
    if (id >= pc.T * pc.H) return;
    uint h = id % pc.H, t = id / pc.H;
    uint g = h / (pc.H / pc.KV);
    uint c = CAUSAL ? t / pc.chunk : 0u, i = t - c * pc.chunk;
    float lg = (pc.flags & VKG_LA_DECAY) != 0u ? la_log_sigmoid(decay[pc.d_off + h]) : 0.0;

    vec4 qr[D4], num[D4];
    for (uint j = 0u; j < D4; j++) {
        qr[j] = load_q(pc.q_off + (t * pc.H + h) * D, j);
        num[j] = vec4(0.0);
    }
    // Inter-chunk term: q S0 and q . z0 (rows a < D of S0 only).
    uint sb = (pc.s_off >> 2) + (c * pc.H + h) * D * D4, zb = pc.z_off + (c * pc.H + h) * 4u * D4;
    float den = 0.0;
    for (uint a4 = 0u; a4 < D4; a4++) {
        for (uint e = 0u; e < 4u; e++) {
            uint a = 4u * a4 + e;
            if (a >= D) break;
            float qa = qr[a4][e];
            den += qa * z[zb + a];
            for (uint j = 0u; j < D4; j++) num[j] += qa * s4[sb + a * D4 + j];
        }
    }
    if (CAUSAL) {
        float gi = exp(lg * float(i + 1u));
        den *= gi;
        for (uint j = 0u; j < D4; j++) num[j] *= gi;
        // Intra-chunk term over rows t0 .. t.
        for (uint s = t - i; s <= t; s++) {
            uint kb = (s * pc.KV + g) * D;
            vec4 dv = vec4(0.0);
            for (uint j = 0u; j < D4; j++) dv += qr[j] * load_k(pc.k_off + kb, j);
            float w = exp(lg * float(t - s)) * ((dv.x + dv.y) + (dv.z + dv.w));
            den += w;
            for (uint j = 0u; j < D4; j++) num[j] += w * load_v(pc.v_off + kb, j);
        }
    }
    float inv = 1.0 / (den + LA_EPS);
    uint ob = pc.o_off + (t * pc.H + h) * D;
    for (uint j = 0u; j < D4; j++) {
        vec4 r = num[j] * inv;
        if (VEC4) {
            o4[(ob >> 2) + j] = r;
        } else {
            for (uint e = 0u; e < 4u; e++) if (4u * j + e < D) o[ob + 4u * j + e] = r[e];
        }
    }
}
