#version 450
// Batch norm with running statistics, OPS.md 6: per element,
// y[r, c] = w_c (x[r, c] - mean_c) / sqrt(var_c + eps) + b_c. One element per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 3) readonly buffer Bb { float b[]; };
layout(std430, binding = 4) readonly buffer M { float mean[]; };
layout(std430, binding = 5) readonly buffer V { float var[]; };
layout(push_constant) uniform PC { vkg_pc_norm_batch pc; };
void main() {
    uint i = vkg_flat_id();
    if (i >= pc.n) return;
    uint c = i % pc.C;
    float v = (x[pc.x_off + i] - mean[pc.mean_off + c]) / sqrt(var[pc.var_off + c] + pc.eps);
    if (pc.has_w != 0u) v *= w[pc.w_off + c];
    if (pc.has_b != 0u) v += b[pc.b_off + c];
    y[pc.y_off + i] = v;
}
