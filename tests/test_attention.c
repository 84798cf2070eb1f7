/*
 * test_attention.c — the softmax attention kernel variants behind
 * vkg__emit_attention (kernels.c): ROW (attention.comp), GROUP
 * (attention_group.comp: blocks of query rows and of the heads sharing a KV
 * head) and SPLIT (attention_group.comp per chunk of keys, then
 * attention_merge.comp), each forced through vkg__emit_attention_variant and
 * run stand-alone on the Vulkan device against a double-precision C loop
 * written here, on odd shapes (Tq 1..257, Tk up to 3000, n_rep 1-4, Dh 5 to
 * 128, causal with and without pos0 > 0, non-causal), aligned (vec4 loads)
 * and one float off (scalar loads), with sentinels around the output. The
 * automatic choice is checked on prefill and decode shapes too. Validation
 * is on; any message fails.
 *
 * Tolerance (exp-based op): NMSE <= 1e-7 and max |got - ref| <= 1e-4 of
 * max |ref| over the output.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkg_impl.h"

static vkg_context *ctx;

static void setup(void)
{
    vkg_context_desc desc = {.validation = true, .pipeline_cache_dir = ""};
    cr_assert_eq(vkg_context_create(&desc, &ctx), VKG_OK, "context: %s", ctx ? vkg_last_error(ctx) : "");
}

static void teardown(void)
{
    if (!ctx) return;
    uint32_t msgs = vkg_context_validation_messages(ctx);
    vkg_context_destroy(ctx);
    ctx = NULL;
    cr_assert_eq(msgs, 0, "%u validation messages", msgs);
}

TestSuite(attention, .init = setup, .fini = teardown, .timeout = 120);

/* >>helpers ---------------------------------------------------------------*/
#define SENTINEL (-777.25f)
#define PAD 3

typedef struct shape {
    uint32_t Tq, Tk, H, KV, Dh, causal, pos0;
} shape;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void)            /* uniform in [-2, 2) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24) * 4.0 - 2.0);
}

static float *rand_vec(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

static void attn_ref(const shape *s, const float *q, const float *k, const float *v, double scale, double *o)
{
    double *sc = malloc((s->Tk ? s->Tk : 1) * sizeof(double));
    for (uint32_t t = 0; t < s->Tq; t++)
        for (uint32_t h = 0; h < s->H; h++) {
            uint32_t g = h / (s->H / s->KV), jend = s->causal ? VKG__MIN(s->Tk, s->pos0 + t + 1) : s->Tk;
            double m = -INFINITY, l = 0;
            for (uint32_t j = 0; j < jend; j++) {
                double d = 0;
                for (uint32_t e = 0; e < s->Dh; e++)
                    d += (double)q[((size_t)t * s->H + h) * s->Dh + e] * k[((size_t)j * s->KV + g) * s->Dh + e];
                sc[j] = scale * d;
                if (sc[j] > m) m = sc[j];
            }
            for (uint32_t j = 0; j < jend; j++) l += (sc[j] = exp(sc[j] - m));
            for (uint32_t e = 0; e < s->Dh; e++) {
                double acc = 0;
                for (uint32_t j = 0; j < jend; j++) acc += sc[j] * v[((size_t)j * s->KV + g) * s->Dh + e];
                o[((size_t)t * s->H + h) * s->Dh + e] = jend ? acc / l : 0;
            }
        }
    free(sc);
}

static vkg__vk_buffer make_buf(const float *data, size_t n_floats)
{
    vkg__vk_buffer b = {0};
    size_t bytes = (n_floats < 4 ? 4 : n_floats) * 4;
    cr_assert_eq(vkg__vk_buffer_create(ctx, bytes, VKG__MEM_DEVICE, &b), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg__vk_upload(ctx, &b, 0, data, n_floats * 4), VKG_OK);
    return b;
}

static vkg__bufref ref(int i, uint64_t offset_floats)
{
    return (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)i, .offset = offset_floats * 4};
}

/* Runs one variant on q, k, v (each `off` floats into its buffer) and
 * returns the output buffer's PAD + n + PAD floats (the output `off` + PAD in). */
static float *run_variant(const shape *s, vkg__attn_variant var, uint32_t param, int off, const float *q, const float *k,
                          const float *v, float scale)
{
    size_t nq = (size_t)s->Tq * s->H * s->Dh, nk = (size_t)s->Tk * s->KV * s->Dh, no = nq + 2 * PAD + off;
    float *fill = malloc(no * sizeof(float));
    for (size_t i = 0; i < no; i++) fill[i] = SENTINEL;
    vkg__vk_buffer b[4] = {make_buf(q, nq + off), make_buf(k, nk + off), make_buf(v, nk + off), make_buf(fill, no)};
    vkg__vk_buffer *p[4] = {&b[0], &b[1], &b[2], &b[3]};
    vkg__lower_ctx *lc = NULL;
    cr_assert_eq(vkg__standalone_begin(ctx, p, 4, &lc), VKG_OK, "%s", vkg_last_error(ctx));
    lc->devclass = VKG__DEVCLASS_CPU;
    vkg__attn_desc ad = {.q = ref(0, off), .k = ref(1, off), .v = ref(2, off), .o = ref(3, off + PAD), .Tq = s->Tq, .Tk = s->Tk,
                         .H = s->H, .KV = s->KV, .Dh = s->Dh, .pos0 = s->pos0, .scale = scale, .causal = s->causal};
    cr_assert_eq(vkg__emit_attention_variant(lc, &ad, var, param), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program *prog = NULL;
    cr_assert_eq(vkg__standalone_build(lc, &prog), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg__vk_program_run(ctx, prog), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program_destroy(ctx, prog);
    vkg__standalone_end(lc);
    cr_assert_eq(vkg__vk_download(ctx, &b[3], 0, fill, no * 4), VKG_OK);
    for (int i = 0; i < 4; i++) vkg__vk_buffer_destroy(ctx, &b[i]);
    return fill;
}

/* NMSE and max error relative to max |ref|. */
static void check_close(const char *what, const float *got, const double *want, size_t n)
{
    double se = 0, sr = 0, maxd = 0, maxr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        cr_assert(d == d, "%s: NaN at %zu", what, i);
        se += d * d;
        sr += want[i] * want[i];
        if (d > maxd) maxd = d;
        if (fabs(want[i]) > maxr) maxr = fabs(want[i]);
    }
    double nmse = sr > 0 ? se / sr : se, rel = maxd / (maxr > 0 ? maxr : 1);
    cr_assert(nmse <= 1e-7 && rel <= 1e-4, "%s: nmse %.3g max-rel %.3g", what, nmse, rel);
}

/* check_close on got[PAD..PAD+n); the sentinels around it stay. */
static void check(const char *what, const float *got, const double *want, size_t n)
{
    check_close(what, got + PAD, want, n);
    for (int i = 0; i < PAD; i++) {
        cr_assert_eq(got[i], SENTINEL, "%s: wrote before the output", what);
        cr_assert_eq(got[PAD + n + i], SENTINEL, "%s: wrote past the output", what);
    }
}

/* Asserted in the test body as well: a failed assertion in .fini is only reported. */
static void no_validation_messages(const char *what)
{
    cr_assert_eq(vkg_context_validation_messages(ctx), 0, "%s: validation messages", what);
}

/* Every shape in `shapes`, aligned and one float off, against the C loop. */
static void run_shapes(const shape *shapes, size_t n_shapes, vkg__attn_variant var, uint32_t param, const char *name)
{
    for (size_t c = 0; c < n_shapes; c++) {
        const shape *s = &shapes[c];
        size_t nq = (size_t)s->Tq * s->H * s->Dh, nk = (size_t)s->Tk * s->KV * s->Dh;
        float *q = rand_vec(nq + 1), *k = rand_vec(nk + 1), *v = rand_vec(nk + 1);
        double *want = malloc((nq ? nq : 1) * sizeof(double));
        float scale = 1.0f / sqrtf((float)s->Dh);
        for (int off = 0; off < 2; off++) {
            attn_ref(s, q + off, k + off, v + off, scale, want);
            float *got = run_variant(s, var, param, off, q, k, v, scale);
            char what[128];
            snprintf(what, sizeof what, "%s param %u shape %zu (Tq %u Tk %u H %u KV %u Dh %u causal %u pos0 %u) off %d", name, param,
                     c, s->Tq, s->Tk, s->H, s->KV, s->Dh, s->causal, s->pos0, off);
            check(what, got + off, want, nq);
            no_validation_messages(what);
            free(got);
        }
        free(q); free(k); free(v); free(want);
    }
}

/* >>tests -----------------------------------------------------------------*/
/* Tq, Tk, H, KV, Dh, causal, pos0 */
static const shape prefill_shapes[] = {
    {1, 1, 4, 2, 8, 1, 0},      {7, 7, 3, 1, 13, 1, 0},    {33, 33, 8, 2, 64, 1, 0},  {7, 7, 6, 3, 8, 0, 0},
    {33, 33, 4, 4, 5, 0, 0},    {7, 40, 4, 2, 64, 1, 33},  {13, 13, 2, 1, 128, 1, 0}, {7, 19, 8, 2, 100, 1, 12},
    {257, 257, 2, 1, 13, 1, 0}, {33, 100, 3, 1, 5, 1, 67}, {257, 300, 4, 4, 8, 1, 43}, {13, 29, 6, 2, 8, 0, 0},
    {4, 2500, 4, 1, 64, 1, 2496}, /* long rows: gallivm stops a shader loop nest after 65535 iterations */
};

Test(attention, row_kernel_matches_c)
{
    run_shapes(prefill_shapes, VKG__COUNTOF(prefill_shapes), VKG__ATTN_ROW, 0, "row");
}

/* The automatic row blocks on every shape, one row per invocation on some
 * (each variant costs an LLVM compile of a few seconds without a cache). */
Test(attention, group_kernel_matches_c)
{
    run_shapes(prefill_shapes, VKG__COUNTOF(prefill_shapes), VKG__ATTN_GROUP, 0, "group");
    run_shapes(prefill_shapes, 6, VKG__ATTN_GROUP, 1, "group");
}

/* Blocks of 8 rows, masked tails at both ends of the causal band. */
Test(attention, group_kernel_matches_c_with_8_rows)
{
    static const shape shapes[] = {
        {33, 100, 3, 1, 5, 1, 67}, {257, 300, 4, 4, 8, 1, 43}, {13, 29, 6, 2, 8, 0, 0}, {7, 7, 3, 1, 13, 1, 0},
    };
    run_shapes(shapes, VKG__COUNTOF(shapes), VKG__ATTN_GROUP, 8, "group");
}

static const shape decode_shapes[] = {
    {1, 3000, 8, 2, 64, 1, 2999}, {1, 1000, 3, 1, 13, 1, 999},  {4, 1003, 4, 1, 128, 1, 999}, {2, 257, 6, 2, 5, 1, 255},
    {3, 700, 4, 4, 8, 0, 0},      {1, 2049, 6, 3, 100, 1, 2048}, {7, 33, 4, 2, 8, 1, 26},      {1, 100, 2, 2, 64, 1, 60},
};

/* Automatic chunks, chunks of 7 (some past every row's last key, a short
 * last one) and one chunk longer than the keys. */
Test(attention, split_kernel_matches_c)
{
    static const uint32_t chunks[] = {0, 7};
    for (size_t c = 0; c < VKG__COUNTOF(chunks); c++)
        run_shapes(decode_shapes, VKG__COUNTOF(decode_shapes), VKG__ATTN_SPLIT, chunks[c], "split");
    run_shapes(decode_shapes + 6, 2, VKG__ATTN_SPLIT, 5000, "split");
}

/* vkg__emit_attention's own choice: grouped prefill, split decoding over a
 * long cache, the row kernel for Dh > 256. */
Test(attention, automatic_choice_matches_c)
{
    static const shape shapes[] = {
        {33, 33, 8, 2, 64, 1, 0}, {1, 3000, 8, 2, 64, 1, 2999}, {2, 257, 6, 2, 5, 1, 255}, {5, 9, 2, 1, 300, 1, 4},
    };
    run_shapes(shapes, VKG__COUNTOF(shapes), VKG__ATTN_AUTO, 0, "auto");
}

/* Two variants in one program on the same q, k, v: the synchronization
 * validation (on in these contexts) flags a later read of a buffer that an
 * earlier dispatch may write without a barrier, e.g. an input bound to a
 * shader output the variant leaves unused. */
Test(attention, variants_chain_in_one_program)
{
    shape s = {2, 300, 4, 2, 8, 1, 298};
    size_t nq = (size_t)s.Tq * s.H * s.Dh, nk = (size_t)s.Tk * s.KV * s.Dh;
    float *q = rand_vec(nq), *k = rand_vec(nk), *v = rand_vec(nk), *o = malloc(2 * nq * sizeof(float));
    vkg__vk_buffer b[4] = {make_buf(q, nq), make_buf(k, nk), make_buf(v, nk), make_buf(o, 2 * nq)};
    vkg__vk_buffer *p[4] = {&b[0], &b[1], &b[2], &b[3]};
    vkg__lower_ctx *lc = NULL;
    cr_assert_eq(vkg__standalone_begin(ctx, p, 4, &lc), VKG_OK, "%s", vkg_last_error(ctx));
    float scale = 1.0f / sqrtf((float)s.Dh);
    static const vkg__attn_variant vars[] = {VKG__ATTN_GROUP, VKG__ATTN_SPLIT, VKG__ATTN_ROW};
    for (size_t i = 0; i < VKG__COUNTOF(vars); i++) {
        vkg__attn_desc ad = {.q = ref(0, 0), .k = ref(1, 0), .v = ref(2, 0), .o = ref(3, (i % 2) * nq), .Tq = s.Tq, .Tk = s.Tk,
                             .H = s.H, .KV = s.KV, .Dh = s.Dh, .pos0 = s.pos0, .scale = scale, .causal = true};
        cr_assert_eq(vkg__emit_attention_variant(lc, &ad, vars[i], 0), VKG_OK, "%s", vkg_last_error(ctx));
    }
    vkg__vk_program *prog = NULL;
    cr_assert_eq(vkg__standalone_build(lc, &prog), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(vkg__vk_program_run(ctx, prog), VKG_OK, "%s", vkg_last_error(ctx));
    vkg__vk_program_destroy(ctx, prog);
    vkg__standalone_end(lc);
    cr_assert_eq(vkg__vk_download(ctx, &b[3], 0, o, 2 * nq * 4), VKG_OK);
    double *want = malloc(nq * sizeof(double));
    attn_ref(&s, q, k, v, scale, want);
    check_close("group then row (same output)", o, want, nq);
    check_close("split", o + nq, want, nq);
    no_validation_messages("chain");
    for (int i = 0; i < 4; i++) vkg__vk_buffer_destroy(ctx, &b[i]);
    free(q); free(k); free(v); free(o); free(want);
}

Test(attention, bad_arguments)
{
    float x[64] = {0};
    vkg__vk_buffer b = make_buf(x, 64), *p = &b;
    vkg__lower_ctx *lc = NULL;
    cr_assert_eq(vkg__standalone_begin(ctx, &p, 1, &lc), VKG_OK);
    vkg__attn_desc ad = {.q = ref(0, 0), .k = ref(0, 0), .v = ref(0, 0), .o = ref(0, 0), .Tq = 1, .Tk = 1, .H = 3, .KV = 2,
                         .Dh = 8, .scale = 1};
    cr_assert_eq(vkg__emit_attention_variant(lc, &ad, VKG__ATTN_GROUP, 0), VKG_ERR_INVALID_ARG);
    ad.H = 4;
    cr_assert_eq(vkg__emit_attention_variant(lc, &ad, VKG__ATTN_VARIANT_COUNT, 0), VKG_ERR_INVALID_ARG);
    ad.Dh = 260;
    cr_assert_eq(vkg__emit_attention_variant(lc, &ad, VKG__ATTN_GROUP, 0), VKG_ERR_UNSUPPORTED);
    cr_assert_eq(vkg__emit_attention_variant(lc, &ad, VKG__ATTN_SPLIT, 0), VKG_ERR_UNSUPPORTED);
    vkg__standalone_end(lc);
    vkg__vk_buffer_destroy(ctx, &b);
}
