/*
 * main.c — entry point of the `vkg` command (CLI.md): command-line parsing,
 * exit-code mapping, context set-up shared by all commands, and the small
 * commands `devices`, `check` and `init-weights`. `run` lives in cli_run.c,
 * `bench` in cli_bench.c, `generate` in cli_generate.c. Calls only vkg.h and
 * vkg_frontend.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* One entry per command: its name and its usage lines (CLI.md). */
static const struct {
    const char *cmd, *text;
} usage_table[] = {
    {"devices", "vkg devices\n"},
    {"check", "vkg check GRAPH [--dim K=V]...\n"},
    {"run", "vkg run GRAPH [--weights FILE] [--input NAME=FILE.npy]... [--text STR] [--text-file FILE]\n"
            "        [--image FILE] [--out DIR] [--device SEL] [--backend vulkan|cpu] [--decode]\n"
            "        [--no-fold] [--check-finite] [--dim K=V]...\n"},
    {"init-weights", "vkg init-weights GRAPH -o FILE.safetensors [--seed N] [--std S] [--dtype f32|f16]\n"},
    {"bench", "vkg bench GRAPH [--tokens N] [--decode N] [--repeat R] [--per-op] [--trace FILE.json]\n"
              "        [--device SEL] [--weights FILE] [--check-finite] [--dim K=V]...\n"},
    {"generate", "vkg generate GRAPH [--weights FILE] --prompt STR [--max-tokens N] [--temperature T]\n"
                 "        [--top-k K] [--top-p P] [--seed S] [--device SEL] [--backend vulkan|cpu] [--dim K=V]...\n"},
};
#define N_COMMANDS (int)(sizeof usage_table / sizeof usage_table[0])

/* The command being parsed: usage errors show only its lines (NULL: all). */
static const char *usage_cmd;

static void print_usage(FILE *f, const char *cmd)
{
    bool found = false;
    for (int k = 0; cmd && k < N_COMMANDS; k++)
        if (strcmp(usage_table[k].cmd, cmd) == 0) {
            fprintf(f, "usage: %s", usage_table[k].text);
            found = true;
        }
    if (found)
        return;
    fputs("usage:\n", f);
    for (int k = 0; k < N_COMMANDS; k++)
        fprintf(f, "  %s", usage_table[k].text);
}

// >>errors and exit codes

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vkg: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    print_usage(stderr, usage_cmd);
    return CLI_EXIT_USAGE;
}

int cli_fail_msg(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vkg: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_exit_code(vkg_result r)
{
    switch (r) {
    case VKG_OK:
        return CLI_EXIT_OK;
    case VKG_ERR_GRAPH:
    case VKG_ERR_WEIGHTS:
    case VKG_ERR_INPUT:
    case VKG_ERR_IO:
        return CLI_EXIT_INPUT;
    default:   /* no device, Vulkan, device memory, device lost, unsupported, host OOM, misuse */
        return CLI_EXIT_DEVICE;
    }
}

int cli_fail(vkg_context *ctx, vkg_result r)
{
    const char *msg = ctx ? vkg_last_error(ctx) : "";
    if (!msg || !msg[0])
        msg = vkg_result_string(r);
    fprintf(stderr, "vkg: error: %s\n", msg);
    return cli_exit_code(r);
}

// >>context

static void log_cb(vkg_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == VKG_LOG_WARN)
        fprintf(stderr, "vkg: warning: %s\n", msg);
    else if (level == VKG_LOG_ERROR)
        fprintf(stderr, "vkg: error: %s\n", msg);
}

static bool validation_wanted(void)
{
    const char *v = getenv("VKG_VALIDATION");
    return v && strcmp(v, "1") == 0;
}

int cli_context_open(vkg_backend backend, const char *device, bool profile, vkg_context **out)
{
    uint64_t mem_limit = 0;   /* VKG_DEVICE_MEMORY_LIMIT=BYTES caps the device memory the engine may use */
    const char *lim = getenv("VKG_DEVICE_MEMORY_LIMIT");
    if (lim && lim[0] && !cli_parse_u64(lim, &mem_limit)) {
        *out = NULL;
        return cli_fail_msg(CLI_EXIT_USAGE, "VKG_DEVICE_MEMORY_LIMIT expects a number of bytes, got '%s'", lim);
    }
    *out = NULL;
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){
                                          .backend = backend,
                                          .device = device,
                                          .validation = validation_wanted(),
                                          .device_memory_limit = mem_limit,
                                          .profile = profile,
                                          .log = log_cb,
                                      },
                                      &ctx);
    if (r != VKG_OK) {
        int code = cli_fail(ctx, r);
        if (code == CLI_EXIT_INPUT)   /* a context failure is never the user's file */
            code = CLI_EXIT_DEVICE;
        vkg_context_destroy(ctx);
        return code;
    }
    *out = ctx;
    return CLI_EXIT_OK;
}

int cli_context_close(vkg_context *ctx, int code)
{
    if (!ctx)
        return code;
    uint32_t n = vkg_context_validation_messages(ctx);
    vkg_context_destroy(ctx);
    if (n > 0) {
        fprintf(stderr, "vkg: error: the Vulkan validation layer reported %u message%s\n", n, n == 1 ? "" : "s");
        if (code == CLI_EXIT_OK)
            code = CLI_EXIT_DEVICE;
    }
    return code;
}

int cli_graph_load(vkg_context *ctx, const cli_args *a, vkg_graph **out)
{
    vkg_result r = vkg_frontend_load(ctx,
                                     &(vkg_frontend_desc){
                                         .path = a->graph,
                                         .dim_overrides = a->dims,
                                         .n_dim_overrides = a->n_dims,
                                     },
                                     out);
    if (r == VKG_OK)
        return CLI_EXIT_OK;
    *out = NULL;
    if (r == VKG_ERR_INVALID_ARG) {   /* a --dim that the graph does not have */
        fprintf(stderr, "vkg: error: %s\n", vkg_last_error(ctx));
        return CLI_EXIT_USAGE;
    }
    return cli_fail(ctx, r);
}

// >>parsing

enum opt_kind { OPT_FLAG, OPT_STR, OPT_LIST, OPT_INT, OPT_U64, OPT_DOUBLE };

typedef struct opt_spec {
    const char *name;     /* "--weights" */
    const char *cmds;     /* commands accepting it, space-separated */
    enum opt_kind kind;
    size_t off;           /* offsetof(cli_args, field) */
    size_t count_off;     /* OPT_LIST: offsetof the count; OPT_U64/DOUBLE: the has_ flag */
} opt_spec;

#define OFF(f) offsetof(cli_args, f)

static const opt_spec opt_table[] = {
    {"--dim",       "check run bench generate", OPT_LIST,   OFF(dims),        OFF(n_dims)},
    {"--weights",   "run bench generate", OPT_STR,    OFF(weights),     0},
    {"--input",     "run",                OPT_LIST,   OFF(inputs),      OFF(n_inputs)},
    {"--text",      "run",                OPT_STR,    OFF(text),        0},
    {"--text-file", "run",                OPT_STR,    OFF(text_file),   0},
    {"--image",     "run",                OPT_STR,    OFF(image),       0},
    {"--out",       "run",                OPT_STR,    OFF(out_dir),     0},
    {"--device",    "run bench generate", OPT_STR,    OFF(device),      0},
    {"--backend",   "run generate",       OPT_STR,    OFF(backend),     0},
    {"--decode",    "run",                OPT_FLAG,   OFF(decode_flag), 0},
    {"--no-fold",   "run",                OPT_FLAG,   OFF(no_fold),     0},
    {"--check-finite", "run bench",       OPT_FLAG,   OFF(check_finite), 0},
    {"-o",          "init-weights",       OPT_STR,    OFF(out_file),    0},
    {"--seed",      "init-weights generate", OPT_U64,    OFF(seed),        OFF(has_seed)},
    {"--std",       "init-weights",       OPT_DOUBLE, OFF(std),         OFF(has_std)},
    {"--dtype",     "init-weights",       OPT_STR,    OFF(dtype),       0},
    {"--tokens",    "bench",              OPT_INT,    OFF(tokens),      0},
    {"--decode",    "bench",              OPT_INT,    OFF(decode_n),    0},
    {"--repeat",    "bench",              OPT_INT,    OFF(repeat),      0},
    {"--per-op",    "bench",              OPT_FLAG,   OFF(per_op),      0},
    {"--trace",     "bench",              OPT_STR,    OFF(trace),       0},
    /* generate's numbers are checked in cli_generate.c (ranges differ per option) */
    {"--prompt",      "generate",         OPT_STR,    OFF(prompt),      0},
    {"--max-tokens",  "generate",         OPT_STR,    OFF(max_new),     0},
    {"--temperature", "generate",         OPT_STR,    OFF(temperature), 0},
    {"--top-k",       "generate",         OPT_STR,    OFF(top_k),       0},
    {"--top-p",       "generate",         OPT_STR,    OFF(top_p),       0},
};

static bool word_in(const char *word, const char *list)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, word, n) == 0)
            return true;
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}

bool cli_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || v != v)
        return false;
    *out = v;
    return true;
}

/* Parses argv[2..] for command a->cmd. Returns 0 or an exit code. */
static int parse_args(int argc, char **argv, cli_args *a)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (a->graph)
                return cli_usage_error("%s: unexpected argument '%s'", a->cmd, arg);
            a->graph = arg;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_usage(stdout, usage_cmd);
            return -1;
        }
        /* --name=value form */
        char name[64];
        const char *inline_val = NULL;
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name)
            return cli_usage_error("%s: unknown option '%s'", a->cmd, arg);
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        if (eq)
            inline_val = eq + 1;
        const opt_spec *o = NULL;
        for (size_t k = 0; k < sizeof opt_table / sizeof opt_table[0]; k++)
            if (strcmp(opt_table[k].name, name) == 0 && word_in(a->cmd, opt_table[k].cmds)) {
                o = &opt_table[k];
                break;
            }
        if (!o)
            return cli_usage_error("%s: unknown option '%s'", a->cmd, name);
        char *base = (char *)a;
        if (o->kind == OPT_FLAG) {
            if (inline_val)
                return cli_usage_error("%s: option %s takes no value", a->cmd, name);
            *(bool *)(base + o->off) = true;
            continue;
        }
        const char *val = inline_val;
        if (!val) {
            if (i + 1 >= argc)
                return cli_usage_error("%s: option %s needs a value", a->cmd, name);
            val = argv[++i];
        }
        switch (o->kind) {
        case OPT_STR:
            *(const char **)(base + o->off) = val;
            break;
        case OPT_LIST: {
            int *n = (int *)(base + o->count_off);
            if (*n >= CLI_MAX_ARGS)
                return cli_usage_error("%s: too many %s options (at most %d)", a->cmd, name, CLI_MAX_ARGS);
            ((const char **)(base + o->off))[(*n)++] = val;
            break;
        }
        case OPT_INT: {
            int64_t v;
            int64_t lo = o->off == OFF(decode_n) ? 0 : 1;   /* --decode 0 is allowed */
            if (!cli_parse_i64(val, &v) || v < lo || v > (1LL << 30))
                return cli_usage_error("%s: %s expects a %s integer, got '%s'", a->cmd, name,
                                       lo ? "positive" : "non-negative", val);
            *(int64_t *)(base + o->off) = v;
            break;
        }
        case OPT_U64: {
            uint64_t v;
            if (!cli_parse_u64(val, &v))
                return cli_usage_error("%s: %s expects a non-negative integer, got '%s'", a->cmd, name, val);
            *(uint64_t *)(base + o->off) = v;
            *(bool *)(base + o->count_off) = true;
            break;
        }
        case OPT_DOUBLE: {
            double v;
            if (!cli_parse_double(val, &v) || v <= 0 || v > 1e30)
                return cli_usage_error("%s: %s expects a positive number, got '%s'", a->cmd, name, val);
            *(double *)(base + o->off) = v;
            *(bool *)(base + o->count_off) = true;
            break;
        }
        case OPT_FLAG:
            break;
        }
    }
    for (int k = 0; k < a->n_dims; k++) {
        const char *d = a->dims[k];
        const char *eq = strchr(d, '=');
        if (!eq || eq == d || !eq[1])
            return cli_usage_error("%s: --dim expects K=V, got '%s'", a->cmd, d);
    }
    for (int k = 0; k < a->n_inputs; k++) {
        const char *d = a->inputs[k];
        const char *eq = strchr(d, '=');
        if (!eq || eq == d || !eq[1])
            return cli_usage_error("%s: --input expects NAME=FILE.npy, got '%s'", a->cmd, d);
    }
    if (strcmp(a->cmd, "devices") != 0 && !a->graph)
        return cli_usage_error("%s: missing GRAPH", a->cmd);
    if (strcmp(a->cmd, "devices") == 0 && a->graph)
        return cli_usage_error("devices: unexpected argument '%s'", a->graph);
    if (a->backend && strcmp(a->backend, "vulkan") != 0 && strcmp(a->backend, "cpu") != 0)
        return cli_usage_error("%s: --backend expects vulkan or cpu, got '%s'", a->cmd, a->backend);
    if (a->dtype && strcmp(a->dtype, "f32") != 0 && strcmp(a->dtype, "f16") != 0)
        return cli_usage_error("init-weights: --dtype expects f32 or f16, got '%s'", a->dtype);
    if (strcmp(a->cmd, "init-weights") == 0 && !a->out_file)
        return cli_usage_error("init-weights: missing -o FILE.safetensors");
    return 0;
}

// >>commands

static int cmd_devices(void)
{
    size_t size = 1 << 16;
    char *buf = malloc(size);
    if (!buf)
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    buf[0] = '\0';
    vkg_result r = vkg_list_devices(buf, size);
    if (r != VKG_OK) {
        free(buf);
        return cli_fail_msg(CLI_EXIT_DEVICE, "listing devices: %s", vkg_result_string(r));
    }
    fputs(buf, stdout);
    if (buf[0] && buf[strlen(buf) - 1] != '\n')
        fputc('\n', stdout);
    free(buf);
    return CLI_EXIT_OK;
}

/* The folds model creation would make (OPS.md 6): a model with random
 * weights on the CPU backend (which norms fold depends on the graph only). */
static int print_folds(vkg_context *ctx, vkg_graph *g)
{
    vkg_result r = vkg_graph_set_weights(g, &(vkg_weights_source){.std = 0.02});
    vkg_model *m = NULL;
    if (r == VKG_OK)
        r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m);
    if (r != VKG_OK) {   /* the graph is valid; only the fold listing is missing */
        printf("folds: not computed (%s)\n", vkg_last_error(ctx));
        return CLI_EXIT_OK;
    }
    int n = vkg_model_fold_count(m);
    if (n > 0)
        printf("folds: %d (norm -> node whose weights absorb it; vkg run --no-fold keeps them)\n", n);
    for (int i = 0; i < n; i++) {
        const char *norm, *into;
        if (vkg_model_fold_info(m, i, &norm, &into) == VKG_OK)
            printf("  %-40s -> %s\n", norm, into);
    }
    vkg_model_destroy(m);
    return CLI_EXIT_OK;
}

/* A CPU context with GRAPH loaded (check, init-weights); on failure nothing
 * stays open and the exit code is returned. */
static int open_cpu_graph(const cli_args *a, vkg_context **ctx, vkg_graph **g)
{
    int code = cli_context_open(VKG_BACKEND_CPU, NULL, false, ctx);
    if (code)
        return code;
    code = cli_graph_load(*ctx, a, g);
    if (code)
        return cli_context_close(*ctx, code);
    return CLI_EXIT_OK;
}

static int cmd_check(const cli_args *a)
{
    vkg_context *ctx;
    vkg_graph *g;
    int code = open_cpu_graph(a, &ctx, &g);
    if (code)
        return code;

    int n = vkg_graph_node_count(g);
    int64_t total = 0;
    printf("%-4s %-32s %-12s %-20s %12s\n", "#", "tensor", "op", "shape", "params");
    for (int i = 0; i < n; i++) {
        vkg_node_info ni;
        vkg_result r = vkg_graph_node_info(g, i, &ni);
        if (r != VKG_OK) {
            code = cli_fail(ctx, r);
            break;
        }
        const char *name = ni.tensor_name && ni.tensor_name[0] ? ni.tensor_name
                           : (ni.weight_prefix && ni.weight_prefix[0] ? ni.weight_prefix : "-");
        printf("%-4d %-32s %-12s %-20s %12lld\n", i, name, ni.op, ni.shape_str, (long long)ni.n_params);
        total += ni.n_params;
    }
    if (code == CLI_EXIT_OK) {
        printf("total parameters: %lld (%.3f M)\n", (long long)total, (double)total / 1e6);
        int nw = vkg_graph_weight_count(g);
        printf("weights: %d\n", nw);
        for (int i = 0; i < nw; i++) {
            const char *key;
            int nd;
            int64_t ne[VKG_MAX_DIMS];
            vkg_result r = vkg_graph_weight_info(g, i, &key, &nd, ne);
            if (r != VKG_OK) {
                code = cli_fail(ctx, r);
                break;
            }
            char shape[96];
            int len = snprintf(shape, sizeof shape, "[");
            for (int d = 0; d < nd && len < (int)sizeof shape; d++)
                len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%lld", d ? ", " : "", (long long)ne[d]);
            if (len < (int)sizeof shape)
                snprintf(shape + len, sizeof shape - (size_t)len, "]");
            printf("  %-40s %s\n", key, shape);
        }
    }
    if (code == CLI_EXIT_OK)
        code = print_folds(ctx, g);
    vkg_graph_destroy(g);
    return cli_context_close(ctx, code);
}

static int cmd_init_weights(const cli_args *a)
{
    vkg_context *ctx;
    vkg_graph *g;
    int code = open_cpu_graph(a, &ctx, &g);
    if (code)
        return code;
    uint64_t seed = 0;
    double std = 0.02;
    const vkg_weights_source *src = vkg_graph_weights(g);
    if (src && !src->path) {
        seed = src->seed;
        if (src->std > 0)
            std = src->std;
    }
    if (a->has_seed)
        seed = a->seed;
    if (a->has_std)
        std = a->std;
    vkg_dtype dt = a->dtype && strcmp(a->dtype, "f16") == 0 ? VKG_DTYPE_F16 : VKG_DTYPE_F32;
    vkg_result r = vkg_graph_write_random_weights(g, a->out_file, seed, std, dt);
    if (r != VKG_OK)
        code = cli_fail(ctx, r);
    else
        printf("wrote %d weights to %s (seed %llu, std %g, %s)\n", vkg_graph_weight_count(g), a->out_file,
               (unsigned long long)seed, std, vkg_dtype_name(dt));
    vkg_graph_destroy(g);
    return cli_context_close(ctx, code);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout, usage_cmd);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "tune-hylra") == 0)
        return cli_cmd_tune_hylra(argc, argv);   /* cli_tune.c parses its own options */
    bool known = false;
    for (int k = 0; k < N_COMMANDS; k++)
        known = known || strcmp(cmd, usage_table[k].cmd) == 0;
    if (!known)
        return cli_usage_error("unknown command '%s'", cmd);
    usage_cmd = cmd;

    cli_args a = {.cmd = cmd, .tokens = 128, .repeat = 10, .decode_n = -1};
    int code = parse_args(argc, argv, &a);
    if (code < 0)
        return CLI_EXIT_OK;   /* --help */
    if (code)
        return code;
    fflush(stdout);
    if (strcmp(cmd, "devices") == 0)
        code = cmd_devices();
    else if (strcmp(cmd, "check") == 0)
        code = cmd_check(&a);
    else if (strcmp(cmd, "run") == 0)
        code = cli_cmd_run(&a);
    else if (strcmp(cmd, "init-weights") == 0)
        code = cmd_init_weights(&a);
    else if (strcmp(cmd, "generate") == 0)
        code = cli_cmd_generate(&a);
    else
        code = cli_cmd_bench(&a);
    fflush(stdout);
    return code;
}
