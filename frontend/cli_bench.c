/*
 * cli_bench.c — `vkg bench` (CLI.md): times whole-graph runs of N tokens on
 * random inputs (and random weights when the graph has none), prints median
 * and min, and with --per-op / --trace the per-dispatch GPU times from the
 * session's timestamp queries, aggregated by node or as a Chrome trace.
 * --decode N times N single-token vkg_session_step calls after a prefill, in
 * a session of its own. Calls only vkg.h and vkg_frontend.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct bench_input {
    const char *name;
    vkg_host_tensor t;
} bench_input;

/* splitmix64: a fixed, reproducible stream for the random inputs. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Random inputs: i32 ids in [0, vocab), f32 uniform [0, 1); -1 sizes bound to n_tokens. */
static int make_inputs(const vkg_graph *g, int64_t n_tokens, bench_input *in, int *n_in, bool *bound)
{
    *bound = false;
    int n = vkg_graph_input_count(g);
    int64_t vocab = vkg_graph_vocab(g);
    if (vocab <= 0)
        vocab = 1;
    uint64_t rng = 1234;
    *n_in = 0;
    for (int i = 0; i < n && i < CLI_MAX_ARGS; i++) {
        const char *name;
        vkg_dtype dt;
        int nd;
        int64_t ne[VKG_MAX_DIMS];
        if (vkg_graph_input_info(g, i, &name, &dt, &nd) != VKG_OK || vkg_graph_input_shape(g, i, ne) != VKG_OK)
            return cli_fail_msg(CLI_EXIT_INPUT, "input %d: cannot read its description", i);
        vkg_host_tensor t = {.dtype = dt == VKG_DTYPE_I32 ? VKG_DTYPE_I32 : VKG_DTYPE_F32, .n_dims = nd};
        int64_t count = 1;
        for (int d = 0; d < nd; d++) {
            t.ne[d] = ne[d] < 0 ? n_tokens : ne[d];
            *bound = *bound || ne[d] < 0;
            count *= t.ne[d];
        }
        t.data = malloc((size_t)(count > 0 ? count : 1) * 4);
        if (!t.data)
            return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
        for (int64_t k = 0; k < count; k++) {
            uint64_t r = next_u64(&rng);
            if (t.dtype == VKG_DTYPE_I32)
                ((int32_t *)t.data)[k] = (int32_t)(r % (uint64_t)vocab);
            else
                ((float *)t.data)[k] = (float)((double)(r >> 11) * (1.0 / 9007199254740992.0));
        }
        in[(*n_in)++] = (bench_input){.name = name, .t = t};
    }
    return CLI_EXIT_OK;
}

/* Weights: --weights when given; else the graph's file if it exists, else random. */
static int choose_weights(vkg_context *ctx, vkg_graph *g, const cli_args *a)
{
    if (a->weights)
        return CLI_EXIT_OK;
    const vkg_weights_source *src = vkg_graph_weights(g);
    if (src && src->path && access(src->path, R_OK) != 0) {
        printf("weights: %s not found, using random weights (seed 0, std 0.02)\n", src->path);
        vkg_result r = vkg_graph_set_weights(g, &(vkg_weights_source){.path = NULL, .seed = 0, .std = 0.02});
        if (r != VKG_OK)
            return cli_fail(ctx, r);
    } else if (!src || !src->path) {
        printf("weights: random (seed %llu, std %g)\n", src ? (unsigned long long)src->seed : 0ull,
               src && src->std > 0 ? src->std : 0.02);
    } else {
        printf("weights: %s\n", src->path);
    }
    return CLI_EXIT_OK;
}

typedef struct node_time {
    const char *node, *op;
    int kernels;
    double us;
} node_time;

static int cmp_node_time(const void *x, const void *y)
{
    double a = ((const node_time *)x)->us, b = ((const node_time *)y)->us;
    return (a < b) - (a > b);
}

static int print_per_op(vkg_context *ctx, vkg_session *s)
{
    int n = vkg_session_timing_count(s);
    if (n <= 0) {
        printf("per-op: no timings recorded\n");
        return CLI_EXIT_OK;
    }
    node_time *rows = calloc((size_t)n, sizeof *rows);
    if (!rows)
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    int n_rows = 0;
    double total = 0;
    for (int i = 0; i < n; i++) {
        vkg_op_timing t;
        vkg_result r = vkg_session_timing(s, i, &t);
        if (r != VKG_OK) {
            free(rows);
            return cli_fail(ctx, r);
        }
        const char *node = t.node ? t.node : "?";
        const char *op = t.op ? t.op : "?";
        int k = 0;
        while (k < n_rows && !(strcmp(rows[k].node, node) == 0 && strcmp(rows[k].op, op) == 0))
            k++;
        if (k == n_rows)
            rows[n_rows++] = (node_time){.node = node, .op = op};
        rows[k].kernels++;
        rows[k].us += t.dur_us;
        total += t.dur_us;
    }
    qsort(rows, (size_t)n_rows, sizeof *rows, cmp_node_time);
    printf("\n%-32s %-12s %7s %12s %8s\n", "node", "op", "kernels", "total us", "share");
    for (int k = 0; k < n_rows; k++)
        printf("%-32s %-12s %7d %12.1f %7.1f%%\n", rows[k].node, rows[k].op, rows[k].kernels, rows[k].us,
               total > 0 ? 100.0 * rows[k].us / total : 0.0);
    printf("%-32s %-12s %7d %12.1f %7.1f%%\n", "total", "", n, total, 100.0);
    free(rows);
    return CLI_EXIT_OK;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int write_trace(vkg_context *ctx, vkg_session *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cli_fail_msg(CLI_EXIT_INPUT, "--trace %s: cannot open for writing", path);
    int n = vkg_session_timing_count(s);
    fprintf(f, "{\"traceEvents\":[\n");
    int written = 0;
    for (int i = 0; i < n; i++) {
        vkg_op_timing t;
        if (vkg_session_timing(s, i, &t) != VKG_OK)
            continue;
        fprintf(f, "%s{\"name\":", written ? ",\n" : "");
        json_string(f, t.node);
        fprintf(f, ",\"cat\":");
        json_string(f, t.op);
        fprintf(f, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":1,\"args\":{\"kernel\":", t.start_us,
                t.dur_us);
        json_string(f, t.kernel);
        fprintf(f, ",\"index\":%d}}", i);
        written++;
    }
    fprintf(f, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"device\":");
    json_string(f, vkg_context_device_name(ctx));
    fprintf(f, "}}\n");
    bool err = ferror(f) != 0;
    if (fclose(f) != 0 || err)
        return cli_fail_msg(CLI_EXIT_INPUT, "--trace %s: write error", path);
    printf("trace: %d events written to %s\n", written, path);
    return CLI_EXIT_OK;
}

static double median_of(double *ms, int64_t n)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

/* One decoding pass: reset, prefill the inputs, then n steps of one token
 * (the input ids again, in turn); returns the steps' time in *ms. */
static vkg_result decode_pass(vkg_session *s, const bench_input *in, int n_in, int64_t n, double *ms)
{
    vkg_result r = vkg_session_reset(s);
    for (int i = 0; r == VKG_OK && i < n_in; i++)
        r = vkg_session_set_input(s, in[i].name, &in[i].t);
    if (r == VKG_OK)
        r = vkg_session_step(s);
    const int32_t *ids = in[0].t.data;
    double t0 = now_ms();
    for (int64_t j = 0; r == VKG_OK && j < n; j++) {
        vkg_host_tensor one = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {1}, .data = (void *)&ids[j % in[0].t.ne[0]]};
        r = vkg_session_set_input(s, in[0].name, &one);
        if (r == VKG_OK)
            r = vkg_session_step(s);   /* reads the step's outputs back to the host */
    }
    *ms = now_ms() - t0;
    return r;
}

/* --decode N: N decoding steps after a prefill of --tokens, a warm-up pass then
 * --repeat passes, in a session of its own (the prefill session keeps its timings). */
static int bench_decode(vkg_context *ctx, vkg_model *m, const cli_args *a, const bench_input *in, int n_in)
{
    int64_t n = a->decode_n;
    vkg_session *s = NULL;
    vkg_result r = vkg_session_create(m, &(vkg_session_desc){.max_tokens = a->tokens + n}, &s);
    double *ms = calloc((size_t)a->repeat + 1, sizeof *ms);
    if (r == VKG_OK && !ms) {
        vkg_session_destroy(s);
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    }
    for (int64_t k = 0; r == VKG_OK && k <= a->repeat; k++)   /* pass 0 is the warm-up */
        r = decode_pass(s, in, n_in, n, &ms[k]);
    int code = r == VKG_OK ? CLI_EXIT_OK : cli_fail(ctx, r);
    if (!code) {
        double med = median_of(ms + 1, a->repeat) / (double)n, best = ms[1] / (double)n;
        printf("decode %lld steps after %lld tokens: median %.3f ms/token, min %.3f ms/token over %lld runs, "
               "%.1f tokens/s (median), %.1f tokens/s (best)\n",
               (long long)n, (long long)a->tokens, med, best, (long long)a->repeat, 1e3 / med, 1e3 / best);
    }
    free(ms);
    vkg_session_destroy(s);
    return code;
}

static int bench_session(vkg_context *ctx, vkg_graph *g, const cli_args *a, bench_input *in, int n_in,
                         bool tokens_bound)
{
    vkg_model *m = NULL;
    vkg_session *s = NULL;
    vkg_result r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = a->weights, .check_finite = a->check_finite}, &m);
    if (r == VKG_OK)
        r = vkg_session_create(m, &(vkg_session_desc){0}, &s);
    for (int i = 0; r == VKG_OK && i < n_in; i++)
        r = vkg_session_set_input(s, in[i].name, &in[i].t);
    if (r == VKG_OK)
        r = vkg_session_run(s);   /* warm-up */
    int code = CLI_EXIT_OK;
    double *ms = calloc((size_t)a->repeat, sizeof *ms);
    if (r == VKG_OK && !ms)
        code = cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    for (int64_t k = 0; r == VKG_OK && !code && k < a->repeat; k++) {
        double t0 = now_ms();
        r = vkg_session_run(s);
        ms[k] = now_ms() - t0;
    }
    if (r != VKG_OK && !code)
        code = cli_fail(ctx, r);
    if (!code) {
        double med = median_of(ms, a->repeat);
        if (tokens_bound)
            printf("prefill %lld tokens: median %.3f ms, min %.3f ms over %lld runs, %.1f tokens/s\n",
                   (long long)a->tokens, med, ms[0], (long long)a->repeat,
                   med > 0 ? (double)a->tokens / (med / 1e3) : 0.0);
        else   /* fixed-shape inputs (an image): --tokens does not apply */
            printf("run: median %.3f ms, min %.3f ms over %lld runs, %.1f runs/s\n", med, ms[0],
                   (long long)a->repeat, med > 0 ? 1e3 / med : 0.0);
        if (a->decode_n > 0)
            code = bench_decode(ctx, m, a, in, n_in);
        vkg_session_stats st;
        if (vkg_session_stats_get(s, &st) == VKG_OK)
            printf("arena %.2f MiB for %.2f MiB of tensors; weights %.2f MiB; %u dispatches, %u barriers\n",
                   (double)st.arena_bytes / 1048576.0, (double)st.tensor_bytes_total / 1048576.0,
                   (double)st.weight_bytes / 1048576.0, st.n_dispatches, st.n_barriers);
        if (!code && a->per_op)
            code = print_per_op(ctx, s);
        if (!code && a->trace)
            code = write_trace(ctx, s, a->trace);
    }
    free(ms);
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    return code;
}

int cli_cmd_bench(const cli_args *a)
{
    vkg_context *ctx;
    int code = cli_context_open(VKG_BACKEND_VULKAN, a->device, a->per_op || a->trace, &ctx);
    if (code)
        return code;
    printf("device: %s\n", vkg_context_device_name(ctx));
    vkg_graph *g = NULL;
    bench_input in[CLI_MAX_ARGS];
    int n_in = 0;
    bool bound = false;
    code = cli_graph_load(ctx, a, &g);
    if (!code && a->decode_n > 0)
        code = cli_check_decodable(g, a->graph, "bench --decode");
    if (!code)
        code = choose_weights(ctx, g, a);
    if (!code)
        code = make_inputs(g, a->tokens, in, &n_in, &bound);
    if (!code)
        code = bench_session(ctx, g, a, in, n_in, bound);
    for (int i = 0; i < n_in; i++)
        free(in[i].t.data);
    vkg_graph_destroy(g);
    return cli_context_close(ctx, code);
}
