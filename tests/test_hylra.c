/*
 * test_hylra.c — HyLRA (OPS.md 11): the C reference top-K against a
 * brute-force sort (with ties); the select and attend kernels and the fused
 * full-layer kernel (vkg__emit_hylra_full: attention output and index sets,
 * and its attention + select fallback for large groups) stand-alone against
 * C computations written here, on odd shapes, causal and not, with peaked
 * scores and with repeated keys (exact ties go to the smaller j); whole
 * graphs with `hylra:` on both backends: Vulkan vs CPU, reuse equal to full
 * when every row keeps all its positions (and different when not),
 * decode_only, decoding token by token equal to the whole run, and reading
 * index sets back. Validation is on; any message fails.
 *
 * Tolerances: index sets equal except on rows whose K-th and (K+1)-th scores
 * are within 1e-4 relative (OPS.md 11; such rows are counted and skipped);
 * outputs NMSE <= 1e-7 and max |diff| <= 1e-4 of the output's scale.
 */
#include "test_util.h"
#include "vkg_impl.h"

/* >>helpers ---------------------------------------------------------------*/
static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }
static float *rand_vec(int64_t n, float std) {
    float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = std * nrand();
    return v;
}

typedef struct ranked { float s; int32_t j; } ranked;
static int by_score(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->j < y->j ? -1 : 1;
}
static int by_index(const void *a, const void *b) { return *(const int32_t *)a < *(const int32_t *)b ? -1 : 1; }

/* Brute force: sort all by (score desc, j asc), keep K, sort ascending.
 * Returns the relative gap between the K-th and (K+1)-th scores (1 when K = n). */
static double brute_topk(const float *score, int64_t n, int64_t K, int32_t *out) {
    ranked *r = malloc(sizeof(ranked) * (size_t)n);
    for (int64_t j = 0; j < n; j++) r[j] = (ranked){score[j], (int32_t)j};
    qsort(r, (size_t)n, sizeof *r, by_score);
    for (int64_t i = 0; i < K; i++) out[i] = r[i].j;
    qsort(out, (size_t)K, sizeof *out, by_index);
    double gap = K < n ? (r[K - 1].s - r[K].s) / fmax(r[K - 1].s, 1e-30) : 1.0;
    free(r);
    return gap;
}

typedef struct shape {
    int64_t Tq, Tk, H, KV, Dh, top_k, pos0;
    bool causal;
} shape;

static int64_t visible(const shape *s, int64_t t) { return s->causal ? VKG__MIN(s->pos0 + t + 1, s->Tk) : s->Tk; }

/* Relative distance from the K-th largest score to the nearest different
 * score (exact ties, as from repeated keys, are decided by the smaller j). */
static double distinct_gap(const float *score, int64_t n, const int32_t *set, int64_t K) {
    float sK = score[set[0]];
    for (int64_t i = 1; i < K; i++) sK = fminf(sK, score[set[i]]);
    double gap = 1.0;
    for (int64_t j = 0; j < n; j++)
        if (score[j] != sK) gap = fmin(gap, fabs((double)score[j] - sK) / fmax(sK, 1e-30));
    return gap;
}

/* Index sets from the definition: double softmax per head, f32 sum over the
 * group. Returns rows skipped as near-ties: K-th and (K+1)-th within 1e-4
 * relative, or with exact_ties, any score different from the K-th within 1e-4. */
static int64_t c_select_ties(const shape *s, const float *q, const float *k, int32_t *idx, bool *skip, bool exact_ties) {
    int64_t rep = s->H / s->KV, skipped = 0;
    double scale = 1.0 / sqrt((double)s->Dh), *sc = malloc(sizeof(double) * (size_t)s->Tk);
    float *score = malloc(sizeof(float) * (size_t)s->Tk);
    for (int64_t t = 0; t < s->Tq; t++)
        for (int64_t g = 0; g < s->KV; g++) {
            int64_t n = visible(s, t), K = VKG__MIN(s->top_k, n);
            for (int64_t j = 0; j < n; j++) score[j] = 0;
            for (int64_t h = g * rep; h < (g + 1) * rep; h++) {
                double m = -INFINITY, l = 0;
                for (int64_t j = 0; j < n; j++) {
                    double d = 0;
                    for (int64_t c = 0; c < s->Dh; c++) d += (double)q[(t * s->H + h) * s->Dh + c] * k[(j * s->KV + g) * s->Dh + c];
                    sc[j] = d * scale, m = fmax(m, sc[j]);
                }
                for (int64_t j = 0; j < n; j++) l += exp(sc[j] - m);
                for (int64_t j = 0; j < n; j++) score[j] += (float)(exp(sc[j] - m) / l);
            }
            int32_t *row = idx + (t * s->KV + g) * s->top_k;
            double gap = brute_topk(score, n, K, row);
            if (exact_ties && K < n) gap = distinct_gap(score, n, row, K);
            for (int64_t i = K; i < s->top_k; i++) row[i] = -1;
            skip[t * s->KV + g] = gap < 1e-4;
            skipped += gap < 1e-4;
        }
    free(sc);
    free(score);
    return skipped;
}

static int64_t c_select(const shape *s, const float *q, const float *k, int32_t *idx, bool *skip) { return c_select_ties(s, q, k, idx, skip, false); }

/* Attention over each row's set, double inside. */
static void c_attend(const shape *s, const float *q, const float *k, const float *v, const int32_t *idx, float *o) {
    int64_t rep = s->H / s->KV;
    double scale = 1.0 / sqrt((double)s->Dh), w[512];
    for (int64_t t = 0; t < s->Tq; t++)
        for (int64_t h = 0; h < s->H; h++) {
            int64_t g = h / rep, K = VKG__MIN(s->top_k, visible(s, t));
            const int32_t *set = idx + (t * s->KV + g) * s->top_k;
            double m = -INFINITY, l = 0;
            for (int64_t i = 0; i < K; i++) {
                double d = 0;
                for (int64_t c = 0; c < s->Dh; c++) d += (double)q[(t * s->H + h) * s->Dh + c] * k[(set[i] * s->KV + g) * s->Dh + c];
                w[i] = d * scale, m = fmax(m, w[i]);
            }
            for (int64_t i = 0; i < K; i++) l += (w[i] = exp(w[i] - m));
            for (int64_t c = 0; c < s->Dh; c++) {
                double acc = 0;
                for (int64_t i = 0; i < K; i++) acc += w[i] * v[(set[i] * s->KV + g) * s->Dh + c];
                o[(t * s->H + h) * s->Dh + c] = (float)(acc / l);
            }
        }
}

/* >>C reference top-K vs brute force --------------------------------------*/
Test(hylra, topk_ref_matches_brute_force_with_ties) {
    const int64_t ns[] = {1, 7, 13, 33, 100, 257}, ks[] = {1, 3, 13, 64};
    for (int tie = 0; tie < 2; tie++)
        for (size_t a = 0; a < VKG__COUNTOF(ns); a++)
            for (size_t b = 0; b < VKG__COUNTOF(ks); b++) {
                int64_t n = ns[a], K = VKG__MIN(ks[b], n);
                float *score = malloc(sizeof(float) * (size_t)n);
                int32_t got[300], want[300];
                /* tie: few distinct values (and zeros), so ties straddle the K-th place */
                for (int64_t j = 0; j < n; j++) score[j] = tie ? (float)((int)(urand() * 4)) * 0.25f : (float)urand();
                vkg__hylra_topk_ref(score, n, K, got);
                brute_topk(score, n, K, want);
                for (int64_t i = 0; i < K; i++) cr_assert_eq(got[i], want[i], "n %lld K %lld tie %d: entry %lld", (long long)n, (long long)K, tie, (long long)i);
                free(score);
            }
}

/* >>kernels stand-alone ---------------------------------------------------*/
static vkg__vk_buffer make_buf(vkg_context *ctx, const void *data, size_t bytes) {
    vkg__vk_buffer b;
    cr_assert_eq(vkg__vk_buffer_create(ctx, bytes < 16 ? 16 : bytes, VKG__MEM_DEVICE, &b), VKG_OK, "%s", vkg_last_error(ctx));
    if (data) cr_assert_eq(vkg__vk_upload(ctx, &b, 0, data, bytes), VKG_OK);
    return b;
}

static vkg__bufref tref(int i, uint64_t off_floats) { return (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)i, .offset = off_floats * 4}; }

typedef enum kmode { K_SELECT, K_ATTEND, K_FULL } kmode;

/* Buffers: 0 q, 1 k, 2 v, 3 o, 4 idx. q and o start at an odd float offset
 * `qo`. K_SELECT writes idx, K_ATTEND reads idx and writes o, K_FULL
 * (vkg__emit_hylra_full) writes both. */
static void run_mode(vkg_context *ctx, const shape *s, kmode mode, const float *q, const float *k, const float *v, int32_t *idx, float *o,
                     uint64_t qo) {
    bool attend = mode == K_ATTEND;
    size_t Q = (size_t)(s->Tq * s->H * s->Dh), KVn = (size_t)(s->Tk * s->KV * s->Dh), I = (size_t)(s->Tq * s->KV * s->top_k);
    float *qpad = calloc(Q + qo, sizeof(float));
    memcpy(qpad + qo, q, Q * 4);
    vkg__vk_buffer b[5] = {make_buf(ctx, qpad, (Q + qo) * 4), make_buf(ctx, k, KVn * 4), make_buf(ctx, v, KVn * 4), make_buf(ctx, NULL, (Q + qo) * 4),
                           make_buf(ctx, attend ? idx : NULL, I * 4)};
    vkg__vk_buffer *p[5] = {&b[0], &b[1], &b[2], &b[3], &b[4]};
    vkg__lower_ctx *lc;
    cr_assert_eq(vkg__standalone_begin(ctx, p, 5, &lc), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__hylra_desc hd = {.q = tref(0, qo), .k = tref(1, 0), .v = tref(2, 0), .o = tref(3, qo), .idx = tref(4, 0), .Tq = (uint32_t)s->Tq,
                          .Tk = (uint32_t)s->Tk, .H = (uint32_t)s->H, .KV = (uint32_t)s->KV, .Dh = (uint32_t)s->Dh, .pos0 = (uint32_t)s->pos0,
                          .top_k = (uint32_t)s->top_k, .scale = (float)(1.0 / sqrt((double)s->Dh)), .causal = s->causal};
    vkg_result r = attend ? vkg__emit_hylra_attend(lc, &hd) : mode == K_FULL ? vkg__emit_hylra_full(lc, &hd) : vkg__emit_hylra_select(lc, &hd);
    cr_assert_eq(r, VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program *prog;
    cr_assert_eq(vkg__standalone_build(lc, &prog), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg__vk_program_run(ctx, prog), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program_destroy(ctx, prog);
    vkg__standalone_end(lc);
    if (mode != K_SELECT) {
        float *opad = malloc((Q + qo) * 4);
        cr_assert_eq(vkg__vk_download(ctx, &b[3], 0, opad, (Q + qo) * 4), VKG_OK);
        memcpy(o, opad + qo, Q * 4);
        free(opad);
    }
    if (mode != K_ATTEND) cr_assert_eq(vkg__vk_download(ctx, &b[4], 0, idx, I * 4), VKG_OK);
    for (int i = 0; i < 5; i++) vkg__vk_buffer_destroy(ctx, &b[i]);
    free(qpad);
}

static void run_kernel(vkg_context *ctx, const shape *s, bool attend, const float *q, const float *k, const float *v, int32_t *idx, float *o,
                       uint64_t qo) {
    run_mode(ctx, s, attend ? K_ATTEND : K_SELECT, q, k, v, idx, o, qo);
}

static const shape kernel_shapes[] = {
    {7, 7, 2, 1, 13, 3, 0, true},      {13, 13, 4, 2, 8, 5, 0, false},   {33, 40, 4, 2, 16, 7, 7, true},
    {100, 100, 3, 1, 12, 13, 0, true}, {1, 257, 4, 2, 16, 64, 256, true}, {37, 37, 2, 2, 7, 64, 0, false},
    {57, 57, 6, 3, 5, 1, 0, true},
};

Test(hylra, kernels_match_c_on_odd_shapes) {
    vkg_context *ctx = tu_vk_context();
    for (size_t c = 0; c < VKG__COUNTOF(kernel_shapes); c++) {
        const shape *s = &kernel_shapes[c];
        int64_t Q = s->Tq * s->H * s->Dh, KVn = s->Tk * s->KV * s->Dh, I = s->Tq * s->KV * s->top_k;
        float *q = rand_vec(Q, 1.0f), *k = rand_vec(KVn, 1.0f), *v = rand_vec(KVn, 1.0f);
        int32_t *want = malloc(4 * (size_t)I), *got = malloc(4 * (size_t)I);
        bool *skip = malloc((size_t)(s->Tq * s->KV));
        int64_t skipped = c_select(s, q, k, want, skip);
        cr_assert_leq(skipped * 10, s->Tq * s->KV, "shape %zu: too many near-tie rows (%lld)", c, (long long)skipped);
        run_kernel(ctx, s, false, q, k, v, got, NULL, 0);
        for (int64_t r = 0; r < s->Tq * s->KV; r++)
            for (int64_t i = 0; i < s->top_k && !skip[r]; i++)
                cr_assert_eq(got[r * s->top_k + i], want[r * s->top_k + i], "shape %zu row %lld entry %lld", c, (long long)r, (long long)i);
        /* attend over the C sets; q and o at an odd offset for every other shape (scalar loads) */
        float *o = malloc(4 * (size_t)Q), *ow = malloc(4 * (size_t)Q);
        run_kernel(ctx, s, true, q, k, v, want, o, c % 2 ? 5 : 0);
        c_attend(s, q, k, v, want, ow);
        tu_compare cmp = tu_compare_f32(o, ow, Q);
        cr_expect(cmp.nmse <= 1e-7 && cmp.max_rel <= 1e-4, "shape %zu: attend nmse %g max_rel %g", c, cmp.nmse, cmp.max_rel);
        free(q), free(k), free(v), free(want), free(got), free(skip), free(o), free(ow);
    }
    tu_context_done(ctx);
}

/* Full softmax attention from c_attend over every visible position. */
static void c_full_attention(const shape *s, const float *q, const float *k, const float *v, float *o) {
    shape a = *s;
    a.top_k = s->Tk;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(s->Tq * s->KV * s->Tk));
    for (int64_t r = 0; r < s->Tq * s->KV; r++)
        for (int64_t j = 0; j < s->Tk; j++) all[r * s->Tk + j] = (int32_t)j;
    c_attend(&a, q, k, v, all, o);
    free(all);
}

/* vkg__emit_hylra_full on one shape: index sets as c_select (near-tie rows
 * skipped, at most 10%), o as full attention. Keys repeat with period `period`
 * (0: all distinct), so exact ties straddle the K-th place; q scaled by qstd. */
static void check_full(vkg_context *ctx, const shape *s, float qstd, int64_t period, const char *what) {
    int64_t Q = s->Tq * s->H * s->Dh, KVn = s->Tk * s->KV * s->Dh, I = s->Tq * s->KV * s->top_k, rows = s->Tq * s->KV;
    float *q = rand_vec(Q, qstd), *k = rand_vec(KVn, 1.0f), *v = rand_vec(KVn, 1.0f);
    int64_t kr = s->KV * s->Dh;
    for (int64_t j = period; period > 0 && j < s->Tk; j++) memcpy(k + j * kr, k + (j % period) * kr, sizeof(float) * (size_t)kr);
    int32_t *want = malloc(4 * (size_t)I), *got = malloc(4 * (size_t)I);
    bool *skip = malloc((size_t)rows);
    int64_t skipped = c_select_ties(s, q, k, want, skip, period > 0);
    cr_assert_leq(skipped * 10, rows, "%s: too many near-tie rows (%lld of %lld)", what, (long long)skipped, (long long)rows);
    float *o = malloc(4 * (size_t)Q), *ow = malloc(4 * (size_t)Q);
    run_mode(ctx, s, K_FULL, q, k, v, got, o, s->Dh % 2 ? 3 : 0);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < s->top_k && !skip[r]; i++)
            cr_assert_eq(got[r * s->top_k + i], want[r * s->top_k + i], "%s: row %lld entry %lld", what, (long long)r, (long long)i);
    c_full_attention(s, q, k, v, ow);
    tu_compare cmp = tu_compare_f32(o, ow, Q);
    cr_expect(cmp.nmse <= 1e-7 && cmp.max_rel <= 1e-4, "%s: attention nmse %g max_rel %g", what, cmp.nmse, cmp.max_rel);
    free(q), free(k), free(v), free(want), free(got), free(skip), free(o), free(ow);
}

/* Fused kernel (H/KV * ceil(Dh/4) <= 64) and the attention + select fallback
 * (H 8, KV 1, Dh 36: 72 vec4s); causal with pos0 (decoding rows), not causal. */
static const shape full_shapes[] = {
    {7, 7, 2, 1, 13, 3, 0, true},      {13, 13, 4, 2, 8, 5, 0, false},  {33, 40, 4, 2, 16, 7, 7, true},
    {100, 100, 3, 1, 12, 13, 0, true}, {1, 257, 4, 2, 16, 64, 256, true}, {37, 37, 2, 2, 7, 64, 0, false},
    {57, 57, 6, 3, 5, 1, 0, true},     {33, 100, 8, 1, 29, 33, 67, true}, {13, 33, 8, 1, 36, 7, 20, true},
    {7, 257, 8, 2, 36, 13, 0, false},
};

Test(hylra, full_kernel_matches_c_on_odd_shapes) {
    vkg_context *ctx = tu_vk_context();
    char what[64];
    for (size_t c = 0; c < VKG__COUNTOF(full_shapes); c++) {
        snprintf(what, sizeof what, "shape %zu", c);
        check_full(ctx, &full_shapes[c], 1.0f, 0, what);
        /* peaked rows: most scores far below 2^-24, the K-th often too */
        snprintf(what, sizeof what, "shape %zu, q std 6", c);
        check_full(ctx, &full_shapes[c], 6.0f, 0, what);
    }
    tu_context_done(ctx);
}

Test(hylra, full_kernel_ties_go_to_the_smaller_position) {
    vkg_context *ctx = tu_vk_context();
    const int64_t periods[] = {1, 3, 7};
    char what[64];
    for (size_t c = 0; c < VKG__COUNTOF(full_shapes); c++)
        for (size_t p = 0; p < VKG__COUNTOF(periods); p++) {
            snprintf(what, sizeof what, "shape %zu, keys repeat every %lld", c, (long long)periods[p]);
            check_full(ctx, &full_shapes[c], 1.0f, periods[p], what);
        }
    tu_context_done(ctx);
}

/* >>whole graphs ----------------------------------------------------------*/
/* Three pre-norm softmax layers (std 0.5 weights make attention peaked, so
 * near-ties are rare); policy and options as given. */
static vkg_graph *load_graph(vkg_context *ctx, const char *policy, int top_k, bool causal, bool decode_only, bool record) {
    char text[2048];
    snprintf(text, sizeof text,
             "name: hy\n"
             "dims: {V: 61, D: 24, H: 4, KV: 2}\n"
             "inputs: {tokens: {dtype: i32, shape: [T]}}\n"
             "weights: {random: {seed: 5, std: 0.5}}\n"
             "hylra: {top_k: %d, policy: [%s], decode_only: %s}\n"
             "body:\n"
             "  - embed: {name: emb, vocab: $V, dim: $D}\n"
             "  - repeat:\n"
             "      count: 3\n"
             "      body:\n"
             "        - residual:\n"
             "            - norm: {name: \"n{i}\", kind: rms}\n"
             "            - attention: {name: \"a{i}\", kind: softmax, heads: $H, kv_heads: $KV, causal: %s, rope: {theta: 10000}}\n"
             "  - linear: {name: head, out: $V}\n",
             top_k, policy, decode_only ? "true" : "false", causal ? "true" : "false");
    vkg_graph *g = NULL;
    vkg_result r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "hylra-test.yaml", .text = text}, &g);
    cr_assert_eq(r, VKG_OK, "%s", vkg_last_error(ctx));
    if (record) {
        bool full[3] = {true, true, true};
        cr_assert_eq(vkg_graph_hylra_layers(g), 3);
        cr_assert_eq(vkg_graph_set_hylra(g, &(vkg_hylra_desc){.top_k = top_k, .n_policy = 3, .policy_full = full, .record = true}), VKG_OK);
    }
    return g;
}

static int32_t *tokens(int64_t T) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T);
    for (int64_t t = 0; t < T; t++) ids[t] = (int32_t)((t * 37 + 11) % 61);
    return ids;
}

/* Whole run of T tokens; a malloc'd copy of the logits. */
static float *run_whole(vkg_context *ctx, vkg_graph *g, vkg_backend be, int64_t T) {
    vkg_model *m;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    int32_t *ids = tokens(T);
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}, shape;
    const char *name = "tokens";
    float *out = tu_run(ctx, m, be, 1, &name, &in, &shape);
    vkg_model_destroy(m);
    free(ids);
    return out;
}

/* Decoding: a first call of `chunk` tokens (0: none), then one token per call; logits rows concatenated. */
static float *run_steps(vkg_context *ctx, vkg_graph *g, vkg_backend be, int64_t T, int64_t chunk) {
    vkg_model *m;
    vkg_session *s;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = be, .max_tokens = 64}, &s), VKG_OK, "%s", vkg_last_error(ctx));
    int32_t *ids = tokens(T);
    float *out = malloc(sizeof(float) * (size_t)(T * 61));
    for (int64_t t = 0; t < T;) {
        int64_t n = t == 0 && chunk > 0 ? chunk : 1;
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {n}, .data = ids + t}, o;
        cr_assert_eq(vkg_session_set_input(s, "tokens", &in), VKG_OK);
        cr_assert_eq(vkg_session_step(s), VKG_OK, "step at %lld: %s", (long long)t, vkg_last_error(ctx));
        cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
        memcpy(out + t * 61, o.data, sizeof(float) * (size_t)(n * 61));
        t += n;
    }
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    free(ids);
    return out;
}

static void expect_close(const char *what, const float *got, const float *want, int64_t n) {
    tu_compare c = tu_compare_f32(got, want, n);
    cr_expect(c.nmse <= 1e-7 && c.max_rel <= 1e-4, "%s: nmse %g max_rel %g", what, c.nmse, c.max_rel);
}

Test(hylra, graph_vulkan_matches_cpu_causal_and_not) {
    vkg_context *ctx = tu_vk_context();
    for (int causal = 0; causal < 2; causal++) {
        int64_t T = causal ? 37 : 29;
        vkg_graph *g = load_graph(ctx, "full, reuse, reuse", 5, causal, false, false);
        float *vk = run_whole(ctx, g, VKG_BACKEND_VULKAN, T), *cpu = run_whole(ctx, g, VKG_BACKEND_CPU, T);
        expect_close(causal ? "causal" : "non-causal", vk, cpu, T * 61);
        free(vk), free(cpu);
        vkg_graph_destroy(g);
    }
    tu_context_done(ctx);
}

Test(hylra, reuse_equals_full_only_when_rows_keep_every_position) {
    vkg_context *ctx = tu_vk_context();
    int64_t T = 23;
    vkg_graph *full = load_graph(ctx, "full, full, full", 23, true, false, false);
    vkg_graph *all = load_graph(ctx, "full, reuse, full", 23, true, false, false);   /* p_t + 1 <= top_k everywhere */
    vkg_graph *some = load_graph(ctx, "full, reuse, full", 4, true, false, false);
    for (int be = 0; be < 2; be++) {
        vkg_backend b = be ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN;
        float *a = run_whole(ctx, full, b, T), *r = run_whole(ctx, all, b, T), *s = run_whole(ctx, some, b, T);
        expect_close("reuse with top_k >= T vs full", r, a, T * 61);
        tu_compare c = tu_compare_f32(s, a, T * 61);
        cr_expect(c.max_rel > 1e-3, "reuse with top_k 4 should differ from full (max_rel %g)", c.max_rel);
        free(a), free(r), free(s);
    }
    vkg_graph_destroy(full), vkg_graph_destroy(all), vkg_graph_destroy(some);
    tu_context_done(ctx);
}

Test(hylra, decoding_equals_whole_run) {
    vkg_context *ctx = tu_vk_context();
    int64_t T = 19;
    vkg_graph *g = load_graph(ctx, "full, reuse, reuse", 4, true, false, false);
    vkg_graph *d = load_graph(ctx, "full, reuse, reuse", 4, true, true, false);
    vkg_graph *f = load_graph(ctx, "full, full, full", 4, true, false, false);
    for (int be = 0; be < 2; be++) {
        vkg_backend b = be ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN;
        float *whole = run_whole(ctx, g, b, T), *steps = run_steps(ctx, g, b, T, 5);
        expect_close("chunk of 5 then single tokens vs whole", steps, whole, T * 61);
        /* decode_only: the whole run attends fully; single-token steps reuse row by row */
        float *dwhole = run_whole(ctx, d, b, T), *fwhole = run_whole(ctx, f, b, T), *dsteps = run_steps(ctx, d, b, T, 0);
        expect_close("decode_only whole vs full", dwhole, fwhole, T * 61);
        expect_close("decode_only single steps vs whole-sequence reuse", dsteps, whole, T * 61);
        free(whole), free(steps), free(dwhole), free(fwhole), free(dsteps);
    }
    vkg_graph_destroy(g), vkg_graph_destroy(d), vkg_graph_destroy(f);
    tu_context_done(ctx);
}

Test(hylra, index_sets_read_back) {
    vkg_context *ctx = NULL;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    int64_t T = 13, top_k = 6;
    vkg_graph *g = load_graph(ctx, "full, full, full", (int)top_k, true, false, true);
    vkg_model *m;
    vkg_session *s;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = VKG_BACKEND_CPU}, &s), VKG_OK);
    int32_t *ids = tokens(T);
    cr_assert_eq(vkg_session_set_input(s, "tokens", &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}), VKG_OK);
    cr_assert_eq(vkg_session_run(s), VKG_OK, "%s", vkg_last_error(ctx));
    for (int layer = 0; layer < 3; layer++) {
        vkg_host_tensor t;
        cr_assert_eq(vkg_session_hylra_indices(s, layer, &t), VKG_OK, "%s", vkg_last_error(ctx));
        cr_assert(t.n_dims == 3 && t.ne[0] == T && t.ne[1] == 2 && t.ne[2] == top_k);
        const int32_t *x = t.data;
        for (int64_t p = 0; p < T; p++)
            for (int64_t gk = 0; gk < 2; gk++) {
                const int32_t *row = x + (p * 2 + gk) * top_k;
                int64_t K = VKG__MIN(top_k, p + 1);
                for (int64_t i = 0; i < top_k; i++) {
                    if (i >= K) cr_assert_eq(row[i], -1);
                    else cr_assert(row[i] >= 0 && row[i] <= p && (i == 0 || row[i] > row[i - 1]), "layer %d row %lld", layer, (long long)p);
                }
            }
        vkg_host_tensor_free(ctx, &t);
    }
    vkg_host_tensor dummy;
    cr_assert_eq(vkg_session_hylra_indices(s, 3, &dummy), VKG_ERR_INVALID_ARG);
    free(ids);
    vkg_session_destroy(s), vkg_model_destroy(m), vkg_graph_destroy(g), vkg_context_destroy(ctx);
}

/* The same read-back from a Vulkan session: the sets the GPU selected, equal
 * to the CPU's except on rare near-tie rows. */
Test(hylra, index_sets_read_back_vulkan) {
    vkg_context *ctx = tu_vk_context();
    int64_t T = 13, top_k = 6;
    vkg_graph *g = load_graph(ctx, "full, full, full", (int)top_k, true, false, true);
    vkg_model *m;
    cr_assert_eq(vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m), VKG_OK, "%s", vkg_last_error(ctx));
    int32_t *ids = tokens(T);
    vkg_host_tensor sets[2];
    for (int b = 0; b < 2; b++) {
        vkg_session *s;
        vkg_backend backend = b ? VKG_BACKEND_CPU : VKG_BACKEND_VULKAN;
        cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend}, &s), VKG_OK);
        cr_assert_eq(vkg_session_set_input(s, "tokens", &(vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}),
                     VKG_OK);
        cr_assert_eq(vkg_session_run(s), VKG_OK, "%s", vkg_last_error(ctx));
        cr_assert_eq(vkg_session_hylra_indices(s, 1, &sets[b]), VKG_OK, "%s", vkg_last_error(ctx));
        vkg_session_destroy(s);
    }
    cr_assert(sets[0].ne[0] == T && sets[0].ne[1] == 2 && sets[0].ne[2] == top_k);
    int64_t rows = T * 2, differ = 0;
    for (int64_t r = 0; r < rows; r++)
        differ += memcmp((int32_t *)sets[0].data + r * top_k, (int32_t *)sets[1].data + r * top_k, (size_t)top_k * 4) != 0;
    cr_expect(differ * 10 <= rows, "%lld of %lld index rows differ between Vulkan and CPU", (long long)differ, (long long)rows);
    vkg_host_tensor_free(ctx, &sets[0]);
    vkg_host_tensor_free(ctx, &sets[1]);
    free(ids);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    tu_context_done(ctx);
}
