/*
 * test_cli.c — end-to-end tests of the `vkg` program and the embed_minimal
 * sample: runs the built binaries ($VKG_BUILD_ROOT) with fork/exec on the
 * graphs in tests/graphs_good/cli_*.yaml ($VKG_SOURCE_ROOT), with
 * VKG_VALIDATION=1, and checks exit codes (CLI.md), the .npy files written,
 * CPU vs Vulkan agreement and the bench trace JSON. Uses vkg.h only to read
 * the .npy outputs back.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vkg.h"

// >>helpers

typedef struct proc_result {
    int code;           /* exit status; -1 when killed by a signal */
    char *out, *err;    /* captured stdout / stderr (NUL-terminated) */
} proc_result;

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/vkg_test_cli_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmp_dir(void)
{
    if (tmp_dir[0])
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = '\0';
}

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && v[0], "%s is not set (run the tests through meson)", name);
    return v;
}

/* A path in a static ring of buffers: several live at once within one
 * call; a value kept across calls is copied with keep(). */
static const char *fmt_path(const char *fmt, ...)
{
    static char ring[32][1024];
    static int next;
    char *buf = ring[next++ % 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof ring[0], fmt, ap);
    va_end(ap);
    return buf;
}

/* Copies s into a small pool for values kept across several calls. */
static const char *keep(const char *s)
{
    static char pool[16][1024];
    static int next;
    char *buf = pool[next++ % 16];
    snprintf(buf, sizeof pool[0], "%s", s);
    return buf;
}

static const char *vkg_bin(void) { return fmt_path("%s/frontend/vkg", env_or_die("VKG_BUILD_ROOT")); }
static const char *graph(const char *name)
{
    return fmt_path("%s/tests/graphs_good/%s", env_or_die("VKG_SOURCE_ROOT"), name);
}
static const char *tmp(const char *name) { return fmt_path("%s/%s", tmp_dir, name); }

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Runs argv (argv[0] is the program path) with VKG_VALIDATION=1 and the output captured. */
static proc_result run_argv(const char *const *argv)
{
    const char *out_path = fmt_path("%s/.stdout", tmp_dir);
    const char *err_path = fmt_path("%s/.stderr", tmp_dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork failed");
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0)
            _exit(126);
        dup2(fo, 1);
        dup2(fe, 2);
        close(fo);
        close(fe);
        setenv("VKG_VALIDATION", "1", 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    proc_result r = {.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1};
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    cr_assert(WIFEXITED(status), "%s killed by signal %d; stderr:\n%s", argv[1], WTERMSIG(status), r.err);
    cr_assert_neq(r.code, 127, "could not exec %s", argv[0]);
    return r;
}

#define VKG(...) run_argv((const char *const[]){vkg_bin(), __VA_ARGS__, NULL})

static void expect_code(proc_result r, int code, const char *what)
{
    cr_expect_eq(r.code, code, "%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.out,
                 r.err);
    if (code != 0)
        cr_expect(strstr(r.err, "vkg: error: ") != NULL, "%s: no 'vkg: error:' on stderr:\n%s", what, r.err);
    free(r.out);
    free(r.err);
}

/* True when s contains ".yaml:LINE:COL:". */
static bool has_line_col(const char *s)
{
    for (const char *p = strstr(s, ".yaml:"); p; p = strstr(p + 1, ".yaml:")) {
        const char *q = p + 6;
        int digits = 0;
        while (*q >= '0' && *q <= '9')
            q++, digits++;
        if (!digits || *q++ != ':')
            continue;
        digits = 0;
        while (*q >= '0' && *q <= '9')
            q++, digits++;
        if (digits && *q == ':')
            return true;
    }
    return false;
}

static vkg_context *cpu_ctx(void)
{
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    return ctx;
}

static void read_npy(vkg_context *ctx, const char *path, vkg_host_tensor *t)
{
    vkg_result r = vkg_npy_read(ctx, path, t);
    cr_assert_eq(r, VKG_OK, "%s: %s", path, vkg_last_error(ctx));
    cr_assert_eq(t->dtype, VKG_DTYPE_F32, "%s: not float32", path);
}

static int64_t n_elems(const vkg_host_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

static void expect_shape(vkg_context *ctx, const char *path, int n_dims, const int64_t *ne)
{
    vkg_host_tensor t;
    read_npy(ctx, path, &t);
    cr_expect_eq(t.n_dims, n_dims, "%s: rank %d, expected %d", path, t.n_dims, n_dims);
    for (int d = 0; d < n_dims && d < t.n_dims; d++)
        cr_expect_eq(t.ne[d], ne[d], "%s: dim %d is %lld, expected %lld", path, d, (long long)t.ne[d],
                     (long long)ne[d]);
    vkg_host_tensor_free(ctx, &t);
}

/* max |a - b| <= tol * max(1, max |b|), shapes equal. */
static void expect_close(vkg_context *ctx, const char *pa, const char *pb, double tol)
{
    vkg_host_tensor a, b;
    read_npy(ctx, pa, &a);
    read_npy(ctx, pb, &b);
    cr_assert_eq(a.n_dims, b.n_dims);
    for (int d = 0; d < a.n_dims; d++)
        cr_assert_eq(a.ne[d], b.ne[d]);
    double max_diff = 0, max_ref = 0;
    const float *x = a.data, *y = b.data;
    for (int64_t i = 0; i < n_elems(&a); i++) {
        cr_assert(isfinite(x[i]) && isfinite(y[i]), "%s / %s: non-finite value at %lld", pa, pb, (long long)i);
        max_diff = fmax(max_diff, fabs((double)x[i] - (double)y[i]));
        max_ref = fmax(max_ref, fabs((double)y[i]));
    }
    cr_expect(max_diff <= tol * fmax(1.0, max_ref), "%s vs %s: max diff %g (max |ref| %g)", pa, pb, max_diff, max_ref);
    vkg_host_tensor_free(ctx, &a);
    vkg_host_tensor_free(ctx, &b);
}

/* A .npy v1.0 file, float32 or int32, C order. */
static void write_npy(const char *path, const char *descr, int n_dims, const int64_t *ne, const void *data)
{
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        len += snprintf(hdr + len, sizeof hdr - (size_t)len, "%lld,%s", (long long)ne[d], d + 1 < n_dims ? " " : "");
        n *= ne[d];
    }
    len += snprintf(hdr + len, sizeof hdr - (size_t)len, "), }");
    while ((10 + len + 1) % 64)
        hdr[len++] = ' ';
    hdr[len++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xff),
                             (unsigned char)(len >> 8)};
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(pre, 1, 10, f);
    fwrite(hdr, 1, (size_t)len, f);
    fwrite(data, 4, (size_t)n, f);
    fclose(f);
}

/* x, y inputs [5, 13] of cli_f32.yaml */
static void write_f32_inputs(void)
{
    float x[65], y[65];
    for (int i = 0; i < 65; i++) {
        x[i] = (float)sin(0.37 * i);
        y[i] = (float)cos(0.11 * i) * 0.5f;
    }
    write_npy(tmp("x.npy"), "<f4", 2, (int64_t[]){5, 13}, x);
    write_npy(tmp("y.npy"), "<f4", 2, (int64_t[]){5, 13}, y);
}

/* An 8x8 binary PPM (stb_image reads PNM). */
static void write_ppm(const char *path, int w, int h)
{
    char buf[64 + 3 * 64 * 64];
    int len = snprintf(buf, 64, "P6\n%d %d\n255\n", w, h);
    for (int i = 0; i < 3 * w * h; i++)
        buf[len + i] = (char)((i * 37) % 256);
    write_file(path, buf, (size_t)(len + 3 * w * h));
}

// >>exit codes

TestSuite(cli, .init = make_tmp_dir, .fini = remove_tmp_dir, .timeout = 120);

Test(cli, bad_graph_exits_1_with_line_col)
{
    static const char text[] = "name: bad\n"
                               "inputs:\n"
                               "  tokens: {dtype: i32, shape: [T]}\n"
                               "body:\n"
                               "  - embed: {vocab: 16, dim: 8}\n"
                               "  - lienar: {out: 4}\n";
    write_file(tmp("bad.yaml"), text, sizeof text - 1);
    proc_result r = VKG("run", tmp("bad.yaml"), "--text", "ab", "--out", tmp("o"));
    cr_expect(has_line_col(r.err), "no FILE:LINE:COL: in stderr:\n%s", r.err);
    cr_expect(strstr(r.err, ":6:") != NULL, "expected line 6 in:\n%s", r.err);
    expect_code(r, 1, "run bad graph");

    r = VKG("check", tmp("bad.yaml"));
    cr_expect(has_line_col(r.err), "no FILE:LINE:COL: in stderr:\n%s", r.err);
    expect_code(r, 1, "check bad graph");

    write_file(tmp("syntax.yaml"), "name: [unclosed\n", 16);
    r = VKG("check", tmp("syntax.yaml"));
    cr_expect(has_line_col(r.err), "no FILE:LINE:COL: in stderr:\n%s", r.err);
    expect_code(r, 1, "check bad yaml");

    expect_code(VKG("check", tmp("no_such_graph.yaml")), 1, "check missing graph file");
}

Test(cli, missing_weights_exits_1)
{
    expect_code(VKG("run", graph("cli_lm_file.yaml"), "--text", "hi", "--out", tmp("o")), 1,
                "run with the graph's weights file missing");
    expect_code(VKG("run", graph("cli_lm.yaml"), "--weights", tmp("none.safetensors"), "--text", "hi", "--out",
                    tmp("o")),
                1, "run --weights missing");
    write_file(tmp("junk.safetensors"), "not a safetensors file", 22);
    expect_code(VKG("run", graph("cli_lm.yaml"), "--weights", tmp("junk.safetensors"), "--text", "hi", "--out",
                    tmp("o")),
                1, "run --weights junk");
}

Test(cli, bad_inputs_exit_1)
{
    write_f32_inputs();
    write_file(tmp("bad.npy"), "garbage", 7);
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", fmt_path("x=%s", tmp("x.npy")), "--input",
                    fmt_path("y=%s", tmp("bad.npy")), "--out", tmp("o")),
                1, "bad npy");
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", fmt_path("x=%s", tmp("x.npy")), "--input",
                    fmt_path("y=%s", tmp("missing.npy")), "--out", tmp("o")),
                1, "missing npy");
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", fmt_path("x=%s", tmp("x.npy")), "--input",
                    fmt_path("zz=%s", tmp("y.npy")), "--out", tmp("o")),
                1, "unknown input name");
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", fmt_path("x=%s", tmp("x.npy")), "--out", tmp("o")), 1,
                "input not given");
    float z[12] = {0};
    write_npy(tmp("z.npy"), "<f4", 2, (int64_t[]){1, 12}, z);
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", fmt_path("x=%s", tmp("x.npy")), "--input",
                    fmt_path("y=%s", tmp("z.npy")), "--out", tmp("o")),
                1, "wrong input shape");
    expect_code(VKG("run", graph("cli_f32.yaml"), "--text", "abc", "--out", tmp("o")), 1, "--text without i32 input");
    int32_t big[3] = {1, 999, 2};
    write_npy(tmp("ids.npy"), "<i4", 1, (int64_t[]){3}, big);
    expect_code(VKG("run", graph("cli_lm.yaml"), "--input", fmt_path("tokens=%s", tmp("ids.npy")), "--out", tmp("o")),
                1, "token id out of range");
    write_file(tmp("bad.ppm"), "P6\n", 3);
    expect_code(VKG("run", graph("cli_image.yaml"), "--image", tmp("bad.ppm"), "--out", tmp("o")), 1, "bad image");
}

Test(cli, bad_command_lines_exit_2)
{
    const char *g = keep(graph("cli_lm.yaml"));
    expect_code(VKG("frobnicate"), 2, "unknown command");
    expect_code(run_argv((const char *const[]){vkg_bin(), NULL}), 2, "no command");
    expect_code(VKG("run", g, "--bogus"), 2, "unknown option");
    expect_code(VKG("run", g, "--text"), 2, "missing value");
    expect_code(VKG("run"), 2, "missing graph");
    expect_code(VKG("run", g, g), 2, "two graphs");
    expect_code(VKG("run", g, "--text", "hi", "--dim", "D"), 2, "malformed --dim");
    expect_code(VKG("run", g, "--text", "hi", "--dim", "=3"), 2, "malformed --dim");
    expect_code(VKG("run", g, "--text", "hi", "--dim", "NOPE=3"), 2, "--dim not in the graph");
    expect_code(VKG("run", g, "--text", "hi", "--backend", "metal"), 2, "bad backend");
    expect_code(VKG("run", g, "--input", "tokens"), 2, "malformed --input");
    expect_code(VKG("bench", g, "--tokens", "12x"), 2, "bad number");
    expect_code(VKG("bench", g, "--repeat", "0"), 2, "bad number");
    expect_code(VKG("init-weights", g), 2, "init-weights without -o");
    expect_code(VKG("init-weights", g, "-o", tmp("w.safetensors"), "--dtype", "f8"), 2, "bad dtype");
    expect_code(VKG("init-weights", g, "-o", tmp("w.safetensors"), "--seed", "-1"), 2, "negative seed");
    expect_code(VKG("check", g, "--per-op"), 2, "option of another command");
}

Test(cli, bad_device_exits_3)
{
    expect_code(VKG("run", graph("cli_lm.yaml"), "--text", "hi", "--device", "no-such-device", "--out", tmp("o")), 3,
                "device by name");
    expect_code(VKG("run", graph("cli_lm.yaml"), "--text", "hi", "--device", "99", "--out", tmp("o")), 3,
                "device by index");
    expect_code(VKG("bench", graph("cli_lm.yaml"), "--device", "no-such-device"), 3, "bench device");
}

// >>commands

Test(cli, devices_lists_one_line_per_device)
{
    proc_result r = VKG("devices");
    cr_expect(strstr(r.out, "0:") != NULL, "no device 0 in:\n%s", r.out);
    expect_code(r, 0, "devices");
}

Test(cli, check_prints_parameter_total)
{
    /* embed 256*32 + 2 layers * (32 + 4*32*32 + 32 + 3*40*32) + 32; lm_head is tied: counted once */
    proc_result r = VKG("check", graph("cli_lm.yaml"));
    cr_expect(strstr(r.out, "24224") != NULL, "no total 24224 in:\n%s", r.out);
    cr_expect(strstr(r.out, "layers.1.mlp.down") != NULL, "weights not listed:\n%s", r.out);
    expect_code(r, 0, "check cli_lm");
    /* layer norm 2*13, linear 7*13 + 7 */
    r = VKG("check", graph("cli_f32.yaml"));
    cr_expect(strstr(r.out, "124") != NULL, "no total 124 in:\n%s", r.out);
    expect_code(r, 0, "check cli_f32");
    r = VKG("check", graph("cli_lm.yaml"), "--dim", "L=1");
    cr_expect(strstr(r.out, "16224") != NULL, "--dim L=1: no total 16224 in:\n%s", r.out);
    expect_code(r, 0, "check --dim");
}

Test(cli, run_writes_outputs_with_right_shapes)
{
    vkg_context *ctx = cpu_ctx();
    write_f32_inputs();
    const char *out = keep(tmp("nested/out/dir"));
    proc_result r = VKG("run", graph("cli_f32.yaml"), "--input", fmt_path("x=%s", tmp("x.npy")), "--input",
                        fmt_path("y=%s", tmp("y.npy")), "--out", out);
    cr_expect(strstr(r.out, "arena") != NULL, "no arena line:\n%s", r.out);
    expect_code(r, 0, "run cli_f32");
    expect_shape(ctx, fmt_path("%s/s.npy", out), 2, (int64_t[]){5, 13});
    expect_shape(ctx, fmt_path("%s/h.npy", out), 2, (int64_t[]){5, 7});

    /* the first output is x + y exactly */
    vkg_host_tensor s;
    read_npy(ctx, fmt_path("%s/s.npy", out), &s);
    for (int i = 0; i < 65; i++) {
        float want = (float)sin(0.37 * i) + (float)cos(0.11 * i) * 0.5f;
        cr_expect_float_eq(((float *)s.data)[i], want, 1e-6);
    }
    vkg_host_tensor_free(ctx, &s);

    r = VKG("run", graph("cli_lm.yaml"), "--text", "Hello, world!", "--out", tmp("lm"));
    cr_expect(strstr(r.out, "logits") != NULL, "no logits line:\n%s", r.out);
    expect_code(r, 0, "run cli_lm --text");
    expect_shape(ctx, tmp("lm/logits.npy"), 2, (int64_t[]){13, 256});

    write_file(tmp("prompt.txt"), "abcdefg", 7);
    expect_code(VKG("run", graph("cli_lm.yaml"), "--text-file", tmp("prompt.txt"), "--out", tmp("tf")), 0,
                "run --text-file");
    expect_shape(ctx, tmp("tf/logits.npy"), 2, (int64_t[]){7, 256});

    write_ppm(tmp("img.ppm"), 8, 8);
    expect_code(VKG("run", graph("cli_image.yaml"), "--image", tmp("img.ppm"), "--out", tmp("im")), 0, "run --image");
    expect_shape(ctx, tmp("im/probs.npy"), 2, (int64_t[]){1, 5});
    vkg_context_destroy(ctx);
}

Test(cli, cpu_and_vulkan_backends_agree)
{
    vkg_context *ctx = cpu_ctx();
    const char *text = "The quick brown fox jumps over the lazy dog; 0123456789!";
    expect_code(VKG("run", graph("cli_lm.yaml"), "--text", text, "--out", tmp("vk")), 0, "vulkan");
    expect_code(VKG("run", graph("cli_lm.yaml"), "--text", text, "--out", tmp("cpu"), "--backend", "cpu"), 0, "cpu");
    expect_close(ctx, tmp("vk/logits.npy"), tmp("cpu/logits.npy"), 1e-3);

    expect_code(VKG("run", graph("cli_lm.yaml"), "--text", text, "--out", tmp("nf"), "--no-fold"), 0, "--no-fold");
    expect_close(ctx, tmp("nf/logits.npy"), tmp("cpu/logits.npy"), 1e-3);

    write_f32_inputs();
    const char *x = keep(fmt_path("x=%s", tmp("x.npy"))), *y = keep(fmt_path("y=%s", tmp("y.npy")));
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", x, "--input", y, "--out", tmp("fvk")), 0, "f32 vulkan");
    expect_code(VKG("run", graph("cli_f32.yaml"), "--input", x, "--input", y, "--out", tmp("fcpu"), "--backend", "cpu"),
                0, "f32 cpu");
    expect_close(ctx, tmp("fvk/s.npy"), tmp("fcpu/s.npy"), 1e-3);
    expect_close(ctx, tmp("fvk/h.npy"), tmp("fcpu/h.npy"), 1e-3);

    write_ppm(tmp("img.ppm"), 8, 8);
    expect_code(VKG("run", graph("cli_image.yaml"), "--image", tmp("img.ppm"), "--out", tmp("ivk")), 0, "image vk");
    expect_code(VKG("run", graph("cli_image.yaml"), "--image", tmp("img.ppm"), "--out", tmp("icpu"), "--backend", "cpu"),
                0, "image cpu");
    expect_close(ctx, tmp("ivk/probs.npy"), tmp("icpu/probs.npy"), 1e-3);
    vkg_context_destroy(ctx);
}

Test(cli, init_weights_then_run_with_them)
{
    vkg_context *ctx = cpu_ctx();
    expect_code(VKG("init-weights", graph("cli_lm.yaml"), "-o", tmp("w.safetensors")), 0, "init-weights");
    /* cli_lm_file.yaml is cli_lm.yaml naming a missing file; the written file has cli_lm's random weights */
    expect_code(VKG("run", graph("cli_lm_file.yaml"), "--weights", tmp("w.safetensors"), "--text", "hello", "--out",
                    tmp("a")),
                0, "run --weights");
    expect_code(VKG("run", graph("cli_lm.yaml"), "--text", "hello", "--out", tmp("b")), 0, "run random");
    expect_close(ctx, tmp("a/logits.npy"), tmp("b/logits.npy"), 1e-5);

    expect_code(VKG("init-weights", graph("cli_lm.yaml"), "-o", tmp("w16.safetensors"), "--dtype", "f16", "--seed",
                    "17", "--std", "0.05"),
                0, "init-weights f16");
    expect_code(VKG("run", graph("cli_lm.yaml"), "--weights", tmp("w16.safetensors"), "--text", "hello", "--out",
                    tmp("c")),
                0, "run f16 weights");
    expect_shape(ctx, tmp("c/logits.npy"), 2, (int64_t[]){5, 256});
    vkg_context_destroy(ctx);
}

Test(cli, bench_per_op_and_trace)
{
    const char *trace = keep(tmp("trace.json"));
    proc_result r = VKG("bench", graph("cli_lm.yaml"), "--tokens", "16", "--repeat", "2", "--per-op", "--trace", trace,
                        "--decode", "4");
    cr_expect(strstr(r.out, "median") != NULL, "no median:\n%s", r.out);
    cr_expect(strstr(r.out, "layers.0.attn") != NULL, "no per-op table:\n%s", r.out);
    expect_code(r, 0, "bench");

    char *text = slurp(trace);
    cJSON *json = cJSON_Parse(text);
    cr_assert_not_null(json, "trace is not JSON:\n%.400s", text);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(json, "traceEvents");
    cr_assert(cJSON_IsArray(events));
    cr_expect_gt(cJSON_GetArraySize(events), 0);
    const cJSON *ev;
    cJSON_ArrayForEach(ev, events) {
        cr_expect(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "name")));
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(ev, "ph");
        cr_expect(cJSON_IsString(ph) && strcmp(ph->valuestring, "X") == 0);
        const cJSON *dur = cJSON_GetObjectItemCaseSensitive(ev, "dur");
        cr_expect(cJSON_IsNumber(dur) && dur->valuedouble >= 0);
        cr_expect(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ev, "ts")));
    }
    cJSON_Delete(json);
    free(text);

    /* a graph naming a missing weights file still benchmarks, on random weights */
    expect_code(VKG("bench", graph("cli_lm_file.yaml"), "--tokens", "7", "--repeat", "1"), 0, "bench random fallback");
    expect_code(VKG("bench", graph("cli_image.yaml"), "--repeat", "1"), 0, "bench fixed-shape input");
}

Test(cli, embed_minimal_sample_runs)
{
    const char *bin = keep(fmt_path("%s/samples/embed_minimal", env_or_die("VKG_BUILD_ROOT")));
    proc_result r = run_argv((const char *const[]){bin, graph("cli_lm.yaml"), NULL});
    cr_expect(strstr(r.out, "argmax") != NULL, "no argmax line:\n%s", r.out);
    cr_expect_eq(r.code, 0, "embed_minimal: exit %d\n%s", r.code, r.err);
    free(r.out);
    free(r.err);
    r = run_argv((const char *const[]){bin, tmp("missing.yaml"), NULL});
    cr_expect_eq(r.code, 1, "embed_minimal on a missing graph: exit %d", r.code);
    free(r.out);
    free(r.err);
}
