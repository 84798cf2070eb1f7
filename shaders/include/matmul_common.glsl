// Shared by the matmul family (matmul_sg, matmul_rb, matmul_tiled, gemv):
// bindings, push constants, row loads and the epilogue
//   y[m, n] = act(acc + bias[n]) + res[m, n].
// Bindings: 0 x [M, K] (row stride x_stride), 1 w [N, K] contiguous,
// 2 bias [N], 3 res [M, N] (row stride y_stride), 4 y [M, N] (row stride
// y_stride). Absent bias / res are bound to some valid buffer and flagged off.
// Spec constant VEC4 (id 2 in every shader of the family) selects vec4 loads;
// the emitter sets it only when K, x_stride, x_off and w_off are multiples of 4.
#ifndef VKG_MATMUL_COMMON_GLSL
#define VKG_MATMUL_COMMON_GLSL

#include "vkg_pc.h"
#include "act.glsl"

layout(constant_id = 2) const uint VEC4 = 1;

layout(push_constant) uniform PC { vkg_pc_matmul pc; };
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) readonly buffer R { float res[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };

// Linear workgroup index over a 2-D grid (groupCountX is limited to 65535).
uint mm_group_id() {
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

// x[row, k..k+3] for k a multiple of 4 and k < K (zeros past K); base = element of x[row, 0].
vec4 mm_load_x(uint base, uint k) {
    if (VEC4 != 0u) return x4[(base + k) >> 2];
    uint i = base + k;
    if (k + 4u <= pc.K) return vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
    return vec4(x[i], k + 1u < pc.K ? x[i + 1u] : 0.0,
                k + 2u < pc.K ? x[i + 2u] : 0.0, 0.0);
}

// Same for w[row, k..k+3].
vec4 mm_load_w(uint base, uint k) {
    if (VEC4 != 0u) return w4[(base + k) >> 2];
    uint i = base + k;
    if (k + 4u <= pc.K) return vec4(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
    return vec4(w[i], k + 1u < pc.K ? w[i + 1u] : 0.0,
                k + 2u < pc.K ? w[i + 2u] : 0.0, 0.0);
}

// Epilogue for one output; out-of-range (m, n) are dropped.
void mm_store(uint m, uint n, float acc) {
    if (m >= pc.M || n >= pc.N) return;
    float v = acc;
    if ((pc.flags & VKG_MM_HAS_BIAS) != 0u) v += bias[pc.b_off + n];
    v = vkg_act(pc.act, v);
    uint o = m * pc.y_stride + n;
    if ((pc.flags & VKG_MM_HAS_RES) != 0u) v += res[pc.r_off + o];
    y[pc.y_off + o] = v;
}

#endif
