/*
 * cli_tune.c — `vkg tune-hylra GRAPH --text FILE [--weights W] [--top-k K]
 * [--budget N] [--dim K=V]...`: the offline HyLRA policy (OPS.md 11, token
 * level). Runs the graph on the calibration text on the CPU reference with
 * every softmax layer full and recording its index sets, measures the overlap
 * O[i][j] = |I_i ∩ I_j| / |I_j| of each layer's sets with each earlier
 * layer's (mean over rows and KV heads; rows where every position is kept are
 * left out), then picks the policy with at most N computed (full) layers,
 * layer 0 full, that maximises (minimum overlap, sum of overlaps)
 * lexicographically: for each candidate minimum a DP over (layer, segment
 * head, computed layers) maximises the sum; the largest feasible minimum
 * wins. Prints the `hylra:` block to paste and the predicted overlap per layer.
 * Calls only vkg.h and vkg_frontend.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_LAYERS 128

typedef struct tune_opts {
    cli_args a;                 /* graph, weights, dims for cli_graph_load */
    const char *text_file;
    int64_t top_k, budget;
} tune_opts;

static int parse_int_opt(const char *name, const char *v, int64_t *out)
{
    int64_t x;
    if (!cli_parse_i64(v, &x) || x < 1) return cli_usage_error("%s needs a positive integer, got '%s'", name, v);
    *out = x;
    return 0;
}

static int parse_tune_args(int argc, char **argv, tune_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int code = 0;
        if (s[0] != '-') {
            if (o->a.graph) return cli_usage_error("unexpected argument '%s'", s);
            o->a.graph = s;
            continue;
        }
        if (!v) return cli_usage_error("%s needs a value", s);
        if (strcmp(s, "--weights") == 0) o->a.weights = v;
        else if (strcmp(s, "--text") == 0) o->text_file = v;
        else if (strcmp(s, "--top-k") == 0) code = parse_int_opt(s, v, &o->top_k);
        else if (strcmp(s, "--budget") == 0) code = parse_int_opt(s, v, &o->budget);
        else if (strcmp(s, "--dim") == 0 && o->a.n_dims < CLI_MAX_ARGS) o->a.dims[o->a.n_dims++] = v;
        else return cli_usage_error("unknown option '%s'", s);
        if (code) return code;
        i++;
    }
    if (!o->a.graph) return cli_usage_error("missing GRAPH");
    if (!o->text_file) return cli_usage_error("missing --text FILE (the calibration text)");
    return 0;
}

/* The calibration text as byte ids, at most `vocab`-1 each. */
static int32_t *read_ids(const char *path, int64_t vocab, int64_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    int c;
    while (ids && (c = fgetc(f)) != EOF) {
        if (len == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
        if (ids) ids[len++] = vocab > 0 ? c % (int)vocab : c;
    }
    fclose(f);
    *n = (int64_t)len;
    return ids;
}

// >>overlap
/* |a ∩ b| of two ascending lists. */
static int64_t common(const int32_t *a, const int32_t *b, int64_t n)
{
    int64_t i = 0, j = 0, c = 0;
    while (i < n && j < n && a[i] >= 0 && b[j] >= 0) {
        if (a[i] == b[j]) c++, i++, j++;
        else if (a[i] < b[j]) i++;
        else j++;
    }
    return c;
}

/* O[i][j], i < j: mean over rows with more than top_k visible positions (all rows if none) and KV heads. */
static double overlap(const vkg_host_tensor *si, const vkg_host_tensor *sj)
{
    int64_t T = sj->ne[0], KV = sj->ne[1], K = sj->ne[2], first = T > K ? K : 0;
    const int32_t *a = si->data, *b = sj->data;
    double sum = 0;
    int64_t n = 0;
    for (int64_t p = first; p < T; p++)
        for (int64_t g = 0; g < KV; g++, n++) {
            const int32_t *ra = a + (p * KV + g) * K, *rb = b + (p * KV + g) * K;
            int64_t keep = p + 1 < K ? p + 1 : K;
            sum += (double)common(ra, rb, K) / (double)keep;
        }
    return n ? sum / (double)n : 1.0;
}

// >>policy DP
typedef struct dp_cell { double sum; int prev_head; bool ok; } dp_cell;

/* Max sum of per-layer values with every value >= m and at most N heads;
 * fills head[] (segment head of each layer). Returns -1 when infeasible. */
static double dp_for_min(int L, const double O[][MAX_LAYERS], int64_t N, double m, int *head)
{
    int64_t C = N + 1;
    dp_cell *dp = calloc((size_t)L * L * (size_t)C, sizeof *dp);
#define CELL(j, i, c) dp[((size_t)(j) * L + (i)) * (size_t)C + (c)]
    CELL(0, 0, 1) = (dp_cell){1.0, -1, true};
    for (int j = 1; j < L; j++)
        for (int i = 0; i < j; i++)
            for (int64_t c = 1; c <= N; c++) {
                dp_cell from = CELL(j - 1, i, c);
                if (!from.ok) continue;
                if (O[i][j] >= m && (!CELL(j, i, c).ok || from.sum + O[i][j] > CELL(j, i, c).sum))
                    CELL(j, i, c) = (dp_cell){from.sum + O[i][j], i, true};
                if (c < N && (!CELL(j, j, c + 1).ok || from.sum + 1.0 > CELL(j, j, c + 1).sum))
                    CELL(j, j, c + 1) = (dp_cell){from.sum + 1.0, i, true};
            }
    int bi = -1;
    int64_t bc = 0;
    for (int i = 0; i < L; i++)
        for (int64_t c = 1; c <= N; c++)
            if (CELL(L - 1, i, c).ok && (bi < 0 || CELL(L - 1, i, c).sum > CELL(L - 1, bi, bc).sum)) bi = i, bc = c;
    double best = bi < 0 ? -1.0 : CELL(L - 1, bi, bc).sum;
    for (int j = L - 1; j >= 0 && bi >= 0; j--) {   /* walk back: head of j is bi */
        head[j] = bi;
        int prev = CELL(j, bi, bc).prev_head;
        if (bi == j) bc--;
        bi = prev;
    }
#undef CELL
    free(dp);
    return best;
}

static void choose_policy(int L, const double O[][MAX_LAYERS], int64_t N, int *head)
{
    double cands[MAX_LAYERS * MAX_LAYERS + 1];
    int nc = 0;
    cands[nc++] = 1.0;
    for (int i = 0; i < L; i++)
        for (int j = i + 1; j < L; j++) cands[nc++] = O[i][j];
    double best_m = -1;
    for (int k = 0; k < nc; k++)
        if (cands[k] > best_m && dp_for_min(L, O, N, cands[k], head) >= 0) best_m = cands[k];
    dp_for_min(L, O, N, best_m, head);
}

// >>command
static int measure(vkg_context *ctx, vkg_graph *g, const tune_opts *o, int L, double O[][MAX_LAYERS], int64_t *T)
{
    bool full[MAX_LAYERS];
    for (int i = 0; i < L; i++) full[i] = true;
    vkg_result r = vkg_graph_set_hylra(g, &(vkg_hylra_desc){.top_k = o->top_k, .n_policy = L, .policy_full = full, .record = true});
    if (r) return cli_fail(ctx, r);
    int32_t *ids = read_ids(o->text_file, vkg_graph_vocab(g), T);
    if (!ids || *T < 1) {
        free(ids);
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: cannot read calibration text (or it is empty)", o->text_file);
    }
    vkg_model *m = NULL;
    vkg_session *s = NULL;
    vkg_host_tensor sets[MAX_LAYERS] = {0};
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {*T}, .data = ids};
    r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = o->a.weights}, &m);
    if (!r) r = vkg_session_create(m, &(vkg_session_desc){.backend = VKG_BACKEND_CPU, .max_tokens = *T}, &s);
    const char *name = NULL;
    vkg_dtype dt;
    int nd;
    if (!r) r = vkg_graph_input_info(g, 0, &name, &dt, &nd);
    if (!r) r = vkg_session_set_input(s, name, &in);
    if (!r) r = vkg_session_run(s);
    for (int i = 0; i < L && !r; i++) r = vkg_session_hylra_indices(s, i, &sets[i]);
    for (int i = 0; i < L && !r; i++)
        for (int j = 0; j < L; j++) O[i][j] = i < j ? overlap(&sets[i], &sets[j]) : (i == j ? 1.0 : 0.0);
    for (int i = 0; i < L; i++) vkg_host_tensor_free(ctx, &sets[i]);
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    free(ids);
    return r ? cli_fail(ctx, r) : 0;
}

static void print_result(const tune_opts *o, int L, const double O[][MAX_LAYERS], int64_t T, const int *head)
{
    printf("# vkg tune-hylra: %lld tokens of %s, top_k %lld, at most %lld of %d softmax layers full\n", (long long)T, o->text_file,
           (long long)o->top_k, (long long)o->budget, L);
    printf("# overlap |I_i n I_j| / |I_j| (row: earlier layer i, column: layer j)\n");
    for (int i = 0; i < L; i++) {
        printf("#  %3d:", i);
        for (int j = 0; j < L; j++) printf(j > i ? " %.3f" : "     -", O[i][j]);
        printf("\n");
    }
    printf("hylra: {top_k: %lld, policy: [", (long long)o->top_k);
    double mn = 1.0, sum = 0;
    for (int j = 0; j < L; j++) printf("%s%s", j ? ", " : "", head[j] == j ? "full" : "reuse");
    printf("]}\n# predicted overlap per layer:");
    for (int j = 0; j < L; j++) {
        double v = head[j] == j ? 1.0 : O[head[j]][j];
        mn = v < mn ? v : mn, sum += v;
        printf(" %.3f", v);
    }
    printf("  (min %.3f, mean %.3f)\n", mn, sum / L);
}

int cli_cmd_tune_hylra(int argc, char **argv)
{
    tune_opts o = {.a = {.cmd = "tune-hylra"}, .top_k = 64};
    int code = parse_tune_args(argc, argv, &o);
    if (code) return code;
    vkg_context *ctx;
    if ((code = cli_context_open(VKG_BACKEND_CPU, NULL, false, &ctx))) return code;
    vkg_graph *g = NULL;
    int L = 0;
    static double O[MAX_LAYERS][MAX_LAYERS];
    int64_t T = 0;
    code = cli_graph_load(ctx, &o.a, &g);
    if (!code) {
        L = vkg_graph_hylra_layers(g);
        if (L < 1 || L > MAX_LAYERS) code = cli_fail_msg(CLI_EXIT_INPUT, "%s: %d softmax attention layers (1 to %d needed)", o.a.graph, L, MAX_LAYERS);
    }
    if (!code) {
        if (o.budget == 0) o.budget = (L + 1) / 2;
        if (o.budget > L) o.budget = L;
        code = measure(ctx, g, &o, L, O, &T);
    }
    if (!code) {
        int head[MAX_LAYERS];
        choose_policy(L, O, o.budget, head);
        print_result(&o, L, O, T, head);
    }
    vkg_graph_destroy(g);
    return cli_context_close(ctx, code);
}
