/*
 * fold.c — compile pass 3 (ARCHITECTURE.md): folding of inference-time
 * normalisations into linear maps, OPS.md 6.
 *
 * The model keeps its own copy of the graph's nodes (model.h); this pass
 * edits only that copy and the model's weights, never the graph:
 * - vkg__fold_prepare gives every batch/repbn/prepbn norm its per-channel
 *   affine coefficients a, b (computed in double by norm.c, rounded once),
 *   as two model-owned slots after its declared weights; its lowering reads them.
 * - vkg__fold_run (skipped with vkg_model_desc.no_fold) removes a norm whose
 *   whole map is y = a x + b (batch, repbn, prepbn with lambda 0):
 *   backwards into a `linear` that produces its input and feeds nothing else
 *   (W' = diag(a) W, c' = a c + b), else forwards when every reader is a
 *   linear map of it: `linear`; attention q, k, v (kinds softmax and linear,
 *   no Canon-B); mlp gate and up (no Canon-D); a mean `pool` whose readers
 *   are all `linear` (W' = W diag(a), c' = c + W b). A `canon` node, a
 *   graph output or anything else reading the norm keeps it (run as the
 *   affine kernel). A reader gains a bias, and a tied `linear` its own weight,
 *   by re-parsing its arguments with `bias: true` (and without `tie`) through
 *   the op registry; the folded weights are model-owned (a weight another
 *   node reads is copied first). Algebra in double, one rounding to f32.
 *   The skipped norm's readers read its input.
 * Calls: the op registry, the model's weights (weights.c), no backend.
 */
#include "vkg_impl.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

// >>model-owned weights and nodes
static bool grow_weights(vkg_model *m, int need) {
    if (need <= m->cap_w) return true;
    int cap = m->cap_w * 2 > need ? m->cap_w * 2 : need + 16;
    float **host = vkg__calloc(m->ctx, (size_t)cap, sizeof(float *));
    uint64_t *offs = vkg__calloc(m->ctx, (size_t)cap, sizeof(uint64_t));
    int64_t *numel = vkg__calloc(m->ctx, (size_t)cap, sizeof(int64_t));
    const char **keys = vkg__calloc(m->ctx, (size_t)cap, sizeof(const char *));
    if (!host || !offs || !numel || !keys) {
        vkg__free(m->ctx, host), vkg__free(m->ctx, offs), vkg__free(m->ctx, numel), vkg__free(m->ctx, keys);
        return false;
    }
    memcpy(host, m->host, sizeof(float *) * (size_t)m->n_w);
    memcpy(numel, m->w_numel, sizeof(int64_t) * (size_t)m->n_w);
    memcpy(keys, m->w_key, sizeof(const char *) * (size_t)m->n_w);
    vkg__free(m->ctx, m->host), vkg__free(m->ctx, m->offsets), vkg__free(m->ctx, m->w_numel), vkg__free(m->ctx, m->w_key);
    m->host = host, m->offsets = offs, m->w_numel = numel, m->w_key = keys;
    m->cap_w = cap;
    return true;
}

int vkg__model_add_weight(vkg_model *m, const char *key, int64_t numel) {
    if (!grow_weights(m, m->n_w + 1)) return -1;
    float *p = vkg__calloc(m->ctx, (size_t)(numel > 0 ? numel : 1), sizeof(float));
    const char *k = vkg__arena_strdup(&m->arena, key);
    if (!p || !k) {
        vkg__free(m->ctx, p);
        return -1;
    }
    m->host[m->n_w] = p;
    m->w_numel[m->n_w] = numel;
    m->w_key[m->n_w] = k;
    return m->n_w++;
}

static int count_readers_of_weight(const vkg_model *m, int w) {
    int n = 0;
    for (int i = 0; i < m->graph->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_weights && !m->skip[i]; k++) n += m->nodes[i].weights[k] == w;
    return n;
}

bool vkg__model_weight_used(const vkg_model *m, int w) { return count_readers_of_weight(m, w) > 0; }

static vkg_result oom(vkg_model *m) { return vkg__error(m->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory folding the model"); }

/* Makes slot k of node n a weight only this slot reads (copying it when shared, e.g. tied). */
static vkg_result make_private(vkg_model *m, int n, int k) {
    int w = m->nodes[n].weights[k];
    if (count_readers_of_weight(m, w) <= 1) return VKG_OK;
    int c = vkg__model_add_weight(m, m->w_key[w], m->w_numel[w]);
    if (c < 0) return oom(m);
    memcpy(m->host[c], m->host[w], sizeof(float) * (size_t)m->w_numel[w]);
    m->nodes[n].weights[k] = c;
    return VKG_OK;
}

// >>affine coefficients of every batch/repbn/prepbn norm
/* 0, 1 or 2 as vkg__norm_affine; *ab (a then b, C each) allocated when not 0. */
static int affine_of(vkg_model *m, int n, double **ab, int64_t *C, vkg_result *r) {
    *ab = NULL;
    if (m->nodes[n].op != VKG_OP_norm) return 0;
    *C = m->graph->tensors[m->nodes[n].in[0]].shape.ne[1];
    if (!(*ab = vkg__malloc(m->ctx, sizeof(double) * 2 * (size_t)*C))) {
        *r = oom(m);
        return 0;
    }
    const float *w[VKG__MAX_NODE_WEIGHTS];
    for (int k = 0; k < m->nodes[n].n_weights; k++) w[k] = m->host[m->nodes[n].weights[k]];
    int kind = vkg__norm_affine(&m->nodes[n], w, *C, *ab, *ab + *C);
    if (kind == 0) vkg__free(m->ctx, *ab), *ab = NULL;
    return kind;
}

static vkg_result add_coeff_slots(vkg_model *m, int n, const double *ab, int64_t C) {
    vkg__node *node = &m->nodes[n];
    VKG_ASSERT(node->n_weights == vkg__norm_declared_weights(node) && node->n_weights + 2 <= VKG__MAX_NODE_WEIGHTS);
    for (int part = 0; part < 2; part++) {
        char key[512];
        snprintf(key, sizeof key, "%s.(affine %s)", node->prefix, part ? "b" : "a");
        int w = vkg__model_add_weight(m, key, C);
        if (w < 0) return oom(m);
        for (int64_t c = 0; c < C; c++) m->host[w][c] = (float)ab[part * C + c];
        node->weights[node->n_weights++] = w;
    }
    return VKG_OK;
}

vkg_result vkg__fold_prepare(vkg_model *m) {
    const vkg_graph *g = m->graph;
    m->arena.ctx = m->ctx;
    m->nodes = vkg__malloc(m->ctx, sizeof(vkg__node) * ((size_t)g->n_nodes + 1));
    m->skip = vkg__calloc(m->ctx, (size_t)g->n_nodes + 1, sizeof(bool));
    if (!m->nodes || !m->skip) return oom(m);
    memcpy(m->nodes, g->nodes, sizeof(vkg__node) * (size_t)g->n_nodes);
    vkg_result r = VKG_OK;
    for (int n = 0; n < g->n_nodes && r == VKG_OK; n++) {
        double *ab;
        int64_t C;
        if (affine_of(m, n, &ab, &C, &r)) r = add_coeff_slots(m, n, ab, C);
        vkg__free(m->ctx, ab);
    }
    return r;
}

// >>who reads what
static bool is_output(const vkg_model *m, int t) {
    for (int i = 0; i < m->graph->n_outputs; i++)
        if (m->graph->outputs[i] == t) return true;
    return false;
}

/* Nodes still run that read tensor t (any input); up to cap, returns the count. */
static int readers_of(const vkg_model *m, int t, int *out, int cap) {
    int n = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) {
        if (m->skip[i]) continue;
        bool reads = false;
        for (int k = 0; k < m->nodes[i].n_in; k++) reads = reads || m->nodes[i].in[k] == t;
        if (reads && n < cap) out[n] = i;
        n += reads;
    }
    return n;
}

static const char *arg_string(const vkg__node *node, const char *key) {
    const vkg_value *v = vkg__map_get(node->args, key, NULL);
    return v && v->kind == VKG_VALUE_STRING ? v->s : NULL;
}

static bool arg_true(const vkg__node *node, const char *key) {
    const vkg_value *v = vkg__map_get(node->args, key, NULL);
    return v && v->kind == VKG_VALUE_BOOL && v->b;
}

/* A single-input node that is a linear map of its input's channels. */
static bool is_linear_map(const vkg_model *m, int n) {
    const vkg__node *node = &m->nodes[n];
    if (node->n_in != 1) return false;
    if (node->op == VKG_OP_linear) return true;
    if (node->op == VKG_OP_mlp) return !arg_true(node, "canon");
    if (node->op == VKG_OP_attention) {
        const char *kind = arg_string(node, "kind");
        return kind && (strcmp(kind, "softmax") == 0 || strcmp(kind, "linear") == 0) && !arg_true(node, "canon");
    }
    return false;
}

#define MAX_TARGETS 64

typedef struct fold_plan {
    int targets[MAX_TARGETS];       /* nodes whose weights absorb the norm */
    int n_targets;
    int pools[MAX_TARGETS];         /* mean pools in between: they read the norm's input instead */
    int n_pools;
} fold_plan;

static bool plan_pool(const vkg_model *m, int pool, fold_plan *fp) {
    const char *kind = arg_string(&m->nodes[pool], "kind");
    if (!kind || strcmp(kind, "mean") != 0 || is_output(m, m->nodes[pool].out) || fp->n_pools == MAX_TARGETS) return false;
    int rd[MAX_TARGETS];
    int nr = readers_of(m, m->nodes[pool].out, rd, MAX_TARGETS);
    if (nr == 0 || nr > MAX_TARGETS || fp->n_targets + nr > MAX_TARGETS) return false;
    for (int i = 0; i < nr; i++)
        if (m->nodes[rd[i]].op != VKG_OP_linear || m->nodes[rd[i]].n_in != 1) return false;
    for (int i = 0; i < nr; i++) fp->targets[fp->n_targets++] = rd[i];
    fp->pools[fp->n_pools++] = pool;
    return true;
}

/* Forward folding is allowed when every reader of the norm's output is a linear map of it. */
static bool plan_forward(const vkg_model *m, int norm, fold_plan *fp) {
    memset(fp, 0, sizeof *fp);
    int rd[MAX_TARGETS];
    int nr = readers_of(m, m->nodes[norm].out, rd, MAX_TARGETS);
    if (nr == 0 || nr > MAX_TARGETS) return false;
    for (int i = 0; i < nr; i++) {
        if (is_linear_map(m, rd[i])) fp->targets[fp->n_targets++] = rd[i];
        else if (!(m->nodes[rd[i]].op == VKG_OP_pool && plan_pool(m, rd[i], fp))) return false;
    }
    return true;
}

/* The `linear` producing the norm's input, when nothing else reads its output. */
static int backward_target(const vkg_model *m, int norm) {
    int t = m->nodes[norm].in[0];
    int p = m->graph->tensors[t].producer;
    if (p < 0 || m->skip[p] || m->nodes[p].op != VKG_OP_linear || is_output(m, t)) return -1;
    int rd[2];
    return readers_of(m, t, rd, 2) == 1 ? p : -1;
}

// >>re-parsing a reader with a bias (and without its tie)
static vkg_result reparse(vkg_model *m, int n) {
    vkg__node *node = &m->nodes[n];
    const vkg_value *old = node->args;
    int n_old = old && old->kind == VKG_VALUE_MAP ? old->n : 0;
    vkg_value *args = vkg__arena_alloc(&m->arena, sizeof(vkg_value));
    vkg_value *items = vkg__arena_alloc(&m->arena, sizeof(vkg_value) * (size_t)(n_old + 1));
    const char **keys = vkg__arena_alloc(&m->arena, sizeof(char *) * (size_t)(n_old + 1));
    vkg_loc *locs = vkg__arena_alloc(&m->arena, sizeof(vkg_loc) * (size_t)(n_old + 1));
    void *params = vkg__arena_alloc(&m->arena, vkg__ops[node->op]->params_size ? vkg__ops[node->op]->params_size : 1);
    if (!args || !items || !keys || !locs || !params) return oom(m);
    *args = (vkg_value){.kind = VKG_VALUE_MAP, .loc = old ? old->loc : node->loc, .items = items, .keys = keys, .key_locs = locs};
    for (int i = 0; i < n_old; i++) {
        if (strcmp(old->keys[i], "bias") == 0 || strcmp(old->keys[i], "tie") == 0) continue;
        items[args->n] = old->items[i], keys[args->n] = old->keys[i], locs[args->n] = old->key_locs ? old->key_locs[i] : old->loc;
        args->n++;
    }
    items[args->n] = (vkg_value){.kind = VKG_VALUE_BOOL, .b = true, .loc = args->loc};
    keys[args->n] = "bias", locs[args->n] = args->loc;
    args->n++;
    vkg__node copy = *node;
    copy.args = args;
    vkg__parse_ctx pc = {.g = m->graph, .node = &copy, .args = args, .params = params};
    vkg_result r = vkg__ops[node->op]->parse(&pc);
    if (r) return r;
    copy.params = params;
    vkg__weights_ctx wc = {.g = m->graph, .node = &copy, .params = params, .out = m->graph->tensors[node->out].shape};
    wc.in[0] = m->graph->tensors[node->in[0]].shape;
    vkg__ops[node->op]->weights(&wc);
    /* New slots take the old weight of the same key; a tied weight becomes a
     * copy named PREFIX.weight; new biases start at 0. */
    const char *tie = node->op == VKG_OP_linear ? arg_string(node, "tie") : NULL;
    copy.n_weights = wc.n;
    for (int k = 0; k < wc.n; k++) {
        int found = -1;
        for (int j = 0; j < node->n_weights && found < 0; j++)
            if (strcmp(m->w_key[node->weights[j]], wc.keys[k]) == 0) found = node->weights[j];
        if (found < 0 && (found = vkg__model_add_weight(m, wc.keys[k], vkg__shape_numel(&wc.shapes[k]))) < 0) return oom(m);
        if (tie && k == 0) {
            VKG_ASSERT(m->w_numel[found] == m->w_numel[node->weights[0]]);
            memcpy(m->host[found], m->host[node->weights[0]], sizeof(float) * (size_t)m->w_numel[found]);
        }
        copy.weights[k] = found;
    }
    *node = copy;
    return VKG_OK;
}

static int slot_of(const vkg_model *m, int n, const char *suffix) {
    const vkg__node *node = &m->nodes[n];
    size_t lp = strlen(node->prefix);
    for (int k = 0; k < node->n_weights; k++) {
        const char *key = m->w_key[node->weights[k]];
        if (strncmp(key, node->prefix, lp) == 0 && key[lp] == '.' && strcmp(key + lp + 1, suffix) == 0) return k;
    }
    return -1;
}

// >>the algebra (double, one rounding)
/* Forward: W'[o, i] = W[o, i] a_i, c'_o = c_o + sum_i W[o, i] b_i. */
static vkg_result fold_forward_pair(vkg_model *m, int n, const char *wname, const char *bname, const double *a, const double *b, int64_t C) {
    int ws = slot_of(m, n, wname), bs = slot_of(m, n, bname);
    if (ws < 0 || bs < 0) return vkg__error(m->ctx, VKG_ERR_INVALID_ARG, "fold: %s has no %s/%s", m->nodes[n].prefix, wname, bname);
    vkg_result r;
    if ((r = make_private(m, n, ws)) || (r = make_private(m, n, bs))) return r;
    float *W = m->host[m->nodes[n].weights[ws]], *c = m->host[m->nodes[n].weights[bs]];
    int64_t out = m->w_numel[m->nodes[n].weights[ws]] / C;
    VKG_ASSERT(out * C == m->w_numel[m->nodes[n].weights[ws]] && out == m->w_numel[m->nodes[n].weights[bs]]);
    for (int64_t o = 0; o < out; o++) {
        double s = c[o];
        for (int64_t i = 0; i < C; i++) s += (double)W[o * C + i] * b[i];
        c[o] = (float)s;
        for (int64_t i = 0; i < C; i++) W[o * C + i] = (float)((double)W[o * C + i] * a[i]);
    }
    return VKG_OK;
}

static vkg_result fold_forward(vkg_model *m, int n, const double *a, const double *b, int64_t C) {
    vkg_result r = reparse(m, n);
    if (r) return r;
    switch (m->nodes[n].op) {
    case VKG_OP_linear: return fold_forward_pair(m, n, "weight", "bias", a, b, C);
    case VKG_OP_attention:
        if ((r = fold_forward_pair(m, n, "wq", "bq", a, b, C)) || (r = fold_forward_pair(m, n, "wk", "bk", a, b, C))) return r;
        return fold_forward_pair(m, n, "wv", "bv", a, b, C);
    case VKG_OP_mlp:
        if (slot_of(m, n, "gate") >= 0 && (r = fold_forward_pair(m, n, "gate", "gate_bias", a, b, C))) return r;
        return fold_forward_pair(m, n, "up", "up_bias", a, b, C);
    default: return vkg__error(m->ctx, VKG_ERR_INVALID_ARG, "fold: cannot fold into %s", m->nodes[n].prefix);
    }
}

/* Backward into the producing linear: W' = diag(a) W, c' = a c + b. */
static vkg_result fold_backward(vkg_model *m, int n, const double *a, const double *b, int64_t C) {
    vkg_result r = reparse(m, n);
    int ws = slot_of(m, n, "weight"), bs = slot_of(m, n, "bias");
    if (r == VKG_OK && (ws < 0 || bs < 0)) r = vkg__error(m->ctx, VKG_ERR_INVALID_ARG, "fold: %s has no weight/bias", m->nodes[n].prefix);
    if (r || (r = make_private(m, n, ws)) || (r = make_private(m, n, bs))) return r;
    float *W = m->host[m->nodes[n].weights[ws]], *c = m->host[m->nodes[n].weights[bs]];
    int64_t in = m->w_numel[m->nodes[n].weights[ws]] / C;
    for (int64_t o = 0; o < C; o++) {
        c[o] = (float)(a[o] * c[o] + b[o]);
        for (int64_t i = 0; i < in; i++) W[o * in + i] = (float)(a[o] * W[o * in + i]);
    }
    return VKG_OK;
}

// >>the pass
static vkg_result record(vkg_model *m, int norm, int into) {
    if (m->n_folds == m->cap_folds) {
        int cap = m->cap_folds ? m->cap_folds * 2 : 16;
        const char **a = vkg__calloc(m->ctx, (size_t)cap, sizeof(char *)), **b = vkg__calloc(m->ctx, (size_t)cap, sizeof(char *));
        if (!a || !b) return vkg__free(m->ctx, a), vkg__free(m->ctx, b), oom(m);
        if (m->n_folds) memcpy(a, m->fold_norm, sizeof(char *) * (size_t)m->n_folds), memcpy(b, m->fold_into, sizeof(char *) * (size_t)m->n_folds);
        vkg__free(m->ctx, m->fold_norm), vkg__free(m->ctx, m->fold_into);
        m->fold_norm = a, m->fold_into = b, m->cap_folds = cap;
    }
    m->fold_norm[m->n_folds] = m->nodes[norm].prefix;
    m->fold_into[m->n_folds++] = m->nodes[into].prefix;
    return VKG_OK;
}

/* The norm is gone: whatever read its output (or a pool's input) reads its input. */
static void bypass(vkg_model *m, int norm) {
    int from = m->nodes[norm].out, to = m->nodes[norm].in[0];
    m->skip[norm] = true;
    for (int i = 0; i < m->graph->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == from) m->nodes[i].in[k] = to;
}

static vkg_result fold_norm(vkg_model *m, int n, const double *a, const double *b, int64_t C) {
    vkg_result r = VKG_OK;
    int p = backward_target(m, n);
    fold_plan fp;
    if (p >= 0) {
        if ((r = fold_backward(m, p, a, b, C)) || (r = record(m, n, p))) return r;
    } else if (plan_forward(m, n, &fp)) {
        for (int i = 0; i < fp.n_targets && r == VKG_OK; i++)
            if ((r = fold_forward(m, fp.targets[i], a, b, C)) == VKG_OK) r = record(m, n, fp.targets[i]);
        if (r) return r;
    } else {
        return VKG_OK;
    }
    bypass(m, n);
    return VKG_OK;
}

vkg_result vkg__fold_run(vkg_model *m) {
    vkg_result r = VKG_OK;
    for (int n = 0; n < m->graph->n_nodes && r == VKG_OK; n++) {
        double *ab;
        int64_t C;
        if (affine_of(m, n, &ab, &C, &r) == 1 && !is_output(m, m->nodes[n].out)) r = fold_norm(m, n, ab, ab + C, C);
        vkg__free(m->ctx, ab);
    }
    return r;
}

// >>public: what was folded
int vkg_model_fold_count(const vkg_model *m) { return m ? m->n_folds : 0; }

vkg_result vkg_model_fold_info(const vkg_model *m, int i, const char **norm, const char **into) {
    if (!m || i < 0 || i >= m->n_folds) return VKG_ERR_INVALID_ARG;
    if (norm) *norm = m->fold_norm[i];
    if (into) *into = m->fold_into[i];
    return VKG_OK;
}
