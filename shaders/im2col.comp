#version 450
// Image [Hh, Ww, Cin] (HWC) to patches [(Hh/P)(Ww/P), Cin*P*P] in (c, u, v)
// order, matching a conv weight W[dim, Cin, P, P]; one output element per invocation.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer I { float img[]; };
layout(std430, binding = 1) writeonly buffer O { float cols[]; };
layout(push_constant) uniform PC { vkg_pc_im2col pc; };
void main() {
    uint i = vkg_flat_id();
    uint K = pc.Cin * pc.P * pc.P, nx = pc.Ww / pc.P;
    if (i >= (pc.Hh / pc.P) * nx * K) return;
    uint n = i / K, k = i - n * K;
    uint c = k / (pc.P * pc.P), uv = k - c * pc.P * pc.P;
    uint u = uv / pc.P, v = uv - u * pc.P;
    uint py = n / nx, px = n - py * nx;
    cols[pc.cols_off + i] = img[pc.img_off + ((py * pc.P + u) * pc.Ww + px * pc.P + v) * pc.Cin + c];
}
