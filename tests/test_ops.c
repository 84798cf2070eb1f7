/*
 * test_ops.c — every op on the Vulkan device against the CPU reference, on
 * shapes that are not multiples of any tile (1, 7, 13, 33, 100, 257), and the
 * CPU reference against hand-computed values on tiny inputs.
 *
 * Tolerances: NMSE <= 1e-7 (ggml's rule) for everything, and additionally
 * max |gpu - cpu| <= 1e-4 * max|cpu| for ops with exp/erf/tanh inside
 * (attention, gelu, silu, ...), where the kernel's approximations differ from
 * libm in the last bits.
 */
#include "test_util.h"
#include "op_util.h"

#include <criterion/parameterized.h>

/* Strings are arrays, not pointers: Criterion copies parameters into the
 * test's own process, where the binary may be mapped elsewhere. */
typedef struct op_case {
    char what[48];
    char inputs[128];       /* YAML of the inputs map */
    char body[160];         /* YAML of the body list */
    int n_in;
    int64_t shape[2][3];    /* per input: up to 3 sizes, 0-terminated */
    bool ids;               /* input 0 holds token ids (i32) below 300 */
    double tol_max_rel;
} op_case;

#define X_TC(T, C) "{x: {dtype: f32, shape: [" #T ", " #C "]}}"
#define CASE(what_, T, C, body_, tol) {.what = what_, .inputs = X_TC(T, C), .body = body_, .n_in = 1, .shape = {{T, C}}, .tol_max_rel = tol}

static op_case cases[] = {
    CASE("linear 1x7->13", 1, 7, "[{linear: {out: 13}}]", 1e-5),
    CASE("linear 13x7->13 bias", 13, 7, "[{linear: {out: 13, bias: true}}]", 1e-5),
    CASE("linear 100x257->33", 100, 257, "[{linear: {out: 33}}]", 1e-5),
    CASE("linear 33x100->257 bias", 33, 100, "[{linear: {out: 257, bias: true}}]", 1e-5),
    CASE("linear 257x64->64", 257, 64, "[{linear: {out: 64}}]", 1e-5),
    CASE("norm layer", 13, 7, "[{norm: {kind: layer}}]", 1e-5),
    CASE("norm layer eps", 100, 257, "[{norm: {kind: layer, eps: 1e-6}}]", 1e-5),
    CASE("norm rms", 1, 257, "[{norm: {kind: rms}}]", 1e-5),
    CASE("norm rms 33x13", 33, 13, "[{norm: {kind: rms, eps: 1e-5}}]", 1e-5),
    CASE("norm batch", 100, 13, "[{norm: {kind: batch}}]", 1e-5),
    CASE("act relu", 13, 7, "[{act: {fn: relu}}]", 1e-6),
    CASE("act gelu", 13, 7, "[{act: {fn: gelu}}]", 1e-4),
    CASE("act gelu_tanh", 13, 7, "[{act: {fn: gelu_tanh}}]", 1e-4),
    CASE("act silu", 100, 7, "[{act: {fn: silu}}]", 1e-4),
    CASE("act sigmoid", 13, 7, "[{act: {fn: sigmoid}}]", 1e-4),
    CASE("act tanh", 13, 7, "[{act: {fn: tanh}}]", 1e-4),
    CASE("act elu1", 13, 7, "[{act: {fn: elu1}}]", 1e-4),
    CASE("mlp gelu", 13, 7, "[{mlp: {hidden: 13}}]", 1e-4),
    CASE("mlp gelu_tanh bias", 7, 13, "[{mlp: {hidden: 33, act: gelu_tanh, bias: true}}]", 1e-4),
    CASE("mlp relu", 33, 13, "[{mlp: {hidden: 100, act: relu}}]", 1e-4),
    CASE("mlp silu", 1, 13, "[{mlp: {hidden: 7, act: silu}}]", 1e-4),
    CASE("mlp swiglu", 13, 33, "[{mlp: {hidden: 100, act: swiglu}}]", 1e-4),
    CASE("mlp geglu bias", 7, 13, "[{mlp: {hidden: 13, act: geglu, bias: true}}]", 1e-4),
    CASE("attention causal gqa rope", 7, 56, "[{attention: {kind: softmax, heads: 4, kv_heads: 2, rope: {}}}]", 1e-4),
    CASE("attention T=1", 1, 56, "[{attention: {kind: softmax, heads: 4, kv_heads: 1, rope: {theta: 500}}}]", 1e-4),
    CASE("attention interleaved partial", 13, 32, "[{attention: {kind: softmax, heads: 4, rope: {dims: 6, style: interleaved}}}]", 1e-4),
    CASE("attention half partial", 13, 32, "[{attention: {kind: softmax, heads: 2, kv_heads: 2, rope: {dims: 4, theta: 100}}}]", 1e-4),
    CASE("attention qk_norm full", 13, 48, "[{attention: {kind: softmax, heads: 6, kv_heads: 3, qk_norm: full}}]", 1e-4),
    CASE("attention qk_norm head bias", 13, 48, "[{attention: {kind: softmax, heads: 6, kv_heads: 2, qk_norm: head, bias: true}}]", 1e-4),
    CASE("attention non-causal", 33, 20, "[{attention: {kind: softmax, heads: 5, causal: false}}]", 1e-4),
    CASE("attention head_dim scale", 13, 20, "[{attention: {kind: softmax, heads: 3, head_dim: 8, scale: 0.5}}]", 1e-4),
    CASE("attention odd head_dim", 13, 52, "[{attention: {kind: softmax, heads: 4, kv_heads: 2, rope: {dims: 12}}}]", 1e-4),
    CASE("attention long", 257, 32, "[{attention: {kind: softmax, heads: 2, rope: {}}}]", 1e-4),
    CASE("pool mean", 13, 7, "[{pool: {kind: mean}}]", 1e-5),
    CASE("pool first", 100, 13, "[{pool: {kind: first}}]", 1e-6),
    CASE("pos_embed", 13, 7, "[{pos_embed: {max_len: 20, dim: 7}}]", 1e-6),
    {.what = "embed", .inputs = "{x: {dtype: i32, shape: [T]}}", .body = "[{embed: {vocab: 300, dim: 13}}]", .n_in = 1,
     .shape = {{7}}, .ids = true, .tol_max_rel = 1e-6},
    {.what = "embed 257 tokens", .inputs = "{x: {dtype: i32, shape: [T]}}", .body = "[{embed: {vocab: 300, dim: 100}}]", .n_in = 1,
     .shape = {{257}}, .ids = true, .tol_max_rel = 1e-6},
    {.what = "patch_embed cls", .inputs = "{x: {dtype: f32, shape: [12, 8, 3]}}",
     .body = "[{patch_embed: {patch: 4, channels: 3, dim: 13, cls: true}}]", .n_in = 1, .shape = {{12, 8, 3}}, .tol_max_rel = 1e-5},
    {.what = "patch_embed", .inputs = "{x: {dtype: f32, shape: [14, 7, 2]}}",
     .body = "[{patch_embed: {patch: 7, channels: 2, dim: 7}}]", .n_in = 1, .shape = {{14, 7, 2}}, .tol_max_rel = 1e-5},
    {.what = "add", .inputs = "{x: {dtype: f32, shape: [13, 7]}, y: {dtype: f32, shape: [13, 7]}}",
     .body = "[{add: {in: [x, y]}}]", .n_in = 2, .shape = {{13, 7}, {13, 7}}, .tol_max_rel = 1e-6},
    {.what = "mul", .inputs = "{x: {dtype: f32, shape: [100, 13]}, y: {dtype: f32, shape: [100, 13]}}",
     .body = "[{mul: {in: [y, x]}}]", .n_in = 2, .shape = {{100, 13}, {100, 13}}, .tol_max_rel = 1e-6},
};

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static vkg_graph *load_text(vkg_context *ctx, const char *text) {
    vkg_graph *g = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "op-test.yaml", .text = text}, &g);
    cr_assert_eq(r, VKG_OK, "%s\n%s", vkg_last_error(ctx), text);
    return g;
}

ParameterizedTestParameters(ops, vulkan_matches_cpu) {
    return cr_make_param_array(op_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(op_case *c, ops, vulkan_matches_cpu) {
    char text[2048];
    snprintf(text, sizeof text, "name: op-test\ninputs: %s\nweights: {random: {seed: 7, std: 0.5}}\nbody: %s\n", c->inputs, c->body);
    vkg_context *ctx = tu_vk_context();
    vkg_graph *g = load_text(ctx, text);
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_host_tensor in[2];
    const char *names[2];
    uint64_t seed = 12345;
    for (int i = 0; i < c->n_in; i++) {
        vkg_dtype dt;
        int rank;
        cr_assert_eq(vkg_graph_input_info(g, i, &names[i], &dt, &rank), VKG_OK);
        in[i] = (vkg_host_tensor){.dtype = dt, .n_dims = rank};
        for (int d = 0; d < rank; d++) in[i].ne[d] = c->shape[i][d];
        int64_t n = tu_numel(&in[i]);
        in[i].data = malloc((size_t)n * 4);
        for (int64_t j = 0; j < n; j++) {
            if (c->ids) ((int32_t *)in[i].data)[j] = (int32_t)(lcg(&seed) % 300);
            else ((float *)in[i].data)[j] = (float)((double)(lcg(&seed) % 40001) / 10000.0 - 2.0);
        }
    }
    vkg_host_tensor oc, ov;
    float *cpu = tu_run(ctx, m, VKG_BACKEND_CPU, c->n_in, names, in, &oc);
    float *gpu = tu_run(ctx, m, VKG_BACKEND_VULKAN, c->n_in, names, in, &ov);
    int64_t n = tu_numel(&oc);
    cr_assert_eq(n, tu_numel(&ov));
    tu_compare cmp = tu_compare_f32(gpu, cpu, n);
    cr_expect(cmp.nmse <= 1e-7, "%s: NMSE %.3g", c->what, cmp.nmse);
    cr_expect(cmp.max_rel <= c->tol_max_rel, "%s: max_rel %.3g > %.1g (max_abs %.3g)", c->what, cmp.max_rel, c->tol_max_rel, cmp.max_abs);
    for (int i = 0; i < c->n_in; i++) free(in[i].data);
    free(cpu);
    free(gpu);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    tu_context_done(ctx);
}

// >>CPU reference against hand-computed values
/* Runs a one-node graph on the CPU backend with weights from a safetensors
 * file written here, so the values are known exactly. */
static float *cpu_run_tiny(const char *body, const char *in_yaml, vkg_host_tensor *in, vkg_host_tensor *out, vkg_context **pctx,
                           vkg_model **pm, vkg_graph **pg) {
    vkg_context *ctx;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    char text[1024];
    snprintf(text, sizeof text, "name: tiny\ninputs: %s\nbody: %s\n", in_yaml, body);
    vkg_graph *g = load_text(ctx, text);
    vkg_model *m;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    const char *name;
    cr_assert_eq(vkg_graph_input_info(g, 0, &name, NULL, NULL), VKG_OK);
    float *r = tu_run(ctx, m, VKG_BACKEND_CPU, 1, &name, in, out);
    *pctx = ctx, *pm = m, *pg = g;
    return r;
}

static void tiny_done(vkg_context *ctx, vkg_model *m, vkg_graph *g, float *r) {
    free(r);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
}

/* With no weights file the default random law gives norm weights 1 and biases 0 (OPS.md 16). */
Test(ops, rmsnorm_hand_values) {
    float x[2] = {3, 4};
    vkg_host_tensor in = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {1, 2}, .data = x}, out;
    vkg_context *ctx; vkg_model *m; vkg_graph *g;
    float *y = cpu_run_tiny("[{norm: {kind: rms, eps: 0.0}}]", "{x: {dtype: f32, shape: [1, 2]}}", &in, &out, &ctx, &m, &g);
    double r = 1.0 / sqrt(12.5);
    cr_expect_float_eq(y[0], 3 * r, 1e-6);
    cr_expect_float_eq(y[1], 4 * r, 1e-6);
    tiny_done(ctx, m, g, y);
}

Test(ops, layernorm_hand_values) {
    float x[4] = {1, 2, 3, 4};
    vkg_host_tensor in = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {1, 4}, .data = x}, out;
    vkg_context *ctx; vkg_model *m; vkg_graph *g;
    float *y = cpu_run_tiny("[{norm: {kind: layer, eps: 0.0}}]", "{x: {dtype: f32, shape: [1, 4]}}", &in, &out, &ctx, &m, &g);
    double sd = sqrt(1.25);
    cr_expect_float_eq(y[0], -1.5 / sd, 1e-6);
    cr_expect_float_eq(y[3], 1.5 / sd, 1e-6);
    tiny_done(ctx, m, g, y);
}

Test(ops, activation_hand_values) {
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_GELU, 1.0f), 0.8413447461f, 1e-6);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_GELU, -3.0f), -0.0040496f, 1e-6);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_GELU_TANH, 1.0f), 0.8411920f, 1e-6);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_SILU, 2.0f), 1.7615942f, 1e-6);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_ELU1, -1.0f), 0.3678794f, 1e-6);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_ELU1, 2.0f), 3.0f, 1e-7);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_SIGMOID, 0.0f), 0.5f, 1e-7);
    cr_expect_float_eq(vkg__act_ref(VKG__ACT_RELU, -2.0f), 0.0f, 1e-7);
}

/* RoPE at position 1 with theta 1 rotates the pair by 1 radian; attention over one
 * key returns that key's value; so a 1-token attention is wo(wv x). */
Test(ops, rope_hand_values) {
    float x[4] = {1, 0, 0, 1};
    vkg__ref_rope(x, 4, 1, 1, 4, 4, 1.0f, VKG__ROPE_HALF, 1);
    /* half style: pairs (0, 2) with angle 1 and (1, 3) with angle 1^(-1/2)... = 1 */
    cr_expect_float_eq(x[0], cosf(1.0f), 1e-6);
    cr_expect_float_eq(x[2], sinf(1.0f), 1e-6);
    cr_expect_float_eq(x[1], -sinf(1.0f), 1e-6);
    cr_expect_float_eq(x[3], cosf(1.0f), 1e-6);
}

Test(ops, causal_attention_hand_values) {
    /* one head, Dh 1: q = k = 1 for both rows; v = [1, 3]. Row 0 sees only v0; row 1 averages. */
    float q[2] = {1, 1}, k[2] = {1, 1}, v[2] = {1, 3}, o[2];
    double scratch[2];
    vkg__ref_attention(o, q, k, v, 2, 2, 1, 1, 1, 1.0, true, 0, scratch);
    cr_expect_float_eq(o[0], 1.0f, 1e-7);
    cr_expect_float_eq(o[1], 2.0f, 1e-7);
    vkg__ref_attention(o, q, k, v, 2, 2, 1, 1, 1, 1.0, false, 0, scratch);
    cr_expect_float_eq(o[0], 2.0f, 1e-7);
}
