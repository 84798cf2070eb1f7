/*
 * moe.c — `moe` (OPS.md 14): a mixture of SwiGLU / GeGLU experts with a
 * linear router (logits = x Wr^T) or a recurrent one (RMoE: u = x W1^T, one
 * graph-wide GRU cell across depth, logits = h' W2^T). Gating: softmax over
 * all E in f32, top K by the logits with ties to the smaller index, optional
 * renormalisation over the K chosen.
 *
 * The recurrent routers of a graph form one chain in execution order: the
 * first one declares the router state [max_tokens, R] (rows of this call
 * only; it writes them from h = 0, so nothing is carried between decoding
 * steps) and later ones read and update that node's state through
 * vkg__ref_state_of / vkg__lower_state_of. Also the graph-level checks:
 * top_k above experts, recurrent routers of different dims.
 * Kernels: engine/src/kernels_moe.c.
 */
#include "op_util.h"

#include <math.h>
#include <string.h>

typedef struct moe_params {
    int64_t E, K, F, R;             /* experts, top_k, hidden, router dim (recurrent) */
    bool recurrent, normalize;
    vkg__act act;                   /* of the gate: SILU (swiglu) or GELU (geglu) */
    int chain_first;                /* recurrent: node index of the graph's first recurrent moe */
} moe_params;

#define MOE_DEFAULT_R 256

// >>arguments and graph-level checks
/* The recurrent moe node before this one, or NULL. */
static const vkg__node *first_recurrent(const vkg_graph *g, int *index) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == VKG_OP_moe && ((const moe_params *)g->nodes[i].params)->recurrent) {
            *index = i;
            return &g->nodes[i];
        }
    return NULL;
}

/* router: linear | {kind: recurrent, dim: R}; every recurrent router of a graph has the same R. */
static vkg_result parse_router(vkg__parse_ctx *pc, moe_params *p) {
    const vkg_value *v = vkg__arg(pc, "router");
    if (!v) return vkg__node_error(pc->g, pc->node, NULL, "missing required argument 'router' (linear or {kind: recurrent, dim: R})");
    if (v->kind == VKG_VALUE_STRING && strcmp(v->s, "linear") == 0) return VKG_OK;
    if (v->kind != VKG_VALUE_MAP)
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "moe: router must be linear or {kind: recurrent, dim: R}");
    vkg_result r = vkg__map_check_keys(pc, v, "moe: router", VKG__ARGS("kind", "dim"));
    if (r) return r;
    vkg_loc at = v->loc;
    const vkg_value *kind = vkg__map_get(v, "kind", &at);
    if (!kind || kind->kind != VKG_VALUE_STRING || strcmp(kind->s, "recurrent"))
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, kind ? kind->loc : v->loc, "moe: router map needs kind: recurrent");
    p->recurrent = true;
    p->R = MOE_DEFAULT_R;
    vkg_loc dim_at = pc->node->loc;
    vkg__map_get(pc->args, "router", &dim_at);
    const vkg_value *dim = vkg__map_get(v, "dim", &dim_at);
    if (dim && (r = vkg__value_int(pc, dim, "moe: router dim", &p->R))) return r;
    if (p->R < 1) return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, dim_at, "moe: router dim must be at least 1");
    p->chain_first = pc->g->n_nodes;      /* this node's index, unless an earlier one leads */
    int first;
    if (first_recurrent(pc->g, &first)) {
        const moe_params *fp = pc->g->nodes[first].params;
        if (fp->R != p->R)
            return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, dim_at,
                                 "moe: recurrent router dim %lld differs from %lld of the first recurrent router (%s); all share one GRU cell",
                                 (long long)p->R, (long long)fp->R, pc->g->nodes[first].prefix);
        p->chain_first = first;
    }
    return VKG_OK;
}

static vkg_result moe_parse(vkg__parse_ctx *pc) {
    moe_params *p = pc->params;
    int act;
    vkg_result r;
    if ((r = vkg__arg_int(pc, "experts", true, 0, &p->E)) || (r = vkg__arg_int(pc, "top_k", true, 0, &p->K)) ||
        (r = vkg__arg_int(pc, "hidden", true, 0, &p->F)) || (r = vkg__arg_enum(pc, "act", VKG__ARGS("swiglu", "geglu"), 0, &act)) ||
        (r = vkg__arg_bool(pc, "normalize", true, &p->normalize)))
        return r;
    if (p->E < 1) return vkg__node_error(pc->g, pc->node, "experts", "experts must be at least 1");
    if (p->K < 1) return vkg__node_error(pc->g, pc->node, "top_k", "top_k must be at least 1");
    if (p->K > p->E)
        return vkg__node_error(pc->g, pc->node, "top_k", "top_k %lld is above experts %lld", (long long)p->K, (long long)p->E);
    if (p->F < 1) return vkg__node_error(pc->g, pc->node, "hidden", "hidden must be at least 1");
    p->act = act == 0 ? VKG__ACT_SILU : VKG__ACT_GELU;
    return parse_router(pc, p);
}

static vkg_result moe_infer(vkg__infer_ctx *ic) {
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r == VKG_OK && ic->in[0].ne[1] < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    ic->out = ic->in[0];
    return r;
}

// >>weights and state
/* Weight slots in declaration order; -1 when absent. */
typedef struct moe_slots { int router, r_in, r_out, w_ih, w_hh, b_ih, b_hh, gate, up, down; } moe_slots;

static moe_slots slots_of(const moe_params *p) {
    if (!p->recurrent) return (moe_slots){0, -1, -1, -1, -1, -1, -1, 1, 2, 3};
    return (moe_slots){-1, 0, 1, 2, 3, 4, 5, 6, 7, 8};
}

static void moe_weights(vkg__weights_ctx *wc) {
    const moe_params *p = wc->params;
    int64_t C = wc->in[0].ne[1], E = p->E, F = p->F, R = p->R;
    if (!p->recurrent) {
        vkg__need_weight(wc, "router.weight", VKG__INIT_NORMAL, 2, E, C);
    } else {
        vkg__need_weight(wc, "router.in.weight", VKG__INIT_NORMAL, 2, R, C);
        vkg__need_weight(wc, "router.out.weight", VKG__INIT_NORMAL, 2, E, R);
        /* the one graph-wide GRU cell: every recurrent node names the same keys */
        vkg__need_weight(wc, "=router_gru.weight_ih", VKG__INIT_NORMAL, 2, 3 * R, R);
        vkg__need_weight(wc, "=router_gru.weight_hh", VKG__INIT_NORMAL, 2, 3 * R, R);
        vkg__need_weight(wc, "=router_gru.bias_ih", VKG__INIT_ZEROS, 1, 3 * R);
        vkg__need_weight(wc, "=router_gru.bias_hh", VKG__INIT_ZEROS, 1, 3 * R);
    }
    vkg__need_weight(wc, "experts.gate", VKG__INIT_NORMAL, 3, E, F, C);
    vkg__need_weight(wc, "experts.up", VKG__INIT_NORMAL, 3, E, F, C);
    vkg__need_weight(wc, "experts.down", VKG__INIT_NORMAL, 3, E, C, F);
}

static void moe_state(vkg__state_ctx *sc) {
    const moe_params *p = sc->params;
    if (p->recurrent && sc->node == &sc->g->nodes[p->chain_first]) vkg__need_state(sc, (uint64_t)(sc->max_tokens * p->R));
}

// >>forward, C reference
/* Gating of one token (OPS.md 14): sel[k] the k-th largest logit (ties to the
 * smaller index), wt[k] its softmax probability, renormalised when asked. */
static void route_ref(const float *l, int64_t E, int64_t K, bool normalize, int64_t *sel, double *wt) {
    double m = l[0], s = 0, chosen = 0;
    for (int64_t e = 1; e < E; e++) m = fmax(m, l[e]);
    for (int64_t e = 0; e < E; e++) s += exp(l[e] - m);
    for (int64_t k = 0; k < K; k++) {
        int64_t best = -1;
        for (int64_t e = 0; e < E; e++) {
            bool taken = false;
            for (int64_t j = 0; j < k; j++) taken |= sel[j] == e;
            if (!taken && (best < 0 || l[e] > l[best])) best = e;
        }
        sel[k] = best;
        wt[k] = exp(l[best] - m) / s;
        chosen += wt[k];
    }
    if (normalize)
        for (int64_t k = 0; k < K; k++) wt[k] /= chosen;
}

/* out[t] = sum_k w_tk Expert_{e_tk}(x_t), each expert a gated MLP. */
static vkg_result experts_ref(vkg__ref_ctx *rc, const moe_slots *s, const float *logits) {
    const moe_params *p = rc->params;
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1], E = p->E, K = p->K, F = p->F;
    float *buf = vkg__malloc(rc->ctx, sizeof(float) * (size_t)(2 * F + C));
    double *acc = vkg__malloc(rc->ctx, sizeof(double) * (size_t)(C + K));
    int64_t *sel = vkg__malloc(rc->ctx, sizeof(int64_t) * (size_t)K);
    vkg_result r = VKG_OK;
    if (!buf || !acc || !sel) r = vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in moe");
    for (int64_t t = 0; t < T && r == VKG_OK; t++) {
        const float *x = (const float *)rc->in[0] + t * C;
        float *g = buf, *u = buf + F, *ye = buf + 2 * F;
        double *wt = acc + C;
        route_ref(logits + t * E, E, K, p->normalize, sel, wt);
        for (int64_t c = 0; c < C; c++) acc[c] = 0;
        for (int64_t k = 0; k < K; k++) {
            int64_t e = sel[k];
            vkg__ref_linear(g, (size_t)F, x, (size_t)C, rc->w[s->gate] + e * F * C, NULL, 1, F, C);
            vkg__ref_linear(u, (size_t)F, x, (size_t)C, rc->w[s->up] + e * F * C, NULL, 1, F, C);
            for (int64_t f = 0; f < F; f++) g[f] = vkg__act_ref(p->act, g[f]) * u[f];
            vkg__ref_linear(ye, (size_t)C, g, (size_t)F, rc->w[s->down] + e * C * F, NULL, 1, C, F);
            for (int64_t c = 0; c < C; c++) acc[c] += (double)(float)wt[k] * ye[c];
        }
        for (int64_t c = 0; c < C; c++) rc->out[t * C + c] = (float)acc[c];
    }
    vkg__free(rc->ctx, buf);
    vkg__free(rc->ctx, acc);
    vkg__free(rc->ctx, sel);
    return r;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* RMoE router: u = x W1^T; h' = GRUCell(u, h) in place on the chain's state; logits = h' W2^T. */
static vkg_result router_gru_ref(vkg__ref_ctx *rc, const moe_slots *s, float *logits) {
    const moe_params *p = rc->params;
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1], R = p->R;
    bool first = rc->state[0] != NULL;     /* only the chain's first node owns the state */
    float *h = first ? rc->state[0] : vkg__ref_state_of(rc, p->chain_first, 0);
    float *buf = vkg__malloc(rc->ctx, sizeof(float) * (size_t)(T * 7 * R));
    if (!buf) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in moe");
    float *u = buf, *gi = u + T * R, *gh = gi + T * 3 * R;
    const float *const *w = rc->w;
    if (first) memset(h, 0, sizeof(float) * (size_t)(T * R));
    vkg__ref_linear(u, (size_t)R, rc->in[0], (size_t)C, w[s->r_in], NULL, T, R, C);
    vkg__ref_linear(gi, (size_t)(3 * R), u, (size_t)R, w[s->w_ih], w[s->b_ih], T, 3 * R, R);
    vkg__ref_linear(gh, (size_t)(3 * R), h, (size_t)R, w[s->w_hh], w[s->b_hh], T, 3 * R, R);
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < R; j++) {
            const float *a = gi + t * 3 * R, *b = gh + t * 3 * R;
            double r = sigmoid((double)a[j] + b[j]), z = sigmoid((double)a[R + j] + b[R + j]);
            double n = tanh((double)a[2 * R + j] + r * b[2 * R + j]);
            h[t * R + j] = (float)((1 - z) * n + z * h[t * R + j]);
        }
    vkg__ref_linear(logits, (size_t)p->E, h, (size_t)R, w[s->r_out], NULL, T, p->E, R);
    vkg__free(rc->ctx, buf);
    return VKG_OK;
}

static vkg_result moe_ref(vkg__ref_ctx *rc) {
    const moe_params *p = rc->params;
    moe_slots s = slots_of(p);
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1];
    float *logits = vkg__malloc(rc->ctx, sizeof(float) * (size_t)(T * p->E));
    if (!logits) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in moe");
    vkg_result r = VKG_OK;
    if (p->recurrent) r = router_gru_ref(rc, &s, logits);
    else vkg__ref_linear(logits, (size_t)p->E, rc->in[0], (size_t)C, rc->w[s.router], NULL, T, p->E, C);
    if (r == VKG_OK) r = experts_ref(rc, &s, logits);
    vkg__free(rc->ctx, logits);
    return r;
}

// >>forward, Vulkan
static vkg_result router_gru_lower(vkg__lower_ctx *lc, const moe_slots *s, vkg__bufref logits) {
    const moe_params *p = lc->params;
    uint32_t T = (uint32_t)lc->in_shape[0].ne[0], C = (uint32_t)lc->in_shape[0].ne[1], R = (uint32_t)p->R;
    bool first = lc->node_index == p->chain_first;
    vkg__bufref h = first ? lc->state[0] : vkg__lower_state_of(lc, p->chain_first, 0);
    h = vkg__bufref_sub(h, 0, (uint64_t)T * R * 4);
    vkg__bufref u = vkg__lower_temp(lc, (uint64_t)T * R * 4), gi = vkg__lower_temp(lc, (uint64_t)T * 3 * R * 4);
    vkg__bufref gh = first ? lc->w[s->b_hh] : vkg__lower_temp(lc, (uint64_t)T * 3 * R * 4);
    vkg__matmul_desc mu = {.x = lc->in[0], .w = lc->w[s->r_in], .y = u, .M = T, .N = R, .K = C};
    vkg__matmul_desc mi = {.x = u, .w = lc->w[s->w_ih], .bias = lc->w[s->b_ih], .y = gi, .M = T, .N = 3 * R, .K = R};
    vkg__matmul_desc mh = {.x = h, .w = lc->w[s->w_hh], .bias = lc->w[s->b_hh], .y = gh, .M = T, .N = 3 * R, .K = R};
    vkg__matmul_desc mo = {.x = h, .w = lc->w[s->r_out], .y = logits, .M = T, .N = (uint32_t)p->E, .K = R};
    vkg_result r;
    if ((r = vkg__emit_matmul(lc, &mu)) || (r = vkg__emit_matmul(lc, &mi)) || (!first && (r = vkg__emit_matmul(lc, &mh))) ||
        (r = vkg__emit_moe_gru(lc, gi, gh, h, T, R, first)))
        return r;
    return vkg__emit_matmul(lc, &mo);
}

static vkg_result moe_lower(vkg__lower_ctx *lc) {
    const moe_params *p = lc->params;
    moe_slots s = slots_of(p);
    uint32_t T = (uint32_t)lc->in_shape[0].ne[0], C = (uint32_t)lc->in_shape[0].ne[1], E = (uint32_t)p->E;
    vkg__bufref logits = vkg__lower_temp(lc, (uint64_t)T * E * 4);
    vkg_result r;
    if (p->recurrent) {
        if ((r = router_gru_lower(lc, &s, logits))) return r;
    } else {
        vkg__matmul_desc ml = {.x = lc->in[0], .w = lc->w[s.router], .y = logits, .M = T, .N = E, .K = C};
        if ((r = vkg__emit_matmul(lc, &ml))) return r;
    }
    vkg__moe_desc d = {.x = lc->in[0], .logits = logits, .y = lc->out, .gate = lc->w[s.gate], .up = lc->w[s.up], .down = lc->w[s.down],
                       .T = T, .C = C, .F = (uint32_t)p->F, .E = E, .K = (uint32_t)p->K, .act = p->act, .normalize = p->normalize};
    return vkg__emit_moe(lc, &d);
}

const vkg__op_def vkg__op_moe = {
    .name = "moe",
    .args = VKG__ARGS("experts", "top_k", "hidden", "router", "act", "normalize"),
    .params_size = sizeof(moe_params),
    .parse = moe_parse,
    .infer = moe_infer,
    .weights = moe_weights,
    .ref = moe_ref,
    .lower = moe_lower,
    .state = moe_state,
};
