#version 450
// Matmul for few rows (M <= 4, decoding): one invocation per output column n
// (a row of w), streaming w[n, :] with vec4 loads (when VEC4) and keeping the
// MR rows of x in the same loop. Spec: 0 local_size_x, 2 VEC4, 3 MR (= M).
#extension GL_EXT_control_flow_attributes : require
#include "matmul_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 3) const uint MR = 1;

void main() {
    uint n = mm_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (n >= pc.N) return;
    uint wb = pc.w_off + n * pc.K;
    float acc[MR];
    [[unroll]] for (uint m = 0u; m < MR; m++) acc[m] = 0.0;
    for (uint k = 0u; k < pc.K; k += 4u) {
        vec4 b = mm_load_w(wb, k);
        [[unroll]] for (uint m = 0u; m < MR; m++)
            acc[m] += dot(mm_load_x(pc.x_off + m * pc.x_stride, k), b);
    }
    [[unroll]] for (uint m = 0u; m < MR; m++) mm_store(m, n, acc[m]);
}
