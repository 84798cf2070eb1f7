#version 450
// moe combine (OPS.md 14): y[t, c] = sum_k wt[t*K + k] * ys[pos[t*K + k], c]
// in f32, k in rank order: each token gathers its K expert outputs from the
// expert-sorted rows (the scatter-add written as a gather: no atomics, the
// same sum on every run). One output element per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer YS { float ys[]; };
layout(std430, binding = 1) readonly buffer P { uint pos[]; };
layout(std430, binding = 2) readonly buffer W { float wt[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { vkg_pc_moe_combine pc; };

void main() {
    uint i = vkg_flat_id();
    if (i >= pc.T * pc.C) return;
    uint t = i / pc.C, c = i - t * pc.C;
    float acc = 0.0;
    for (uint k = 0u; k < pc.K; k++) {
        uint a = t * pc.K + k;
        acc += wt[pc.wt_off + a] * ys[pc.ys_off + pos[pc.pos_off + a] * pc.C + c];
    }
    y[pc.y_off + i] = acc;
}
