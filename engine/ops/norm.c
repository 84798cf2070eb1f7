/*
 * norm.c — `norm`: LayerNorm, RMSNorm, inference BatchNorm, RepBN and PRepBN
 * over the channels of [T, C] (OPS.md 4-6).
 *
 * batch and repbn are per-channel affine maps y = a x + b; prepbn is
 * lambda LayerNorm + (1 - lambda) RepBN. The C reference computes them from
 * the raw weights in double. The Vulkan lowering reads a and b (prepbn: with
 * its (1 - lambda) applied) from two model-owned slots after the declared
 * weights, which model creation fills once in double through
 * vkg__norm_affine (fold.c); the folding pass may remove the node instead.
 */
#include "op_util.h"

#include <math.h>

enum { KIND_LAYER, KIND_RMS, KIND_BATCH, KIND_REPBN, KIND_PREPBN };

typedef struct norm_params {
    int kind;
    double eps;
    double lambda;          /* prepbn only */
} norm_params;

static vkg_result norm_parse(vkg__parse_ctx *pc) {
    norm_params *p = pc->params;
    vkg_result r = vkg__arg_enum(pc, "kind", VKG__ARGS("layer", "rms", "batch", "repbn", "prepbn"), -1, &p->kind);
    if (r) return r;
    if ((r = vkg__arg_float(pc, "eps", p->kind == KIND_RMS ? 1e-6 : 1e-5, &p->eps))) return r;
    if (p->eps < 0) return vkg__node_error(pc->g, pc->node, "eps", "eps must not be negative");
    if (p->kind != KIND_PREPBN && vkg__arg(pc, "lambda"))
        return vkg__node_error(pc->g, pc->node, "lambda", "lambda applies to kind prepbn only");
    if ((r = vkg__arg_float(pc, "lambda", 0.0, &p->lambda))) return r;
    if (!(p->lambda >= 0 && p->lambda <= 1)) return vkg__node_error(pc->g, pc->node, "lambda", "lambda must be in [0, 1]");
    return VKG_OK;
}

static vkg_result norm_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r == VKG_OK && ic->in[0].ne[1] < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    ic->out = ic->in[0];
    return r;
}

/* Slots: layer w b; rms w; batch w b mean var; repbn + alpha; prepbn ln.w ln.b, then the repbn five under bn. */
static int n_declared(int kind) {
    static const int n[] = {2, 1, 4, 5, 7};
    return n[kind];
}

/* First slot of the BN part (weight, bias, running_mean, running_var, alpha). */
static int bn_first(int kind) { return kind == KIND_PREPBN ? 2 : 0; }

static void norm_weights(vkg__weights_ctx *wc) {
    const norm_params *p = wc->params;
    int64_t C = wc->in[0].ne[1];
    if (p->kind == KIND_PREPBN) {
        vkg__need_weight(wc, "ln.weight", VKG__INIT_ONES, 1, C);
        vkg__need_weight(wc, "ln.bias", VKG__INIT_ZEROS, 1, C);
        vkg__need_weight(wc, "bn.weight", VKG__INIT_ONES, 1, C);
        vkg__need_weight(wc, "bn.bias", VKG__INIT_ZEROS, 1, C);
        vkg__need_weight(wc, "bn.running_mean", VKG__INIT_ZEROS, 1, C);
        vkg__need_weight(wc, "bn.running_var", VKG__INIT_ONES, 1, C);
        vkg__need_weight(wc, "bn.alpha", VKG__INIT_ZEROS, 1, (int64_t)1);
        return;
    }
    vkg__need_weight(wc, "weight", VKG__INIT_ONES, 1, C);
    if (p->kind != KIND_RMS) vkg__need_weight(wc, "bias", VKG__INIT_ZEROS, 1, C);
    if (p->kind == KIND_BATCH || p->kind == KIND_REPBN) {
        vkg__need_weight(wc, "running_mean", VKG__INIT_ZEROS, 1, C);
        vkg__need_weight(wc, "running_var", VKG__INIT_ONES, 1, C);
    }
    if (p->kind == KIND_REPBN) vkg__need_weight(wc, "alpha", VKG__INIT_ZEROS, 1, (int64_t)1);
}

/* BN part as a[c] x + b[c] in double (OPS.md 6), scaled by `scale`. */
static void bn_affine(const norm_params *p, const float *const *w, int64_t C, double scale, double *a, double *b) {
    int f = bn_first(p->kind);
    double alpha = p->kind == KIND_BATCH ? 0.0 : (double)w[f + 4][0];
    for (int64_t c = 0; c < C; c++) {
        double inv = 1.0 / sqrt((double)w[f + 3][c] + p->eps);
        a[c] = scale * ((double)w[f][c] * inv + alpha);
        b[c] = scale * ((double)w[f + 1][c] - (double)w[f][c] * (double)w[f + 2][c] * inv);
    }
}

int vkg__norm_affine(const vkg__node *node, const float *const *w, int64_t C, double *a, double *b) {
    VKG_ASSERT(node->op == VKG_OP_norm);
    const norm_params *p = node->params;
    if (p->kind == KIND_LAYER || p->kind == KIND_RMS) return 0;
    double lambda = p->kind == KIND_PREPBN ? p->lambda : 0.0;
    bn_affine(p, w, C, 1.0 - lambda, a, b);
    return lambda == 0.0 ? 1 : 2;
}

int vkg__norm_declared_weights(const vkg__node *node) {
    VKG_ASSERT(node->op == VKG_OP_norm);
    return n_declared(((const norm_params *)node->params)->kind);
}

/* batch, repbn, prepbn: y = lambda LN(x) + a x + b with (1 - lambda) in a and b, all in double. */
static vkg_result affine_ref(vkg__ref_ctx *rc, const norm_params *p) {
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1];
    const float *x = rc->in[0];
    double *a = vkg__malloc(rc->ctx, sizeof(double) * (size_t)C * 2);
    if (!a) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in norm");
    double *b = a + C, lambda = p->kind == KIND_PREPBN ? p->lambda : 0.0;
    bn_affine(p, rc->w, C, 1.0 - lambda, a, b);
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * C;
        double mean = 0, var = 0, inv = 0;
        if (lambda != 0.0) {
            for (int64_t c = 0; c < C; c++) mean += xr[c];
            mean /= (double)C;
            for (int64_t c = 0; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
            inv = 1.0 / sqrt(var / (double)C + p->eps);
        }
        for (int64_t c = 0; c < C; c++) {
            double y = a[c] * xr[c] + b[c];
            if (lambda != 0.0) y += lambda * ((xr[c] - mean) * inv * rc->w[0][c] + rc->w[1][c]);
            rc->out[t * C + c] = (float)y;
        }
    }
    vkg__free(rc->ctx, a);
    return VKG_OK;
}

static vkg_result norm_ref(vkg__ref_ctx *rc) {
    const norm_params *p = rc->params;
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1];
    if (p->kind == KIND_LAYER) vkg__ref_layernorm(rc->out, rc->in[0], rc->w[0], rc->w[1], T, C, p->eps);
    else if (p->kind == KIND_RMS) vkg__ref_rmsnorm(rc->out, rc->in[0], rc->w[0], T, C, p->eps);
    else return affine_ref(rc, p);
    return VKG_OK;
}

static vkg_result affine_lower(vkg__lower_ctx *lc, const norm_params *p) {
    int nd = n_declared(p->kind);
    if (lc->w[nd].kind == VKG__BUF_NONE || lc->w[nd + 1].kind == VKG__BUF_NONE)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "norm %s: affine coefficients missing (model creation prepares them)",
                          lc->node->prefix);
    uint32_t rows = (uint32_t)lc->in_shape[0].ne[0], C = (uint32_t)lc->in_shape[0].ne[1];
    vkg__affine_desc d = {.x = lc->in[0], .y = lc->out, .a = lc->w[nd], .b = lc->w[nd + 1], .rows = rows, .C = C};
    if (p->kind == KIND_PREPBN && p->lambda != 0.0) {
        d.z = vkg__lower_temp(lc, (uint64_t)rows * C * 4);
        d.z_scale = (float)p->lambda;
        vkg__norm_desc ln = {.x = lc->in[0], .y = d.z, .w = lc->w[0], .b = lc->w[1], .rows = rows, .C = C,
                             .eps = (float)p->eps, .kind = VKG__NORM_LAYER};
        vkg_result r = vkg__emit_norm(lc, &ln);
        if (r) return r;
    }
    return vkg__emit_affine(lc, &d);
}

static vkg_result norm_lower(vkg__lower_ctx *lc) {
    const norm_params *p = lc->params;
    if (p->kind != KIND_LAYER && p->kind != KIND_RMS) return affine_lower(lc, p);
    vkg__norm_desc d = {
        .x = lc->in[0], .y = lc->out, .w = lc->w[0],
        .b = p->kind == KIND_LAYER ? lc->w[1] : (vkg__bufref){0},
        .rows = (uint32_t)lc->in_shape[0].ne[0], .C = (uint32_t)lc->in_shape[0].ne[1],
        .eps = (float)p->eps, .kind = p->kind == KIND_LAYER ? VKG__NORM_LAYER : VKG__NORM_RMS,
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
