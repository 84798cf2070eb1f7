#version 450
// HyLRA attention in a reuse layer (OPS.md 11), one invocation per (query
// row t, head h): the exact softmax renormalised over the positions
// I = idx[(i_row0 + t) * KV + g][0..K), K = min(top_k, n), n the keys row t
// sees (causal: pos0 + t + 1, else Tk); online as attention.comp:
//   s_j = scale q_t,h . k_j,g,  m' = max(m, s_j), alpha = exp(m - m'),
//   p = exp(s_j - m'), l = alpha l + p, acc = alpha acc + p v_j,g; o = acc / l.
// q, o: [Tq, H*Dh]; k, v: [Tk, KV*Dh]. Spec 1: Dh; 2: vec4 loads; 3: causal.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const bool CAUSAL = false;
const uint D4 = (D + 3u) / 4u;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 3) writeonly buffer O4 { vec4 o4[]; };
layout(std430, binding = 4) readonly buffer I { int idx[]; };
layout(push_constant) uniform PC { vkg_pc_hylra_attend pc; };

vec4 load_q(uint base, uint c) {
    if (VEC4) return q4[base + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = q[base + 4u * c + e];
    return r;
}
vec4 load_k(uint base, uint c) {
    if (VEC4) return k4[base + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = k[base + 4u * c + e];
    return r;
}
vec4 load_v(uint base, uint c) {
    if (VEC4) return v4[base + c];
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = v[base + 4u * c + e];
    return r;
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.Tq * pc.H) return;
    uint h = id % pc.H, t = id / pc.H;
    uint g = h / (pc.H / pc.KV);
    uint row = VEC4 ? D4 : D;
    uint qb = pc.q_off + (t * pc.H + h) * row;
    vec4 qr[D4], acc[D4];
    for (uint c = 0u; c < D4; c++) {
        qr[c] = load_q(qb, c) * pc.scale;
        acc[c] = vec4(0.0);
    }
    uint n = CAUSAL ? min(pc.Tk, pc.pos0 + t + 1u) : pc.Tk;
    uint K = min(pc.top_k, n);
    uint ib = pc.i_off + ((pc.i_row0 + t) * pc.KV + g) * pc.top_k;
    float m = -1e30, l = 0.0;
    for (uint i = 0u; i < K; i++) {
        uint j = uint(idx[ib + i]);
        uint kb = pc.k_off + (j * pc.KV + g) * row;
        uint vb = pc.v_off + (j * pc.KV + g) * row;
        vec4 sv = vec4(0.0);
        for (uint c = 0u; c < D4; c++) sv += qr[c] * load_k(kb, c);
        float s = (sv.x + sv.y) + (sv.z + sv.w);
        float mn = max(m, s);
        float alpha = exp(m - mn), p = exp(s - mn);
        l = l * alpha + p;
        for (uint c = 0u; c < D4; c++) acc[c] = acc[c] * alpha + p * load_v(vb, c);
        m = mn;
    }
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint ob = pc.o_off + (t * pc.H + h) * row;
    for (uint c = 0u; c < D4; c++) {
        vec4 r = acc[c] * inv;
        if (VEC4) {
            o4[ob + c] = r;
        } else {
            for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) o[ob + 4u * c + e] = r[e];
        }
    }
}
