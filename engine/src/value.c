/*
 * value.c — argument values: integer expressions over dims ($D * 4),
 * deep copies into the graph arena, and the typed argument readers ops use
 * in their parse functions. Errors carry the value's FILE:LINE:COL.
 */
#include "vkg_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// >>expressions
typedef struct expr {
    vkg_graph *g;
    const char *s, *p;
    vkg_loc loc;
    vkg_result err;
} expr;

static vkg_result expr_fail(expr *e, const char *fmt, const char *arg) {
    if (e->err == VKG_OK)
        e->err = vkg__error_at(e->g->ctx, VKG_ERR_GRAPH, e->loc, fmt, arg, e->s);
    return e->err;
}

static void skip_ws(expr *e) { while (*e->p == ' ' || *e->p == '\t') e->p++; }

static int64_t parse_sum(expr *e, int depth);

static int64_t parse_atom(expr *e, int depth) {
    skip_ws(e);
    if (depth > 64) { expr_fail(e, "expression nested too deeply%s in \"%s\"", ""); return 0; }
    char c = *e->p;
    if (c == '(') {
        e->p++;
        int64_t v = parse_sum(e, depth + 1);
        skip_ws(e);
        if (*e->p != ')') { expr_fail(e, "expected ')'%s in \"%s\"", ""); return 0; }
        e->p++;
        return v;
    }
    if (c == '-') { e->p++; int64_t v = parse_atom(e, depth + 1); return -v; }
    if (c == '+') { e->p++; return parse_atom(e, depth + 1); }
    if (isdigit((unsigned char)c)) {
        int64_t v = 0;
        while (isdigit((unsigned char)*e->p)) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *e->p - '0', &v)) {
                expr_fail(e, "integer too large%s in \"%s\"", "");
                return 0;
            }
            e->p++;
        }
        return v;
    }
    if (c == '$') {
        e->p++;
        char name[128];
        size_t n = 0;
        while ((isalnum((unsigned char)*e->p) || *e->p == '_') && n + 1 < sizeof name) name[n++] = *e->p++;
        name[n] = 0;
        if (n == 0) { expr_fail(e, "'$' must be followed by a dim name%s in \"%s\"", ""); return 0; }
        int64_t v;
        if (!vkg_graph_get_dim(e->g, name, &v)) { expr_fail(e, "$%s is not in dims (in \"%s\")", name); return 0; }
        return v;
    }
    if (c == 0) expr_fail(e, "expression ends too early%s in \"%s\"", "");
    else {
        char what[2] = {c, 0};
        expr_fail(e, "unexpected '%s' in integer expression \"%s\"", what);
    }
    return 0;
}

static int64_t parse_product(expr *e, int depth) {
    int64_t v = parse_atom(e, depth);
    for (;;) {
        skip_ws(e);
        char op = *e->p;
        if (op != '*' && op != '/') return v;
        e->p++;
        int64_t r = parse_atom(e, depth);
        if (e->err) return 0;
        if (op == '*') {
            if (__builtin_mul_overflow(v, r, &v)) { expr_fail(e, "integer overflow%s in \"%s\"", ""); return 0; }
        } else {
            if (r == 0) { expr_fail(e, "division by zero%s in \"%s\"", ""); return 0; }
            if (v % r != 0) {
                char buf[64];
                snprintf(buf, sizeof buf, "%lld / %lld", (long long)v, (long long)r);
                expr_fail(e, "expression is not an exact integer (%s) in \"%s\"", buf);
                return 0;
            }
            v /= r;
        }
    }
}

static int64_t parse_sum(expr *e, int depth) {
    int64_t v = parse_product(e, depth);
    for (;;) {
        skip_ws(e);
        char op = *e->p;
        if (op != '+' && op != '-') return v;
        e->p++;
        int64_t r = parse_product(e, depth);
        if (e->err) return 0;
        bool of = op == '+' ? __builtin_add_overflow(v, r, &v) : __builtin_sub_overflow(v, r, &v);
        if (of) { expr_fail(e, "integer overflow%s in \"%s\"", ""); return 0; }
    }
}

vkg_result vkg_graph_eval_int(vkg_graph *g, const vkg_value *v, int64_t *out) {
    if (!g || !v || !out) return VKG_ERR_INVALID_ARG;
    if (v->kind == VKG_VALUE_INT) { *out = v->i; return VKG_OK; }
    if (v->kind != VKG_VALUE_STRING)
        return vkg__error_at(g->ctx, VKG_ERR_GRAPH, v->loc, "expected an integer or an integer expression");
    expr e = {.g = g, .s = v->s, .p = v->s, .loc = v->loc};
    int64_t r = parse_sum(&e, 0);
    if (e.err) return e.err;
    skip_ws(&e);
    if (*e.p) {
        char what[2] = {*e.p, 0};
        return expr_fail(&e, "unexpected '%s' in integer expression \"%s\"", what);
    }
    *out = r;
    return VKG_OK;
}

// >>deep copy
vkg_value *vkg__value_copy(vkg__arena *a, const vkg_value *v);

static bool copy_into(vkg__arena *a, vkg_value *dst, const vkg_value *src) {
    *dst = *src;
    if (src->loc.file) dst->loc.file = vkg__arena_strdup(a, src->loc.file);
    if (src->s && !(dst->s = vkg__arena_strdup(a, src->s))) return false;
    if (src->n > 0 && (src->kind == VKG_VALUE_LIST || src->kind == VKG_VALUE_MAP)) {
        dst->items = vkg__arena_alloc(a, sizeof(vkg_value) * (size_t)src->n);
        if (!dst->items) return false;
        for (int i = 0; i < src->n; i++)
            if (!copy_into(a, &dst->items[i], &src->items[i])) return false;
        if (src->kind == VKG_VALUE_MAP) {
            dst->keys = vkg__arena_alloc(a, sizeof(char *) * (size_t)src->n);
            dst->key_locs = vkg__arena_alloc(a, sizeof(vkg_loc) * (size_t)src->n);
            if (!dst->keys || !dst->key_locs) return false;
            for (int i = 0; i < src->n; i++) {
                if (!(dst->keys[i] = vkg__arena_strdup(a, src->keys[i]))) return false;
                dst->key_locs[i] = src->key_locs ? src->key_locs[i] : src->items[i].loc;
                dst->key_locs[i].file = dst->loc.file;
            }
        }
    } else {
        dst->n = 0;
        dst->items = NULL;
        dst->keys = NULL;
        dst->key_locs = NULL;
    }
    return true;
}

vkg_value *vkg__value_copy(vkg__arena *a, const vkg_value *v) {
    vkg_value *d = vkg__arena_alloc(a, sizeof *d);
    if (!d || !copy_into(a, d, v)) return NULL;
    return d;
}

// >>argument readers
const vkg_value *vkg__map_get(const vkg_value *map, const char *key, vkg_loc *key_loc) {
    if (!map || map->kind != VKG_VALUE_MAP) return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) {
            if (key_loc) *key_loc = map->key_locs ? map->key_locs[i] : map->items[i].loc;
            return &map->items[i];
        }
    return NULL;
}

const vkg_value *vkg__arg(vkg__parse_ctx *pc, const char *key) { return vkg__map_get(pc->args, key, NULL); }

static vkg_result missing(vkg__parse_ctx *pc, const char *key) {
    return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, pc->node->loc, "%s: missing required argument '%s'",
                         vkg__ops[pc->node->op]->name, key);
}

vkg_result vkg__value_int(vkg__parse_ctx *pc, const vkg_value *v, const char *what, int64_t *out) {
    if (v->kind != VKG_VALUE_INT && v->kind != VKG_VALUE_STRING)
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: expected an integer", what);
    return vkg_graph_eval_int(pc->g, v, out);
}

vkg_result vkg__value_float(vkg__parse_ctx *pc, const vkg_value *v, const char *what, double *out) {
    if (v->kind == VKG_VALUE_FLOAT) { *out = v->f; return VKG_OK; }
    if (v->kind == VKG_VALUE_INT) { *out = (double)v->i; return VKG_OK; }
    if (v->kind == VKG_VALUE_STRING) {
        int64_t i;
        vkg_result r = vkg_graph_eval_int(pc->g, v, &i);
        if (r == VKG_OK) *out = (double)i;
        return r;
    }
    return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: expected a number", what);
}

vkg_result vkg__arg_int(vkg__parse_ctx *pc, const char *key, bool required, int64_t def, int64_t *out) {
    const vkg_value *v = vkg__arg(pc, key);
    if (!v) {
        if (required) return missing(pc, key);
        *out = def;
        return VKG_OK;
    }
    return vkg__value_int(pc, v, key, out);
}

vkg_result vkg__arg_float(vkg__parse_ctx *pc, const char *key, double def, double *out) {
    const vkg_value *v = vkg__arg(pc, key);
    if (!v) { *out = def; return VKG_OK; }
    vkg_result r = vkg__value_float(pc, v, key, out);
    if (r == VKG_OK && !isfinite(*out))
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: expected a finite number", key);
    return r;
}

vkg_result vkg__arg_bool(vkg__parse_ctx *pc, const char *key, bool def, bool *out) {
    const vkg_value *v = vkg__arg(pc, key);
    if (!v) { *out = def; return VKG_OK; }
    if (v->kind != VKG_VALUE_BOOL)
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: expected true or false", key);
    *out = v->b;
    return VKG_OK;
}

static vkg_result bad_choice(vkg__parse_ctx *pc, const vkg_value *v, const char *key, const char *const *choices) {
    char list[256] = "";
    int n = 0;
    for (; choices[n]; n++) {
        strncat(list, n ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[n], sizeof list - strlen(list) - 1);
    }
    if (v->kind == VKG_VALUE_STRING) {
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: unknown value '%s' (did you mean '%s'? expected one of: %s)",
                             key, v->s, vkg__closest(v->s, choices, n), list);
    }
    return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: expected one of: %s", key, list);
}

vkg_result vkg__arg_enum(vkg__parse_ctx *pc, const char *key, const char *const *choices, int def, int *out) {
    const vkg_value *v = vkg__arg(pc, key);
    if (!v) {
        if (def < 0) return missing(pc, key);
        *out = def;
        return VKG_OK;
    }
    if (v->kind == VKG_VALUE_STRING)
        for (int i = 0; choices[i]; i++)
            if (strcmp(v->s, choices[i]) == 0) { *out = i; return VKG_OK; }
    return bad_choice(pc, v, key, choices);
}

vkg_result vkg__arg_string(vkg__parse_ctx *pc, const char *key, bool required, const char **out) {
    const vkg_value *v = vkg__arg(pc, key);
    if (!v) {
        if (required) return missing(pc, key);
        *out = NULL;
        return VKG_OK;
    }
    if (v->kind != VKG_VALUE_STRING)
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, v->loc, "%s: expected a string", key);
    *out = v->s;
    return VKG_OK;
}

vkg_result vkg__map_check_keys(vkg__parse_ctx *pc, const vkg_value *map, const char *what, const char *const *keys) {
    if (map->kind == VKG_VALUE_NULL) return VKG_OK;
    if (map->kind != VKG_VALUE_MAP)
        return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, map->loc, "%s: expected a mapping", what);
    for (int i = 0; i < map->n; i++) {
        int n = 0;
        bool known = false;
        for (; keys[n]; n++) known |= strcmp(keys[n], map->keys[i]) == 0;
        if (!known) {
            const char *c = vkg__closest(map->keys[i], keys, n);
            return vkg__error_at(pc->g->ctx, VKG_ERR_GRAPH, map->key_locs[i], "%s: unknown argument '%s'%s%s%s", what,
                                 map->keys[i], c ? " (did you mean '" : "", c ? c : "", c ? "'?)" : "");
        }
    }
    return VKG_OK;
}
