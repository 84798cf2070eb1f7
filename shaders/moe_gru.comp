#version 450
// Recurrent moe router (RMoE, OPS.md 14): the GRU cell (PyTorch GRUCell,
// gates r, z, n) in place on the router state h [T, R], one element per
// invocation, from gi = u W_ih^T + b_ih and gh = h W_hh^T + b_hh [T, 3R]:
//   r = sig(gi_r + gh_r), z = sig(gi_z + gh_z), n = tanh(gi_n + r gh_n),
//   h' = (1 - z) n + z h.
// FIRST (spec 1): the first router of the chain, h = 0, so gh is b_hh [3R]
// for every row and h is only written.
#include "vkg_pc.h"
#include "index.glsl"
#include "act.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint FIRST = 0;
layout(std430, binding = 0) readonly buffer GI { float gi[]; };
layout(std430, binding = 1) readonly buffer GH { float gh[]; };
layout(std430, binding = 2) buffer H { float h[]; };
layout(push_constant) uniform PC { vkg_pc_moe_gru pc; };

void main() {
    uint i = vkg_flat_id();
    if (i >= pc.T * pc.R) return;
    uint t = i / pc.R, j = i - t * pc.R;
    uint ib = pc.gi_off + t * 3u * pc.R + j;
    uint hb = pc.gh_off + (FIRST != 0u ? 0u : t * 3u * pc.R) + j;
    float r = vkg_sigmoid(gi[ib] + gh[hb]);
    float z = vkg_sigmoid(gi[ib + pc.R] + gh[hb + pc.R]);
    float n = vkg_tanh(gi[ib + 2u * pc.R] + r * gh[hb + 2u * pc.R]);
    float hp = FIRST != 0u ? 0.0 : h[pc.h_off + i];
    h[pc.h_off + i] = (1.0 - z) * n + z * hp;
}
