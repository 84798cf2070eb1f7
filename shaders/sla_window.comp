#version 450
// SLA causal decoding state (OPS.md 13): after a call of T rows at position
// pos0, the window win [K-1, KV*D] moves on to the v rows of the last K-1
// positions pos0+T-K+1 .. pos0+T-1, taken from this call's v or from the old
// window (zero before position 0). One invocation per channel walks the rows
// in increasing order, so an old row is read before it is overwritten.
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer V { float v[]; };
layout(std430, binding = 1) buffer WIN { float win[]; };
layout(push_constant) uniform PC { vkg_pc_sla_dwc pc; };

void main() {
    uint ch = vkg_flat_id(), C = pc.KV * pc.D;
    if (ch >= C) return;
    int p0 = int(pc.pos0);
    for (uint r = 0u; r + 1u < pc.K; r++) {
        int p = p0 + int(pc.T) - int(pc.K) + 1 + int(r);
        float x = 0.0;
        if (p >= p0) x = v[pc.v_off + uint(p - p0) * C + ch];
        else if (p >= 0) x = win[pc.win_off + (r + pc.T) * C + ch];
        win[pc.win_off + r * C + ch] = x;
    }
}
