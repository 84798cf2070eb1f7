#version 450
// Matmul for few rows (M <= 4, decoding): one invocation per NR output columns
// n (rows of w), streaming w[n, :] with vec4 loads (when VEC4) and keeping the
// MR rows of x in the same loop, so each x load serves NR rows of w.
// Spec: 0 local_size_x, 2 VEC4, 3 MR (= M), 4 NR.
#extension GL_EXT_control_flow_attributes : require
#include "matmul_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 3) const uint MR = 1;
layout(constant_id = 4) const uint NR = 1;

void main() {
    uint n0 = (mm_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * NR;
    if (n0 >= pc.N) return;
    uint wb[NR];
    [[unroll]] for (uint j = 0u; j < NR; j++) wb[j] = pc.w_off + min(n0 + j, pc.N - 1u) * pc.K;
    float acc[MR * NR];
    [[unroll]] for (uint i = 0u; i < MR * NR; i++) acc[i] = 0.0;
    for (uint k = 0u; k < pc.K; k += 4u) {
        vec4 b[NR];
        [[unroll]] for (uint j = 0u; j < NR; j++) b[j] = mm_load_w(wb[j], k);
        [[unroll]] for (uint m = 0u; m < MR; m++) {
            vec4 a = mm_load_x(pc.x_off + m * pc.x_stride, k);
            [[unroll]] for (uint j = 0u; j < NR; j++) acc[m * NR + j] += dot(a, b[j]);
        }
    }
    [[unroll]] for (uint m = 0u; m < MR; m++)
        [[unroll]] for (uint j = 0u; j < NR; j++) mm_store(m, n0 + j, acc[m * NR + j]);
}
