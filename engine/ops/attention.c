/*
 * attention.c — the `attention` op's front (OPS.md 9, 10, 12, 13): arguments
 * of every kind, shapes, weights, decoding state, q/k/v projections, QK-norm
 * (full or per head), Canon-B, RoPE, the output projection; the kind's core
 * (attention_softmax.c, attention_linear.c) sits in between. Also the
 * graph-level checks of the `hylra:` policy.
 */
#include "attention.h"

#include <math.h>
#include <string.h>

#define CANON_B_K 4         /* Canon-B always uses kernel 4 (OPS.md 8) */

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

static vkg_result parse_grid(vkg__parse_ctx *pc, attn_params *p) {
    const vkg_value *g = vkg__arg(pc, "grid");
    if (!g) return VKG_OK;
    if (g->kind != VKG_VALUE_LIST || g->n != 2) return vkg__node_error(pc->g, pc->node, "grid", "grid must be a list [gh, gw]");
    vkg_result r;
    for (int i = 0; i < 2; i++) {
        if ((r = vkg__value_int(pc, &g->items[i], "grid", &p->grid[i]))) return r;
        if (p->grid[i] < 1) return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, g->items[i].loc, "attention: grid sizes must be at least 1");
    }
    p->has_grid = true;
    return VKG_OK;
}

/* Arguments of linear and sla attention and their rules (GRAPH-FORMAT.md). */
static vkg_result parse_kind_args(vkg__parse_ctx *pc, attn_params *p) {
    vkg_result r;
    if (p->kind != ATTN_LINEAR && ((r = refuse_unless(pc, "feature", "linear")) || (r = refuse_unless(pc, "decay", "linear")))) return r;
    if (p->kind != ATTN_SLA && ((r = refuse_unless(pc, "dwc_kernel", "sla")) || (r = refuse_unless(pc, "grid", "sla")))) return r;
    if (p->kind == ATTN_LINEAR) {
        if ((r = vkg__arg_enum(pc, "feature", VKG__ARGS("elu1", "relu"), FEATURE_ELU1, &p->feature)) ||
            (r = vkg__arg_bool(pc, "decay", false, &p->decay)))
            return r;
        if (p->decay && !p->causal)
            return vkg__node_error(pc->g, pc->node, "decay", "decay needs causal attention (a decay orders the tokens)");
    }
    if (p->kind == ATTN_SLA) {
        if ((r = vkg__arg_int(pc, "dwc_kernel", false, 5, &p->dwc_kernel)) || (r = parse_grid(pc, p))) return r;
        if (p->dwc_kernel < 1) return vkg__node_error(pc->g, pc->node, "dwc_kernel", "dwc_kernel must be at least 1");
        if (!p->causal && !p->has_grid)
            return vkg__node_error(pc->g, pc->node, NULL, "sla with causal: false needs grid: [gh, gw]");
        if (p->causal && p->has_grid) return vkg__node_error(pc->g, pc->node, "grid", "grid applies to sla with causal: false only");
        if (p->has_grid && p->dwc_kernel % 2 == 0)
            return vkg__node_error(pc->g, pc->node, "dwc_kernel", "dwc_kernel must be odd with grid, got %lld", (long long)p->dwc_kernel);
    }
    return VKG_OK;
}

static vkg_result attn_parse(vkg__parse_ctx *pc) {
    attn_params *p = pc->params;
    int kind;
    vkg_result r;
    if ((r = vkg__arg_enum(pc, "kind", VKG__ARGS("softmax", "linear", "sla"), -1, &kind))) return r;
    p->kind = (attn_kind)kind;
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
    if ((r = vkg__arg_bool(pc, "canon", false, &p->canon))) return r;
    return parse_kind_args(pc, p);
}

int64_t vkg__attn_head_dim(const attn_params *p, int64_t C) { return p->explicit_dh ? p->Dh : C / p->H; }
double vkg__attn_scale(const attn_params *p, int64_t Dh) { return p->has_scale ? p->scale : 1.0 / sqrt((double)Dh); }
bool vkg__attn_kv_in_cache(const attn_params *p) { return p->kind == ATTN_SOFTMAX && p->causal; }

static attn_dims dims_of(const attn_params *p, const vkg__shape *in) {
    attn_dims d = {.T = in->ne[0], .C = in->ne[1], .H = p->H, .KV = p->KV};
    d.Dh = vkg__attn_head_dim(p, d.C);
    d.Q = d.H * d.Dh;
    d.KVD = d.KV * d.Dh;
    return d;
}

static vkg_result attn_infer(vkg__infer_ctx *ic) {
    const attn_params *p = ic->params;
    vkg_result r = vkg__expect_f32(ic, 0, 2);
    if (r) return r;
    int64_t C = ic->in[0].ne[1];
    if (C < 0) return vkg__node_error(ic->g, ic->node, NULL, "channel count must be fixed");
    if (!p->explicit_dh && C % p->H)
        return vkg__node_error(ic->g, ic->node, "heads", "C / heads is not exact (C = %lld, heads = %lld); give head_dim", (long long)C,
                               (long long)p->H);
    int64_t Dh = vkg__attn_head_dim(p, C);
    if (p->rope && p->rope_dims > Dh) {
        vkg_loc at = vkg__node_arg_loc(ic->node, "rope");
        const vkg_value *dims = vkg__map_get(vkg__map_get(ic->node->args, "rope", NULL), "dims", NULL);
        if (dims) at = dims->loc;
        return vkg__error_at(ic->g->ctx, VKG_ERR_GRAPH, at, "attention: rope dims %lld exceed head_dim %lld", (long long)p->rope_dims,
                             (long long)Dh);
    }
    if (p->rope && !p->rope_dims && Dh % 2)
        return vkg__node_error(ic->g, ic->node, "rope", "rope dims default to head_dim %lld, which is odd; give even rope dims",
                               (long long)Dh);
    int64_t T = ic->in[0].ne[0];
    if (p->has_grid && T >= 0 && T != p->grid[0] * p->grid[1])
        return vkg__node_error(ic->g, ic->node, "grid", "grid [%lld, %lld] holds %lld tokens but the input has T = %lld", (long long)p->grid[0],
                               (long long)p->grid[1], (long long)(p->grid[0] * p->grid[1]), (long long)T);
    ic->not_causal = !p->causal;
    ic->out = ic->in[0];
    return VKG_OK;
}

attn_slots vkg__attn_slots(const attn_params *p) {
    attn_slots s = {0, 1, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    int k = 4;
    if (p->bias) s.bq = k++, s.bk = k++, s.bv = k++, s.bo = k++;
    if (p->qk_norm != QK_NONE) s.qn = k++, s.kn = k++;
    if (p->canon) s.canon = k++;
    if (p->decay) s.decay = k++;
    if (p->kind == ATTN_SLA) s.dwc_w = k++, s.dwc_b = k++;
    return s;
}

static void attn_weights(vkg__weights_ctx *wc) {
    const attn_params *p = wc->params;
    attn_dims d = dims_of(p, &wc->in[0]);
    vkg__need_weight(wc, "wq", VKG__INIT_NORMAL, 2, d.Q, d.C);
    vkg__need_weight(wc, "wk", VKG__INIT_NORMAL, 2, d.KVD, d.C);
    vkg__need_weight(wc, "wv", VKG__INIT_NORMAL, 2, d.KVD, d.C);
    vkg__need_weight(wc, "wo", VKG__INIT_NORMAL, 2, d.C, d.Q);
    if (p->bias) {
        vkg__need_weight(wc, "bq", VKG__INIT_ZEROS, 1, d.Q);
        vkg__need_weight(wc, "bk", VKG__INIT_ZEROS, 1, d.KVD);
        vkg__need_weight(wc, "bv", VKG__INIT_ZEROS, 1, d.KVD);
        vkg__need_weight(wc, "bo", VKG__INIT_ZEROS, 1, d.C);
    }
    if (p->qk_norm != QK_NONE) {
        vkg__need_weight(wc, "q_norm.weight", VKG__INIT_ONES, 1, p->qk_norm == QK_FULL ? d.Q : d.Dh);
        vkg__need_weight(wc, "k_norm.weight", VKG__INIT_ONES, 1, p->qk_norm == QK_FULL ? d.KVD : d.Dh);
    }
    if (p->canon) vkg__need_conv_weight(wc, vkg__need_weight(wc, "canon.weight", VKG__INIT_NORMAL, 2, d.Q + 2 * d.KVD, (int64_t)4));
    if (p->decay) vkg__need_weight(wc, "decay", VKG__INIT_ZEROS, 1, d.H);
    if (p->kind == ATTN_SLA) {
        int slot = p->has_grid ? vkg__need_weight(wc, "dwc.weight", VKG__INIT_NORMAL, 3, d.Dh, p->dwc_kernel, p->dwc_kernel)
                               : vkg__need_weight(wc, "dwc.weight", VKG__INIT_NORMAL, 2, d.Dh, p->dwc_kernel);
        vkg__need_conv_weight(wc, slot);
        vkg__need_weight(wc, "dwc.bias", VKG__INIT_ZEROS, 1, d.Dh);
    }
}

static void attn_state(vkg__state_ctx *sc) {
    const attn_params *p = sc->params;
    attn_dims d = dims_of(p, &sc->in[0]);
    if (p->kind == ATTN_SOFTMAX) vkg__attn_softmax_state(sc, p, &d);
    else vkg__attn_linear_state(sc, p, &d);
    /* Canon-B window: the last CANON_B_K-1 rows of [q | k | v], always the last slot. */
    if (p->canon) vkg__need_state(sc, (uint64_t)((CANON_B_K - 1) * (d.Q + 2 * d.KVD)));
}

// >>Canon-B (OPS.md 8 site B): [q | k | v] as three channel ranges of one conv
/* The window is the node's last state slot (after the core's), absent outside a session. */
static float *canon_b_window(const vkg__ref_ctx *rc) {
    int k = VKG__MAX_NODE_STATES;
    while (k > 0 && !rc->state[k - 1]) k--;
    return k > 0 ? rc->state[k - 1] : NULL;
}

/* q, k, v <- Canon(pq, pk, pv); the inputs are the post-QK-norm projections. */
static void canon_b_ref(vkg__ref_ctx *rc, const float *W, const attn_dims *d, const float *pq, const float *pk, const float *pv,
                        float *q, float *k, float *v) {
    int64_t T = d->T, Q = d->Q, KVD = d->KVD, K = CANON_B_K;
    size_t ws = (size_t)(Q + 2 * KVD);
    float *win = canon_b_window(rc);
    vkg__ref_canon(q, (size_t)Q, pq, (size_t)Q, W, NULL, T, Q, K, true, win, ws);
    vkg__ref_canon(k, (size_t)KVD, pk, (size_t)KVD, W + Q * K, NULL, T, KVD, K, true, win ? win + Q : NULL, ws);
    vkg__ref_canon(v, (size_t)KVD, pv, (size_t)KVD, W + (Q + KVD) * K, NULL, T, KVD, K, true, win ? win + Q + KVD : NULL, ws);
}

static vkg_result canon_b_lower(vkg__lower_ctx *lc, vkg__bufref W, const attn_dims *d, const vkg__bufref pre[3], const vkg__bufref post[3]) {
    vkg__bufref win = {0};
    for (int k = VKG__MAX_NODE_STATES; k > 0 && win.kind == VKG__BUF_NONE; k--) win = lc->state[k - 1];
    uint32_t C[3] = {(uint32_t)d->Q, (uint32_t)d->KVD, (uint32_t)d->KVD};
    uint64_t c0 = 0;
    for (int i = 0; i < 3; i++) {
        vkg__canon_desc cd = {.x = pre[i], .y = post[i], .w = vkg__bufref_sub(W, c0 * CANON_B_K * 4, (uint64_t)C[i] * CANON_B_K * 4),
                              .T = (uint32_t)d->T, .C = C[i], .K = CANON_B_K, .win_stride = (uint32_t)(d->Q + 2 * d->KVD),
                              .residual = true};
        if (win.kind != VKG__BUF_NONE) cd.win = vkg__bufref_sub(win, c0 * 4, 0);
        vkg_result r = vkg__emit_canon(lc, &cd);
        if (r) return r;
        c0 += C[i];
    }
    return VKG_OK;
}

// >>forward, C reference
static vkg_result attn_ref(vkg__ref_ctx *rc) {
    const attn_params *p = rc->params;
    attn_slots s = vkg__attn_slots(p);
    attn_dims d = dims_of(p, &rc->in_shape[0]);
    int64_t T = d.T, C = d.C, Q = d.Q, KVD = d.KVD;
    size_t n_buf = (size_t)(T * (2 * Q + 2 * KVD)) + (p->canon ? (size_t)(T * (Q + 2 * KVD)) : 0);
    float *buf = vkg__malloc(rc->ctx, sizeof(float) * n_buf);
    if (!buf) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in attention");
    float *q = buf, *k = q + T * Q, *v = k + T * KVD, *o = v + T * KVD;
    /* With Canon-B the projections go to pq, pk, pv and the conv writes q, k, v. */
    float *pq = q, *pk = k, *pv = v;
    if (p->canon) pq = o + T * Q, pk = pq + T * Q, pv = pk + T * KVD;
    const float *x = rc->in[0];
    const float *const *w = rc->w;
    vkg__ref_linear(pq, (size_t)Q, x, (size_t)C, w[s.wq], p->bias ? w[s.bq] : NULL, T, Q, C);
    vkg__ref_linear(pk, (size_t)KVD, x, (size_t)C, w[s.wk], p->bias ? w[s.bk] : NULL, T, KVD, C);
    vkg__ref_linear(pv, (size_t)KVD, x, (size_t)C, w[s.wv], p->bias ? w[s.bv] : NULL, T, KVD, C);
    if (p->qk_norm == QK_FULL) {
        vkg__ref_rmsnorm(pq, pq, w[s.qn], T, Q, p->qk_eps);
        vkg__ref_rmsnorm(pk, pk, w[s.kn], T, KVD, p->qk_eps);
    } else if (p->qk_norm == QK_HEAD) {
        vkg__ref_rmsnorm(pq, pq, w[s.qn], T * p->H, d.Dh, p->qk_eps);
        vkg__ref_rmsnorm(pk, pk, w[s.kn], T * p->KV, d.Dh, p->qk_eps);
    }
    if (p->canon) canon_b_ref(rc, w[s.canon], &d, pq, pk, pv, q, k, v);   /* after QK-norm, before RoPE */
    if (p->rope) {
        int64_t R = p->rope_dims ? p->rope_dims : d.Dh;
        vkg__ref_rope(q, (size_t)Q, T, p->H, d.Dh, R, (float)p->theta, p->style, rc->pos0);
        vkg__ref_rope(k, (size_t)KVD, T, p->KV, d.Dh, R, (float)p->theta, p->style, rc->pos0);
    }
    vkg_result r = p->kind == ATTN_SOFTMAX ? vkg__attn_softmax_ref(rc, p, &d, q, k, v, o) : vkg__attn_linear_ref(rc, p, &d, q, k, v, o);
    if (r == VKG_OK) vkg__ref_linear(rc->out, (size_t)C, o, (size_t)Q, w[s.wo], p->bias ? w[s.bo] : NULL, T, C, Q);
    vkg__free(rc->ctx, buf);
    return r;
}

// >>forward, Vulkan
static vkg_result lower_qk_norm(vkg__lower_ctx *lc, const attn_params *p, vkg__bufref x, vkg__bufref w, uint32_t T, uint32_t heads,
                                uint32_t Dh) {
    bool full = p->qk_norm == QK_FULL;
    vkg__norm_desc d = {.x = x, .y = x, .w = w, .rows = full ? T : T * heads, .C = full ? heads * Dh : Dh,
                        .eps = (float)p->qk_eps, .kind = VKG__NORM_RMS};
    return vkg__emit_norm(lc, &d);
}

static vkg_result attn_lower(vkg__lower_ctx *lc) {
    const attn_params *p = lc->params;
    attn_slots s = vkg__attn_slots(p);
    attn_dims d = dims_of(p, &lc->in_shape[0]);
    uint32_t T = (uint32_t)d.T, C = (uint32_t)d.C, Dh = (uint32_t)d.Dh, H = (uint32_t)d.H, KV = (uint32_t)d.KV;
    uint32_t Q = (uint32_t)d.Q, KVD = (uint32_t)d.KVD;
    vkg__bufref none = {0};
    vkg__bufref q = vkg__lower_temp(lc, (uint64_t)T * Q * 4), o = vkg__lower_temp(lc, (uint64_t)T * Q * 4), k, v;
    if (vkg__attn_kv_in_cache(p)) {
        /* Keys and values go straight into the cache rows of this call. */
        uint64_t row = (uint64_t)KVD * 4, pos0 = (uint64_t)lc->pos0;
        k = vkg__bufref_sub(lc->state[0], pos0 * row, T * row);
        v = vkg__bufref_sub(lc->state[1], pos0 * row, T * row);
    } else {
        k = vkg__lower_temp(lc, (uint64_t)T * KVD * 4);
        v = vkg__lower_temp(lc, (uint64_t)T * KVD * 4);
    }
    /* With Canon-B the projections go to temps pre[] and the conv (never in place) writes q, k, v. */
    vkg__bufref post[3] = {q, k, v}, pre[3] = {q, k, v};
    if (p->canon)
        for (int i = 0; i < 3; i++) pre[i] = vkg__lower_temp(lc, (uint64_t)T * (i ? KVD : Q) * 4);
    vkg__matmul_desc mq = {.x = lc->in[0], .w = lc->w[s.wq], .bias = p->bias ? lc->w[s.bq] : none, .y = pre[0], .M = T, .N = Q, .K = C};
    vkg__matmul_desc mk = {.x = lc->in[0], .w = lc->w[s.wk], .bias = p->bias ? lc->w[s.bk] : none, .y = pre[1], .M = T, .N = KVD, .K = C};
    vkg__matmul_desc mv = {.x = lc->in[0], .w = lc->w[s.wv], .bias = p->bias ? lc->w[s.bv] : none, .y = pre[2], .M = T, .N = KVD, .K = C};
    vkg_result r;
    if ((r = vkg__emit_matmul(lc, &mq)) || (r = vkg__emit_matmul(lc, &mk)) || (r = vkg__emit_matmul(lc, &mv))) return r;
    if (p->qk_norm != QK_NONE &&
        ((r = lower_qk_norm(lc, p, pre[0], lc->w[s.qn], T, H, Dh)) || (r = lower_qk_norm(lc, p, pre[1], lc->w[s.kn], T, KV, Dh))))
        return r;
    if (p->canon && (r = canon_b_lower(lc, lc->w[s.canon], &d, pre, post))) return r;   /* after QK-norm, before RoPE */
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
    r = p->kind == ATTN_SOFTMAX ? vkg__attn_softmax_lower(lc, p, &d, q, k, v, o) : vkg__attn_linear_lower(lc, p, &d, q, k, v, o);
    if (r) return r;
    vkg__matmul_desc mo = {.x = o, .w = lc->w[s.wo], .bias = p->bias ? lc->w[s.bo] : none, .y = lc->out, .res = lc->residual,
                           .M = T, .N = C, .K = Q};
    return vkg__emit_matmul(lc, &mo);
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
    .fuse_residual = true,
};

// >>hylra
vkg_result vkg__hylra_check(vkg_graph *g) {
    const vkg_hylra_desc *h = &g->hylra;
    int n_softmax = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n_softmax += g->nodes[i].op == VKG_OP_attention && ((const attn_params *)g->nodes[i].params)->kind == ATTN_SOFTMAX;
    if (h->n_policy != n_softmax)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, h->loc, "hylra: policy has %d entries but the graph has %d softmax attention layers",
                             h->n_policy, n_softmax);
    if (n_softmax > 0 && !h->policy_full[0])
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, h->policy_locs[0], "hylra: the first policy entry must be full");
    const attn_params *full = NULL;
    for (int i = 0, a = 0; i < g->n_nodes; i++) {
        const attn_params *p = g->nodes[i].params;
        if (g->nodes[i].op != VKG_OP_attention || p->kind != ATTN_SOFTMAX) continue;
        if (h->policy_full[a]) full = p;
        else if (full && (p->H != full->H || p->KV != full->KV || p->causal != full->causal))
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, h->policy_locs[a],
                                 "hylra: reuse layer %d must have the heads, kv_heads and causal of the full layer it reuses", a);
        a++;
    }
    return VKG_OK;
}
