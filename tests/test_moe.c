/*
 * test_moe.c — the `moe` op (OPS.md 14) on the Vulkan device against the CPU
 * reference, and the reference against values computed here:
 *   - odd shapes (T 1, 7, 100; E 3, 8; K 1, 2, 3; C 13; hidden 7, 33), vec4
 *     and scalar loads, swiglu and geglu, normalize on and off, linear and
 *     recurrent routers, a recurrent chain of 3 moe nodes with a dense mlp
 *     between (the state passes through it unchanged);
 *   - ties in the router logits (equal router rows): the smaller index wins,
 *     checked against a direct computation of the chosen experts.
 * Every weight, GRU biases included, is drawn here (not zero) and handed to
 * the engine through a safetensors file.
 * Tolerances: NMSE <= 1e-7 and max |gpu - cpu| <= 1e-4 * max |cpu| (exp-based).
 */
#include "test_util.h"
#include "vkg_impl.h"

#include <criterion/parameterized.h>
#include <unistd.h>

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Uniform in [-a, a]. */
static float uni(uint64_t *s, double a) { return (float)(((double)(lcg(s) % 200001) / 100000.0 - 1.0) * a); }

// >>weights written here
#define MAX_W 64
typedef struct wset {
    int n;
    const char *key[MAX_W];
    int64_t ne[MAX_W][4];
    int n_dims[MAX_W];
    float *data[MAX_W];
} wset;

static const float *wget(const wset *w, const char *key) {
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->key[i], key) == 0) return w->data[i];
    cr_assert_fail("no weight %s", key);
    return NULL;
}

/* Every weight the graph needs, uniform in [-0.5, 0.5] (biases too). */
static void wset_fill(const vkg_graph *g, wset *w, uint64_t seed) {
    w->n = vkg_graph_weight_count(g);
    cr_assert(w->n <= MAX_W);
    for (int i = 0; i < w->n; i++) {
        int64_t ne[VKG_MAX_DIMS];
        cr_assert_eq(vkg_graph_weight_info(g, i, &w->key[i], &w->n_dims[i], ne), VKG_OK);
        int64_t n = 1;
        for (int d = 0; d < w->n_dims[i]; d++) n *= (w->ne[i][d] = ne[d]);
        w->data[i] = malloc(sizeof(float) * (size_t)n);
        for (int64_t j = 0; j < n; j++) w->data[i][j] = uni(&seed, 0.5);
    }
}

static void wset_write(vkg_context *ctx, const wset *w, const char *path) {
    vkg__st_write_entry e[MAX_W];
    for (int i = 0; i < w->n; i++) {
        e[i] = (vkg__st_write_entry){.key = w->key[i], .dtype = VKG_DTYPE_F32, .n_dims = w->n_dims[i], .data = w->data[i]};
        for (int d = 0; d < w->n_dims[i]; d++) e[i].ne[d] = w->ne[i][d];
    }
    cr_assert_eq(vkg__st_write(ctx, path, e, w->n), VKG_OK, "%s", vkg_last_error(ctx));
}

static void wset_free(wset *w) {
    for (int i = 0; i < w->n; i++) free(w->data[i]);
}

// >>running one graph on both backends
typedef struct moe_run {
    vkg_context *ctx;
    vkg_graph *g;
    vkg_model *m;
    wset w;
    float *x, *cpu, *gpu;
    int64_t T, C, n;
    char wpath[256];
} moe_run;

/* Loads `body` over input x [T, C], draws weights (edit may change them before
 * they are written), runs on the CPU and on Vulkan. */
static void run_both(moe_run *r, const char *body, int64_t T, int64_t C, void (*edit)(wset *)) {
    char text[2048];
    snprintf(text, sizeof text, "name: moe-test\ninputs: {x: {dtype: f32, shape: [T, %lld]}}\nbody: %s\n", (long long)C, body);
    memset(r, 0, sizeof *r);
    r->ctx = tu_vk_context();
    cr_assert_eq(vkg_frontend_load(r->ctx, &(vkg_frontend_desc){.path = "moe-test.yaml", .text = text}, &r->g), VKG_OK, "%s\n%s",
                 vkg_last_error(r->ctx), text);
    wset_fill(r->g, &r->w, 99 + (uint64_t)T);
    if (edit) edit(&r->w);
    snprintf(r->wpath, sizeof r->wpath, "/tmp/vkg_test_moe_%d.safetensors", (int)getpid());
    wset_write(r->ctx, &r->w, r->wpath);
    cr_assert_eq(vkg_model_create(r->ctx, &(vkg_model_desc){.graph = r->g, .weights_path = r->wpath}, &r->m), VKG_OK, "%s",
                 vkg_last_error(r->ctx));
    r->T = T, r->C = C, r->n = T * C;
    r->x = malloc(sizeof(float) * (size_t)r->n);
    uint64_t seed = 12345;
    for (int64_t i = 0; i < r->n; i++) r->x[i] = uni(&seed, 2.0);
    vkg_host_tensor in = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {T, C}, .data = r->x}, o;
    const char *name = "x";
    r->cpu = tu_run(r->ctx, r->m, VKG_BACKEND_CPU, 1, &name, &in, &o);
    r->gpu = tu_run(r->ctx, r->m, VKG_BACKEND_VULKAN, 1, &name, &in, &o);
    cr_assert_eq(tu_numel(&o), r->n);
}

static void expect_gpu_matches(const moe_run *r, const char *what) {
    tu_compare c = tu_compare_f32(r->gpu, r->cpu, r->n);
    cr_expect(c.nmse <= 1e-7, "%s: NMSE %.3g", what, c.nmse);
    cr_expect(c.max_rel <= 1e-4, "%s: max_rel %.3g (max_abs %.3g)", what, c.max_rel, c.max_abs);
}

static void run_done(moe_run *r) {
    unlink(r->wpath);
    free(r->x), free(r->cpu), free(r->gpu);
    wset_free(&r->w);
    vkg_model_destroy(r->m);
    vkg_graph_destroy(r->g);
    tu_context_done(r->ctx);
}

// >>Vulkan against the CPU reference
typedef struct moe_case {
    char what[48];
    char body[400];
    int64_t T, C;
} moe_case;

#define MOE(args) "[{moe: {name: m, " args "}}]"
static moe_case cases[] = {
    {"T1 E3 K1 F7", MOE("experts: 3, top_k: 1, hidden: 7, router: linear"), 1, 13},
    {"T7 E8 K2 F33", MOE("experts: 8, top_k: 2, hidden: 33, router: linear"), 7, 13},
    {"T100 E8 K3 F33 geglu", MOE("experts: 8, top_k: 3, hidden: 33, router: linear, act: geglu"), 100, 13},
    {"T100 E3 K3 F7 no normalize", MOE("experts: 3, top_k: 3, hidden: 7, router: linear, normalize: false"), 100, 13},
    {"T100 E8 K1 F7 geglu no normalize", MOE("experts: 8, top_k: 1, hidden: 7, router: linear, act: geglu, normalize: false"), 100, 13},
    {"T33 E8 K2 C16 F32 vec4", MOE("experts: 8, top_k: 2, hidden: 32, router: linear"), 33, 16},
    {"T257 E3 K2 C16 F7 vec4 gate", MOE("experts: 3, top_k: 2, hidden: 7, router: linear"), 257, 16},
    {"recurrent T1", MOE("experts: 3, top_k: 2, hidden: 7, router: {kind: recurrent, dim: 13}"), 1, 13},
    {"recurrent T100 R default", MOE("experts: 8, top_k: 2, hidden: 33, router: {kind: recurrent}"), 100, 13},
    {"recurrent chain of 3, mlp between", "[{moe: {name: a, experts: 8, top_k: 2, hidden: 7, router: {kind: recurrent, dim: 9}}},"
                                          " {mlp: {name: d, hidden: 7, act: swiglu}},"
                                          " {moe: {name: b, experts: 3, top_k: 1, hidden: 33, router: {kind: recurrent, dim: 9}}},"
                                          " {moe: {name: c, experts: 8, top_k: 3, hidden: 7, act: geglu, normalize: false,"
                                          " router: {kind: recurrent, dim: 9}}}]",
     100, 13},
    {"chain T7 with a linear moe inside", "[{moe: {name: a, experts: 3, top_k: 1, hidden: 7, router: {kind: recurrent, dim: 7}}},"
                                          " {moe: {name: b, experts: 8, top_k: 2, hidden: 7, router: linear}},"
                                          " {moe: {name: c, experts: 8, top_k: 2, hidden: 7, router: {kind: recurrent, dim: 7}}}]",
     7, 13},
};

ParameterizedTestParameters(moe, vulkan_matches_cpu) {
    return cr_make_param_array(moe_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(moe_case *c, moe, vulkan_matches_cpu) {
    moe_run r;
    run_both(&r, c->body, c->T, c->C, NULL);
    expect_gpu_matches(&r, c->what);
    run_done(&r);
}

// >>ties in the router logits and the reference against direct values
/* Expert e of stacked weights on x [C]: (act(x G_e^T) * x U_e^T) Dn_e^T, double. */
static void expert(const wset *w, const char *pre, int64_t e, const float *x, int64_t C, int64_t F, bool geglu, double *y) {
    char k[3][64];
    snprintf(k[0], 64, "%s.experts.gate", pre), snprintf(k[1], 64, "%s.experts.up", pre), snprintf(k[2], 64, "%s.experts.down", pre);
    const float *G = wget(w, k[0]) + e * F * C, *U = wget(w, k[1]) + e * F * C, *D = wget(w, k[2]) + e * C * F;
    double h[64];
    cr_assert(F <= 64);
    for (int64_t f = 0; f < F; f++) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < C; c++) g += (double)G[f * C + c] * x[c], u += (double)U[f * C + c] * x[c];
        double a = geglu ? 0.5 * g * (1 + erf(g / sqrt(2.0))) : g / (1 + exp(-g));
        h[f] = a * u;
    }
    for (int64_t c = 0; c < C; c++) {
        y[c] = 0;
        for (int64_t f = 0; f < F; f++) y[c] += D[c * F + f] * h[f];
    }
}

static void zero_router(wset *w) {
    float *r = (float *)wget(w, "m.router.weight");
    memset(r, 0, sizeof(float) * 4 * 13);
}

/* All logits equal: experts 0..K-1 are chosen, each with p = 1/E. */
static void check_all_tied(bool normalize) {
    char body[256];
    snprintf(body, sizeof body, MOE("experts: 4, top_k: 2, hidden: 7, router: linear, normalize: %s"), normalize ? "true" : "false");
    moe_run r;
    run_both(&r, body, 7, 13, zero_router);
    double wgt = normalize ? 0.5 : 0.25, y0[13], y1[13], err = 0, scale = 0;
    for (int64_t t = 0; t < r.T; t++) {
        expert(&r.w, "m", 0, r.x + t * 13, 13, 7, false, y0);
        expert(&r.w, "m", 1, r.x + t * 13, 13, 7, false, y1);
        for (int c = 0; c < 13; c++) {
            double want = wgt * (y0[c] + y1[c]);
            err = fmax(err, fabs(r.cpu[t * 13 + c] - want));
            scale = fmax(scale, fabs(want));
        }
    }
    cr_expect(err <= 1e-5 * scale, "all tied (normalize %d): cpu differs from experts 0 and 1 by %.3g (scale %.3g)", normalize, err, scale);
    expect_gpu_matches(&r, "all tied");
    run_done(&r);
}

Test(moe, tied_logits_pick_the_smaller_index) {
    check_all_tied(true);
    check_all_tied(false);
}

/* Rows 1 and 2 of the router equal, row 0 zero: l0 = 0, l1 = l2 = x.v. With
 * K = 1 expert 1 wins over 2 when x.v > 0 (else 0); with K = 2 the pair is
 * {1, 2} (equal weights) when x.v > 0, else {0, 1}. */
static void equal_rows(wset *w) {
    float *r = (float *)wget(w, "m.router.weight");
    memset(r, 0, sizeof(float) * 13);
    memcpy(r + 2 * 13, r + 13, sizeof(float) * 13);
}

static void check_equal_rows(int K) {
    char body[256];
    snprintf(body, sizeof body, MOE("experts: 3, top_k: %d, hidden: 7, router: linear"), K);
    moe_run r;
    run_both(&r, body, 100, 13, equal_rows);
    const float *v = wget(&r.w, "m.router.weight") + 13;
    double err = 0, scale = 0, ya[13], yb[13];
    int n_pos = 0;
    for (int64_t t = 0; t < r.T; t++) {
        const float *x = r.x + t * 13;
        float l = 0;
        for (int c = 0; c < 13; c++) l += v[c] * x[c];
        bool pos = l > 0;
        n_pos += pos;
        double p0 = 1.0 / (1 + 2 * exp(l)), p1 = exp(l) / (1 + 2 * exp(l));
        expert(&r.w, "m", pos ? 1 : 0, x, 13, 7, false, ya);
        expert(&r.w, "m", pos ? 2 : 1, x, 13, 7, false, yb);
        for (int c = 0; c < 13; c++) {
            double want = K == 1 ? ya[c] : pos ? 0.5 * (ya[c] + yb[c]) : (p0 * ya[c] + p1 * yb[c]) / (p0 + p1);
            err = fmax(err, fabs(r.cpu[t * 13 + c] - want));
            scale = fmax(scale, fabs(want));
        }
    }
    cr_assert(n_pos > 10 && n_pos < 90, "inputs should fall on both sides (%d of 100 positive)", n_pos);
    cr_expect(err <= 1e-4 * scale, "equal rows K=%d: cpu differs from the direct value by %.3g (scale %.3g)", K, err, scale);
    expect_gpu_matches(&r, "equal rows");
    run_done(&r);
}

Test(moe, equal_router_rows) {
    check_equal_rows(1);
    check_equal_rows(2);
}

// >>graph errors
static vkg_result load_err(const char *body, char *msg, size_t n) {
    char text[1024];
    snprintf(text, sizeof text, "name: t\ninputs: {x: {dtype: f32, shape: [T, 16]}}\nbody: %s\n", body);
    vkg_context *ctx;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    vkg_graph *g = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "t.yaml", .text = text}, &g);
    snprintf(msg, n, "%s", vkg_last_error(ctx));
    if (g) vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
    return r;
}

Test(moe, graph_errors) {
    char msg[1024];
    cr_expect_eq(load_err("[{moe: {experts: 4, top_k: 2, hidden: 8}}]", msg, sizeof msg), VKG_ERR_GRAPH, "no router: %s", msg);
    cr_expect_eq(load_err("[{moe: {experts: 4, top_k: 0, hidden: 8, router: linear}}]", msg, sizeof msg), VKG_ERR_GRAPH);
    cr_expect_eq(load_err("[{moe: {experts: 4, top_k: 2, hidden: 8, router: rnn}}]", msg, sizeof msg), VKG_ERR_GRAPH);
    cr_expect_eq(load_err("[{moe: {experts: 4, top_k: 2, hidden: 8, router: {kind: recurrent, size: 3}}}]", msg, sizeof msg), VKG_ERR_GRAPH);
    cr_expect_eq(load_err("[{moe: {experts: 4, top_k: 2, hidden: 8, router: linear, act: gelu}}]", msg, sizeof msg), VKG_ERR_GRAPH);
    /* a default R (256) differs from an explicit 32 */
    cr_expect_eq(load_err("[{moe: {name: a, experts: 4, top_k: 2, hidden: 8, router: {kind: recurrent, dim: 32}}},"
                          " {moe: {name: b, experts: 4, top_k: 2, hidden: 8, router: {kind: recurrent}}}]", msg, sizeof msg),
                 VKG_ERR_GRAPH);
    cr_expect(strstr(msg, "t.yaml:3:") != NULL, "located: %s", msg);
    cr_expect_eq(load_err("[{moe: {name: a, experts: 4, top_k: 2, hidden: 8, router: {kind: recurrent, dim: 32}}},"
                          " {moe: {name: b, experts: 4, top_k: 4, hidden: 8, router: {kind: recurrent, dim: 32}}}]", msg, sizeof msg),
                 VKG_OK, "%s", msg);
}
