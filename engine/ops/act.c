/*
 * act.c — the `act` op (OPS.md 1) and vkg__act_ref, the C reference of every
 * activation that kernels fuse into epilogues.
 */
#include "op_util.h"

#include <math.h>
#include <string.h>

static const char *const act_names[] = {"relu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "elu1", NULL};
static const vkg__act act_codes[] = {VKG__ACT_RELU, VKG__ACT_GELU, VKG__ACT_GELU_TANH, VKG__ACT_SILU,
                                     VKG__ACT_SIGMOID, VKG__ACT_TANH, VKG__ACT_ELU1};

float vkg__act_ref(vkg__act a, float xf) {
    double x = xf;
    switch (a) {
    case VKG__ACT_RELU: return xf > 0 ? xf : 0.0f;
    case VKG__ACT_GELU: return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    case VKG__ACT_GELU_TANH: return (float)(0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))));
    case VKG__ACT_SILU: return (float)(x / (1.0 + exp(-x)));
    case VKG__ACT_SIGMOID: return (float)(1.0 / (1.0 + exp(-x)));
    case VKG__ACT_TANH: return (float)tanh(x);
    case VKG__ACT_ELU1: return (float)(x > 0 ? x + 1.0 : exp(x));
    default: return xf;
    }
}

typedef struct act_params { vkg__act fn; } act_params;

static vkg_result act_parse(vkg__parse_ctx *pc) {
    act_params *p = pc->params;
    int i;
    vkg_result r = vkg__arg_enum(pc, "fn", act_names, -1, &i);
    if (r == VKG_OK) p->fn = act_codes[i];
    return r;
}

static vkg_result act_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, -1);
    ic->out = ic->in[0];
    return r;
}

static vkg_result act_ref(vkg__ref_ctx *rc) {
    const act_params *p = rc->params;
    const float *x = rc->in[0];
    int64_t n = vkg__shape_numel(&rc->out_shape);
    for (int64_t i = 0; i < n; i++) rc->out[i] = vkg__act_ref(p->fn, x[i]);
    return VKG_OK;
}

static vkg_result act_lower(vkg__lower_ctx *lc) {
    const act_params *p = lc->params;
    return vkg__emit_unary(lc, lc->in[0], lc->out, (uint64_t)vkg__shape_numel(&lc->out_shape), p->fn);
}

const vkg__op_def vkg__op_act = {
    .name = "act",
    .args = VKG__ARGS("fn"),
    .params_size = sizeof(act_params),
    .parse = act_parse,
    .infer = act_infer,
    .ref = act_ref,
    .lower = act_lower,
};

/* Maps an activation name shared with mlp ("gelu", "silu", ...) to its code. */
bool vkg__act_from_name(const char *name, vkg__act *out) {
    for (int i = 0; act_names[i]; i++)
        if (strcmp(act_names[i], name) == 0) { *out = act_codes[i]; return true; }
    return false;
}
