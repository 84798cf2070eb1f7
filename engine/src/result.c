/*
 * result.c — the context object, results and their messages, logging, the
 * host allocator and small string helpers. Calls vk_device.c to open a device.
 */
#include "vkg_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const result_strings[VKG_RESULT_COUNT] = {
#define VKG__X(code, msg) msg,
    VKG_RESULT_LIST(VKG__X)
#undef VKG__X
};

const char *vkg_result_string(vkg_result r) {
    if ((unsigned)r >= VKG_RESULT_COUNT) return "unknown result";
    return result_strings[r];
}

void vkg__assert_fail(const char *what, const char *file, int line) {
    /* Internal invariant broken: a bug in the engine, not in its input. */
    fprintf(stderr, "vkgraph: internal error: %s (%s:%d)\n", what, file, line);
    abort();
}

static const char *const dtype_names[VKG_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32"};
static const size_t dtype_sizes[VKG_DTYPE_COUNT] = {4, 2, 2, 4};

const char *vkg_dtype_name(vkg_dtype t) { return (unsigned)t < VKG_DTYPE_COUNT ? dtype_names[t] : "?"; }
size_t vkg_dtype_size(vkg_dtype t) { return (unsigned)t < VKG_DTYPE_COUNT ? dtype_sizes[t] : 0; }

// >>errors
static vkg_result verror(vkg_context *ctx, vkg_result r, const char *prefix, const char *fmt, va_list ap) {
    if (!ctx) return r;
    int n = snprintf(ctx->err, sizeof ctx->err, "%s", prefix);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof ctx->err) vsnprintf(ctx->err + n, sizeof ctx->err - (size_t)n, fmt, ap);
    return r;
}

vkg_result vkg__error(vkg_context *ctx, vkg_result r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(ctx, r, "", fmt, ap);
    va_end(ap);
    return r;
}

vkg_result vkg__error_at(vkg_context *ctx, vkg_result r, vkg_loc loc, const char *fmt, ...) {
    char prefix[512] = "";
    if (loc.line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d:%d: ", loc.file ? loc.file : "<graph>", loc.line, loc.col);
    va_list ap;
    va_start(ap, fmt);
    verror(ctx, r, prefix, fmt, ap);
    va_end(ap);
    return r;
}

vkg_result vkg_context_set_error(vkg_context *ctx, vkg_result r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(ctx, r, "", fmt, ap);
    va_end(ap);
    return r;
}

const char *vkg_last_error(const vkg_context *ctx) {
    if (!ctx) return "no context";
    return ctx->err;
}

void vkg__log(vkg_context *ctx, vkg_log_level level, const char *fmt, ...) {
    if (!ctx || !ctx->desc.log) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->desc.log(level, buf, ctx->desc.log_user);
}

// >>host memory
static void *default_alloc(size_t size, void *user) { (void)user; return malloc(size); }
static void default_free(void *p, void *user) { (void)user; free(p); }

void *vkg__malloc(vkg_context *ctx, size_t size) {
    if (size == 0) size = 1;
    return ctx->alloc.alloc(size, ctx->alloc.user);
}

void *vkg__calloc(vkg_context *ctx, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return NULL;
    void *p = vkg__malloc(ctx, total);
    if (p) memset(p, 0, total);
    return p;
}

void vkg__free(vkg_context *ctx, void *p) {
    if (p) ctx->alloc.free(p, ctx->alloc.user);
}

char *vkg__strdup(vkg_context *ctx, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = vkg__malloc(ctx, n);
    if (d) memcpy(d, s, n);
    return d;
}

// >>suggestions
int vkg__edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 1000;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int sub = prev + (a[i - 1] != b[j - 1]);
            int del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = VKG__MIN(sub, VKG__MIN(del, ins));
            prev = cur;
        }
    }
    return row[lb];
}

const char *vkg__closest(const char *word, const char *const *choices, int n) {
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; i < n && choices[i]; i++) {
        int d = vkg__edit_distance(word, choices[i]);
        if (d < best_d) { best_d = d; best = choices[i]; }
    }
    return best;
}

// >>context
vkg_result vkg_context_create(const vkg_context_desc *desc, vkg_context **out) {
    if (!desc || !out) return VKG_ERR_INVALID_ARG;
    *out = NULL;
    vkg_allocator alloc = desc->allocator;
    if (!alloc.alloc || !alloc.free) alloc = (vkg_allocator){default_alloc, default_free, NULL};
    if ((unsigned)desc->backend >= VKG_BACKEND_COUNT) return VKG_ERR_INVALID_ARG;
    vkg_context *ctx = alloc.alloc(sizeof *ctx, alloc.user);
    if (!ctx) return VKG_ERR_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    ctx->desc = *desc;
    ctx->alloc = alloc;
    ctx->desc.allocator = alloc;
    if (desc->backend == VKG_BACKEND_VULKAN) {
        vkg_result r = vkg__vk_device_create(ctx);
        if (r != VKG_OK) {
            /* As sqlite3_open: hand back a context without a device that
             * holds the message; the caller destroys it. */
            vkg__vk_device_destroy(ctx);
            *out = ctx;
            return r;
        }
    }
    *out = ctx;
    return VKG_OK;
}

void vkg_context_destroy(vkg_context *ctx) {
    if (!ctx) return;
    if (ctx->vk) vkg__vk_device_destroy(ctx);
    vkg_allocator a = ctx->alloc;
    a.free(ctx, a.user);
}

uint32_t vkg_context_validation_messages(const vkg_context *ctx) {
    return ctx && ctx->vk ? ctx->vk->validation_messages : 0;
}

const char *vkg_context_device_name(const vkg_context *ctx) {
    if (!ctx || !ctx->vk) return "cpu";
    return ctx->vk->props.deviceName;
}
