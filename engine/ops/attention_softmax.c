/*
 * attention_softmax.c — the core of softmax attention (OPS.md 10): causal
 * layers keep a KV cache (token-major rows [pos][kv_head * Dh], post-RoPE
 * keys) and attend over every position so far; non-causal layers attend over
 * the rows of this call. GQA maps head h to KV head h / (H / KV).
 */
#include "attention.h"

#include <string.h>

void vkg__attn_softmax_state(vkg__state_ctx *sc, const attn_params *p, const attn_dims *d) {
    if (!vkg__attn_kv_in_cache(p)) return;
    vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * d->KVD));
    vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * d->KVD));
}

vkg_result vkg__attn_softmax_ref(vkg__ref_ctx *rc, const attn_params *p, const attn_dims *d, const float *q, const float *k,
                                 const float *v, float *o) {
    int64_t T = d->T, Tk = T;
    if (vkg__attn_kv_in_cache(p)) {
        /* Append this call's keys and values to the cache; attend over all of it. */
        memcpy(rc->state[0] + rc->pos0 * d->KVD, k, sizeof(float) * (size_t)(T * d->KVD));
        memcpy(rc->state[1] + rc->pos0 * d->KVD, v, sizeof(float) * (size_t)(T * d->KVD));
        k = rc->state[0], v = rc->state[1], Tk = rc->pos0 + T;
    }
    double *scores = vkg__malloc(rc->ctx, sizeof(double) * (size_t)Tk);
    if (!scores) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in attention");
    vkg__ref_attention(o, q, k, v, T, Tk, p->H, p->KV, d->Dh, vkg__attn_scale(p, d->Dh), p->causal, p->causal ? rc->pos0 : 0, scores);
    vkg__free(rc->ctx, scores);
    return VKG_OK;
}

vkg_result vkg__attn_softmax_lower(vkg__lower_ctx *lc, const attn_params *p, const attn_dims *d, vkg__bufref q, vkg__bufref k,
                                   vkg__bufref v, vkg__bufref o) {
    uint32_t T = (uint32_t)d->T, Tk = T, pos0 = 0;
    if (vkg__attn_kv_in_cache(p)) {
        pos0 = (uint32_t)lc->pos0;
        Tk = pos0 + T;
        k = vkg__bufref_sub(lc->state[0], 0, (uint64_t)Tk * (uint64_t)d->KVD * 4);
        v = vkg__bufref_sub(lc->state[1], 0, (uint64_t)Tk * (uint64_t)d->KVD * 4);
    }
    vkg__attn_desc a = {.q = q, .k = k, .v = v, .o = o, .Tq = T, .Tk = Tk, .H = (uint32_t)d->H, .KV = (uint32_t)d->KV,
                        .Dh = (uint32_t)d->Dh, .pos0 = pos0, .scale = (float)vkg__attn_scale(p, d->Dh), .causal = p->causal};
    return vkg__emit_attention(lc, &a);
}
