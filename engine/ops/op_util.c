/*
 * op_util.c — shape checks and plain C reference building blocks shared by
 * the op files. The references are the oracle: obvious loops, double sums.
 */
#include "op_util.h"

#include <math.h>
#include <string.h>

vkg__shape vkg__shape2(int64_t a, int64_t b) { return (vkg__shape){.n_dims = 2, .ne = {a, b}}; }

vkg_result vkg__expect_f32(vkg__infer_ctx *ic, int i, int n_dims) {
    const vkg__tensor *t = &ic->g->tensors[ic->node->in[i]];
    if (ic->in_dtype[i] != VKG_DTYPE_F32)
        return vkg__node_error(ic->g, ic->node, NULL, "input '%s' is %s; this op takes f32", t->name ? t->name : "(unnamed)",
                               vkg_dtype_name(ic->in_dtype[i]));
    if (n_dims >= 0 && ic->in[i].n_dims != n_dims) {
        char s[96];
        vkg__shape_str(ic->g, &ic->in[i], s, sizeof s);
        return vkg__node_error(ic->g, ic->node, NULL, "expects a rank-%d input, got %s", n_dims, s);
    }
    return VKG_OK;
}

vkg_result vkg__expect_dim(vkg__infer_ctx *ic, int d, int64_t want, const char *arg, const char *what) {
    int64_t got = ic->in[0].ne[d];
    if (got < 0 || got == want) return VKG_OK;
    char s[96];
    vkg__shape_str(ic->g, &ic->in[0], s, sizeof s);
    return vkg__node_error(ic->g, ic->node, arg, "shape mismatch: input is %s but %s is %lld", s, what, (long long)want);
}

void vkg__ref_linear(float *y, size_t ys, const float *x, size_t xs, const float *W, const float *b, int64_t M, int64_t N, int64_t K) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = b ? b[n] : 0.0;
            for (int64_t k = 0; k < K; k++) acc += (double)x[m * xs + k] * W[n * K + k];
            y[m * ys + n] = (float)acc;
        }
}

void vkg__ref_layernorm(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t C, double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < C; i++) mean += xr[i];
        mean /= (double)C;
        for (int64_t i = 0; i < C; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)C;
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < C; i++) y[r * C + i] = (float)((xr[i] - mean) * inv * w[i] + b[i]);
    }
}

void vkg__ref_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t C, double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        double ss = 0;
        for (int64_t i = 0; i < C; i++) ss += (double)xr[i] * xr[i];
        double inv = 1.0 / sqrt(ss / (double)C + eps);
        for (int64_t i = 0; i < C; i++) y[r * C + i] = (float)(w[i] * (xr[i] * inv));
    }
}

void vkg__ref_rope(float *x, size_t rs, int64_t T, int64_t n_heads, int64_t Dh, int64_t R, float theta, vkg__rope_style style, int64_t pos0) {
    for (int64_t t = 0; t < T; t++) {
        float p = (float)(pos0 + t);
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * rs + (size_t)(h * Dh);
            for (int64_t i = 0; i < R / 2; i++) {
                /* f32 exactly as PyTorch builds the table (OPS.md 9). */
                float inv = 1.0f / powf(theta, (float)(2 * i) / (float)R);
                float a = p * inv;
                float c = cosf(a), s = sinf(a);
                int64_t i0 = style == VKG__ROPE_HALF ? i : 2 * i;
                int64_t i1 = style == VKG__ROPE_HALF ? i + R / 2 : 2 * i + 1;
                float x0 = v[i0], x1 = v[i1];
                v[i0] = x0 * c - x1 * s;
                v[i1] = x1 * c + x0 * s;
            }
        }
    }
}

void vkg__ref_attention(float *o, const float *q, const float *k, const float *v, int64_t Tq, int64_t Tk, int64_t H, int64_t KV,
                        int64_t Dh, double scale, bool causal, int64_t pos0, double *scores) {
    int64_t rep = H / KV;
    for (int64_t t = 0; t < Tq; t++)
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / rep;
            const float *qv = q + (t * H + h) * Dh;
            int64_t last = causal ? VKG__MIN(pos0 + t, Tk - 1) : Tk - 1;
            double m = -INFINITY;
            for (int64_t j = 0; j <= last; j++) {
                const float *kv = k + (j * KV + g) * Dh;
                double d = 0;
                for (int64_t i = 0; i < Dh; i++) d += (double)qv[i] * kv[i];
                scores[j] = d * scale;
                if (scores[j] > m) m = scores[j];
            }
            double l = 0;
            for (int64_t j = 0; j <= last; j++) l += (scores[j] = exp(scores[j] - m));
            float *ov = o + (t * H + h) * Dh;
            for (int64_t i = 0; i < Dh; i++) {
                double acc = 0;
                for (int64_t j = 0; j <= last; j++) acc += scores[j] * v[(j * KV + g) * Dh + i];
                ov[i] = last >= 0 ? (float)(acc / l) : 0.0f;
            }
        }
}

/* Input row r of channel c; r < 0 reads the window (or zero). */
static double canon_in(const float *x, size_t xs, const float *win, size_t ws, int64_t K, int64_t r, int64_t c) {
    if (r >= 0) return x[(size_t)r * xs + (size_t)c];
    return win ? win[(size_t)(K - 1 + r) * ws + (size_t)c] : 0.0;
}

void vkg__ref_canon(float *y, size_t ys, const float *x, size_t xs, const float *W, const float *bias, int64_t T, int64_t C, int64_t K,
                    bool residual, float *win, size_t ws) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < C; c++) {
            double s = bias ? bias[c] : 0.0;
            for (int64_t j = 0; j < K; j++) s += (double)W[c * K + j] * canon_in(x, xs, win, ws, K, t - (K - 1) + j, c);
            y[(size_t)t * ys + (size_t)c] = (float)(residual ? x[(size_t)t * xs + (size_t)c] + s : s);
        }
    if (!win) return;
    /* New window row j is input row T-(K-1)+j; rows before 0 shift in from the old window
     * (old row j+T, not yet overwritten in this order). */
    for (int64_t j = 0; j < K - 1; j++)
        for (int64_t c = 0; c < C; c++) win[(size_t)j * ws + (size_t)c] = (float)canon_in(x, xs, win, ws, K, T - (K - 1) + j, c);
}
