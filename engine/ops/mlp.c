/*
 * mlp.c — `mlp` (OPS.md 7): non-gated act(x up^T + b) down^T + b, or gated
 * SwiGLU / GeGLU with gate and up computed into one [T, 2F] buffer whose
 * halves the glu kernel combines. Canon-D (canon: true, OPS.md 8 site D): a
 * causal conv of kernel 4 with residual on [gate | up] (2F channels, gated) or
 * on the F pre-activation channels (non-gated), after the biases and before
 * the activation; its decoding state is the last 3 rows of those channels.
 */
#include "op_util.h"

#include <string.h>

typedef struct mlp_params {
    int64_t hidden;
    vkg__act act;           /* activation (of the gate when gated) */
    bool gated;
    bool bias;
    bool canon;             /* Canon-D */
} mlp_params;

#define CANON_D_K 4

static vkg_result mlp_parse(vkg__parse_ctx *pc) {
    mlp_params *p = pc->params;
    static const char *const acts[] = {"gelu", "gelu_tanh", "relu", "silu", "swiglu", "geglu", NULL};
    int a;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "hidden", true, 0, &p->hidden)) || (r = vkg__arg_enum(pc, "act", acts, 0, &a)) ||
        (r = vkg__arg_bool(pc, "bias", false, &p->bias)) || (r = vkg__arg_bool(pc, "canon", false, &p->canon)))
        return r;
    if (p->hidden < 1) return vkg__node_error(pc->g, pc->node, "hidden", "hidden must be at least 1");
    p->gated = strcmp(acts[a], "swiglu") == 0 || strcmp(acts[a], "geglu") == 0;
    if (strcmp(acts[a], "swiglu") == 0) p->act = VKG__ACT_SILU;
    else if (strcmp(acts[a], "geglu") == 0) p->act = VKG__ACT_GELU;
    else vkg__act_from_name(acts[a], &p->act);
    return VKG_OK;
}

static vkg_result mlp_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r == VKG_OK && ic->in[0].ne[1] < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    ic->out = ic->in[0];
    return r;
}

/* Weight slots, in declaration order. */
typedef struct mlp_slots { int gate, up, down, gate_bias, up_bias, down_bias, canon; } mlp_slots;

static mlp_slots slots_of(const mlp_params *p) {
    mlp_slots s = {-1, -1, -1, -1, -1, -1, -1};
    int k = 0;
    if (p->gated) s.gate = k++;
    s.up = k++;
    s.down = k++;
    if (p->bias) {
        s.up_bias = k++;
        if (p->gated) s.gate_bias = k++;
        s.down_bias = k++;
    }
    if (p->canon) s.canon = k++;
    return s;
}

/* Channels of the pre-activation buffer (and of Canon-D): [gate | up] or up. */
static int64_t pre_channels(const mlp_params *p) { return p->gated ? 2 * p->hidden : p->hidden; }

static void mlp_weights(vkg__weights_ctx *wc) {
    const mlp_params *p = wc->params;
    int64_t C = wc->in[0].ne[1], F = p->hidden;
    if (p->gated) vkg__need_weight(wc, "gate", VKG__INIT_NORMAL, 2, F, C);
    vkg__need_weight(wc, "up", VKG__INIT_NORMAL, 2, F, C);
    vkg__need_weight(wc, "down", VKG__INIT_NORMAL, 2, C, F);
    if (p->bias) {
        vkg__need_weight(wc, "up_bias", VKG__INIT_ZEROS, 1, F);
        if (p->gated) vkg__need_weight(wc, "gate_bias", VKG__INIT_ZEROS, 1, F);
        vkg__need_weight(wc, "down_bias", VKG__INIT_ZEROS, 1, C);
    }
    if (p->canon) vkg__need_conv_weight(wc, vkg__need_weight(wc, "canon.weight", VKG__INIT_NORMAL, 2, pre_channels(p), (int64_t)CANON_D_K));
}

static void mlp_state(vkg__state_ctx *sc) {
    const mlp_params *p = sc->params;
    if (p->canon) vkg__need_state(sc, (uint64_t)((CANON_D_K - 1) * pre_channels(p)));
}

static vkg_result mlp_ref(vkg__ref_ctx *rc) {
    const mlp_params *p = rc->params;
    mlp_slots s = slots_of(p);
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1], F = p->hidden, F2 = pre_channels(p);
    float *pre = vkg__malloc(rc->ctx, sizeof(float) * (size_t)(T * F2 * (p->canon ? 2 : 1) + T * F));
    if (!pre) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in mlp");
    float *h = pre + T * F2, *post = p->canon ? h + T * F : pre;
    const float *x = rc->in[0];
    /* pre [T, F2]: [gate | up] rows (gated) or up rows, biases included. */
    if (p->gated)
        vkg__ref_linear(pre, (size_t)F2, x, (size_t)C, rc->w[s.gate], s.gate_bias >= 0 ? rc->w[s.gate_bias] : NULL, T, F, C);
    vkg__ref_linear(pre + F2 - F, (size_t)F2, x, (size_t)C, rc->w[s.up], s.up_bias >= 0 ? rc->w[s.up_bias] : NULL, T, F, C);
    if (p->canon) vkg__ref_canon(post, (size_t)F2, pre, (size_t)F2, rc->w[s.canon], NULL, T, F2, CANON_D_K, true, rc->state[0], (size_t)F2);
    for (int64_t t = 0; t < T; t++)
        for (int64_t f = 0; f < F; f++) {
            const float *r = post + t * F2;
            h[t * F + f] = p->gated ? vkg__act_ref(p->act, r[f]) * r[F + f] : vkg__act_ref(p->act, r[f]);
        }
    vkg__ref_linear(rc->out, (size_t)C, h, (size_t)F, rc->w[s.down], s.down_bias >= 0 ? rc->w[s.down_bias] : NULL, T, C, F);
    vkg__free(rc->ctx, pre);
    return VKG_OK;
}

/* Canon-D on the [T, F2] pre-activation buffer into a new temp (the conv never runs in place). */
static vkg_result lower_canon_d(vkg__lower_ctx *lc, const mlp_params *p, vkg__bufref w, vkg__bufref pre, uint32_t T, vkg__bufref *post) {
    uint32_t F2 = (uint32_t)pre_channels(p);
    *post = vkg__lower_temp(lc, (uint64_t)T * F2 * 4);
    vkg__canon_desc cd = {.x = pre, .y = *post, .w = w, .win = lc->state[0], .T = T, .C = F2, .K = CANON_D_K, .residual = true};
    return vkg__emit_canon(lc, &cd);
}

static vkg_result mlp_lower(vkg__lower_ctx *lc) {
    const mlp_params *p = lc->params;
    mlp_slots s = slots_of(p);
    uint32_t T = (uint32_t)lc->in_shape[0].ne[0], C = (uint32_t)lc->in_shape[0].ne[1], F = (uint32_t)p->hidden;
    vkg__bufref none = {0};
    vkg__bufref h = vkg__lower_temp(lc, (uint64_t)T * F * 4);
    vkg_result r;
    if (p->gated) {
        /* gate and up side by side in one [T, 2F] buffer, then h = act(g) * u. */
        vkg__bufref gu = vkg__lower_temp(lc, (uint64_t)T * F * 2 * 4);
        vkg__matmul_desc g = {.x = lc->in[0], .w = lc->w[s.gate], .bias = s.gate_bias >= 0 ? lc->w[s.gate_bias] : none,
                              .y = gu, .M = T, .N = F, .K = C, .y_stride = 2 * F};
        vkg__matmul_desc u = g;
        u.w = lc->w[s.up];
        u.bias = s.up_bias >= 0 ? lc->w[s.up_bias] : none;
        u.y = vkg__bufref_sub(gu, (uint64_t)F * 4, 0);
        if ((r = vkg__emit_matmul(lc, &g)) || (r = vkg__emit_matmul(lc, &u))) return r;
        if (p->canon && (r = lower_canon_d(lc, p, lc->w[s.canon], gu, T, &gu))) return r;
        if ((r = vkg__emit_glu(lc, gu, h, T, F, p->act))) return r;
    } else if (p->canon) {
        /* Canon-D sits between the up GEMM and the activation: no fused act. */
        vkg__bufref pre = vkg__lower_temp(lc, (uint64_t)T * F * 4), post;
        vkg__matmul_desc u = {.x = lc->in[0], .w = lc->w[s.up], .bias = s.up_bias >= 0 ? lc->w[s.up_bias] : none,
                              .y = pre, .M = T, .N = F, .K = C};
        if ((r = vkg__emit_matmul(lc, &u)) || (r = lower_canon_d(lc, p, lc->w[s.canon], pre, T, &post)) ||
            (r = vkg__emit_unary(lc, post, h, (uint64_t)T * F, p->act)))
            return r;
    } else {
        vkg__matmul_desc u = {.x = lc->in[0], .w = lc->w[s.up], .bias = s.up_bias >= 0 ? lc->w[s.up_bias] : none,
                              .y = h, .M = T, .N = F, .K = C, .act = p->act};
        if ((r = vkg__emit_matmul(lc, &u))) return r;
    }
    vkg__matmul_desc d = {.x = h, .w = lc->w[s.down], .bias = s.down_bias >= 0 ? lc->w[s.down_bias] : none,
                          .y = lc->out, .res = lc->residual, .M = T, .N = C, .K = F};
    return vkg__emit_matmul(lc, &d);
}

const vkg__op_def vkg__op_mlp = {
    .name = "mlp",
    .args = VKG__ARGS("hidden", "act", "bias", "canon"),
    .params_size = sizeof(mlp_params),
    .parse = mlp_parse,
    .infer = mlp_infer,
    .weights = mlp_weights,
    .ref = mlp_ref,
    .lower = mlp_lower,
    .fuse_residual = true,
    .state = mlp_state,
};
