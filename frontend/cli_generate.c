/*
 * cli_generate.c — `vkg generate` (CLI.md): autoregressive text generation
 * for byte-level language models (vocab >= 256). Prefills the prompt in one
 * vkg_session_step, then decodes one token per step, sampling on the host
 * from the last row of the logits (greedy with ties to the smaller id, or
 * temperature, top-k, then top-p with a seeded generator), and prints each
 * byte as it is produced; tokens/s for prefill and decode go to stderr.
 * Calls only vkg.h and vkg_frontend.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

typedef struct gen_options {
    const unsigned char *prompt;
    int64_t n_prompt;
    int64_t max_new;        /* tokens to generate (default 64) */
    double temperature;     /* 0: greedy */
    int64_t top_k;          /* 0: off */
    double top_p;           /* 1: off */
    uint64_t seed;
} gen_options;

/* Candidate ids of one sampling step, sorted by logit (larger first, then smaller id). */
typedef struct cand {
    double z;
    int32_t id;
} cand;

typedef struct sampler {
    gen_options opt;
    uint64_t rng;
    int64_t n;              /* ids that can be drawn: [0, n) */
    cand *c;                /* n candidates (scratch) */
} sampler;

// >>options

/* Checks generate's options; returns 0 or 2 (a bad command line). */
static int parse_options(const cli_args *a, gen_options *o)
{
    *o = (gen_options){.max_new = 64, .temperature = 1.0, .top_p = 1.0, .seed = a->has_seed ? a->seed : 0};
    if (!a->prompt)
        return cli_usage_error("generate: missing --prompt STR");
    if (!a->prompt[0])
        return cli_usage_error("generate: --prompt is empty (at least one byte is needed to start from)");
    o->prompt = (const unsigned char *)a->prompt;
    o->n_prompt = (int64_t)strlen(a->prompt);
    if (a->max_new && (!cli_parse_i64(a->max_new, &o->max_new) || o->max_new < 0 || o->max_new > (1LL << 30)))
        return cli_usage_error("generate: --max-tokens expects a non-negative integer, got '%s'", a->max_new);
    if (a->temperature && (!cli_parse_double(a->temperature, &o->temperature) || !isfinite(o->temperature) || o->temperature < 0))
        return cli_usage_error("generate: --temperature expects a number >= 0, got '%s'", a->temperature);
    if (a->top_k && (!cli_parse_i64(a->top_k, &o->top_k) || o->top_k < 0 || o->top_k > (1LL << 30)))
        return cli_usage_error("generate: --top-k expects a non-negative integer (0: off), got '%s'", a->top_k);
    if (a->top_p && (!cli_parse_double(a->top_p, &o->top_p) || !(o->top_p > 0 && o->top_p <= 1)))
        return cli_usage_error("generate: --top-p expects a number in (0, 1], got '%s'", a->top_p);
    return CLI_EXIT_OK;
}

// >>sampling

/* splitmix64: the seeded stream of the sampler. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_uniform(uint64_t *state) { return (double)(next_u64(state) >> 11) * (1.0 / 9007199254740992.0); }

static int cmp_cand(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->z != b->z)
        return a->z > b->z ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int32_t argmax(const float *row, int64_t n)
{
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (row[i] > row[best])   /* strict: ties go to the smaller id */
            best = (int32_t)i;
    return best;
}

/* Draws the next id from one row of logits; -1 when the row is not finite. */
static int32_t sample(sampler *s, const float *row)
{
    for (int64_t i = 0; i < s->n; i++)
        if (!isfinite(row[i]))
            return -1;
    if (s->opt.temperature == 0)
        return argmax(row, s->n);
    for (int64_t i = 0; i < s->n; i++)
        s->c[i] = (cand){.z = (double)row[i] / s->opt.temperature, .id = (int32_t)i};
    qsort(s->c, (size_t)s->n, sizeof *s->c, cmp_cand);
    int64_t k = s->opt.top_k > 0 && s->opt.top_k < s->n ? s->opt.top_k : s->n;
    double sum = 0, top = s->c[0].z;   /* kept: c[0].z is overwritten first */
    for (int64_t i = 0; i < k; i++) {   /* z becomes the unnormalized probability */
        s->c[i].z = exp(s->c[i].z - top);
        sum += s->c[i].z;
    }
    /* nucleus: the smallest prefix whose probability reaches top_p */
    double cum = 0;
    int64_t m = 0;
    while (m < k && (m == 0 || cum < s->opt.top_p * sum))
        cum += s->c[m++].z;
    double u = next_uniform(&s->rng) * cum;
    for (int64_t i = 0; i < m; i++) {
        u -= s->c[i].z;
        if (u < 0)
            return s->c[i].id;
    }
    return s->c[m - 1].id;   /* rounding left u at 0 */
}

// >>model checks

/* Exit code 1 with the reason unless g is a decodable byte-level LM. */
static int check_lm(const vkg_graph *g, const char *path)
{
    int64_t vocab = vkg_graph_vocab(g);
    if (vocab < 256)
        return cli_fail_msg(CLI_EXIT_INPUT,
                            "%s is not a byte-level language model: generate needs an embed with vocab >= 256 "
                            "(found %lld)",
                            path, (long long)vocab);
    int code = cli_check_decodable(g, path, "generate");
    if (code)
        return code;
    if (vkg_graph_input_count(g) != 1)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s has %d inputs; generate gives only the token ids", path,
                            vkg_graph_input_count(g));
    return CLI_EXIT_OK;
}

/* The output named "logits", else output 0. */
static int logits_output(const vkg_graph *g)
{
    for (int i = 0; i < vkg_graph_output_count(g); i++)
        if (strcmp(vkg_graph_output_name(g, i), "logits") == 0)
            return i;
    return 0;
}

/* Positions the graph can take: the smallest pos_embed max_len (rows of its weight), else -1. */
static int64_t position_limit(const vkg_graph *g)
{
    int64_t limit = -1;
    for (int i = 0; i < vkg_graph_node_count(g); i++) {
        vkg_node_info ni;
        if (vkg_graph_node_info(g, i, &ni) != VKG_OK || strcmp(ni.op, "pos_embed") != 0 || ni.n_dims < 1)
            continue;
        int64_t dim = ni.ne[ni.n_dims - 1];
        if (dim > 0 && ni.n_params > 0 && (limit < 0 || ni.n_params / dim < limit))
            limit = ni.n_params / dim;
    }
    return limit;
}

// >>generation

typedef struct gen_run {
    vkg_context *ctx;
    vkg_graph *g;
    vkg_session *s;
    const char *in_name;
    int out_index;
    int64_t capacity;       /* tokens the session may hold */
    sampler smp;
    double prefill_ms, decode_ms;
    int64_t n_decoded;      /* decoding steps */
} gen_run;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs ids[0..n) as the next tokens and draws the next id from the last row
 * of the logits. The API hands back the whole output (n rows); only the last
 * row is read. Returns 0 or an exit code. */
static int step_and_sample(gen_run *gr, const int32_t *ids, int64_t n, int32_t *next)
{
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {n}, .data = (void *)ids};
    vkg_result r = vkg_session_set_input(gr->s, gr->in_name, &in);
    if (r == VKG_OK)
        r = vkg_session_step(gr->s);
    vkg_host_tensor out;
    if (r == VKG_OK)
        r = vkg_session_get_output(gr->s, gr->out_index, &out);
    if (r != VKG_OK)
        return cli_fail(gr->ctx, r);
    int64_t row = out.n_dims == 2 ? out.ne[1] : 0;
    if (out.n_dims != 2 || out.ne[0] != n || row < 256)
        return cli_fail_msg(CLI_EXIT_INPUT, "output %s is not logits [T, vocab >= 256]",
                            vkg_graph_output_name(gr->g, gr->out_index));
    if (gr->smp.n == 0) {   /* first call: draw from ids the embedding can take back */
        int64_t vocab = vkg_graph_vocab(gr->g);
        gr->smp.n = row < vocab ? row : vocab;
        if (!(gr->smp.c = malloc((size_t)gr->smp.n * sizeof *gr->smp.c)))
            return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    }
    *next = sample(&gr->smp, (const float *)out.data + (n - 1) * row);
    if (*next < 0)
        return cli_fail_msg(CLI_EXIT_DEVICE, "the logits at position %lld are not finite",
                            (long long)vkg_session_position(gr->s) - 1);
    return CLI_EXIT_OK;
}

/* Prints a byte as soon as it is drawn; ids >= 256 (not bytes) print nothing. */
static void emit(int32_t id)
{
    if (id < 256) {
        fputc(id, stdout);
        fflush(stdout);
    }
}

static int generate(gen_run *gr, const gen_options *o)
{
    int32_t *ids = malloc((size_t)o->n_prompt * sizeof *ids);
    if (!ids)
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    for (int64_t i = 0; i < o->n_prompt; i++)
        ids[i] = o->prompt[i];
    double t0 = now_ms();
    int32_t tok = 0;
    int code = o->max_new > 0 ? step_and_sample(gr, ids, o->n_prompt, &tok) : CLI_EXIT_OK;
    gr->prefill_ms = now_ms() - t0;
    free(ids);
    for (int64_t made = 0; code == CLI_EXIT_OK && made < o->max_new;) {
        emit(tok);
        if (++made == o->max_new)
            break;
        if (vkg_session_position(gr->s) >= gr->capacity) {
            fprintf(stderr, "\nvkg: stopped at the session capacity of %lld tokens\n", (long long)gr->capacity);
            break;
        }
        t0 = now_ms();
        code = step_and_sample(gr, &tok, 1, &tok);
        gr->decode_ms += now_ms() - t0;
        gr->n_decoded++;
    }
    return code;
}

static void print_speed(const gen_run *gr, const gen_options *o)
{
    fprintf(stderr, "\nprefill: %lld tokens in %.2f ms, %.1f tokens/s\n", (long long)o->n_prompt, gr->prefill_ms,
            gr->prefill_ms > 0 ? (double)o->n_prompt * 1e3 / gr->prefill_ms : 0.0);
    fprintf(stderr, "decode: %lld tokens in %.2f ms, %.1f tokens/s (%s)\n", (long long)gr->n_decoded, gr->decode_ms,
            gr->decode_ms > 0 ? (double)gr->n_decoded * 1e3 / gr->decode_ms : 0.0, vkg_context_device_name(gr->ctx));
}

/* Session capacity: prompt + max-tokens, within the graph's positions. */
static int plan_capacity(gen_run *gr, const gen_options *o)
{
    int64_t limit = position_limit(gr->g);
    if (limit > 0 && o->n_prompt > limit)
        return cli_fail_msg(CLI_EXIT_INPUT, "--prompt has %lld bytes, more than the %lld positions of %s",
                            (long long)o->n_prompt, (long long)limit, vkg_graph_file(gr->g));
    gr->capacity = o->n_prompt + o->max_new;
    if (limit > 0 && gr->capacity > limit)
        gr->capacity = limit;
    return CLI_EXIT_OK;
}

static int run_model(gen_run *gr, const cli_args *a, const gen_options *o, bool cpu)
{
    vkg_model *m = NULL;
    vkg_result r = vkg_model_create(gr->ctx, &(vkg_model_desc){.graph = gr->g, .weights_path = a->weights}, &m);
    if (r == VKG_OK)
        r = vkg_session_create(m,
                               &(vkg_session_desc){.backend = cpu ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN,
                                                   .max_tokens = gr->capacity},
                               &gr->s);
    int code = r == VKG_OK ? generate(gr, o) : cli_fail(gr->ctx, r);
    if (code == CLI_EXIT_OK)
        print_speed(gr, o);
    vkg_session_destroy(gr->s);
    vkg_model_destroy(m);
    return code;
}

int cli_cmd_generate(const cli_args *a)
{
    gen_options o;
    int code = parse_options(a, &o);
    if (code)
        return code;
    bool cpu = a->backend && strcmp(a->backend, "cpu") == 0;
    gen_run gr = {.smp = {.opt = o, .rng = o.seed}};
    code = cli_context_open(cpu ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN, a->device, false, &gr.ctx);
    if (code)
        return code;
    code = cli_graph_load(gr.ctx, a, &gr.g);
    if (!code)
        code = check_lm(gr.g, a->graph);
    if (!code) {
        vkg_dtype dt;
        int nd;
        vkg_graph_input_info(gr.g, 0, &gr.in_name, &dt, &nd);
        gr.out_index = logits_output(gr.g);
        code = plan_capacity(&gr, &o);
    }
    if (!code)
        code = run_model(&gr, a, &o, cpu);
    free(gr.smp.c);
    vkg_graph_destroy(gr.g);
    return cli_context_close(gr.ctx, code);
}
