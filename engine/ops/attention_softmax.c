/*
 * attention_softmax.c — the core of softmax attention (OPS.md 10) and of
 * HyLRA (OPS.md 11): causal layers keep a KV cache (token-major rows
 * [pos][kv_head * Dh], post-RoPE keys) and attend over every position so far;
 * non-causal layers attend over the rows of this call. GQA maps head h to KV
 * head h / (H / KV).
 *
 * HyLRA: a `full` layer that feeds a `reuse` layer (or every full layer when
 * the graph's hylra.record is set) also writes its index sets to a state
 * buffer of its own: int32 bit patterns in the f32 buffer, row p (the query's
 * absolute position; row t for non-causal layers) of [KV, top_k], ascending,
 * -1 after K = min(top_k, visible keys). A `reuse` layer reads the sets of
 * the nearest preceding full layer for the same rows and attends over them
 * only. With decode_only both happen on calls with T = 1 only.
 */
#include "attention.h"
#include "model.h"

#include <math.h>
#include <string.h>

// >>HyLRA plumbing: layers, policy, state slots
static bool is_softmax(const vkg__node *n) {
    return n->op == VKG_OP_attention && ((const attn_params *)n->params)->kind == ATTN_SOFTMAX;
}

/* Softmax layer index (policy entry) of node `node`, -1 when it is not one. */
static int layer_of(const vkg_graph *g, int node) {
    if (!is_softmax(&g->nodes[node])) return -1;
    int a = 0;
    for (int i = 0; i < node; i++) a += is_softmax(&g->nodes[i]);
    return a;
}

int vkg__hylra_layer_node(const vkg_graph *g, int layer) {
    for (int i = 0, a = 0; i < g->n_nodes; i++)
        if (is_softmax(&g->nodes[i]) && a++ == layer) return i;
    return -1;
}

/* Index of a node in g (robust to the model's folded copies of the nodes). */
static int node_index(const vkg_graph *g, const vkg__node *node) { return g->tensors[node->out].producer; }

static bool is_reuse(const vkg_graph *g, int a) { return g->has_hylra && a >= 0 && a < g->hylra.n_policy && !g->hylra.policy_full[a]; }

/* A full layer keeps index sets when a reuse layer follows it (or when recording). */
static bool keeps_sets(const vkg_graph *g, int a) {
    if (!g->has_hylra || a < 0 || a >= g->hylra.n_policy || !g->hylra.policy_full[a]) return false;
    return g->hylra.record || is_reuse(g, a + 1);
}

int vkg__hylra_index_slot(const vkg_graph *g, int node) {
    if (!keeps_sets(g, layer_of(g, node))) return -1;
    return vkg__attn_kv_in_cache(g->nodes[node].params) ? 2 : 0;
}

/* The full layer a reuse layer reads from: the nearest preceding one. */
static int source_node(const vkg_graph *g, int node) {
    for (int i = node - 1; i >= 0; i--)
        if (is_softmax(&g->nodes[i]) && !is_reuse(g, layer_of(g, i))) return i;
    return -1;
}

static bool applies(const vkg_graph *g, int64_t T) { return !g->hylra.decode_only || T == 1; }

/* Row of the index buffer for query row 0 of this call. */
static int64_t index_row0(const attn_params *p, int64_t pos0) { return p->causal ? pos0 : 0; }

void vkg__attn_softmax_state(vkg__state_ctx *sc, const attn_params *p, const attn_dims *d) {
    if (vkg__attn_kv_in_cache(p)) {
        vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * d->KVD));
        vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * d->KVD));
    }
    if (keeps_sets(sc->g, layer_of(sc->g, node_index(sc->g, sc->node))))
        vkg__need_state_cache(sc, (uint64_t)(sc->max_tokens * d->KV * sc->g->hylra.top_k));
}

static vkg_result check_rows(vkg_context *ctx, const attn_params *p, int64_t pos0, int64_t T, int64_t max_tokens) {
    if (index_row0(p, pos0) + T <= max_tokens) return VKG_OK;
    return vkg__error(ctx, VKG_ERR_INPUT, "hylra: %lld rows exceed the session's max_tokens %lld (index sets of a non-causal layer)",
                      (long long)T, (long long)max_tokens);
}

// >>HyLRA C reference
/* The K largest of score[0..n) (bit patterns of non-negative f32), ties to the
 * smaller j, ascending into out[0..K): the K-th largest pattern by a bitwise
 * search, then one ascending pass. */
void vkg__hylra_topk_ref(const float *score, int64_t n, int64_t K, int32_t *out) {
    uint32_t thr = 0;
    for (int b = 30; b >= 0; b--) {
        uint32_t cand = thr | (1u << b), bits;
        int64_t c = 0;
        for (int64_t j = 0; j < n; j++) memcpy(&bits, &score[j], 4), c += bits >= cand;
        if (c >= K) thr = cand;
    }
    int64_t need = K, kept = 0;
    for (int64_t j = 0; j < n; j++) {
        uint32_t bits;
        memcpy(&bits, &score[j], 4);
        need -= bits > thr;
    }
    for (int64_t j = 0; j < n && kept < K; j++) {
        uint32_t bits;
        memcpy(&bits, &score[j], 4);
        if (bits > thr || (bits == thr && need-- > 0)) out[kept++] = (int32_t)j;
    }
}

/* score[j] = f32 sum over g's heads of the exact softmax probability (double inside). */
static void group_scores(const attn_dims *d, double scale, const float *q, const float *k, int64_t t, int64_t g, int64_t n, double *s,
                         float *score) {
    int64_t rep = d->H / d->KV;
    for (int64_t j = 0; j < n; j++) score[j] = 0.0f;
    for (int64_t h = g * rep; h < (g + 1) * rep; h++) {
        const float *qv = q + (t * d->H + h) * d->Dh;
        double m = -INFINITY, l = 0;
        for (int64_t j = 0; j < n; j++) {
            double dot = 0;
            for (int64_t i = 0; i < d->Dh; i++) dot += (double)qv[i] * k[(j * d->KV + g) * d->Dh + i];
            s[j] = dot * scale;
            m = s[j] > m ? s[j] : m;
        }
        for (int64_t j = 0; j < n; j++) l += exp(s[j] - m);
        for (int64_t j = 0; j < n; j++) score[j] += (float)(exp(s[j] - m) / l);
    }
}

/* Writes the index sets of rows 0..T-1 (Tk keys in k) to idx rows row0.. */
static vkg_result ref_select(vkg_context *ctx, const attn_params *p, const attn_dims *d, int64_t top_k, const float *q, const float *k,
                             int64_t Tk, int64_t pos0, int32_t *idx) {
    double *s = vkg__malloc(ctx, sizeof(double) * (size_t)Tk);
    float *score = vkg__malloc(ctx, sizeof(float) * (size_t)Tk);
    if (!s || !score) {
        vkg__free(ctx, s);
        vkg__free(ctx, score);
        return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in hylra");
    }
    double scale = vkg__attn_scale(p, d->Dh);
    for (int64_t t = 0; t < d->T; t++)
        for (int64_t g = 0; g < d->KV; g++) {
            int64_t n = p->causal ? VKG__MIN(pos0 + t + 1, Tk) : Tk, K = VKG__MIN(top_k, n);
            int32_t *row = idx + ((index_row0(p, pos0) + t) * d->KV + g) * top_k;
            group_scores(d, scale, q, k, t, g, n, s, score);
            vkg__hylra_topk_ref(score, n, K, row);
            for (int64_t i = K; i < top_k; i++) row[i] = -1;
        }
    vkg__free(ctx, s);
    vkg__free(ctx, score);
    return VKG_OK;
}

/* o[t, h] = softmax over the row's set of scale q.k, times v (double inside). */
static vkg_result ref_attend(vkg_context *ctx, const attn_params *p, const attn_dims *d, int64_t top_k, const float *q, const float *k,
                             const float *v, int64_t Tk, int64_t pos0, const int32_t *idx, float *o) {
    double *w = vkg__malloc(ctx, sizeof(double) * (size_t)top_k);
    if (!w) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in hylra");
    double scale = vkg__attn_scale(p, d->Dh);
    int64_t rep = d->H / d->KV;
    for (int64_t t = 0; t < d->T; t++)
        for (int64_t h = 0; h < d->H; h++) {
            int64_t g = h / rep, n = p->causal ? VKG__MIN(pos0 + t + 1, Tk) : Tk, K = VKG__MIN(top_k, n);
            const int32_t *set = idx + ((index_row0(p, pos0) + t) * d->KV + g) * top_k;
            const float *qv = q + (t * d->H + h) * d->Dh;
            double m = -INFINITY, l = 0;
            for (int64_t i = 0; i < K; i++) {
                double dot = 0;
                for (int64_t c = 0; c < d->Dh; c++) dot += (double)qv[c] * k[((int64_t)set[i] * d->KV + g) * d->Dh + c];
                w[i] = dot * scale;
                m = w[i] > m ? w[i] : m;
            }
            for (int64_t i = 0; i < K; i++) l += (w[i] = exp(w[i] - m));
            for (int64_t c = 0; c < d->Dh; c++) {
                double acc = 0;
                for (int64_t i = 0; i < K; i++) acc += w[i] * v[((int64_t)set[i] * d->KV + g) * d->Dh + c];
                o[(t * d->H + h) * d->Dh + c] = K > 0 ? (float)(acc / l) : 0.0f;
            }
        }
    vkg__free(ctx, w);
    return VKG_OK;
}

// >>forward, C reference
vkg_result vkg__attn_softmax_ref(vkg__ref_ctx *rc, const attn_params *p, const attn_dims *d, const float *q, const float *k,
                                 const float *v, float *o) {
    int64_t T = d->T, Tk = T;
    if (vkg__attn_kv_in_cache(p)) {
        /* Append this call's keys and values to the cache; attend over all of it. */
        memcpy(rc->state[0] + rc->pos0 * d->KVD, k, sizeof(float) * (size_t)(T * d->KVD));
        memcpy(rc->state[1] + rc->pos0 * d->KVD, v, sizeof(float) * (size_t)(T * d->KVD));
        k = rc->state[0], v = rc->state[1], Tk = rc->pos0 + T;
    }
    const vkg_graph *g = rc->session ? rc->session->m->graph : NULL;
    int node = g ? node_index(g, rc->node) : -1, a = g ? layer_of(g, node) : -1;
    int64_t pos0 = p->causal ? rc->pos0 : 0;
    bool reuse = g && is_reuse(g, a) && applies(g, T), sets = g && keeps_sets(g, a) && applies(g, T);
    vkg_result r;
    if ((reuse || sets) && (r = check_rows(rc->ctx, p, pos0, T, rc->max_tokens))) return r;
    if (reuse) {
        int src = source_node(g, node);
        const int32_t *idx = (const int32_t *)vkg__ref_state_of(rc, src, vkg__hylra_index_slot(g, src));
        return ref_attend(rc->ctx, p, d, g->hylra.top_k, q, k, v, Tk, pos0, idx, o);
    }
    double *scores = vkg__malloc(rc->ctx, sizeof(double) * (size_t)Tk);
    if (!scores) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in attention");
    vkg__ref_attention(o, q, k, v, T, Tk, p->H, p->KV, d->Dh, vkg__attn_scale(p, d->Dh), p->causal, pos0, scores);
    vkg__free(rc->ctx, scores);
    if (!sets) return VKG_OK;
    int32_t *idx = (int32_t *)rc->state[vkg__hylra_index_slot(g, node)];
    return ref_select(rc->ctx, p, d, g->hylra.top_k, q, k, Tk, pos0, idx);
}

// >>forward, Vulkan
vkg_result vkg__attn_softmax_lower(vkg__lower_ctx *lc, const attn_params *p, const attn_dims *d, vkg__bufref q, vkg__bufref k,
                                   vkg__bufref v, vkg__bufref o) {
    uint32_t T = (uint32_t)d->T, Tk = T, pos0 = 0;
    if (vkg__attn_kv_in_cache(p)) {
        pos0 = (uint32_t)lc->pos0;
        Tk = pos0 + T;
        k = vkg__bufref_sub(lc->state[0], 0, (uint64_t)Tk * (uint64_t)d->KVD * 4);
        v = vkg__bufref_sub(lc->state[1], 0, (uint64_t)Tk * (uint64_t)d->KVD * 4);
    }
    const vkg_graph *g = lc->g;
    int node = lc->node_index, a = g ? layer_of(g, node) : -1;
    bool reuse = g && is_reuse(g, a) && applies(g, T), sets = g && keeps_sets(g, a) && applies(g, T);
    vkg_result r;
    if ((reuse || sets) && (r = check_rows(lc->ctx, p, pos0, T, lc->max_tokens))) return r;
    vkg__hylra_desc hd = {.q = q, .k = k, .v = v, .o = o, .Tq = T, .Tk = Tk, .H = (uint32_t)d->H, .KV = (uint32_t)d->KV,
                          .Dh = (uint32_t)d->Dh, .pos0 = pos0, .top_k = g && g->has_hylra ? (uint32_t)g->hylra.top_k : 0,
                          .i_row0 = pos0, .scale = (float)vkg__attn_scale(p, d->Dh), .causal = p->causal};
    if (reuse) {
        int src = source_node(g, node);
        hd.idx = vkg__lower_state_of(lc, src, vkg__hylra_index_slot(g, src));
        return vkg__emit_hylra_attend(lc, &hd);
    }
    if (sets) {
        hd.idx = lc->state[vkg__hylra_index_slot(g, node)];
        return vkg__emit_hylra_full(lc, &hd);
    }
    vkg__attn_desc ad = {.q = q, .k = k, .v = v, .o = o, .Tq = T, .Tk = Tk, .H = (uint32_t)d->H, .KV = (uint32_t)d->KV,
                         .Dh = (uint32_t)d->Dh, .pos0 = pos0, .scale = hd.scale, .causal = p->causal};
    return vkg__emit_attention(lc, &ad);
}
