/*
 * attention_linear.c — the cores of linear attention and SLA (OPS.md 12, 13):
 * q, k, v come from the front (attention.c) post-norm, post-RoPE; out is o.
 *
 * Decoding state (causal layers only), f32, zero at the start of a sequence:
 *   slot 0  S [H, Dh, DP]  per query head (decay makes heads differ even under GQA)
 *   slot 1  z [H, DP]      DP = Dh rounded up to 4, padding kept zero
 *   slot 2  sla only, dwc_kernel > 1: the v rows of the last dwc_kernel-1
 *           positions [k-1, KV*Dh] (zero before position 0)
 * The C reference runs the recurrent form token by token in double (the
 * oracle); the Vulkan lowering uses the chunked form for prefill and the
 * recurrent step for short calls on a stored state (kernels_linear.c).
 * Calls the kernel emitters and op_util's helpers only.
 */
#include "attention.h"
#include "kernels_linear.h"

#include <math.h>
#include <string.h>

enum { ST_S, ST_Z, ST_WIN };

void vkg__attn_linear_state(vkg__state_ctx *sc, const attn_params *p, const attn_dims *d)
{
    if (!p->causal) return;
    uint64_t DP = vkg__linattn_dp((uint32_t)d->Dh);
    vkg__need_state(sc, (uint64_t)(d->H * d->Dh) * DP);
    vkg__need_state(sc, (uint64_t)d->H * DP);
    if (p->kind == ATTN_SLA && p->dwc_kernel > 1) vkg__need_state(sc, (uint64_t)((p->dwc_kernel - 1) * d->KVD));
}

// >>C reference
static double feature(int f, double x) { return f == FEATURE_RELU ? (x > 0 ? x : 0) : (x > 0 ? x + 1 : exp(x)); }

/* gamma_h = sigmoid(decay_h), 1 without decay. */
static double gamma_of(const attn_params *p, const float *decay, int64_t h)
{
    if (!p->decay) return 1.0;
    return 1.0 / (1.0 + exp(-(double)decay[h]));
}

typedef struct la_scratch {
    double *S, *z, *fq, *fk;        /* S [Dh, Dh], z, fq, fk [Dh] */
} la_scratch;

/* o_t = fq S / (fq . z + eps) for one row and head. */
static void la_row_out(float *o, const la_scratch *w, int64_t Dh)
{
    double den = 1e-6;
    for (int64_t a = 0; a < Dh; a++) den += w->fq[a] * w->z[a];
    for (int64_t j = 0; j < Dh; j++) {
        double num = 0;
        for (int64_t a = 0; a < Dh; a++) num += w->fq[a] * w->S[a * Dh + j];
        o[j] = (float)(num / den);
    }
}

/* S = gamma S + fk v^T, z = gamma z + fk. */
static void la_update(la_scratch *w, const float *v, double gam, int64_t Dh)
{
    for (int64_t a = 0; a < Dh; a++) {
        w->z[a] = gam * w->z[a] + w->fk[a];
        for (int64_t j = 0; j < Dh; j++) w->S[a * Dh + j] = gam * w->S[a * Dh + j] + w->fk[a] * v[j];
    }
}

static void la_features(double *dst, const float *src, int f, int64_t Dh)
{
    for (int64_t a = 0; a < Dh; a++) dst[a] = feature(f, src[a]);
}

/* One head: causal (state S0/z0 read and written, f32 [Dh, DP] / [DP]) or non-causal (sums over all rows). */
static void la_head(const attn_dims *d, int f, double gam, int64_t h, const float *q, const float *k, const float *v, float *o,
                    float *S0, float *z0, la_scratch *w)
{
    int64_t Dh = d->Dh, DP = vkg__linattn_dp((uint32_t)Dh), g = h / (d->H / d->KV);
    for (int64_t a = 0; a < Dh; a++) {
        w->z[a] = S0 ? z0[a] : 0;
        for (int64_t j = 0; j < Dh; j++) w->S[a * Dh + j] = S0 ? S0[a * DP + j] : 0;
    }
    for (int64_t t = 0; t < d->T; t++) {
        la_features(w->fk, k + t * d->KVD + g * Dh, f, Dh);
        la_update(w, v + t * d->KVD + g * Dh, gam, Dh);
        if (!S0) continue;
        la_features(w->fq, q + t * d->Q + h * Dh, f, Dh);
        la_row_out(o + t * d->Q + h * Dh, w, Dh);
    }
    for (int64_t t = 0; !S0 && t < d->T; t++) {
        la_features(w->fq, q + t * d->Q + h * Dh, f, Dh);
        la_row_out(o + t * d->Q + h * Dh, w, Dh);
    }
    for (int64_t a = 0; S0 && a < Dh; a++) {
        z0[a] = (float)w->z[a];
        for (int64_t j = 0; j < Dh; j++) S0[a * DP + j] = (float)w->S[a * Dh + j];
    }
}

/* o += causal 1-D DWC of v (OPS.md 13): vext holds the k-1 window rows then
 * this call's rows; the window then moves to the last k-1 rows. */
static void sla_dwc_causal(const attn_dims *d, int64_t K, const float *wt, const float *b, const float *v, float *win, float *vext,
                           float *o)
{
    int64_t KVD = d->KVD, Dh = d->Dh;
    if (K > 1) memcpy(vext, win, sizeof(float) * (size_t)((K - 1) * KVD));
    memcpy(vext + (K - 1) * KVD, v, sizeof(float) * (size_t)(d->T * KVD));
    for (int64_t t = 0; t < d->T; t++)
        for (int64_t h = 0; h < d->H; h++)
            for (int64_t c = 0; c < Dh; c++) {
                int64_t ch = (h / (d->H / d->KV)) * Dh + c;
                double acc = b[c];
                for (int64_t u = 0; u < K; u++) acc += (double)wt[c * K + u] * vext[(t + u) * KVD + ch];
                float *y = o + t * d->Q + h * Dh + c;
                *y = (float)(*y + acc);
            }
    if (K > 1) memcpy(win, vext + d->T * KVD, sizeof(float) * (size_t)((K - 1) * KVD));
}

/* o += 2-D DWC of v on the [gh, gw] grid, PyTorch conv2d with zero padding (k-1)/2. */
static void sla_dwc_grid(const attn_dims *d, const attn_params *p, const float *wt, const float *b, const float *v, float *o)
{
    int64_t K = p->dwc_kernel, gh = p->grid[0], gw = p->grid[1], half = (K - 1) / 2, Dh = d->Dh;
    for (int64_t t = 0; t < d->T; t++)
        for (int64_t h = 0; h < d->H; h++)
            for (int64_t c = 0; c < Dh; c++) {
                int64_t ch = (h / (d->H / d->KV)) * Dh + c, r = t / gw, col = t % gw;
                double acc = b[c];
                for (int64_t u = 0; u < K; u++)
                    for (int64_t x = 0; x < K; x++) {
                        int64_t rr = r + u - half, cc = col + x - half;
                        if (rr >= 0 && rr < gh && cc >= 0 && cc < gw) acc += (double)wt[(c * K + u) * K + x] * v[(rr * gw + cc) * d->KVD + ch];
                    }
                float *y = o + t * d->Q + h * Dh + c;
                *y = (float)(*y + acc);
            }
}

vkg_result vkg__attn_linear_ref(vkg__ref_ctx *rc, const attn_params *p, const attn_dims *d, const float *q, const float *k,
                                const float *v, float *o)
{
    attn_slots s = vkg__attn_slots(p);
    int64_t Dh = d->Dh, DP = vkg__linattn_dp((uint32_t)Dh), K = p->kind == ATTN_SLA ? p->dwc_kernel : 1;
    int f = p->kind == ATTN_SLA ? FEATURE_RELU : p->feature;
    size_t nd = (size_t)(Dh * Dh + 3 * Dh), nf = p->kind == ATTN_SLA && p->causal ? (size_t)((K - 1 + d->T) * d->KVD) : 0;
    double *buf = vkg__malloc(rc->ctx, sizeof(double) * nd + sizeof(float) * nf + 1);
    if (!buf) return vkg__error(rc->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory in linear attention");
    la_scratch w = {buf, buf + Dh * Dh, buf + Dh * Dh + Dh, buf + Dh * Dh + 2 * Dh};
    for (int64_t h = 0; h < d->H; h++) {
        float *S0 = p->causal ? rc->state[ST_S] + h * Dh * DP : NULL, *z0 = p->causal ? rc->state[ST_Z] + h * DP : NULL;
        la_head(d, f, gamma_of(p, p->decay ? rc->w[s.decay] : NULL, h), h, q, k, v, o, S0, z0, &w);
    }
    if (p->kind == ATTN_SLA && p->causal)
        sla_dwc_causal(d, K, rc->w[s.dwc_w], rc->w[s.dwc_b], v, K > 1 ? rc->state[ST_WIN] : NULL, (float *)(buf + nd), o);
    else if (p->kind == ATTN_SLA)
        sla_dwc_grid(d, p, rc->w[s.dwc_w], rc->w[s.dwc_b], v, o);
    vkg__free(rc->ctx, buf);
    return VKG_OK;
}

// >>Vulkan
vkg_result vkg__attn_linear_lower(vkg__lower_ctx *lc, const attn_params *p, const attn_dims *d, vkg__bufref q, vkg__bufref k,
                                  vkg__bufref v, vkg__bufref o)
{
    attn_slots s = vkg__attn_slots(p);
    uint32_t Dh = (uint32_t)d->Dh, DP = vkg__linattn_dp(Dh), H = (uint32_t)d->H;
    vkg__linattn_desc la = {.q = q, .k = k, .v = v, .o = o, .T = (uint32_t)d->T, .H = H, .KV = (uint32_t)d->KV, .Dh = Dh,
                            .feature = p->kind == ATTN_SLA || p->feature == FEATURE_RELU ? VKG__ACT_RELU : VKG__ACT_ELU1,
                            .causal = p->causal, .init_zero = !p->causal || lc->pos0 == 0};
    if (p->decay) la.decay = lc->w[s.decay];
    if (p->causal) {
        la.S = lc->state[ST_S], la.z = lc->state[ST_Z];
    } else {
        la.S = vkg__lower_temp(lc, (uint64_t)H * Dh * DP * 4);
        la.z = vkg__lower_temp(lc, (uint64_t)H * DP * 4);
    }
    vkg_result r = vkg__emit_linattn(lc, &la);
    if (r || p->kind != ATTN_SLA) return r;
    vkg__sla_dwc_desc dw = {.v = v, .w = lc->w[s.dwc_w], .b = lc->w[s.dwc_b], .o = o, .T = (uint32_t)d->T, .H = H,
                            .KV = (uint32_t)d->KV, .Dh = Dh, .K = (uint32_t)p->dwc_kernel, .pos0 = (uint32_t)lc->pos0};
    if (p->has_grid) dw.gh = (uint32_t)p->grid[0], dw.gw = (uint32_t)p->grid[1];
    else if (p->dwc_kernel > 1) dw.win = lc->state[ST_WIN];
    return vkg__emit_sla_dwc(lc, &dw);
}
