#version 450
// Canon layer, OPS.md 8: a depthwise causal conv over the rows of x with the
// Canon residual,
//   z[t, c] = sum_j W[c, j] x[t - (K-1) + j, c] (+ bias[c]),  y = x + z (residual) or z,
// where rows before the call's first row come from the window (the last K-1
// inputs of earlier calls, [K-1, C] rows, oldest first), or are zero.
// One invocation per (channel, or vec4 of channels with spec 1; block of
// rows): the K weights once into registers, then a sliding history of the
// last K-1 inputs in registers, so each input row is loaded once per block.
// The invocation that ends at row T writes its history back as the new
// window (flag WRITE_WIN): it read its old window entries before, and no
// other invocation touches them. A dispatch whose first_row is T computes
// nothing and only moves the window (the update after a multi-block conv).
// x and y must not overlap (rows read earlier rows of other blocks).
// Spec 2: K.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool VEC4 = false;
layout(constant_id = 2) const uint K = 4;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = 3) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 4) buffer S { float s[]; };
layout(std430, binding = 4) buffer S4 { vec4 s4[]; };
layout(push_constant) uniform PC { vkg_pc_canon pc; };

vec4 load_x(uint i) {
    if (VEC4) return x4[i];
    return vec4(x[i], 0.0, 0.0, 0.0);
}

vec4 load_s(uint i) {
    if (VEC4) return s4[i];
    return vec4(s[i], 0.0, 0.0, 0.0);
}

void store_s(uint i, vec4 v) {
    if (VEC4) s4[i] = v;
    else s[i] = v.x;
}

// Input row r (may be negative: then the window row K-1+r, or zero).
vec4 input_row(int r, uint cg) {
    if (r >= 0) return load_x(pc.x_off + uint(r) * pc.x_stride + cg);
    if ((pc.flags & VKG_CANON_READ_WIN) == 0u) return vec4(0.0);
    return load_s(pc.win_off + uint(int(K) - 1 + r) * pc.win_stride + cg);
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.C * pc.n_blocks) return;
    uint cg = id % pc.C, blk = id / pc.C;
    uint t0 = pc.first_row + blk * pc.rows;
    uint t1 = min(t0 + pc.rows, pc.T);
    // Loops run to spec-constant bounds (K - 1u: 0 for K = 1) so that they
    // unroll and the arrays stay in registers.
    vec4 wr[K];
    uint wb = pc.w_off + cg * (VEC4 ? 4u : 1u) * K;
    if (VEC4 && K == 4u && (pc.flags & VKG_CANON_W_VEC4) != 0u) {
        // Four weight rows [c, 0..3] as vec4 loads, transposed to taps.
        mat4 m = mat4(w4[wb / 4u], w4[wb / 4u + 1u], w4[wb / 4u + 2u], w4[wb / 4u + 3u]);
        m = transpose(m);
        for (uint j = 0u; j < K; j++) wr[j] = m[j];
    } else {
        for (uint j = 0u; j < K; j++) {
            if (VEC4) wr[j] = vec4(w[wb + j], w[wb + K + j], w[wb + 2u * K + j], w[wb + 3u * K + j]);
            else wr[j] = vec4(w[wb + j], 0.0, 0.0, 0.0);
        }
    }
    vec4 hist[K];
    for (uint j = 0u; j < K - 1u; j++) hist[j] = input_row(int(t0) - int(K) + 1 + int(j), cg);
    vec4 bias = vec4(0.0);
    if ((pc.flags & VKG_CANON_BIAS) != 0u) bias = VEC4 ? b4[pc.b_off + cg] : vec4(b[pc.b_off + cg], 0.0, 0.0, 0.0);
    for (uint t = t0; t < t1; t++) {
        vec4 xt = load_x(pc.x_off + t * pc.x_stride + cg);
        vec4 acc = wr[K - 1u] * xt;
        for (uint j = 0u; j < K - 1u; j++) acc += wr[j] * hist[j];
        acc += bias;
        if ((pc.flags & VKG_CANON_RESIDUAL) != 0u) acc += xt;
        uint yi = pc.y_off + t * pc.y_stride + cg;
        if (VEC4) y4[yi] = acc;
        else y[yi] = acc.x;
        for (uint j = 1u; j < K - 1u; j++) hist[j - 1u] = hist[j];
        if (K > 1u) hist[K > 1u ? K - 2u : 0u] = xt;
    }
    if ((pc.flags & VKG_CANON_WRITE_WIN) != 0u && t1 == pc.T)
        for (uint j = 0u; j < K - 1u; j++) store_s(pc.win_off + j * pc.win_stride + cg, hist[j]);
}
