/*
 * embed.c — token, position and patch embeddings (OPS.md 2):
 * `embed` (ids -> rows), `pos_embed` (learned positions added at P0 + t)
 * and `patch_embed` (ViT image patches through a conv of stride P).
 */
#include "op_util.h"

// >>embed
typedef struct embed_params { int64_t vocab, dim; } embed_params;

static vkg_result embed_parse(vkg__parse_ctx *pc) {
    embed_params *p = pc->params;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "vocab", true, 0, &p->vocab)) || (r = vkg__arg_int(pc, "dim", true, 0, &p->dim))) return r;
    if (p->vocab < 1) return vkg__node_error(pc->g, pc->node, "vocab", "vocab must be at least 1");
    if (p->dim < 1) return vkg__node_error(pc->g, pc->node, "dim", "dim must be at least 1");
    return VKG_OK;
}

static vkg_result embed_infer(vkg__infer_ctx *ic) {
    const embed_params *p = ic->params;
    if (ic->in_dtype[0] != VKG_DTYPE_I32 || ic->in[0].n_dims != 1) {
        char s[96];
        vkg__shape_str(ic->g, &ic->in[0], s, sizeof s);
        return vkg__node_error(ic->g, ic->node, NULL, "expects i32 token ids of shape [T], got %s %s", vkg_dtype_name(ic->in_dtype[0]), s);
    }
    ic->out = vkg__shape2(ic->in[0].ne[0], p->dim);
    return VKG_OK;
}

static void embed_weights(vkg__weights_ctx *wc) {
    const embed_params *p = wc->params;
    vkg__need_weight(wc, "weight", VKG__INIT_NORMAL, 2, p->vocab, p->dim);
}

static vkg_result embed_check_run(vkg__ref_ctx *rc) {
    const embed_params *p = rc->params;
    const int32_t *ids = rc->in[0];
    if (!ids) return VKG_OK;
    for (int64_t t = 0; t < rc->in_shape[0].ne[0]; t++)
        if (ids[t] < 0 || ids[t] >= p->vocab)
            return vkg__error(rc->ctx, VKG_ERR_INPUT, "%s: token id %d at position %lld is outside [0, %lld)", rc->node->prefix, ids[t],
                              (long long)t, (long long)p->vocab);
    return VKG_OK;
}

static vkg_result embed_ref(vkg__ref_ctx *rc) {
    const embed_params *p = rc->params;
    vkg_result r = embed_check_run(rc);
    if (r) return r;
    const int32_t *ids = rc->in[0];
    for (int64_t t = 0; t < rc->in_shape[0].ne[0]; t++)
        for (int64_t d = 0; d < p->dim; d++) rc->out[t * p->dim + d] = rc->w[0][(int64_t)ids[t] * p->dim + d];
    return VKG_OK;
}

static vkg_result embed_lower(vkg__lower_ctx *lc) {
    const embed_params *p = lc->params;
    return vkg__emit_embed(lc, lc->in[0], lc->w[0], lc->out, (uint32_t)lc->in_shape[0].ne[0], (uint32_t)p->dim);
}

const vkg__op_def vkg__op_embed = {
    .name = "embed",
    .args = VKG__ARGS("vocab", "dim"),
    .params_size = sizeof(embed_params),
    .parse = embed_parse,
    .infer = embed_infer,
    .weights = embed_weights,
    .ref = embed_ref,
    .lower = embed_lower,
    .check_run = embed_check_run,
};

// >>pos_embed
typedef struct pos_params { int64_t max_len, dim; } pos_params;

static vkg_result pos_parse(vkg__parse_ctx *pc) {
    pos_params *p = pc->params;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "max_len", true, 0, &p->max_len)) || (r = vkg__arg_int(pc, "dim", true, 0, &p->dim))) return r;
    if (p->max_len < 1) return vkg__node_error(pc->g, pc->node, "max_len", "max_len must be at least 1");
    if (p->dim < 1) return vkg__node_error(pc->g, pc->node, "dim", "dim must be at least 1");
    return VKG_OK;
}

static vkg_result pos_infer(vkg__infer_ctx *ic) {
    const pos_params *p = ic->params;
    vkg_result r;
    if ((r = vkg__expect_f32(ic, 0, 2)) || (r = vkg__expect_dim(ic, 1, p->dim, "dim", "dim"))) return r;
    if (ic->in[0].ne[0] > p->max_len)
        return vkg__node_error(ic->g, ic->node, "max_len", "%lld rows do not fit max_len %lld", (long long)ic->in[0].ne[0], (long long)p->max_len);
    ic->out = ic->in[0];
    return VKG_OK;
}

static void pos_weights(vkg__weights_ctx *wc) {
    const pos_params *p = wc->params;
    vkg__need_weight(wc, "weight", VKG__INIT_NORMAL, 2, p->max_len, p->dim);
}

static vkg_result pos_check_run(vkg__ref_ctx *rc) {
    const pos_params *p = rc->params;
    int64_t last = rc->pos0 + rc->in_shape[0].ne[0] - 1;
    if (last >= p->max_len)
        return vkg__error(rc->ctx, VKG_ERR_INPUT, "%s: position %lld is not below max_len %lld", rc->node->prefix, (long long)last,
                          (long long)p->max_len);
    return VKG_OK;
}

static vkg_result pos_ref(vkg__ref_ctx *rc) {
    const pos_params *p = rc->params;
    vkg_result r = pos_check_run(rc);
    if (r) return r;
    const float *x = rc->in[0];
    for (int64_t t = 0; t < rc->in_shape[0].ne[0]; t++)
        for (int64_t c = 0; c < p->dim; c++) rc->out[t * p->dim + c] = x[t * p->dim + c] + rc->w[0][(rc->pos0 + t) * p->dim + c];
    return VKG_OK;
}

static vkg_result pos_lower(vkg__lower_ctx *lc) {
    const pos_params *p = lc->params;
    return vkg__emit_add_rows(lc, lc->in[0], lc->w[0], lc->out, (uint32_t)lc->in_shape[0].ne[0], (uint32_t)p->dim, (uint32_t)lc->pos0);
}

const vkg__op_def vkg__op_pos_embed = {
    .name = "pos_embed",
    .args = VKG__ARGS("max_len", "dim"),
    .params_size = sizeof(pos_params),
    .parse = pos_parse,
    .infer = pos_infer,
    .weights = pos_weights,
    .ref = pos_ref,
    .lower = pos_lower,
    .check_run = pos_check_run,
};

// >>patch_embed
typedef struct patch_params { int64_t patch, channels, dim; bool cls; } patch_params;

static vkg_result patch_parse(vkg__parse_ctx *pc) {
    patch_params *p = pc->params;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "patch", true, 0, &p->patch)) || (r = vkg__arg_int(pc, "channels", true, 0, &p->channels)) ||
        (r = vkg__arg_int(pc, "dim", true, 0, &p->dim)) || (r = vkg__arg_bool(pc, "cls", false, &p->cls)))
        return r;
    if (p->patch < 1) return vkg__node_error(pc->g, pc->node, "patch", "patch must be at least 1");
    if (p->channels < 1) return vkg__node_error(pc->g, pc->node, "channels", "channels must be at least 1");
    if (p->dim < 1) return vkg__node_error(pc->g, pc->node, "dim", "dim must be at least 1");
    return VKG_OK;
}

static vkg_result patch_infer(vkg__infer_ctx *ic) {
    const patch_params *p = ic->params;
    vkg_result r;
    if ((r = vkg__expect_f32(ic, 0, 3))) return r;
    const int64_t *ne = ic->in[0].ne;
    char s[96];
    vkg__shape_str(ic->g, &ic->in[0], s, sizeof s);
    if (ne[2] >= 0 && ne[2] != p->channels)
        return vkg__node_error(ic->g, ic->node, "channels", "shape mismatch: image %s has %lld channels, channels is %lld", s,
                               (long long)ne[2], (long long)p->channels);
    for (int d = 0; d < 2; d++)
        if (ne[d] >= 0 && ne[d] % p->patch != 0)
            return vkg__node_error(ic->g, ic->node, "patch", "patch size %lld does not divide the image %s (HWC)", (long long)p->patch, s);
    int64_t n = ne[0] >= 0 && ne[1] >= 0 ? (ne[0] / p->patch) * (ne[1] / p->patch) + (p->cls ? 1 : 0) : VKG__DIM_DYN;
    ic->out = vkg__shape2(n, p->dim);
    ic->not_causal = true;   /* an image, not a token sequence */
    return VKG_OK;
}

static void patch_weights(vkg__weights_ctx *wc) {
    const patch_params *p = wc->params;
    vkg__need_weight(wc, "weight", VKG__INIT_NORMAL, 4, p->dim, p->channels, p->patch, p->patch);
    vkg__need_weight(wc, "bias", VKG__INIT_ZEROS, 1, p->dim);
    if (p->cls) vkg__need_weight(wc, "cls", VKG__INIT_NORMAL, 1, p->dim);
}

static vkg_result patch_ref(vkg__ref_ctx *rc) {
    const patch_params *p = rc->params;
    const float *img = rc->in[0];
    int64_t Ww = rc->in_shape[0].ne[1], Cin = p->channels, P = p->patch;
    int64_t gw = Ww / P, n_patches = (rc->in_shape[0].ne[0] / P) * gw;
    int64_t row0 = p->cls ? 1 : 0;
    if (p->cls)
        for (int64_t d = 0; d < p->dim; d++) rc->out[d] = rc->w[2][d];
    for (int64_t n = 0; n < n_patches; n++) {
        int64_t py = n / gw, px = n % gw;
        for (int64_t d = 0; d < p->dim; d++) {
            double acc = rc->w[1][d];
            for (int64_t c = 0; c < Cin; c++)
                for (int64_t u = 0; u < P; u++)
                    for (int64_t v = 0; v < P; v++)
                        acc += (double)rc->w[0][((d * Cin + c) * P + u) * P + v] * img[((py * P + u) * Ww + px * P + v) * Cin + c];
            rc->out[(row0 + n) * p->dim + d] = (float)acc;
        }
    }
    return VKG_OK;
}

static vkg_result patch_lower(vkg__lower_ctx *lc) {
    const patch_params *p = lc->params;
    uint32_t Hh = (uint32_t)lc->in_shape[0].ne[0], Ww = (uint32_t)lc->in_shape[0].ne[1];
    uint32_t P = (uint32_t)p->patch, Cin = (uint32_t)p->channels, D = (uint32_t)p->dim;
    uint32_t n_patches = (Hh / P) * (Ww / P), K = Cin * P * P;
    vkg__bufref cols = vkg__lower_temp(lc, (uint64_t)n_patches * K * 4);
    vkg_result r = vkg__emit_im2col(lc, lc->in[0], cols, Hh, Ww, Cin, P);
    if (r) return r;
    uint64_t row0 = p->cls ? (uint64_t)D * 4 : 0;
    vkg__matmul_desc d = {.x = cols, .w = lc->w[0], .bias = lc->w[1], .y = vkg__bufref_sub(lc->out, row0, 0),
                          .M = n_patches, .N = D, .K = K};
    if ((r = vkg__emit_matmul(lc, &d))) return r;
    if (p->cls) r = vkg__emit_copy(lc, lc->w[2], vkg__bufref_sub(lc->out, 0, (uint64_t)D * 4), D);
    return r;
}

const vkg__op_def vkg__op_patch_embed = {
    .name = "patch_embed",
    .args = VKG__ARGS("patch", "channels", "dim", "cls"),
    .params_size = sizeof(patch_params),
    .parse = patch_parse,
    .infer = patch_infer,
    .weights = patch_weights,
    .ref = patch_ref,
    .lower = patch_lower,
};
