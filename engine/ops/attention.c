/*
 * attention.c — `attention` kind softmax (OPS.md 9, 10): q/k/v projections,
 * optional QK-norm (full or per head), RoPE (half or interleaved, partial),
 * causal or full softmax attention with GQA, output projection; and the
 * graph-level checks of the `hylra:` policy. Linear attention, SLA and
 * Canon-B belong to the research blocks and are refused with a clear error.
 */
#include "op_util.h"

#include <math.h>
#include <string.h>

enum { QK_NONE, QK_FULL, QK_HEAD };

typedef struct attn_params {
    int64_t H, KV, Dh;
    bool causal, bias;
    bool rope;
    double theta;
    int64_t rope_dims;      /* 0: head_dim */
    vkg__rope_style style;
    bool has_scale;
    double scale;
    int qk_norm;
    double qk_eps;
    bool explicit_dh;
} attn_params;

static vkg_result parse_rope(vkg__parse_ctx *pc, attn_params *p) {
    const vkg_value *rope = vkg__arg(pc, "rope");
    if (!rope) return VKG_OK;
    vkg_result r = vkg__map_check_keys(pc, rope, "attention: rope", VKG__ARGS("theta", "dims", "style"));
    if (r) return r;
    p->rope = true;
    p->theta = 10000.0;
    p->style = VKG__ROPE_HALF;
    const vkg_value *v;
    vkg_loc at;
    if ((v = vkg__map_get(rope, "theta", &at)) && (r = vkg__value_float(pc, v, "rope theta", &p->theta))) return r;
    if (p->theta <= 0) return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, at, "attention: rope theta must be positive");
    if ((v = vkg__map_get(rope, "dims", &at))) {
        if ((r = vkg__value_int(pc, v, "rope dims", &p->rope_dims))) return r;
        if (p->rope_dims < 2 || p->rope_dims % 2)
            return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "attention: rope dims must be even and at least 2, got %lld",
                                 (long long)p->rope_dims);
    }
    if ((v = vkg__map_get(rope, "style", &at))) {
        if (v->kind != VKG_VALUE_STRING || (strcmp(v->s, "half") && strcmp(v->s, "interleaved")))
            return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "attention: rope style must be half or interleaved");
        p->style = strcmp(v->s, "half") == 0 ? VKG__ROPE_HALF : VKG__ROPE_INTERLEAVED;
    }
    return VKG_OK;
}

static vkg_result refuse_unless(vkg__parse_ctx *pc, const char *arg, const char *only) {
    if (vkg__arg(pc, arg)) return vkg__node_error(pc->g, pc->node, arg, "%s applies to kind %s only", arg, only);
    return VKG_OK;
}

static vkg_result attn_parse(vkg__parse_ctx *pc) {
    attn_params *p = pc->params;
    int kind;
    bool canon;
    vkg_result r;
    if ((r = vkg__arg_enum(pc, "kind", VKG__ARGS("softmax", "linear", "sla"), -1, &kind))) return r;
    if (kind != 0) return vkg__node_error(pc->g, pc->node, "kind", "kind %s is not implemented in this version of the engine", kind == 1 ? "linear" : "sla");
    if ((r = vkg__arg_int(pc, "heads", true, 0, &p->H))) return r;
    if (p->H < 1) return vkg__node_error(pc->g, pc->node, "heads", "heads must be at least 1");
    if ((r = vkg__arg_int(pc, "kv_heads", false, p->H, &p->KV))) return r;
    if (p->KV < 1 || p->H % p->KV)
        return vkg__node_error(pc->g, pc->node, "kv_heads", "kv_heads %lld does not divide heads %lld", (long long)p->KV, (long long)p->H);
    p->explicit_dh = vkg__arg(pc, "head_dim") != NULL;
    if ((r = vkg__arg_int(pc, "head_dim", false, 0, &p->Dh))) return r;
    if (p->explicit_dh && p->Dh < 1) return vkg__node_error(pc->g, pc->node, "head_dim", "head_dim must be at least 1");
    if ((r = vkg__arg_bool(pc, "causal", true, &p->causal)) || (r = vkg__arg_bool(pc, "bias", false, &p->bias))) return r;
    if ((r = parse_rope(pc, p))) return r;
    p->has_scale = vkg__arg(pc, "scale") != NULL;
    if ((r = vkg__arg_float(pc, "scale", 0.0, &p->scale))) return r;
    if ((r = vkg__arg_enum(pc, "qk_norm", VKG__ARGS("none", "full", "head"), QK_NONE, &p->qk_norm))) return r;
    if ((r = vkg__arg_float(pc, "qk_norm_eps", 1e-6, &p->qk_eps))) return r;
    if ((r = vkg__arg_bool(pc, "canon", false, &canon))) return r;
    if (canon) return vkg__node_error(pc->g, pc->node, "canon", "canon: true (Canon-B) is not implemented in this version of the engine");
    if ((r = refuse_unless(pc, "feature", "linear")) || (r = refuse_unless(pc, "decay", "linear")) ||
        (r = refuse_unless(pc, "dwc_kernel", "sla")) || (r = refuse_unless(pc, "grid", "sla")))
        return r;
    return VKG_OK;
}

static int64_t head_dim(const attn_params *p, int64_t C) { return p->explicit_dh ? p->Dh : C / p->H; }

static vkg_result attn_infer(vkg__infer_ctx *ic) {
    const attn_params *p = ic->params;
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r) return r;
    int64_t C = ic->in[0].ne[1];
    if (C < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    if (!p->explicit_dh && C % p->H)
        return vkg__node_error(ic->g, ic->node, "heads", "C / heads is not exact (C = %lld, heads = %lld); give head_dim", (long long)C,
                               (long long)p->H);
    int64_t Dh = head_dim(p, C);
    if (p->rope && p->rope_dims > Dh) {
        vkg_loc at = vkg__node_arg_loc(ic->node, "rope");
        const vkg_value *dims = vkg__map_get(vkg__map_get(ic->node->args, "rope", NULL), "dims", NULL);
        if (dims) at = dims->loc;
        return vkg__error_at(ic->g->ctx, VKG_ERR_GRAPH, at, "attention: rope dims %lld exceed head_dim %lld", (long long)p->rope_dims,
                             (long long)Dh);
    }
    ic->not_causal = !p->causal;
    if (p->rope && !p->rope_dims && Dh % 2)
        return vkg__node_error(ic->g, ic->node, "rope", "rope dims default to head_dim %lld, which is odd; give even rope dims",
                               (long long)Dh);
    ic->out = ic->in[0];
    return VKG_OK;
}

typedef struct attn_slots { int wq, wk, wv, wo, bq, bk, bv, bo, qn, kn; } attn_slots;

static attn_slots slots_of(const attn_params *p) {
    attn_slots s = {0, 1, 2, 3, -1, -1, -1, -1, -1, -1};
    int k = 4;
    if (p->bias) { s.bq = k++; s.bk = k++; s.bv = k++; s.bo = k++; }
    if (p->qk_norm != QK_NONE) { s.qn = k++; s.kn = k++; }
    return s;
}

static void attn_weights(vkg__weights_ctx *wc) {
    const attn_params *p = wc->params;
    int64_t C = wc->in[0].ne[1], Dh = head_dim(p, C), Q = p->H * Dh, KVD = p->KV * Dh;
    vkg__need_weight(wc, "wq", VKG__INIT_NORMAL, 2, Q, C);
    vkg__need_weight(wc, "wk", VKG__INIT_NORMAL, 2, KVD, C);
    vkg__need_weight(wc, "wv", VKG__INIT_NORMAL, 2, KVD, C);
    vkg__need_weight(wc, "wo", VKG__INIT_NORMAL, 2, C, Q);
    if (p->bias) {
        vkg__need_weight(wc, "bq", VKG__INIT_ZEROS, 1, Q);
        vkg__need_weight(wc, "bk", VKG__INIT_ZEROS, 1, KVD);
        vkg__need_weight(wc, "bv", VKG__INIT_ZEROS, 1, KVD);
        vkg__need_weight(wc, "bo", VKG__INIT_ZEROS, 1, C);
    }
    if (p->qk_norm != QK_NONE) {
        vkg__need_weight(wc, "q_norm.weight", VKG__INIT_ONES, 1, p->qk_norm == QK_FULL ? Q : Dh);
        vkg__need_weight(wc, "k_norm.weight", VKG__INIT_ONES, 1, p->qk_norm == QK_FULL ? KVD : Dh);
    }
}

static double attn_scale(const attn_params *p, int64_t Dh) { return p->has_scale ? p->scale : 1.0 / sqrt((double)Dh); }

static vkg_result attn_ref(vkg__ref_ctx *rc) {
    const attn_params *p = rc->params;
    attn_slots s = slots_of(p);
    int64_t T = rc->in_shape[0].ne[0], C = rc->in_shape[0].ne[1], Dh = head_dim(p, C);
    int64_t Q = p->H * Dh, KVD = p->KV * Dh;
    float *buf = vkg__malloc(rc->ctx, sizeof(float) * (size_t)(T * (2 * Q + 2 * KVD)));
    double *scores = vkg__malloc(rc->ctx, sizeof(double) * (size_t)(rc->pos0 + T));
    if (!buf || !scores) {
        vkg__free(rc->ctx, buf);
        vkg__free(rc->ctx, scores);
        return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in attention");
    }
    float *q = buf, *k = q + T * Q, *v = k + T * KVD, *o = v + T * KVD;
    const float *x = rc->in[0];
    const float *const *w = rc->w;
    vkg__ref_linear(q, (size_t)Q, x, (size_t)C, w[s.wq], p->bias ? w[s.bq] : NULL, T, Q, C);
    vkg__ref_linear(k, (size_t)KVD, x, (size_t)C, w[s.wk], p->bias ? w[s.bk] : NULL, T, KVD, C);
    vkg__ref_linear(v, (size_t)KVD, x, (size_t)C, w[s.wv], p->bias ? w[s.bv] : NULL, T, KVD, C);
    if (p->qk_norm == QK_FULL) {
        vkg__ref_rmsnorm(q, q, w[s.qn], T, Q, p->qk_eps);
        vkg__ref_rmsnorm(k, k, w[s.kn], T, KVD, p->qk_eps);
    } else if (p->qk_norm == QK_HEAD) {
        vkg__ref_rmsnorm(q, q, w[s.qn], T * p->H, Dh, p->qk_eps);
        vkg__ref_rmsnorm(k, k, w[s.kn], T * p->KV, Dh, p->qk_eps);
    }
    if (p->rope) {
        int64_t R = p->rope_dims ? p->rope_dims : Dh;
        vkg__ref_rope(q, (size_t)Q, T, p->H, Dh, R, (float)p->theta, p->style, rc->pos0);
        vkg__ref_rope(k, (size_t)KVD, T, p->KV, Dh, R, (float)p->theta, p->style, rc->pos0);
    }
    const float *keys = k, *vals = v;
    int64_t Tk = T;
    if (p->causal) {
        /* Append this call's keys and values to the cache; attend over all of it. */
        memcpy(rc->state[0] + rc->pos0 * KVD, k, sizeof(float) * (size_t)(T * KVD));
        memcpy(rc->state[1] + rc->pos0 * KVD, v, sizeof(float) * (size_t)(T * KVD));
        keys = rc->state[0], vals = rc->state[1], Tk = rc->pos0 + T;
    }
    vkg__ref_attention(o, q, keys, vals, T, Tk, p->H, p->KV, Dh, attn_scale(p, Dh), p->causal, rc->pos0, scores);
    vkg__ref_linear(rc->out, (size_t)C, o, (size_t)Q, w[s.wo], p->bias ? w[s.bo] : NULL, T, C, Q);
    vkg__free(rc->ctx, buf);
    vkg__free(rc->ctx, scores);
    return VKG_OK;
}

static vkg_result lower_qk_norm(vkg__lower_ctx *lc, const attn_params *p, vkg__bufref x, vkg__bufref w, uint32_t T, uint32_t heads,
                                uint32_t Dh) {
    bool full = p->qk_norm == QK_FULL;
    vkg__norm_desc d = {.x = x, .y = x, .w = w, .rows = full ? T : T * heads, .C = full ? heads * Dh : Dh,
                        .eps = (float)p->qk_eps, .kind = VKG__NORM_RMS};
    return vkg__emit_norm(lc, &d);
}

static vkg_result attn_lower(vkg__lower_ctx *lc) {
    const attn_params *p = lc->params;
    attn_slots s = slots_of(p);
    uint32_t T = (uint32_t)lc->in_shape[0].ne[0], C = (uint32_t)lc->in_shape[0].ne[1];
    uint32_t Dh = (uint32_t)head_dim(p, C), H = (uint32_t)p->H, KV = (uint32_t)p->KV;
    uint32_t Q = H * Dh, KVD = KV * Dh;
    vkg__bufref none = {0};
    vkg__bufref q = vkg__lower_temp(lc, (uint64_t)T * Q * 4), o = vkg__lower_temp(lc, (uint64_t)T * Q * 4);
    vkg__bufref k, v;
    uint32_t Tk = T, pos0 = (uint32_t)lc->pos0;
    if (p->causal) {
        /* Keys and values go straight into the cache rows of this call. */
        uint64_t row = (uint64_t)KVD * 4;
        k = vkg__bufref_sub(lc->state[0], pos0 * row, T * row);
        v = vkg__bufref_sub(lc->state[1], pos0 * row, T * row);
        Tk = pos0 + T;
    } else {
        k = vkg__lower_temp(lc, (uint64_t)T * KVD * 4);
        v = vkg__lower_temp(lc, (uint64_t)T * KVD * 4);
    }
    vkg__matmul_desc mq = {.x = lc->in[0], .w = lc->w[s.wq], .bias = p->bias ? lc->w[s.bq] : none, .y = q, .M = T, .N = Q, .K = C};
    vkg__matmul_desc mk = {.x = lc->in[0], .w = lc->w[s.wk], .bias = p->bias ? lc->w[s.bk] : none, .y = k, .M = T, .N = KVD, .K = C};
    vkg__matmul_desc mv = {.x = lc->in[0], .w = lc->w[s.wv], .bias = p->bias ? lc->w[s.bv] : none, .y = v, .M = T, .N = KVD, .K = C};
    vkg_result r;
    if ((r = vkg__emit_matmul(lc, &mq)) || (r = vkg__emit_matmul(lc, &mk)) || (r = vkg__emit_matmul(lc, &mv))) return r;
    if (p->qk_norm != QK_NONE &&
        ((r = lower_qk_norm(lc, p, q, lc->w[s.qn], T, H, Dh)) || (r = lower_qk_norm(lc, p, k, lc->w[s.kn], T, KV, Dh))))
        return r;
    if (p->rope) {
        uint32_t R = (uint32_t)(p->rope_dims ? p->rope_dims : Dh);
        vkg__rope_desc rq = {.x = q, .T = T, .n_heads = H, .head_dim = Dh, .row_stride = Q, .rot_dims = R,
                             .pos0 = (uint32_t)lc->pos0, .theta = (float)p->theta, .style = p->style};
        vkg__rope_desc rk = rq;
        rk.x = k;
        rk.n_heads = KV;
        rk.row_stride = KVD;
        if ((r = vkg__emit_rope(lc, &rq)) || (r = vkg__emit_rope(lc, &rk))) return r;
    }
    vkg__attn_desc a = {.q = q, .o = o, .Tq = T, .Tk = Tk, .H = H, .KV = KV, .Dh = Dh, .pos0 = pos0,
                        .scale = (float)attn_scale(p, Dh), .causal = p->causal};
    a.k = p->causal ? vkg__bufref_sub(lc->state[0], 0, (uint64_t)Tk * KVD * 4) : k;
    a.v = p->causal ? vkg__bufref_sub(lc->state[1], 0, (uint64_t)Tk * KVD * 4) : v;
    if ((r = vkg__emit_attention(lc, &a))) return r;
    vkg__matmul_desc mo = {.x = o, .w = lc->w[s.wo], .bias = p->bias ? lc->w[s.bo] : none, .y = lc->out, .M = T, .N = C, .K = Q};
    return vkg__emit_matmul(lc, &mo);
}

/* Causal attention keeps its keys and values: the KV cache, token-major rows
 * [pos][kv_head * Dh] (post-RoPE keys), max_tokens rows each. */
static void attn_state(vkg__state_ctx *sc) {
    const attn_params *p = sc->params;
    if (!p->causal) return;
    int64_t KVD = p->KV * head_dim(p, sc->in[0].ne[1]);
    vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * KVD));
    vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * KVD));
}

const vkg__op_def vkg__op_attention = {
    .name = "attention",
    .args = VKG__ARGS("kind", "heads", "kv_heads", "head_dim", "causal", "rope", "scale", "bias", "qk_norm", "qk_norm_eps", "canon",
                      "feature", "decay", "dwc_kernel", "grid"),
    .params_size = sizeof(attn_params),
    .parse = attn_parse,
    .infer = attn_infer,
    .weights = attn_weights,
    .ref = attn_ref,
    .lower = attn_lower,
    .state = attn_state,
};

// >>hylra
vkg_result vkg__hylra_check(vkg_graph *g);

vkg_result vkg__hylra_check(vkg_graph *g) {
    const vkg_hylra_desc *h = &g->hylra;
    int n_softmax = 0;
    for (int i = 0; i < g->n_nodes; i++) n_softmax += g->nodes[i].op == VKG_OP_attention;
    if (h->n_policy != n_softmax)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, h->loc, "hylra: policy has %d entries but the graph has %d softmax attention layers",
                             h->n_policy, n_softmax);
    if (n_softmax > 0 && !h->policy_full[0])
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, h->policy_locs[0], "hylra: the first policy entry must be full");
    const attn_params *full = NULL;
    for (int i = 0, a = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != VKG_OP_attention) continue;
        const attn_params *p = g->nodes[i].params;
        if (h->policy_full[a]) full = p;
        else if (full && (p->H != full->H || p->KV != full->KV || p->causal != full->causal))
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, h->policy_locs[a],
                                 "hylra: reuse layer %d must have the heads, kv_heads and causal of the full layer it reuses", a);
        a++;
    }
    return VKG_OK;
}
