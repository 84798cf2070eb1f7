/*
 * attention.h — the `attention` op's parameters and the interface between its
 * front (attention.c: arguments, shapes, weights, projections, QK-norm,
 * Canon-B, RoPE, output projection) and its cores by kind:
 * attention_softmax.c (softmax, HyLRA) and attention_linear.c (linear, sla).
 */
#ifndef VKG_ATTENTION_H
#define VKG_ATTENTION_H

#include "op_util.h"

typedef enum attn_kind { ATTN_SOFTMAX, ATTN_LINEAR, ATTN_SLA, ATTN_KIND_COUNT } attn_kind;
enum { QK_NONE, QK_FULL, QK_HEAD };
enum { FEATURE_ELU1, FEATURE_RELU };

typedef struct attn_params {
    attn_kind kind;
    int64_t H, KV, Dh;              /* Dh: explicit head_dim, else 0 (C / H) */
    bool explicit_dh;
    bool causal, bias;
    bool rope;
    double theta;
    int64_t rope_dims;              /* 0: head_dim */
    vkg__rope_style style;
    bool has_scale;
    double scale;
    int qk_norm;
    double qk_eps;
    bool canon;                     /* Canon-B on [q | k | v] */
    int feature;                    /* linear: elu1 or relu */
    bool decay;                     /* linear: learned per-head decay */
    int64_t dwc_kernel;             /* sla */
    bool has_grid;
    int64_t grid[2];                /* sla non-causal: [gh, gw] */
} attn_params;

/* Weight slots in declaration order; -1 when absent. */
typedef struct attn_slots {
    int wq, wk, wv, wo, bq, bk, bv, bo, qn, kn, canon, decay, dwc_w, dwc_b;
} attn_slots;
attn_slots vkg__attn_slots(const attn_params *p);

int64_t vkg__attn_head_dim(const attn_params *p, int64_t C);
double vkg__attn_scale(const attn_params *p, int64_t Dh);

/* Sizes of one call, for the cores. */
typedef struct attn_dims {
    int64_t T, C, Dh, H, KV, Q, KVD;    /* Q = H*Dh, KVD = KV*Dh */
} attn_dims;

/* Decoding state slots: the front's (Canon-B windows) come after the core's. */
void vkg__attn_softmax_state(vkg__state_ctx *sc, const attn_params *p, const attn_dims *d);
void vkg__attn_linear_state(vkg__state_ctx *sc, const attn_params *p, const attn_dims *d);

/* Cores: q [T, Q], k and v [T, KVD] (post-norm, post-Canon, post-RoPE) -> o [T, Q].
 * The softmax core on a causal layer finds k and v already in its cache rows
 * pos0..pos0+T-1 (state 0 and 1) when kv_in_cache says so. */
bool vkg__attn_kv_in_cache(const attn_params *p);
vkg_result vkg__attn_softmax_ref(vkg__ref_ctx *rc, const attn_params *p, const attn_dims *d, const float *q, const float *k,
                                 const float *v, float *o);
vkg_result vkg__attn_softmax_lower(vkg__lower_ctx *lc, const attn_params *p, const attn_dims *d, vkg__bufref q, vkg__bufref k,
                                   vkg__bufref v, vkg__bufref o);
vkg_result vkg__attn_linear_ref(vkg__ref_ctx *rc, const attn_params *p, const attn_dims *d, const float *q, const float *k,
                                const float *v, float *o);
vkg_result vkg__attn_linear_lower(vkg__lower_ctx *lc, const attn_params *p, const attn_dims *d, vkg__bufref q, vkg__bufref k,
                                  vkg__bufref v, vkg__bufref o);

#endif
