/*
 * test_fold.c — RepBN / PRepBN and the folding pass (OPS.md 6).
 *
 * - The CPU reference of repbn and prepbn against hand-computed values.
 * - batch, repbn, prepbn (lambda 0, 0.3, 1) on Vulkan against the CPU
 *   reference on odd shapes: NMSE <= 1e-7 and max |diff| <= 1e-5 of the
 *   output's scale.
 * - Folded against unfolded (vkg_model_desc.no_fold) graphs: norms before
 *   attention, gated and plain MLPs, linear heads (tied too), a mean pool with
 *   a linear, a norm after a linear (backward fold); and norms that must stay
 *   (read by an activation or a `first` pool, prepbn with lambda 0.3, before
 *   a canon node or an attention / mlp with canon: true):
 *   the folds listed by vkg_model_fold_info are exactly the expected ones,
 *   outputs agree within rounding (max rel 1e-5 on the CPU; Vulkan folded
 *   against the CPU unfolded within NMSE 1e-7, max rel 1e-4), and every fold
 *   removes the norm's dispatch.
 * Weights are random (norm statistics included: running_var in [0.5, 1.5],
 * alpha and lambda not 0), written to a safetensors file per test.
 */
#include "test_util.h"
#include "vkg_impl.h"

#include <criterion/parameterized.h>
#include <unistd.h>

// >>helpers
static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 11;
}

static double unif(uint64_t *s) { return (double)(lcg(s) & ((1ull << 52) - 1)) / (double)(1ull << 52); }

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Every weight random: variances in [0.5, 1.5], norm scales around 1, the rest in [-0.5, 0.5]. */
static void write_random_weights(vkg_graph *g, const char *path, uint64_t seed) {
    vkg__st_write_entry *e = calloc((size_t)g->n_weights + 1, sizeof *e);
    for (int i = 0; i < g->n_weights; i++) {
        const vkg__weight *w = &g->weights[i];
        int64_t n = vkg__shape_numel(&w->shape);
        float *d = malloc(sizeof(float) * (size_t)n);
        bool var = ends_with(w->key, "running_var"), ones = w->init == VKG__INIT_ONES && !var;
        for (int64_t j = 0; j < n; j++) {
            double u = unif(&seed);
            d[j] = (float)(var ? 0.5 + u : ones ? 0.5 + u : u - 0.5);
        }
        e[i] = (vkg__st_write_entry){.key = w->key, .dtype = VKG_DTYPE_F32, .n_dims = w->shape.n_dims, .data = d};
        memcpy(e[i].ne, w->shape.ne, sizeof e[i].ne);
    }
    cr_assert_eq(vkg__st_write(g->ctx, path, e, g->n_weights), VKG_OK, "%s", vkg_last_error(g->ctx));
    for (int i = 0; i < g->n_weights; i++) free((void *)e[i].data);
    free(e);
}

static vkg_graph *load_text(vkg_context *ctx, const char *text) {
    vkg_graph *g = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "fold-test.yaml", .text = text}, &g);
    cr_assert_eq(r, VKG_OK, "%s\n%s", vkg_last_error(ctx), text);
    return g;
}

static void tmp_path(char *buf, size_t n, const char *what) {
    snprintf(buf, n, "/tmp/vkg_test_fold_%d_%s.safetensors", (int)getpid(), what);
}

/* Input 0: token ids below vocab (i32 [T]) or f32 values in [-2, 2]. */
static vkg_host_tensor make_input(const vkg_graph *g, int64_t T, int64_t vocab) {
    vkg_dtype dt;
    int rank;
    const char *name;
    int64_t ne[VKG_MAX_DIMS];
    cr_assert_eq(vkg_graph_input_info(g, 0, &name, &dt, &rank), VKG_OK);
    cr_assert_eq(vkg_graph_input_shape(g, 0, ne), VKG_OK);
    vkg_host_tensor t = {.dtype = dt, .n_dims = rank};
    for (int d = 0; d < rank; d++) t.ne[d] = ne[d] < 0 ? T : ne[d];
    int64_t n = tu_numel(&t);
    t.data = malloc((size_t)n * 4);
    uint64_t s = 99;
    for (int64_t j = 0; j < n; j++) {
        if (dt == VKG_DTYPE_I32) ((int32_t *)t.data)[j] = (int32_t)(lcg(&s) % (uint64_t)vocab);
        else ((float *)t.data)[j] = (float)(4.0 * unif(&s) - 2.0);
    }
    return t;
}

typedef struct run_result {
    float *out;
    int64_t n;
    uint32_t n_dispatches;
    uint32_t n_fused_adds;
} run_result;

static run_result run(vkg_context *ctx, vkg_model *m, vkg_backend backend, const vkg_graph *g, const vkg_host_tensor *in) {
    const char *name;
    cr_assert_eq(vkg_graph_input_info(g, 0, &name, NULL, NULL), VKG_OK);
    vkg_session *s;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend}, &s), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg_session_set_input(s, name, in), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg_session_run(s), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_host_tensor o;
    cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
    run_result rr = {.n = tu_numel(&o)};
    rr.out = malloc((size_t)rr.n * 4);
    memcpy(rr.out, o.data, (size_t)rr.n * 4);
    vkg_session_stats st;
    cr_assert_eq(vkg_session_stats_get(s, &st), VKG_OK);
    rr.n_dispatches = st.n_dispatches;
    rr.n_fused_adds = st.n_fused_adds;
    vkg_session_destroy(s);
    return rr;
}

// >>hand-computed values (CPU reference)
static float *cpu_tiny(const char *norm_yaml, const float *const *w, const char *const *keys, int n_w, const float *x, int C) {
    vkg_context *ctx;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    char text[512], path[256];
    snprintf(text, sizeof text, "name: tiny\ninputs: {x: {dtype: f32, shape: [1, %d]}}\nbody: [{norm: %s}]\n", C, norm_yaml);
    vkg_graph *g = load_text(ctx, text);
    tmp_path(path, sizeof path, "tiny");
    vkg__st_write_entry e[8];
    for (int i = 0; i < n_w; i++) {
        bool scalar = ends_with(keys[i], "alpha");
        e[i] = (vkg__st_write_entry){.key = keys[i], .dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {scalar ? 1 : C}, .data = w[i]};
    }
    cr_assert_eq(vkg__st_write(ctx, path, e, n_w), VKG_OK);
    vkg_model *m;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_host_tensor in = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {1, C}, .data = (void *)x};
    run_result rr = run(ctx, m, VKG_BACKEND_CPU, g, &in);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
    unlink(path);
    return rr.out;
}

/* x = [1, 2], gamma [2, 1], beta [0.5, 0], mean [1, 0], var [3, 0], alpha 0.5, eps 1:
 * repbn = [2 * 0 / 2 + 0.5 + 0.5, 2 / 1 + 0 + 1] = [1, 3]. */
Test(fold, repbn_hand_values) {
    const float x[] = {1, 2}, g[] = {2, 1}, b[] = {0.5f, 0}, mu[] = {1, 0}, var[] = {3, 0}, al[] = {0.5f};
    const float *w[] = {g, b, mu, var, al};
    const char *keys[] = {"n.weight", "n.bias", "n.running_mean", "n.running_var", "n.alpha"};
    float *y = cpu_tiny("{name: n, kind: repbn, eps: 1.0}", w, keys, 5, x, 2);
    cr_expect_float_eq(y[0], 1.0f, 1e-6);
    cr_expect_float_eq(y[1], 3.0f, 1e-6);
    free(y);
}

/* prepbn lambda 0.5, LayerNorm weight 1 bias 0: LN([1, 2], eps 1) = [-0.5, 0.5] / sqrt(1.25);
 * y = 0.5 LN + 0.5 [1, 3] = [0.2763932, 1.7236068]. */
Test(fold, prepbn_hand_values) {
    const float x[] = {1, 2}, one[] = {1, 1}, zero[] = {0, 0}, g[] = {2, 1}, b[] = {0.5f, 0}, mu[] = {1, 0}, var[] = {3, 0}, al[] = {0.5f};
    const float *w[] = {one, zero, g, b, mu, var, al};
    const char *keys[] = {"n.ln.weight", "n.ln.bias", "n.bn.weight", "n.bn.bias", "n.bn.running_mean", "n.bn.running_var", "n.bn.alpha"};
    float *y = cpu_tiny("{name: n, kind: prepbn, eps: 1.0, lambda: 0.5}", w, keys, 7, x, 2);
    cr_expect_float_eq(y[0], 0.2763932f, 1e-6);
    cr_expect_float_eq(y[1], 1.7236068f, 1e-6);
    free(y);
}

// >>Vulkan against the CPU reference
typedef struct norm_case {
    char norm[96];
    int64_t T, C;
} norm_case;

static norm_case norm_cases[] = {
    {"{name: n, kind: repbn}", 13, 7},
    {"{name: n, kind: repbn, eps: 1e-6}", 100, 257},
    {"{name: n, kind: repbn}", 1, 33},
    {"{name: n, kind: batch}", 7, 13},
    {"{name: n, kind: prepbn}", 33, 100},
    {"{name: n, kind: prepbn, lambda: 0.3}", 13, 7},
    {"{name: n, kind: prepbn, lambda: 0.3}", 257, 64},
    {"{name: n, kind: prepbn, lambda: 1.0}", 7, 33},
    {"{name: n, kind: prepbn, lambda: 1.0, eps: 1e-6}", 1, 13},
};

ParameterizedTestParameters(fold, norm_vulkan_matches_cpu) {
    return cr_make_param_array(norm_case, norm_cases, sizeof norm_cases / sizeof norm_cases[0]);
}

ParameterizedTest(norm_case *c, fold, norm_vulkan_matches_cpu) {
    vkg_context *ctx = tu_vk_context();
    char text[512], path[256];
    snprintf(text, sizeof text, "name: n\ninputs: {x: {dtype: f32, shape: [T, %lld]}}\nbody: [{norm: %s}]\n", (long long)c->C, c->norm);
    vkg_graph *g = load_text(ctx, text);
    tmp_path(path, sizeof path, "norm");
    write_random_weights(g, path, 5 + (uint64_t)c->T);
    vkg_model *m;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_host_tensor in = make_input(g, c->T, 0);
    run_result cpu = run(ctx, m, VKG_BACKEND_CPU, g, &in), gpu = run(ctx, m, VKG_BACKEND_VULKAN, g, &in);
    cr_assert_eq(cpu.n, c->T * c->C);
    tu_compare cmp = tu_compare_f32(gpu.out, cpu.out, cpu.n);
    cr_expect(cmp.nmse <= 1e-7, "%s %lldx%lld: NMSE %.3g", c->norm, (long long)c->T, (long long)c->C, cmp.nmse);
    cr_expect(cmp.max_rel <= 1e-5, "%s %lldx%lld: max_rel %.3g", c->norm, (long long)c->T, (long long)c->C, cmp.max_rel);
    cr_expect_eq(vkg_model_fold_count(m), 0, "a norm that is the graph output is never folded");
    free(cpu.out), free(gpu.out), free(in.data);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    unlink(path);
    tu_context_done(ctx);
}

// >>folded against unfolded
typedef struct fold_case {
    char what[32];
    char text[900];
    int64_t T, vocab;
    char folds[160];        /* "norm>into norm>into ..." in order, "" for none */
} fold_case;

#define X_IN(C) "inputs: {x: {dtype: f32, shape: [T, " #C "]}}\n"

static fold_case fold_cases[] = {
    {"attention and mlps", "name: f1\n" X_IN(20) "body:\n"
     "  - residual:\n"
     "      - norm: {name: n1, kind: repbn}\n"
     "      - attention: {name: a1, kind: softmax, heads: 4, kv_heads: 2, rope: {dims: 4}}\n"
     "  - residual:\n"
     "      - norm: {name: n2, kind: batch}\n"
     "      - mlp: {name: m1, hidden: 33, act: swiglu}\n"
     "  - residual:\n"
     "      - norm: {name: n3, kind: prepbn}\n"
     "      - mlp: {name: m2, hidden: 13, act: gelu, bias: true}\n"
     "  - norm: {name: n4, kind: repbn}\n"
     "  - linear: {name: head, out: 7}\n",
     13, 0, "n1>a1 n2>m1 n3>m2 n4>head"},
    {"tied head", "name: f2\ninputs: {tokens: {dtype: i32, shape: [T]}}\nbody:\n"
     "  - embed: {name: emb, vocab: 50, dim: 24}\n"
     "  - residual:\n"
     "      - norm: {name: n1, kind: repbn, eps: 1e-6}\n"
     "      - attention: {name: a1, kind: softmax, heads: 3, bias: true, qk_norm: head}\n"
     "  - residual:\n"
     "      - norm: {name: n2, kind: repbn}\n"
     "      - mlp: {name: m1, hidden: 17, act: geglu, bias: true}\n"
     "  - norm: {name: fn, kind: prepbn, lambda: 0.0}\n"
     "  - linear: {name: head, out: 50, tie: emb}\n",
     7, 50, "n1>a1 n2>m1 fn>head"},
    {"pool and backward", "name: f3\n" X_IN(13) "body:\n"
     "  - linear: {name: l1, out: 24, bias: true}\n"
     "  - norm: {name: bn1, kind: batch}\n"
     "  - act: {fn: gelu}\n"
     "  - linear: {name: l2, out: 24}\n"
     "  - norm: {name: bn2, kind: repbn}\n"
     "  - residual:\n"
     "      - norm: {name: bn3, kind: repbn}\n"
     "      - linear: {name: l3, out: 24}\n"
     "  - norm: {name: bn4, kind: repbn}\n"
     "  - pool: {kind: mean}\n"
     "  - linear: {name: cls, out: 5, bias: true}\n",
     33, 0, "bn1>l1 bn2>l2 bn3>l3 bn4>cls"},
    {"kept norms", "name: f4\n" X_IN(20) "body:\n"
     "  - norm: {name: n1, kind: repbn}\n"
     "  - act: {fn: silu}\n"
     "  - norm: {name: n2, kind: prepbn, lambda: 0.3}\n"
     "  - linear: {name: l1, out: 20}\n"
     "  - residual:\n"
     "      - norm: {name: n3, kind: batch}\n"
     "      - linear: {name: l2, out: 20}\n"
     "  - norm: {name: n4, kind: repbn}\n"
     "  - linear: {name: l3, out: 9}\n"
     "  - norm: {name: n5, kind: batch}\n"   /* backward into l3 */
     "  - act: {fn: relu}\n"
     "  - norm: {name: n6, kind: repbn}\n"   /* read by a first pool: kept */
     "  - pool: {kind: first}\n"
     "  - linear: {name: l4, out: 3}\n",
     13, 0, "n3>l2 n4>l3 n5>l3"},
    {"canon", "name: f5\n" X_IN(20) "body:\n"
     "  - residual:\n"
     "      - norm: {name: n1, kind: repbn}\n"
     "      - canon: {name: c1}\n"
     "      - linear: {name: l1, out: 20}\n"
     "  - residual:\n"
     "      - norm: {name: n2, kind: repbn}\n"
     "      - attention: {name: a1, kind: softmax, heads: 4, kv_heads: 2, canon: true}\n"
     "  - residual:\n"
     "      - norm: {name: n3, kind: prepbn}\n"
     "      - mlp: {name: m1, hidden: 13, act: swiglu, canon: true}\n"
     "  - residual:\n"
     "      - norm: {name: n4, kind: batch}\n"
     "      - mlp: {name: m2, hidden: 13, act: relu, canon: true}\n"
     "  - norm: {name: n5, kind: repbn}\n"
     "  - linear: {name: l2, out: 9}\n",
     13, 0, "n5>l2"},
};

ParameterizedTestParameters(fold, folded_matches_unfolded) {
    return cr_make_param_array(fold_case, fold_cases, sizeof fold_cases / sizeof fold_cases[0]);
}

static void check_folds(vkg_model *m, const fold_case *c) {
    char got[256] = "";
    for (int i = 0; i < vkg_model_fold_count(m); i++) {
        const char *norm, *into;
        cr_assert_eq(vkg_model_fold_info(m, i, &norm, &into), VKG_OK);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s>%s", i ? " " : "", norm, into);
    }
    cr_expect(strcmp(got, c->folds) == 0, "%s: folds '%s', expected '%s'", c->what, got, c->folds);
    cr_expect_eq(vkg_model_fold_info(m, vkg_model_fold_count(m), NULL, NULL), VKG_ERR_INVALID_ARG);
}

static int count_folded_norms(const char *folds) {
    int n = 0;
    for (const char *p = folds; *p; p++) n += *p == '>';
    return n;
}

ParameterizedTest(fold_case *c, fold, folded_matches_unfolded) {
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g = load_text(ctx, c->text);
    char path[256];
    tmp_path(path, sizeof path, "graph");
    write_random_weights(g, path, 11);
    vkg_model *mf, *mu;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path}, &mf), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .weights_path = path, .no_fold = true}, &mu), VKG_OK, "%s",
                 vkg_last_error(ctx));
    check_folds(mf, c);
    cr_expect_eq(vkg_model_fold_count(mu), 0);
    vkg_host_tensor in = make_input(g, c->T, c->vocab);
    run_result fc = run(ctx, mf, VKG_BACKEND_CPU, g, &in), uc = run(ctx, mu, VKG_BACKEND_CPU, g, &in);
    run_result fv = run(ctx, mf, VKG_BACKEND_VULKAN, g, &in), uv = run(ctx, mu, VKG_BACKEND_VULKAN, g, &in);
    tu_compare cpu = tu_compare_f32(fc.out, uc.out, uc.n), vk = tu_compare_f32(fv.out, uc.out, uc.n);
    tu_compare vu = tu_compare_f32(uv.out, uc.out, uc.n);
    cr_expect(cpu.max_rel <= 1e-5, "%s: cpu folded vs unfolded max_rel %.3g", c->what, cpu.max_rel);
    cr_expect(vk.nmse <= 1e-7 && vk.max_rel <= 1e-4, "%s: vulkan folded vs cpu unfolded NMSE %.3g max_rel %.3g", c->what, vk.nmse, vk.max_rel);
    cr_expect(vu.nmse <= 1e-7 && vu.max_rel <= 1e-4, "%s: vulkan unfolded vs cpu NMSE %.3g max_rel %.3g", c->what, vu.nmse, vu.max_rel);
    /* Each norm here folds into one node and ran as one dispatch; residual adds
     * fused into matmuls (only with folding on) remove one dispatch each. */
    uint32_t removed = (uint32_t)count_folded_norms(c->folds);
    cr_expect_eq(uv.n_fused_adds, 0);
    cr_expect_eq(uv.n_dispatches - fv.n_dispatches, removed + fv.n_fused_adds, "%s: dispatches %u unfolded, %u folded, %u fused adds",
                 c->what, uv.n_dispatches, fv.n_dispatches, fv.n_fused_adds);
    free(fc.out), free(uc.out), free(fv.out), free(uv.out), free(in.data);
    vkg_model_destroy(mf);
    vkg_model_destroy(mu);
    vkg_graph_destroy(g);
    unlink(path);
    tu_context_done(ctx);
}
