/*
 * test_linattn.c — linear attention and SLA (OPS.md 12, 13):
 *   - the Vulkan kernels (kernels_linear.c, stand-alone lowering) against a
 *     recurrent double-precision loop written here: chunked and step forms,
 *     chunk boundaries, decay, both feature maps, GQA, non-causal, a stored
 *     state; SLA's causal (even and odd kernels, window across calls) and
 *     grid (3x5, 7x7) depthwise convs;
 *   - the C reference core against hand-computed values;
 *   - whole attention nodes: Vulkan against the CPU reference, and decoding in
 *     chunks (5 tokens, then 1 at a time) against the whole run on both backends.
 * Tolerances: NMSE <= 1e-7 and max |got - want| <= 1e-4 max |want| (exp inside).
 * Contexts have the validation layer on; any message fails.
 */
#include "test_util.h"
#include "attention.h"
#include "kernels_linear.h"

static vkg_context *ctx;
/* Warnings and errors (validation messages among them) go to stderr. */
static void log_stderr(vkg_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= VKG_LOG_WARN) fprintf(stderr, "vkgraph: %s\n", msg);
}

static void setup(void)
{
    vkg_result r = vkg_context_create(&(vkg_context_desc){.validation = true, .pipeline_cache_dir = "", .log = log_stderr}, &ctx);
    cr_assert_eq(r, VKG_OK, "no Vulkan device: %s", ctx ? vkg_last_error(ctx) : vkg_result_string(r));
}
static void teardown(void) { tu_context_done(ctx); }
TestSuite(linattn, .init = setup, .fini = teardown, .timeout = 120);

// >>helpers
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)            /* uniform in [-2, 2) */
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 40) / (double)(1ull << 24) * 4.0 - 2.0);
}

static float *rand_vec(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

static void expect_close(const char *what, const float *got, const float *want, int64_t n)
{
    tu_compare c = tu_compare_f32(got, want, n);
    cr_expect(c.nmse <= 1e-7 && c.max_rel <= 1e-4, "%s: NMSE %.3g, max_rel %.3g (max_abs %.3g)", what, c.nmse, c.max_rel, c.max_abs);
}

typedef struct job {
    int n;
    vkg__vk_buffer b[8];
    vkg__vk_buffer *p[8];
    vkg__lower_ctx *lc;
} job;

static int job_buf(job *j, const float *data, size_t n_floats)
{
    int i = j->n++;
    size_t bytes = (n_floats < 4 ? 4 : n_floats) * 4;
    cr_assert_eq(vkg__vk_buffer_create(ctx, bytes, VKG__MEM_DEVICE, &j->b[i]), VKG_OK, "%s", vkg_last_error(ctx));
    j->p[i] = &j->b[i];
    float *z = data ? NULL : calloc(bytes / 4, 4);
    cr_assert_eq(vkg__vk_upload(ctx, &j->b[i], 0, data ? data : z, data ? n_floats * 4 : bytes), VKG_OK);
    free(z);
    return i;
}

static vkg__bufref ref(int i, uint64_t offset_floats)
{
    return (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)i, .offset = offset_floats * 4};
}

static vkg__lower_ctx *job_begin(job *j)
{
    cr_assert_eq(vkg__standalone_begin(ctx, j->p, j->n, &j->lc), VKG_OK, "%s", vkg_last_error(ctx));
    return j->lc;
}

static void job_run(job *j)
{
    vkg__vk_program *prog = NULL;
    cr_assert_eq(vkg__standalone_build(j->lc, &prog), VKG_OK, "%s", vkg_last_error(ctx));
    vkg_result r = vkg__vk_program_run(ctx, prog);
    vkg__vk_program_destroy(ctx, prog);
    vkg__standalone_end(j->lc);     /* frees the temporaries the program used */
    cr_assert_eq(r, VKG_OK, "%s", vkg_last_error(ctx));
}

static float *job_get(job *j, int i, size_t off, size_t n)
{
    float *v = malloc((off + n + 1) * sizeof(float));
    cr_assert_eq(vkg__vk_download(ctx, &j->b[i], 0, v, (off + n) * 4), VKG_OK);
    memmove(v, v + off, n * 4);
    return v;
}

static void job_free(job *j)
{
    for (int i = 0; i < j->n; i++) vkg__vk_buffer_destroy(ctx, &j->b[i]);
    j->n = 0;
}

// >>recurrent reference of the kernels (independent of attention_linear.c)
static double feat(bool relu, double x) { return relu ? (x > 0 ? x : 0) : (x > 0 ? x + 1 : exp(x)); }

/* The recurrent form on state S [H, Dh, DP], z [H, DP] (updated when causal). */
static void recurrent(const float *q, const float *k, const float *v, float *o, float *S, float *z, const float *decay, int T, int H,
                      int KV, int Dh, bool relu, bool causal)
{
    int DP = (Dh + 3) / 4 * 4;
    double *s = calloc((size_t)Dh * Dh, sizeof(double)), *zz = calloc((size_t)Dh, sizeof(double));
    for (int h = 0; h < H; h++) {
        int g = h / (H / KV);
        double gam = decay ? 1 / (1 + exp(-(double)decay[h])) : 1;
        for (int a = 0; a < Dh; a++) {
            zz[a] = causal ? z[h * DP + a] : 0;
            for (int j = 0; j < Dh; j++) s[a * Dh + j] = causal ? S[(h * Dh + a) * DP + j] : 0;
        }
        for (int pass = causal ? 1 : 0; pass < 2; pass++) {
            for (int t = 0; t < T; t++) {
                const float *kt = k + (t * KV + g) * Dh, *vt = v + (t * KV + g) * Dh, *qt = q + (t * H + h) * Dh;
                for (int a = 0; pass == (causal ? 1 : 0) && a < Dh; a++) {
                    double fk = feat(relu, kt[a]);
                    zz[a] = gam * zz[a] + fk;
                    for (int j = 0; j < Dh; j++) s[a * Dh + j] = gam * s[a * Dh + j] + fk * vt[j];
                }
                if (pass == 0) continue;
                double den = 1e-6;
                for (int a = 0; a < Dh; a++) den += feat(relu, qt[a]) * zz[a];
                for (int j = 0; j < Dh; j++) {
                    double num = 0;
                    for (int a = 0; a < Dh; a++) num += feat(relu, qt[a]) * s[a * Dh + j];
                    o[(t * H + h) * Dh + j] = (float)(num / den);
                }
            }
        }
        for (int a = 0; causal && a < Dh; a++) {
            z[h * DP + a] = (float)zz[a];
            for (int j = 0; j < Dh; j++) S[(h * Dh + a) * DP + j] = (float)s[a * Dh + j];
        }
    }
    free(s);
    free(zz);
}

// >>linear-attention kernels
typedef struct la_case {
    int T, H, KV, Dh;
    bool relu, decay, causal, stored;   /* stored: start from a random state */
    vkg__linattn_mode mode;
    uint32_t chunk;
} la_case;

static void run_la_case(const la_case *c, int qoff)
{
    int T = c->T, H = c->H, KV = c->KV, Dh = c->Dh, DP = (Dh + 3) / 4 * 4;
    size_t nq = (size_t)T * H * Dh, nk = (size_t)T * KV * Dh, ns = (size_t)H * Dh * DP, nz = (size_t)H * DP;
    float *q = rand_vec(nq + qoff), *k = rand_vec(nk), *v = rand_vec(nk), *dec = rand_vec(H);
    float *S = calloc(ns, 4), *z = calloc(nz, 4), *o = calloc(nq, 4);
    for (int h = 0; c->stored && h < H; h++)
        for (int a = 0; a < Dh; a++) {
            z[h * DP + a] = 1 + frand() * 0.25f;        /* a plausible z: positive */
            for (int j = 0; j < Dh; j++) S[(h * Dh + a) * DP + j] = frand();
        }
    job j = {0};
    int bq = job_buf(&j, q, nq + qoff), bk = job_buf(&j, k, nk), bv = job_buf(&j, v, nk), bd = job_buf(&j, dec, H);
    int bs = job_buf(&j, S, ns), bz = job_buf(&j, z, nz), bo = job_buf(&j, NULL, nq + qoff);
    vkg__linattn_desc d = {.q = ref(bq, qoff), .k = ref(bk, 0), .v = ref(bv, 0), .o = ref(bo, qoff), .S = ref(bs, 0), .z = ref(bz, 0),
                           .T = T, .H = H, .KV = KV, .Dh = Dh, .chunk = c->chunk,
                           .feature = c->relu ? VKG__ACT_RELU : VKG__ACT_ELU1, .causal = c->causal, .init_zero = !c->stored,
                           .mode = c->mode};
    if (c->decay) d.decay = ref(bd, 0);
    cr_assert_eq(vkg__emit_linattn(job_begin(&j), &d), VKG_OK, "%s", vkg_last_error(ctx));
    job_run(&j);
    recurrent(q + qoff, k, v, o, S, z, c->decay ? dec : NULL, T, H, KV, Dh, c->relu, c->causal);
    char what[160];
    snprintf(what, sizeof what, "T %d H %d KV %d Dh %d %s%s%s%s mode %d chunk %u qoff %d", T, H, KV, Dh, c->relu ? "relu" : "elu1",
             c->decay ? " decay" : "", c->causal ? " causal" : " non-causal", c->stored ? " stored" : "", (int)c->mode, c->chunk, qoff);
    float *go = job_get(&j, bo, qoff, nq);
    expect_close(what, go, o, (int64_t)nq);
    if (c->causal) {
        float *gs = job_get(&j, bs, 0, ns), *gz = job_get(&j, bz, 0, nz);
        expect_close(what, gs, S, (int64_t)ns);
        expect_close(what, gz, z, (int64_t)nz);
        free(gs), free(gz);
    }
    free(go), free(q), free(k), free(v), free(dec), free(S), free(z), free(o);
    job_free(&j);
}

Test(linattn, chunked_prefill_matches_recurrent)
{
    static const la_case cases[] = {
        {1, 1, 1, 8, false, false, true, false, VKG__LINATTN_CHUNKED, 0},
        {7, 3, 1, 13, false, true, true, false, VKG__LINATTN_CHUNKED, 0},
        {64, 3, 3, 8, true, false, true, false, VKG__LINATTN_CHUNKED, 0},
        {65, 3, 1, 8, false, true, true, false, VKG__LINATTN_CHUNKED, 0},
        {130, 1, 1, 13, true, true, true, false, VKG__LINATTN_CHUNKED, 0},
        {130, 3, 3, 13, false, false, true, false, VKG__LINATTN_CHUNKED, 0},
        {130, 3, 1, 8, false, true, true, false, VKG__LINATTN_CHUNKED, 64},  /* chunks of 64: 64, 64, 2 */
        {13, 3, 1, 8, true, true, true, false, VKG__LINATTN_CHUNKED, 5},     /* many small chunks, last one short */
        {33, 1, 1, 13, false, true, true, true, VKG__LINATTN_CHUNKED, 7},    /* chunked on a stored state */
        {65, 3, 1, 13, true, true, true, true, VKG__LINATTN_AUTO, 0},        /* long call on a stored state: chunked */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_la_case(&cases[i], 0);
    run_la_case(&cases[3], 1);      /* scalar loads of q and o at an odd offset */
}

Test(linattn, recurrent_step_matches_reference)
{
    static const la_case cases[] = {
        {1, 1, 1, 8, false, false, true, true, VKG__LINATTN_AUTO, 0},
        {1, 3, 1, 13, true, true, true, true, VKG__LINATTN_AUTO, 0},
        {7, 3, 3, 8, false, true, true, true, VKG__LINATTN_AUTO, 0},
        {7, 3, 1, 13, true, false, true, false, VKG__LINATTN_STEP, 0},     /* from zero */
        {20, 1, 1, 13, false, true, true, true, VKG__LINATTN_STEP, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_la_case(&cases[i], 0);
}

Test(linattn, non_causal_matches_reference)
{
    static const la_case cases[] = {
        {1, 1, 1, 8, true, false, false, false, VKG__LINATTN_AUTO, 0},
        {49, 3, 1, 13, true, false, false, false, VKG__LINATTN_AUTO, 0},
        {130, 3, 3, 8, false, false, false, false, VKG__LINATTN_AUTO, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_la_case(&cases[i], 0);
}

/* A relu feature map that kills every query feature: the output is 0, not NaN. */
Test(linattn, zero_denominator_stays_finite)
{
    int T = 7, Dh = 8, n = T * Dh;
    float *q = rand_vec(n), *k = rand_vec(n), *v = rand_vec(n);
    for (int i = 0; i < n; i++) q[i] = -fabsf(q[i]) - 0.1f;
    job j = {0};
    int bq = job_buf(&j, q, n), bk = job_buf(&j, k, n), bv = job_buf(&j, v, n), bs = job_buf(&j, NULL, Dh * Dh);
    int bz = job_buf(&j, NULL, Dh), bo = job_buf(&j, NULL, n);
    vkg__linattn_desc d = {.q = ref(bq, 0), .k = ref(bk, 0), .v = ref(bv, 0), .o = ref(bo, 0), .S = ref(bs, 0), .z = ref(bz, 0),
                           .T = T, .H = 1, .KV = 1, .Dh = Dh, .feature = VKG__ACT_RELU, .causal = true, .init_zero = true};
    cr_assert_eq(vkg__emit_linattn(job_begin(&j), &d), VKG_OK, "%s", vkg_last_error(ctx));
    job_run(&j);
    float *o = job_get(&j, bo, 0, n);
    for (int i = 0; i < n; i++) cr_expect(o[i] == 0.0f, "o[%d] = %g", i, o[i]);
    free(o), free(q), free(k), free(v);
    job_free(&j);
}

Test(linattn, bad_arguments_are_refused)
{
    job j = {0};
    int b = job_buf(&j, NULL, 64);
    vkg__linattn_desc d = {.q = ref(b, 0), .k = ref(b, 0), .v = ref(b, 0), .o = ref(b, 0), .S = ref(b, 0), .z = ref(b, 0),
                           .T = 1, .H = 3, .KV = 2, .Dh = 4, .feature = VKG__ACT_RELU, .causal = true};
    vkg__lower_ctx *lc = job_begin(&j);
    cr_expect_eq(vkg__emit_linattn(lc, &d), VKG_ERR_INVALID_ARG);       /* KV does not divide H */
    d.KV = 1, d.feature = VKG__ACT_GELU;
    cr_expect_eq(vkg__emit_linattn(lc, &d), VKG_ERR_INVALID_ARG);       /* feature */
    d.feature = VKG__ACT_ELU1, d.causal = false, d.decay = ref(b, 0);
    cr_expect_eq(vkg__emit_linattn(lc, &d), VKG_ERR_INVALID_ARG);       /* decay without causal */
    vkg__sla_dwc_desc w = {.v = ref(b, 0), .w = ref(b, 0), .b = ref(b, 0), .o = ref(b, 0), .T = 6, .H = 1, .KV = 1, .Dh = 4, .K = 4,
                           .gh = 2, .gw = 3};
    cr_expect_eq(vkg__emit_sla_dwc(lc, &w), VKG_ERR_INVALID_ARG);       /* even kernel on a grid */
    vkg__standalone_end(lc);
    job_free(&j);
}

// >>SLA depthwise conv
typedef struct dwc_case {
    int T, H, KV, Dh, K, pos0, gh, gw;
} dwc_case;

/* v of channel ch at absolute position p: this call, the window or 0. */
static double v_at(const dwc_case *c, const float *v, const float *win, int p, int ch)
{
    int C = c->KV * c->Dh;
    if (p < 0) return 0;
    if (p >= c->pos0) return v[(p - c->pos0) * C + ch];
    return win[(p - c->pos0 + c->K - 1) * C + ch];
}

static void dwc_ref(const dwc_case *c, const float *v, const float *w, const float *b, const float *win, float *o, float *win_after)
{
    int K = c->K, half = (K - 1) / 2, C = c->KV * c->Dh;
    for (int t = 0; t < c->T; t++)
        for (int h = 0; h < c->H; h++)
            for (int d = 0; d < c->Dh; d++) {
                int ch = (h / (c->H / c->KV)) * c->Dh + d;
                double acc = b[d];
                for (int u = 0; u < K; u++) {
                    if (!c->gh) {
                        acc += w[d * K + u] * v_at(c, v, win, c->pos0 + t - K + 1 + u, ch);
                        continue;
                    }
                    for (int x = 0; x < K; x++) {
                        int r = t / c->gw + u - half, cc = t % c->gw + x - half;
                        if (r >= 0 && r < c->gh && cc >= 0 && cc < c->gw) acc += w[(d * K + u) * K + x] * v[(r * c->gw + cc) * C + ch];
                    }
                }
                float *y = &o[(t * c->H + h) * c->Dh + d];
                *y = (float)(*y + acc);
            }
    for (int r = 0; !c->gh && r < K - 1; r++)
        for (int ch = 0; ch < C; ch++) win_after[r * C + ch] = (float)v_at(c, v, win, c->pos0 + c->T - K + 1 + r, ch);
}

static void run_dwc_case(const dwc_case *c)
{
    int C = c->KV * c->Dh, nw = c->gh ? c->Dh * c->K * c->K : c->Dh * c->K, nwin = (c->K - 1) * C + 1;
    size_t nv = (size_t)c->T * C, no = (size_t)c->T * c->H * c->Dh;
    float *v = rand_vec(nv), *w = rand_vec(nw), *b = rand_vec(c->Dh), *win = rand_vec(nwin), *o = rand_vec(no);
    float *win_after = calloc(nwin, 4), *o_ref = malloc(no * 4);
    for (int i = 0; i < (c->K - 1 - c->pos0) * C; i++) win[i] = 0;     /* rows before position 0 are zero */
    memcpy(o_ref, o, no * 4);
    job j = {0};
    int bv = job_buf(&j, v, nv), bw = job_buf(&j, w, nw), bb = job_buf(&j, b, c->Dh), bwin = job_buf(&j, win, nwin), bo = job_buf(&j, o, no);
    vkg__sla_dwc_desc d = {.v = ref(bv, 0), .w = ref(bw, 0), .b = ref(bb, 0), .o = ref(bo, 0), .T = c->T, .H = c->H, .KV = c->KV,
                           .Dh = c->Dh, .K = c->K, .pos0 = c->pos0, .gh = c->gh, .gw = c->gw};
    if (!c->gh && c->K > 1) d.win = ref(bwin, 0);
    cr_assert_eq(vkg__emit_sla_dwc(job_begin(&j), &d), VKG_OK, "%s", vkg_last_error(ctx));
    job_run(&j);
    dwc_ref(c, v, w, b, win, o_ref, win_after);
    char what[128];
    snprintf(what, sizeof what, "dwc T %d H %d KV %d Dh %d K %d pos0 %d grid %dx%d", c->T, c->H, c->KV, c->Dh, c->K, c->pos0, c->gh, c->gw);
    float *go = job_get(&j, bo, 0, no);
    expect_close(what, go, o_ref, (int64_t)no);
    if (!c->gh && c->K > 1) {
        float *gw = job_get(&j, bwin, 0, (size_t)(c->K - 1) * C);
        for (int i = 0; i < (c->K - 1) * C; i++) cr_expect_eq(gw[i], win_after[i], "%s: window[%d] %g, want %g", what, i, gw[i], win_after[i]);
        free(gw);
    }
    free(go), free(v), free(w), free(b), free(win), free(o), free(win_after), free(o_ref);
    job_free(&j);
}

Test(linattn, sla_causal_dwc_and_window)
{
    static const dwc_case cases[] = {
        {1, 1, 1, 8, 5, 0, 0, 0},   {7, 3, 1, 13, 4, 0, 0, 0},  {13, 2, 2, 8, 5, 9, 0, 0}, {1, 3, 1, 13, 4, 3, 0, 0},
        {2, 2, 1, 8, 5, 1, 0, 0},   {1, 1, 1, 8, 1, 6, 0, 0},   {3, 3, 3, 13, 6, 20, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_dwc_case(&cases[i]);
}

Test(linattn, sla_grid_dwc)
{
    static const dwc_case cases[] = {
        {15, 1, 1, 8, 3, 0, 3, 5}, {15, 3, 1, 13, 5, 0, 3, 5}, {49, 2, 2, 8, 5, 0, 7, 7}, {49, 3, 3, 13, 7, 0, 7, 7}, {1, 1, 1, 8, 5, 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_dwc_case(&cases[i]);
}

// >>the C reference core against hand-computed values
/* H = KV = 1, Dh = 1, two tokens with k = 0 (elu1 feature 1), v = 2 then 4. */
static void core_ref(attn_params *p, const float *q, const float *k, const float *v, float *o, const float *const *w, float **state)
{
    vkg_context *cc;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &cc), VKG_OK);
    attn_dims d = {.T = 2, .C = 1, .Dh = 1, .H = 1, .KV = 1, .Q = 1, .KVD = 1};
    vkg__ref_ctx rc = {.ctx = cc, .w = w};
    for (int i = 0; i < 3; i++) rc.state[i] = state[i];
    cr_assert_eq(vkg__attn_linear_ref(&rc, p, &d, q, k, v, o), VKG_OK);
    vkg_context_destroy(cc);
}

Test(linattn, reference_hand_values)
{
    float q[2] = {0, 0}, k[2] = {0, 0}, v[2] = {2, 4}, o[2], S[4] = {0}, z[4] = {0}, win[4] = {0};
    float decay[1] = {0}, dw[2] = {0.5f, 1.0f}, db[1] = {0.25f};
    float *state[3] = {S, z, win};
    const float *w[6] = {NULL, NULL, NULL, NULL, decay, NULL};
    attn_params p = {.kind = ATTN_LINEAR, .H = 1, .KV = 1, .causal = true, .feature = FEATURE_ELU1};
    core_ref(&p, q, k, v, o, w, state);                 /* S: 2, 6; z: 1, 2 */
    cr_expect(fabs(o[0] - 2 / (1 + 1e-6)) < 1e-6 && fabs(o[1] - 6 / (2 + 1e-6)) < 1e-6, "no decay: %g %g", o[0], o[1]);
    cr_expect(S[0] == 6 && z[0] == 2, "state S %g z %g", S[0], z[0]);
    S[0] = z[0] = 0, p.decay = true;                    /* gamma = sigmoid(0) = 1/2: S 2, 5; z 1, 1.5 */
    core_ref(&p, q, k, v, o, w, state);
    cr_expect(fabs(o[1] - 5 / (1.5 + 1e-6)) < 1e-6, "decay: %g", o[1]);
    S[0] = z[0] = 0, p.decay = false, p.feature = FEATURE_RELU, q[0] = q[1] = -1;
    core_ref(&p, q, k, v, o, w, state);                 /* relu kills q: 0, not NaN */
    cr_expect(o[0] == 0 && o[1] == 0, "relu: %g %g", o[0], o[1]);
    /* SLA causal, kernel 2: o = 0 (relu(q) = 0) + b + w1 v_t + w0 v_{t-1} */
    attn_params ps = {.kind = ATTN_SLA, .H = 1, .KV = 1, .causal = true, .dwc_kernel = 2};
    const float *ws[6] = {NULL, NULL, NULL, NULL, dw, db};
    S[0] = z[0] = 0;
    core_ref(&ps, q, k, v, o, ws, state);
    cr_expect(fabs(o[0] - 2.25) < 1e-6 && fabs(o[1] - 5.25) < 1e-6, "sla: %g %g", o[0], o[1]);
    cr_expect(win[0] == 4, "window keeps the last v: %g", win[0]);
}

// >>whole attention nodes: Vulkan vs CPU, decoding vs the whole run
static vkg_model *load_model(vkg_context *c, const char *input, const char *body, vkg_graph **pg)
{
    char text[1024];
    snprintf(text, sizeof text, "name: la-test\ninputs: {x: %s}\nweights: {random: {seed: 5, std: 0.5}}\nbody: %s\n", input, body);
    cr_assert_eq(vkg_frontend_load(c, &(vkg_frontend_desc){.path = "la-test.yaml", .text = text}, pg), VKG_OK, "%s\n%s",
                 vkg_last_error(c), text);
    vkg_model *m = NULL;
    cr_assert_eq(vkg_model_create(c, &(vkg_model_desc){.graph = *pg}, &m), VKG_OK, "%s", vkg_last_error(c));
    return m;
}

static void node_vulkan_vs_cpu(const char *input, const char *body, int64_t T, int64_t C)
{
    vkg_graph *g;
    vkg_model *m = load_model(ctx, input, body, &g);
    vkg_host_tensor in = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {T, C}}, oc, ov;
    in.data = rand_vec((size_t)(T * C));
    const char *name = "x";
    float *cpu = tu_run(ctx, m, VKG_BACKEND_CPU, 1, &name, &in, &oc);
    float *gpu = tu_run(ctx, m, VKG_BACKEND_VULKAN, 1, &name, &in, &ov);
    expect_close(body, gpu, cpu, tu_numel(&oc));
    free(in.data), free(cpu), free(gpu);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
}

Test(linattn, nodes_vulkan_match_cpu)
{
    node_vulkan_vs_cpu("{dtype: f32, shape: [T, 39]}", "[{attention: {name: a, kind: linear, heads: 3, kv_heads: 1, decay: true, rope: {dims: 6}}}]",
                       65, 39);
    node_vulkan_vs_cpu("{dtype: f32, shape: [T, 26]}", "[{attention: {name: a, kind: linear, heads: 2, feature: relu, causal: false, bias: true}}]",
                       100, 26);
    node_vulkan_vs_cpu("{dtype: f32, shape: [T, 16]}", "[{attention: {name: a, kind: sla, heads: 2, dwc_kernel: 4, qk_norm: head}}]", 33, 16);
    node_vulkan_vs_cpu("{dtype: f32, shape: [T, 24]}", "[{attention: {name: a, kind: sla, heads: 3, causal: false, grid: [7, 7]}}]", 49, 24);
    node_vulkan_vs_cpu("{dtype: f32, shape: [T, 39]}", "[{attention: {name: a, kind: sla, heads: 3, kv_heads: 1, causal: false, grid: [3, 5], dwc_kernel: 3}}]",
                       15, 39);
}

/* Token ids through an embedding into the node; chunks of 5, 1, 1, ..., then 70 (chunked on a stored state). */
static void decode_vs_whole(const char *node, vkg_backend backend)
{
    enum { T = 82 };
    char body[512];
    snprintf(body, sizeof body, "[{embed: {name: emb, vocab: 300, dim: 26}}, %s]", node);
    vkg_graph *g;
    vkg_model *m = load_model(ctx, "{dtype: i32, shape: [T]}", body, &g);
    int32_t ids[T];
    for (int i = 0; i < T; i++) ids[i] = (i * 37 + 11) % 300;
    const char *name = "x";
    vkg_host_tensor whole_in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {T}, .data = ids}, ow;
    float *whole = tu_run(ctx, m, backend, 1, &name, &whole_in, &ow);
    vkg_session *s = NULL;
    cr_assert_eq(vkg_session_create(m, &(vkg_session_desc){.backend = backend, .max_tokens = T}, &s), VKG_OK);
    static const int chunks[] = {5, 1, 1, 1, 1, 1, 1, 1, 70};
    for (int c = 0, t0 = 0; c < (int)(sizeof chunks / sizeof *chunks); t0 += chunks[c++]) {
        vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {chunks[c]}, .data = ids + t0}, o;
        cr_assert_eq(vkg_session_set_input(s, name, &in), VKG_OK);
        cr_assert_eq(vkg_session_step(s), VKG_OK, "%s", vkg_last_error(ctx));
        cr_assert_eq(vkg_session_get_output(s, 0, &o), VKG_OK);
        char what[600];
        snprintf(what, sizeof what, "%s %s tokens %d..%d", backend == VKG_BACKEND_CPU ? "cpu" : "vulkan", node, t0, t0 + chunks[c] - 1);
        expect_close(what, o.data, whole + (int64_t)t0 * 26, (int64_t)chunks[c] * 26);
    }
    vkg_session_destroy(s);
    free(whole);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
}

Test(linattn, decoding_matches_whole_run)
{
    static const char *nodes[] = {
        "{attention: {name: a, kind: linear, heads: 2, decay: true}}",
        "{attention: {name: a, kind: linear, heads: 2, kv_heads: 1, feature: relu, rope: {dims: 12}}}",
        "{attention: {name: a, kind: sla, heads: 2}}",
        "{attention: {name: a, kind: sla, heads: 2, kv_heads: 1, dwc_kernel: 4}}",
    };
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        decode_vs_whole(nodes[i], VKG_BACKEND_VULKAN);
        decode_vs_whole(nodes[i], VKG_BACKEND_CPU);
    }
}
