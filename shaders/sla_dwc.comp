#version 450
// SLA's depthwise conv on v (OPS.md 13), shared by all heads; g = h / (H / KV).
// Spec 1 MODE (the window update is sla_window.comp):
//  0 causal: o[t, h, d] += b[d] + sum_{u<K} w[d, u] v[p_t - (K-1) + u, g, d], one
//    invocation per (t, h, d); positions before pos0 come from the window
//    win [K-1, KV*D] (the v rows of positions pos0-K+1 .. pos0-1), before 0 read 0.
//  1 grid: o[t, h, d] += b[d] + sum_{u,x<K} w[d, u, x] v[r+u-(K-1)/2, c+x-(K-1)/2, g, d]
//    with t = r * gw + c, zero outside the gh x gw grid (PyTorch conv2d, cross-correlation).
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0u;
layout(std430, binding = 0) readonly buffer V { float v[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer WIN { float win[]; };
layout(std430, binding = 4) buffer O { float o[]; };
layout(push_constant) uniform PC { vkg_pc_sla_dwc pc; };

// v of channel ch at absolute position p (signed): this call, the window, or 0.
float v_at(int p, uint ch) {
    uint C = pc.KV * pc.D;
    int p0 = int(pc.pos0);
    if (p < 0) return 0.0;
    if (p >= p0) return v[pc.v_off + uint(p - p0) * C + ch];
    return win[pc.win_off + uint(p - p0 + int(pc.K) - 1) * C + ch];
}

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.T * pc.H * pc.D) return;
    uint d = id % pc.D, h = (id / pc.D) % pc.H, t = id / (pc.D * pc.H);
    uint ch = (h / (pc.H / pc.KV)) * pc.D + d;
    float acc = b[pc.b_off + d];
    if (MODE == 0u) {
        int p = int(pc.pos0 + t) - int(pc.K) + 1;
        for (uint u = 0u; u < pc.K; u++) acc += w[pc.w_off + d * pc.K + u] * v_at(p + int(u), ch);
    } else {
        int r = int(t / pc.gw), c = int(t % pc.gw), half_k = int(pc.K - 1u) / 2;
        for (uint u = 0u; u < pc.K; u++) {
            int rr = r + int(u) - half_k;
            if (rr < 0 || rr >= int(pc.gh)) continue;
            for (uint x = 0u; x < pc.K; x++) {
                int cc = c + int(x) - half_k;
                if (cc < 0 || cc >= int(pc.gw)) continue;
                acc += w[pc.w_off + (d * pc.K + u) * pc.K + x] * v[pc.v_off + uint(rr * int(pc.gw) + cc) * pc.KV * pc.D + ch];
            }
        }
    }
    o[pc.o_off + id] += acc;
}
