#version 450
// moe grouped GEMM (OPS.md 14): each expert multiplies only its own rows,
// the slots offs[e] .. offs[e+1]-1 of the expert-sorted order (moe_sort).
//   GATED = 1: x row = x[rows[slot]] (the token), w = gate[e], w2 = up[e]:
//              y[slot, n] = act(x . gate[e, n]) * (x . up[e, n])
//   GATED = 0: x row = x[slot], y[slot, n] = x . w[e, n]
// w and w2 are stacked [E, N, K]. The grid is sized for the worst case (M
// rows for every expert: M = T, as a token picks an expert at most once);
// invocation id owns expert e, a TM-row block and a TN-column block, and
// leaves at once when its row block lies past the expert's count (known only
// on the device). Register blocks, vec4 loads when VEC4 (LAVAPIPE.md).
// Spec: 0 local size, 1 VEC4, 2 GATED, 3 TM, 4 TN, 5 ACT (vkg__act).
#extension GL_EXT_control_flow_attributes : require
#include "vkg_pc.h"
#include "index.glsl"
#include "act.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint VEC4 = 0;
layout(constant_id = 2) const uint GATED = 1;
layout(constant_id = 3) const uint TM = 8;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint ACT = 4;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = 2) readonly buffer W2 { float w2[]; };
layout(std430, binding = 2) readonly buffer W24 { vec4 w24[]; };
layout(std430, binding = 3) readonly buffer O { uint offs[]; };
layout(std430, binding = 4) readonly buffer R { uint rows[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { vkg_pc_moe_gemm pc; };

// v[i..i+3] for k a multiple of 4 below K, zeros past K (i = base + k).
vec4 ld_x(uint i, uint k) {
    if (VEC4 != 0u) return x4[i >> 2];
    if (k + 4u <= pc.K) return vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
    return vec4(x[i], k + 1u < pc.K ? x[i + 1u] : 0.0, k + 2u < pc.K ? x[i + 2u] : 0.0, 0.0);
}
vec4 ld_w(uint i, uint k) {
    if (VEC4 != 0u) return w4[i >> 2];
    if (k + 4u <= pc.K) return vec4(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
    return vec4(w[i], k + 1u < pc.K ? w[i + 1u] : 0.0, k + 2u < pc.K ? w[i + 2u] : 0.0, 0.0);
}
vec4 ld_w2(uint i, uint k) {
    if (VEC4 != 0u) return w24[i >> 2];
    if (k + 4u <= pc.K) return vec4(w2[i], w2[i + 1u], w2[i + 2u], w2[i + 3u]);
    return vec4(w2[i], k + 1u < pc.K ? w2[i + 1u] : 0.0, k + 2u < pc.K ? w2[i + 2u] : 0.0, 0.0);
}

void main() {
    uint id = vkg_flat_id();
    uint n_cb = (pc.N + TN - 1u) / TN, n_rb = (pc.M + TM - 1u) / TM;
    uint cb = id % n_cb, rest = id / n_cb;
    uint rb = rest % n_rb, e = rest / n_rb;
    if (e >= pc.E) return;
    uint first = offs[pc.offs_off + e], count = offs[pc.offs_off + e + 1u] - first;
    uint m0 = rb * TM, n0 = cb * TN;
    if (m0 >= count) return;

    uint xb[TM];
    [[unroll]] for (uint r = 0u; r < TM; r++) {
        uint slot = first + min(m0 + r, count - 1u);
        xb[r] = pc.x_off + (GATED != 0u ? rows[pc.rows_off + slot] : slot) * pc.K;
    }
    uint wb[TN];
    [[unroll]] for (uint i = 0u; i < TN; i++) wb[i] = (e * pc.N + min(n0 + i, pc.N - 1u)) * pc.K;

    float acc[TM][TN], acc2[TM][TN];
    [[unroll]] for (uint r = 0u; r < TM; r++)
        [[unroll]] for (uint i = 0u; i < TN; i++) acc[r][i] = 0.0, acc2[r][i] = 0.0;

    for (uint k = 0u; k < pc.K; k += 4u) {
        vec4 a[TM];
        [[unroll]] for (uint r = 0u; r < TM; r++) a[r] = ld_x(xb[r] + k, k);
        vec4 b[TN];
        [[unroll]] for (uint i = 0u; i < TN; i++) b[i] = ld_w(pc.w_off + wb[i] + k, k);
        [[unroll]] for (uint r = 0u; r < TM; r++)
            [[unroll]] for (uint i = 0u; i < TN; i++) acc[r][i] += dot(a[r], b[i]);
        if (GATED != 0u) {
            [[unroll]] for (uint i = 0u; i < TN; i++) b[i] = ld_w2(pc.w2_off + wb[i] + k, k);
            [[unroll]] for (uint r = 0u; r < TM; r++)
                [[unroll]] for (uint i = 0u; i < TN; i++) acc2[r][i] += dot(a[r], b[i]);
        }
    }

    [[unroll]] for (uint r = 0u; r < TM; r++) {
        if (m0 + r >= count) break;
        uint yb = pc.y_off + (first + m0 + r) * pc.N + n0;
        [[unroll]] for (uint i = 0u; i < TN; i++) {
            if (n0 + i >= pc.N) break;
            y[yb + i] = GATED != 0u ? vkg_act(ACT, acc[r][i]) * acc2[r][i] : acc[r][i];
        }
    }
}
