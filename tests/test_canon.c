/*
 * test_canon.c — Canon layers (OPS.md 8): the `canon` op on odd shapes
 * (C = 1, 7, 13, 100, 257; T = 1, 2, 3, 7, 100; K = 1, 2, 4, 5; residual on
 * and off; bias; the [C, 1, K] weight layout), Vulkan against the CPU
 * reference; the reference against hand-computed values, window included;
 * chunked calls (1, 2, 5 and 17 tokens, so T < K-1 and the multi-block
 * kernel path both read a stored window) against one call, on both backends;
 * Canon-B (attention of every kind: softmax causal and not, linear, sla) and
 * Canon-D (mlp, gated and not) Vulkan against CPU and decoded in chunks.
 *
 * Tolerances: NMSE <= 1e-7 everywhere; max |a - b| <= 1e-5 * max |b| for the
 * canon op (4-5 f32 multiply-adds per element against double sums) and for
 * chunked against whole runs; 1e-4 for graphs with attention and silu/gelu.
 */
#include "test_util.h"
#include "op_util.h"

#include <criterion/parameterized.h>
#include <unistd.h>

static uint64_t lcg_state = 0x2545F4914F6CDD1Dull;
static float urand(float lo, float hi) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((double)(lcg_state >> 40) / (double)(1ull << 24));
}

typedef struct canon_case {
    int C, K;
    bool residual, bias, conv_layout;
} canon_case;

static canon_case cases[] = {
    {1, 4, true, false, false},  {7, 1, true, true, false},   {13, 2, false, true, true}, {100, 4, true, true, false},
    {257, 5, false, false, true}, {257, 4, true, false, false}, {8, 4, true, true, false},  {100, 5, true, false, true},
    {7, 2, true, false, false},  {13, 5, true, true, false},
};

enum { VOCAB = 300 };

/* Writes e.weight [VOCAB, C], c.weight [C, K] (or [C, 1, K]) and c.bias [C] to path. */
static void write_weights(vkg_context *ctx, const char *path, const canon_case *c) {
    float *e = malloc(sizeof(float) * VOCAB * (size_t)c->C), *w = malloc(sizeof(float) * (size_t)(c->C * c->K));
    float *b = malloc(sizeof(float) * (size_t)c->C);
    for (int i = 0; i < VOCAB * c->C; i++) e[i] = urand(-1, 1);
    for (int i = 0; i < c->C * c->K; i++) w[i] = urand(-0.5f, 0.5f);
    for (int i = 0; i < c->C; i++) b[i] = urand(-1, 1);
    vkg__st_write_entry ent[3] = {
        {.key = "e.weight", .dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {VOCAB, c->C}, .data = e},
        {.key = "c.weight", .dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {c->C, c->K}, .data = w},
        {.key = "c.bias", .dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {c->C}, .data = b},
    };
    if (c->conv_layout) ent[1].n_dims = 3, ent[1].ne[1] = 1, ent[1].ne[2] = c->K;
    cr_assert_eq(vkg__st_write(ctx, path, ent, c->bias ? 3 : 2), VKG_OK, "%s", vkg_last_error(ctx));
    free(e), free(w), free(b);
}

static vkg_graph *load_text(vkg_context *ctx, const char *text) {
    vkg_graph *g = NULL;
    cr_assert_eq(vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "canon-test.yaml", .text = text}, &g), VKG_OK, "%s\n%s",
                 vkg_last_error(ctx), text);
    return g;
}

static vkg_model *canon_model(vkg_context *ctx, const canon_case *c, vkg_graph **pg, char *path, size_t path_n) {
    char text[1024];
    snprintf(text, sizeof text,
             "name: canon-test\ninputs: {tokens: {dtype: i32, shape: [T]}}\n"
             "body: [{embed: {name: e, vocab: %d, dim: %d}}, {canon: {name: c, kernel: %d, residual: %s, bias: %s}}]\n",
             VOCAB, c->C, c->K, c->residual ? "true" : "false", c->bias ? "true" : "false");
    snprintf(path, path_n, "/tmp/vkg_test_canon_%d.safetensors", (int)getpid());
    write_weights(ctx, path, c);
    *pg = load_text(ctx, text);
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = *pg, .weights_path = path}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    return m;
}

static void random_ids(int32_t *ids, int n) {
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(urand(0, 1) * (VOCAB - 1));
}

/* Feeds ids in chunks through vkg_session_step; returns the outputs concatenated (malloc'd). */
static float *run_chunks(vkg_context *ctx, vkg_model *m, vkg_backend backend, const int32_t *ids, const int *chunks, int n_chunks,
                         int64_t width) {
    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend, .max_tokens = 128}, &s), VKG_OK, "%s",
                 vkg_last_error(ctx));
    const char *name = "tokens";
    int total = 0;
    for (int i = 0; i < n_chunks; i++) total += chunks[i];
    float *out = malloc(sizeof(float) * (size_t)(total * width));
    for (int i = 0, t0 = 0; i < n_chunks; t0 += chunks[i++]) {
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {chunks[i]}, .data = (void *)(ids + t0)};
        cr_assert_eq(vkg_session_set_input(s, name, &in), VKG_OK, "%s", vkg_last_error(ctx));
        cr_assert_eq(vkg_session_step(s), VKG_OK, "%s", vkg_last_error(ctx));
        vkg_host_tensor o;
        cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
        cr_assert_eq(o.ne[0], chunks[i]);
        memcpy(out + (int64_t)t0 * width, o.data, sizeof(float) * (size_t)(chunks[i] * width));
    }
    vkg_session_destroy(s);
    return out;
}

static void expect_close(const float *got, const float *want, int64_t n, double tol, const char *what, int C, int K, int T) {
    tu_compare cmp = tu_compare_f32(got, want, n);
    cr_expect(cmp.nmse <= 1e-7, "%s (C %d, K %d, T %d): NMSE %.3g", what, C, K, T, cmp.nmse);
    cr_expect(cmp.max_rel <= tol, "%s (C %d, K %d, T %d): max_rel %.3g > %.1g", what, C, K, T, cmp.max_rel, tol);
}

// >>the canon op: Vulkan against CPU on whole runs, chunked against whole
ParameterizedTestParameters(canon, op_vulkan_matches_cpu) {
    return cr_make_param_array(canon_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(canon_case *c, canon, op_vulkan_matches_cpu) {
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g;
    char path[256];
    vkg_model *m = canon_model(ctx, c, &g, path, sizeof path);
    const char *name = "tokens";
    static const int Ts[] = {1, 2, 3, 7, 100};
    int32_t ids[100];
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++) {
        random_ids(ids, Ts[i]);
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {Ts[i]}, .data = ids}, oc, ov;
        float *cpu = tu_run(ctx, m, VKG_BACKEND_CPU, 1, &name, &in, &oc);
        float *gpu = tu_run(ctx, m, VKG_BACKEND_VULKAN, 1, &name, &in, &ov);
        cr_assert_eq(tu_numel(&oc), (int64_t)Ts[i] * c->C);
        expect_close(gpu, cpu, tu_numel(&oc), 1e-5, "vulkan vs cpu", c->C, c->K, Ts[i]);
        free(cpu), free(gpu);
    }
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    unlink(path);
    tu_context_done(ctx);
}

ParameterizedTestParameters(canon, op_chunks_match_one_call) {
    return cr_make_param_array(canon_case, cases, sizeof cases / sizeof cases[0]);
}

/* 1, 2, 5 tokens (T < K-1: the window shifts through the state), then 17 (the
 * multi-block kernel with its separate window update) equal one call of 25. */
ParameterizedTest(canon_case *c, canon, op_chunks_match_one_call) {
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g;
    char path[256];
    vkg_model *m = canon_model(ctx, c, &g, path, sizeof path);
    const char *name = "tokens";
    enum { T = 25 };
    static const int chunks[] = {1, 2, 5, 17};
    int32_t ids[T];
    random_ids(ids, T);
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}, oc;
    float *whole = tu_run(ctx, m, VKG_BACKEND_CPU, 1, &name, &in, &oc);
    for (int b = 0; b < 2; b++) {
        vkg_backend be = b ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN;
        float *got = run_chunks(ctx, m, be, ids, chunks, 4, c->C);
        expect_close(got, whole, (int64_t)T * c->C, 1e-5, b ? "cpu chunks vs one call" : "vulkan chunks vs one call", c->C, c->K, T);
        free(got);
    }
    free(whole);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    unlink(path);
    tu_context_done(ctx);
}

// >>the reference against hand values
Test(canon, reference_hand_values) {
    /* C = 1, K = 2, W = [0.5, 2], bias 0.25, x = 1, 2, 3: s = 2, 4.5, 7. */
    float x[3] = {1, 2, 3}, y[3], W[2] = {0.5f, 2.0f}, b = 0.25f;
    vkg__ref_canon(y, 1, x, 1, W, &b, 3, 1, 2, true, NULL, 1);
    cr_expect_float_eq(y[0], 1 + 2.25f, 1e-6);
    cr_expect_float_eq(y[1], 2 + 4.75f, 1e-6);
    cr_expect_float_eq(y[2], 3 + 7.25f, 1e-6);
    vkg__ref_canon(y, 1, x, 1, W, NULL, 3, 1, 2, false, NULL, 1);
    cr_expect_float_eq(y[2], 7.0f, 1e-6);
}

Test(canon, reference_window_hand_values) {
    /* C = 2 (channel 1 = 10 x channel 0), K = 3, W = [1, 10, 100]; no residual.
     * Call 1, x = [1]: 100, window [0, 1]. Call 2, x = [2, 3]: 210, 321, window [2, 3]. */
    float W[6] = {1, 10, 100, 1, 10, 100}, win[4] = {0, 0, 0, 0}, y[4];
    float x1[2] = {1, 10}, x2[4] = {2, 20, 3, 30};
    vkg__ref_canon(y, 2, x1, 2, W, NULL, 1, 2, 3, false, win, 2);
    cr_expect_float_eq(y[0], 100.0f, 1e-6);
    cr_expect_float_eq(y[1], 1000.0f, 1e-6);
    cr_expect(win[0] == 0 && win[1] == 0 && win[2] == 1 && win[3] == 10, "window after 1 token: %g %g %g %g", win[0], win[1], win[2],
              win[3]);
    vkg__ref_canon(y, 2, x2, 2, W, NULL, 2, 2, 3, false, win, 2);
    cr_expect_float_eq(y[0], 210.0f, 1e-6);
    cr_expect_float_eq(y[2], 321.0f, 1e-6);
    cr_expect_float_eq(y[3], 3210.0f, 1e-6);
    cr_expect(win[0] == 2 && win[1] == 20 && win[2] == 3 && win[3] == 30, "window after 3 tokens: %g %g %g %g", win[0], win[1], win[2],
              win[3]);
}

/* The same hand values through the graph on both backends (weights from a file). */
Test(canon, op_hand_values_both_backends) {
    vkg_context *ctx = tu_vk_context();
    char path[256];
    snprintf(path, sizeof path, "/tmp/vkg_test_canon_hand_%d.safetensors", (int)getpid());
    float W[2] = {0.5f, 2.0f}, b = 0.25f;
    vkg__st_write_entry ent[2] = {{.key = "c.weight", .dtype = VKG_DTYPE_F32, .n_dims = 3, .ne = {1, 1, 2}, .data = W},
                                  {.key = "c.bias", .dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {1}, .data = &b}};
    cr_assert_eq(vkg__st_write(ctx, path, ent, 2), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_graph *g = load_text(ctx, "name: hand\ninputs: {x: {dtype: f32, shape: [T, 1]}}\n"
                                  "body: [{canon: {name: c, kernel: 2, bias: true}}]\n");
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    float x[3] = {1, 2, 3}, want[3] = {3.25f, 6.75f, 10.25f};
    const char *name = "x";
    vkg_host_tensor in = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {3, 1}, .data = x}, o;
    for (int b2 = 0; b2 < 2; b2++) {
        float *y = tu_run(ctx, m, b2 ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN, 1, &name, &in, &o);
        for (int i = 0; i < 3; i++) cr_expect_float_eq(y[i], want[i], 1e-6, "%s row %d: %g", b2 ? "cpu" : "vulkan", i, y[i]);
        free(y);
    }
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    unlink(path);
    tu_context_done(ctx);
}

Test(canon, bad_kernel_is_a_graph_error) {
    vkg_context *ctx;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    vkg_graph *g = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "bad.yaml", .text = "name: bad\ninputs: {x: {dtype: f32, shape: [T, 4]}}\n"
                                                                                         "body: [{canon: {kernel: 0}}]\n"}, &g);
    cr_expect_eq(r, VKG_ERR_GRAPH);
    cr_expect(strstr(vkg_last_error(ctx), "bad.yaml:3:") != NULL && strstr(vkg_last_error(ctx), "kernel") != NULL, "%s",
              vkg_last_error(ctx));
    vkg_context_destroy(ctx);
}

// >>Canon-B and Canon-D: Vulkan against CPU, chunks against one call
typedef struct block_case {
    char what[48];
    int C;
    char node[200];
    bool whole_only;        /* not decodable (causal: false): Vulkan against CPU only */
} block_case;

static block_case blocks[] = {
    {"attention canon gqa qk_norm interleaved", 32,
     "{attention: {kind: softmax, heads: 4, kv_heads: 2, qk_norm: full, canon: true, rope: {dims: 4, style: interleaved}}}"},
    {"attention canon odd head_dim bias", 26, "{attention: {kind: softmax, heads: 2, head_dim: 13, bias: true, canon: true, rope: {dims: 6}}}"},
    {"attention canon qk_norm head", 24, "{attention: {kind: softmax, heads: 3, kv_heads: 1, qk_norm: head, canon: true}}"},
    {"mlp swiglu canon", 13, "{mlp: {hidden: 33, act: swiglu, canon: true}}"},
    {"mlp geglu canon bias", 16, "{mlp: {hidden: 20, act: geglu, bias: true, canon: true}}"},
    {"mlp gelu canon", 7, "{mlp: {hidden: 13, act: gelu, canon: true}}"},
    {"mlp relu canon bias", 12, "{mlp: {hidden: 100, act: relu, bias: true, canon: true}}"},
    {"attention canon non-causal", 20, "{attention: {kind: softmax, heads: 5, causal: false, canon: true}}", true},
    {"attention canon linear", 32, "{attention: {kind: linear, heads: 4, kv_heads: 2, canon: true}}"},
    {"attention canon linear decay", 24, "{attention: {kind: linear, heads: 3, decay: true, qk_norm: full, canon: true}}"},
    {"attention canon sla", 32, "{attention: {kind: sla, heads: 4, kv_heads: 2, canon: true}}"},
};

static vkg_model *block_model(vkg_context *ctx, const block_case *b, vkg_graph **pg) {
    char text[1024];
    snprintf(text, sizeof text,
             "name: canon-block\ninputs: {tokens: {dtype: i32, shape: [T]}}\nweights: {random: {seed: 3, std: 0.5}}\n"
             "body: [{embed: {name: e, vocab: %d, dim: %d}}, %s]\n",
             VOCAB, b->C, b->node);
    *pg = load_text(ctx, text);
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = *pg}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    return m;
}

ParameterizedTestParameters(canon, blocks_vulkan_and_chunks) {
    return cr_make_param_array(block_case, blocks, sizeof blocks / sizeof blocks[0]);
}

ParameterizedTest(block_case *b, canon, blocks_vulkan_and_chunks) {
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g;
    vkg_model *m = block_model(ctx, b, &g);
    const char *name = "tokens";
    enum { T = 25 };
    static const int chunks[] = {1, 2, 5, 17};
    int32_t ids[T];
    random_ids(ids, T);
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}, oc, ov;
    float *cpu = tu_run(ctx, m, VKG_BACKEND_CPU, 1, &name, &in, &oc);
    float *gpu = tu_run(ctx, m, VKG_BACKEND_VULKAN, 1, &name, &in, &ov);
    expect_close(gpu, cpu, (int64_t)T * b->C, 1e-4, b->what, b->C, 4, T);
    for (int k = 0; k < 2 && !b->whole_only; k++) {
        float *got = run_chunks(ctx, m, k ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN, ids, chunks, 4, b->C);
        expect_close(got, cpu, (int64_t)T * b->C, 1e-4, k ? "cpu chunks" : "vulkan chunks", b->C, 4, T);
        free(got);
    }
    free(cpu), free(gpu);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    tu_context_done(ctx);
}
