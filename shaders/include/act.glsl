// Activations of OPS.md section 1, shared by every kernel with an activation
// epilogue. The codes are vkg__act in engine/src/vkg_impl.h.
#ifndef VKG_ACT_GLSL
#define VKG_ACT_GLSL

#define VKG_ACT_NONE 0u
#define VKG_ACT_RELU 1u
#define VKG_ACT_GELU 2u
#define VKG_ACT_GELU_TANH 3u
#define VKG_ACT_SILU 4u
#define VKG_ACT_SIGMOID 5u
#define VKG_ACT_TANH 6u
#define VKG_ACT_ELU1 7u

// Stable sigmoid: exp of a non-positive number only.
float vkg_sigmoid(float x) {
    float e = exp(-abs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

float vkg_tanh(float y) {
    float e = exp(-2.0 * abs(y));
    return sign(y) * (1.0 - e) / (1.0 + e);
}

// erfc(z) for z >= 0 by the Chebyshev fit "erfcc" (fractional error < 1.2e-7),
// accurate in relative terms in the tail, which keeps gelu's negative side exact.
float vkg_erfc_pos(float z) {
    float t = 1.0 / (1.0 + 0.5 * z);
    float p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(p);
}

// 0.5 x (1 + erf(x / sqrt 2)), with 1 + erf(u) = erfc(-u) for u < 0, 2 - erfc(u) otherwise.
float vkg_gelu(float x) {
    float u = x * 0.70710678118654752;
    float one_plus_erf = u < 0.0 ? vkg_erfc_pos(-u) : 2.0 - vkg_erfc_pos(u);
    return 0.5 * x * one_plus_erf;
}

// 0.5 x (1 + tanh(y)) = x sigmoid(2y): no cancellation in the negative tail.
float vkg_gelu_tanh(float x) {
    return x * vkg_sigmoid(2.0 * 0.7978845608028654 * (x + 0.044715 * x * x * x));
}

float vkg_act(uint act, float x) {
    switch (act) {
    case VKG_ACT_RELU: return max(x, 0.0);
    case VKG_ACT_GELU: return vkg_gelu(x);
    case VKG_ACT_GELU_TANH: return vkg_gelu_tanh(x);
    case VKG_ACT_SILU: return x * vkg_sigmoid(x);
    case VKG_ACT_SIGMOID: return vkg_sigmoid(x);
    case VKG_ACT_TANH: return vkg_tanh(x);
    case VKG_ACT_ELU1: return x > 0.0 ? x + 1.0 : exp(x);
    default: return x;
    }
}

#endif
