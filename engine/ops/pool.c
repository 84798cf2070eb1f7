/*
 * pool.c — `pool`: mean over rows or the first row, [T, C] -> [1, C] (OPS.md 2).
 */
#include "op_util.h"

typedef struct pool_params { vkg__pool_kind kind; } pool_params;

static vkg_result pool_parse(vkg__parse_ctx *pc) {
    pool_params *p = pc->params;
    int k;
    vkg_result r = vkg__arg_enum(pc, "kind", VKG__ARGS("mean", "first"), -1, &k);
    p->kind = (vkg__pool_kind)k;
    return r;
}

static vkg_result pool_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    ic->out = vkg__shape2(1, ic->in[0].ne[1]);
    ic->not_causal = true;
    return r;
}

static vkg_result pool_ref(vkg__ref_ctx *rc) {
    const pool_params *p = rc->params;
    const float *x = rc->in[0];
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1];
    for (int64_t c = 0; c < C; c++) {
        if (p->kind == VKG__POOL_FIRST) { rc->out[c] = x[c]; continue; }
        double s = 0;
        for (int64_t t = 0; t < T; t++) s += x[t * C + c];
        rc->out[c] = (float)(s / (double)T);
    }
    return VKG_OK;
}

static vkg_result pool_lower(vkg__lower_ctx *lc) {
    const pool_params *p = lc->params;
    return vkg__emit_pool(lc, lc->in[0], lc->out, (uint32_t)lc->in_shape[0].ne[0], (uint32_t)lc->in_shape[0].ne[1], p->kind);
}

const vkg__op_def vkg__op_pool = {
    .name = "pool",
    .args = VKG__ARGS("kind"),
    .params_size = sizeof(pool_params),
    .parse = pool_parse,
    .infer = pool_infer,
    .ref = pool_ref,
    .lower = pool_lower,
};
