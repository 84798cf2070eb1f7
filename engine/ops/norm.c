/*
 * norm.c — `norm`: LayerNorm, RMSNorm and inference BatchNorm over the
 * channels of [T, C] (OPS.md 4-6).
 */
#include "op_util.h"

#include <math.h>

enum { KIND_LAYER, KIND_RMS, KIND_BATCH };

typedef struct norm_params {
    int kind;
    double eps;
} norm_params;

static vkg_result norm_parse(vkg__parse_ctx *pc) {
    norm_params *p = pc->params;
    vkg_result r = vkg__arg_enum(pc, "kind", VKG__ARGS("layer", "rms", "batch", "repbn", "prepbn"), -1, &p->kind);
    if (r) return r;
    if (p->kind > KIND_BATCH)
        return vkg__node_error(pc->g, pc->node, "kind", "kind %s is not implemented in this version of the engine",
                               p->kind == 3 ? "repbn" : "prepbn");
    if ((r = vkg__arg_float(pc, "eps", p->kind == KIND_RMS ? 1e-6 : 1e-5, &p->eps))) return r;
    if (p->eps < 0) return vkg__node_error(pc->g, pc->node, "eps", "eps must not be negative");
    if (vkg__arg(pc, "lambda")) return vkg__node_error(pc->g, pc->node, "lambda", "lambda applies to kind prepbn only");
    return VKG_OK;
}

static vkg_result norm_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r == VKG_OK && ic->in[0].ne[1] < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    ic->out = ic->in[0];
    return r;
}

static void norm_weights(vkg__weights_ctx *wc) {
    const norm_params *p = wc->params;
    int64_t C = wc->in[0].ne[1];
    vkg__need_weight(wc, "weight", VKG__INIT_ONES, 1, C);
    if (p->kind != KIND_RMS) vkg__need_weight(wc, "bias", VKG__INIT_ZEROS, 1, C);
    if (p->kind == KIND_BATCH) {
        vkg__need_weight(wc, "running_mean", VKG__INIT_ZEROS, 1, C);
        vkg__need_weight(wc, "running_var", VKG__INIT_ONES, 1, C);
    }
}

static vkg_result norm_ref(vkg__ref_ctx *rc) {
    const norm_params *p = rc->params;
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1];
    const float *x = rc->in[0];
    if (p->kind == KIND_LAYER) vkg__ref_layernorm(rc->out, x, rc->w[0], rc->w[1], T, C, p->eps);
    else if (p->kind == KIND_RMS) vkg__ref_rmsnorm(rc->out, x, rc->w[0], T, C, p->eps);
    else
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++) {
                double inv = 1.0 / sqrt((double)rc->w[3][c] + p->eps);
                rc->out[t * C + c] = (float)(rc->w[0][c] * (x[t * C + c] - (double)rc->w[2][c]) * inv + rc->w[1][c]);
            }
    return VKG_OK;
}

static vkg_result norm_lower(vkg__lower_ctx *lc) {
    const norm_params *p = lc->params;
    static const vkg__norm_kind kinds[] = {VKG__NORM_LAYER, VKG__NORM_RMS, VKG__NORM_BATCH};
    vkg__norm_desc d = {
        .x = lc->in[0], .y = lc->out, .w = lc->w[0],
        .b = p->kind != KIND_RMS ? lc->w[1] : (vkg__bufref){0},
        .mean = p->kind == KIND_BATCH ? lc->w[2] : (vkg__bufref){0},
        .var = p->kind == KIND_BATCH ? lc->w[3] : (vkg__bufref){0},
        .rows = (uint32_t)lc->in_shape[0].ne[0], .C = (uint32_t)lc->in_shape[0].ne[1],
        .eps = (float)p->eps, .kind = kinds[p->kind],
    };
    return vkg__emit_norm(lc, &d);
}

const vkg__op_def vkg__op_norm = {
    .name = "norm",
    .args = VKG__ARGS("kind", "eps", "lambda"),
    .params_size = sizeof(norm_params),
    .parse = norm_parse,
    .infer = norm_infer,
    .weights = norm_weights,
    .ref = norm_ref,
    .lower = norm_lower,
};
