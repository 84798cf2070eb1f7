/*
 * bench_hylra.c — HyLRA kernel micro-benchmark (bench/RESULTS.md): for one
 * causal prefill of T rows (H heads, KV KV heads, head size Dh, top_k) it
 * times, interleaved run by run so that machine load hits all alike, an
 * ordinary full layer (attention.comp), a selecting full layer as it was
 * (attention.comp then hylra_select.comp), the fused selecting full layer
 * (hylra_full.comp through vkg__emit_hylra_full) and a reuse layer
 * (hylra_attend.comp over the sets the fused kernel wrote). Wall clock of
 * submit + wait per program, median over the runs after one warm-up round.
 *
 * usage: bench_hylra [--tokens T] [--heads H] [--kv KV] [--dh Dh] [--top-k K] [--runs N]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vkg_impl.h"

#define MAX_RUNS 32
#define N_PROG 4

typedef struct cfg { uint32_t T, H, KV, Dh, top_k; int runs; } cfg;

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
    fprintf(stderr, "bench_hylra: %s: %s (%s)\n", what, vkg_result_string(r), vkg_last_error(ctx));
    exit(1);
}

static vkg__bufref buf(int i) { return (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)i}; }

/* Program p over buffers 0 q, 1 k, 2 v, 3 o, 4 idx. */
static vkg_result emit(vkg__lower_ctx *lc, const cfg *c, int p)
{
    vkg__hylra_desc hd = {.q = buf(0), .k = buf(1), .v = buf(2), .o = buf(3), .idx = buf(4), .Tq = c->T, .Tk = c->T, .H = c->H,
                          .KV = c->KV, .Dh = c->Dh, .top_k = c->top_k, .scale = (float)(1.0 / sqrt((double)c->Dh)), .causal = true};
    vkg__attn_desc ad = {.q = hd.q, .k = hd.k, .v = hd.v, .o = hd.o, .Tq = c->T, .Tk = c->T, .H = c->H, .KV = c->KV, .Dh = c->Dh,
                         .scale = hd.scale, .causal = true};
    vkg_result r;
    switch (p) {
    case 0: return vkg__emit_attention(lc, &ad);
    case 1: return (r = vkg__emit_attention(lc, &ad)) ? r : vkg__emit_hylra_select(lc, &hd);
    case 2: return vkg__emit_hylra_full(lc, &hd);
    default: return vkg__emit_hylra_attend(lc, &hd);
    }
}

int main(int argc, char **argv)
{
    cfg c = {.T = 2048, .H = 4, .KV = 2, .Dh = 32, .top_k = 64, .runs = 5};
    for (int i = 1; i + 1 < argc; i += 2) {
        uint32_t v = (uint32_t)atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--tokens")) c.T = v;
        else if (!strcmp(argv[i], "--heads")) c.H = v;
        else if (!strcmp(argv[i], "--kv")) c.KV = v;
        else if (!strcmp(argv[i], "--dh")) c.Dh = v;
        else if (!strcmp(argv[i], "--top-k")) c.top_k = v;
        else if (!strcmp(argv[i], "--runs")) c.runs = (int)v;
        else {
            fprintf(stderr, "usage: bench_hylra [--tokens T] [--heads H] [--kv KV] [--dh Dh] [--top-k K] [--runs N]\n");
            return 2;
        }
    }
    c.runs = c.runs < 1 ? 1 : c.runs > MAX_RUNS ? MAX_RUNS : c.runs;
    vkg_context *ctx = NULL;
    check(ctx, vkg_context_create(&(vkg_context_desc){0}, &ctx), "context");
    uint64_t sizes[5] = {(uint64_t)c.T * c.H * c.Dh, (uint64_t)c.T * c.KV * c.Dh, (uint64_t)c.T * c.KV * c.Dh,
                         (uint64_t)c.T * c.H * c.Dh, (uint64_t)c.T * c.KV * c.top_k};
    vkg__vk_buffer bufs[5], *ptrs[5];
    uint64_t s = 12345;
    for (int i = 0; i < 5; i++) {
        check(ctx, vkg__vk_buffer_create(ctx, sizes[i] * 4, VKG__MEM_DEVICE, &bufs[i]), "buffer");
        float *h = malloc(sizes[i] * 4);
        for (uint64_t j = 0; j < sizes[i]; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            h[j] = i == 4 ? 0.0f : (float)((double)(s >> 40) / (double)(1 << 24) - 0.5);
        }
        check(ctx, vkg__vk_upload(ctx, &bufs[i], 0, h, sizes[i] * 4), "upload");
        free(h);
        ptrs[i] = &bufs[i];
    }
    vkg__vk_program *prog[N_PROG];
    vkg__lower_ctx *lc[N_PROG];     /* kept to the end: it owns the scratch temps */
    for (int p = 0; p < N_PROG; p++) {
        check(ctx, vkg__standalone_begin(ctx, ptrs, 5, &lc[p]), "begin");
        vkg_result r = emit(lc[p], &c, p);
        check(ctx, r ? r : vkg__standalone_build(lc[p], &prog[p]), "emit/build");
    }
    static const char *const names[N_PROG] = {"full layer (attention.comp)", "selecting full, attention + hylra_select",
                                              "selecting full, hylra_full (fused)", "reuse layer (hylra_attend)"};
    double ms[N_PROG][MAX_RUNS];
    for (int run = -1; run < c.runs; run++)       /* run -1: warm-up */
        for (int p = 0; p < N_PROG; p++) {
            double t0 = now_ms();
            check(ctx, vkg__vk_program_run(ctx, prog[p]), "run");
            if (run >= 0) ms[p][run] = now_ms() - t0;
        }
    printf("device: %s; causal prefill T %u, H %u, KV %u, Dh %u, top_k %u; median (min) of %d interleaved runs\n",
           vkg_context_device_name(ctx), c.T, c.H, c.KV, c.Dh, c.top_k, c.runs);
    for (int p = 0; p < N_PROG; p++) {
        qsort(ms[p], (size_t)c.runs, sizeof(double), cmp_double);
        printf("%-44s %10.1f ms (%.1f)\n", names[p], ms[p][c.runs / 2], ms[p][0]);
        vkg__vk_program_destroy(ctx, prog[p]);
        vkg__standalone_end(lc[p]);
    }
    for (int i = 0; i < 5; i++) vkg__vk_buffer_destroy(ctx, &bufs[i]);
    vkg_context_destroy(ctx);
    return 0;
}
