/*
 * test_util.h — helpers shared by the end-to-end tests: contexts with the
 * validation layer on, graphs loaded from text or files, runs on both
 * backends, comparisons with stated tolerances.
 */
#ifndef VKG_TEST_UTIL_H
#define VKG_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkg.h"
#include "vkg_frontend.h"

static inline const char *tu_source_root(void) {
    const char *r = getenv("VKG_SOURCE_ROOT");
    return r ? r : ".";
}

/* A Vulkan context on the default device with validation on; fails (never skips) without a device. */
static inline vkg_context *tu_vk_context(void) {
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = ""}, &ctx);
    cr_assert_eq(r, VKG_OK, "no Vulkan device: %s", ctx ? vkg_last_error(ctx) : vkg_result_string(r));
    return ctx;
}

static inline void tu_context_done(vkg_context *ctx) {
    cr_expect_eq(vkg_context_validation_messages(ctx), 0, "validation layer messages");
    vkg_context_destroy(ctx);
}

typedef struct tu_compare {
    double max_abs, max_rel, nmse;
} tu_compare;

/* max_rel is max |a-b| / (max |b| over the tensor), nmse = sum (a-b)^2 / sum b^2. */
static inline tu_compare tu_compare_f32(const float *a, const float *b, int64_t n) {
    tu_compare c = {0};
    double se = 0, sb = 0, maxb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= c.max_abs)) c.max_abs = d;   /* NaN propagates */
        se += d * d;
        sb += (double)b[i] * b[i];
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    c.max_rel = c.max_abs / (maxb > 0 ? maxb : 1);
    c.nmse = sb > 0 ? se / sb : se;
    return c;
}

static inline int64_t tu_numel(const vkg_host_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->ne[i];
    return n;
}

/* Runs model m on one backend with the given inputs; returns a malloc'd copy of output 0. */
static inline float *tu_run(vkg_context *ctx, vkg_model *m, vkg_backend backend, int n_inputs, const char *const *names,
                            const vkg_host_tensor *inputs, vkg_host_tensor *out_shape) {
    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend}, &s), VKG_OK, "%s", vkg_last_error(ctx));
    for (int i = 0; i < n_inputs; i++)
        cr_assert_eq(vkg_session_set_input(s, names[i], &inputs[i]), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_result r = vkg_session_run(s);
    cr_assert_eq(r, VKG_OK, "run (%s): %s", backend == VKG_BACKEND_CPU ? "cpu" : "vulkan", vkg_last_error(ctx));
    vkg_host_tensor o;
    cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
    size_t bytes = (size_t)tu_numel(&o) * 4;
    float *copy = malloc(bytes);
    memcpy(copy, o.data, bytes);
    *out_shape = o;
    out_shape->data = copy;
    vkg_session_destroy(s);
    return copy;
}

#endif
