/*
 * canon.c — the `canon` op (OPS.md 8, Canon-A/C as a node of its own): a
 * depthwise causal conv of kernel K over the rows with an optional bias and
 * the Canon residual. Decoding state: the last K-1 inputs, a [K-1, C]
 * window, oldest row first (OPS.md 18.1: a call with P0 > 0 reads it as its
 * left context, so chunked calls equal one call).
 */
#include "op_util.h"

typedef struct canon_params {
    int64_t K;
    bool residual, bias;
} canon_params;

static vkg_result canon_parse(vkg__parse_ctx *pc) {
    canon_params *p = pc->params;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "kernel", false, 4, &p->K)) || (r = vkg__arg_bool(pc, "residual", true, &p->residual)) ||
        (r = vkg__arg_bool(pc, "bias", false, &p->bias)))
        return r;
    if (p->K < 1) return vkg__node_error(pc->g, pc->node, "kernel", "kernel must be at least 1, got %lld", (long long)p->K);
    return VKG_OK;
}

static vkg_result canon_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r == VKG_OK && ic->in[0].ne[1] < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    ic->out = ic->in[0];
    return r;
}

static void canon_weights(vkg__weights_ctx *wc) {
    const canon_params *p = wc->params;
    int64_t C = wc->in[0].ne[1];
    vkg__need_conv_weight(wc, vkg__need_weight(wc, "weight", VKG__INIT_NORMAL, 2, C, p->K));
    if (p->bias) vkg__need_weight(wc, "bias", VKG__INIT_ZEROS, 1, C);
}

static void canon_state(vkg__state_ctx *sc) {
    const canon_params *p = sc->params;
    if (p->K > 1) vkg__need_state(sc, (uint64_t)((p->K - 1) * sc->in[0].ne[1]));
}

static vkg_result canon_ref(vkg__ref_ctx *rc) {
    const canon_params *p = rc->params;
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1];
    vkg__ref_canon(rc->out, (size_t)C, rc->in[0], (size_t)C, rc->w[0], p->bias ? rc->w[1] : NULL, T, C, p->K, p->residual,
                   p->K > 1 ? rc->state[0] : NULL, (size_t)C);
    return VKG_OK;
}

static vkg_result canon_lower(vkg__lower_ctx *lc) {
    const canon_params *p = lc->params;
    vkg__canon_desc d = {.x = lc->in[0], .y = lc->out, .w = lc->w[0], .T = (uint32_t)lc->in_shape[0].ne[0],
                         .C = (uint32_t)lc->in_shape[0].ne[1], .K = (uint32_t)p->K, .residual = p->residual};
    if (p->bias) d.bias = lc->w[1];
    if (p->K > 1) d.win = lc->state[0];
    return vkg__emit_canon(lc, &d);
}

const vkg__op_def vkg__op_canon = {
    .name = "canon",
    .args = VKG__ARGS("kernel", "residual", "bias"),
    .params_size = sizeof(canon_params),
    .parse = canon_parse,
    .infer = canon_infer,
    .weights = canon_weights,
    .ref = canon_ref,
    .lower = canon_lower,
    .state = canon_state,
};
