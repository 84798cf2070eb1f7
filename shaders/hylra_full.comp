#version 450
// HyLRA full layer that keeps index sets (OPS.md 10 and 11), fused: one
// invocation per (query row t, KV head g) of a chunk of query rows.
//   1. attention for the NREP heads of group g in one pass over the keys
//      (online softmax as attention.comp; each k_j and v_j is loaded once for
//      all the group's heads); o written per head; each head's final (m, l)
//      stays in registers; rows with n > top_k also keep every s_j,h (the
//      scaled q.k, computed once) in their scratch rows;
//   2. rows with n <= top_k keep every position; else one pass turns the raw
//      rows into the score row (over head 0's raw row, in place)
//      score_j = sum_h exp(s_j,h - m_h) / l_h (f32, heads in order), counting
//      scores against 16 fixed thresholds 2^-24, 2^-22, .. 2^6 on the way;
//   3. exact top K = min(top_k, n): a bracket [lo, hi) of f32 bit patterns
//      (scores >= 0 order as their patterns) with cnt(>= lo) >= K > cnt(>= hi),
//      narrowed by passes that count 16 evenly spaced thresholds inside it,
//      until cnt(>= lo) == K or hi == lo + 1; then one ascending pass keeps
//      every j with pattern >= hi and the first K - cnt(>= hi) in [lo, hi)
//      (all of them, or ties at lo: ties to the smaller j).
// q, o: [Tq, H*Dh]; k, v: [Tk, KV*Dh]; scratch s: [n_rows * KV, NREP, Tk] f32;
// idx: int32 rows (i_row0 + t) of [KV, top_k], ascending, -1 after K.
// Spec 1: Dh; 2: vec4 loads; 3: causal (t sees keys j <= pos0 + t);
// 4: heads per KV head (NREP * ceil(Dh/4) vec4 registers twice).
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const bool CAUSAL = false;
layout(constant_id = 4) const uint NREP = 1;
const uint D4 = (D + 3u) / 4u;
const uint NQ = 4u;                 // thresholds per pass: 4 * NQ
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 3) writeonly buffer O4 { vec4 o4[]; };
layout(std430, binding = 4) buffer S { float sc[]; };
layout(std430, binding = 4) buffer SU { uint sbits[]; };
layout(std430, binding = 5) writeonly buffer I { int idx[]; };
layout(push_constant) uniform PC { vkg_pc_hylra_full pc; };

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

vec4 qr[NREP * D4];
float m[NREP], l[NREP];

// Scaled scores of key j for the group's heads into s[].
void key_scores(uint j, uint g, uint row, out float s[NREP]) {
    uint kb = pc.k_off + (j * pc.KV + g) * row;
    vec4 kr[D4];
    for (uint c = 0u; c < D4; c++) kr[c] = load_k(kb, c);
    for (uint r = 0u; r < NREP; r++) {
        vec4 sv = vec4(0.0);
        for (uint c = 0u; c < D4; c++) sv += qr[r * D4 + c] * kr[c];
        s[r] = (sv.x + sv.y) + (sv.z + sv.w);
    }
}

// Pass 1: the group's attention over keys 0..n-1; o rows of t; final m, l;
// with `keep` the scaled scores s_j,h to scratch rows rb + h * Tk.
void attend(uint t, uint g, uint n, uint row, bool keep, uint rb) {
    vec4 acc[NREP * D4];
    for (uint r = 0u; r < NREP; r++) {
        uint qb = pc.q_off + (t * pc.H + g * NREP + r) * row;
        for (uint c = 0u; c < D4; c++) {
            qr[r * D4 + c] = load_q(qb, c) * pc.scale;
            acc[r * D4 + c] = vec4(0.0);
        }
        m[r] = -1e30;
        l[r] = 0.0;
    }
    for (uint j = 0u; j < n; j++) {
        float s[NREP], alpha[NREP], p[NREP];
        key_scores(j, g, row, s);
        for (uint r = 0u; r < NREP; r++) {
            if (keep) sc[rb + r * pc.Tk + j] = s[r];
            float mn = max(m[r], s[r]);
            alpha[r] = exp(m[r] - mn);
            p[r] = exp(s[r] - mn);
            l[r] = l[r] * alpha[r] + p[r];
            m[r] = mn;
        }
        uint vb = pc.v_off + (j * pc.KV + g) * row;
        for (uint c = 0u; c < D4; c++) {
            vec4 vv = load_v(vb, c);
            for (uint r = 0u; r < NREP; r++) acc[r * D4 + c] = acc[r * D4 + c] * alpha[r] + p[r] * vv;
        }
    }
    for (uint r = 0u; r < NREP; r++) {
        float inv = l[r] > 0.0 ? 1.0 / l[r] : 0.0;
        uint ob = pc.o_off + (t * pc.H + g * NREP + r) * row;
        for (uint c = 0u; c < D4; c++) {
            vec4 x = acc[r * D4 + c] * inv;
            if (VEC4) {
                o4[ob + c] = x;
            } else {
                for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) o[ob + 4u * c + e] = x[e];
            }
        }
    }
}

// Bracket update from counts cnt of thresholds thr (ascending): the largest
// threshold with at least K at or above it becomes lo, the next one hi.
void narrow(uvec4 thr[NQ], uvec4 cnt[NQ], uint K, inout uint lo, inout uint cl, inout uint hi, inout uint ch) {
    for (int i = int(4u * NQ) - 1; i >= 0; i--) {
        uint ti = thr[i / 4][i % 4], ci = cnt[i / 4][i % 4];
        if (ci >= K) {
            lo = ti;
            cl = ci;
            return;
        }
        hi = ti;
        ch = ci;
    }
}

// Pass 2: score row sb (keys 0..n-1, over the raw row of head 0) from the
// raw rows, with the fixed thresholds counted.
void score_row(uint n, uint sb, uint K, inout uint lo, inout uint cl, inout uint hi, inout uint ch) {
    float inv[NREP];
    for (uint r = 0u; r < NREP; r++) inv[r] = 1.0 / l[r];
    uvec4 thr[NQ], cnt[NQ];
    for (uint i = 0u; i < NQ; i++) {
        // ascending: 2^-24, 2^-22, .. 2^6 (biased exponents 103, 105, .. 133)
        thr[i] = (uvec4(103u, 105u, 107u, 109u) + 8u * i) << 23;
        cnt[i] = uvec4(0u);
    }
    for (uint j = 0u; j < n; j++) {
        float score = 0.0;
        for (uint r = 0u; r < NREP; r++) score += exp(sc[sb + r * pc.Tk + j] - m[r]) * inv[r];
        sc[sb + j] = score;
        uvec4 b = uvec4(floatBitsToUint(score));
        for (uint i = 0u; i < NQ; i++) cnt[i] += uvec4(greaterThanEqual(b, thr[i]));
    }
    narrow(thr, cnt, K, lo, cl, hi, ch);
}

// Pass 3: 4 * NQ evenly spaced thresholds in (lo, hi) per pass.
void refine(uint n, uint sb, uint K, inout uint lo, inout uint cl, inout uint hi, inout uint ch) {
    while (cl != K && hi - lo > 1u) {
        uint step = (hi - lo + 4u * NQ) / (4u * NQ + 1u);
        uvec4 thr[NQ], cnt[NQ];
        for (uint i = 0u; i < NQ; i++) {
            uvec4 a = uvec4(4u * i + 1u, 4u * i + 2u, 4u * i + 3u, 4u * i + 4u);
            thr[i] = min(uvec4(lo) + a * step, uvec4(hi));
            cnt[i] = uvec4(0u);
        }
        for (uint j = 0u; j < n; j++) {
            uvec4 b = uvec4(sbits[sb + j]);
            for (uint i = 0u; i < NQ; i++) cnt[i] += uvec4(greaterThanEqual(b, thr[i]));
        }
        narrow(thr, cnt, K, lo, cl, hi, ch);
    }
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.n_rows * pc.KV) return;
    uint g = id % pc.KV, t = pc.row0 + id / pc.KV;
    uint n = CAUSAL ? min(pc.Tk, pc.pos0 + t + 1u) : pc.Tk;
    uint row = VEC4 ? D4 : D;
    uint sb = pc.s_off + id * NREP * pc.Tk;
    attend(t, g, n, row, n > pc.top_k, sb);

    uint K = min(pc.top_k, n);
    uint ib = pc.i_off + ((pc.i_row0 + t) * pc.KV + g) * pc.top_k;
    for (uint i = K; i < pc.top_k; i++) idx[ib + i] = -1;
    if (n <= pc.top_k) {
        for (uint j = 0u; j < n; j++) idx[ib + j] = int(j);
        return;
    }
    uint lo = 0u, cl = n, hi = 0x7F800000u, ch = 0u;    // hi: +inf, above every score
    score_row(n, sb, K, lo, cl, hi, ch);
    refine(n, sb, K, lo, cl, hi, ch);
    uint need = K - ch, n_out = 0u;
    for (uint j = 0u; j < n && n_out < K; j++) {
        uint b = sbits[sb + j];
        if (b >= hi || (b >= lo && need > 0u)) {
            if (b < hi) need--;
            idx[ib + n_out] = int(j);
            n_out++;
        }
    }
}
