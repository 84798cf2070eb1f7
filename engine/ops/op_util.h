/*
 * op_util.h — helpers shared by the op files: input checks for shape
 * inference and plain C reference building blocks (double accumulation).
 */
#ifndef VKG_OP_UTIL_H
#define VKG_OP_UTIL_H

#include "vkg_impl.h"

/* Input i must be f32 of rank n_dims (-1: any rank). */
vkg_result vkg__expect_f32(vkg__infer_ctx *ic, int i, int n_dims);
/* Input dim d of input 0 must equal want (symbolic dims are accepted). */
vkg_result vkg__expect_dim(vkg__infer_ctx *ic, int d, int64_t want, const char *arg, const char *what);
vkg__shape vkg__shape2(int64_t a, int64_t b);

/* y[M, N] = x[M, K] W[N, K]^T + b (b may be NULL); x row stride xs, y row stride ys. */
void vkg__ref_linear(float *y, size_t ys, const float *x, size_t xs, const float *W, const float *b, int64_t M, int64_t N, int64_t K);
/* Per row of C: layer norm (w, b) or rms norm (w) with eps. */
void vkg__ref_layernorm(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t C, double eps);
void vkg__ref_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t C, double eps);
/* In place: RoPE on x [T, n_heads * Dh] (row stride rs), first R dims per head, positions pos0 + t. */
void vkg__ref_rope(float *x, size_t rs, int64_t T, int64_t n_heads, int64_t Dh, int64_t R, float theta, vkg__rope_style style, int64_t pos0);
/* Softmax attention, OPS.md 10, q [Tq, H*Dh], k/v [Tk, KV*Dh], o [Tq, H*Dh];
 * scores: scratch of Tk doubles. */
void vkg__ref_attention(float *o, const float *q, const float *k, const float *v, int64_t Tq, int64_t Tk, int64_t H, int64_t KV,
                        int64_t Dh, double scale, bool causal, int64_t pos0, double *scores);

/* Canon conv, OPS.md 8: y[t, c] = (residual ? x[t, c] : 0) + bias[c] + sum_j W[c, j] x[t-(K-1)+j, c]
 * for x [T, C] (row stride xs), y (row stride ys; must not overlap x), W [C, K], bias [C] or NULL.
 * Rows before 0 come from win ([K-1, C], row stride ws, oldest first), which then holds the
 * last K-1 inputs; with win NULL they are zero. */
void vkg__ref_canon(float *y, size_t ys, const float *x, size_t xs, const float *W, const float *bias, int64_t T, int64_t C, int64_t K,
                    bool residual, float *win, size_t ws);

bool vkg__act_from_name(const char *name, vkg__act *out);   /* act.c */
/* Checks the weight a `tie:` names was declared by an earlier node. */
vkg_result vkg__check_tie(vkg__parse_ctx *pc, const char *tie);

#define VKG__ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

#endif
