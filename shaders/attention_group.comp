#version 450
// Softmax attention, OPS.md 10, grouped (the lavapipe prefill and split-K
// decode variants of attention.comp; emitter vkg__emit_attention): one
// invocation per (block of ROWS query rows, block of HB heads that share one
// KV head g, key chunk s). Each k_j and v_j is loaded once for the
// invocation's ROWS * HB (row, head) pairs, whose q and acc live in registers.
// Online softmax in base 2 with the scale times log2(e) folded into q:
//   s = q'.k_j;  if s > m: (l, acc) *= 2^(m - s), m = s   (rescale only when
//   the running maximum grows);  p = 2^(s - m), l += p, acc += p v_j.
// Causal (spec 3): query t sees keys j <= pos0 + t. Rows of a block end at
// different keys: keys below every row's end run unmasked, the rest masked.
// Without SPLIT (n_split 1): o = acc / l (0 when no key is visible).
// With SPLIT (spec 6): chunk s covers keys [s chunk, (s+1) chunk) and writes
// its partial (m, l) to ml[2 i], ml[2 i + 1] and acc (unnormalised, D4 vec4s,
// zero-padded) to acc4[i D4 + c], i = (t H + h) n_split + s;
// attention_merge.comp combines them.
// q, o: [Tq, H*Dh]; k, v: [Tk, KV*Dh]. Spec 1: Dh; 2: vec4 loads (Dh % 4 == 0,
// offsets in vec4s); 3: causal; 4: HB (divides H / KV); 5: ROWS; 6: SPLIT.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const bool CAUSAL = false;
layout(constant_id = 4) const uint HB = 1;
layout(constant_id = 5) const uint ROWS = 1;
layout(constant_id = 6) const bool SPLIT = false;
const uint D4 = (D + 3u) / 4u;
const uint NP = ROWS * HB;          // (row, head) pairs per invocation: i = r HB + h
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 3) writeonly buffer O4 { vec4 o4[]; };
layout(std430, binding = 4) writeonly buffer ML { float ml[]; };
layout(std430, binding = 5) writeonly buffer A4 { vec4 acc4[]; };
layout(push_constant) uniform PC { vkg_pc_attention_group pc; };

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

vec4 qr[NP * D4], acc[NP * D4];
float m[NP], l[NP];

// Scores of key j for every pair into s[].
void scores(uint j, uint g, uint row, out float s[NP]) {
    uint kb = pc.k_off + (j * pc.KV + g) * row;
    vec4 kr[D4];
    for (uint c = 0u; c < D4; c++) kr[c] = load_k(kb, c);
    for (uint i = 0u; i < NP; i++) {
        vec4 sv = vec4(0.0);
        for (uint c = 0u; c < D4; c++) sv += qr[i * D4 + c] * kr[c];
        s[i] = (sv.x + sv.y) + (sv.z + sv.w);
    }
}

// One key j for every pair; `masked` (causal): pairs of rows t0 + r with
// pos0 + t0 + r < j skip it.
void attend_key(uint j, uint g, uint row, uint t0, bool masked) {
    float s[NP], p[NP];
    scores(j, g, row, s);
    for (uint i = 0u; i < NP; i++) {
        bool on = !masked || j <= pc.pos0 + t0 + i / HB;
        if (on && s[i] > m[i]) {
            float a = exp2(m[i] - s[i]);
            l[i] *= a;
            for (uint c = 0u; c < D4; c++) acc[i * D4 + c] *= a;
            m[i] = s[i];
        }
        p[i] = on ? exp2(s[i] - m[i]) : 0.0;
        l[i] += p[i];
    }
    uint vb = pc.v_off + (j * pc.KV + g) * row;
    for (uint c = 0u; c < D4; c++) {
        vec4 vc = load_v(vb, c);
        for (uint i = 0u; i < NP; i++) acc[i * D4 + c] += p[i] * vc;
    }
}

void store(uint t, uint h, uint s, uint i, uint row) {
    if (SPLIT) {
        uint pi = (t * pc.H + h) * pc.n_split + s;
        ml[pc.ml_off + 2u * pi] = m[i];
        ml[pc.ml_off + 2u * pi + 1u] = l[i];
        for (uint c = 0u; c < D4; c++) acc4[pc.a_off + pi * D4 + c] = acc[i * D4 + c];
        return;
    }
    float inv = l[i] > 0.0 ? 1.0 / l[i] : 0.0;
    uint ob = pc.o_off + (t * pc.H + h) * row;
    for (uint c = 0u; c < D4; c++) {
        vec4 x = acc[i * D4 + c] * inv;
        if (VEC4) {
            o4[ob + c] = x;
        } else {
            for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) o[ob + 4u * c + e] = x[e];
        }
    }
}

void main() {
    uint id = vkg_flat_id();
    uint n_hb = pc.H / HB, n_rb = (pc.Tq + ROWS - 1u) / ROWS;
    if (id >= n_rb * n_hb * pc.n_split) return;
    uint s = id % pc.n_split, hb = (id / pc.n_split) % n_hb, t0 = id / (pc.n_split * n_hb) * ROWS;
    uint h0 = hb * HB, g = h0 / (pc.H / pc.KV);
    uint row = VEC4 ? D4 : D;
    uint j0 = s * pc.chunk, j1 = min(pc.Tk, j0 + pc.chunk);
    for (uint r = 0u; r < ROWS; r++)
        for (uint h = 0u; h < HB; h++) {
            uint i = r * HB + h;
            uint qb = pc.q_off + (min(t0 + r, pc.Tq - 1u) * pc.H + h0 + h) * row;
            for (uint c = 0u; c < D4; c++) {
                qr[i * D4 + c] = load_q(qb, c) * pc.scale;
                acc[i * D4 + c] = vec4(0.0);
            }
            m[i] = -1e30;
            l[i] = 0.0;
        }
    // Keys [j0, lo) are visible to every row of the block, [lo, hi) to some
    // (causal: row t sees j <= pos0 + t); rows past Tq are never stored.
    uint lo = j1, hi = j1;
    if (CAUSAL) {
        uint t1 = min(t0 + ROWS, pc.Tq) - 1u;
        lo = clamp(pc.pos0 + t0 + 1u, j0, j1);
        hi = clamp(pc.pos0 + t1 + 1u, j0, j1);
    }
    for (uint j = j0; j < lo; j++) attend_key(j, g, row, t0, false);
    for (uint j = lo; j < hi; j++) attend_key(j, g, row, t0, true);
    for (uint r = 0u; r < ROWS && t0 + r < pc.Tq; r++)
        for (uint h = 0u; h < HB; h++) store(t0 + r, h0 + h, s, r * HB + h, row);
}
