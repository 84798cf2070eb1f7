/*
 * test_graphs.c — every shipped graph end to end: the Vulkan run against the
 * CPU reference, and both against the stored expected output that the
 * independent PyTorch reading (tools/reference.py) computed.
 */
#include <dirent.h>

#include "test_util.h"

#include <criterion/parameterized.h>

/* Inputs the stored outputs were computed from (tools/make_expected.py uses the same). */
static const char sample_text[] = "The quick brown fox jumps over the lazy dog.";

static void image_input(float *img, int64_t n) {
    for (int64_t i = 0; i < n; i++) img[i] = (float)((i * 37) % 101) / 100.0f;
}

static void run_graph(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/graphs/%s.yaml", tu_source_root(), name);
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g = NULL;
    cr_assert_eq(vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = path}, &g), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));

    const char *in_name;
    vkg_dtype dt;
    int rank;
    cr_assert_eq(vkg_graph_input_info(g, 0, &in_name, &dt, &rank), VKG_OK);
    vkg_host_tensor in = {.dtype = dt, .n_dims = rank};
    int32_t ids[sizeof sample_text];
    float *img = NULL;
    if (dt == VKG_DTYPE_I32) {
        in.ne[0] = (int64_t)strlen(sample_text);
        for (int i = 0; i < in.ne[0]; i++) ids[i] = (unsigned char)sample_text[i];
        in.data = ids;
    } else {
        cr_assert_eq(vkg_graph_input_shape(g, 0, in.ne), VKG_OK);
        img = malloc(sizeof(float) * (size_t)tu_numel(&in));
        image_input(img, tu_numel(&in));
        in.data = img;
    }
    vkg_host_tensor oc, ov;
    float *cpu = tu_run(ctx, m, VKG_BACKEND_CPU, 1, &in_name, &in, &oc);
    float *gpu = tu_run(ctx, m, VKG_BACKEND_VULKAN, 1, &in_name, &in, &ov);
    cr_assert_eq(oc.n_dims, ov.n_dims);
    cr_assert_eq(tu_numel(&oc), tu_numel(&ov));
    tu_compare c = tu_compare_f32(gpu, cpu, tu_numel(&oc));
    cr_expect(c.max_rel <= 1e-4, "%s: vulkan vs cpu max_rel %.3g (max_abs %.3g)", name, c.max_rel, c.max_abs);

    /* With folding and fusion off the result matches within rounding too. */
    vkg_model *plain = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g, .no_fold = true}, &plain), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_host_tensor op;
    float *unfused = tu_run(ctx, plain, VKG_BACKEND_VULKAN, 1, &in_name, &in, &op);
    tu_compare cu = tu_compare_f32(unfused, cpu, tu_numel(&oc));
    cr_expect(cu.max_rel <= 1e-4, "%s: vulkan --no-fold vs cpu max_rel %.3g", name, cu.max_rel);
    free(unfused);
    vkg_model_destroy(plain);

    snprintf(path, sizeof path, "%s/graphs/expected/%s.npy", tu_source_root(), name);
    vkg_host_tensor ref;
    cr_assert_eq(vkg_npy_read(ctx, path, &ref), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(tu_numel(&ref), tu_numel(&oc), "%s: stored output has another size", name);
    tu_compare cr = tu_compare_f32(cpu, ref.data, tu_numel(&oc));
    cr_expect(cr.max_rel <= 1e-4, "%s: cpu vs stored PyTorch output max_rel %.3g", name, cr.max_rel);
    vkg_host_tensor_free(ctx, &ref);

    free(cpu);
    free(gpu);
    free(img);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    tu_context_done(ctx);
}

/* Every graph in graphs/ runs end to end: each is a parameter of these tests. */
typedef struct graph_case { char name[64]; } graph_case;

static int graph_cases(graph_case *out, int cap) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/graphs", tu_source_root());
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || len - 5 >= sizeof out->name || strcmp(e->d_name + len - 5, ".yaml") != 0 || n == cap) continue;
        memset(&out[n], 0, sizeof out[n]);
        memcpy(out[n].name, e->d_name, len - 5);
        n++;
    }
    if (d) closedir(d);
    return n;
}

ParameterizedTestParameters(graphs, end_to_end) {
    static graph_case cases[64];
    int n = graph_cases(cases, 64);
    return cr_make_param_array(graph_case, cases, (size_t)n);
}

ParameterizedTest(graph_case *c, graphs, end_to_end) { run_graph(c->name); }

Test(graphs, shipped_graphs_found) {
    graph_case cases[64];
    cr_assert(graph_cases(cases, 64) >= 3, "graphs/ should hold the shipped graphs");
}

// >>decoding: token by token and in chunks equals the whole-sequence run
static void decode_graph(const char *name, vkg_backend backend) {
    char path[1024];
    snprintf(path, sizeof path, "%s/graphs/%s.yaml", tu_source_root(), name);
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g = NULL;
    cr_assert_eq(vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = path}, &g), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    const char *in_name, *why;
    cr_assert_eq(vkg_graph_input_info(g, 0, &in_name, NULL, NULL), VKG_OK);
    if (vkg_graph_decodable(g, &why, NULL) != VKG_OK) {
        vkg_model_destroy(m);
        vkg_graph_destroy(g);
        tu_context_done(ctx);
        return;
    }
    enum { T = 13 };
    int32_t ids[T];
    for (int i = 0; i < T; i++) ids[i] = (unsigned char)sample_text[i];
    vkg_host_tensor whole_in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}, ow;
    float *whole = tu_run(ctx, m, backend, 1, &in_name, &whole_in, &ow);
    int64_t V = ow.ne[1];

    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend, .max_tokens = T}, &s), VKG_OK);
    /* a chunk of 5, then one token at a time */
    int chunks[] = {5, 1, 1, 1, 1, 1, 1, 1, 1};
    int t0 = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {chunks[c]}, .data = ids + t0};
        cr_assert_eq(vkg_session_set_input(s, in_name, &in), VKG_OK);
        cr_assert_eq(vkg_session_step(s), VKG_OK, "%s", vkg_last_error(ctx));
        vkg_host_tensor o;
        cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
        cr_assert_eq(o.ne[0], chunks[c]);
        tu_compare cmp = tu_compare_f32(o.data, whole + (int64_t)t0 * V, chunks[c] * V);
        cr_expect(cmp.max_rel <= 1e-4, "%s: tokens %d..%d differ from the whole run: max_rel %.3g", name, t0, t0 + chunks[c] - 1, cmp.max_rel);
        t0 += chunks[c];
    }
    cr_assert_eq(vkg_session_position(s), T);
    /* past max_tokens is an error, not a crash */
    vkg_host_tensor one = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {1}, .data = ids};
    cr_assert_eq(vkg_session_set_input(s, in_name, &one), VKG_OK);
    cr_assert_eq(vkg_session_step(s), VKG_ERR_INPUT);
    vkg_session_destroy(s);
    free(whole);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    tu_context_done(ctx);
}

ParameterizedTestParameters(graphs, decode_matches_run) {
    static graph_case cases[64];
    int n = graph_cases(cases, 64);
    return cr_make_param_array(graph_case, cases, (size_t)n);
}

/* Every decodable graph, on both backends (others are skipped: they have no decoding). */
ParameterizedTest(graph_case *c, graphs, decode_matches_run) {
    decode_graph(c->name, VKG_BACKEND_VULKAN);
    decode_graph(c->name, VKG_BACKEND_CPU);
}
