/*
 * bench_kernels.c — kernel micro-benchmarks on the default Vulkan device:
 * matmul (y[M, N] = x[M, K] w[N, K]^T, sizes given as M x N x K), GEMV,
 * RMSNorm, elementwise add and the cost of an extra dispatch, each beside the
 * figure LAVAPIPE.md records for lavapipe. Every kernel goes through its
 * emitter and the stand-alone lowering (exec_vk.c), is run twice to warm up
 * and then timed wall-clock (clock_gettime around vkg__vk_program_run, which
 * submits and waits) over several runs; the median is reported, with the
 * median of the GPU timestamps when the device profiles. Results:
 * bench/RESULTS.md.
 *
 * usage: bench_kernels [--runs N] [--device NAME]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vkg_impl.h"

#define MAX_RUNS 64
#define MAX_BUFS 8

typedef struct bench {
    vkg_context *ctx;
    int runs;
    bool timestamps;
} bench;

typedef struct timing {
    double wall_ms;                 /* median wall clock of one run (submit + wait) */
    double gpu_ms;                  /* median sum of the dispatches' timestamps; < 0: none */
} timing;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(bench *b, vkg_result r, const char *what)
{
    fprintf(stderr, "bench_kernels: %s: %s (%s)\n", what, vkg_result_string(r), vkg_last_error(b->ctx));
    exit(1);
}

#define CHECK(b, call) do { vkg_result r_ = (call); if (r_ != VKG_OK) die((b), r_, #call); } while (0)

/* Device buffers filled with small pseudo-random values. */
static void make_buffers(bench *b, const uint64_t *floats, int n, vkg__vk_buffer *bufs)
{
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        CHECK(b, vkg__vk_buffer_create(b->ctx, floats[i] * 4, VKG__MEM_DEVICE, &bufs[i]));
        float *h = malloc(floats[i] * 4);
        if (!h) { fprintf(stderr, "bench_kernels: out of memory\n"); exit(1); }
        for (uint64_t j = 0; j < floats[i]; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            h[j] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5);
        }
        CHECK(b, vkg__vk_upload(b->ctx, &bufs[i], 0, h, floats[i] * 4));
        free(h);
    }
}

static void free_buffers(bench *b, int n, vkg__vk_buffer *bufs)
{
    for (int i = 0; i < n; i++) vkg__vk_buffer_destroy(b->ctx, &bufs[i]);
}

typedef vkg_result (*emit_fn)(vkg__lower_ctx *lc, void *user);

/* Builds the program emitted by fn over bufs, warms up, times b->runs runs. */
static timing time_program(bench *b, vkg__vk_buffer *bufs, int n_bufs, emit_fn fn, void *user)
{
    vkg__vk_buffer *ptrs[MAX_BUFS];
    for (int i = 0; i < n_bufs; i++) ptrs[i] = &bufs[i];
    vkg__lower_ctx *lc = NULL;
    CHECK(b, vkg__standalone_begin(b->ctx, ptrs, n_bufs, &lc));
    vkg_result r = fn(lc, user);
    vkg__vk_program *p = NULL;
    if (r == VKG_OK) r = vkg__standalone_build(lc, &p);
    vkg__standalone_end(lc);
    if (r != VKG_OK) die(b, r, "emit/build");
    for (int i = 0; i < 2; i++) CHECK(b, vkg__vk_program_run(b->ctx, p));
    double wall[MAX_RUNS], gpu[MAX_RUNS];
    int n_gpu = 0;
    for (int i = 0; i < b->runs; i++) {
        double t0 = now_s();
        CHECK(b, vkg__vk_program_run(b->ctx, p));
        wall[i] = (now_s() - t0) * 1e3;
        if (b->timestamps) {
            enum { CAP = 1024 };
            static double start[CAP], dur[CAP];
            int n = vkg__vk_program_timings(p, start, dur, CAP);
            if (n > 0) {
                double sum = 0;
                for (int k = 0; k < n && k < CAP; k++) sum += dur[k];
                gpu[n_gpu++] = sum * 1e-3;
            }
        }
    }
    vkg__vk_program_destroy(b->ctx, p);
    timing t = {median(wall, b->runs), n_gpu ? median(gpu, n_gpu) : -1.0};
    return t;
}

static void print_header(void)
{
    printf("%-28s %10s %10s %12s %14s %7s\n", "kernel", "wall ms", "gpu ms", "result", "LAVAPIPE.md", "ratio");
}

/* value is computed from the wall time; ref <= 0: no LAVAPIPE.md figure.
 * ratio > 1 is better than the figure. */
static void print_row(const char *name, timing t, double value, const char *unit, double ref, bool lower_better)
{
    char gpu[32];
    if (t.gpu_ms >= 0) snprintf(gpu, sizeof gpu, "%10.3f", t.gpu_ms);
    else snprintf(gpu, sizeof gpu, "%10s", "-");
    if (ref <= 0) {                 /* no figure to compare with */
        printf("%-28s %10.3f %s %8.2f %-3s %14s %7s\n", name, t.wall_ms, gpu, value, unit, "-", "-");
        return;
    }
    double ratio = lower_better ? ref / value : value / ref;
    printf("%-28s %10.3f %s %8.2f %-3s %10.2f %-3s %6.2fx\n", name, t.wall_ms, gpu, value, unit, ref, unit, ratio);
}

// >>matmul
typedef struct mm_args { uint32_t M, N, K; } mm_args;

static vkg_result emit_mm(vkg__lower_ctx *lc, void *user)
{
    mm_args *a = user;
    vkg__matmul_desc d = {
        .x = {VKG__BUF_TENSOR, 0, 0, 0}, .w = {VKG__BUF_TENSOR, 1, 0, 0}, .y = {VKG__BUF_TENSOR, 2, 0, 0},
        .M = a->M, .N = a->N, .K = a->K,
    };
    return vkg__emit_matmul(lc, &d);
}

static void bench_matmul(bench *b, const char *name, uint32_t M, uint32_t N, uint32_t K, double ref)
{
    vkg__vk_buffer bufs[3];
    uint64_t sizes[3] = {(uint64_t)M * K, (uint64_t)N * K, (uint64_t)M * N};
    make_buffers(b, sizes, 3, bufs);
    mm_args a = {M, N, K};
    timing t = time_program(b, bufs, 3, emit_mm, &a);
    free_buffers(b, 3, bufs);
    print_row(name, t, 2.0 * M * N * K / (t.wall_ms * 1e-3) * 1e-9, "GF", ref, false);
}

// >>other kernels (emitters in kernels.c)
typedef struct norm_args { uint32_t rows, C; } norm_args;

static vkg_result emit_rms(vkg__lower_ctx *lc, void *user)
{
    norm_args *a = user;
    vkg__norm_desc d = {
        .x = {VKG__BUF_TENSOR, 0, 0, 0}, .y = {VKG__BUF_TENSOR, 1, 0, 0}, .w = {VKG__BUF_TENSOR, 2, 0, 0},
        .rows = a->rows, .C = a->C, .eps = 1e-6f, .kind = VKG__NORM_RMS,
    };
    return vkg__emit_norm(lc, &d);
}

static void bench_rmsnorm(bench *b, uint32_t rows, uint32_t C)
{
    vkg__vk_buffer bufs[3];
    uint64_t sizes[3] = {(uint64_t)rows * C, (uint64_t)rows * C, C};
    make_buffers(b, sizes, 3, bufs);
    norm_args a = {rows, C};
    timing t = time_program(b, bufs, 3, emit_rms, &a);
    free_buffers(b, 3, bufs);
    char name[64];
    snprintf(name, sizeof name, "rmsnorm %ux%u", rows, C);
    print_row(name, t, t.wall_ms, "ms", 1.9, true);
}

typedef struct add_args { uint64_t n; int copies; } add_args;

/* copies adds of n floats each, on disjoint ranges (no barriers between them). */
static vkg_result emit_add(vkg__lower_ctx *lc, void *user)
{
    add_args *a = user;
    for (int i = 0; i < a->copies; i++) {
        uint64_t off = (uint64_t)i * a->n * 4, size = a->n * 4;
        vkg_result r = vkg__emit_binary(lc, (vkg__bufref){VKG__BUF_TENSOR, 0, off, size},
                                        (vkg__bufref){VKG__BUF_TENSOR, 1, off, size},
                                        (vkg__bufref){VKG__BUF_TENSOR, 2, off, size}, a->n, VKG__BIN_ADD);
        if (r != VKG_OK) return r;
    }
    return VKG_OK;
}

static timing run_add(bench *b, uint64_t n, int copies)
{
    vkg__vk_buffer bufs[3];
    uint64_t total = n * (uint64_t)copies;
    uint64_t sizes[3] = {total, total, total};
    make_buffers(b, sizes, 3, bufs);
    add_args a = {n, copies};
    timing t = time_program(b, bufs, 3, emit_add, &a);
    free_buffers(b, 3, bufs);
    return t;
}

static void bench_add(bench *b, uint32_t rows, uint32_t cols)
{
    uint64_t n = (uint64_t)rows * cols;
    timing t = run_add(b, n, 1);
    char name[64];
    snprintf(name, sizeof name, "add %ux%u", rows, cols);
    print_row(name, t, 3.0 * (double)n * 4 / (t.wall_ms * 1e-3) * 1e-9, "GBs", 8.7, false);
}

static void bench_dispatch(bench *b)
{
    enum { MANY = 201 };
    timing one = run_add(b, 64, 1), many = run_add(b, 64, MANY);
    timing t = {(many.wall_ms - one.wall_ms) / (MANY - 1), -1.0};
    if (one.gpu_ms >= 0 && many.gpu_ms >= 0) t.gpu_ms = (many.gpu_ms - one.gpu_ms) / (MANY - 1);
    print_row("per extra dispatch (add 64)", t, t.wall_ms * 1e3, "us", 26.0, true);
    timing s = one;
    s.gpu_ms = -1.0;
    print_row("submit + wait (1 tiny add)", s, s.wall_ms * 1e3, "us", 90.0, true);
}

int main(int argc, char **argv)
{
    bench b = {.runs = 7};
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) b.runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else {
            fprintf(stderr, "usage: bench_kernels [--runs N] [--device NAME]\n");
            return 2;
        }
    }
    if (b.runs < 1) b.runs = 1;
    if (b.runs > MAX_RUNS) b.runs = MAX_RUNS;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.device = device, .profile = true}, &b.ctx);
    if (r != VKG_OK) {
        /* profiling may be what the device lacks: try without */
        if (b.ctx) vkg_context_destroy(b.ctx);
        b.ctx = NULL;
        r = vkg_context_create(&(vkg_context_desc){.device = device}, &b.ctx);
        if (r != VKG_OK) {
            fprintf(stderr, "bench_kernels: no context: %s\n", b.ctx ? vkg_last_error(b.ctx) : vkg_result_string(r));
            return 1;
        }
    } else {
        b.timestamps = true;
    }
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", localtime(&now));
    printf("device: %s; %s; median of %d runs after 2 warm-up runs\n", vkg_context_device_name(b.ctx), date, b.runs);
    printf("matmul sizes are M x N x K: y[M, N] = x[M, K] w[N, K]^T; GF = GFLOP/s (2MNK / wall time)\n\n");
    print_header();
    bench_matmul(&b, "matmul 1024x1024x1024", 1024, 1024, 1024, 32.0);
    bench_matmul(&b, "matmul 512x2048x2048", 512, 2048, 2048, 32.0);
    bench_matmul(&b, "gemv 1x2048x2048", 1, 2048, 2048, 4.4);
    bench_matmul(&b, "gemv 4x2048x2048", 4, 2048, 2048, 0.0);
    bench_rmsnorm(&b, 512, 4096);
    bench_add(&b, 2048, 512);
    bench_add(&b, 4096, 4096);
    bench_dispatch(&b);
    vkg_context_destroy(b.ctx);
    return 0;
}
