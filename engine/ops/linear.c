/*
 * linear.c — `linear`: Y = X W^T (+ b), W [out, in]; `tie: E` reads E.weight
 * (same memory, one parameter count) instead of its own weight (OPS.md 3).
 */
#include "op_util.h"

#include <stdio.h>
#include <string.h>

typedef struct linear_params {
    int64_t out;
    bool bias;
    const char *tie;        /* node name whose .weight is shared, or NULL */
} linear_params;

vkg_result vkg__check_tie(vkg__parse_ctx *pc, const char *tie) {
    char key[512];
    snprintf(key, sizeof key, "%s.weight", tie);
    for (int i = 0; i < pc->g->n_weights; i++)
        if (strcmp(pc->g->weights[i].key, key) == 0) return VKG_OK;
    return vkg__node_error(pc->g, pc->node, "tie", "tie: no earlier node has the weight %s", key);
}

static vkg_result linear_parse(vkg__parse_ctx *pc) {
    linear_params *p = pc->params;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "out", true, 0, &p->out)) || (r = vkg__arg_bool(pc, "bias", false, &p->bias)) ||
        (r = vkg__arg_string(pc, "tie", false, &p->tie)))
        return r;
    if (p->out < 1) return vkg__node_error(pc->g, pc->node, "out", "out must be at least 1");
    if (p->tie) return vkg__check_tie(pc, p->tie);
    return VKG_OK;
}

static vkg_result linear_infer(vkg__infer_ctx *ic) {
    const linear_params *p = ic->params;
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    ic->out = vkg__shape2(ic->in[0].ne[0], p->out);
    return r;
}

static void linear_weights(vkg__weights_ctx *wc) {
    const linear_params *p = wc->params;
    int64_t in = wc->in[0].ne[1];
    if (p->tie) {
        char key[512];
        snprintf(key, sizeof key, "=%s.weight", p->tie);
        vkg__need_weight(wc, key, VKG__INIT_NORMAL, 2, p->out, in);
    } else {
        vkg__need_weight(wc, "weight", VKG__INIT_NORMAL, 2, p->out, in);
    }
    if (p->bias) vkg__need_weight(wc, "bias", VKG__INIT_ZEROS, 1, p->out);
}

static vkg_result linear_ref(vkg__ref_ctx *rc) {
    const linear_params *p = rc->params;
    int64_t T = rc->in_shape[0].ne[0], K = rc->in_shape[0].ne[1];
    vkg__ref_linear(rc->out, (size_t)p->out, rc->in[0], (size_t)K, rc->w[0], p->bias ? rc->w[1] : NULL, T, p->out, K);
    return VKG_OK;
}

static vkg_result linear_lower(vkg__lower_ctx *lc) {
    const linear_params *p = lc->params;
    vkg__matmul_desc d = {
        .x = lc->in[0], .w = lc->w[0], .y = lc->out, .res = lc->residual,
        .bias = p->bias ? lc->w[1] : (vkg__bufref){0},
        .M = (uint32_t)lc->in_shape[0].ne[0], .N = (uint32_t)p->out, .K = (uint32_t)lc->in_shape[0].ne[1],
    };
    return vkg__emit_matmul(lc, &d);
}

const vkg__op_def vkg__op_linear = {
    .name = "linear",
    .args = VKG__ARGS("out", "bias", "tie"),
    .params_size = sizeof(linear_params),
    .parse = linear_parse,
    .infer = linear_infer,
    .weights = linear_weights,
    .ref = linear_ref,
    .lower = linear_lower,
    .fuse_residual = true,
};
