#version 450
// LayerNorm (spec 1 = 0) and RMSNorm (spec 1 = 1) over rows of C, OPS.md 4-5:
//   layer: mu = mean(x), v = mean((x - mu)^2) (two passes), y = (x - mu) / sqrt(v + eps) * w + b
//   rms:   r = 1 / sqrt(mean(x^2) + eps), y = w * (x * r)
// Spec 3 = 0: one invocation per row (lavapipe); 1: one workgroup per row with
// a shared-memory tree reduction (GPUs; local size a power of two <= 256).
// Spec 2: vec4 loads (C and all offsets in vec4s).
#include "vkg_pc.h"
#include "index.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KIND = 0;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const uint MODE = 0;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = 3) readonly buffer Bb { float b[]; };
layout(std430, binding = 3) readonly buffer B4 { vec4 b4[]; };
layout(push_constant) uniform PC { vkg_pc_norm pc; };

shared float red[256];

// Sum of `part` over the workgroup (MODE 1 only); all invocations get it.
float wg_sum(float part) {
    uint l = gl_LocalInvocationID.x;
    red[l] = part;
    barrier();
    for (uint s = VKG_LOCAL_SIZE / 2u; s > 0u; s >>= 1u) {
        if (l < s) red[l] += red[l + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

void main() {
    uint row, first, step;
    if (MODE == 1u) {
        row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
        first = gl_LocalInvocationID.x;
        step = VKG_LOCAL_SIZE;
    } else {
        row = vkg_flat_id();
        first = 0u;
        step = 1u;
    }
    if (row >= pc.rows) return;     // uniform per workgroup in MODE 1
    uint xb = pc.x_off + row * pc.C, yb = pc.y_off + row * pc.C;
    float n = VEC4 ? float(pc.C * 4u) : float(pc.C);

    float mu = 0.0;
    if (KIND == 0u) {
        float s = 0.0;
        if (VEC4) {
            vec4 a = vec4(0.0);
            for (uint i = first; i < pc.C; i += step) a += x4[xb + i];
            s = hsum(a);
        } else {
            for (uint i = first; i < pc.C; i += step) s += x[xb + i];
        }
        if (MODE == 1u) s = wg_sum(s);
        mu = s / n;
    }
    float q = 0.0;
    if (VEC4) {
        vec4 a = vec4(0.0);
        for (uint i = first; i < pc.C; i += step) { vec4 d = x4[xb + i] - mu; a += d * d; }
        q = hsum(a);
    } else {
        for (uint i = first; i < pc.C; i += step) { float d = x[xb + i] - mu; q += d * d; }
    }
    if (MODE == 1u) q = wg_sum(q);
    float r = 1.0 / sqrt(q / n + pc.eps);

    if (VEC4) {
        for (uint i = first; i < pc.C; i += step) {
            vec4 v = (x4[xb + i] - mu) * r;
            if (pc.has_w != 0u) v *= w4[pc.w_off + i];
            if (pc.has_b != 0u) v += b4[pc.b_off + i];
            y4[yb + i] = v;
        }
    } else {
        for (uint i = first; i < pc.C; i += step) {
            float v = (x[xb + i] - mu) * r;
            if (pc.has_w != 0u) v *= w[pc.w_off + i];
            if (pc.has_b != 0u) v += b[pc.b_off + i];
            y[yb + i] = v;
        }
    }
}
