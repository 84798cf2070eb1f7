/*
 * yaml_value.c — libyaml events to a vkg_value tree with line/column for
 * every value and map key (GRAPH-FORMAT.md, "YAML subset").
 *
 * Uses libyaml's event API with an explicit stack of open collections, so a
 * deeply nested file is an error, never a stack overflow. Plain scalars are
 * typed by the YAML 1.2 core schema subset (decimal integers without leading
 * zeros, floats, exactly true/false, null/~/empty); quoted and block scalars
 * are strings. Rejected: duplicate keys, anchors, aliases, merge keys, tags,
 * %TAG directives, several documents, empty files, a top level that is not a
 * map, NUL bytes, invalid UTF-8, files over 16 MiB.
 *
 * May call: libyaml, the public vkg.h (vkg_context_set_error), libc. Never
 * prints. Temporary vectors use malloc; the tree lives in the arena.
 */
#include "yaml_value.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

// >>arena ------------------------------------------------------------------

#define CHUNK_MIN ((size_t)64 << 10)

struct vkg__yaml_chunk {
    vkg__yaml_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void *vkg__yaml_alloc(vkg__yaml_arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    vkg__yaml_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
        c = malloc(sizeof(*c) + cap);
        if (!c) return NULL;
        c->size = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *vkg__yaml_strndup(vkg__yaml_arena *a, const char *s, size_t len) {
    char *p = vkg__yaml_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

void vkg__yaml_arena_free(vkg__yaml_arena *a) {
    vkg__yaml_chunk *c = a->head;
    while (c) {
        vkg__yaml_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

// >>scalars ----------------------------------------------------------------

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* [-+]? (0 | [1-9][0-9]*) */
static bool is_decimal_int(const char *s, size_t n) {
    size_t k = 0;
    if (k < n && (s[k] == '-' || s[k] == '+')) k++;
    if (k >= n) return false;
    if (s[k] == '0') return k + 1 == n;
    for (; k < n; k++)
        if (!is_digit(s[k])) return false;
    return true;
}

/* [-+]? ( \.[0-9]+ | [0-9]+ (\.[0-9]*)? ) ([eE][-+]?[0-9]+)?, with a dot or an
 * exponent (a bare digit string is an integer or, with leading zeros, a string). */
static bool is_float(const char *s, size_t n) {
    size_t k = 0, digits = 0;
    bool dot = false, exp = false;
    if (k < n && (s[k] == '-' || s[k] == '+')) k++;
    while (k < n && is_digit(s[k])) {
        k++;
        digits++;
    }
    if (k < n && s[k] == '.') {
        dot = true;
        k++;
        size_t frac = 0;
        while (k < n && is_digit(s[k])) {
            k++;
            frac++;
        }
        if (digits == 0 && frac == 0) return false;
        digits += frac;
    }
    if (digits == 0) return false;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        exp = true;
        k++;
        if (k < n && (s[k] == '-' || s[k] == '+')) k++;
        size_t ed = 0;
        while (k < n && is_digit(s[k])) {
            k++;
            ed++;
        }
        if (ed == 0) return false;
    }
    return k == n && (dot || exp);
}

static bool eq(const char *s, size_t n, const char *lit) { return strlen(lit) == n && memcmp(s, lit, n) == 0; }

bool vkg__yaml_resolve_plain(vkg__yaml_arena *a, const char *s, size_t n, vkg_value *v) {
    v->s = NULL;
    if (n == 0 || eq(s, n, "null") || eq(s, n, "~")) {
        v->kind = VKG_VALUE_NULL;
        return true;
    }
    if (eq(s, n, "true") || eq(s, n, "false")) {
        v->kind = VKG_VALUE_BOOL;
        v->b = s[0] == 't';
        return true;
    }
    char buf[64];
    if (is_decimal_int(s, n)) {
        if (n >= sizeof(buf)) return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (errno == ERANGE) return false;
        v->kind = VKG_VALUE_INT;
        v->i = x;
        v->f = (double)x;
        return true;
    }
    const char *p = s;
    size_t m = n;
    bool neg = false;
    if (m > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        p++;
        m--;
    }
    if (eq(p, m, ".inf") || eq(p, m, ".Inf") || eq(p, m, ".INF")) {
        v->kind = VKG_VALUE_FLOAT;
        v->f = neg ? -HUGE_VAL : HUGE_VAL;
        return true;
    }
    if (p == s && (eq(s, n, ".nan") || eq(s, n, ".NaN") || eq(s, n, ".NAN"))) {
        v->kind = VKG_VALUE_FLOAT;
        v->f = NAN;
        return true;
    }
    if (is_float(s, n) && n < sizeof(buf)) {
        memcpy(buf, s, n);
        buf[n] = 0;
        v->kind = VKG_VALUE_FLOAT;
        v->f = strtod(buf, NULL);
        return true;
    }
    v->kind = VKG_VALUE_STRING;
    v->s = vkg__yaml_strndup(a, s, n);
    return true;
}

// >>input checks -----------------------------------------------------------

/* 1-based line and column (in code points, as libyaml counts) of byte offset. */
static void offset_to_linecol(const char *text, size_t len, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    size_t k0 = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0; /* a BOM is no column */
    for (size_t k = k0; k < off && k < len; k++) {
        unsigned char ch = (unsigned char)text[k];
        if (ch == '\n' || (ch == '\r' && !(k + 1 < len && text[k + 1] == '\n'))) {
            l++;
            c = 1;
        } else if (ch == '\r') {
            /* \r of \r\n: the \n counts the break */
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Offset of the first NUL byte or invalid UTF-8 sequence, or len. */
static size_t find_bad_byte(const unsigned char *s, size_t len, bool *is_nul) {
    size_t k = 0;
    while (k < len) {
        unsigned char c = s[k];
        if (c == 0) {
            *is_nul = true;
            return k;
        }
        if (c < 0x80) {
            k++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            *is_nul = false;
            return k;
        }
        if (k + n > len) {
            *is_nul = false;
            return k;
        }
        for (size_t j = 1; j < n; j++) {
            if ((s[k + j] & 0xC0) != 0x80) {
                *is_nul = false;
                return k;
            }
            cp = (cp << 6) | (s[k + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            *is_nul = false;
            return k;
        }
        k += n;
    }
    return len;
}

// >>parser -----------------------------------------------------------------

typedef struct frame {
    bool is_map;
    vkg_loc loc;
    vkg_value *items;
    const char **keys;
    vkg_loc *key_locs;
    int n, cap;
    bool have_key; /* map: a key is waiting for its value */
    const char *key;
    vkg_loc key_loc;
} frame;

typedef struct parser {
    vkg_context *ctx;
    vkg__yaml_arena *a;
    const char *file;
    const char *text;
    size_t len;
    frame stack[VKG__YAML_MAX_DEPTH];
    int depth;
    vkg_value *root;
    int n_docs;
} parser;

static vkg_result error_at(parser *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static vkg_result error_at(parser *p, int line, int col, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vkg_context_set_error(p->ctx, VKG_ERR_GRAPH, "%s:%d:%d: %s", p->file, line, col, msg);
}

static vkg_result oom(parser *p) {
    return vkg_context_set_error(p->ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory while reading the graph file", p->file);
}

static vkg_loc mark_loc(parser *p, yaml_mark_t m) { return (vkg_loc){.file = p->file, .line = (int)m.line + 1, .col = (int)m.column + 1}; }

static void frame_release(frame *f) {
    free(f->items);
    free(f->keys);
    free(f->key_locs);
    memset(f, 0, sizeof(*f));
}

typedef struct key_ref {
    const char *key;
    int index;
} key_ref;

static int cmp_key_ref(const void *x, const void *y) {
    const key_ref *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* Index of the earliest key that repeats an earlier one, or -1. Sorting keeps
 * this O(n log n) for the largest maps a 16 MiB file can hold. */
static int find_duplicate_key(const char **keys, int n, bool *oom_flag) {
    if (n < 2) return -1;
    if (n <= 16) {
        for (int j = 1; j < n; j++)
            for (int k = 0; k < j; k++)
                if (strcmp(keys[j], keys[k]) == 0) return j;
        return -1;
    }
    key_ref *refs = malloc(sizeof(key_ref) * (size_t)n);
    if (!refs) {
        *oom_flag = true;
        return -1;
    }
    for (int k = 0; k < n; k++)
        refs[k] = (key_ref){keys[k], k};
    qsort(refs, (size_t)n, sizeof(key_ref), cmp_key_ref);
    int best = -1;
    for (int k = 1; k < n; k++)
        if (strcmp(refs[k].key, refs[k - 1].key) == 0 && (best < 0 || refs[k].index < best)) best = refs[k].index;
    free(refs);
    return best;
}

static vkg_result frame_push_item(parser *p, frame *f, const vkg_value *v) {
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        vkg_value *items = realloc(f->items, sizeof(*items) * (size_t)cap);
        if (!items) return oom(p);
        f->items = items;
        if (f->is_map) {
            const char **keys = realloc(f->keys, sizeof(*keys) * (size_t)cap);
            if (!keys) return oom(p);
            f->keys = keys;
            vkg_loc *kl = realloc(f->key_locs, sizeof(*kl) * (size_t)cap);
            if (!kl) return oom(p);
            f->key_locs = kl;
        }
        f->cap = cap;
    }
    f->items[f->n] = *v;
    if (f->is_map) {
        f->keys[f->n] = f->key;
        f->key_locs[f->n] = f->key_loc;
        f->have_key = false;
    }
    f->n++;
    return VKG_OK;
}

/* A finished value: the root, a list item, or a map key or value. */
static vkg_result add_value(parser *p, const vkg_value *v, bool plain_scalar) {
    if (p->depth == 0) {
        if (v->kind != VKG_VALUE_MAP)
            return error_at(p, v->loc.line, v->loc.col, "the top level of a graph file must be a mapping (name: ..., body: [...])");
        p->root = vkg__yaml_alloc(p->a, sizeof(vkg_value));
        if (!p->root) return oom(p);
        *p->root = *v;
        return VKG_OK;
    }
    frame *f = &p->stack[p->depth - 1];
    if (f->is_map && !f->have_key) {
        if (v->kind == VKG_VALUE_LIST || v->kind == VKG_VALUE_MAP)
            return error_at(p, v->loc.line, v->loc.col, "a mapping key must be a scalar");
        if (plain_scalar && v->s && strcmp(v->s, "<<") == 0)
            return error_at(p, v->loc.line, v->loc.col, "merge keys (<<) are not allowed in graph files");
        f->key = v->s;
        f->key_loc = v->loc;
        f->have_key = true;
        return VKG_OK;
    }
    return frame_push_item(p, f, v);
}

static vkg_result open_collection(parser *p, bool is_map, yaml_mark_t m) {
    vkg_loc loc = mark_loc(p, m);
    if (p->depth >= VKG__YAML_MAX_DEPTH) return error_at(p, loc.line, loc.col, "nesting deeper than %d levels", VKG__YAML_MAX_DEPTH);
    if (p->depth > 0) {
        frame *up = &p->stack[p->depth - 1];
        if (up->is_map && !up->have_key) return error_at(p, loc.line, loc.col, "a mapping key must be a scalar");
    }
    frame *f = &p->stack[p->depth++];
    memset(f, 0, sizeof(*f));
    f->is_map = is_map;
    f->loc = loc;
    return VKG_OK;
}

static vkg_result close_collection(parser *p) {
    frame *f = &p->stack[p->depth - 1];
    vkg_value v = {.kind = f->is_map ? VKG_VALUE_MAP : VKG_VALUE_LIST, .loc = f->loc, .n = f->n};
    if (f->is_map) {
        bool fail = false;
        int dup = find_duplicate_key(f->keys, f->n, &fail);
        if (fail) return oom(p);
        if (dup >= 0) return error_at(p, f->key_locs[dup].line, f->key_locs[dup].col, "duplicate key '%s'", f->keys[dup]);
    }
    if (f->n > 0) {
        v.items = vkg__yaml_alloc(p->a, sizeof(vkg_value) * (size_t)f->n);
        if (!v.items) return oom(p);
        memcpy(v.items, f->items, sizeof(vkg_value) * (size_t)f->n);
        if (f->is_map) {
            v.keys = vkg__yaml_alloc(p->a, sizeof(char *) * (size_t)f->n);
            v.key_locs = vkg__yaml_alloc(p->a, sizeof(vkg_loc) * (size_t)f->n);
            if (!v.keys || !v.key_locs) return oom(p);
            memcpy(v.keys, f->keys, sizeof(char *) * (size_t)f->n);
            memcpy(v.key_locs, f->key_locs, sizeof(vkg_loc) * (size_t)f->n);
        }
    }
    frame_release(f);
    p->depth--;
    return add_value(p, &v, false);
}

static vkg_result on_scalar(parser *p, const yaml_event_t *ev) {
    vkg_loc loc = mark_loc(p, ev->start_mark);
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (memchr(s, 0, n)) return error_at(p, loc.line, loc.col, "a NUL character in a string");
    vkg_value v = {.loc = loc};
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    bool is_key = p->depth > 0 && p->stack[p->depth - 1].is_map && !p->stack[p->depth - 1].have_key;
    if (is_key || !plain) {
        /* keys are names whatever they look like */
        v.kind = VKG_VALUE_STRING;
        v.s = vkg__yaml_strndup(p->a, s, n);
        if (!v.s) return oom(p);
        if (is_key && plain && n == 0) return error_at(p, loc.line, loc.col, "an empty mapping key");
    } else {
        if (!vkg__yaml_resolve_plain(p->a, s, n, &v))
            return error_at(p, loc.line, loc.col, "integer out of the 64-bit range: %.*s", n > 40 ? 40 : (int)n, s);
        if (v.kind == VKG_VALUE_STRING && !v.s) return oom(p);
    }
    return add_value(p, &v, plain);
}

static vkg_result on_event(parser *p, const yaml_event_t *ev) {
    vkg_loc loc = mark_loc(p, ev->start_mark);
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor) return error_at(p, loc.line, loc.col, "anchors (&%s) are not allowed in graph files", (const char *)anchor);
    if (tag) return error_at(p, loc.line, loc.col, "tags (%s) are not allowed in graph files", (const char *)tag);

    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return VKG_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++p->n_docs > 1) return error_at(p, loc.line, loc.col, "a graph file holds one YAML document; a second one starts here");
        if (ev->data.document_start.tag_directives.start != ev->data.document_start.tag_directives.end)
            return error_at(p, loc.line, loc.col, "%%TAG directives are not allowed in graph files");
        return VKG_OK;
    case YAML_STREAM_END_EVENT:
        if (!p->root) return error_at(p, 1, 1, "the file is empty; a graph file is a mapping with name and body");
        return VKG_OK;
    case YAML_ALIAS_EVENT:
        return error_at(p, loc.line, loc.col, "aliases (*%s) are not allowed in graph files", (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(p, ev);
    case YAML_SEQUENCE_START_EVENT:
        return open_collection(p, false, ev->start_mark);
    case YAML_MAPPING_START_EVENT:
        return open_collection(p, true, ev->start_mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(p);
    default:
        return VKG_OK;
    }
}

static vkg_result parser_error(parser *p, const yaml_parser_t *yp) {
    switch (yp->error) {
    case YAML_MEMORY_ERROR:
        return oom(p);
    case YAML_READER_ERROR: {
        int line, col;
        offset_to_linecol(p->text, p->len, yp->problem_offset, &line, &col);
        return error_at(p, line, col, "bad input: %s", yp->problem ? yp->problem : "unreadable character");
    }
    default: {
        const char *problem = yp->problem ? yp->problem : "syntax error";
        if (yp->context)
            return error_at(p, (int)yp->problem_mark.line + 1, (int)yp->problem_mark.column + 1, "YAML syntax error: %s (%s at line %d)",
                            problem, yp->context, (int)yp->context_mark.line + 1);
        return error_at(p, (int)yp->problem_mark.line + 1, (int)yp->problem_mark.column + 1, "YAML syntax error: %s", problem);
    }
    }
}

vkg_result vkg__yaml_parse(vkg_context *ctx, vkg__yaml_arena *a, const char *file, const char *text, size_t len, vkg_value **out) {
    parser p = {.ctx = ctx, .a = a, .file = file ? file : "<graph>", .text = text, .len = len};
    *out = NULL;
    if (len > VKG__YAML_MAX_BYTES)
        return error_at(&p, 1, 1, "the file is %zu bytes; graph files are limited to %zu bytes (16 MiB)", len, VKG__YAML_MAX_BYTES);
    bool is_nul = false;
    size_t bad = find_bad_byte((const unsigned char *)text, len, &is_nul);
    if (bad < len) {
        int line, col;
        offset_to_linecol(text, len, bad, &line, &col);
        if (is_nul) return error_at(&p, line, col, "a NUL byte: graph files are UTF-8 text");
        return error_at(&p, line, col, "invalid UTF-8 (byte 0x%02x)", (unsigned char)text[bad]);
    }

    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) return oom(&p);
    /* The encoding is left to libyaml so that it skips a UTF-8 BOM; the text
     * is already known to be UTF-8 without NULs, so it cannot pick UTF-16. */
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);

    vkg_result r = VKG_OK;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            r = parser_error(&p, &yp);
            break;
        }
        r = on_event(&p, &ev);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (r != VKG_OK || end) break;
    }
    for (int k = 0; k < p.depth; k++)
        frame_release(&p.stack[k]);
    yaml_parser_delete(&yp);
    if (r == VKG_OK) *out = p.root;
    return r;
}
