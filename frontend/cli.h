/*
 * cli.h — private declarations shared by the files of the `vkg` program
 * (main.c: option parsing, devices/check/init-weights; cli_run.c: run;
 * cli_bench.c: bench; cli_generate.c: generate). The program uses only vkg.h
 * and vkg_frontend.h.
 *
 * Exit codes (CLI.md): 0 ok; 1 bad graph file, weights file or input;
 * 2 bad command line; 3 device or runtime failure.
 */
#ifndef VKG_CLI_H
#define VKG_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "vkg.h"
#include "vkg_frontend.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_INPUT = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_DEVICE = 3,
};

#define CLI_MAX_ARGS 64

/* Options of one command after parsing; unset strings are NULL. */
typedef struct cli_args {
    const char *cmd;
    const char *graph;
    const char *weights;
    const char *out_dir;
    const char *out_file;          /* init-weights -o */
    const char *device;
    const char *backend;
    const char *text;
    const char *text_file;
    const char *image;
    const char *trace;
    const char *dtype;
    const char *inputs[CLI_MAX_ARGS];   /* NAME=FILE.npy */
    int n_inputs;
    const char *dims[CLI_MAX_ARGS];     /* K=V */
    int n_dims;
    bool decode_flag;              /* run --decode */
    bool no_fold;
    bool check_finite;             /* run/bench --check-finite: NaN/Inf in weights is an error */
    bool per_op;
    int64_t tokens;                /* bench --tokens (default 128) */
    int64_t decode_n;              /* bench --decode N (-1: not given) */
    int64_t repeat;                /* bench --repeat (default 10) */
    uint64_t seed;
    bool has_seed;
    double std;
    bool has_std;
    const char *prompt;            /* generate --prompt */
    const char *max_new;           /* generate --max-tokens, --temperature, --top-k, --top-p: */
    const char *temperature;       /*   the text as given, checked in cli_generate.c */
    const char *top_k;
    const char *top_p;
} cli_args;

/* Prints "vkg: error: ..." plus the usage line to stderr; returns 2. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vkg: error: MSG" to stderr; returns code. */
int cli_fail_msg(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints vkg_last_error(ctx) and returns the exit code for r. */
int cli_fail(vkg_context *ctx, vkg_result r);
/* Exit code for a result (GRAPH/WEIGHTS/INPUT/IO -> 1, device -> 3). */
int cli_exit_code(vkg_result r);
/* Whole-string number parsing (main.c): false on an empty string, trailing
 * characters or overflow; the u64 form also rejects a sign; double rejects NaN. */
bool cli_parse_i64(const char *s, int64_t *out);
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_double(const char *s, double *out);

/* Creates a context with the log callback and, when VKG_VALIDATION=1, validation.
 * On failure prints the message, destroys the context and returns the exit code. */
int cli_context_open(vkg_backend backend, const char *device, bool profile, vkg_context **out);
/* Checks validation messages, destroys ctx and returns code (or 3 when the
 * validation layer reported anything and code was 0). */
int cli_context_close(vkg_context *ctx, int code);
/* Loads GRAPH with the --dim overrides; on failure prints and returns the exit code. */
int cli_graph_load(vkg_context *ctx, const cli_args *a, vkg_graph **out);

/* Exit 1 with "CMD: FILE:LINE:COL: NODE cannot be decoded token by token"
 * unless g can be decoded token by token (vkg_graph_decodable); else 0. */
int cli_check_decodable(const vkg_graph *g, const char *path, const char *cmd);

int cli_cmd_run(const cli_args *a);
int cli_cmd_bench(const cli_args *a);
int cli_cmd_generate(const cli_args *a);
/* tune-hylra parses its own options (cli_tune.c). */
int cli_cmd_tune_hylra(int argc, char **argv);

#endif
