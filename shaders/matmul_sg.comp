#version 450
// Matmul for CPU-like devices (lavapipe; LAVAPIPE.md): each subgroup of SG
// lanes computes a BM x (SG*TN) block of y. Lane l loads rows l, l+SG, ... of
// the block's x rows and shares them with subgroupBroadcast; it owns columns
// n0 + i*SG + l, i < TN. No shared memory, no barriers.
// Spec: 0 local_size_x (a multiple of SG), 1 SG (the subgroup size),
// 2 VEC4, 3 BM (a multiple of SG), 4 TN.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_EXT_control_flow_attributes : require
#include "matmul_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint SG = 8;
layout(constant_id = 3) const uint BM = 16;
layout(constant_id = 4) const uint TN = 8;
const uint RPL = BM / SG;           // x rows loaded per lane

void main() {
    uint lane = gl_SubgroupInvocationID;
    uint tile = mm_group_id() * gl_NumSubgroups + gl_SubgroupID;
    uint BN = SG * TN;
    uint tiles_n = (pc.N + BN - 1u) / BN;
    uint tm = tile / tiles_n, tn = tile - tm * tiles_n;
    uint m0 = tm * BM, n0 = tn * BN;
    if (m0 >= pc.M) return;          // the whole subgroup leaves together

    uint xb[RPL];
    [[unroll]] for (uint j = 0u; j < RPL; j++)
        xb[j] = pc.x_off + min(m0 + j * SG + lane, pc.M - 1u) * pc.x_stride;
    uint wb[TN];
    [[unroll]] for (uint i = 0u; i < TN; i++)
        wb[i] = pc.w_off + min(n0 + i * SG + lane, pc.N - 1u) * pc.K;

    float acc[BM][TN];
    [[unroll]] for (uint r = 0u; r < BM; r++)
        [[unroll]] for (uint i = 0u; i < TN; i++) acc[r][i] = 0.0;

    for (uint k = 0u; k < pc.K; k += 4u) {
        vec4 a[RPL];
        [[unroll]] for (uint j = 0u; j < RPL; j++) a[j] = mm_load_x(xb[j], k);
        vec4 b[TN];
        [[unroll]] for (uint i = 0u; i < TN; i++) b[i] = mm_load_w(wb[i], k);
        [[unroll]] for (uint j = 0u; j < RPL; j++) {
            [[unroll]] for (uint l = 0u; l < SG; l++) {
                vec4 ar = subgroupBroadcast(a[j], l);
                [[unroll]] for (uint i = 0u; i < TN; i++) acc[j * SG + l][i] += dot(ar, b[i]);
            }
        }
    }

    [[unroll]] for (uint r = 0u; r < BM; r++)
        [[unroll]] for (uint i = 0u; i < TN; i++) mm_store(m0 + r, n0 + i * SG + lane, acc[r][i]);
}
