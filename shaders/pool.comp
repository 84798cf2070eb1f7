#version 450
// Mean pooling over rows: y[c] = (1/T) sum_t x[t, c], one column per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { vkg_pc_pool pc; };
void main() {
    uint c = vkg_flat_id();
    if (c >= pc.C) return;
    float s = 0.0;
    for (uint t = 0u; t < pc.T; t++) s += x[pc.x_off + t * pc.C + c];
    y[pc.y_off + c] = s / float(pc.T);
}
