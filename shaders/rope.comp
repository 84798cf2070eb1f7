#version 450
// Rotary position embedding in place, OPS.md 9: one invocation per
// (row t, head, pair i < R/2); inv_i = 1 / theta^(2i/R) and the angle
// float(pos0 + t) * inv_i in f32 as PyTorch computes them (to about 1 ulp).
// Spec 1: 0 half (x_i, x_{i+R/2}), 1 interleaved (x_2i, x_2i+1).
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint STYLE = 0;
layout(std430, binding = 0) buffer X { float x[]; };
layout(push_constant) uniform PC { vkg_pc_rope pc; };

// a - k 2pi (Cody-Waite): 2pi in three parts, the first two with 12
// significant bits so that k * part is exact for k < 4096 (angles below
// about 25000), keeping cos and sin accurate to a few ulp of the result
// rather than of the angle. `precise` forbids contraction and reassociation.
float reduce_2pi(float a) {
    float k = round(a * 0.15915493667125702);
    precise float r = a - k * 6.283203125;
    r = r - k * -1.7814338207244873e-05;
    r = r - k * -3.4822063010864213e-09;
    return r;
}
// Exact product a * b = hi + lo (Dekker, no fma; `precise` keeps the order).
vec2 two_prod(float a, float b) {
    precise float p = a * b;
    precise float ca = 4097.0 * a;
    precise float ah = ca - (ca - a);
    precise float al = a - ah;
    precise float cb = 4097.0 * b;
    precise float bh = cb - (cb - b);
    precise float bl = b - bh;
    precise float err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return vec2(p, err);
}

// inv_i = theta^(-e), e = float(2i) / float(R) rounded to f32 as PyTorch does;
// the exponent e log2(theta) is carried in two floats and 2^f evaluated by a
// polynomial, so inv_i is within about 1 ulp of PyTorch's 1 / theta^e (the
// driver's pow is 2-3 ulp off, which is 2-3 ulp of the angle at every position).
float inv_freq(uint i) {
    float e = float(2u * i) / float(pc.rot_dims);
    vec2 t = two_prod(e, pc.log2_theta_hi);
    precise float lo = t.y + e * pc.log2_theta_lo;
    precise float n = round(-t.x);
    precise float f = ((-t.x) - n) - lo;          // |f| <= 0.5 + tiny
    precise float x = f * 0.69314718055994531;
    precise float p = 1.0 + x * (1.0 + x * (0.5 + x * (0.16666666666666667 + x * (0.041666666666666667 +
                      x * (0.0083333333333333333 + x * (0.0013888888888888889 + x * (1.9841269841269841e-4 +
                      x * 2.4801587301587302e-5)))))));
    return ldexp(p, int(n));
}

void main() {
    uint id = vkg_flat_id();
    uint half_r = pc.rot_dims / 2u;
    if (id >= pc.T * pc.n_heads * half_r) return;
    uint i = id % half_r, th = id / half_r;
    uint h = th % pc.n_heads, t = th / pc.n_heads;
    float inv = inv_freq(i);
    float a = float(pc.pos0 + t) * inv;
    float r = reduce_2pi(a);
    float c = cos(r), s = sin(r);
    uint base = pc.x_off + t * pc.row_stride + h * pc.head_dim;
    uint i0 = STYLE == 1u ? base + 2u * i : base + i;
    uint i1 = STYLE == 1u ? i0 + 1u : i0 + half_r;
    float x0 = x[i0], x1 = x[i1];
    x[i0] = x0 * c - x1 * s;
    x[i1] = x1 * c + x0 * s;
}
