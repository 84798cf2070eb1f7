/*
 * ir.c — the graph (IR): dims, inputs, nodes, tensors, weights, outputs.
 * vkg_graph_add_node parses a node's arguments through the op registry,
 * infers its output shape (run-time symbols kept symbolic) and declares the
 * weights it needs, so every graph error is found while building, with the
 * location of the offending key. Calls value.c and engine/ops only.
 */
#include "vkg_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define GROW(g, arr, n, cap)                                                           \
    ((n) < (cap) ? true : grow_array((g), (void **)&(arr), &(cap), sizeof *(arr)))

static bool grow_array(vkg_graph *g, void **arr, int *cap, size_t elem) {
    int ncap = *cap ? *cap * 2 : 16;
    void *p = vkg__arena_alloc(&g->arena, elem * (size_t)ncap);
    if (!p) return false;
    if (*arr) memcpy(p, *arr, elem * (size_t)*cap);
    *arr = p;
    *cap = ncap;
    return true;
}

/* Locations point at the graph's own copy of the file name, never the caller's. */
static vkg_loc own_loc(vkg_graph *g, vkg_loc loc) {
    if (!loc.file) return loc;
    if (g->file && strcmp(loc.file, g->file) == 0) loc.file = g->file;
    else loc.file = vkg__arena_strdup(&g->arena, loc.file);
    return loc;
}

static vkg_result oom(vkg_graph *g) { return vkg__error(g->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory building the graph"); }

// >>name index: hash tables in the arena, so that a hostile graph of a million
// nodes builds in linear time (linear scans made it quadratic: hours)
typedef struct name_table {
    const char **keys;              /* arena strings owned by the graph */
    int *vals;
    uint32_t cap, n;                /* cap: 0 or a power of two */
} name_table;

struct vkg__ir_index {
    name_table tensors;             /* tensor name -> tensor index */
    name_table weights;             /* weight key -> index in g->weights */
    int *first_user;                /* by weight: the node that declared it */
    int cap_first;
};

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;       /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int table_find(const name_table *t, const char *key) {
    if (!t->cap) return -1;
    for (uint32_t i = hash_str(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->keys[i]) return -1;
        if (strcmp(t->keys[i], key) == 0) return t->vals[i];
    }
}

static void table_insert(name_table *t, const char *key, int val) {
    uint32_t i = hash_str(key) & (t->cap - 1);
    while (t->keys[i]) i = (i + 1) & (t->cap - 1);
    t->keys[i] = key;
    t->vals[i] = val;
    t->n++;
}

/* Adds key -> val (a key already there keeps its first value). */
static bool table_put(vkg_graph *g, name_table *t, const char *key, int val) {
    if (table_find(t, key) >= 0) return true;
    if ((t->n + 1) * 2 > t->cap) {
        name_table nt = {.cap = t->cap ? t->cap * 2 : 64};
        nt.keys = vkg__arena_alloc(&g->arena, sizeof *nt.keys * nt.cap);
        nt.vals = vkg__arena_alloc(&g->arena, sizeof *nt.vals * nt.cap);
        if (!nt.keys || !nt.vals) return false;
        for (uint32_t i = 0; i < t->cap; i++)
            if (t->keys[i]) table_insert(&nt, t->keys[i], t->vals[i]);
        *t = nt;
    }
    table_insert(t, key, val);
    return true;
}

static struct vkg__ir_index *ir_index(vkg_graph *g) {
    if (!g->index) g->index = vkg__arena_alloc(&g->arena, sizeof *g->index);
    return g->index;
}

static bool index_tensor_name(vkg_graph *g, int t) {
    struct vkg__ir_index *ix = ir_index(g);
    return ix && table_put(g, &ix->tensors, g->tensors[t].name, t);
}

static bool index_weight(vkg_graph *g, int w, int node) {
    struct vkg__ir_index *ix = ir_index(g);
    if (!ix || !GROW(g, ix->first_user, w, ix->cap_first)) return false;
    ix->first_user[w] = node;
    return table_put(g, &ix->weights, g->weights[w].key, w);
}

// >>shapes
int64_t vkg__shape_numel(const vkg__shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->n_dims; i++) n *= s->ne[i];
    return n;
}

bool vkg__shape_concrete(const vkg__shape *s) {
    for (int i = 0; i < s->n_dims; i++)
        if (s->ne[i] < 0) return false;
    return true;
}

bool vkg__shape_equal(const vkg__shape *a, const vkg__shape *b) {
    if (a->n_dims != b->n_dims) return false;
    for (int i = 0; i < a->n_dims; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

void vkg__shape_str(const vkg_graph *g, const vkg__shape *s, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s->n_dims && used < n; i++) {
        const char *sep = i ? ", " : "";
        int64_t d = s->ne[i];
        if (d >= 0) used += (size_t)snprintf(buf + used, n - used, "%s%lld", sep, (long long)d);
        else if (d != VKG__DIM_DYN && g && -d - 1 < g->n_syms) used += (size_t)snprintf(buf + used, n - used, "%s%s", sep, g->syms[-d - 1]);
        else used += (size_t)snprintf(buf + used, n - used, "%s?", sep);
    }
    if (used < n) snprintf(buf + used, n - used, "]");
}

// >>graph
vkg_result vkg_graph_create(vkg_context *ctx, const vkg_graph_desc *desc, vkg_graph **out) {
    if (!ctx || !desc || !out) return VKG_ERR_INVALID_ARG;
    *out = NULL;
    vkg_graph *g = vkg__calloc(ctx, 1, sizeof *g);
    if (!g) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    g->ctx = ctx;
    g->arena.ctx = ctx;
    g->name = vkg__arena_strdup(&g->arena, desc->name ? desc->name : "graph");
    g->file = desc->file ? vkg__arena_strdup(&g->arena, desc->file) : NULL;
    if (!g->name || (desc->file && !g->file)) {
        vkg_graph_destroy(g);
        return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    *out = g;
    return VKG_OK;
}

void vkg_graph_destroy(vkg_graph *g) {
    if (!g) return;
    vkg_context *ctx = g->ctx;
    vkg__arena_free_all(&g->arena);
    vkg__free(ctx, g);
}

bool vkg_graph_get_dim(const vkg_graph *g, const char *name, int64_t *out) {
    for (int i = 0; i < g->n_dims; i++)
        if (strcmp(g->dims[i].name, name) == 0) {
            if (out) *out = g->dims[i].value;
            return true;
        }
    return false;
}

vkg_result vkg_graph_set_dim(vkg_graph *g, const char *name, const vkg_value *v, vkg_loc name_loc) {
    if (!g || !name || !v) return VKG_ERR_INVALID_ARG;
    if (vkg_graph_get_dim(g, name, NULL))
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, name_loc, "dim '%s' is defined twice", name);
    int64_t value;
    vkg_result r = vkg_graph_eval_int(g, v, &value);
    if (r) return r;
    if (!GROW(g, g->dims, g->n_dims, g->cap_dims)) return oom(g);
    g->dims[g->n_dims].name = vkg__arena_strdup(&g->arena, name);
    g->dims[g->n_dims].value = value;
    if (!g->dims[g->n_dims].name) return oom(g);
    g->n_dims++;
    return VKG_OK;
}

static bool is_symbol(const char *s) {
    if (!isupper((unsigned char)s[0])) return false;
    for (const char *p = s; *p; p++)
        if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_') return false;
    return true;
}

static vkg_result check_new_name(vkg_graph *g, const char *name, vkg_loc loc) {
    vkg_tensor t;
    if (vkg_graph_find_tensor(g, name, &t)) {
        vkg_loc prev = g->tensors[t.id - 1].loc;
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, loc, "duplicate tensor name '%s' (first defined at line %d)", name, prev.line);
    }
    return VKG_OK;
}

static int new_tensor(vkg_graph *g, const char *name, vkg_loc loc) {
    if (!GROW(g, g->tensors, g->n_tensors, g->cap_tensors)) return -1;
    vkg__tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->loc = own_loc(g, loc);
    if (name && !(t->name = vkg__arena_strdup(&g->arena, name))) return -1;
    t->producer = -1;
    if (name && !index_tensor_name(g, g->n_tensors)) return -1;
    return g->n_tensors++;
}

static vkg_result input_dim(vkg_graph *g, const vkg_value *v, int64_t *out) {
    if (v->kind == VKG_VALUE_STRING && is_symbol(v->s)) {
        if (vkg_graph_get_dim(g, v->s, NULL))
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, v->loc, "'%s' is a dim; write $%s for its value, or use a run-time symbol not in dims", v->s, v->s);
        for (int k = 0; k < g->n_syms; k++)
            if (strcmp(g->syms[k], v->s) == 0) { *out = VKG__SYM(k); return VKG_OK; }
        if (g->n_syms == VKG__MAX_SYMS)
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, v->loc, "too many run-time symbols (at most %d)", VKG__MAX_SYMS);
        if (!(g->syms[g->n_syms] = vkg__arena_strdup(&g->arena, v->s))) return oom(g);
        *out = VKG__SYM(g->n_syms++);
        return VKG_OK;
    }
    vkg_result r = vkg_graph_eval_int(g, v, out);
    if (r == VKG_OK && *out < 1)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, v->loc, "input sizes must be at least 1, got %lld", (long long)*out);
    return r;
}

vkg_result vkg_graph_add_input(vkg_graph *g, const vkg_input_desc *desc, vkg_tensor *out) {
    if (!g || !desc || !desc->name || !desc->shape) return VKG_ERR_INVALID_ARG;
    if (desc->dtype != VKG_DTYPE_I32 && desc->dtype != VKG_DTYPE_F32 && desc->dtype != VKG_DTYPE_F16)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "input '%s': dtype must be i32, f32 or f16", desc->name);
    const vkg_value *sh = desc->shape;
    if (sh->kind != VKG_VALUE_LIST || sh->n < 1 || sh->n > VKG_MAX_DIMS)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, sh->loc, "input '%s': shape must be a list of 1 to %d sizes", desc->name, VKG_MAX_DIMS);
    if (g->n_inputs == (int)VKG__COUNTOF(g->inputs))
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "too many inputs");
    vkg_result r = check_new_name(g, desc->name, desc->loc);
    if (r) return r;
    vkg__shape shape = {.n_dims = sh->n};
    for (int i = 0; i < sh->n; i++)
        if ((r = input_dim(g, &sh->items[i], &shape.ne[i]))) return r;
    int t = new_tensor(g, desc->name, desc->loc);
    if (t < 0) return oom(g);
    /* f16 inputs are converted on upload: every activation is f32 inside. */
    g->tensors[t].dtype = desc->dtype == VKG_DTYPE_I32 ? VKG_DTYPE_I32 : VKG_DTYPE_F32;
    g->tensors[t].shape = shape;
    g->tensors[t].input_index = g->n_inputs;
    g->inputs[g->n_inputs++] = t;
    if (out) out->id = (uint32_t)t + 1;
    return VKG_OK;
}

// >>nodes
vkg_loc vkg__node_arg_loc(const vkg__node *node, const char *arg) {
    vkg_loc loc;
    if (arg && vkg__map_get(node->args, arg, &loc)) return loc;
    return node->loc;
}

vkg_result vkg__node_error(vkg_graph *g, const vkg__node *node, const char *arg, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkg__error_at(g->ctx, VKG_ERR_GRAPH, vkg__node_arg_loc(node, arg), "%s: %s", vkg__ops[node->op]->name, msg);
}

static vkg_result check_args(vkg_graph *g, const vkg__node *node) {
    const vkg_value *args = node->args;
    if (!args || args->kind == VKG_VALUE_NULL) return VKG_OK;
    const vkg__op_def *op = vkg__ops[node->op];
    if (args->kind != VKG_VALUE_MAP)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, args->loc, "%s: arguments must be a mapping", op->name);
    vkg__parse_ctx pc = {.g = g, .node = node, .args = args};
    return vkg__map_check_keys(&pc, args, op->name, op->args);
}

static int find_op(const char *name) {
    for (int i = 0; i < VKG_OP_COUNT; i++)
        if (strcmp(vkg__ops[i]->name, name) == 0) return i;
    return -1;
}

static vkg_result unknown_op(vkg_graph *g, const vkg_node_desc *desc) {
    const char *names[VKG_OP_COUNT + 3];
    int n = 0;
    for (int i = 0; i < VKG_OP_COUNT; i++) names[n++] = vkg__ops[i]->name;
    names[n++] = "repeat";
    names[n++] = "residual";
    names[n] = NULL;
    return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "unknown op '%s' (did you mean '%s'?)", desc->op,
                         vkg__closest(desc->op, names, n));
}

/* Declares the node's weights in g->weights (each key once; a tie reuses the key). */
static vkg_result declare_weights(vkg_graph *g, vkg__node *node, const vkg__infer_ctx *ic) {
    const vkg__op_def *op = vkg__ops[node->op];
    if (!op->weights) return VKG_OK;
    vkg__weights_ctx wc = {.g = g, .node = node, .params = node->params, .out = ic->out};
    wc.in[0] = ic->in[0];
    wc.in[1] = ic->in[1];
    op->weights(&wc);
    for (int k = 0; k < wc.n; k++) {
        if (!vkg__shape_concrete(&wc.shapes[k]))
            return vkg__node_error(g, node, NULL, "the size of weight %s depends on a run-time size", wc.keys[k]);
        int found = g->index ? table_find(&g->index->weights, wc.keys[k]) : -1;
        if (found >= 0) {
            if (!vkg__shape_equal(&g->weights[found].shape, &wc.shapes[k])) {
                char a[96], b[96];
                vkg__shape_str(g, &g->weights[found].shape, a, sizeof a);
                vkg__shape_str(g, &wc.shapes[k], b, sizeof b);
                return vkg__node_error(g, node, "tie", "weight %s is %s where it is defined but %s here", wc.keys[k], a, b);
            }
        } else {
            if (!GROW(g, g->weights, g->n_weights, g->cap_weights)) return oom(g);
            found = g->n_weights;
            g->weights[found] = (vkg__weight){.key = wc.keys[k], .shape = wc.shapes[k], .init = wc.inits[k], .conv_layout = wc.conv[k]};
            if (!index_weight(g, found, (int)(node - g->nodes))) return oom(g);
            g->n_weights++;
        }
        node->weights[node->n_weights++] = found;
    }
    return VKG_OK;
}

int vkg__need_weight(vkg__weights_ctx *wc, const char *suffix, vkg__init init, int n_dims, ...) {
    VKG_ASSERT(wc->n < VKG__MAX_NODE_WEIGHTS && n_dims <= VKG_MAX_DIMS);
    int k = wc->n++;
    char key[512];
    if (suffix[0] == '=') snprintf(key, sizeof key, "%s", suffix + 1);
    else snprintf(key, sizeof key, "%s.%s", wc->node->prefix, suffix);
    wc->keys[k] = vkg__arena_strdup(&wc->g->arena, key);
    if (!wc->keys[k]) wc->keys[k] = "?";
    wc->shapes[k].n_dims = n_dims;
    va_list ap;
    va_start(ap, n_dims);
    for (int i = 0; i < n_dims; i++) wc->shapes[k].ne[i] = va_arg(ap, int64_t);
    va_end(ap);
    wc->inits[k] = init;
    wc->conv[k] = 0;
    return k;
}

void vkg__need_conv_weight(vkg__weights_ctx *wc, int slot) { wc->conv[slot] = 1; }

int vkg__need_state(vkg__state_ctx *sc, uint64_t n) {
    VKG_ASSERT(sc->n < VKG__MAX_NODE_STATES);
    sc->floats[sc->n] = n ? n : 1;
    sc->cache[sc->n] = false;
    return sc->n++;
}

int vkg__need_state_cache(vkg__state_ctx *sc, uint64_t n) {
    int k = vkg__need_state(sc, n);
    sc->cache[k] = true;
    return k;
}

static vkg_result set_prefix(vkg_graph *g, vkg__node *node, const vkg_node_desc *desc) {
    if (desc->name) {
        node->prefix = vkg__arena_strdup(&g->arena, desc->name);
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "%s.%d", vkg__ops[node->op]->name, node->op_index);
        node->prefix = vkg__arena_strdup(&g->arena, buf);
    }
    return node->prefix ? VKG_OK : oom(g);
}

static vkg_result run_infer(vkg_graph *g, const vkg__node *node, const vkg__shape *in, vkg__infer_ctx *ic) {
    memset(ic, 0, sizeof *ic);
    ic->g = g;
    ic->node = node;
    ic->params = node->params;
    ic->n_in = node->n_in;
    for (int i = 0; i < node->n_in; i++) {
        ic->in[i] = in[i];
        ic->in_dtype[i] = g->tensors[node->in[i]].dtype;
    }
    ic->out_dtype = VKG_DTYPE_F32;
    return vkg__ops[node->op]->infer(ic);
}

vkg_result vkg_graph_add_node(vkg_graph *g, const vkg_node_desc *desc, vkg_tensor *out) {
    if (!g || !desc || !desc->op) return VKG_ERR_INVALID_ARG;
    int op = find_op(desc->op);
    if (op < 0) return unknown_op(g, desc);
    int n_expected = (op == VKG_OP_add || op == VKG_OP_mul) ? 2 : 1;
    if (desc->n_inputs != n_expected) {
        if (n_expected == 2)
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "%s takes exactly two inputs: in: [A, B]", desc->op);
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "%s takes one input", desc->op);
    }
    for (int i = 0; i < desc->n_inputs; i++)
        if (desc->inputs[i].id == 0 || desc->inputs[i].id > (uint32_t)g->n_tensors)
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "%s: no input tensor (the graph has no input before this node)", desc->op);
    if (!GROW(g, g->nodes, g->n_nodes, g->cap_nodes)) return oom(g);
    vkg__node *node = &g->nodes[g->n_nodes];
    memset(node, 0, sizeof *node);
    node->op = (vkg_op)op;
    node->loc = own_loc(g, desc->loc);
    node->op_index = g->op_counts[op];
    node->n_in = desc->n_inputs;
    for (int i = 0; i < desc->n_inputs; i++) node->in[i] = (int)desc->inputs[i].id - 1;
    if (desc->args && !(node->args = vkg__value_copy(&g->arena, desc->args))) return oom(g);
    vkg_result r = check_args(g, node);
    if (r) return r;
    const vkg__op_def *def = vkg__ops[op];
    if (!(node->params = vkg__arena_alloc(&g->arena, def->params_size ? def->params_size : 1))) return oom(g);
    vkg__parse_ctx pc = {.g = g, .node = node, .args = node->args, .params = node->params};
    if (def->parse && (r = def->parse(&pc))) return r;
    if ((r = set_prefix(g, node, desc))) return r;
    const char *tname = desc->as ? desc->as : desc->name;
    vkg_loc tloc = desc->as ? desc->as_loc : desc->name_loc;
    if (tname && (r = check_new_name(g, tname, tloc))) return r;

    vkg__shape in[2];
    for (int i = 0; i < node->n_in; i++) in[i] = g->tensors[node->in[i]].shape;
    vkg__infer_ctx ic;
    if ((r = run_infer(g, node, in, &ic))) return r;
    if ((r = declare_weights(g, node, &ic))) return r;
    if (!desc->name && node->n_weights > 0 && g->op_counts[op] == 0)
        vkg__log(g->ctx, VKG_LOG_WARN, "%s:%d:%d: %s has parameters but no name; its weights are read under %s.*",
                 desc->loc.file ? desc->loc.file : "<graph>", desc->loc.line, desc->loc.col, def->name, node->prefix);
    int t = new_tensor(g, tname, tname ? tloc : desc->loc);
    if (t < 0) return oom(g);
    g->tensors[t].dtype = ic.out_dtype;
    g->tensors[t].shape = ic.out;
    g->tensors[t].producer = g->n_nodes;
    node->out = t;
    node->causal = !ic.not_causal;
    g->op_counts[op]++;
    g->n_nodes++;
    if (out) out->id = (uint32_t)t + 1;
    return VKG_OK;
}

bool vkg_graph_find_tensor(const vkg_graph *g, const char *name, vkg_tensor *out) {
    int i = g && name && g->index ? table_find(&g->index->tensors, name) : -1;
    if (i < 0) return false;
    if (out) out->id = (uint32_t)i + 1;
    return true;
}

vkg_result vkg_graph_name_tensor(vkg_graph *g, vkg_tensor t, const char *name, vkg_loc loc) {
    if (!g || !name || t.id == 0 || t.id > (uint32_t)g->n_tensors) return VKG_ERR_INVALID_ARG;
    vkg_result r = check_new_name(g, name, loc);
    if (r) return r;
    vkg__tensor *tt = &g->tensors[t.id - 1];
    if (tt->name) return vkg__error_at(g->ctx, VKG_ERR_GRAPH, loc, "tensor already has the name '%s'", tt->name);
    if (!(tt->name = vkg__arena_strdup(&g->arena, name))) return oom(g);
    if (!index_tensor_name(g, (int)(t.id - 1))) return oom(g);
    tt->loc = own_loc(g, loc);
    return VKG_OK;
}

vkg_result vkg_graph_add_output(vkg_graph *g, vkg_tensor t, const char *name, vkg_loc loc) {
    if (!g || !name || t.id == 0 || t.id > (uint32_t)g->n_tensors) return VKG_ERR_INVALID_ARG;
    if (g->n_outputs == (int)VKG__COUNTOF(g->outputs))
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, loc, "too many outputs");
    for (int i = 0; i < g->n_outputs; i++)
        if (strcmp(g->output_names[i], name) == 0)
            return vkg__error_at(g->ctx, VKG_ERR_GRAPH, loc, "output '%s' is listed twice", name);
    g->outputs[g->n_outputs] = (int)t.id - 1;
    if (!(g->output_names[g->n_outputs] = vkg__arena_strdup(&g->arena, name))) return oom(g);
    g->n_outputs++;
    return VKG_OK;
}

vkg_result vkg_graph_set_weights(vkg_graph *g, const vkg_weights_source *src) {
    if (!g || !src) return VKG_ERR_INVALID_ARG;
    g->wsrc = *src;
    g->wsrc.loc = own_loc(g, src->loc);
    if (g->wsrc.std == 0) g->wsrc.std = 0.02;
    if (src->std < 0) return vkg__error_at(g->ctx, VKG_ERR_GRAPH, src->loc, "weights: std must not be negative");
    g->wsrc.path = NULL;
    if (src->path) {
        char buf[4096];
        const char *slash = g->file ? strrchr(g->file, '/') : NULL;
        if (src->path[0] != '/' && slash)
            snprintf(buf, sizeof buf, "%.*s/%s", (int)(slash - g->file), g->file, src->path);
        else
            snprintf(buf, sizeof buf, "%s", src->path);
        if (!(g->wsrc.path = vkg__arena_strdup(&g->arena, buf))) return oom(g);
    }
    g->has_wsrc = true;
    return VKG_OK;
}

vkg_result vkg_graph_set_hylra(vkg_graph *g, const vkg_hylra_desc *desc) {
    if (!g || !desc || desc->n_policy < 0) return VKG_ERR_INVALID_ARG;
    if (desc->top_k < 1) return vkg__error_at(g->ctx, VKG_ERR_GRAPH, desc->loc, "hylra: top_k must be at least 1");
    g->hylra = *desc;
    bool *pol = vkg__arena_alloc(&g->arena, sizeof(bool) * (size_t)(desc->n_policy + 1));
    vkg_loc *locs = vkg__arena_alloc(&g->arena, sizeof(vkg_loc) * (size_t)(desc->n_policy + 1));
    if (!pol || !locs) return oom(g);
    for (int i = 0; i < desc->n_policy; i++) {
        pol[i] = desc->policy_full[i];
        locs[i] = own_loc(g, desc->policy_locs ? desc->policy_locs[i] : desc->loc);
    }
    g->hylra.loc = own_loc(g, desc->loc);
    g->hylra.policy_full = pol;
    g->hylra.policy_locs = locs;
    g->has_hylra = true;
    return VKG_OK;
}

vkg_result vkg__hylra_check(vkg_graph *g);   /* ops/attention.c */

vkg_result vkg_graph_finish(vkg_graph *g) {
    if (!g) return VKG_ERR_INVALID_ARG;
    if (g->n_nodes == 0) return vkg__error(g->ctx, VKG_ERR_GRAPH, "%s: the graph has no nodes", g->file ? g->file : g->name);
    if (g->n_outputs == 0) {
        /* GRAPH-FORMAT.md: the one output is the last node's output, named `out`
         * (whatever the tensor's own name). */
        vkg__tensor *last = &g->tensors[g->nodes[g->n_nodes - 1].out];
        vkg_result r = vkg_graph_add_output(g, (vkg_tensor){(uint32_t)g->nodes[g->n_nodes - 1].out + 1}, "out", last->loc);
        if (r) return r;
    }
    if (g->has_hylra) {
        vkg_result r = vkg__hylra_check(g);
        if (r) return r;
    }
    g->finished = true;
    return VKG_OK;
}

// >>binding run-time sizes
vkg_result vkg__graph_bind_inputs(vkg_graph *g, const vkg__shape *input_shapes, int64_t *sym_values) {
    for (int k = 0; k < VKG__MAX_SYMS; k++) sym_values[k] = -1;
    for (int i = 0; i < g->n_inputs; i++) {
        const vkg__tensor *t = &g->tensors[g->inputs[i]];
        const vkg__shape *s = &input_shapes[i];
        char want[96], got[96];
        vkg__shape_str(g, &t->shape, want, sizeof want);
        vkg__shape_str(NULL, s, got, sizeof got);
        if (s->n_dims != t->shape.n_dims)
            return vkg__error(g->ctx, VKG_ERR_INPUT, "input '%s': expected rank %d %s, got shape %s", t->name, t->shape.n_dims, want, got);
        for (int d = 0; d < s->n_dims; d++) {
            int64_t e = t->shape.ne[d];
            if (s->ne[d] < 1)
                return vkg__error(g->ctx, VKG_ERR_INPUT, "input '%s': empty input (shape %s)", t->name, got);
            if (e >= 0 && e != s->ne[d])
                return vkg__error(g->ctx, VKG_ERR_INPUT, "input '%s': expected shape %s, got %s", t->name, want, got);
            if (e < 0) {
                int k = (int)(-e - 1);
                if (sym_values[k] >= 0 && sym_values[k] != s->ne[d])
                    return vkg__error(g->ctx, VKG_ERR_INPUT, "input '%s': %s is %lld here but %lld in an earlier input", t->name, g->syms[k],
                                      (long long)s->ne[d], (long long)sym_values[k]);
                sym_values[k] = s->ne[d];
            }
        }
    }
    return VKG_OK;
}

vkg_result vkg__graph_bind(vkg_graph *g, const int64_t *sym_values, vkg__shape *shapes) {
    for (int i = 0; i < g->n_inputs; i++) {
        vkg__shape s = g->tensors[g->inputs[i]].shape;
        for (int d = 0; d < s.n_dims; d++)
            if (s.ne[d] < 0) s.ne[d] = sym_values[-s.ne[d] - 1];
        shapes[g->inputs[i]] = s;
    }
    for (int n = 0; n < g->n_nodes; n++) {
        const vkg__node *node = &g->nodes[n];
        vkg__shape in[2];
        for (int i = 0; i < node->n_in; i++) in[i] = shapes[node->in[i]];
        vkg__infer_ctx ic;
        vkg_result r = run_infer(g, node, in, &ic);
        if (r) return r;
        if (!vkg__shape_concrete(&ic.out)) return vkg__node_error(g, node, NULL, "output size unknown after binding the inputs");
        shapes[node->out] = ic.out;
    }
    return VKG_OK;
}

// >>introspection
int vkg_graph_node_count(const vkg_graph *g) { return g ? g->n_nodes : 0; }

static int64_t node_params(const vkg_graph *g, const vkg__node *node, int node_index) {
    int64_t n = 0;
    for (int k = 0; k < node->n_weights; k++) {
        int w = node->weights[k];
        /* a tied weight counts once, at its first user */
        if (g->index && g->index->first_user[w] == node_index) n += vkg__shape_numel(&g->weights[w].shape);
    }
    return n;
}

vkg_result vkg_graph_node_info(const vkg_graph *g, int index, vkg_node_info *out) {
    if (!g || !out || index < 0 || index >= g->n_nodes) return VKG_ERR_INVALID_ARG;
    const vkg__node *node = &g->nodes[index];
    const vkg__tensor *t = &g->tensors[node->out];
    memset(out, 0, sizeof *out);
    out->op = vkg__ops[node->op]->name;
    out->tensor_name = t->name ? t->name : "";
    out->weight_prefix = node->prefix;
    out->n_dims = t->shape.n_dims;
    for (int i = 0; i < t->shape.n_dims; i++) out->ne[i] = t->shape.ne[i] < 0 ? -1 : t->shape.ne[i];
    vkg__shape_str(g, &t->shape, out->shape_str, sizeof out->shape_str);
    out->n_params = node_params(g, node, index);
    return VKG_OK;
}

int vkg_graph_weight_count(const vkg_graph *g) { return g ? g->n_weights : 0; }

vkg_result vkg_graph_weight_info(const vkg_graph *g, int index, const char **key, int *n_dims, int64_t ne[VKG_MAX_DIMS]) {
    if (!g || index < 0 || index >= g->n_weights) return VKG_ERR_INVALID_ARG;
    const vkg__weight *w = &g->weights[index];
    if (key) *key = w->key;
    if (n_dims) *n_dims = w->shape.n_dims;
    if (ne) for (int i = 0; i < VKG_MAX_DIMS; i++) ne[i] = i < w->shape.n_dims ? w->shape.ne[i] : 0;
    return VKG_OK;
}

int vkg_graph_input_count(const vkg_graph *g) { return g ? g->n_inputs : 0; }

vkg_result vkg_graph_input_info(const vkg_graph *g, int index, const char **name, vkg_dtype *dtype, int *n_dims) {
    if (!g || index < 0 || index >= g->n_inputs) return VKG_ERR_INVALID_ARG;
    const vkg__tensor *t = &g->tensors[g->inputs[index]];
    if (name) *name = t->name;
    if (dtype) *dtype = t->dtype;
    if (n_dims) *n_dims = t->shape.n_dims;
    return VKG_OK;
}

vkg_result vkg_graph_input_shape(const vkg_graph *g, int index, int64_t ne[VKG_MAX_DIMS]) {
    if (!g || !ne || index < 0 || index >= g->n_inputs) return VKG_ERR_INVALID_ARG;
    const vkg__shape *s = &g->tensors[g->inputs[index]].shape;
    for (int i = 0; i < VKG_MAX_DIMS; i++) ne[i] = i < s->n_dims ? (s->ne[i] < 0 ? -1 : s->ne[i]) : 0;
    return VKG_OK;
}

int64_t vkg_graph_vocab(const vkg_graph *g) {
    for (int i = 0; g && i < g->n_nodes; i++)
        if (g->nodes[i].op == VKG_OP_embed && g->nodes[i].n_weights > 0) return g->weights[g->nodes[i].weights[0]].shape.ne[0];
    return 0;
}

vkg_result vkg_graph_decodable(const vkg_graph *g, const char **why, vkg_loc *where) {
    if (!g) return VKG_ERR_INVALID_ARG;
    *why = NULL;
    if (where) *where = (vkg_loc){0};
    const vkg__tensor *first = g->n_inputs ? &g->tensors[g->inputs[0]] : NULL;
    if (!first || first->dtype != VKG_DTYPE_I32 || first->shape.n_dims != 1 || first->shape.ne[0] >= 0) {
        *why = "the first input is not i32 tokens of shape [T]";
        return VKG_ERR_GRAPH;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].causal) {
            *why = g->nodes[i].prefix;
            if (where) *where = g->nodes[i].loc;
            return VKG_ERR_GRAPH;
        }
    return VKG_OK;
}

int vkg_graph_output_count(const vkg_graph *g) { return g ? g->n_outputs : 0; }
const char *vkg_graph_output_name(const vkg_graph *g, int index) {
    return g && index >= 0 && index < g->n_outputs ? g->output_names[index] : NULL;
}
const char *vkg_graph_file(const vkg_graph *g) { return g ? g->file : NULL; }
const vkg_weights_source *vkg_graph_weights(const vkg_graph *g) { return g && g->has_wsrc ? &g->wsrc : NULL; }
