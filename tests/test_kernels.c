/*
 * test_kernels.c — every kernel emitter of kernels.c (all but matmul) run
 * stand-alone on the Vulkan device (vkg__standalone_*) and compared with a
 * plain C double-precision loop written here, on odd sizes, unaligned
 * offsets and both device-class variants. Contexts have validation on and
 * each test ends by asserting that no validation message was seen.
 *
 * Tolerances: |got - ref| <= tol * (|ref| + floor), tol 1e-5 for elementwise
 * ops and norms, 1e-4 for attention, RoPE and the erf/tanh activations.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkg_impl.h"

static vkg_context *ctx;

/* Every live device buffer, so that a failed assertion (which leaves the test
 * body) still frees them before the context goes. */
static vkg__vk_buffer live[256];
static int n_live;

static void free_live(void)
{
    for (int i = 0; i < n_live; i++)
        if (live[i].buffer) vkg__vk_buffer_destroy(ctx, &live[i]);
    n_live = 0;
}

static void setup(void)
{
    vkg_context_desc desc = {.validation = true, .pipeline_cache_dir = ""};
    cr_assert_eq(vkg_context_create(&desc, &ctx), VKG_OK, "context: %s", ctx ? vkg_last_error(ctx) : "");
}

static void teardown(void)
{
    if (!ctx) return;
    free_live();
    uint32_t msgs = vkg_context_validation_messages(ctx);
    vkg_context_destroy(ctx);
    ctx = NULL;
    cr_assert_eq(msgs, 0, "%u validation messages", msgs);
}

TestSuite(kernels, .init = setup, .fini = teardown, .timeout = 120);

/* >>helpers ---------------------------------------------------------------*/
#define SENTINEL (-777.25f)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void)            /* uniform in [-2, 2) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24) * 4.0 - 2.0);
}

static float *rand_vec(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

static double *dvec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

typedef struct job {
    int n, live0;
    vkg__vk_buffer b[8];
    vkg__vk_buffer *p[8];
    vkg__lower_ctx *lc;
} job;

/* A device buffer of `bytes`: the data, or the sentinel everywhere. */
static int job_buf(job *j, const void *data, size_t bytes)
{
    if (j->n == 0) j->live0 = n_live;
    int i = j->n++;
    cr_assert(n_live < 256);
    live[n_live] = (vkg__vk_buffer){0};
    n_live++;
    size_t data_bytes = bytes;
    bytes = bytes < 16 ? 16 : bytes;
    cr_assert_eq(vkg__vk_buffer_create(ctx, bytes, VKG__MEM_DEVICE, &j->b[i]), VKG_OK, "%s", vkg_last_error(ctx));
    j->p[i] = &j->b[i];
    live[j->live0 + i] = j->b[i];

    if (data) {
        cr_assert_eq(vkg__vk_upload(ctx, &j->b[i], 0, data, data_bytes), VKG_OK);
    } else {
        float *s = malloc(bytes);
        for (size_t k = 0; k < bytes / 4; k++) s[k] = SENTINEL;
        cr_assert_eq(vkg__vk_upload(ctx, &j->b[i], 0, s, bytes / 4 * 4), VKG_OK);
        free(s);
    }
    return i;
}

static vkg__bufref ref(int i, uint64_t offset_floats)
{
    return (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)i, .offset = offset_floats * 4};
}

static vkg__lower_ctx *job_begin(job *j, vkg__device_class dc)
{
    cr_assert_eq(vkg__standalone_begin(ctx, j->p, j->n, &j->lc), VKG_OK, "%s", vkg_last_error(ctx));
    j->lc->devclass = dc;
    return j->lc;
}

static void job_run(job *j)
{
    vkg__vk_program *prog = NULL;
    cr_assert_eq(vkg__standalone_build(j->lc, &prog), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg__vk_program_run(ctx, prog), VKG_OK, "%s", vkg_last_error(ctx));
    /* The program uses the stand-alone temporaries: destroy it before they go. */
    vkg__vk_program_destroy(ctx, prog);
    vkg__standalone_end(j->lc);
    j->lc = NULL;
}

static float *job_get(job *j, int i, size_t n_floats)
{
    float *v = malloc((n_floats ? n_floats : 1) * sizeof(float));
    cr_assert_eq(vkg__vk_download(ctx, &j->b[i], 0, v, n_floats * 4), VKG_OK);
    return v;
}

static void job_free(job *j)
{
    for (int i = 0; i < j->n; i++) vkg__vk_buffer_destroy(ctx, &j->b[i]);
    n_live = j->live0;
    j->n = 0;
}

/* Compares got[off + i] with ref[i] and checks that the `pad` floats before
 * and after the range kept the sentinel. Returns the largest scaled error. */
static double check(const char *what, const float *got, size_t off, const double *ref, size_t n, size_t pad,
                    double tol, double floor)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[off + i], e = fabs(g - ref[i]) / (fabs(ref[i]) + floor);
        cr_assert(e <= tol, "%s: [%zu] got %.9g want %.9g (scaled error %.3g > %.3g)", what, i, g, ref[i], e, tol);
        if (e > worst) worst = e;
    }
    for (size_t i = off >= pad ? off - pad : 0; i < off; i++)
        cr_assert_eq(got[i], SENTINEL, "%s: wrote before the output at %zu", what, i);
    for (size_t i = off + n; i < off + n + pad; i++)
        cr_assert_eq(got[i], SENTINEL, "%s: wrote past the output at %zu", what, i);
    return worst;
}

static double act_ref(vkg__act a, double x)
{
    switch (a) {
    case VKG__ACT_RELU: return x > 0 ? x : 0;
    case VKG__ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case VKG__ACT_GELU_TANH: return x / (1 + exp(-2 * sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case VKG__ACT_SILU: return x / (1 + exp(-x));
    case VKG__ACT_SIGMOID: return 1 / (1 + exp(-x));
    case VKG__ACT_TANH: return tanh(x);
    case VKG__ACT_ELU1: return x > 0 ? x + 1 : exp(x);
    default: return x;
    }
}

static double act_tol(vkg__act a)
{
    return a == VKG__ACT_GELU || a == VKG__ACT_GELU_TANH || a == VKG__ACT_TANH ? 1e-4 : 1e-5;
}

static const size_t sizes[] = {1, 7, 13, 100, 257, 1024};

/* >>elementwise -----------------------------------------------------------*/
Test(kernels, unary_all_activations)
{
    /* Offsets in floats: 0 (vec4 when n % 4 == 0), 1 (scalar), 68 (vec4 after
     * the aligned split of a 272-byte offset). */
    static const size_t offs[] = {0, 1, 68};
    for (int a = 0; a < VKG__ACT_COUNT; a++) {
        for (size_t oi = 0; oi < 3; oi++) {
            job j = {0};
            size_t total = 0;
            for (size_t s = 0; s < VKG__COUNTOF(sizes); s++) total += sizes[s] + offs[oi] + 8;
            float *x = rand_vec(total);
            for (size_t i = 0; i < total; i++) x[i] *= 3.0f;   /* reach gelu's and sigmoid's tails */
            int bx = job_buf(&j, x, total * 4), by = job_buf(&j, NULL, total * 4);
            vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
            size_t base = 0;
            for (size_t s = 0; s < VKG__COUNTOF(sizes); s++) {
                size_t o = base + offs[oi];
                cr_assert_eq(vkg__emit_unary(lc, ref(bx, o), ref(by, o), sizes[s], (vkg__act)a), VKG_OK);
                base += sizes[s] + offs[oi] + 8;
            }
            job_run(&j);
            float *y = job_get(&j, by, total);
            base = 0;
            for (size_t s = 0; s < VKG__COUNTOF(sizes); s++) {
                size_t o = base + offs[oi], n = sizes[s];
                double *r = dvec(n);
                for (size_t i = 0; i < n; i++) r[i] = act_ref((vkg__act)a, x[o + i]);
                char what[64];
                snprintf(what, sizeof what, "act %d n %zu off %zu", a, n, offs[oi]);
                check(what, y, o, r, n, offs[oi] ? 1 : 0, act_tol((vkg__act)a), 1e-6);
                free(r);
                base += n + offs[oi] + 8;
            }
            free(x); free(y);
            job_free(&j);
        }
    }
}

Test(kernels, binary_add_mul_and_in_place)
{
    for (int op = 0; op < VKG__BIN_COUNT; op++) {
        for (size_t s = 0; s < VKG__COUNTOF(sizes); s++) {
            size_t n = sizes[s];
            job j = {0};
            float *a = rand_vec(n + 8), *b = rand_vec(n + 8);
            int ba = job_buf(&j, a, (n + 8) * 4), bb = job_buf(&j, b, (n + 8) * 4), by = job_buf(&j, NULL, (n + 8) * 4);
            vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
            cr_assert_eq(vkg__emit_binary(lc, ref(ba, 0), ref(bb, 4), ref(by, 4), n, (vkg__binop)op), VKG_OK);
            /* in place: a[1..] = a[1..] op b[0..] */
            cr_assert_eq(vkg__emit_binary(lc, ref(ba, 1), ref(bb, 0), ref(ba, 1), n, (vkg__binop)op), VKG_OK);
            job_run(&j);
            float *y = job_get(&j, by, n + 8), *a2 = job_get(&j, ba, n + 8);
            double *r = dvec(n), *r2 = dvec(n);
            for (size_t i = 0; i < n; i++) {
                r[i] = op == VKG__BIN_ADD ? (double)a[i] + b[4 + i] : (double)a[i] * b[4 + i];
                r2[i] = op == VKG__BIN_ADD ? (double)a[1 + i] + b[i] : (double)a[1 + i] * b[i];
            }
            check("binary", y, 4, r, n, 4, 1e-5, 1e-6);
            check("binary in place", a2, 1, r2, n, 0, 1e-5, 1e-6);
            free(a); free(b); free(y); free(a2); free(r); free(r2);
            job_free(&j);
        }
    }
}

Test(kernels, glu_gated_activation)
{
    static const uint32_t rows_[] = {1, 7, 13, 3};
    static const uint32_t F_[] = {1, 13, 100, 64};
    static const vkg__act acts[] = {VKG__ACT_SILU, VKG__ACT_GELU, VKG__ACT_GELU_TANH};
    for (size_t c = 0; c < 4; c++) {
        for (size_t ai = 0; ai < 3; ai++) {
            uint32_t R = rows_[c], F = F_[c];
            size_t ng = (size_t)R * 2 * F, ny = (size_t)R * F;
            job j = {0};
            float *gu = rand_vec(ng);
            int bg = job_buf(&j, gu, ng * 4), by = job_buf(&j, NULL, (ny + 8) * 4);
            vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
            cr_assert_eq(vkg__emit_glu(lc, ref(bg, 0), ref(by, 4), R, F, acts[ai]), VKG_OK);
            job_run(&j);
            float *y = job_get(&j, by, ny + 8);
            double *r = dvec(ny);
            for (uint32_t t = 0; t < R; t++)
                for (uint32_t f = 0; f < F; f++)
                    r[t * F + f] = act_ref(acts[ai], gu[t * 2 * F + f]) * gu[t * 2 * F + F + f];
            check("glu", y, 4, r, ny, 4, act_tol(acts[ai]), 1e-6);
            free(gu); free(y); free(r);
            job_free(&j);
        }
    }
}

Test(kernels, copy_offsets_and_large_grid)
{
    /* 65535 * 128 + 1001 floats, scalar (odd offset): needs a 2-D grid. */
    size_t big = 65535u * 128u + 1001u;
    static const size_t ns[] = {1, 7, 13, 257, 1024};
    static const size_t xo[] = {0, 3, 4, 64, 0};
    static const size_t yo[] = {0, 5, 4, 68, 1};
    job j = {0};
    float *x = rand_vec(big + 8);
    int bx = job_buf(&j, x, (big + 8) * 4), by = job_buf(&j, NULL, (big + 8) * 4);
    int bs = job_buf(&j, NULL, 4096 * 4);
    vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
    cr_assert_eq(vkg__emit_copy(lc, ref(bx, 1), ref(by, 2), big), VKG_OK);
    size_t base = 0;
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(vkg__emit_copy(lc, ref(bx, xo[i]), ref(bs, base + yo[i]), ns[i]), VKG_OK);
        base += ns[i] + yo[i] + 16;
    }
    job_run(&j);
    float *y = job_get(&j, by, big + 8), *s = job_get(&j, bs, 4096);
    for (size_t i = 0; i < big; i++) cr_assert_eq(y[2 + i], x[1 + i], "big copy at %zu", i);
    cr_assert_eq(y[big + 2], SENTINEL);
    cr_assert_eq(y[1], SENTINEL);
    base = 0;
    for (size_t i = 0; i < 5; i++) {
        double *r = dvec(ns[i]);
        for (size_t k = 0; k < ns[i]; k++) r[k] = x[xo[i] + k];
        check("copy", s, base + yo[i], r, ns[i], 1, 0, 1);
        free(r);
        base += ns[i] + yo[i] + 16;
    }
    free(x); free(y); free(s);
    job_free(&j);
}

Test(kernels, add_rows_and_embed)
{
    static const uint32_t Ts[] = {1, 7, 13};
    static const uint32_t Cs[] = {7, 64, 257};
    for (size_t c = 0; c < 3; c++) {
        uint32_t T = Ts[c], C = Cs[c], first = 5, V = 37;
        job j = {0};
        float *x = rand_vec((size_t)T * C), *rows = rand_vec((size_t)(first + T) * C), *table = rand_vec((size_t)V * C);
        int32_t *ids = malloc(T * sizeof(int32_t));
        for (uint32_t t = 0; t < T; t++) ids[t] = (int32_t)((t * 17 + 3) % V);
        ids[0] = (int32_t)(V - 1);
        int bx = job_buf(&j, x, (size_t)T * C * 4), br = job_buf(&j, rows, (size_t)(first + T) * C * 4);
        int bt = job_buf(&j, table, (size_t)V * C * 4), bi = job_buf(&j, ids, T * 4);
        int by = job_buf(&j, NULL, ((size_t)T * C + 8) * 4), be = job_buf(&j, NULL, ((size_t)T * C + 8) * 4);
        vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
        cr_assert_eq(vkg__emit_add_rows(lc, ref(bx, 0), ref(br, 0), ref(by, 4), T, C, first), VKG_OK);
        cr_assert_eq(vkg__emit_embed(lc, ref(bi, 0), ref(bt, 0), ref(be, 4), T, C), VKG_OK);
        job_run(&j);
        float *y = job_get(&j, by, (size_t)T * C + 8), *e = job_get(&j, be, (size_t)T * C + 8);
        double *r = dvec((size_t)T * C), *re = dvec((size_t)T * C);
        for (uint32_t t = 0; t < T; t++)
            for (uint32_t k = 0; k < C; k++) {
                r[t * C + k] = (double)x[t * C + k] + rows[(first + t) * C + k];
                re[t * C + k] = table[(size_t)ids[t] * C + k];
            }
        check("add_rows", y, 4, r, (size_t)T * C, 4, 1e-5, 1e-6);
        check("embed", e, 4, re, (size_t)T * C, 4, 0, 1);
        free(x); free(rows); free(table); free(ids); free(y); free(e); free(r); free(re);
        job_free(&j);
    }
}

Test(kernels, im2col_patches)
{
    static const uint32_t cfg[][4] = {{6, 9, 3, 3}, {4, 4, 1, 1}, {14, 7, 5, 7}, {32, 32, 3, 16}};
    for (size_t c = 0; c < VKG__COUNTOF(cfg); c++) {
        uint32_t Hh = cfg[c][0], Ww = cfg[c][1], Cin = cfg[c][2], P = cfg[c][3];
        size_t n = (size_t)Hh * Ww * Cin, K = (size_t)Cin * P * P;
        job j = {0};
        float *img = rand_vec(n);
        int bi = job_buf(&j, img, n * 4), bc = job_buf(&j, NULL, (n + 2) * 4);
        vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
        cr_assert_eq(vkg__emit_im2col(lc, ref(bi, 0), ref(bc, 1), Hh, Ww, Cin, P), VKG_OK);
        job_run(&j);
        float *got = job_get(&j, bc, n + 2);
        double *r = dvec(n);
        for (uint32_t py = 0; py < Hh / P; py++)
            for (uint32_t px = 0; px < Ww / P; px++)
                for (uint32_t ch = 0; ch < Cin; ch++)
                    for (uint32_t u = 0; u < P; u++)
                        for (uint32_t v = 0; v < P; v++)
                            r[(py * (Ww / P) + px) * K + (ch * P + u) * P + v] =
                                img[((py * P + u) * Ww + px * P + v) * Cin + ch];
        check("im2col", got, 1, r, n, 1, 0, 1);
        free(img); free(got); free(r);
        job_free(&j);
    }
}

/* >>norms -----------------------------------------------------------------*/
static void norm_ref(vkg__norm_kind kind, const float *x, const float *w, const float *b, uint32_t rows, uint32_t C,
                     double eps, double *y)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * C;
        double mu = 0, v = 0;
        if (kind == VKG__NORM_LAYER) {
            for (uint32_t i = 0; i < C; i++) mu += xr[i];
            mu /= C;
        }
        for (uint32_t i = 0; i < C; i++) v += (xr[i] - mu) * (xr[i] - mu);
        double s = 1 / sqrt(v / C + eps);
        for (uint32_t i = 0; i < C; i++)
            y[(size_t)r * C + i] = (xr[i] - mu) * s * (w ? w[i] : 1) + (b && kind == VKG__NORM_LAYER ? b[i] : 0);
    }
}

Test(kernels, layer_and_rms_norm)
{
    static const uint32_t shapes[][2] = {{1, 7}, {7, 13}, {13, 100}, {100, 257}, {257, 64}, {3, 256}, {5, 1}, {2, 4096}};
    for (int dc = 0; dc < VKG__DEVCLASS_COUNT; dc++) {
        for (int kind = VKG__NORM_LAYER; kind <= VKG__NORM_RMS; kind++) {
            for (size_t s = 0; s < VKG__COUNTOF(shapes); s++) {
                for (int affine = 0; affine < 2; affine++) {
                    uint32_t R = shapes[s][0], C = shapes[s][1];
                    size_t n = (size_t)R * C, off = s % 2 ? 1 : 4;   /* scalar / vec4 */
                    job j = {0};
                    float *x = rand_vec(n + off), *w = rand_vec(C), *b = rand_vec(C);
                    for (size_t i = 0; i < n + off; i++) x[i] = x[i] * 3 + 1.5f;  /* a mean far from 0 */
                    int bx = job_buf(&j, x, (n + off) * 4), bw = job_buf(&j, w, C * 4), bb = job_buf(&j, b, C * 4);
                    int by = job_buf(&j, NULL, (n + off + 4) * 4);
                    vkg__lower_ctx *lc = job_begin(&j, (vkg__device_class)dc);
                    vkg__norm_desc nd = {.x = ref(bx, off), .y = ref(by, off), .rows = R, .C = C,
                                         .eps = kind == VKG__NORM_RMS ? 1e-6f : 1e-5f, .kind = (vkg__norm_kind)kind};
                    if (affine) { nd.w = ref(bw, 0); nd.b = ref(bb, 0); }
                    cr_assert_eq(vkg__emit_norm(lc, &nd), VKG_OK, "%s", vkg_last_error(ctx));
                    job_run(&j);
                    float *y = job_get(&j, by, n + off + 4);
                    double *r = dvec(n);
                    norm_ref((vkg__norm_kind)kind, x + off, affine ? w : NULL, affine ? b : NULL, R, C, nd.eps, r);
                    char what[96];
                    snprintf(what, sizeof what, "norm kind %d devclass %d %ux%u affine %d", kind, dc, R, C, affine);
                    check(what, y, off, r, n, 4, 1e-5, 1e-1);
                    free(x); free(w); free(b); free(y); free(r);
                    job_free(&j);
                }
            }
        }
    }
}

Test(kernels, norm_many_rows_2d_grid)
{
    /* 70000 rows: a 2-D grid of workgroups in the GPU (workgroup per row) variant. */
    uint32_t R = 70000, C = 3;
    size_t n = (size_t)R * C;
    for (int dc = 0; dc < VKG__DEVCLASS_COUNT; dc++) {
        job j = {0};
        float *x = rand_vec(n);
        int bx = job_buf(&j, x, n * 4), by = job_buf(&j, NULL, n * 4);
        vkg__lower_ctx *lc = job_begin(&j, (vkg__device_class)dc);
        vkg__norm_desc nd = {.x = ref(bx, 0), .y = ref(by, 0), .rows = R, .C = C, .eps = 1e-5f, .kind = VKG__NORM_RMS};
        cr_assert_eq(vkg__emit_norm(lc, &nd), VKG_OK);
        job_run(&j);
        float *y = job_get(&j, by, n);
        double *r = dvec(n);
        norm_ref(VKG__NORM_RMS, x, NULL, NULL, R, C, nd.eps, r);
        check("norm 70000 rows", y, 0, r, n, 0, 1e-5, 1e-1);
        free(x); free(y); free(r);
        job_free(&j);
    }
}

Test(kernels, batch_norm)
{
    static const uint32_t shapes[][2] = {{1, 7}, {13, 100}, {257, 13}};
    for (size_t s = 0; s < VKG__COUNTOF(shapes); s++) {
        uint32_t R = shapes[s][0], C = shapes[s][1];
        size_t n = (size_t)R * C;
        job j = {0};
        float *x = rand_vec(n), *w = rand_vec(C), *b = rand_vec(C), *mean = rand_vec(C), *var = rand_vec(C);
        for (uint32_t i = 0; i < C; i++) var[i] = var[i] * var[i] + 0.1f;
        int bx = job_buf(&j, x, n * 4), bw = job_buf(&j, w, C * 4), bb = job_buf(&j, b, C * 4);
        int bm = job_buf(&j, mean, C * 4), bv = job_buf(&j, var, C * 4), by = job_buf(&j, NULL, (n + 4) * 4);
        vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
        vkg__norm_desc nd = {.x = ref(bx, 0), .y = ref(by, 1), .w = ref(bw, 0), .b = ref(bb, 0), .mean = ref(bm, 0),
                             .var = ref(bv, 0), .rows = R, .C = C, .eps = 1e-5f, .kind = VKG__NORM_BATCH};
        cr_assert_eq(vkg__emit_norm(lc, &nd), VKG_OK);
        job_run(&j);
        float *y = job_get(&j, by, n + 4);
        double *r = dvec(n);
        for (uint32_t t = 0; t < R; t++)
            for (uint32_t c = 0; c < C; c++)
                r[t * C + c] = (double)w[c] * (x[t * C + c] - (double)mean[c]) / sqrt((double)var[c] + nd.eps) + b[c];
        check("batch norm", y, 1, r, n, 1, 1e-5, 1e-1);
        free(x); free(w); free(b); free(mean); free(var); free(y); free(r);
        job_free(&j);
    }
}

/* >>rope ------------------------------------------------------------------*/
Test(kernels, rope_half_and_interleaved)
{
    /* T, heads, head_dim, rot_dims, extra row stride, pos0 */
    static const uint32_t cfg[][6] = {
        {1, 1, 8, 8, 0, 0}, {7, 3, 13, 12, 5, 0}, {13, 4, 64, 16, 64, 3}, {7, 2, 64, 64, 0, 100}, {1, 2, 128, 128, 0, 511},
    };
    for (int style = 0; style < VKG__ROPE_STYLE_COUNT; style++) {
        for (size_t c = 0; c < VKG__COUNTOF(cfg); c++) {
            uint32_t T = cfg[c][0], NH = cfg[c][1], Dh = cfg[c][2], R = cfg[c][3], stride = NH * Dh + cfg[c][4], p0 = cfg[c][5];
            size_t n = (size_t)T * stride;
            job j = {0};
            float *x = rand_vec(n + 2);
            int bx = job_buf(&j, x, (n + 2) * 4);
            vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
            vkg__rope_desc rd = {.x = ref(bx, 1), .T = T, .n_heads = NH, .head_dim = Dh, .row_stride = stride,
                                 .rot_dims = R, .pos0 = p0, .theta = 10000.0f, .style = (vkg__rope_style)style};
            cr_assert_eq(vkg__emit_rope(lc, &rd), VKG_OK, "%s", vkg_last_error(ctx));
            job_run(&j);
            float *y = job_get(&j, bx, n + 2);
            double *r = dvec(n);
            for (size_t i = 0; i < n; i++) r[i] = x[1 + i];
            for (uint32_t t = 0; t < T; t++)
                for (uint32_t h = 0; h < NH; h++)
                    for (uint32_t i = 0; i < R / 2; i++) {
                        /* frequencies and angle in f32 as PyTorch; cos/sin in double */
                        float inv = 1.0f / powf(10000.0f, (float)(2 * i) / (float)R);
                        double a = (double)((float)(p0 + t) * inv);
                        size_t base = (size_t)t * stride + (size_t)h * Dh;
                        size_t i0 = style == VKG__ROPE_INTERLEAVED ? base + 2 * i : base + i;
                        size_t i1 = style == VKG__ROPE_INTERLEAVED ? i0 + 1 : i0 + R / 2;
                        double x0 = x[1 + i0], x1 = x[1 + i1];
                        r[i0] = x0 * cos(a) - x1 * sin(a);
                        r[i1] = x1 * cos(a) + x0 * sin(a);
                    }
            char what[64];
            snprintf(what, sizeof what, "rope style %d cfg %zu", style, c);
            check(what, y, 1, r, n, 0, 1e-4, 1.0);
            cr_assert_eq(y[0], x[0]);
            cr_assert_eq(y[n + 1], x[n + 1]);
            free(x); free(y); free(r);
            job_free(&j);
        }
    }
}

/* >>attention -------------------------------------------------------------*/
static void attn_ref(const float *q, const float *k, const float *v, uint32_t Tq, uint32_t Tk, uint32_t H, uint32_t KV,
                     uint32_t Dh, uint32_t pos0, double scale, bool causal, double *o)
{
    double *s = malloc(Tk * sizeof(double));
    for (uint32_t t = 0; t < Tq; t++)
        for (uint32_t h = 0; h < H; h++) {
            uint32_t g = h / (H / KV), jend = causal ? VKG__MIN(Tk, pos0 + t + 1) : Tk;
            double m = -INFINITY, l = 0;
            for (uint32_t jj = 0; jj < jend; jj++) {
                double d = 0;
                for (uint32_t e = 0; e < Dh; e++)
                    d += (double)q[((size_t)t * H + h) * Dh + e] * k[((size_t)jj * KV + g) * Dh + e];
                s[jj] = scale * d;
                if (s[jj] > m) m = s[jj];
            }
            for (uint32_t jj = 0; jj < jend; jj++) l += exp(s[jj] - m);
            for (uint32_t e = 0; e < Dh; e++) {
                double acc = 0;
                for (uint32_t jj = 0; jj < jend; jj++) acc += exp(s[jj] - m) * v[((size_t)jj * KV + g) * Dh + e];
                o[((size_t)t * H + h) * Dh + e] = jend ? acc / l : 0;
            }
        }
    free(s);
}

Test(kernels, attention_softmax)
{
    /* Tq, Tk, H, KV, Dh, causal, pos0 */
    static const uint32_t cfg[][7] = {
        {1, 1, 4, 2, 8, 1, 0},      {7, 7, 4, 2, 13, 1, 0},   {33, 33, 6, 3, 64, 1, 0},  {7, 7, 6, 3, 8, 0, 0},
        {33, 33, 4, 2, 13, 0, 0},   {7, 40, 4, 2, 64, 1, 33}, {1, 50, 6, 3, 64, 1, 49},  {13, 13, 2, 1, 256, 1, 0},
        {7, 19, 4, 4, 100, 1, 12},  {5, 9, 3, 1, 7, 0, 0},    {1, 129, 8, 2, 128, 1, 128},
    };
    for (size_t c = 0; c < VKG__COUNTOF(cfg); c++) {
        uint32_t Tq = cfg[c][0], Tk = cfg[c][1], H = cfg[c][2], KV = cfg[c][3], Dh = cfg[c][4], p0 = cfg[c][6];
        bool causal = cfg[c][5];
        size_t nq = (size_t)Tq * H * Dh, nk = (size_t)Tk * KV * Dh;
        for (int off = 0; off < 2; off++) {     /* 0: aligned, 1: one float in (scalar loads) */
            job j = {0};
            float *q = rand_vec(nq + 1), *k = rand_vec(nk + 1), *v = rand_vec(nk + 1);
            int bq = job_buf(&j, q, (nq + 1) * 4), bk = job_buf(&j, k, (nk + 1) * 4), bv = job_buf(&j, v, (nk + 1) * 4);
            int bo = job_buf(&j, NULL, (nq + 2) * 4);
            vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
            vkg__attn_desc ad = {.q = ref(bq, off), .k = ref(bk, off), .v = ref(bv, off), .o = ref(bo, off), .Tq = Tq,
                                 .Tk = Tk, .H = H, .KV = KV, .Dh = Dh, .pos0 = p0, .scale = 1.0f / sqrtf((float)Dh),
                                 .causal = causal};
            cr_assert_eq(vkg__emit_attention(lc, &ad), VKG_OK, "%s", vkg_last_error(ctx));
            job_run(&j);
            float *o = job_get(&j, bo, nq + 2);
            double *r = dvec(nq);
            attn_ref(q + off, k + off, v + off, Tq, Tk, H, KV, Dh, p0, ad.scale, causal, r);
            char what[96];
            snprintf(what, sizeof what, "attention cfg %zu off %d", c, off);
            check(what, o, off, r, nq, 1, 1e-4, 1e-2);
            free(q); free(k); free(v); free(o); free(r);
            job_free(&j);
        }
    }
}

/* >>pool ------------------------------------------------------------------*/
Test(kernels, pool_mean_and_first)
{
    static const uint32_t shapes[][2] = {{1, 13}, {7, 100}, {257, 7}, {13, 1}};
    for (size_t s = 0; s < VKG__COUNTOF(shapes); s++) {
        uint32_t T = shapes[s][0], C = shapes[s][1];
        job j = {0};
        float *x = rand_vec((size_t)T * C + 1);
        int bx = job_buf(&j, x, ((size_t)T * C + 1) * 4), by = job_buf(&j, NULL, (2 * C + 8) * 4);
        vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
        cr_assert_eq(vkg__emit_pool(lc, ref(bx, 1), ref(by, 1), T, C, VKG__POOL_MEAN), VKG_OK);
        cr_assert_eq(vkg__emit_pool(lc, ref(bx, 1), ref(by, C + 4), T, C, VKG__POOL_FIRST), VKG_OK);
        job_run(&j);
        float *y = job_get(&j, by, 2 * C + 8);
        double *r = dvec(C), *r1 = dvec(C);
        for (uint32_t c = 0; c < C; c++) {
            for (uint32_t t = 0; t < T; t++) r[c] += x[1 + (size_t)t * C + c];
            r[c] /= T;
            r1[c] = x[1 + c];
        }
        check("pool mean", y, 1, r, C, 1, 1e-5, 1e-2);
        check("pool first", y, C + 4, r1, C, 1, 0, 1);
        free(x); free(y); free(r); free(r1);
        job_free(&j);
    }
}

Test(kernels, bad_arguments)
{
    job j = {0};
    int b = job_buf(&j, NULL, 64 * 4);
    vkg__lower_ctx *lc = job_begin(&j, VKG__DEVCLASS_CPU);
    vkg__attn_desc ad = {.q = ref(b, 0), .k = ref(b, 0), .v = ref(b, 0), .o = ref(b, 0), .Tq = 1, .Tk = 1, .H = 3,
                         .KV = 2, .Dh = 8, .scale = 1};
    cr_assert_eq(vkg__emit_attention(lc, &ad), VKG_ERR_INVALID_ARG);
    vkg__rope_desc rd = {.x = ref(b, 0), .T = 1, .n_heads = 1, .head_dim = 8, .row_stride = 8, .rot_dims = 7, .theta = 1e4f};
    cr_assert_eq(vkg__emit_rope(lc, &rd), VKG_ERR_INVALID_ARG);
    cr_assert_eq(vkg__emit_im2col(lc, ref(b, 0), ref(b, 0), 5, 4, 1, 2), VKG_ERR_INVALID_ARG);
    vkg__norm_desc nd = {.x = ref(b, 0), .y = ref(b, 0), .rows = 1, .C = 4, .kind = VKG__NORM_BATCH};
    cr_assert_eq(vkg__emit_norm(lc, &nd), VKG_ERR_INVALID_ARG);
    vkg__standalone_end(lc);
    job_free(&j);
}
