#version 450
// HyLRA index selection in a full layer (OPS.md 11), one invocation per
// (query row t, KV head g) of a chunk of query rows:
//   1. per head h of the group (in order): s_j = scale q_t,h . k_j,g over
//      the visible keys into a raw scratch row with the final max m_h and sum
//      l_h (online), then score[j] += exp(s_j - m_h) / l_h into the score
//      row (f32, heads summed in order); scratch: two rows of Tk each;
//   2. the K = min(top_k, n) largest scores: the K-th largest f32 bit
//      pattern by a binary search two bits per pass (scores are >= 0, so the
//      bit patterns order as the values), then one ascending pass that keeps
//      every j above it and the first equal ones (ties to the smaller j).
// The K positions go to idx[(i_row0 + t) * KV + g][0..K) in ascending order;
// entries K..top_k-1 are -1. Spec 1: Dh; 2: vec4 loads; 3: causal (query t
// sees keys j <= pos0 + t); 4: heads per KV head.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const bool CAUSAL = false;
layout(constant_id = 4) const uint NREP = 1;
const uint D4 = (D + 3u) / 4u;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) buffer S { float sc[]; };
layout(std430, binding = 2) buffer SU { uint sbits[]; };
layout(std430, binding = 3) writeonly buffer I { int idx[]; };
layout(push_constant) uniform PC { vkg_pc_hylra_select pc; };

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

// Adds head h's probabilities over keys 0..n-1 to the score row sb; the raw
// scores s_j wait in the row rb between the two passes.
void add_head_probs(uint t, uint h, uint g, uint n, uint sb, uint rb, bool first) {
    uint row = VEC4 ? D4 : D;
    uint qb = pc.q_off + (t * pc.H + h) * row;
    vec4 qr[D4];
    for (uint c = 0u; c < D4; c++) qr[c] = load_q(qb, c) * pc.scale;
    float m = -1e30, l = 0.0;
    for (uint j = 0u; j < n; j++) {
        uint kb = pc.k_off + (j * pc.KV + g) * row;
        vec4 sv = vec4(0.0);
        for (uint c = 0u; c < D4; c++) sv += qr[c] * load_k(kb, c);
        float s = (sv.x + sv.y) + (sv.z + sv.w);
        sc[rb + j] = s;
        float mn = max(m, s);
        l = l * exp(m - mn) + exp(s - mn);
        m = mn;
    }
    float inv = 1.0 / l;
    for (uint j = 0u; j < n; j++) {
        float p = exp(sc[rb + j] - m) * inv;
        sc[sb + j] = first ? p : sc[sb + j] + p;
    }
}

// How many of score row sb reach each of the three thresholds (bit patterns).
uvec3 count_at_least(uint sb, uint n, uvec3 bits) {
    uvec3 c = uvec3(0u);
    for (uint j = 0u; j < n; j++) c += uvec3(greaterThanEqual(uvec3(sbits[sb + j]), bits));
    return c;
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.n_rows * pc.KV) return;
    uint g = id % pc.KV, t = pc.row0 + id / pc.KV;
    uint n = CAUSAL ? min(pc.Tk, pc.pos0 + t + 1u) : pc.Tk;
    uint sb = pc.s_off + 2u * id * pc.Tk, rb = sb + pc.Tk;
    for (uint r = 0u; r < NREP; r++) add_head_probs(t, g * NREP + r, g, n, sb, rb, r == 0u);

    // Two bits per pass: the largest thr with at least K scores >= thr.
    uint K = min(pc.top_k, n);
    uint thr = 0u;
    for (int b = 29; b >= -1; b -= 2) {
        uint lo = b >= 0 ? 1u << uint(b) : 0u, hi = 1u << uint(b + 1);
        uvec3 c = count_at_least(sb, n, uvec3(thr | lo, thr | hi, thr | hi | lo));
        if (b < 0) { if (c.y >= K) thr |= hi; break; }
        if (c.z >= K) thr |= hi | lo;
        else if (c.y >= K) thr |= hi;
        else if (c.x >= K) thr |= lo;
    }
    uint need = K - count_at_least(sb, n, uvec3(thr + 1u)).x;   // how many equal to thr to keep
    uint ib = pc.i_off + ((pc.i_row0 + t) * pc.KV + g) * pc.top_k;
    uint n_out = 0u;
    for (uint j = 0u; j < n && n_out < K; j++) {
        uint b = sbits[sb + j];
        bool eq = b == thr;
        if (b > thr || (eq && need > 0u)) {
            if (eq) need--;
            idx[ib + n_out] = int(j);
            n_out++;
        }
    }
    for (uint i = K; i < pc.top_k; i++) idx[ib + i] = -1;
}
