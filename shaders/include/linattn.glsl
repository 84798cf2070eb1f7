// Shared by the linear-attention kernels (linattn_*.comp, OPS.md 12-13):
// specialization constants, the feature maps and log(gamma).
// Layouts (elements): q, o [T, H*D]; k, v [T, KV*D]; the state S [H, D, DP]
// (row a = key dim, padded columns zero), z [H, DP]; the chunk prefix
// P [n_chunks, H, D, DP] and PZ [n_chunks, H, DP]. DP = D rounded up to 4, so
// S and P rows are always read as vec4; q, k, v, o take vec4 loads only with
// VEC4 (D and their offsets multiples of 4).
#ifndef VKG_LINATTN_GLSL
#define VKG_LINATTN_GLSL

layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const bool CAUSAL = true;
layout(constant_id = 4) const uint FEATURE = 0u;    // 0: elu1, 1: relu (applied by linattn_step)
const uint D4 = (D + 3u) / 4u;
const float LA_EPS = 1e-6;

// log(sigmoid(d)) = -log(1 + e^-d), without overflow and accurate near gamma = 1.
float la_log_sigmoid(float d) {
    float u = exp(-abs(d));
    float l1p = u < 1e-3 ? u * (1.0 - u * (0.5 - u / 3.0)) : log(1.0 + u);
    return min(d, 0.0) - l1p;
}

float la_feature(float x) { return FEATURE == 0u ? (x > 0.0 ? x + 1.0 : exp(x)) : max(x, 0.0); }

#endif
