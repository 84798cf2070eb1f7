/*
 * attention_linear.c — the cores of linear attention and SLA (OPS.md 12, 13).
 * Not implemented in this version: graphs using them are refused at run.
 */
#include "attention.h"

void vkg__attn_linear_state(vkg__state_ctx *sc, const attn_params *p, const attn_dims *d) {}

static vkg_result refuse(vkg_context *ctx, const vkg__node *node, const attn_params *p) {
    return vkg__error_at(ctx, VKG_ERR_UNSUPPORTED, node->loc, "attention kind %s is not implemented in this version of the engine",
                         p->kind == ATTN_LINEAR ? "linear" : "sla");
}

vkg_result vkg__attn_linear_ref(vkg__ref_ctx *rc, const attn_params *p, const attn_dims *d, const float *q, const float *k,
                                const float *v, float *o) {
    return refuse(rc->ctx, rc->node, p);
}

vkg_result vkg__attn_linear_lower(vkg__lower_ctx *lc, const attn_params *p, const attn_dims *d, vkg__bufref q, vkg__bufref k,
                                  vkg__bufref v, vkg__bufref o) {
    return refuse(lc->ctx, lc->node, p);
}
