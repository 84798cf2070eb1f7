#version 450
// Merge of split-K softmax attention (OPS.md 10, flash-decoding; emitter
// vkg__emit_attention): one invocation per (query row t, head h, vec4 c of
// the head). The n_split partials i = (t H + h) n_split + s of
// attention_group.comp (base-2 running max m_s, sum l_s, unnormalised acc_s)
// combine as M = max_s m_s, w_s = 2^(m_s - M), l = sum_s w_s l_s,
// o = (sum_s w_s acc_s) / l (0 when l = 0: no visible key).
// o: [Tq, H*Dh]. Spec 1: Dh; 2: vec4 stores (o offset in vec4s).
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const bool VEC4 = false;
const uint D4 = (D + 3u) / 4u;
layout(std430, binding = 0) readonly buffer ML { float ml[]; };
layout(std430, binding = 1) readonly buffer A4 { vec4 acc4[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(std430, binding = 2) writeonly buffer O4 { vec4 o4[]; };
layout(push_constant) uniform PC { vkg_pc_attention_merge pc; };

void main() {
    uint id = vkg_flat_id();
    if (id >= pc.Tq * pc.H * D4) return;
    uint c = id % D4, th = id / D4;
    uint p0 = th * pc.n_split;
    float mx = -1e30;
    for (uint s = 0u; s < pc.n_split; s++) mx = max(mx, ml[pc.ml_off + 2u * (p0 + s)]);
    float l = 0.0;
    vec4 a = vec4(0.0);
    for (uint s = 0u; s < pc.n_split; s++) {
        float w = exp2(ml[pc.ml_off + 2u * (p0 + s)] - mx);
        l += w * ml[pc.ml_off + 2u * (p0 + s) + 1u];
        a += w * acc4[pc.a_off + (p0 + s) * D4 + c];
    }
    vec4 r = a * (l > 0.0 ? 1.0 / l : 0.0);
    if (VEC4) {
        o4[pc.o_off + th * D4 + c] = r;
    } else {
        uint ob = pc.o_off + th * D + 4u * c;
        for (uint e = 0u; e < 4u; e++) if (4u * c + e < D) o[ob + e] = r[e];
    }
}
