/*
 * bench_attention.c — softmax attention kernel micro-benchmark
 * (bench/RESULTS.md): one attention of Tq query rows over Tk keys (causal,
 * queries at positions Tk - Tq .. Tk - 1, so Tq = Tk is a prefill and Tq = 1
 * a decoding step over a cache), timed for each variant of
 * vkg__emit_attention_variant (kernels.c), interleaved run by run so that
 * machine load hits all alike. Wall clock of submit + wait per program,
 * median (min) over the runs after one warm-up round.
 *
 * usage: bench_attention [--tq N] [--tk N] [--heads H] [--kv KV] [--dh Dh] [--runs N]
 *                        [--variant V:PARAM]...   (V: 0 auto, 1 row, 2 group, 3 split)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vkg_impl.h"

#define MAX_RUNS 32
#define MAX_PROG 8

typedef struct cfg { uint32_t Tq, Tk, H, KV, Dh; int runs, n_prog; int var[MAX_PROG]; uint32_t param[MAX_PROG]; } cfg;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void check(vkg_context *ctx, vkg_result r, const char *what)
{
    if (r == VKG_OK) return;
    fprintf(stderr, "bench_attention: %s: %s (%s)\n", what, vkg_result_string(r), ctx ? vkg_last_error(ctx) : "");
    exit(1);
}

static vkg__bufref buf(int i) { return (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)i}; }

static int parse(int argc, char **argv, cfg *c)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        uint32_t v = (uint32_t)atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--tq")) c->Tq = v;
        else if (!strcmp(argv[i], "--tk")) c->Tk = v;
        else if (!strcmp(argv[i], "--heads")) c->H = v;
        else if (!strcmp(argv[i], "--kv")) c->KV = v;
        else if (!strcmp(argv[i], "--dh")) c->Dh = v;
        else if (!strcmp(argv[i], "--runs")) c->runs = (int)v;
        else if (!strcmp(argv[i], "--variant") && c->n_prog < MAX_PROG) {
            unsigned p = 0;
            c->var[c->n_prog] = atoi(argv[i + 1]);
            const char *colon = strchr(argv[i + 1], ':');
            if (colon) p = (unsigned)atoi(colon + 1);
            c->param[c->n_prog++] = p;
        } else return 0;
    }
    if (c->Tq == 0 || c->Tq > c->Tk || c->KV == 0 || c->H % c->KV) return 0;
    if (c->n_prog == 0) {
        c->var[0] = VKG__ATTN_ROW, c->var[1] = VKG__ATTN_AUTO;
        c->n_prog = 2;
    }
    c->runs = c->runs < 1 ? 1 : c->runs > MAX_RUNS ? MAX_RUNS : c->runs;
    return 1;
}

int main(int argc, char **argv)
{
    cfg c = {.Tq = 2048, .Tk = 2048, .H = 8, .KV = 2, .Dh = 64, .runs = 5};
    if (!parse(argc, argv, &c)) {
        fprintf(stderr, "usage: bench_attention [--tq N] [--tk N] [--heads H] [--kv KV] [--dh Dh] [--runs N] [--variant V:PARAM]...\n");
        return 2;
    }
    vkg_context *ctx = NULL;
    check(ctx, vkg_context_create(&(vkg_context_desc){0}, &ctx), "context");
    uint64_t sizes[4] = {(uint64_t)c.Tq * c.H * c.Dh, (uint64_t)c.Tk * c.KV * c.Dh, (uint64_t)c.Tk * c.KV * c.Dh,
                         (uint64_t)c.Tq * c.H * c.Dh};
    vkg__vk_buffer bufs[4], *ptrs[4];
    uint64_t s = 12345;
    for (int i = 0; i < 4; i++) {
        check(ctx, vkg__vk_buffer_create(ctx, sizes[i] * 4, VKG__MEM_DEVICE, &bufs[i]), "buffer");
        float *h = malloc(sizes[i] * 4);
        for (uint64_t j = 0; j < sizes[i]; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            h[j] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5);
        }
        check(ctx, vkg__vk_upload(ctx, &bufs[i], 0, h, sizes[i] * 4), "upload");
        free(h);
        ptrs[i] = &bufs[i];
    }
    vkg__vk_program *prog[MAX_PROG];
    vkg__lower_ctx *lc[MAX_PROG];   /* kept to the end: it owns the temps */
    vkg__attn_desc ad = {.q = buf(0), .k = buf(1), .v = buf(2), .o = buf(3), .Tq = c.Tq, .Tk = c.Tk, .H = c.H, .KV = c.KV,
                         .Dh = c.Dh, .pos0 = c.Tk - c.Tq, .scale = (float)(1.0 / sqrt((double)c.Dh)), .causal = true};
    for (int p = 0; p < c.n_prog; p++) {
        check(ctx, vkg__standalone_begin(ctx, ptrs, 4, &lc[p]), "begin");
        vkg_result r = vkg__emit_attention_variant(lc[p], &ad, (vkg__attn_variant)c.var[p], c.param[p]);
        check(ctx, r ? r : vkg__standalone_build(lc[p], &prog[p]), "emit/build");
    }
    static const char *const names[] = {"auto", "row (attention.comp)", "group", "split + merge"};
    double ms[MAX_PROG][MAX_RUNS];
    for (int run = -1; run < c.runs; run++)       /* run -1: warm-up (and the driver's compile) */
        for (int p = 0; p < c.n_prog; p++) {
            double t0 = now_ms();
            check(ctx, vkg__vk_program_run(ctx, prog[p]), "run");
            if (run >= 0) ms[p][run] = now_ms() - t0;
        }
    printf("device: %s; causal Tq %u over Tk %u keys, H %u, KV %u, Dh %u; median (min) of %d interleaved runs\n",
           vkg_context_device_name(ctx), c.Tq, c.Tk, c.H, c.KV, c.Dh, c.runs);
    for (int p = 0; p < c.n_prog; p++) {
        qsort(ms[p], (size_t)c.runs, sizeof(double), cmp_double);
        printf("%-24s param %-5u %10.2f ms (%.2f)\n", names[c.var[p] & 3], c.param[p], ms[p][c.runs / 2], ms[p][0]);
        vkg__vk_program_destroy(ctx, prog[p]);
        vkg__standalone_end(lc[p]);
    }
    for (int i = 0; i < 4; i++) vkg__vk_buffer_destroy(ctx, &bufs[i]);
    vkg_context_destroy(ctx);
    return 0;
}
