/*
 * frontend.c — graph files (GRAPH-FORMAT.md) to vkg_graph.
 *
 * Steps: read the file, parse it into a vkg_value tree (yaml_value.c), check
 * the top-level keys, create the graph, then dims (with --dim overrides),
 * inputs, weights, hylra; expand the body (repeat, {i} substitution,
 * residual) into a flat list of node instructions, emit them in order with
 * the data-flow rules, add the outputs and finish.
 *
 * May call: only the public graph-building API of vkg.h (the engine checks
 * ops, arguments, names and shapes and reports them at the locations passed
 * here), yaml_value.c, libc. Never prints. Host memory: the value arena and a
 * few malloc'd vectors, all freed before returning.
 */
#include "vkg_frontend.h"
#include "yaml_value.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INSTRUCTIONS (1 << 20) /* nodes after expansion, residual marks included */
#define MAX_WORK         (1 << 24) /* repeat iterations plus values copied by expansion */

typedef enum ins_kind { INS_NODE, INS_RES_BEGIN, INS_RES_END } ins_kind;

/* One step of the expanded body. */
typedef struct ins {
    ins_kind kind;
    const char *op;
    vkg_loc loc;           /* op key (node) or residual key */
    const vkg_value *args; /* without in/as/name; NULL when none */
    const char *name;
    vkg_loc name_loc;
    const char *as;
    vkg_loc as_loc;
    int n_in; /* 0: reads the previous node's output */
    const char *in[2];
    vkg_loc in_loc[2];
} ins;

typedef struct binding {
    const char *name;
    int64_t value;
} binding;

typedef struct fe {
    vkg_context *ctx;
    const vkg_frontend_desc *desc;
    const char *file;
    vkg__yaml_arena arena;
    vkg_graph *g;
    binding env[VKG__YAML_MAX_DEPTH]; /* enclosing repeat indices, innermost last */
    int n_env;
    ins *ins;
    int n_ins, cap_ins;
    int64_t work; /* expansion effort so far, against MAX_WORK */
} fe;

// >>errors and small helpers ------------------------------------------------

static vkg_result fe_error(fe *f, vkg_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static vkg_result fe_error(fe *f, vkg_loc loc, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (loc.line > 0) return vkg_context_set_error(f->ctx, VKG_ERR_GRAPH, "%s:%d:%d: %s", f->file, loc.line, loc.col, msg);
    return vkg_context_set_error(f->ctx, VKG_ERR_GRAPH, "%s: %s", f->file, msg);
}

static vkg_result fe_oom(fe *f) {
    return vkg_context_set_error(f->ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory while loading the graph", f->file);
}

static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 1000;
    int d[64][64];
    for (int x = 0; x <= la; x++)
        d[x][0] = x;
    for (int y = 0; y <= lb; y++)
        d[0][y] = y;
    for (int x = 1; x <= la; x++)
        for (int y = 1; y <= lb; y++) {
            int best = d[x - 1][y - 1] + (a[x - 1] != b[y - 1]);
            if (d[x - 1][y] + 1 < best) best = d[x - 1][y] + 1;
            if (d[x][y - 1] + 1 < best) best = d[x][y - 1] + 1;
            d[x][y] = best;
        }
    return d[la][lb];
}

/* " (did you mean 'x'?)" or " (expected one of: a, b, c)". */
static void suggestion(char *buf, size_t n, const char *word, const char *const *choices, int n_choices) {
    int best = -1, best_d = 1000;
    for (int k = 0; k < n_choices; k++) {
        int d = edit_distance(word, choices[k]);
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    int wl = (int)strlen(word);
    if (best >= 0 && best_d <= (wl > 5 ? wl / 2 : 2)) {
        snprintf(buf, n, " (did you mean '%s'?)", choices[best]);
        return;
    }
    size_t used = (size_t)snprintf(buf, n, " (expected one of:");
    for (int k = 0; k < n_choices && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s %s", k ? "," : "", choices[k]);
    if (used < n) snprintf(buf + used, n - used, ")");
}

/* Every key of map must be one of choices. */
static vkg_result check_keys(fe *f, const vkg_value *map, const char *what, const char *const *choices, int n_choices) {
    for (int k = 0; k < map->n; k++) {
        bool ok = false;
        for (int c = 0; c < n_choices && !ok; c++)
            ok = strcmp(map->keys[k], choices[c]) == 0;
        if (!ok) {
            char hint[256];
            suggestion(hint, sizeof(hint), map->keys[k], choices, n_choices);
            return fe_error(f, map->key_locs[k], "unknown key '%s' in %s%s", map->keys[k], what, hint);
        }
    }
    return VKG_OK;
}

static const vkg_value *map_get(const vkg_value *map, const char *key, vkg_loc *key_loc) {
    if (!map || map->kind != VKG_VALUE_MAP) return NULL;
    for (int k = 0; k < map->n; k++)
        if (strcmp(map->keys[k], key) == 0) {
            if (key_loc) *key_loc = map->key_locs[k];
            return &map->items[k];
        }
    return NULL;
}

static const char *kind_name(vkg_value_kind k) {
    switch (k) {
    case VKG_VALUE_NULL:
        return "nothing";
    case VKG_VALUE_INT:
        return "an integer";
    case VKG_VALUE_FLOAT:
        return "a float";
    case VKG_VALUE_BOOL:
        return "a boolean";
    case VKG_VALUE_STRING:
        return "a string";
    case VKG_VALUE_LIST:
        return "a list";
    case VKG_VALUE_MAP:
        return "a mapping";
    default:
        return "a value";
    }
}

static bool is_ident(const char *s) {
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
    return true;
}

// >>reading ------------------------------------------------------------------

static vkg_result read_file(fe *f, const char *path, char **text, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return vkg_context_set_error(f->ctx, VKG_ERR_IO, "%s: cannot open the graph file: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return fe_oom(f);
    }
    for (;;) {
        if (n == cap) {
            if (cap > VKG__YAML_MAX_BYTES) {
                free(buf);
                fclose(fp);
                return fe_error(f, (vkg_loc){.line = 1, .col = 1}, "the file is larger than %zu bytes (16 MiB), the limit for graph files",
                                VKG__YAML_MAX_BYTES);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                return fe_oom(f);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            bool bad = ferror(fp);
            int e = errno;
            if (bad) {
                free(buf);
                fclose(fp);
                return vkg_context_set_error(f->ctx, VKG_ERR_IO, "%s: cannot read the graph file: %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(fp);
    *text = buf;
    *len = n;
    return VKG_OK;
}

// >>top-level sections ---------------------------------------------------------

static vkg_result load_dims(fe *f, const vkg_value *dims, vkg_loc dims_loc) {
    const vkg_frontend_desc *d = f->desc;
    int n = 0;
    if (dims && dims->kind == VKG_VALUE_MAP)
        n = dims->n;
    else if (dims && dims->kind != VKG_VALUE_NULL)
        return fe_error(f, dims->loc, "dims must be a mapping of SYMBOL: integer or expression, got %s", kind_name(dims->kind));

    vkg_value *ov = NULL;
    if (n > 0) {
        ov = vkg__yaml_alloc(&f->arena, sizeof(vkg_value) * (size_t)n);
        if (!ov) return fe_oom(f);
    }
    for (int k = 0; k < d->n_dim_overrides; k++) {
        const char *o = d->dim_overrides[k];
        const char *eq = o ? strchr(o, '=') : NULL;
        if (!eq || eq == o || !eq[1]) return vkg_context_set_error(f->ctx, VKG_ERR_INVALID_ARG, "--dim %s: expected K=V", o ? o : "(null)");
        size_t kl = (size_t)(eq - o);
        int slot = -1;
        for (int j = 0; j < n; j++)
            if (strlen(dims->keys[j]) == kl && memcmp(dims->keys[j], o, kl) == 0) slot = j;
        if (slot < 0) {
            if (n == 0) return vkg_context_set_error(f->ctx, VKG_ERR_INVALID_ARG, "--dim %s: %s has no dims to override", o, f->file);
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(kl < 100 ? kl : 100), o);
            char hint[512];
            suggestion(hint, sizeof(hint), name, dims->keys, n);
            return vkg_context_set_error(f->ctx, VKG_ERR_INVALID_ARG, "--dim %s: %s:%d:%d: dims has no %s%s", o, f->file, dims_loc.line,
                                         dims_loc.col, name, hint);
        }
        vkg_value v = {.loc = dims->key_locs[slot]};
        const char *val = eq + 1;
        if (!vkg__yaml_resolve_plain(&f->arena, val, strlen(val), &v))
            return vkg_context_set_error(f->ctx, VKG_ERR_INVALID_ARG, "--dim %s: integer out of range", o);
        if (v.kind == VKG_VALUE_STRING && !v.s) return fe_oom(f);
        ov[slot] = v;
        ov[slot].loc = dims->key_locs[slot];
        ov[slot].loc.file = f->file;
    }
    for (int k = 0; k < n; k++) {
        const vkg_value *v = ov[k].loc.line ? &ov[k] : &dims->items[k];
        vkg_result r = vkg_graph_set_dim(f->g, dims->keys[k], v, dims->key_locs[k]);
        if (r != VKG_OK) return r;
    }
    return VKG_OK;
}

static vkg_result load_inputs(fe *f, const vkg_value *inputs, vkg_tensor *first) {
    static const char *const keys[] = {"dtype", "shape"};
    static const char *const dtypes[] = {"i32", "f32", "f16"};
    static const vkg_dtype dtype_ids[] = {VKG_DTYPE_I32, VKG_DTYPE_F32, VKG_DTYPE_F16};
    first->id = 0;
    if (!inputs || inputs->kind == VKG_VALUE_NULL) return VKG_OK;
    if (inputs->kind != VKG_VALUE_MAP)
        return fe_error(f, inputs->loc, "inputs must be a mapping of NAME: {dtype, shape}, got %s", kind_name(inputs->kind));
    for (int k = 0; k < inputs->n; k++) {
        const vkg_value *in = &inputs->items[k];
        char what[160];
        snprintf(what, sizeof(what), "input '%.100s'", inputs->keys[k]);
        if (in->kind != VKG_VALUE_MAP)
            return fe_error(f, in->kind == VKG_VALUE_NULL ? inputs->key_locs[k] : in->loc,
                            "input '%s' must be a mapping {dtype: i32|f32|f16, shape: [...]}", inputs->keys[k]);
        vkg_result r = check_keys(f, in, what, keys, 2);
        if (r != VKG_OK) return r;
        const vkg_value *dt = map_get(in, "dtype", NULL);
        const vkg_value *shape = map_get(in, "shape", NULL);
        if (!dt) return fe_error(f, in->loc, "input '%s' needs a dtype (i32, f32 or f16)", inputs->keys[k]);
        if (!shape) return fe_error(f, in->loc, "input '%s' needs a shape, e.g. shape: [T]", inputs->keys[k]);
        int t = -1;
        for (int j = 0; j < 3 && dt->kind == VKG_VALUE_STRING; j++)
            if (strcmp(dt->s, dtypes[j]) == 0) t = j;
        if (t < 0) return fe_error(f, dt->loc, "dtype of input '%s' must be i32, f32 or f16", inputs->keys[k]);
        if (shape->kind != VKG_VALUE_LIST)
            return fe_error(f, shape->loc, "shape of input '%s' must be a list, got %s", inputs->keys[k], kind_name(shape->kind));
        vkg_tensor tt = {0};
        r = vkg_graph_add_input(
            f->g, &(vkg_input_desc){.name = inputs->keys[k], .loc = inputs->key_locs[k], .dtype = dtype_ids[t], .shape = shape}, &tt);
        if (r != VKG_OK) return r;
        if (k == 0) *first = tt;
    }
    return VKG_OK;
}

static vkg_result load_weights(fe *f, const vkg_value *w, vkg_loc key_loc) {
    static const char *const keys[] = {"random"};
    static const char *const rkeys[] = {"seed", "std"};
    vkg_weights_source src = {.loc = w->loc};
    if (w->kind == VKG_VALUE_STRING) {
        if (!w->s[0]) return fe_error(f, w->loc, "weights: an empty path");
        src.path = w->s;
        return vkg_graph_set_weights(f->g, &src);
    }
    if (w->kind != VKG_VALUE_MAP)
        return fe_error(f, w->kind == VKG_VALUE_NULL ? key_loc : w->loc,
                        "weights must be a safetensors path or {random: {seed: N, std: S}}, got %s", kind_name(w->kind));
    vkg_result r = check_keys(f, w, "weights", keys, 1);
    if (r != VKG_OK) return r;
    const vkg_value *rnd = map_get(w, "random", NULL);
    if (!rnd) return fe_error(f, w->loc, "weights must be a safetensors path or {random: {seed: N, std: S}}");
    if (rnd->kind != VKG_VALUE_NULL && rnd->kind != VKG_VALUE_MAP)
        return fe_error(f, rnd->loc, "random must be a mapping {seed: N, std: S}, got %s", kind_name(rnd->kind));
    if (rnd->kind == VKG_VALUE_MAP && (r = check_keys(f, rnd, "weights.random", rkeys, 2)) != VKG_OK) return r;
    const vkg_value *seed = map_get(rnd, "seed", NULL);
    const vkg_value *std = map_get(rnd, "std", NULL);
    if (seed) {
        int64_t s = 0;
        if ((r = vkg_graph_eval_int(f->g, seed, &s)) != VKG_OK) return r;
        if (s < 0) return fe_error(f, seed->loc, "seed must be >= 0, got %lld", (long long)s);
        src.seed = (uint64_t)s;
    }
    src.std = 0.02;
    if (std) {
        if (std->kind == VKG_VALUE_FLOAT)
            src.std = std->f;
        else if (std->kind == VKG_VALUE_INT)
            src.std = (double)std->i;
        else
            return fe_error(f, std->loc, "std must be a number, got %s", kind_name(std->kind));
        if (!(src.std > 0.0) || src.std > 1e30) return fe_error(f, std->loc, "std must be a positive number");
    }
    return vkg_graph_set_weights(f->g, &src);
}

static vkg_result load_hylra(fe *f, const vkg_value *h, vkg_loc key_loc) {
    static const char *const keys[] = {"top_k", "policy", "decode_only"};
    if (h->kind != VKG_VALUE_MAP)
        return fe_error(f, h->kind == VKG_VALUE_NULL ? key_loc : h->loc,
                        "hylra must be a mapping {top_k: K, policy: [full|reuse, ...], decode_only: false}");
    vkg_result r = check_keys(f, h, "hylra", keys, 3);
    if (r != VKG_OK) return r;
    vkg_hylra_desc hd = {.loc = key_loc};
    const vkg_value *top_k = map_get(h, "top_k", NULL);
    const vkg_value *policy = map_get(h, "policy", NULL);
    const vkg_value *dec = map_get(h, "decode_only", NULL);
    if (!top_k) return fe_error(f, key_loc, "hylra needs top_k");
    if (!policy) return fe_error(f, key_loc, "hylra needs a policy: [full, reuse, ...], one entry per softmax attention");
    if ((r = vkg_graph_eval_int(f->g, top_k, &hd.top_k)) != VKG_OK) return r;
    if (policy->kind != VKG_VALUE_LIST)
        return fe_error(f, policy->loc, "hylra policy must be a list of full|reuse, got %s", kind_name(policy->kind));
    if (dec) {
        if (dec->kind != VKG_VALUE_BOOL) return fe_error(f, dec->loc, "decode_only must be true or false, got %s", kind_name(dec->kind));
        hd.decode_only = dec->b;
    }
    bool *full = vkg__yaml_alloc(&f->arena, sizeof(bool) * (size_t)(policy->n + 1));
    vkg_loc *locs = vkg__yaml_alloc(&f->arena, sizeof(vkg_loc) * (size_t)(policy->n + 1));
    if (!full || !locs) return fe_oom(f);
    for (int k = 0; k < policy->n; k++) {
        const vkg_value *e = &policy->items[k];
        if (e->kind != VKG_VALUE_STRING || (strcmp(e->s, "full") != 0 && strcmp(e->s, "reuse") != 0))
            return fe_error(f, e->loc, "hylra policy entries are full or reuse");
        full[k] = strcmp(e->s, "full") == 0;
        locs[k] = e->loc;
    }
    hd.n_policy = policy->n;
    hd.policy_full = full;
    hd.policy_locs = locs;
    return vkg_graph_set_hylra(f->g, &hd);
}

// >>expansion: repeat, {i}, residual -------------------------------------------

/* Replaces every {X} in s by the value of the enclosing index X. */
static vkg_result subst_string(fe *f, const char *s, vkg_loc loc, const char **out) {
    *out = s;
    if (!strchr(s, '{')) return VKG_OK;
    size_t len = strlen(s), cap = len + 1, n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '{') cap += 24;
    char *buf = vkg__yaml_alloc(&f->arena, cap);
    if (!buf) return fe_oom(f);
    for (const char *p = s; *p;) {
        if (*p == '{') {
            const char *q = p + 1;
            while (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'))
                q++;
            if (*q == '}' && q > p + 1 && !(p[1] >= '0' && p[1] <= '9')) {
                size_t il = (size_t)(q - p - 1);
                const binding *b = NULL;
                for (int k = f->n_env - 1; k >= 0 && !b; k--)
                    if (strlen(f->env[k].name) == il && memcmp(f->env[k].name, p + 1, il) == 0) b = &f->env[k];
                if (!b) return fe_error(f, loc, "{%.*s}: no enclosing repeat has the index %.*s", (int)il, p + 1, (int)il, p + 1);
                n += (size_t)snprintf(buf + n, cap - n, "%lld", (long long)b->value);
                p = q + 1;
                continue;
            }
        }
        buf[n++] = *p++;
    }
    buf[n] = 0;
    *out = buf;
    return VKG_OK;
}

/* Deep copy of v with {X} substituted in every string (keys are names and
 * stay as they are). */
static vkg_result subst_value(fe *f, const vkg_value *v, vkg_value *out) {
    *out = *v;
    if (++f->work > MAX_WORK)
        return fe_error(f, v->loc, "the body expands to too much (more than %d values and repeat iterations)", MAX_WORK);
    if (v->kind == VKG_VALUE_STRING) return subst_string(f, v->s, v->loc, &out->s);
    if (v->kind != VKG_VALUE_LIST && v->kind != VKG_VALUE_MAP) return VKG_OK;
    if (v->n == 0) return VKG_OK;
    vkg_value *items = vkg__yaml_alloc(&f->arena, sizeof(vkg_value) * (size_t)v->n);
    if (!items) return fe_oom(f);
    for (int k = 0; k < v->n; k++) {
        vkg_result r = subst_value(f, &v->items[k], &items[k]);
        if (r != VKG_OK) return r;
    }
    out->items = items;
    return VKG_OK;
}

static vkg_result push_ins(fe *f, const ins *in, vkg_loc loc) {
    if (f->n_ins >= MAX_INSTRUCTIONS) return fe_error(f, loc, "the body expands to more than %d nodes", MAX_INSTRUCTIONS);
    if (f->n_ins == f->cap_ins) {
        int cap = f->cap_ins ? f->cap_ins * 2 : 64;
        ins *p = realloc(f->ins, sizeof(ins) * (size_t)cap);
        if (!p) return fe_oom(f);
        f->ins = p;
        f->cap_ins = cap;
    }
    f->ins[f->n_ins++] = *in;
    return VKG_OK;
}

static vkg_result expand_list(fe *f, const vkg_value *list);

static vkg_result expand_repeat(fe *f, const vkg_value *rep, vkg_loc key_loc) {
    static const char *const keys[] = {"count", "index", "body"};
    if (rep->kind != VKG_VALUE_MAP)
        return fe_error(f, rep->kind == VKG_VALUE_NULL ? key_loc : rep->loc, "repeat must be a mapping {count: N, index: i, body: [...]}");
    vkg_result r = check_keys(f, rep, "repeat", keys, 3);
    if (r != VKG_OK) return r;
    vkg_loc index_loc = key_loc;
    const vkg_value *count = map_get(rep, "count", NULL);
    const vkg_value *index = map_get(rep, "index", &index_loc);
    const vkg_value *body = map_get(rep, "body", NULL);
    if (!count) return fe_error(f, key_loc, "repeat needs a count");
    if (!body) return fe_error(f, key_loc, "repeat needs a body: [...]");
    if (body->kind != VKG_VALUE_LIST && body->kind != VKG_VALUE_NULL)
        return fe_error(f, body->loc, "the body of a repeat must be a list of nodes, got %s", kind_name(body->kind));
    const char *name = "i";
    if (index) {
        if (index->kind != VKG_VALUE_STRING || !is_ident(index->s))
            return fe_error(f, index->loc, "the index of a repeat must be a name such as i or j");
        name = index->s;
        index_loc = index->loc;
    }
    for (int k = 0; k < f->n_env; k++)
        if (strcmp(f->env[k].name, name) == 0)
            return fe_error(f, index_loc, "this repeat reuses the index name '%s' of an enclosing repeat", name);

    vkg_value cv;
    if ((r = subst_value(f, count, &cv)) != VKG_OK) return r;
    int64_t n = 0;
    if ((r = vkg_graph_eval_int(f->g, &cv, &n)) != VKG_OK) return r;
    if (n < 0) return fe_error(f, count->loc, "repeat count is %lld; it must be 0 or more", (long long)n);
    if (n > MAX_INSTRUCTIONS) return fe_error(f, count->loc, "repeat count %lld is above the limit of %d", (long long)n, MAX_INSTRUCTIONS);
    if (f->n_env >= VKG__YAML_MAX_DEPTH) return fe_error(f, key_loc, "repeats nested too deeply");
    f->env[f->n_env++] = (binding){.name = name};
    for (int64_t it = 0; it < n && r == VKG_OK; it++) {
        if (++f->work > MAX_WORK) {
            r = fe_error(f, count->loc, "the body expands to too much (more than %d values and repeat iterations)", MAX_WORK);
            break;
        }
        f->env[f->n_env - 1].value = it;
        if (body->kind == VKG_VALUE_LIST) r = expand_list(f, body);
    }
    f->n_env--;
    return r;
}

/* Pulls `in`, `as` and `name` out of the (substituted) arguments. */
static vkg_result expand_node(fe *f, const char *op, vkg_loc op_loc, const vkg_value *val) {
    ins in = {.kind = INS_NODE, .op = op, .loc = op_loc};
    bool two = strcmp(op, "add") == 0 || strcmp(op, "mul") == 0;
    if (val->kind == VKG_VALUE_NULL) {
        if (two) return fe_error(f, op_loc, "%s takes exactly two inputs: in: [A, B]", op);
        return push_ins(f, &in, op_loc);
    }
    if (val->kind != VKG_VALUE_MAP)
        return fe_error(f, val->loc, "the arguments of %s must be a mapping {key: value, ...}, got %s", op, kind_name(val->kind));
    vkg_value sv;
    vkg_result r = subst_value(f, val, &sv);
    if (r != VKG_OK) return r;
    vkg_value *args = vkg__yaml_alloc(&f->arena, sizeof(vkg_value));
    if (!args) return fe_oom(f);
    *args = sv;
    args->n = 0;
    if (sv.n > 0) {
        args->keys = vkg__yaml_alloc(&f->arena, sizeof(char *) * (size_t)sv.n);
        args->key_locs = vkg__yaml_alloc(&f->arena, sizeof(vkg_loc) * (size_t)sv.n);
        if (!args->keys || !args->key_locs) return fe_oom(f);
    }
    for (int k = 0; k < sv.n; k++) {
        const char *key = sv.keys[k];
        const vkg_value *v = &sv.items[k];
        if (strcmp(key, "name") == 0 || strcmp(key, "as") == 0) {
            if (v->kind != VKG_VALUE_STRING || !v->s[0])
                return fe_error(f, v->kind == VKG_VALUE_NULL ? sv.key_locs[k] : v->loc, "%s must be a non-empty string, got %s", key,
                                kind_name(v->kind));
            if (key[0] == 'n') {
                in.name = v->s;
                in.name_loc = v->loc;
            } else {
                in.as = v->s;
                in.as_loc = v->loc;
            }
        } else if (strcmp(key, "in") == 0) {
            if (two) {
                if (v->kind != VKG_VALUE_LIST || v->n != 2)
                    return fe_error(f, v->kind == VKG_VALUE_NULL ? sv.key_locs[k] : v->loc, "%s takes exactly two inputs: in: [A, B]", op);
                for (int j = 0; j < 2; j++) {
                    if (v->items[j].kind != VKG_VALUE_STRING)
                        return fe_error(f, v->items[j].loc, "in: entries are tensor names, got %s", kind_name(v->items[j].kind));
                    in.in[j] = v->items[j].s;
                    in.in_loc[j] = v->items[j].loc;
                }
                in.n_in = 2;
            } else {
                if (v->kind != VKG_VALUE_STRING)
                    return fe_error(f, v->kind == VKG_VALUE_NULL ? sv.key_locs[k] : v->loc, "in: of %s is one tensor name, got %s", op,
                                    kind_name(v->kind));
                in.in[0] = v->s;
                in.in_loc[0] = v->loc;
                in.n_in = 1;
            }
        } else {
            args->keys[args->n] = key;
            args->key_locs[args->n] = sv.key_locs[k];
            args->items[args->n] = *v; /* items is sv's fresh copy: compacting in place is safe */
            args->n++;
        }
    }
    if (two && in.n_in != 2) return fe_error(f, op_loc, "%s takes exactly two inputs: in: [A, B]", op);
    in.args = args;
    return push_ins(f, &in, op_loc);
}

static vkg_result expand_list(fe *f, const vkg_value *list) {
    for (int k = 0; k < list->n; k++) {
        const vkg_value *item = &list->items[k];
        if (item->kind != VKG_VALUE_MAP || item->n != 1)
            return fe_error(f, item->loc, "a node is a mapping with one key, the op: `- linear: {out: 8}`; got %s%s",
                            item->kind == VKG_VALUE_MAP ? "a mapping with " : kind_name(item->kind),
                            item->kind == VKG_VALUE_MAP ? (item->n ? "several keys" : "no key") : "");
        const char *op = item->keys[0];
        vkg_loc op_loc = item->key_locs[0];
        const vkg_value *val = &item->items[0];
        vkg_result r;
        if (strcmp(op, "repeat") == 0) {
            r = expand_repeat(f, val, op_loc);
        } else if (strcmp(op, "residual") == 0) {
            if (val->kind != VKG_VALUE_LIST && val->kind != VKG_VALUE_NULL)
                return fe_error(f, val->loc, "residual takes a list of nodes, got %s", kind_name(val->kind));
            if ((r = push_ins(f, &(ins){.kind = INS_RES_BEGIN, .op = "residual", .loc = op_loc}, op_loc)) != VKG_OK) return r;
            int first = f->n_ins;
            if (val->kind == VKG_VALUE_LIST && (r = expand_list(f, val)) != VKG_OK) return r;
            if (f->n_ins == first) return fe_error(f, op_loc, "an empty residual: it needs at least one node");
            r = push_ins(f, &(ins){.kind = INS_RES_END, .op = "add", .loc = op_loc}, op_loc);
        } else {
            r = expand_node(f, op, op_loc, val);
        }
        if (r != VKG_OK) return r;
    }
    return VKG_OK;
}

// >>emission ---------------------------------------------------------------------

static vkg_result emit(fe *f, vkg_tensor first_input, vkg_loc body_loc, vkg_tensor *last) {
    vkg_tensor cur = first_input;
    vkg_tensor stack[VKG__YAML_MAX_DEPTH];
    int depth = 0;
    bool any = false;
    for (int k = 0; k < f->n_ins; k++) {
        const ins *in = &f->ins[k];
        vkg_node_desc nd = {.op = in->op, .loc = in->loc};
        if (in->kind == INS_RES_BEGIN) {
            if (!cur.id) return fe_error(f, in->loc, "the first node reads the first input, but the graph has no inputs");
            stack[depth++] = cur;
            continue;
        }
        if (in->kind == INS_RES_END) {
            nd.op = "add";
            nd.n_inputs = 2;
            nd.inputs[0] = stack[--depth];
            nd.inputs[1] = cur;
        } else {
            nd.args = in->args;
            nd.name = in->name;
            nd.name_loc = in->name_loc;
            nd.as = in->as;
            nd.as_loc = in->as_loc;
            if (in->n_in == 0) {
                if (!cur.id) return fe_error(f, in->loc, "the first node reads the first input, but the graph has no inputs");
                nd.n_inputs = 1;
                nd.inputs[0] = cur;
            } else {
                nd.n_inputs = in->n_in;
                for (int j = 0; j < in->n_in; j++)
                    if (!vkg_graph_find_tensor(f->g, in->in[j], &nd.inputs[j]))
                        return fe_error(f, in->in_loc[j], "in: names a tensor that does not exist yet: %s", in->in[j]);
            }
        }
        vkg_tensor out = {0};
        vkg_result r = vkg_graph_add_node(f->g, &nd, &out);
        if (r != VKG_OK) return r;
        cur = out;
        any = true;
    }
    if (!any) return fe_error(f, body_loc, "the body expands to no nodes");
    *last = cur;
    return VKG_OK;
}

static vkg_result load_outputs(fe *f, const vkg_value *outs, vkg_loc key_loc, vkg_tensor last) {
    if (!outs) return vkg_graph_add_output(f->g, last, "out", key_loc);
    if (outs->kind != VKG_VALUE_LIST || outs->n == 0)
        return fe_error(f, outs->kind == VKG_VALUE_NULL ? key_loc : outs->loc, "outputs must be a non-empty list of tensor names");
    for (int k = 0; k < outs->n; k++) {
        const vkg_value *e = &outs->items[k];
        if (e->kind != VKG_VALUE_STRING || !e->s[0])
            return fe_error(f, e->loc, "outputs entries are tensor names, got %s", kind_name(e->kind));
        vkg_tensor t;
        vkg_result r;
        if (!vkg_graph_find_tensor(f->g, e->s, &t)) {
            if (k != outs->n - 1)
                return fe_error(f, e->loc, "outputs: no tensor is named %s (only the last entry may name the last node's output)", e->s);
            t = last;
            /* The last node's output may already be named by its name/as
             * (`linear: {name: lm_head}` then `outputs: [logits]`): then the
             * new name is the output's name only. */
            vkg_node_info info;
            bool named =
                vkg_graph_node_info(f->g, vkg_graph_node_count(f->g) - 1, &info) == VKG_OK && info.tensor_name && info.tensor_name[0];
            if (!named && (r = vkg_graph_name_tensor(f->g, t, e->s, e->loc)) != VKG_OK) return r;
        }
        if ((r = vkg_graph_add_output(f->g, t, e->s, e->loc)) != VKG_OK) return r;
    }
    return VKG_OK;
}

// >>load ---------------------------------------------------------------------------

static vkg_result build(fe *f, const vkg_value *root) {
    static const char *const top[] = {"name", "dims", "inputs", "weights", "hylra", "body", "outputs"};
    vkg_result r = check_keys(f, root, "the graph file", top, 7);
    if (r != VKG_OK) return r;
    vkg_loc name_loc = root->loc, dims_loc = root->loc, weights_loc = root->loc, hylra_loc = root->loc;
    vkg_loc body_loc = root->loc, outputs_loc = root->loc;
    const vkg_value *name = map_get(root, "name", &name_loc);
    const vkg_value *dims = map_get(root, "dims", &dims_loc);
    const vkg_value *inputs = map_get(root, "inputs", NULL);
    const vkg_value *weights = map_get(root, "weights", &weights_loc);
    const vkg_value *hylra = map_get(root, "hylra", &hylra_loc);
    const vkg_value *body = map_get(root, "body", &body_loc);
    const vkg_value *outputs = map_get(root, "outputs", &outputs_loc);
    if (!name) return fe_error(f, root->loc, "the graph file needs a name: key");
    if (name->kind != VKG_VALUE_STRING || !name->s[0])
        return fe_error(f, name->kind == VKG_VALUE_NULL ? name_loc : name->loc, "name must be a non-empty string, got %s",
                        kind_name(name->kind));
    if (!body) return fe_error(f, root->loc, "the graph file needs a body: a list of nodes");
    if (body->kind != VKG_VALUE_LIST || body->n == 0)
        return fe_error(f, body->kind == VKG_VALUE_NULL ? body_loc : body->loc, "body must be a non-empty list of nodes, got %s",
                        body->kind == VKG_VALUE_LIST ? "an empty list" : kind_name(body->kind));

    if ((r = vkg_graph_create(f->ctx, &(vkg_graph_desc){.name = name->s, .file = f->desc->path}, &f->g)) != VKG_OK) return r;
    if ((r = load_dims(f, dims, dims_loc)) != VKG_OK) return r;
    vkg_tensor first = {0};
    if ((r = load_inputs(f, inputs, &first)) != VKG_OK) return r;
    if (weights && (r = load_weights(f, weights, weights_loc)) != VKG_OK) return r;
    if (hylra && (r = load_hylra(f, hylra, hylra_loc)) != VKG_OK) return r;
    if ((r = expand_list(f, body)) != VKG_OK) return r;
    vkg_tensor last = {0};
    if ((r = emit(f, first, body_loc, &last)) != VKG_OK) return r;
    if ((r = load_outputs(f, outputs, outputs ? outputs_loc : body_loc, last)) != VKG_OK) return r;
    return vkg_graph_finish(f->g);
}

vkg_result vkg_frontend_load(vkg_context *ctx, const vkg_frontend_desc *desc, vkg_graph **out) {
    if (!out) return ctx ? vkg_context_set_error(ctx, VKG_ERR_INVALID_ARG, "vkg_frontend_load: out is NULL") : VKG_ERR_INVALID_ARG;
    *out = NULL;
    if (!ctx) return VKG_ERR_INVALID_ARG;
    if (!desc || (!desc->path && !desc->text))
        return vkg_context_set_error(ctx, VKG_ERR_INVALID_ARG, "vkg_frontend_load: give a path or a text");
    if (desc->n_dim_overrides > 0 && !desc->dim_overrides)
        return vkg_context_set_error(ctx, VKG_ERR_INVALID_ARG, "vkg_frontend_load: dim_overrides is NULL");

    fe f = {.ctx = ctx, .desc = desc, .file = desc->path ? desc->path : "<text>"};
    char *buf = NULL;
    const char *text = desc->text;
    size_t len = desc->text ? (desc->text_len ? desc->text_len : strlen(desc->text)) : 0;
    vkg_result r = VKG_OK;
    if (!text) {
        r = read_file(&f, desc->path, &buf, &len);
        text = buf;
    }
    vkg_value *root = NULL;
    if (r == VKG_OK) r = vkg__yaml_parse(ctx, &f.arena, f.file, text ? text : "", len, &root);
    if (r == VKG_OK) r = build(&f, root);
    free(buf);
    free(f.ins);
    vkg__yaml_arena_free(&f.arena);
    if (r != VKG_OK) {
        if (f.g) vkg_graph_destroy(f.g);
        return r;
    }
    *out = f.g;
    return VKG_OK;
}
