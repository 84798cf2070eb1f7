/*
 * cli_run.c — `vkg run` (CLI.md): loads a graph, gathers its inputs from
 * --input .npy files, --text / --text-file bytes or an --image (stb_image),
 * builds model and session on Vulkan or the CPU reference, runs once, writes
 * every output to DIR/NAME.npy and prints a short summary. With --decode the
 * first i32 [T] input goes through vkg_session_step one token at a time and
 * the outputs of the steps are stacked along their first dimension. Calls
 * only vkg.h and vkg_frontend.h (plus stb_image for pictures).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "cli.h"

/* One graph input ready for vkg_session_set_input. */
typedef struct run_input {
    const char *name;        /* graph input name (owned by the graph or argv) */
    const char *from;        /* what gave it, for messages */
    vkg_host_tensor t;
    bool npy;                /* data from vkg_npy_read (freed by vkg_host_tensor_free) */
} run_input;

typedef struct run_state {
    const cli_args *a;
    vkg_context *ctx;
    vkg_graph *g;
    run_input in[CLI_MAX_ARGS + 2];
    int n_in;
} run_state;

static int find_graph_input(const vkg_graph *g, const char *name, size_t len)
{
    int n = vkg_graph_input_count(g);
    for (int i = 0; i < n; i++) {
        const char *in_name;
        vkg_dtype dt;
        int nd;
        if (vkg_graph_input_info(g, i, &in_name, &dt, &nd) == VKG_OK && strlen(in_name) == len &&
            memcmp(in_name, name, len) == 0)
            return i;
    }
    return -1;
}

static int already_given(const run_state *st, const char *name)
{
    for (int i = 0; i < st->n_in; i++)
        if (strcmp(st->in[i].name, name) == 0)
            return i;
    return -1;
}

static int add_input(run_state *st, int index, const char *from, vkg_host_tensor t, bool npy)
{
    const char *name;
    vkg_dtype dt;
    int nd;
    vkg_graph_input_info(st->g, index, &name, &dt, &nd);
    int prev = already_given(st, name);
    if (prev >= 0) {
        if (npy)
            vkg_host_tensor_free(st->ctx, &t);
        else
            free(t.data);
        return cli_usage_error("run: input %s given twice (%s and %s)", name, st->in[prev].from, from);
    }
    st->in[st->n_in++] = (run_input){.name = name, .from = from, .t = t, .npy = npy};
    return CLI_EXIT_OK;
}

/* First graph input with dtype dt and (rank < 0: any) rank; -1 if none. */
static int first_input_of(const vkg_graph *g, vkg_dtype want, int rank)
{
    int n = vkg_graph_input_count(g);
    for (int i = 0; i < n; i++) {
        const char *name;
        vkg_dtype dt;
        int nd;
        if (vkg_graph_input_info(g, i, &name, &dt, &nd) != VKG_OK)
            continue;
        bool float_ok = want == VKG_DTYPE_F32 && (dt == VKG_DTYPE_F32 || dt == VKG_DTYPE_F16 || dt == VKG_DTYPE_BF16);
        if ((dt == want || float_ok) && (rank < 0 || nd == rank))
            return i;
    }
    return -1;
}

static int tokens_input(run_state *st, const char *from, const unsigned char *bytes, size_t n)
{
    int idx = first_input_of(st->g, VKG_DTYPE_I32, -1);
    if (idx < 0)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: %s has no i32 input to take token ids", from, st->a->graph);
    if (n == 0)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: no bytes, so no tokens", from);
    int32_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = bytes[i];
    vkg_host_tensor t = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {(int64_t)n}, .data = ids};
    return add_input(st, idx, from, t, false);
}

static int read_text_file(run_state *st, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail_msg(CLI_EXIT_INPUT, "--text-file %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf)
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    if (err) {
        free(buf);
        return cli_fail_msg(CLI_EXIT_INPUT, "--text-file %s: read error", path);
    }
    int code = tokens_input(st, "--text-file", buf, n);
    free(buf);
    return code;
}

static int image_input(run_state *st, const char *path)
{
    int idx = first_input_of(st->g, VKG_DTYPE_F32, 3);
    if (idx < 0)
        return cli_fail_msg(CLI_EXIT_INPUT, "--image %s: %s has no float input of rank 3 [H, W, C]", path,
                            st->a->graph);
    int64_t ne[VKG_MAX_DIMS];
    vkg_graph_input_shape(st->g, idx, ne);
    int want_c = ne[2] >= 1 && ne[2] <= 4 ? (int)ne[2] : 3;
    int w, h, c;
    unsigned char *px = stbi_load(path, &w, &h, &c, want_c);
    if (!px)
        return cli_fail_msg(CLI_EXIT_INPUT, "--image %s: %s", path, stbi_failure_reason());
    size_t n = (size_t)w * (size_t)h * (size_t)want_c;
    float *data = malloc(n * sizeof *data);
    if (!data) {
        stbi_image_free(px);
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    }
    for (size_t i = 0; i < n; i++)
        data[i] = (float)px[i] / 255.0f;
    stbi_image_free(px);
    vkg_host_tensor t = {.dtype = VKG_DTYPE_F32, .n_dims = 3, .ne = {h, w, want_c}, .data = data};
    return add_input(st, idx, "--image", t, false);
}

static int gather_inputs(run_state *st)
{
    const cli_args *a = st->a;
    for (int k = 0; k < a->n_inputs; k++) {
        const char *spec = a->inputs[k];
        const char *eq = strchr(spec, '=');
        int idx = find_graph_input(st->g, spec, (size_t)(eq - spec));
        if (idx < 0) {
            char names[512] = "";
            size_t len = 0;
            int n = vkg_graph_input_count(st->g);
            for (int i = 0; i < n && len < sizeof names; i++) {
                const char *name;
                vkg_dtype dt;
                int nd;
                vkg_graph_input_info(st->g, i, &name, &dt, &nd);
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", name);
            }
            return cli_fail_msg(CLI_EXIT_INPUT, "--input %s: %s has no input '%.*s' (its inputs: %s)", spec,
                                a->graph, (int)(eq - spec), spec, names[0] ? names : "none");
        }
        vkg_host_tensor t;
        vkg_result r = vkg_npy_read(st->ctx, eq + 1, &t);
        if (r != VKG_OK) {
            fprintf(stderr, "vkg: error: --input %s: %s\n", spec, vkg_last_error(st->ctx));
            return cli_exit_code(r);
        }
        int code = add_input(st, idx, spec, t, true);
        if (code)
            return code;
    }
    if (a->text) {
        int code = tokens_input(st, "--text", (const unsigned char *)a->text, strlen(a->text));
        if (code)
            return code;
    }
    if (a->text_file) {
        int code = read_text_file(st, a->text_file);
        if (code)
            return code;
    }
    if (a->image) {
        int code = image_input(st, a->image);
        if (code)
            return code;
    }
    /* every graph input must be given */
    int n = vkg_graph_input_count(st->g);
    char missing[512] = "";
    size_t len = 0;
    int n_missing = 0;
    for (int i = 0; i < n; i++) {
        const char *name;
        vkg_dtype dt;
        int nd;
        vkg_graph_input_info(st->g, i, &name, &dt, &nd);
        if (already_given(st, name) < 0 && len < sizeof missing) {
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%s (%s, rank %d)", n_missing ? ", " : "",
                                    name, vkg_dtype_name(dt), nd);
            n_missing++;
        }
    }
    if (n_missing)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: input%s not given: %s (use --input NAME=FILE.npy, --text or --image)",
                            a->graph, n_missing > 1 ? "s" : "", missing);
    return CLI_EXIT_OK;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return cli_fail_msg(CLI_EXIT_INPUT, "--out %s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return cli_fail_msg(CLI_EXIT_INPUT, "--out %s: cannot create %s: %s", dir, path, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail_msg(CLI_EXIT_INPUT, "--out %s: not a directory", dir);
    return CLI_EXIT_OK;
}

static void shape_str(char *buf, size_t size, const vkg_host_tensor *t)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->n_dims && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

/* One line: name, shape, first values and the argmax of the last row. */
static void print_output(const char *name, const vkg_host_tensor *t)
{
    char shape[96];
    shape_str(shape, sizeof shape, t);
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    printf("%-16s %-16s", name, shape);
    const float *x = t->data;
    if (n > 0 && x) {
        int64_t row = t->n_dims > 0 ? t->ne[t->n_dims - 1] : 1;
        const float *last = x + (n - row);
        if (row > 1) {
            int64_t am = 0;
            for (int64_t i = 1; i < row; i++)
                if (last[i] > last[am])
                    am = i;
            printf(" argmax(last row) %lld (%.4g)", (long long)am, last[am]);
        }
        printf("  [");
        for (int64_t i = 0; i < n && i < 4; i++)
            printf("%s%.4g", i ? ", " : "", x[i]);
        printf(n > 4 ? ", ...]" : "]");
    }
    printf("\n");
}

/* Writes the outputs to DIR/NAME.npy and prints one line each. */
static int write_outputs(run_state *st, const vkg_host_tensor *outs)
{
    const char *dir = st->a->out_dir ? st->a->out_dir : "out";
    int code = make_dirs(dir);
    int n_out = vkg_graph_output_count(st->g);
    for (int i = 0; code == CLI_EXIT_OK && i < n_out; i++) {
        const char *name = vkg_graph_output_name(st->g, i);
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/", dir);
        for (const char *p = name; *p && len < (int)sizeof path - 5; p++)
            path[len++] = *p == '/' ? '_' : *p;
        snprintf(path + len, sizeof path - (size_t)len, ".npy");
        vkg_result r = vkg_npy_write(st->ctx, path, &outs[i]);
        if (r != VKG_OK)
            return cli_fail(st->ctx, r);
        print_output(name, &outs[i]);
    }
    return code;
}

/* The whole sequence in one vkg_session_run; outs point into the session. */
static int run_whole(run_state *st, vkg_session *s, vkg_host_tensor *outs)
{
    vkg_result r = vkg_session_run(s);
    for (int i = 0; r == VKG_OK && i < vkg_graph_output_count(st->g); i++)
        r = vkg_session_get_output(s, i, &outs[i]);
    return r == VKG_OK ? CLI_EXIT_OK : cli_fail(st->ctx, r);
}

/* Appends the output o of step `step` (of n_steps, all of one shape) to the stacked output acc. */
static int stack_rows(vkg_host_tensor *acc, const vkg_host_tensor *o, int64_t step, int64_t n_steps)
{
    int64_t row = 1;
    for (int d = 1; d < o->n_dims; d++)
        row *= o->ne[d];
    if (!acc->data) {   /* first step: room for n_steps times as many rows */
        *acc = *o;
        acc->ne[0] = 0;
        acc->data = malloc((size_t)(n_steps * o->ne[0] * row) * sizeof(float) + 4);
        if (!acc->data)
            return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    }
    bool same = o->n_dims == acc->n_dims && o->ne[0] * step == acc->ne[0];
    for (int d = 1; d < o->n_dims && same; d++)
        same = o->ne[d] == acc->ne[d];
    if (!same)
        return cli_fail_msg(CLI_EXIT_DEVICE, "run --decode: the steps' outputs changed shape");
    memcpy((float *)acc->data + acc->ne[0] * row, o->data, (size_t)(o->ne[0] * row) * sizeof(float));
    acc->ne[0] += o->ne[0];
    return CLI_EXIT_OK;
}

int cli_check_decodable(const vkg_graph *g, const char *path, const char *cmd)
{
    const char *why;
    vkg_loc where;
    if (vkg_graph_decodable(g, &why, &where) == VKG_OK)
        return CLI_EXIT_OK;
    if (where.line > 0)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: %s:%d:%d: %s cannot be decoded token by token (it reads later rows)",
                            cmd, where.file ? where.file : path, where.line, where.col, why);
    return cli_fail_msg(CLI_EXIT_INPUT, "%s: %s cannot be decoded token by token: %s", cmd, path, why);
}

/* The first input one token at a time through vkg_session_step; outs are
 * malloc'd stacks of the steps' outputs (freed by the caller). */
static int run_decode(run_state *st, vkg_session *s, vkg_host_tensor *outs)
{
    const char *name;
    vkg_dtype dt;
    int nd;
    vkg_graph_input_info(st->g, 0, &name, &dt, &nd);
    const vkg_host_tensor *tokens = NULL;
    for (int i = 0; i < st->n_in; i++)
        if (strcmp(st->in[i].name, name) == 0)
            tokens = &st->in[i].t;
    int64_t n = tokens->ne[0];
    int code = CLI_EXIT_OK;
    for (int64_t t = 0; code == CLI_EXIT_OK && t < n; t++) {
        vkg_host_tensor one = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {1}, .data = (int32_t *)tokens->data + t};
        vkg_result r = vkg_session_set_input(s, name, &one);
        if (r == VKG_OK)
            r = vkg_session_step(s);
        for (int i = 0; r == VKG_OK && code == CLI_EXIT_OK && i < vkg_graph_output_count(st->g); i++) {
            vkg_host_tensor o;
            r = vkg_session_get_output(s, i, &o);
            if (r == VKG_OK)
                code = stack_rows(&outs[i], &o, t, n);
        }
        if (r != VKG_OK)
            code = cli_fail(st->ctx, r);
    }
    if (code == CLI_EXIT_OK)
        printf("decoded %lld tokens one at a time\n", (long long)n);
    return code;
}

/* First graph input's token count (decoding capacity), 0 when it is not tokens. */
static int64_t token_count(const run_state *st)
{
    const char *name;
    vkg_dtype dt;
    int nd;
    vkg_graph_input_info(st->g, 0, &name, &dt, &nd);
    for (int i = 0; i < st->n_in; i++)
        if (strcmp(st->in[i].name, name) == 0 && dt == VKG_DTYPE_I32)
            return st->in[i].t.ne[0];
    return 0;
}

static int run_session(run_state *st)
{
    const cli_args *a = st->a;
    bool cpu = a->backend && strcmp(a->backend, "cpu") == 0;
    vkg_model *m = NULL;
    vkg_session *s = NULL;
    vkg_result r = vkg_model_create(st->ctx,
                                    &(vkg_model_desc){
                                        .graph = st->g,
                                        .weights_path = a->weights,
                                        .no_fold = a->no_fold,
                                        .check_finite = a->check_finite,
                                    },
                                    &m);
    if (r == VKG_OK)
        r = vkg_session_create(m,
                               &(vkg_session_desc){.backend = cpu ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN,
                                                   .max_tokens = a->decode_flag ? token_count(st) : 0},
                               &s);
    for (int i = 0; r == VKG_OK && i < st->n_in; i++) {
        r = vkg_session_set_input(s, st->in[i].name, &st->in[i].t);
        if (r != VKG_OK) {
            fprintf(stderr, "vkg: error: %s: %s\n", st->in[i].from, vkg_last_error(st->ctx));
            vkg_session_destroy(s);
            vkg_model_destroy(m);
            return cli_exit_code(r);
        }
    }
    int n_out = vkg_graph_output_count(st->g);
    vkg_host_tensor *outs = calloc((size_t)n_out + 1, sizeof *outs);
    int code = r != VKG_OK ? cli_fail(st->ctx, r) : !outs ? cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory") : 0;
    if (code == CLI_EXIT_OK)
        code = a->decode_flag ? run_decode(st, s, outs) : run_whole(st, s, outs);
    if (code == CLI_EXIT_OK)
        code = write_outputs(st, outs);
    if (code == CLI_EXIT_OK) {
        vkg_session_stats stats;
        if (vkg_session_stats_get(s, &stats) == VKG_OK)
            printf("arena %.2f MiB for %.2f MiB of tensors (weights %.2f MiB, %u dispatches) on %s\n",
                   (double)stats.arena_bytes / 1048576.0, (double)stats.tensor_bytes_total / 1048576.0,
                   (double)stats.weight_bytes / 1048576.0, stats.n_dispatches, vkg_context_device_name(st->ctx));
        printf("outputs written to %s/\n", a->out_dir ? a->out_dir : "out");
    }
    for (int i = 0; a->decode_flag && outs && i < n_out; i++)
        free(outs[i].data);
    free(outs);
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    return code;
}

int cli_cmd_run(const cli_args *a)
{
    bool cpu = a->backend && strcmp(a->backend, "cpu") == 0;
    run_state st = {.a = a};
    if (cpu && a->device)
        fprintf(stderr, "vkg: warning: --device %s is ignored with --backend cpu\n", a->device);
    int code = cli_context_open(cpu ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN, a->device, false, &st.ctx);
    if (code)
        return code;
    code = cli_graph_load(st.ctx, a, &st.g);
    if (code == CLI_EXIT_OK && a->decode_flag)
        code = cli_check_decodable(st.g, a->graph, "run --decode");
    if (code == CLI_EXIT_OK)
        code = gather_inputs(&st);
    if (code == CLI_EXIT_OK)
        code = run_session(&st);
    for (int i = 0; i < st.n_in; i++) {
        if (st.in[i].npy)
            vkg_host_tensor_free(st.ctx, &st.in[i].t);
        else
            free(st.in[i].t.data);
    }
    vkg_graph_destroy(st.g);
    return cli_context_close(st.ctx, code);
}
