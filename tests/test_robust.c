/*
 * test_robust.c — robustness (issue 4): every bad input gets its error code
 * and CLI exit code, never a crash or a signal; fault injection through the
 * host allocator; two sessions of one model on two threads; the fuzzers'
 * regression files replayed through the harnesses' entry points.
 *
 * Corpora: tests/graphs_bad/ and tests/bad_inputs/graphs/ (graph files),
 * tests/bad_inputs/tiny.yaml (the graph the weights and input cases use);
 * bad weights files and .npy inputs are generated here into a temp dir.
 * Asserts result codes and exit codes, never message text, except that a
 * graph-file error carries "LINE:COL".
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz/fuzz_common.h"
#include "test_util.h"
#include "vk_internal.h"

// >>helpers

static char tmp_dir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void tmp_init(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/vkg_test_robust_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
}

static void tmp_fini(void)
{
    if (tmp_dir[0])
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = '\0';
}

/* A path in a ring of static buffers. */
static const char *fmt(const char *f, ...)
{
    static char ring[16][1024];
    static int next;
    char *buf = ring[next++ % 16];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof ring[0], f, ap);
    va_end(ap);
    return buf;
}

static const char *src_path(const char *rel) { return fmt("%s/%s", tu_source_root(), rel); }
static const char *tmp_path(const char *name) { return fmt("%s/%s", tmp_dir, name); }

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static bool has_line_col(const char *msg)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, ":[0-9]+:[0-9]+", REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, msg, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Runs the vkg program with argv (NULL-terminated) and optional "K=V" env
 * additions; returns the exit status, -1 for a signal; stderr in err. */
static int run_vkg(char *err, size_t err_size, const char *const *env, const char *const *argv)
{
    const char *build = getenv("VKG_BUILD_ROOT");
    cr_assert(build && build[0], "VKG_BUILD_ROOT is not set (run through meson)");
    const char *exe = fmt("%s/frontend/vkg", build);
    const char *err_file = tmp_path("stderr.txt");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd < 0 || null < 0)
            _exit(120);
        dup2(fd, 2);
        dup2(null, 1);
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    FILE *f = fopen(err_file, "rb");
    size_t n = f ? fread(err, 1, err_size - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Number of regular files in dir (0 when it does not exist). */
static int files_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int count_warnings;
static void log_count(vkg_log_level level, const char *msg, void *user)
{
    (void)msg, (void)user;
    if (level == VKG_LOG_WARN)
        count_warnings++;
}

static vkg_context *cpu_context(void)
{
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU, .log = log_count}, &ctx), VKG_OK);
    return ctx;
}

static vkg_graph *load_graph(vkg_context *ctx, const char *path)
{
    vkg_graph *g = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = path}, &g);
    cr_assert_eq(r, VKG_OK, "%s: %s", path, vkg_last_error(ctx));
    return g;
}

// >>graph files

/* Every file of dir through the CLI (`vkg check`): exit 1 and LINE:COL;
 * and through the library: an error code and LINE:COL. */
static int check_bad_graph_dir(const char *dir_rel)
{
    const char *dir = src_path(dir_rel);
    char dir_copy[1024];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    DIR *d = opendir(dir_copy);
    cr_assert_not_null(d, "%s", dir_copy);
    vkg_context *ctx = cpu_context();
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        char path[2048], err[8192];
        snprintf(path, sizeof path, "%s/%s", dir_copy, e->d_name);
        int code = run_vkg(err, sizeof err, NULL, (const char *const[]){"vkg", "check", path, NULL});
        cr_expect_eq(code, 1, "%s: vkg check exit %d (stderr: %s)", e->d_name, code, err);
        cr_expect(has_line_col(err), "%s: no LINE:COL in: %s", e->d_name, err);
        vkg_graph *g = NULL;
        vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = path}, &g);
        cr_expect(r == VKG_ERR_GRAPH || r == VKG_ERR_UNSUPPORTED, "%s: library result %s", e->d_name, vkg_result_string(r));
        cr_expect(has_line_col(vkg_last_error(ctx)), "%s: %s", e->d_name, vkg_last_error(ctx));
        vkg_graph_destroy(g);
        n++;
    }
    closedir(d);
    vkg_context_destroy(ctx);
    return n;
}

Test(robust, bad_graph_files_new_corpus, .init = tmp_init, .fini = tmp_fini)
{
    cr_assert_geq(check_bad_graph_dir("tests/bad_inputs/graphs"), 20);
}

Test(robust, bad_graph_files_frontend_corpus, .init = tmp_init, .fini = tmp_fini)
{
    cr_assert_geq(check_bad_graph_dir("tests/graphs_bad"), 50);
}

/* Nesting far beyond any stack, generated here: refused, never a stack overflow. */
Test(robust, graph_nesting_100k, .init = tmp_init, .fini = tmp_fini)
{
    size_t depth = 100000, n = 16 + 2 * depth;
    char *text = malloc(n + 1);
    size_t k = (size_t)snprintf(text, n, "name: x\nbody: ");
    for (size_t i = 0; i < depth / 2; i++)
        text[k++] = '[';
    for (size_t i = 0; i < depth / 2; i++)
        text[k++] = ']';
    text[k++] = '\n';
    write_bytes(tmp_path("deep.yaml"), text, k);
    vkg_context *ctx = cpu_context();
    vkg_graph *g = NULL;
    cr_expect_eq(vkg_frontend_load(ctx, &(vkg_frontend_desc){.text = text, .text_len = k}, &g), VKG_ERR_GRAPH);
    cr_expect(has_line_col(vkg_last_error(ctx)));
    vkg_context_destroy(ctx);
    char err[4096];
    cr_expect_eq(run_vkg(err, sizeof err, NULL, (const char *const[]){"vkg", "check", tmp_path("deep.yaml"), NULL}), 1);
    free(text);
}

// >>weights files

/* One tensor entry of a hand-made safetensors header. */
typedef struct st_ent {
    const char *key;
    const char *dtype;
    const char *shape;          /* JSON list */
    uint64_t begin, end;
} st_ent;

typedef struct st_file {
    st_ent e[8];
    int n;
    uint64_t data_bytes;
    const char *raw_header;     /* non-NULL: this header text instead */
    uint64_t hlen_add;          /* added to the true header length */
    uint64_t truncate;          /* non-zero: cut the file to this many bytes */
    int64_t poison;             /* >= 0: this f32 element of the data is poison_value */
    float poison_value;
} st_file;

static void write_st(const char *path, const st_file *sf)
{
    char header[4096];
    size_t len = 0;
    if (sf->raw_header) {
        len = (size_t)snprintf(header, sizeof header, "%s", sf->raw_header);
    } else {
        len += (size_t)snprintf(header + len, sizeof header - len, "{");
        for (int i = 0; i < sf->n; i++)
            len += (size_t)snprintf(header + len, sizeof header - len,
                                    "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%llu,%llu]}", i ? "," : "",
                                    sf->e[i].key, sf->e[i].dtype, sf->e[i].shape, (unsigned long long)sf->e[i].begin,
                                    (unsigned long long)sf->e[i].end);
        len += (size_t)snprintf(header + len, sizeof header - len, "}");
    }
    while (len % 8)
        header[len++] = ' ';
    uint64_t hlen = len + sf->hlen_add;
    size_t total = 8 + len + sf->data_bytes;
    uint8_t *buf = calloc(1, total);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, header, len);
    float *data = (float *)(buf + 8 + len);
    for (uint64_t i = 0; i < sf->data_bytes / 4; i++)
        data[i] = 0.01f * (float)(i % 7);
    if (sf->poison >= 0)
        data[sf->poison] = sf->poison_value;
    write_bytes(path, buf, sf->truncate ? sf->truncate : total);
    free(buf);
}

/* The valid weights of tests/bad_inputs/tiny.yaml, f32, packed in key order. */
static st_file tiny_weights(vkg_graph *g)
{
    st_file sf = {.poison = -1};
    static char keys[8][128], shapes[8][64];
    int n = vkg_graph_weight_count(g);
    cr_assert(n >= 2 && n <= 8, "tiny.yaml has %d weights", n);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const char *key;
        int nd;
        int64_t ne[VKG_MAX_DIMS];
        cr_assert_eq(vkg_graph_weight_info(g, i, &key, &nd, ne), VKG_OK);
        snprintf(keys[i], sizeof keys[i], "%s", key);
        uint64_t numel = 1;
        size_t len = (size_t)snprintf(shapes[i], sizeof shapes[i], "[");
        for (int d = 0; d < nd; d++) {
            len += (size_t)snprintf(shapes[i] + len, sizeof shapes[i] - len, "%s%lld", d ? "," : "", (long long)ne[d]);
            numel *= (uint64_t)ne[d];
        }
        snprintf(shapes[i] + len, sizeof shapes[i] - len, "]");
        sf.e[i] = (st_ent){keys[i], "F32", shapes[i], off, off + 4 * numel};
        off += 4 * numel;
    }
    sf.n = n;
    sf.data_bytes = off;
    return sf;
}

typedef struct weights_case {
    const char *name;
    vkg_result want;            /* from vkg_model_create */
    int exit_code;              /* from vkg run */
} weights_case;

/* Writes the case's file; returns the path. */
static const char *make_weights_case(vkg_graph *g, const char *name)
{
    st_file sf = tiny_weights(g);
    uint64_t full = 8 + 8 * 64 + sf.data_bytes;   /* above any real size: truncation point below */
    (void)full;
    const char *path = tmp_path(fmt("%s.safetensors", name));
    if (!strcmp(name, "valid")) {
    } else if (!strcmp(name, "truncated")) {
        st_file probe = sf;
        write_st(path, &probe);
        struct stat sb;
        stat(path, &sb);
        sf.truncate = (uint64_t)sb.st_size - 20;
    } else if (!strcmp(name, "shorter_than_8")) {
        sf.truncate = 5;
    } else if (!strcmp(name, "header_beyond_file")) {
        sf.hlen_add = 1000000;
    } else if (!strcmp(name, "header_absurd")) {
        sf.hlen_add = 1ull << 60;
    } else if (!strcmp(name, "bad_json")) {
        sf.raw_header = "{\"emb.weight\": {\"dtype\": \"F32\", \"shape\": [16, 8], \"data_offsets\": [0, ";
    } else if (!strcmp(name, "not_object")) {
        sf.raw_header = "[1, 2, 3]";
    } else if (!strcmp(name, "unknown_dtype")) {
        sf.e[0].dtype = "F33";
    } else if (!strcmp(name, "unsupported_dtype")) {
        sf.e[0].dtype = "I8";
    } else if (!strcmp(name, "offsets_out_of_range")) {
        sf.e[sf.n - 1].begin += 64;
        sf.e[sf.n - 1].end += 64;
    } else if (!strcmp(name, "offsets_reversed")) {
        uint64_t t = sf.e[0].begin;
        sf.e[0].begin = sf.e[0].end;
        sf.e[0].end = t;
    } else if (!strcmp(name, "offsets_overlap")) {
        uint64_t size1 = sf.e[1].end - sf.e[1].begin;
        sf.e[1].begin = 4;   /* same size, shifted into entry 0 */
        sf.e[1].end = 4 + size1;
    } else if (!strcmp(name, "shape_overflow")) {
        sf.e[0].shape = "[4294967296,4294967296,4294967296]";
    } else if (!strcmp(name, "shape_negative")) {
        sf.e[0].shape = "[-16,8]";
    } else if (!strcmp(name, "wrong_shape")) {
        sf.e[0].shape = "[8,16]";
    } else if (!strcmp(name, "missing_key")) {
        sf.e[0].key = "emb.weight_renamed";
    } else if (!strcmp(name, "duplicate_key")) {
        sf.e[1].key = sf.e[0].key;
        sf.e[1].shape = sf.e[0].shape;
    } else if (!strcmp(name, "unused_key")) {
        sf.e[sf.n] = (st_ent){"extra.weight", "F32", "[1]", sf.data_bytes, sf.data_bytes + 4};
        sf.n++;
        sf.data_bytes += 4;
    } else if (!strcmp(name, "nan") || !strcmp(name, "inf")) {
        sf.poison = 3;
        sf.poison_value = !strcmp(name, "nan") ? NAN : -INFINITY;
    } else if (!strcmp(name, "empty_file")) {
        write_bytes(path, "", 0);
        return path;
    } else {
        cr_assert_fail("unknown case %s", name);
    }
    write_st(path, &sf);
    return path;
}

static const weights_case weights_cases[] = {
    {"valid", VKG_OK, 0},
    {"truncated", VKG_ERR_WEIGHTS, 1},
    {"shorter_than_8", VKG_ERR_WEIGHTS, 1},
    {"header_beyond_file", VKG_ERR_WEIGHTS, 1},
    {"header_absurd", VKG_ERR_WEIGHTS, 1},
    {"bad_json", VKG_ERR_WEIGHTS, 1},
    {"not_object", VKG_ERR_WEIGHTS, 1},
    {"unknown_dtype", VKG_ERR_WEIGHTS, 1},
    {"unsupported_dtype", VKG_ERR_WEIGHTS, 1},
    {"offsets_out_of_range", VKG_ERR_WEIGHTS, 1},
    {"offsets_reversed", VKG_ERR_WEIGHTS, 1},
    {"offsets_overlap", VKG_ERR_WEIGHTS, 1},
    {"shape_overflow", VKG_ERR_WEIGHTS, 1},
    {"shape_negative", VKG_ERR_WEIGHTS, 1},
    {"wrong_shape", VKG_ERR_WEIGHTS, 1},
    {"missing_key", VKG_ERR_WEIGHTS, 1},
    {"duplicate_key", VKG_ERR_WEIGHTS, 1},
    {"unused_key", VKG_OK, 0},
    {"nan", VKG_OK, 0},          /* an error only with check_finite (below) */
    {"inf", VKG_OK, 0},
    {"empty_file", VKG_ERR_WEIGHTS, 1},
};

Test(robust, bad_weights_files, .init = tmp_init, .fini = tmp_fini)
{
    vkg_context *ctx = cpu_context();
    const char *graph = src_path("tests/bad_inputs/tiny.yaml");
    char graph_copy[1024];
    snprintf(graph_copy, sizeof graph_copy, "%s", graph);
    vkg_graph *g = load_graph(ctx, graph_copy);
    for (size_t i = 0; i < VKG__COUNTOF(weights_cases); i++) {
        const weights_case *c = &weights_cases[i];
        char path[1024];
        snprintf(path, sizeof path, "%s", make_weights_case(g, c->name));
        count_warnings = 0;
        vkg_model *m = NULL;
        vkg_result r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path}, &m);
        cr_expect_eq(r, c->want, "%s: %s (%s)", c->name, vkg_result_string(r), vkg_last_error(ctx));
        cr_expect_eq(count_warnings, !strcmp(c->name, "unused_key") ? 1 : 0, "%s: %d warnings", c->name, count_warnings);
        vkg_model_destroy(m);

        char err[8192];
        const char *out = tmp_path(fmt("out_%s", c->name));
        char out_copy[1024];
        snprintf(out_copy, sizeof out_copy, "%s", out);
        int code = run_vkg(err, sizeof err, NULL,
                           (const char *const[]){"vkg", "run", graph_copy, "--weights", path, "--text", "hello",
                                                 "--backend", "cpu", "--out", out_copy, NULL});
        cr_expect_eq(code, c->exit_code, "%s: vkg run exit %d (%s)", c->name, code, err);
        cr_expect_eq(files_in(out_copy), c->exit_code ? 0 : 1, "%s: files written", c->name);
    }
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
}

Test(robust, weights_missing_file, .init = tmp_init, .fini = tmp_fini)
{
    vkg_context *ctx = cpu_context();
    vkg_graph *g = load_graph(ctx, src_path("tests/bad_inputs/tiny.yaml"));
    vkg_model *m = NULL;
    cr_expect_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = tmp_path("none.safetensors")}, &m),
                 VKG_ERR_IO);
    cr_expect_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = tmp_dir}, &m), VKG_ERR_IO);
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
}

Test(robust, check_finite, .init = tmp_init, .fini = tmp_fini)
{
    vkg_context *ctx = cpu_context();
    vkg_graph *g = load_graph(ctx, src_path("tests/bad_inputs/tiny.yaml"));
    const char *names[] = {"nan", "inf", "valid"};
    for (int i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s", make_weights_case(g, names[i]));
        vkg_model *m = NULL;
        vkg_result r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path, .check_finite = true}, &m);
        cr_expect_eq(r, i < 2 ? VKG_ERR_WEIGHTS : VKG_OK, "%s: %s", names[i], vkg_result_string(r));
        vkg_model_destroy(m);
        char err[8192], out[1024], graph[1024];
        snprintf(out, sizeof out, "%s", tmp_path(fmt("out_finite_%s", names[i])));
        snprintf(graph, sizeof graph, "%s", src_path("tests/bad_inputs/tiny.yaml"));
        int code = run_vkg(err, sizeof err, NULL,
                           (const char *const[]){"vkg", "run", graph, "--weights", path, "--text", "hi", "--backend", "cpu",
                                                 "--check-finite", "--out", out, NULL});
        cr_expect_eq(code, i < 2 ? 1 : 0, "%s: vkg run --check-finite exit %d (%s)", names[i], code, err);
        cr_expect_eq(files_in(out), i < 2 ? 0 : 1);
    }
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
}

// >>inputs

/* Sets input "tokens" and, when that is accepted, runs: the error of whichever fails. */
static vkg_result set_or_run(vkg_session *s, const vkg_host_tensor *t)
{
    vkg_result r = vkg_session_set_input(s, "tokens", t);
    return r == VKG_OK ? vkg_session_run(s) : r;
}

/* Library: every bad input on both backends gives VKG_ERR_INPUT and the
 * session still runs afterwards. */
static void bad_inputs_on(vkg_context *ctx, vkg_backend backend)
{
    vkg_graph *g = load_graph(ctx, src_path("tests/bad_inputs/tiny.yaml"));
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend}, &s), VKG_OK, "%s", vkg_last_error(ctx));
    cr_expect_eq(vkg_session_run(s), VKG_ERR_INPUT, "run without the input");

    int32_t ids[4] = {1, 2, 3, 4};
    float fl[4] = {1, 2, 3, 4};
    vkg_host_tensor good = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {4}, .data = ids};
    cr_expect_eq(vkg_session_set_input(s, "tokenz", &good), VKG_ERR_INPUT, "unknown name");
    cr_expect_eq(set_or_run(s, &(vkg_host_tensor){.dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {4}, .data = fl}), VKG_ERR_INPUT,
                 "f32 for i32");
    cr_expect_eq(set_or_run(s, &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 2, .ne = {2, 2}, .data = ids}), VKG_ERR_INPUT,
                 "rank 2");
    cr_expect_eq(set_or_run(s, &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {0}, .data = ids}), VKG_ERR_INPUT,
                 "empty");
    cr_expect_eq(set_or_run(s, &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {-3}, .data = ids}), VKG_ERR_INPUT,
                 "negative size");
    cr_expect_neq(set_or_run(s, &(vkg_host_tensor){.dtype = (vkg_dtype)99, .n_dims = 1, .ne = {4}, .data = ids}), VKG_OK,
                  "bad dtype enum");
    cr_expect_neq(set_or_run(s, &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 9, .ne = {4}, .data = ids}), VKG_OK, "rank 9");
    cr_expect_neq(vkg_session_set_input(s, "tokens", NULL), VKG_OK, "NULL tensor");
    cr_expect_neq(vkg_session_set_input(s, NULL, &good), VKG_OK, "NULL name");

    int32_t out_of_range[3][4] = {{1, 256, 2, 3}, {-1, 0, 0, 0}, {0, 0, 0, INT32_MAX}};
    for (int k = 0; k < 3; k++) {
        vkg_host_tensor t = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {4}, .data = out_of_range[k]};
        vkg_result r = set_or_run(s, &t);
        cr_expect_eq(r, VKG_ERR_INPUT, "ids out of range, case %d: %s", k, vkg_result_string(r));
    }
    cr_expect_eq(vkg_session_set_input(s, "tokens", &good), VKG_OK);
    cr_expect_eq(vkg_session_run(s), VKG_OK, "a good run after the bad ones: %s", vkg_last_error(ctx));
    vkg_host_tensor o;
    cr_expect_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
    cr_expect_neq(vkg_session_get_output(s, 1, &o), VKG_OK, "output index past the end");
    cr_expect_neq(vkg_session_get_output(s, -1, &o), VKG_OK, "negative output index");
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
}

Test(robust, bad_inputs_library_cpu)
{
    vkg_context *ctx = cpu_context();
    bad_inputs_on(ctx, VKG_BACKEND_CPU);
    vkg_context_destroy(ctx);
}

Test(robust, bad_inputs_library_vulkan)
{
    vkg_context *ctx = tu_vk_context();
    bad_inputs_on(ctx, VKG_BACKEND_VULKAN);
    tu_context_done(ctx);
}

static void write_npy_i32(const char *path, int n_dims, const int64_t *ne, const int32_t *data)
{
    vkg_context *ctx = cpu_context();
    vkg_host_tensor t = {.dtype = VKG_DTYPE_I32, .n_dims = n_dims, .data = (void *)data};
    memcpy(t.ne, ne, sizeof(int64_t) * (size_t)n_dims);
    cr_assert_eq(vkg_npy_write(ctx, path, &t), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_context_destroy(ctx);
}

/* A .npy file with a hand-written header (v1.0), the header padded to 64 bytes. */
static void write_npy_raw(const char *path, const char *dict, const void *data, size_t n)
{
    char buf[4096];
    size_t hl = strlen(dict) + 1;
    size_t pad = (64 - (10 + hl) % 64) % 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((hl + pad) & 0xff);
    buf[9] = (char)((hl + pad) >> 8);
    memcpy(buf + 10, dict, hl - 1);
    memset(buf + 9 + hl, ' ', pad);
    buf[9 + hl + pad] = '\n';
    if (n)
        memcpy(buf + 10 + hl + pad, data, n);
    write_bytes(path, buf, 10 + hl + pad + n);
}

Test(robust, bad_inputs_cli, .init = tmp_init, .fini = tmp_fini)
{
    char graph[1024];
    snprintf(graph, sizeof graph, "%s", src_path("tests/bad_inputs/tiny.yaml"));
    int32_t ids[6] = {1, 2, 3, 4, 5, 6}, bad_ids[3] = {1, 999, 2};
    write_npy_i32(tmp_path("good.npy"), 1, (int64_t[]){6}, ids);
    write_npy_i32(tmp_path("rank2.npy"), 2, (int64_t[]){2, 3}, ids);
    write_npy_i32(tmp_path("range.npy"), 1, (int64_t[]){3}, bad_ids);
    float fl[3] = {1, 2, 3};
    write_npy_raw(tmp_path("f32.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", fl, sizeof fl);
    write_npy_raw(tmp_path("empty.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", NULL, 0);
    write_npy_raw(tmp_path("short_data.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (100,), }", ids, sizeof ids);
    write_npy_raw(tmp_path("bad_descr.npy"), "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", fl, sizeof fl);
    write_npy_raw(tmp_path("bad_dict.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (3,, }", ids, 12);
    write_npy_raw(tmp_path("huge_shape.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }",
                  ids, 12);
    write_bytes(tmp_path("garbage.npy"), "this is not a numpy file at all", 31);
    write_bytes(tmp_path("zero.npy"), "", 0);

    static const struct {
        const char *spec;       /* --input value, or "TEXT:" for --text, or NULL for no input */
        int exit_code;
    } cases[] = {
        {"tokens=good.npy", 0},
        {"tokens=rank2.npy", 1},
        {"tokens=range.npy", 1},
        {"tokens=f32.npy", 1},
        {"tokens=empty.npy", 1},
        {"tokens=short_data.npy", 1},
        {"tokens=bad_descr.npy", 1},
        {"tokens=bad_dict.npy", 1},
        {"tokens=huge_shape.npy", 1},
        {"tokens=garbage.npy", 1},
        {"tokens=zero.npy", 1},
        {"tokens=missing.npy", 1},
        {"tokens=.", 1},
        {"image=good.npy", 1},       /* an input the graph does not have */
        {"TEXT:", 1},                /* empty text: no tokens */
        {NULL, 1},                   /* the graph input not given */
    };
    for (size_t i = 0; i < VKG__COUNTOF(cases); i++) {
        char spec[1024] = "", out[1024], err[8192];
        snprintf(out, sizeof out, "%s", tmp_path(fmt("out_in_%zu", i)));
        const char *argv[16] = {"vkg", "run", graph, "--out", out};
        int n = 5;
        if (cases[i].spec && !strncmp(cases[i].spec, "TEXT:", 5)) {
            argv[n++] = "--text";
            argv[n++] = cases[i].spec + 5;
        } else if (cases[i].spec) {
            const char *eq = strchr(cases[i].spec, '=');
            snprintf(spec, sizeof spec, "%.*s=%s", (int)(eq - cases[i].spec), cases[i].spec, tmp_path(eq + 1));
            argv[n++] = "--input";
            argv[n++] = spec;
        }
        for (int b = 0; b < 2; b++) {
            argv[n] = "--backend";
            argv[n + 1] = b ? "vulkan" : "cpu";
            argv[n + 2] = NULL;
            int code = run_vkg(err, sizeof err, (const char *const[]){"VKG_VALIDATION=1", NULL}, argv);
            cr_expect_eq(code, cases[i].exit_code, "%s (%s): exit %d (%s)", cases[i].spec ? cases[i].spec : "no input",
                         argv[n + 1], code, err);
            cr_expect_eq(files_in(out), cases[i].exit_code ? 0 : 1, "%s: files written", cases[i].spec);
        }
    }
}

// >>the device

Test(robust, device_memory_limit_library)
{
    /* the last limit holds llama-tiny's weights (429312 bytes) but not its session */
    static const uint64_t limits[] = {256, 4096, 65536, 429312 + 4096};
    for (size_t li = 0; li < VKG__COUNTOF(limits); li++) {
        uint64_t limit = limits[li];
        vkg_context *ctx = NULL;
        cr_assert_eq(vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = "", .device_memory_limit = limit},
                                        &ctx),
                     VKG_OK, "%s", ctx ? vkg_last_error(ctx) : "");
        vkg_graph *g = load_graph(ctx, src_path("graphs/llama-tiny.yaml"));
        vkg_model *m = NULL;
        vkg_session *s = NULL;
        vkg_result r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m);
        if (r == VKG_OK)
            r = vkg_session_create(m, &(vkg_session_desc){0}, &s);
        if (r == VKG_OK) {
            int32_t ids[5] = {72, 101, 108, 108, 111};
            r = vkg_session_set_input(s, "tokens", &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {5}, .data = ids});
            if (r == VKG_OK)
                r = vkg_session_run(s);
        }
        cr_expect_eq(r, VKG_ERR_DEVICE_MEMORY, "limit %llu: %s (%s)", (unsigned long long)limit, vkg_result_string(r),
                     vkg_last_error(ctx));
        vkg_session_destroy(s);
        vkg_model_destroy(m);
        vkg_graph_destroy(g);
        tu_context_done(ctx);
    }
}

Test(robust, device_memory_limit_cli, .init = tmp_init, .fini = tmp_fini)
{
    char graph[1024], out[1024], err[8192];
    snprintf(graph, sizeof graph, "%s", src_path("graphs/llama-tiny.yaml"));
    snprintf(out, sizeof out, "%s", tmp_path("out_mem"));
    int code = run_vkg(err, sizeof err, (const char *const[]){"VKG_DEVICE_MEMORY_LIMIT=4096", "VKG_VALIDATION=1", NULL},
                       (const char *const[]){"vkg", "run", graph, "--text", "hello", "--out", out, NULL});
    cr_expect_eq(code, 3, "exit %d (%s)", code, err);
    cr_expect_eq(files_in(out), 0);
    code = run_vkg(err, sizeof err, (const char *const[]){"VKG_DEVICE_MEMORY_LIMIT=lots", NULL},
                   (const char *const[]){"vkg", "run", graph, "--text", "hello", "--out", out, NULL});
    cr_expect_eq(code, 2, "a bad VKG_DEVICE_MEMORY_LIMIT is a usage error: exit %d (%s)", code, err);
}

/* Device lost (simulated through the runtime's flag, as a timeout or a
 * VK_ERROR_DEVICE_LOST would set it): calls fail with VKG_ERR_DEVICE_LOST
 * and everything can still be destroyed. */
Test(robust, device_lost)
{
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.pipeline_cache_dir = ""}, &ctx), VKG_OK);
    vkg_graph *g = load_graph(ctx, src_path("tests/bad_inputs/tiny.yaml"));
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK);
    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){0}, &s), VKG_OK);
    int32_t ids[3] = {1, 2, 3};
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {3}, .data = ids};
    cr_assert_eq(vkg_session_set_input(s, "tokens", &in), VKG_OK);
    cr_assert_eq(vkg_session_run(s), VKG_OK);
    ctx->vk->lost = true;
    cr_expect_eq(vkg_session_run(s), VKG_ERR_DEVICE_LOST, "%s", vkg_last_error(ctx));
    vkg_session *s2 = NULL;
    vkg_result r = vkg_session_create(m, &(vkg_session_desc){0}, &s2);
    if (r == VKG_OK) {   /* a session may defer its device work to the first run */
        cr_expect_eq(vkg_session_set_input(s2, "tokens", &in), VKG_OK);
        r = vkg_session_run(s2);
    }
    cr_expect_eq(r, VKG_ERR_DEVICE_LOST, "session on a lost device: %s", vkg_result_string(r));
    vkg_session_destroy(s2);
    vkg_model *m2 = NULL;
    cr_expect_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m2), VKG_ERR_DEVICE_LOST);
    vkg_model_destroy(m2);
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
}

/* The suite relies on synchronization validation (VK_EXT_validation_features):
 * a copy that reads what a fill wrote, with no barrier between, must be
 * reported. Core validation alone does not see this hazard. */
Test(robust, sync_validation_active)
{
    vkg_context *ctx = tu_vk_context();
    vkg__vk_buffer a, b;
    cr_assert_eq(vkg__vk_buffer_create(ctx, 256, VKG__MEM_DEVICE, &a), VKG_OK);
    cr_assert_eq(vkg__vk_buffer_create(ctx, 256, VKG__MEM_DEVICE, &b), VKG_OK);
    VkCommandBuffer cmd;
    cr_assert_eq(vkg__vk_oneshot_begin(ctx, &cmd), VKG_OK);
    vkCmdFillBuffer(cmd, a.buffer, 0, 256, 7);
    vkCmdCopyBuffer(cmd, a.buffer, b.buffer, 1, &(VkBufferCopy){.size = 256});   /* read after write, no barrier */
    cr_assert_eq(vkg__vk_oneshot_end(ctx, cmd), VKG_OK);
    cr_expect_gt(vkg_context_validation_messages(ctx), 0, "synchronization validation did not report a RAW hazard");
    vkg__vk_buffer_destroy(ctx, &a);
    vkg__vk_buffer_destroy(ctx, &b);
    vkg_context_destroy(ctx);
}

// >>fault injection

/* Fails every allocation from the fail_at-th on (counting from 0); counts live blocks. */
typedef struct fault {
    long calls, fail_at, live;
    bool hit;
    bool once;                  /* only the fail_at-th allocation fails */
} fault;

static void *fault_alloc(size_t size, void *user)
{
    fault *f = user;
    long k = f->calls++;
    if (f->fail_at >= 0 && (f->once ? k == f->fail_at : k >= f->fail_at)) {
        f->hit = true;
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        f->live++;
    return p;
}

static void fault_free(void *p, void *user)
{
    fault *f = user;
    f->live--;
    free(p);
}

/* Frontend load, model, session, input and a run of llama-tiny on ctx;
 * tears everything down again. */
static vkg_result pipeline_run(vkg_context *ctx, vkg_backend backend)
{
    vkg_graph *g = NULL;
    vkg_model *m = NULL;
    vkg_session *s = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = src_path("graphs/llama-tiny.yaml")}, &g);
    if (r == VKG_OK)
        r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m);
    if (r == VKG_OK)
        r = vkg_session_create(m, &(vkg_session_desc){.backend = backend}, &s);
    int32_t ids[5] = {72, 101, 108, 108, 111};
    if (r == VKG_OK)
        r = vkg_session_set_input(s, "tokens", &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {5}, .data = ids});
    if (r == VKG_OK)
        r = vkg_session_run(s);
    vkg_host_tensor o;
    if (r == VKG_OK)
        r = vkg_session_get_output(s, 0, &o);
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    return r;
}

static void fault_loop_cpu(bool once)
{
    long n;
    for (n = 0; n < 200000; n++) {
        fault f = {.fail_at = n, .once = once};
        vkg_context *ctx = NULL;
        vkg_result r = vkg_context_create(
            &(vkg_context_desc){.backend = VKG_BACKEND_CPU, .allocator = {fault_alloc, fault_free, &f}}, &ctx);
        if (r == VKG_OK)
            r = pipeline_run(ctx, VKG_BACKEND_CPU);
        vkg_context_destroy(ctx);
        cr_assert_eq(f.live, 0, "allocation %ld failing: %ld blocks leaked", n, f.live);
        if (!f.hit) {
            cr_assert_eq(r, VKG_OK, "no allocation failed, yet: %s", vkg_result_string(r));
            break;
        }
        cr_assert_neq(r, VKG_OK, "allocation %ld failed but every call succeeded", n);
    }
    cr_log_info("fault_injection_cpu (%s): %ld allocations, each failing in turn", once ? "once" : "from then on", n);
    cr_assert_gt(n, 10);
}

Test(robust, fault_injection_cpu) { fault_loop_cpu(false); }
Test(robust, fault_injection_cpu_once) { fault_loop_cpu(true); }

Test(robust, fault_injection_vulkan_context)
{
    long n;
    for (n = 0; n < 1000; n++) {
        fault f = {.fail_at = n};
        vkg_context *ctx = NULL;
        vkg_result r = vkg_context_create(
            &(vkg_context_desc){.validation = true, .pipeline_cache_dir = "", .allocator = {fault_alloc, fault_free, &f}}, &ctx);
        cr_expect_eq(vkg_context_validation_messages(ctx), 0);
        vkg_context_destroy(ctx);
        cr_assert_eq(f.live, 0, "allocation %ld failing: %ld blocks leaked", n, f.live);
        if (!f.hit) {
            cr_assert_eq(r, VKG_OK);
            break;
        }
        cr_assert_neq(r, VKG_OK, "allocation %ld failed but the context was made", n);
    }
    cr_assert_gt(n, 0);
}

/* The Vulkan path after the context: every allocation of frontend load,
 * model, session and run fails in turn, on one context (lavapipe contexts
 * are slow to make); the device must stay usable and nothing may leak. */
Test(robust, fault_injection_vulkan_run)
{
    fault f = {.fail_at = -1};
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = "",
                                                        .allocator = {fault_alloc, fault_free, &f}},
                                    &ctx),
                 VKG_OK);
    cr_assert_eq(pipeline_run(ctx, VKG_BACKEND_VULKAN), VKG_OK, "%s", vkg_last_error(ctx));   /* warm the pipeline cache */
    long base_live = f.live;
    long n = 0;
    for (int once = 0; once < 2; once++)
    for (n = 0; n < 200000; n++) {
        f.fail_at = f.calls + n;
        f.once = once;
        f.hit = false;
        vkg_result r = pipeline_run(ctx, VKG_BACKEND_VULKAN);
        cr_assert_eq(f.live, base_live, "allocation %ld failing: %ld blocks leaked", n, f.live - base_live);
        if (!f.hit) {
            cr_assert_eq(r, VKG_OK, "%s", vkg_last_error(ctx));
            break;
        }
        cr_assert_neq(r, VKG_OK, "allocation %ld failed but every call succeeded", n);
    }
    f.fail_at = -1;
    cr_expect_eq(pipeline_run(ctx, VKG_BACKEND_VULKAN), VKG_OK, "the context works after the faults: %s", vkg_last_error(ctx));
    cr_log_info("fault_injection_vulkan_run: %ld allocations, each failing in turn", n);
    cr_expect_eq(vkg_context_validation_messages(ctx), 0);
    vkg_context_destroy(ctx);
    cr_assert_eq(f.live, 0);
}

// >>threads

typedef struct thread_job {
    vkg_model *m;
    vkg_backend backend;
    const int32_t *ids;
    int64_t n_ids;
    const float *want;          /* single-thread result */
    int64_t n_out;
    int repeats;
    vkg_result r;
    double max_diff;
} thread_job;

/* Creates a session, runs repeats times, compares each output with want. */
static void *thread_main(void *arg)
{
    thread_job *j = arg;
    vkg_session *s = NULL;
    j->r = vkg_session_create(j->m, &(vkg_session_desc){.backend = j->backend}, &s);
    for (int k = 0; k < j->repeats && j->r == VKG_OK; k++) {
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {j->n_ids}, .data = (void *)j->ids};
        j->r = vkg_session_set_input(s, "tokens", &in);
        if (j->r == VKG_OK)
            j->r = vkg_session_run(s);
        vkg_host_tensor o;
        if (j->r == VKG_OK)
            j->r = vkg_session_get_output(s, 0, &o);
        if (j->r == VKG_OK) {
            if (tu_numel(&o) != j->n_out) {
                j->r = VKG_ERR_INVALID_ARG;
                break;
            }
            for (int64_t i = 0; i < j->n_out; i++) {
                double d = fabs((double)((float *)o.data)[i] - j->want[i]);
                if (!(d <= j->max_diff))
                    j->max_diff = d;
            }
        }
    }
    vkg_session_destroy(s);
    return NULL;
}

static void two_threads(vkg_context *ctx, vkg_backend backend)
{
    vkg_graph *g = load_graph(ctx, src_path("graphs/llama-tiny.yaml"));
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    static const int32_t ids_a[7] = {72, 101, 108, 108, 111, 32, 33}, ids_b[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    thread_job jobs[2] = {
        {.m = m, .backend = backend, .ids = ids_a, .n_ids = 7, .repeats = 6},
        {.m = m, .backend = backend, .ids = ids_b, .n_ids = 13, .repeats = 6},
    };
    float *want[2];
    for (int t = 0; t < 2; t++) {
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {jobs[t].n_ids}, .data = (void *)jobs[t].ids}, shape;
        want[t] = tu_run(ctx, m, backend, 1, (const char *[]){"tokens"}, &in, &shape);
        jobs[t].want = want[t];
        jobs[t].n_out = tu_numel(&shape);
    }
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 2; t++) {
        cr_expect_eq(jobs[t].r, VKG_OK, "thread %d: %s (%s)", t, vkg_result_string(jobs[t].r), vkg_last_error(ctx));
        cr_expect_eq(jobs[t].max_diff, 0.0, "thread %d: max |diff| %g from the single-thread run", t, jobs[t].max_diff);
        free(want[t]);
    }
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
}

static void log_stderr(vkg_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= VKG_LOG_WARN)
        fprintf(stderr, "vkg log: %s\n", msg);
}

Test(robust, two_sessions_two_threads_vulkan)
{
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = "", .log = log_stderr}, &ctx),
                 VKG_OK);
    two_threads(ctx, VKG_BACKEND_VULKAN);
    tu_context_done(ctx);
}

Test(robust, two_sessions_two_threads_cpu)
{
    vkg_context *ctx = cpu_context();
    two_threads(ctx, VKG_BACKEND_CPU);
    vkg_context_destroy(ctx);
}

// >>fuzz regressions

/* Replays every file of tests/fuzz/regressions/TARGET/ through the harness
 * entry point (a crash fails the test run); returns the number of files. */
static int replay(const char *target, vkg_result (*one)(const uint8_t *, size_t))
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", src_path(fmt("tests/fuzz/regressions/%s", target)));
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md"))
            continue;
        FILE *f = fopen(fmt("%s/%s", dir, e->d_name), "rb");
        cr_assert_not_null(f);
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        vkg_result r = one(buf, len);
        cr_expect(r != VKG_ERR_INVALID_ARG || len == 0, "%s/%s: %s", target, e->d_name, vkg_result_string(r));
        n++;
    }
    closedir(d);
    return n;
}

Test(robust, fuzz_regressions)
{
    int n = replay("frontend", fuzz_one_frontend) + replay("safetensors", fuzz_one_safetensors) + replay("npy", fuzz_one_npy);
    cr_log_info("fuzz regressions replayed: %d", n);
    cr_assert_gt(n, 0);
}
