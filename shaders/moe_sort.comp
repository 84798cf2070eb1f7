#version 450
// moe dispatch: counting sort of the n = T*K choices sel[a] (a = t*K + k) by
// expert, stable in token order. One invocation per expert e: offs[e] = the
// number of choices of smaller experts (offs[E] = n); the choices of e get
// the slots offs[e].. in order: rows[slot] = token, pos[a] = slot. Two plain
// passes over sel per expert, no atomics and no barriers.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer S { uint sel[]; };
layout(std430, binding = 1) writeonly buffer O { uint offs[]; };
layout(std430, binding = 2) writeonly buffer R { uint rows[]; };
layout(std430, binding = 3) writeonly buffer P { uint pos[]; };
layout(push_constant) uniform PC { vkg_pc_moe_sort pc; };

void main() {
    uint e = vkg_flat_id();
    if (e >= pc.E) return;
    uint before = 0u;
    for (uint a = 0u; a < pc.n; a++) before += sel[pc.sel_off + a] < e ? 1u : 0u;
    offs[pc.offs_off + e] = before;
    if (e + 1u == pc.E) offs[pc.offs_off + pc.E] = pc.n;
    uint slot = before;
    for (uint a = 0u; a < pc.n; a++) {
        if (sel[pc.sel_off + a] == e) {
            rows[pc.rows_off + slot] = a / pc.K;
            pos[pc.pos_off + a] = slot;
            slot++;
        }
    }
}
