#version 450
// Matmul without subgroup operations (CPU-like devices that lack them):
// each invocation computes a TM x TN register block of y with row loads of
// x and w (vec4 when VEC4); invocation id owns block (id / tiles_n, id % tiles_n).
// Spec: 0 local_size_x, 2 VEC4, 3 TM, 4 TN.
#extension GL_EXT_control_flow_attributes : require
#include "matmul_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 3) const uint TM = 8;
layout(constant_id = 4) const uint TN = 8;

void main() {
    uint id = mm_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint tiles_n = (pc.N + TN - 1u) / TN;
    uint tm = id / tiles_n, tn = id - tm * tiles_n;
    uint m0 = tm * TM, n0 = tn * TN;
    if (m0 >= pc.M) return;

    uint xb[TM];
    [[unroll]] for (uint r = 0u; r < TM; r++)
        xb[r] = pc.x_off + min(m0 + r, pc.M - 1u) * pc.x_stride;
    uint wb[TN];
    [[unroll]] for (uint i = 0u; i < TN; i++)
        wb[i] = pc.w_off + min(n0 + i, pc.N - 1u) * pc.K;

    float acc[TM][TN];
    [[unroll]] for (uint r = 0u; r < TM; r++)
        [[unroll]] for (uint i = 0u; i < TN; i++) acc[r][i] = 0.0;

    for (uint k = 0u; k < pc.K; k += 4u) {
        vec4 a[TM];
        [[unroll]] for (uint r = 0u; r < TM; r++) a[r] = mm_load_x(xb[r], k);
        vec4 b[TN];
        [[unroll]] for (uint i = 0u; i < TN; i++) b[i] = mm_load_w(wb[i], k);
        [[unroll]] for (uint r = 0u; r < TM; r++)
            [[unroll]] for (uint i = 0u; i < TN; i++) acc[r][i] += dot(a[r], b[i]);
    }

    [[unroll]] for (uint r = 0u; r < TM; r++)
        [[unroll]] for (uint i = 0u; i < TN; i++) mm_store(m0 + r, n0 + i, acc[r][i]);
}
