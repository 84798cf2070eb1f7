/*
 * test_vk.c — the Vulkan runtime (vk_device.c, vk_buffer.c, vk_pipeline.c,
 * vk_program.c) on the default device (lavapipe here and in CI) with the
 * validation layer on: device selection, buffers and the memory budget,
 * programs of copy dispatches and their barrier count, timestamps, the
 * pipeline cache file, external devices, device-lost handling.
 * Fails (never skips) when no Vulkan device is found.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vk_internal.h"
#include "vkg_impl.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#define LOCAL 64u

/* Validation messages forwarded to the log, counted also during teardown
 * (after which the context's own counter is gone). Each test is a process. */
static int n_vulkan_messages;

static void log_fn(vkg_log_level level, const char *msg, void *user) {
    (void)user;
    if (level < VKG_LOG_WARN) return;
    if (strncmp(msg, "vulkan ", 7) == 0) n_vulkan_messages++;
    fprintf(stderr, "[vkg %d] %s\n", (int)level, msg);
}

static vkg_context *open_ctx(vkg_context_desc desc) {
    desc.validation = true;
    if (!desc.pipeline_cache_dir) desc.pipeline_cache_dir = "";
    desc.log = log_fn;
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&desc, &ctx);
    cr_assert_eq(r, VKG_OK, "context: %s: %s", vkg_result_string(r), ctx ? vkg_last_error(ctx) : "");
    cr_assert_not_null(ctx->vk);
    return ctx;
}

static void close_ctx(vkg_context *ctx) {
    uint32_t msgs = vkg_context_validation_messages(ctx);
    vkg_context_destroy(ctx);
    cr_assert_eq(msgs, 0, "%u validation messages", msgs);
    cr_assert_eq(n_vulkan_messages, 0, "%d validation messages (teardown included)", n_vulkan_messages);
}

static vkg__vk_buffer make_buf(vkg_context *ctx, uint64_t bytes, vkg__mem_kind kind) {
    vkg__vk_buffer b;
    vkg_result r = vkg__vk_buffer_create(ctx, bytes, kind, &b);
    cr_assert_eq(r, VKG_OK, "buffer of %llu: %s", (unsigned long long)bytes, vkg_last_error(ctx));
    return b;
}

static float *make_data(uint32_t n, float base) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (uint32_t i = 0; i < n; i++) x[i] = base + (float)i * 0.5f - (float)(i % 7) * 3.25f;
    return x;
}

/* y[yoff..] = x[xoff..] for n floats; offsets in bytes. */
static vkg__vk_dispatch copy_dispatch(const vkg__vk_buffer *x, uint64_t xoff, const vkg__vk_buffer *y, uint64_t yoff, uint32_t n) {
    vkg__vk_dispatch d = {0};
    d.kernel = VKG_KERNEL_COPY;
    d.spec[0] = LOCAL;
    d.n_spec = 1;
    vkg_pc_copy pc = {.n = n};
    memcpy(d.pc, &pc, sizeof pc);
    d.pc_size = sizeof pc;
    d.n_bind = 2;
    d.bind[0] = (vkg__vk_binding){x->buffer, xoff, (uint64_t)n * 4};
    d.bind[1] = (vkg__vk_binding){y->buffer, yoff, (uint64_t)n * 4};
    d.writes = 2;
    d.groups[0] = (n + LOCAL - 1) / LOCAL;
    d.groups[1] = d.groups[2] = 1;
    if (d.groups[0] == 0) d.groups[0] = 1;
    d.node = -1;
    return d;
}

static void check_buf(vkg_context *ctx, const vkg__vk_buffer *b, uint64_t off, const float *want, uint32_t n) {
    float *got = malloc(sizeof(float) * (n ? n : 1));
    vkg_result r = vkg__vk_download(ctx, b, off, got, (uint64_t)n * 4);
    cr_assert_eq(r, VKG_OK, "download: %s", vkg_last_error(ctx));
    for (uint32_t i = 0; i < n; i++) cr_assert_eq(got[i], want[i], "element %u of %u: %g != %g", i, n, got[i], want[i]);
    free(got);
}

static vkg__vk_program *build(vkg_context *ctx, const vkg__vk_dispatch *d, int n) {
    vkg__vk_program *p = NULL;
    vkg_result r = vkg__vk_program_create(ctx, d, n, &p);
    cr_assert_eq(r, VKG_OK, "program: %s", vkg_last_error(ctx));
    return p;
}

static void run(vkg_context *ctx, vkg__vk_program *p) {
    vkg_result r = vkg__vk_program_run(ctx, p);
    cr_assert_eq(r, VKG_OK, "run: %s", vkg_last_error(ctx));
}

Test(vk, context_with_validation) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    vkg__vk_device *vk = ctx->vk;
    cr_assert(strlen(vkg_context_device_name(ctx)) > 0);
    cr_assert(vk->subgroup_size >= 1);
    cr_assert(vk->storage_align >= 1);
    cr_assert(vk->max_storage_range >= 1u << 27 || vk->max_storage_range > 0);
    cr_assert(vkg__vk_priv(ctx)->validation);
    if (vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) cr_assert_eq(vk->devclass, VKG__DEVCLASS_CPU);
    else cr_assert_eq(vk->devclass, VKG__DEVCLASS_GPU);
    close_ctx(ctx);
}

Test(vk, result_names_and_check) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    cr_assert_str_eq(vkg__vk_result_name(VK_ERROR_OUT_OF_DEVICE_MEMORY), "VK_ERROR_OUT_OF_DEVICE_MEMORY");
    cr_assert_eq(vkg__vk_check(ctx, VK_SUCCESS, "x"), VKG_OK);
    cr_assert_eq(vkg__vk_check(ctx, VK_ERROR_OUT_OF_DEVICE_MEMORY, "alloc"), VKG_ERR_DEVICE_MEMORY);
    cr_assert(strstr(vkg_last_error(ctx), "alloc: VK_ERROR_OUT_OF_DEVICE_MEMORY") != NULL);
    cr_assert_eq(vkg__vk_check(ctx, VK_ERROR_INITIALIZATION_FAILED, "init"), VKG_ERR_VULKAN);
    cr_assert(!ctx->vk->lost);
    close_ctx(ctx);
}

Test(vk, buffers_roundtrip_all_kinds) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    static const uint32_t sizes[] = {1, 7, 13, 100, 257, 4099};
    for (int k = 0; k < VKG__MEM_KIND_COUNT; k++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            uint32_t n = sizes[s];
            vkg__vk_buffer b = make_buf(ctx, (uint64_t)n * 4, (vkg__mem_kind)k);
            float *x = make_data(n, (float)k);
            cr_assert_eq(vkg__vk_upload(ctx, &b, 0, x, (uint64_t)n * 4), VKG_OK);
            check_buf(ctx, &b, 0, x, n);
            /* Partial ranges at odd offsets. */
            if (n > 3) {
                float y[2] = {-1.0f, -2.0f};
                cr_assert_eq(vkg__vk_upload(ctx, &b, 4, y, 8), VKG_OK);
                x[1] = y[0];
                x[2] = y[1];
                check_buf(ctx, &b, 0, x, n);
                check_buf(ctx, &b, 8, x + 2, n - 2);
            }
            /* Out of range. */
            cr_assert_eq(vkg__vk_upload(ctx, &b, 4, x, (uint64_t)n * 4), VKG_ERR_INVALID_ARG);
            free(x);
            vkg__vk_buffer_destroy(ctx, &b);
        }
    cr_assert_eq(ctx->vk->allocated, 0);
    close_ctx(ctx);
}

/* Device buffers that are not host visible go through staging buffers; on
 * unified memory (lavapipe) force that path by hiding the mapping. */
Test(vk, staging_path) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    uint32_t n = 100003;
    vkg__vk_buffer a = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE);
    vkg__vk_buffer b = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE);
    void *ma = a.mapped, *mb = b.mapped;
    a.mapped = b.mapped = NULL;
    float *x = make_data(n, 3.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, x, (uint64_t)n * 4), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_dispatch d = copy_dispatch(&a, 0, &b, 0, n);
    vkg__vk_program *p = build(ctx, &d, 1);
    run(ctx, p);
    check_buf(ctx, &b, 0, x, n);
    check_buf(ctx, &b, 12, x + 3, 17);
    vkg__vk_program_destroy(ctx, p);
    a.mapped = ma;
    b.mapped = mb;
    free(x);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    close_ctx(ctx);
}

/* A -> B -> C -> D: each copy reads what the previous one wrote. */
Test(vk, copy_chain_barriers) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    static const uint32_t sizes[] = {1, 7, 13, 100, 257, 65537};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t n = sizes[s];
        vkg__vk_buffer buf[4];
        for (int i = 0; i < 4; i++) buf[i] = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE);
        float *x = make_data(n, (float)s);
        cr_assert_eq(vkg__vk_upload(ctx, &buf[0], 0, x, (uint64_t)n * 4), VKG_OK);
        vkg__vk_dispatch d[3] = {copy_dispatch(&buf[0], 0, &buf[1], 0, n), copy_dispatch(&buf[1], 0, &buf[2], 0, n),
                                 copy_dispatch(&buf[2], 0, &buf[3], 0, n)};
        vkg__vk_program *p = build(ctx, d, 3);
        cr_assert_eq(vkg__vk_program_barriers(p), 2);
        run(ctx, p);
        for (int i = 1; i < 4; i++) check_buf(ctx, &buf[i], 0, x, n);
        /* Runs again with new input: the program is reusable. */
        for (uint32_t i = 0; i < n; i++) x[i] = -x[i] + 1.0f;
        cr_assert_eq(vkg__vk_upload(ctx, &buf[0], 0, x, (uint64_t)n * 4), VKG_OK);
        run(ctx, p);
        check_buf(ctx, &buf[3], 0, x, n);
        vkg__vk_program_destroy(ctx, p);
        free(x);
        for (int i = 0; i < 4; i++) vkg__vk_buffer_destroy(ctx, &buf[i]);
    }
    close_ctx(ctx);
}

/* A -> B, A -> C, A -> D: only reads of A are shared, no barrier. */
Test(vk, independent_no_barrier) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    uint32_t n = 1000;
    vkg__vk_buffer buf[4];
    for (int i = 0; i < 4; i++) buf[i] = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE);
    float *x = make_data(n, 1.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &buf[0], 0, x, (uint64_t)n * 4), VKG_OK);
    vkg__vk_dispatch d[3] = {copy_dispatch(&buf[0], 0, &buf[1], 0, n), copy_dispatch(&buf[0], 0, &buf[2], 0, n),
                             copy_dispatch(&buf[0], 0, &buf[3], 0, n)};
    vkg__vk_program *p = build(ctx, d, 3);
    cr_assert_eq(vkg__vk_program_barriers(p), 0);
    run(ctx, p);
    for (int i = 1; i < 4; i++) check_buf(ctx, &buf[i], 0, x, n);
    vkg__vk_program_destroy(ctx, p);
    free(x);
    for (int i = 0; i < 4; i++) vkg__vk_buffer_destroy(ctx, &buf[i]);
    close_ctx(ctx);
}

/* B -> C then A -> B: the second writes what the first read (WAR). */
Test(vk, write_after_read_barrier) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    uint32_t n = 257;
    vkg__vk_buffer a = make_buf(ctx, n * 4, VKG__MEM_DEVICE), b = make_buf(ctx, n * 4, VKG__MEM_DEVICE),
                   c = make_buf(ctx, n * 4, VKG__MEM_DEVICE);
    float *xa = make_data(n, 10.0f), *xb = make_data(n, -20.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, xa, n * 4), VKG_OK);
    cr_assert_eq(vkg__vk_upload(ctx, &b, 0, xb, n * 4), VKG_OK);
    vkg__vk_dispatch d[2] = {copy_dispatch(&b, 0, &c, 0, n), copy_dispatch(&a, 0, &b, 0, n)};
    vkg__vk_program *p = build(ctx, d, 2);
    cr_assert_eq(vkg__vk_program_barriers(p), 1);
    run(ctx, p);
    check_buf(ctx, &c, 0, xb, n);
    check_buf(ctx, &b, 0, xa, n);
    vkg__vk_program_destroy(ctx, p);
    free(xa);
    free(xb);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    vkg__vk_buffer_destroy(ctx, &c);
    close_ctx(ctx);
}

/* Disjoint sub-ranges of one buffer need no barrier; overlapping ones do. */
Test(vk, subrange_tracking) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    uint64_t align = ctx->vk->storage_align;
    uint32_t n = 13;
    uint64_t half = ((uint64_t)n * 4 + align - 1) / align * align;   /* aligned offset of the second half */
    vkg__vk_buffer a = make_buf(ctx, n * 4, VKG__MEM_DEVICE), x = make_buf(ctx, 2 * half, VKG__MEM_DEVICE),
                   y = make_buf(ctx, n * 4, VKG__MEM_DEVICE), z = make_buf(ctx, n * 4, VKG__MEM_DEVICE);
    float *xa = make_data(n, 5.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, xa, n * 4), VKG_OK);
    vkg__vk_dispatch d[4] = {
        copy_dispatch(&a, 0, &x, 0, n),      /* writes x[0, 52) */
        copy_dispatch(&a, 0, &x, half, n),   /* writes x[half, +52): disjoint, no barrier */
        copy_dispatch(&x, half, &y, 0, n),   /* reads x[half..]: barrier */
        copy_dispatch(&x, 0, &z, 0, n),      /* reads x[0..]: already behind the barrier */
    };
    vkg__vk_program *p = build(ctx, d, 4);
    cr_assert_eq(vkg__vk_program_barriers(p), 1);
    run(ctx, p);
    check_buf(ctx, &y, 0, xa, n);
    check_buf(ctx, &z, 0, xa, n);
    check_buf(ctx, &x, half, xa, n);
    vkg__vk_program_destroy(ctx, p);
    free(xa);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &x);
    vkg__vk_buffer_destroy(ctx, &y);
    vkg__vk_buffer_destroy(ctx, &z);
    close_ctx(ctx);
}

/* Whole-buffer bindings (range 0) and a 2D grid of groups. */
Test(vk, whole_buffer_and_2d_groups) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    uint32_t n = 1000;
    vkg__vk_buffer a = make_buf(ctx, n * 4, VKG__MEM_UPLOAD), b = make_buf(ctx, n * 4, VKG__MEM_READBACK);
    float *x = make_data(n, 2.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, x, n * 4), VKG_OK);
    vkg__vk_dispatch d = copy_dispatch(&a, 0, &b, 0, n);
    d.bind[0].range = d.bind[1].range = 0;
    d.groups[0] = 4;
    d.groups[1] = 4;   /* 4 * 4 * 64 = 1024 >= 1000 */
    vkg__vk_program *p = build(ctx, &d, 1);
    run(ctx, p);
    check_buf(ctx, &b, 0, x, n);
    vkg__vk_program_destroy(ctx, p);
    free(x);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    close_ctx(ctx);
}

Test(vk, pipelines_cached) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    const vkg__vk_pipeline *p1, *p2, *p3, *p4;
    uint32_t s64[1] = {64}, s32[1] = {32};
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, s64, 1, 2, &p1), VKG_OK);
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, s64, 1, 2, &p2), VKG_OK);
    cr_assert_eq(p1, p2);
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, s32, 1, 2, &p3), VKG_OK);
    cr_assert_neq(p1, p3);
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, s64, 1, 3, &p4), VKG_OK);
    cr_assert_neq(p1, p4);
    cr_assert_eq(vkg__vk_pipeline_count(ctx), 3);
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COUNT, s64, 1, 2, &p4), VKG_ERR_INVALID_ARG);
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, s64, 1, VKG__MAX_BINDINGS + 1, &p4), VKG_ERR_INVALID_ARG);
    close_ctx(ctx);
}

Test(vk, bad_dispatches) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    vkg__vk_buffer a = make_buf(ctx, 256, VKG__MEM_DEVICE);
    vkg__vk_program *p = NULL;
    vkg__vk_dispatch d = copy_dispatch(&a, 0, &a, 128, 8);
    d.kernel = -1;
    cr_assert_eq(vkg__vk_program_create(ctx, &d, 1, &p), VKG_ERR_INVALID_ARG);
    d = copy_dispatch(&a, 0, &a, 128, 8);
    d.pc_size = 132;
    cr_assert_eq(vkg__vk_program_create(ctx, &d, 1, &p), VKG_ERR_INVALID_ARG);
    d = copy_dispatch(&a, 0, &a, 128, 8);
    d.bind[1].buffer = VK_NULL_HANDLE;
    cr_assert_eq(vkg__vk_program_create(ctx, &d, 1, &p), VKG_ERR_INVALID_ARG);
    if (ctx->vk->storage_align > 1) {
        d = copy_dispatch(&a, 0, &a, 128 + 1, 8);
        cr_assert_eq(vkg__vk_program_create(ctx, &d, 1, &p), VKG_ERR_INVALID_ARG);
    }
    cr_assert_null(p);
    /* An empty program is fine. */
    cr_assert_eq(vkg__vk_program_create(ctx, NULL, 0, &p), VKG_OK);
    run(ctx, p);
    vkg__vk_program_destroy(ctx, p);
    vkg__vk_buffer_destroy(ctx, &a);
    cr_assert_eq(vkg__vk_buffer_create(ctx, 0, VKG__MEM_DEVICE, &a), VKG_ERR_INVALID_ARG);
    cr_assert_null(a.buffer);
    close_ctx(ctx);
}

Test(vk, device_memory_limit) {
    vkg_context *ctx = open_ctx((vkg_context_desc){.device_memory_limit = 1 << 20});
    vkg__vk_buffer a = make_buf(ctx, 600 << 10, VKG__MEM_DEVICE), b;
    cr_assert_eq(ctx->vk->allocated, 600 << 10);
    cr_assert_eq(vkg__vk_buffer_create(ctx, 600 << 10, VKG__MEM_DEVICE, &b), VKG_ERR_DEVICE_MEMORY);
    cr_assert_null(b.buffer);
    b = make_buf(ctx, 400 << 10, VKG__MEM_READBACK);
    vkg__vk_buffer_destroy(ctx, &a);
    a = make_buf(ctx, 600 << 10, VKG__MEM_DEVICE);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    cr_assert_eq(ctx->vk->allocated, 0);
    close_ctx(ctx);
}

Test(vk, allocation_larger_than_device) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    vkg__vk_buffer b;
    cr_assert_eq(vkg__vk_buffer_create(ctx, 1ull << 50, VKG__MEM_DEVICE, &b), VKG_ERR_DEVICE_MEMORY, "%s", vkg_last_error(ctx));
    cr_assert_eq(ctx->vk->allocated, 0);
    close_ctx(ctx);
}

Test(vk, device_selection) {
    /* By index. */
    vkg_context *ctx = open_ctx((vkg_context_desc){.device = "0"});
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    snprintf(name, sizeof name, "%s", vkg_context_device_name(ctx));
    close_ctx(ctx);
    /* By a case-changed substring of that name. */
    char sub[8] = {0};
    size_t len = strlen(name);
    size_t start = len > 6 ? 1 : 0;
    for (size_t i = 0; i < 5 && start + i < len; i++) {
        char c = name[start + i];
        sub[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    ctx = open_ctx((vkg_context_desc){.device = sub});
    cr_assert(strlen(vkg_context_device_name(ctx)) > 0);
    close_ctx(ctx);
    /* No match: an error, and the context holds the message. */
    const char *bad[] = {"no-such-gpu-xyz", "999"};
    for (int i = 0; i < 2; i++) {
        vkg_context *c2 = NULL;
        vkg_result r = vkg_context_create(&(vkg_context_desc){.device = bad[i], .validation = true, .pipeline_cache_dir = ""}, &c2);
        cr_assert_eq(r, VKG_ERR_NO_DEVICE);
        cr_assert_not_null(c2);
        cr_assert_null(c2->vk);
        vkg_context_destroy(c2);
    }
}

Test(vk, list_devices) {
    char buf[4096];
    cr_assert_eq(vkg_list_devices(buf, sizeof buf), VKG_OK);
    cr_assert(strncmp(buf, "0: ", 3) == 0, "%s", buf);
    cr_assert(strstr(buf, "subgroup") != NULL);
    char small[8];
    cr_assert_eq(vkg_list_devices(small, sizeof small), VKG_ERR_INVALID_ARG);
    cr_assert_eq(vkg_list_devices(NULL, 0), VKG_ERR_INVALID_ARG);
}

Test(vk, timestamps_when_profiling) {
    vkg_context *ctx = open_ctx((vkg_context_desc){.profile = true});
    cr_assert(ctx->vk->timestamp_period > 0, "the device has no timestamps");
    uint32_t n = 1 << 20;
    vkg__vk_buffer a = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE), b = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE),
                   c = make_buf(ctx, (uint64_t)n * 4, VKG__MEM_DEVICE);
    float *x = make_data(n, 0.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, x, (uint64_t)n * 4), VKG_OK);
    vkg__vk_dispatch d[3] = {copy_dispatch(&a, 0, &b, 0, n), copy_dispatch(&b, 0, &c, 0, n), copy_dispatch(&c, 0, &a, 0, n)};
    vkg__vk_program *p = build(ctx, d, 3);
    double start[3], dur[3];
    cr_assert_eq(vkg__vk_program_timings(p, start, dur, 3), 0);   /* not run yet */
    run(ctx, p);
    cr_assert_eq(vkg__vk_program_timings(p, start, dur, 3), 3);
    cr_assert_eq(start[0], 0.0);
    double total = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert(dur[i] >= 0 && dur[i] < 10e6, "dur %g", dur[i]);
        if (i) cr_assert(start[i] >= start[i - 1]);
        total += dur[i];
    }
    cr_assert(total > 0, "no time measured");
    cr_assert_eq(vkg__vk_program_timings(p, start, dur, 2), 2);
    check_buf(ctx, &c, 0, x, n);
    vkg__vk_program_destroy(ctx, p);
    free(x);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    vkg__vk_buffer_destroy(ctx, &c);
    close_ctx(ctx);
}

static int count_cache_files(const char *dir, long *size) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".vkpc") == 0) {
            char path[1024];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (stat(path, &st) == 0) *size = (long)st.st_size;
            n++;
        }
    }
    closedir(d);
    return n;
}

Test(vk, pipeline_cache_file) {
    char tmpl[] = "/tmp/vkg_test_cache_XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    char dir[256];
    snprintf(dir, sizeof dir, "%s/sub/dir", tmpl);   /* created on save */
    vkg_context *ctx = open_ctx((vkg_context_desc){.pipeline_cache_dir = dir});
    const vkg__vk_pipeline *pl;
    uint32_t spec[1] = {64};
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, spec, 1, 2, &pl), VKG_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s", ctx->vk->pipeline_cache_path);
    close_ctx(ctx);
    long size = 0;
    cr_assert_eq(count_cache_files(dir, &size), 1, "no cache file in %s", dir);
    cr_assert(size >= 32);
    /* Loads it again. */
    ctx = open_ctx((vkg_context_desc){.pipeline_cache_dir = dir});
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, spec, 1, 2, &pl), VKG_OK);
    close_ctx(ctx);
    /* A corrupt file starts empty, no error. */
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("garbage that is not a pipeline cache header at all.....", f);
    fclose(f);
    ctx = open_ctx((vkg_context_desc){.pipeline_cache_dir = dir});
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, spec, 1, 2, &pl), VKG_OK);
    close_ctx(ctx);
    cr_assert_eq(count_cache_files(dir, &size), 1);
    cr_assert(size >= 32);
    remove(path);
    char sub[300];
    rmdir(dir);
    snprintf(sub, sizeof sub, "%s/sub", tmpl);
    rmdir(sub);
    rmdir(tmpl);
}

Test(vk, no_cache_dir_when_empty) {
    vkg_context *ctx = open_ctx((vkg_context_desc){.pipeline_cache_dir = ""});
    cr_assert_null(ctx->vk->pipeline_cache_path);
    close_ctx(ctx);
}

/* Wraps the device of another context; the wrapper never destroys it. */
Test(vk, external_device) {
    vkg_context *owner = open_ctx((vkg_context_desc){0});
    vkg__vk_device *vk = owner->vk;
    vkg_external_device ext = {vk->instance, vk->phys, vk->device, vk->queue, vk->queue_family};
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.external = &ext, .pipeline_cache_dir = "", .log = log_fn}, &ctx);
    cr_assert_eq(r, VKG_OK, "%s", ctx ? vkg_last_error(ctx) : "");
    cr_assert(ctx->vk->external);
    uint32_t n = 100;
    vkg__vk_buffer a = make_buf(ctx, n * 4, VKG__MEM_DEVICE), b = make_buf(ctx, n * 4, VKG__MEM_DEVICE);
    float *x = make_data(n, 7.0f);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, x, n * 4), VKG_OK);
    vkg__vk_dispatch d = copy_dispatch(&a, 0, &b, 0, n);
    vkg__vk_program *p = build(ctx, &d, 1);
    run(ctx, p);
    check_buf(ctx, &b, 0, x, n);
    vkg__vk_program_destroy(ctx, p);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    free(x);
    vkg_context_destroy(ctx);
    /* The owner's device still works. */
    vkg__vk_buffer c = make_buf(owner, 64, VKG__MEM_DEVICE);
    vkg__vk_buffer_destroy(owner, &c);
    close_ctx(owner);
}

/* After a device loss every call fails fast and teardown still works. */
Test(vk, device_lost_is_sticky) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    vkg__vk_buffer a = make_buf(ctx, 64, VKG__MEM_DEVICE);
    vkg__vk_dispatch d = copy_dispatch(&a, 0, &a, 32, 8);
    vkg__vk_program *p = build(ctx, &d, 1);
    cr_assert_eq(vkg__vk_check(ctx, VK_ERROR_DEVICE_LOST, "vkQueueSubmit"), VKG_ERR_DEVICE_LOST);
    cr_assert(ctx->vk->lost);
    vkg__vk_buffer b;
    float x[4] = {0};
    cr_assert_eq(vkg__vk_buffer_create(ctx, 64, VKG__MEM_DEVICE, &b), VKG_ERR_DEVICE_LOST);
    cr_assert_eq(vkg__vk_upload(ctx, &a, 0, x, sizeof x), VKG_ERR_DEVICE_LOST);
    cr_assert_eq(vkg__vk_download(ctx, &a, 0, x, sizeof x), VKG_ERR_DEVICE_LOST);
    cr_assert_eq(vkg__vk_program_run(ctx, p), VKG_ERR_DEVICE_LOST);
    vkg__vk_program *p2 = NULL;
    cr_assert_eq(vkg__vk_program_create(ctx, &d, 1, &p2), VKG_ERR_DEVICE_LOST);
    /* Not really lost: let teardown free everything so validation stays quiet. */
    ctx->vk->lost = false;
    vkg__vk_program_destroy(ctx, p);
    vkg__vk_buffer_destroy(ctx, &a);
    close_ctx(ctx);
}

/* The messenger counts what the layer reports: a dispatch that reads what
 * the previous one wrote, hidden from the tracker by a wrong `writes` mask,
 * is a hazard that synchronization validation reports. */
Test(vk, validation_counts_hazards) {
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = ""}, &ctx);
    cr_assert_eq(r, VKG_OK, "%s", ctx ? vkg_last_error(ctx) : "");
    uint32_t n = 100;
    vkg__vk_buffer a = make_buf(ctx, n * 4, VKG__MEM_DEVICE), b = make_buf(ctx, n * 4, VKG__MEM_DEVICE),
                   c = make_buf(ctx, n * 4, VKG__MEM_DEVICE);
    vkg__vk_dispatch d[2] = {copy_dispatch(&a, 0, &b, 0, n), copy_dispatch(&b, 0, &c, 0, n)};
    d[0].writes = 0;   /* lie: b looks read-only */
    vkg__vk_program *p = build(ctx, d, 2);
    cr_assert_eq(vkg__vk_program_barriers(p), 0);
    run(ctx, p);
    cr_assert(vkg_context_validation_messages(ctx) > 0, "synchronization validation is not on");
    vkg__vk_program_destroy(ctx, p);
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    vkg__vk_buffer_destroy(ctx, &c);
    vkg_context_destroy(ctx);
}

/* Teardown of a context whose device is marked lost frees what it owns. */
Test(vk, destroy_after_loss) {
    vkg_context *ctx = open_ctx((vkg_context_desc){0});
    vkg__vk_buffer a = make_buf(ctx, 64, VKG__MEM_DEVICE);
    vkg__vk_dispatch d = copy_dispatch(&a, 0, &a, 32, 8);
    vkg__vk_program *p = build(ctx, &d, 1);
    run(ctx, p);
    ctx->vk->lost = true;
    vkg__vk_program_destroy(ctx, p);
    vkg__vk_buffer_destroy(ctx, &a);
    close_ctx(ctx);
}

/* Validation requested but the layer cannot be found: VKG_ERR_UNSUPPORTED. */
Test(vk, validation_layer_missing) {
    setenv("VK_LAYER_PATH", "/nonexistent-vkg-layers", 1);
    setenv("VK_ADD_LAYER_PATH", "/nonexistent-vkg-layers", 1);
    setenv("XDG_DATA_DIRS", "/nonexistent-vkg-layers", 1);
    setenv("XDG_DATA_HOME", "/nonexistent-vkg-layers", 1);
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = ""}, &ctx);
    cr_assert_eq(r, VKG_ERR_UNSUPPORTED, "%s: %s", vkg_result_string(r), ctx ? vkg_last_error(ctx) : "");
    cr_assert_null(ctx->vk);
    vkg_context_destroy(ctx);
}

/* pipeline_cache_dir NULL: $XDG_CACHE_HOME/vkgraph. */
Test(vk, pipeline_cache_default_dir) {
    char tmpl[] = "/tmp/vkg_test_xdg_XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    setenv("XDG_CACHE_HOME", tmpl, 1);
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.validation = true, .log = log_fn}, &ctx);
    cr_assert_eq(r, VKG_OK, "%s", ctx ? vkg_last_error(ctx) : "");
    const vkg__vk_pipeline *pl;
    uint32_t spec[1] = {64};
    cr_assert_eq(vkg__vk_pipeline_get(ctx, VKG_KERNEL_COPY, spec, 1, 2, &pl), VKG_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s", ctx->vk->pipeline_cache_path);
    close_ctx(ctx);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/vkgraph", tmpl);
    cr_assert(strncmp(path, dir, strlen(dir)) == 0, "%s", path);
    long size = 0;
    cr_assert_eq(count_cache_files(dir, &size), 1);
    remove(path);
    rmdir(dir);
    rmdir(tmpl);
}

/* Out-of-host-memory injection: the Nth allocation fails; every failure is
 * a clean error and nothing leaks (allocations counted). */
typedef struct fail_alloc { int countdown; int live; } fail_alloc;
static void *fa_alloc(size_t size, void *user) {
    fail_alloc *fa = user;
    if (fa->countdown >= 0 && fa->countdown-- == 0) return NULL;
    fa->live++;
    return malloc(size);
}
static void fa_free(void *p, void *user) {
    fail_alloc *fa = user;
    fa->live--;
    free(p);
}

Test(vk, out_of_host_memory) {
    bool done = false;
    for (int nth = 0; nth < 200 && !done; nth++) {
        fail_alloc fa = {.countdown = nth};
        vkg_context *ctx = NULL;
        vkg_context_desc desc = {.allocator = {fa_alloc, fa_free, &fa}, .pipeline_cache_dir = "", .profile = true};
        vkg_result r = vkg_context_create(&desc, &ctx);
        if (r == VKG_OK) {
            vkg__vk_buffer a, b;
            r = vkg__vk_buffer_create(ctx, 400, VKG__MEM_DEVICE, &a);
            cr_assert_eq(r, VKG_OK);
            r = vkg__vk_buffer_create(ctx, 400, VKG__MEM_DEVICE, &b);
            cr_assert_eq(r, VKG_OK);
            vkg__vk_dispatch d[2] = {copy_dispatch(&a, 0, &b, 0, 100), copy_dispatch(&b, 0, &a, 0, 100)};
            vkg__vk_program *p = NULL;
            r = vkg__vk_program_create(ctx, d, 2, &p);
            if (r == VKG_OK) {
                cr_assert_eq(vkg__vk_program_run(ctx, p), VKG_OK);
                vkg__vk_program_destroy(ctx, p);
                done = true;
            } else {
                cr_assert_eq(r, VKG_ERR_OUT_OF_MEMORY, "%s", vkg_last_error(ctx));
                cr_assert_null(p);
            }
            vkg__vk_buffer_destroy(ctx, &a);
            vkg__vk_buffer_destroy(ctx, &b);
        } else {
            cr_assert_eq(r, VKG_ERR_OUT_OF_MEMORY, "nth %d: %s", nth, ctx ? vkg_last_error(ctx) : "");
        }
        vkg_context_destroy(ctx);
        cr_assert_eq(fa.live, 0, "nth %d: %d allocations leaked", nth, fa.live);
    }
    cr_assert(done);
}
