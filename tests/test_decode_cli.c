/*
 * test_decode_cli.c — decoding from the `vkg` program: `run --decode` equals
 * the whole-sequence run for every decodable graph in graphs/ on both
 * backends; `generate` (greedy equals argmax of repeated whole runs fed back,
 * seeded sampling reproducible, capacity, exit codes); `bench --decode`.
 * Runs the built binary ($VKG_BUILD_ROOT/frontend/vkg) with fork/exec and
 * VKG_VALIDATION=1; computes the expected continuations in-process with vkg.h.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

// >>helpers

typedef struct proc_result {
    int code;             /* exit status */
    char *out, *err;      /* captured stdout / stderr, NUL-terminated */
    size_t n_out;         /* stdout bytes (it may hold any byte) */
} proc_result;

static char tmp_dir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void make_tmp_dir(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/vkg_test_decode_cli_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
}

static void remove_tmp_dir(void) {
    if (tmp_dir[0]) nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = '\0';
}

TestSuite(decode_cli, .init = make_tmp_dir, .fini = remove_tmp_dir);

/* Formats into one of a ring of buffers (several live at once). */
static const char *fmt(const char *f, ...) {
    static char ring[32][1024];
    static int next;
    char *buf = ring[next++ % 32];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof ring[0], f, ap);
    va_end(ap);
    return buf;
}

/* Copies s into a pool for values kept across several calls (fmt's ring moves on). */
static const char *keep(const char *s) {
    static char pool[16][1024];
    static int next;
    char *buf = pool[next++ % 16];
    snprintf(buf, sizeof pool[0], "%s", s);
    return buf;
}

static const char *build_root(void) {
    const char *v = getenv("VKG_BUILD_ROOT");
    cr_assert(v && v[0], "VKG_BUILD_ROOT is not set (run the tests through meson)");
    return v;
}

static char *slurp(const char *path, size_t *n_out) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (n_out) *n_out = (size_t)n;
    return buf;
}

/* Runs vkg with argv (NULL-terminated, without the program) and captures its output. */
static proc_result run_vkg(const char *const *args) {
    const char *argv[64] = {fmt("%s/frontend/vkg", build_root())};
    int n = 1;
    while (args[n - 1] && n < 63) argv[n] = args[n - 1], n++;
    argv[n] = NULL;
    const char *out_path = fmt("%s/.stdout", tmp_dir), *err_path = fmt("%s/.stderr", tmp_dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0) _exit(126);
        dup2(fo, 1), dup2(fe, 2), close(fo), close(fe);
        setenv("VKG_VALIDATION", "1", 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "vkg %s killed by signal %d", args[0], WTERMSIG(status));
    proc_result r = {.code = WEXITSTATUS(status)};
    cr_assert_neq(r.code, 127, "could not exec %s", argv[0]);
    r.out = slurp(out_path, &r.n_out);
    r.err = slurp(err_path, NULL);
    return r;
}

#define VKG(...) run_vkg((const char *const[]){__VA_ARGS__, NULL})

static void free_result(proc_result *r) {
    free(r->out);
    free(r->err);
}

static void expect_code(proc_result r, int code, const char *what) {
    cr_expect_eq(r.code, code, "%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.out, r.err);
    if (code != 0) cr_expect(strstr(r.err, "vkg: error: ") != NULL, "%s: no 'vkg: error:' on stderr:\n%s", what, r.err);
    free_result(&r);
}

static const char *graph_path(const char *dir, const char *name) { return fmt("%s/%s/%s", tu_source_root(), dir, name); }

// >>run --decode equals run

static const char text[] = "Hello, world!";   /* 13 tokens */

/* Every output of the two runs in dirs a and b agrees to 1e-4 relative. */
static void compare_outputs(vkg_context *ctx, const vkg_graph *g, const char *a, const char *b, const char *what) {
    for (int i = 0; i < vkg_graph_output_count(g); i++) {
        char name[256];
        snprintf(name, sizeof name, "%s", vkg_graph_output_name(g, i));
        for (char *p = name; *p; p++)
            if (*p == '/') *p = '_';
        vkg_host_tensor ta, tb;
        cr_assert_eq(vkg_npy_read(ctx, fmt("%s/%s.npy", a, name), &ta), VKG_OK, "%s: %s", what, vkg_last_error(ctx));
        cr_assert_eq(vkg_npy_read(ctx, fmt("%s/%s.npy", b, name), &tb), VKG_OK, "%s: %s", what, vkg_last_error(ctx));
        cr_assert_eq(ta.n_dims, tb.n_dims, "%s: %s ranks differ", what, name);
        for (int d = 0; d < ta.n_dims; d++) cr_assert_eq(ta.ne[d], tb.ne[d], "%s: %s dim %d differs", what, name, d);
        tu_compare c = tu_compare_f32(ta.data, tb.data, tu_numel(&ta));
        cr_expect(c.max_rel <= 1e-4, "%s: %s max_rel %.3g (max_abs %.3g)", what, name, c.max_rel, c.max_abs);
        vkg_host_tensor_free(ctx, &ta);
        vkg_host_tensor_free(ctx, &tb);
    }
}

static void decode_vs_run(vkg_context *ctx, const char *file, const vkg_graph *g) {
    const char *gp = keep(graph_path("graphs", file));
    const char *backends[] = {"vulkan", "cpu"};
    for (int b = 0; b < 2; b++) {
        const char *whole = keep(fmt("%s/%s_%s_whole", tmp_dir, file, backends[b]));
        const char *dec = keep(fmt("%s/%s_%s_decode", tmp_dir, file, backends[b]));
        expect_code(VKG("run", gp, "--text", text, "--backend", backends[b], "--out", whole), 0, fmt("%s run", file));
        proc_result r = VKG("run", gp, "--text", text, "--backend", backends[b], "--decode", "--out", dec);
        cr_expect(strstr(r.out, "decoded 13 tokens") != NULL, "%s: no 'decoded 13 tokens':\n%s", file, r.out);
        expect_code(r, 0, fmt("%s run --decode (%s)", file, backends[b]));
        compare_outputs(ctx, g, dec, whole, fmt("%s --decode vs run on %s", file, backends[b]));
    }
    /* across backends too: Vulkan decoding against the CPU whole run */
    compare_outputs(ctx, g, fmt("%s/%s_vulkan_decode", tmp_dir, file), fmt("%s/%s_cpu_whole", tmp_dir, file),
                    fmt("%s vulkan --decode vs cpu run", file));
}

Test(decode_cli, run_decode_equals_run_for_every_decodable_graph) {
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    DIR *d = opendir(fmt("%s/graphs", tu_source_root()));
    cr_assert_not_null(d);
    int n_decodable = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        vkg_graph *g = NULL;
        cr_assert_eq(vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = graph_path("graphs", e->d_name)}, &g), VKG_OK,
                     "%s: %s", e->d_name, vkg_last_error(ctx));
        const char *why;
        /* hylra.decode_only applies reuse layers only when decoding (CLI.md): not equal by design */
        char *src = slurp(graph_path("graphs", e->d_name), NULL);
        bool decode_only = strstr(src, "decode_only: true") != NULL;
        free(src);
        if (!decode_only && vkg_graph_decodable(g, &why, NULL) == VKG_OK) {
            decode_vs_run(ctx, e->d_name, g);
            n_decodable++;
        }
        vkg_graph_destroy(g);
    }
    closedir(d);
    cr_expect_geq(n_decodable, 2, "llama-tiny and gpt2-tiny at least should be decodable");
    vkg_context_destroy(ctx);
}

/* cli_lm.yaml with non-causal attention: not decodable. */
static const char *noncausal_graph(void) {
    const char *path = fmt("%s/noncausal.yaml", tmp_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("name: noncausal\n"
          "dims: {V: 256, D: 16, H: 2}\n"
          "inputs:\n"
          "  tokens: {dtype: i32, shape: [T]}\n"
          "weights: {random: {seed: 1, std: 0.1}}\n"
          "body:\n"
          "  - embed: {name: tok_emb, vocab: $V, dim: $D}\n"
          "  - attention: {name: enc_attn, kind: softmax, heads: $H, causal: false}\n"
          "  - linear: {name: lm_head, out: $V, tie: tok_emb}\n"
          "outputs: [logits]\n",
          f);
    fclose(f);
    return path;
}

Test(decode_cli, run_decode_refuses_a_graph_that_reads_later_rows) {
    const char *g = keep(noncausal_graph());
    proc_result r = VKG("run", g, "--text", "hi", "--decode", "--out", fmt("%s/nc", tmp_dir));
    cr_expect(strstr(r.err, "enc_attn") != NULL, "the message should name the node:\n%s", r.err);
    cr_expect(strstr(r.err, "noncausal.yaml:8:") != NULL, "the message should give FILE:LINE:COL:\n%s", r.err);
    expect_code(r, 1, "run --decode on a non-causal graph");
    expect_code(VKG("run", g, "--text", "hi", "--out", fmt("%s/nc", tmp_dir)), 0, "the same graph runs whole");
    expect_code(VKG("bench", g, "--tokens", "5", "--repeat", "1", "--decode", "2"), 1, "bench --decode on it");
    expect_code(VKG("generate", g, "--prompt", "hi"), 1, "generate on it");
}

// >>generate

/* Greedy continuation by repeated whole runs: argmax (ties to the smaller id)
 * of the last row, fed back. Returns n bytes in out. */
static void greedy_by_whole_runs(const char *path, const char *weights, vkg_backend backend, const char *prompt, int n,
                                 char *out) {
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g = NULL;
    cr_assert_eq(vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = path}, &g), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = weights}, &m), VKG_OK, "%s",
                 vkg_last_error(ctx));
    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend}, &s), VKG_OK);
    int32_t ids[256];
    int len = (int)strlen(prompt);
    for (int i = 0; i < len; i++) ids[i] = (unsigned char)prompt[i];
    for (int k = 0; k < n; k++, len++) {
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {len}, .data = ids};
        cr_assert_eq(vkg_session_set_input(s, "tokens", &in), VKG_OK, "%s", vkg_last_error(ctx));
        cr_assert_eq(vkg_session_run(s), VKG_OK, "%s", vkg_last_error(ctx));
        vkg_host_tensor o;
        cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
        const float *row = (const float *)o.data + (int64_t)(len - 1) * o.ne[1];
        int best = 0;
        for (int v = 1; v < o.ne[1]; v++)
            if (row[v] > row[best]) best = v;
        ids[len] = best;
        out[k] = (char)best;
    }
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    tu_context_done(ctx);
}

/* Weights with std 0.5 (peaked logits), so that greedy text varies from byte to byte. */
static const char *peaked_weights(const char *g, const char *tag) {
    const char *w = keep(fmt("%s/peaked_%s.safetensors", tmp_dir, tag));
    expect_code(VKG("init-weights", g, "-o", w, "--seed", "5", "--std", "0.5"), 0, "init-weights");
    return w;
}

static void expect_bytes(proc_result r, const char *want, size_t n, const char *what) {
    cr_expect_eq(r.n_out, n, "%s: %zu bytes on stdout, expected %zu\nstderr:\n%s", what, r.n_out, n, r.err);
    cr_expect(r.n_out == n && memcmp(r.out, want, n) == 0, "%s: stdout differs from the expected bytes", what);
    cr_expect(strstr(r.err, "prefill:") && strstr(r.err, "decode:") && strstr(r.err, "tokens/s"),
              "%s: no tokens/s on stderr:\n%s", what, r.err);
    expect_code(r, 0, what);
}

Test(decode_cli, generate_greedy_equals_whole_runs_fed_back) {
    enum { N = 8 };
    const char *graphs[] = {"llama-tiny.yaml", "gpt2-tiny.yaml"};
    for (int i = 0; i < 2; i++) {
        const char *g = keep(graph_path("graphs", graphs[i]));
        const char *w = peaked_weights(g, graphs[i]);
        char want[N];
        greedy_by_whole_runs(g, w, VKG_BACKEND_VULKAN, "The cat", N, want);
        int distinct = 0;
        for (int k = 0; k < N; k++) distinct += memchr(want, want[k], (size_t)k) == NULL;
        cr_expect_geq(distinct, 3, "%s: the greedy text should vary for this test to mean something", graphs[i]);
        expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "The cat", "--max-tokens", "8", "--temperature", "0"),
                     want, N, fmt("%s greedy", graphs[i]));
        /* deterministic: the same again */
        expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "The cat", "--max-tokens", "8", "--temperature", "0"),
                     want, N, fmt("%s greedy again", graphs[i]));
        greedy_by_whole_runs(g, w, VKG_BACKEND_CPU, "The cat", N, want);
        expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "The cat", "--max-tokens", "8", "--temperature", "0",
                         "--backend", "cpu"),
                     want, N, fmt("%s greedy on the cpu", graphs[i]));
    }
}

Test(decode_cli, generate_seeded_sampling_is_reproducible) {
    const char *g = keep(graph_path("graphs", "llama-tiny.yaml"));
    const char *w = peaked_weights(g, "sampling");
    proc_result a = VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "24", "--temperature", "0.9",
                        "--top-k", "50", "--top-p", "0.95", "--seed", "11");
    cr_assert_eq(a.code, 0, "%s", a.err);
    cr_expect_eq(a.n_out, 24);
    expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "24", "--temperature", "0.9",
                     "--top-k", "50", "--top-p", "0.95", "--seed", "11"),
                 a.out, a.n_out, "the same seed again");
    bool differs = false;
    for (int seed = 1; seed <= 4 && !differs; seed++) {
        proc_result b = VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "24", "--temperature",
                            "0.9", "--top-k", "50", "--top-p", "0.95", "--seed", fmt("%d", seed));
        differs = b.n_out != a.n_out || memcmp(a.out, b.out, a.n_out) != 0;
        free_result(&b);
    }
    cr_expect(differs, "other seeds should draw other text");
    /* top-k 1 and a tiny nucleus both leave only the argmax: greedy */
    proc_result greedy = VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "12", "--temperature", "0");
    cr_assert_eq(greedy.code, 0, "%s", greedy.err);
    expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "12", "--temperature", "1.5",
                     "--top-k", "1", "--seed", "3"),
                 greedy.out, greedy.n_out, "top-k 1");
    expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "12", "--top-p", "1e-9",
                     "--seed", "4"),
                 greedy.out, greedy.n_out, "top-p 1e-9");
    /* A temperature near 0 with many candidates left puts all the mass on the
     * argmax: the probabilities must be taken relative to the top logit. */
    expect_bytes(VKG("generate", g, "--weights", w, "--prompt", "Once", "--max-tokens", "12", "--temperature", "0.001",
                     "--top-k", "40", "--seed", "5"),
                 greedy.out, greedy.n_out, "temperature 0.001");
    free_result(&a);
    free_result(&greedy);
}

Test(decode_cli, generate_stops_at_the_graph_positions) {
    /* gpt2-tiny with 8 positions: a 5-byte prompt leaves room for 3 decoding steps, so 4 tokens */
    proc_result r = VKG("generate", graph_path("graphs", "gpt2-tiny.yaml"), "--dim", "N_CTX=8", "--prompt", "Hello",
                        "--max-tokens", "20", "--temperature", "0");
    cr_expect_eq(r.n_out, 4, "%zu bytes", r.n_out);
    cr_expect(strstr(r.err, "capacity of 8 tokens") != NULL, "%s", r.err);
    expect_code(r, 0, "generate past the positions");
    expect_code(VKG("generate", graph_path("graphs", "gpt2-tiny.yaml"), "--dim", "N_CTX=4", "--prompt", "Hello"), 1,
                "a prompt longer than the positions");
    proc_result z = VKG("generate", graph_path("graphs", "llama-tiny.yaml"), "--prompt", "Hi", "--max-tokens", "0");
    cr_expect_eq(z.n_out, 0);
    expect_code(z, 0, "--max-tokens 0");
}

Test(decode_cli, generate_exit_codes) {
    const char *g = keep(graph_path("graphs", "llama-tiny.yaml"));
    expect_code(VKG("generate", g), 2, "missing --prompt");
    expect_code(VKG("generate", "--prompt", "hi"), 2, "missing GRAPH");
    expect_code(VKG("generate", g, "--prompt", ""), 2, "empty prompt");
    expect_code(VKG("generate", g, "--prompt", "hi", "--temperature", "-1"), 2, "negative temperature");
    expect_code(VKG("generate", g, "--prompt", "hi", "--temperature", "warm"), 2, "temperature not a number");
    expect_code(VKG("generate", g, "--prompt", "hi", "--temperature", "nan"), 2, "temperature nan");
    expect_code(VKG("generate", g, "--prompt", "hi", "--top-p", "0"), 2, "top-p 0");
    expect_code(VKG("generate", g, "--prompt", "hi", "--top-p", "1.5"), 2, "top-p above 1");
    expect_code(VKG("generate", g, "--prompt", "hi", "--top-k", "-1"), 2, "negative top-k");
    expect_code(VKG("generate", g, "--prompt", "hi", "--top-k", "2.5"), 2, "fractional top-k");
    expect_code(VKG("generate", g, "--prompt", "hi", "--max-tokens", "-2"), 2, "negative max-tokens");
    expect_code(VKG("generate", g, "--prompt", "hi", "--max-tokens", "1x"), 2, "bad max-tokens");
    expect_code(VKG("generate", g, "--prompt", "hi", "--seed", "-1"), 2, "negative seed");
    expect_code(VKG("generate", g, "--prompt", "hi", "--backend", "metal"), 2, "bad backend");
    expect_code(VKG("generate", g, "--prompt", "hi", "--text", "x"), 2, "option of another command");
    expect_code(VKG("generate", g, "--prompt", "hi", "--dim", "NOPE=3"), 2, "--dim not in the graph");
    expect_code(VKG("generate", graph_path("graphs", "vit-tiny.yaml"), "--prompt", "hi"), 1, "not a language model");
    expect_code(VKG("generate", graph_path("graphs", "no-such.yaml"), "--prompt", "hi"), 1, "no such graph file");
    expect_code(VKG("generate", g, "--prompt", "hi", "--weights", fmt("%s/none.safetensors", tmp_dir)), 1,
                "no such weights file");
}

// >>bench --decode

Test(decode_cli, bench_decode_times_steps) {
    proc_result r = VKG("bench", graph_path("tests/graphs_good", "cli_lm.yaml"), "--tokens", "7", "--decode", "3",
                        "--repeat", "2");
    cr_expect(strstr(r.out, "prefill 7 tokens") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "decode 3 steps after 7 tokens") != NULL && strstr(r.out, "tokens/s (median)") != NULL,
              "no decode line:\n%s", r.out);
    expect_code(r, 0, "bench --decode");
    expect_code(VKG("bench", graph_path("tests/graphs_good", "cli_lm.yaml"), "--decode", "x"), 2, "bench --decode x");
}
