#version 450
// Softmax attention, OPS.md 10, grouped (the lavapipe prefill and split-K
// decode variants of attention.comp; emitter vkg__emit_attention): one
// invocation per (block of ROWS query rows, block of HB heads that share one
// KV head g, key chunk s). Each k_j and v_j is loaded once for the
// invocation's ROWS * HB (row, head) pairs, whose q and acc live in registers.
// Online softmax in base 2 with the scale times log2(e) folded into q:
//   s = q'.k_j, m' = max(m, s), a = 2^(m - m'), p = 2^(s - m'),
//   l = a l + p, acc = a acc + p v_j, m = m'
// (branch-free: rescaling only when the maximum grows measured 2x slower).
// Causal (spec 3): query t sees keys j <= pos0 + t; the block runs to its
// last row's end and the other rows take p = 0, a = 1 for keys past theirs.
// Every loop but the key loop is [[unroll]]: llvmpipe stops a loop nest after
// 65535 iterations in all, so rolled inner loops cut long rows short.
// Without SPLIT (n_split 1): o = acc / l (0 when no key is visible).
// With SPLIT (spec 6): chunk s covers keys [s chunk, (s+1) chunk) and writes
// its partial (m, l) to ml[2 i], ml[2 i + 1] and acc (unnormalised, D4 vec4s,
// zero-padded) to acc4[i D4 + c], i = (t H + h) n_split + s;
// attention_merge.comp combines them.
// q, o: [Tq, H*Dh]; k, v: [Tk, KV*Dh]. Spec 1: Dh; 2: vec4 loads (Dh % 4 == 0,
// offsets in vec4s); 3: causal; 4: HB (divides H / KV); 5: ROWS; 6: SPLIT.
#extension GL_EXT_control_flow_attributes : require
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
    [[unroll]] for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = q[base + 4u * c + e];
    return r;
}
vec4 load_k(uint base, uint c) {
    if (VEC4) return k4[base + c];
    vec4 r = vec4(0.0);
    [[unroll]] for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = k[base + 4u * c + e];
    return r;
}
vec4 load_v(uint base, uint c) {
    if (VEC4) return v4[base + c];
    vec4 r = vec4(0.0);
    [[unroll]] for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) r[e] = v[base + 4u * c + e];
    return r;
}

vec4 qr[NP * D4], acc[NP * D4];
float m[NP], l[NP];

// Scores of key j for every pair into s[].
void scores(uint j, uint g, uint row, out float s[NP]) {
    uint kb = pc.k_off + (j * pc.KV + g) * row;
    vec4 sv[NP];
    [[unroll]] for (uint i = 0u; i < NP; i++) sv[i] = vec4(0.0);
    [[unroll]] for (uint c = 0u; c < D4; c++) {
        vec4 kc = load_k(kb, c);
        [[unroll]] for (uint i = 0u; i < NP; i++) sv[i] += qr[i * D4 + c] * kc;
    }
    [[unroll]] for (uint i = 0u; i < NP; i++) s[i] = (sv[i].x + sv[i].y) + (sv[i].z + sv[i].w);
}

// One key j for every pair; pair i (row r = i / HB) takes it when j <= end[r].
void attend_key(uint j, uint g, uint row, uint end[ROWS]) {
    float s[NP], p[NP], al[NP];
    scores(j, g, row, s);
    [[unroll]] for (uint i = 0u; i < NP; i++) {
        bool on = j <= end[i / HB];
        float mn = max(m[i], on ? s[i] : -1e30);
        al[i] = exp2(m[i] - mn);
        p[i] = on ? exp2(s[i] - mn) : 0.0;
        l[i] = l[i] * al[i] + p[i];
        m[i] = mn;
    }
    uint vb = pc.v_off + (j * pc.KV + g) * row;
    [[unroll]] for (uint c = 0u; c < D4; c++) {
        vec4 vc = load_v(vb, c);
        [[unroll]] for (uint i = 0u; i < NP; i++) acc[i * D4 + c] = acc[i * D4 + c] * al[i] + p[i] * vc;
    }
}

void store(uint t, uint h, uint s, uint i, uint row) {
    if (SPLIT) {
        uint pi = (t * pc.H + h) * pc.n_split + s;
        ml[pc.ml_off + 2u * pi] = m[i];
        ml[pc.ml_off + 2u * pi + 1u] = l[i];
        [[unroll]] for (uint c = 0u; c < D4; c++) acc4[pc.a_off + pi * D4 + c] = acc[i * D4 + c];
        return;
    }
    float inv = l[i] > 0.0 ? 1.0 / l[i] : 0.0;
    uint ob = pc.o_off + (t * pc.H + h) * row;
    [[unroll]] for (uint c = 0u; c < D4; c++) {
        vec4 x = acc[i * D4 + c] * inv;
        if (VEC4) {
            o4[ob + c] = x;
        } else {
            [[unroll]] for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) o[ob + 4u * c + e] = x[e];
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
    [[unroll]] for (uint r = 0u; r < ROWS; r++)
        [[unroll]] for (uint h = 0u; h < HB; h++) {
            uint i = r * HB + h;
            uint qb = pc.q_off + (min(t0 + r, pc.Tq - 1u) * pc.H + h0 + h) * row;
            [[unroll]] for (uint c = 0u; c < D4; c++) {
                qr[i * D4 + c] = load_q(qb, c) * pc.scale;
                acc[i * D4 + c] = vec4(0.0);
            }
            m[i] = -1e30;
            l[i] = 0.0;
        }
    // Causal: row t sees keys j <= pos0 + t; rows past Tq are never stored.
    uint end[ROWS];
    [[unroll]] for (uint r = 0u; r < ROWS; r++) end[r] = CAUSAL ? pc.pos0 + t0 + r : 0xFFFFFFFFu;
    uint hi = CAUSAL ? clamp(pc.pos0 + min(t0 + ROWS, pc.Tq), j0, j1) : j1;
    for (uint j = j0; j < hi; j++) attend_key(j, g, row, end);
    [[unroll]] for (uint r = 0u; r < ROWS; r++)
        if (t0 + r < pc.Tq)
            [[unroll]] for (uint h = 0u; h < HB; h++) store(t0 + r, h0 + h, s, r * HB + h, row);
}
