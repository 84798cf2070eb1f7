#version 450
// Matmul for GPUs: shared-memory tiles. A workgroup of 256 invocations
// (16 x 16) computes a 64 x 64 block of y, each invocation 4 x 4 outputs at
// rows ty + 16 r and columns tx + 16 c; K advances in steps of BK = 16
// through tiles of x and w in shared memory, with bounds-checked scalar loads.
// Spec: 0 local_size_x (must be 256), 2 VEC4 (unused).
#extension GL_EXT_control_flow_attributes : require
#include "matmul_common.glsl"

layout(local_size_x_id = 0) in;

const uint BMT = 64u, BNT = 64u, BK = 16u;
shared float xs[BK][BMT + 1u];
shared float ws[BK][BNT + 1u];

void main() {
    uint tiles_n = (pc.N + BNT - 1u) / BNT;
    uint tile = mm_group_id();
    uint tm = tile / tiles_n, tn = tile - tm * tiles_n;
    uint m0 = tm * BMT, n0 = tn * BNT;
    if (m0 >= pc.M) return;          // uniform over the workgroup
    uint t = gl_LocalInvocationID.x;
    uint tx = t % 16u, ty = t / 16u;

    float acc[4][4];
    [[unroll]] for (uint r = 0u; r < 4u; r++)
        [[unroll]] for (uint c = 0u; c < 4u; c++) acc[r][c] = 0.0;

    for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
        // 64 x 16 elements of each operand, 4 per invocation; consecutive
        // invocations read consecutive k.
        [[unroll]] for (uint e = 0u; e < 4u; e++) {
            uint idx = e * 256u + t;
            uint row = idx / BK, kk = idx % BK;
            uint k = k0 + kk;
            uint mx = m0 + row, nw = n0 + row;
            xs[kk][row] = (mx < pc.M && k < pc.K) ? x[pc.x_off + mx * pc.x_stride + k] : 0.0;
            ws[kk][row] = (nw < pc.N && k < pc.K) ? w[pc.w_off + nw * pc.K + k] : 0.0;
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            float a[4], b[4];
            [[unroll]] for (uint r = 0u; r < 4u; r++) a[r] = xs[kk][ty + 16u * r];
            [[unroll]] for (uint c = 0u; c < 4u; c++) b[c] = ws[kk][tx + 16u * c];
            [[unroll]] for (uint r = 0u; r < 4u; r++)
                [[unroll]] for (uint c = 0u; c < 4u; c++) acc[r][c] += a[r] * b[c];
        }
        barrier();
    }

    [[unroll]] for (uint r = 0u; r < 4u; r++)
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            mm_store(m0 + ty + 16u * r, n0 + tx + 16u * c, acc[r][c]);
}
