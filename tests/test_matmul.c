/*
 * test_matmul.c — the matmul kernel family (engine/src/kernels_matmul.c) on
 * the default Vulkan device (lavapipe here and in CI): every variant, forced
 * through VKG_MATMUL_VARIANT, against a double-precision C loop on odd
 * shapes, strides and offsets, with and without bias / activation /
 * residual. Tolerance per output: |y - ref| <= 1e-4 (1 + |ref|).
 * Also: elements around the outputs stay untouched, the 2-D grid, the choice
 * per device class, argument errors, and no validation messages.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vkg_impl.h"

static vkg_context *open_ctx(void)
{
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = ""}, &ctx);
    cr_assert_eq(r, VKG_OK, "context: %s", ctx ? vkg_last_error(ctx) : vkg_result_string(r));
    return ctx;
}

static void close_ctx(vkg_context *ctx)
{
    cr_expect_eq(vkg_context_validation_messages(ctx), 0, "validation messages: %u",
                 vkg_context_validation_messages(ctx));
    vkg_context_destroy(ctx);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static float frand(void)    /* uniform in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

#define SENTINEL 12345.0f

typedef struct mm_case {
    uint32_t M, N, K;
    uint32_t x_stride, y_stride;    /* 0: K, N */
    uint32_t x_off, w_off, b_off, y_off;   /* elements into each buffer (byte offsets 4 * these) */
    bool bias, res, res_is_y;       /* res_is_y: residual read from y itself (in place) */
    vkg__act act;
} mm_case;

/* Runs one case through the stand-alone lowering; returns the number of bad
 * outputs (and checks everything else with cr_assert). */
static int run_case(vkg_context *ctx, const char *variant, const mm_case *c)
{
    if (variant) setenv("VKG_MATMUL_VARIANT", variant, 1);
    else unsetenv("VKG_MATMUL_VARIANT");
    uint32_t M = c->M, N = c->N, K = c->K;
    uint32_t xs = c->x_stride ? c->x_stride : K, ys = c->y_stride ? c->y_stride : N;
    uint64_t nx = c->x_off + (uint64_t)(M - 1) * xs + K + 3;
    uint64_t nw = c->w_off + (uint64_t)N * K + 1;
    uint64_t nb = c->b_off + N + 2;
    uint64_t ny = c->y_off + (uint64_t)(M - 1) * ys + N + 5;
    uint64_t n[4] = {nx, nw, nb, ny};
    float *h[4], *res = malloc(ny * sizeof(float)), *y = malloc(ny * sizeof(float));
    cr_assert(res && y);
    for (int i = 0; i < 4; i++) {
        h[i] = malloc(n[i] * sizeof(float));
        cr_assert(h[i]);
        for (uint64_t j = 0; j < n[i]; j++) h[i][j] = frand();
    }
    /* y holds a residual in place, or sentinels that must survive outside the outputs */
    if (!c->res_is_y)
        for (uint64_t j = 0; j < ny; j++) h[3][j] = SENTINEL;
    memcpy(res, h[3], ny * sizeof(float));
    float *resbuf = NULL;
    if (c->res && !c->res_is_y) {
        resbuf = malloc(ny * sizeof(float));
        cr_assert(resbuf);
        for (uint64_t j = 0; j < ny; j++) resbuf[j] = res[j] = frand();
    }

    vkg__vk_buffer buf[5];
    vkg__vk_buffer *bufs[5];
    int n_bufs = resbuf ? 5 : 4;
    for (int i = 0; i < n_bufs; i++) {
        uint64_t bytes = (i < 4 ? n[i] : ny) * sizeof(float);
        cr_assert_eq(vkg__vk_buffer_create(ctx, bytes, VKG__MEM_DEVICE, &buf[i]), VKG_OK, "%s", vkg_last_error(ctx));
        cr_assert_eq(vkg__vk_upload(ctx, &buf[i], 0, i < 4 ? h[i] : resbuf, bytes), VKG_OK, "%s", vkg_last_error(ctx));
        bufs[i] = &buf[i];
    }

    vkg__lower_ctx *lc = NULL;
    cr_assert_eq(vkg__standalone_begin(ctx, bufs, n_bufs, &lc), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__matmul_desc d = {
        .x = {VKG__BUF_TENSOR, 0, 4ull * c->x_off, 0},
        .w = {VKG__BUF_TENSOR, 1, 4ull * c->w_off, 0},
        .y = {VKG__BUF_TENSOR, 3, 4ull * c->y_off, 0},
        .M = M, .N = N, .K = K, .x_stride = c->x_stride, .y_stride = c->y_stride, .act = c->act,
    };
    if (c->bias) d.bias = (vkg__bufref){VKG__BUF_TENSOR, 2, 4ull * c->b_off, 0};
    if (c->res) d.res = (vkg__bufref){VKG__BUF_TENSOR, c->res_is_y ? 3 : 4, 4ull * c->y_off, 0};
    cr_assert_eq(vkg__emit_matmul(lc, &d), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program *prog = NULL;
    cr_assert_eq(vkg__standalone_build(lc, &prog), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__standalone_end(lc);
    cr_assert_eq(vkg__vk_program_run(ctx, prog), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg__vk_download(ctx, &buf[3], 0, y, ny * sizeof(float)), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program_destroy(ctx, prog);
    for (int i = 0; i < n_bufs; i++) vkg__vk_buffer_destroy(ctx, &buf[i]);

    const float *x = h[0] + c->x_off, *w = h[1] + c->w_off, *b = h[2] + c->b_off;
    int bad = 0;
    double max_err = 0;
    for (uint32_t m = 0; m < M; m++) {
        for (uint32_t o = 0; o < N; o++) {
            double acc = 0;
            for (uint32_t k = 0; k < K; k++) acc += (double)x[(uint64_t)m * xs + k] * w[(uint64_t)o * K + k];
            if (c->bias) acc += b[o];
            uint64_t at = c->y_off + (uint64_t)m * ys + o;
            double ref = vkg__act_ref(c->act, (float)acc);
            if (c->res) ref += res[at];
            double err = fabs((double)y[at] - ref);
            if (err > max_err) max_err = err;
            if (!(err <= 1e-4 * (1.0 + fabs(ref))) && bad++ < 5)
                cr_log_error("%s %ux%ux%u: y[%u, %u] = %g, expected %g", variant ? variant : "auto", M, N, K, m, o,
                             y[at], ref);
            res[at] = SENTINEL + 1;     /* mark as an output */
        }
    }
    for (uint64_t j = 0; j < ny; j++) {
        if (res[j] == SENTINEL + 1) continue;
        if (y[j] != h[3][j] && bad++ < 5)
            cr_log_error("%s %ux%ux%u: element %llu outside the outputs changed", variant ? variant : "auto",
                         M, N, K, (unsigned long long)j);
    }
    for (int i = 0; i < 4; i++) free(h[i]);
    free(res);
    free(y);
    free(resbuf);
    return bad;
}

/* The odd shapes every variant runs, each plain and with epilogues, strides and offsets. */
static const uint32_t shapes[][3] = {
    {1, 1, 1}, {7, 13, 5}, {100, 257, 31}, {257, 100, 1000}, {33, 65, 8}, {17, 64, 64},
    {4, 7, 13}, {2, 257, 100}, {3, 100, 64},
};

static void run_variant(const char *variant, uint32_t max_m)
{
    vkg_context *ctx = open_ctx();
    int bad = 0, cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        if (M > max_m) continue;
        mm_case plain = {M, N, K, 0, 0, 0, 0, 0, 0, false, false, false, VKG__ACT_NONE};
        /* unaligned everything: forces scalar loads */
        mm_case odd = {M, N, K, K + 3, N + 5, 1, 3, 1, 3, true, true, false,
                       (vkg__act)(1 + s % (VKG__ACT_COUNT - 1))};
        /* vec4-aligned strides and offsets, y offset not a multiple of 4 */
        mm_case strided = {M, N, K, (K + 7) & ~3u, N + 1, 8, 4, 2, 1, true, false, false,
                           (vkg__act)(1 + (s + 3) % (VKG__ACT_COUNT - 1))};
        /* residual read from y in place */
        mm_case inplace = {M, N, K, 0, 0, 4, 0, 0, 2, false, true, true, VKG__ACT_NONE};
        bad += run_case(ctx, variant, &plain);
        bad += run_case(ctx, variant, &odd);
        bad += run_case(ctx, variant, &strided);
        bad += run_case(ctx, variant, &inplace);
        cases += 4;
    }
    cr_expect_eq(bad, 0, "%s: %d bad outputs over %d cases", variant ? variant : "auto", bad, cases);
    close_ctx(ctx);
}

Test(matmul, auto_choice) { run_variant(NULL, UINT32_MAX); }
Test(matmul, subgroup_blocks) { run_variant("sg", UINT32_MAX); }
Test(matmul, subgroup_blocks_scalar) { run_variant("sg,scalar", UINT32_MAX); }
Test(matmul, register_blocks) { run_variant("rb", UINT32_MAX); }
Test(matmul, register_blocks_scalar) { run_variant("rb,scalar", UINT32_MAX); }
Test(matmul, gemv) { run_variant("gemv", 4); }
Test(matmul, gemv_scalar) { run_variant("gemv,scalar", 4); }
Test(matmul, gpu_tiles) { run_variant("tiled", UINT32_MAX); }

Test(matmul, gpu_device_class)
{
    setenv("VKG_FORCE_DEVCLASS", "gpu", 1);
    run_variant(NULL, 20);
    unsetenv("VKG_FORCE_DEVCLASS");
}

/* More than 65535 workgroups: the grid spills into y. */
Test(matmul, grid_2d)
{
    vkg_context *ctx = open_ctx();
    mm_case big = {2, 64u * 65535u + 77u, 1, 0, 0, 0, 0, 0, 0, true, false, false, VKG__ACT_RELU};
    cr_expect_eq(run_case(ctx, "gemv", &big), 0);
    close_ctx(ctx);
}

Test(matmul, bad_arguments)
{
    vkg_context *ctx = open_ctx();
    vkg__vk_buffer buf;
    cr_assert_eq(vkg__vk_buffer_create(ctx, 4096, VKG__MEM_DEVICE, &buf), VKG_OK);
    vkg__vk_buffer *bufs[1] = {&buf};
    vkg__lower_ctx *lc = NULL;
    cr_assert_eq(vkg__standalone_begin(ctx, bufs, 1, &lc), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__bufref r = {VKG__BUF_TENSOR, 0, 0, 0};
    vkg__matmul_desc d = {.x = r, .w = r, .y = r, .M = 4, .N = 4, .K = 8, .x_stride = 7};
    cr_expect_eq(vkg__emit_matmul(lc, &d), VKG_ERR_INVALID_ARG);     /* x_stride < K */
    d.x_stride = 0;
    d.y_stride = 3;
    cr_expect_eq(vkg__emit_matmul(lc, &d), VKG_ERR_INVALID_ARG);     /* y_stride < N */
    d.y_stride = 0;
    d.w.offset = 2;
    cr_expect_eq(vkg__emit_matmul(lc, &d), VKG_ERR_INVALID_ARG);     /* offset not a multiple of 4 */
    d.w.offset = 0;
    d.act = VKG__ACT_COUNT;
    cr_expect_eq(vkg__emit_matmul(lc, &d), VKG_ERR_INVALID_ARG);
    d.act = VKG__ACT_NONE;
    d.M = 5;
    setenv("VKG_MATMUL_VARIANT", "gemv", 1);
    cr_expect_eq(vkg__emit_matmul(lc, &d), VKG_ERR_UNSUPPORTED);     /* gemv with M > 4 */
    unsetenv("VKG_MATMUL_VARIANT");
    vkg__standalone_end(lc);
    vkg__vk_buffer_destroy(ctx, &buf);
    close_ctx(ctx);
}
