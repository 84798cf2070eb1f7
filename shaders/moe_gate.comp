#version 450
// moe router gating (OPS.md 14), one invocation per token t: p = softmax(l)
// over all E logits in f32 (max subtracted); the K largest logits in rank
// order, ties to the smaller index (the k-th choice is the largest
// (logit, -index) strictly below the (k-1)-th); w = p / (sum of the K chosen
// p) with normalize, else p. Writes sel[t*K + k] (expert) and wt[t*K + k].
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) writeonly buffer S { uint sel[]; };
layout(std430, binding = 2) buffer W { float wt[]; };
layout(push_constant) uniform PC { vkg_pc_moe_gate pc; };

void main() {
    uint t = vkg_flat_id();
    if (t >= pc.T) return;
    uint lb = pc.logits_off + t * pc.E, ob = t * pc.K;
    float m = logits[lb];
    for (uint e = 1u; e < pc.E; e++) m = max(m, logits[lb + e]);
    float s = 0.0;
    for (uint e = 0u; e < pc.E; e++) s += exp(logits[lb + e] - m);
    float prev_l = 0.0, chosen = 0.0;
    uint prev_e = 0u;
    for (uint k = 0u; k < pc.K; k++) {
        uint best = pc.E;
        float bl = 0.0;
        for (uint e = 0u; e < pc.E; e++) {
            float l = logits[lb + e];
            bool below = k == 0u || l < prev_l || (l == prev_l && e > prev_e);
            if (below && (best == pc.E || l > bl)) {
                best = e;
                bl = l;
            }
        }
        best = min(best, pc.E - 1u);    // only with NaN logits
        prev_l = bl;
        prev_e = best;
        float p = exp(bl - m) / s;
        sel[pc.sel_off + ob + k] = best;
        wt[pc.wt_off + ob + k] = p;
        chosen += p;
    }
    if (pc.normalize != 0u)
        for (uint k = 0u; k < pc.K; k++) wt[pc.wt_off + ob + k] /= chosen;
}
