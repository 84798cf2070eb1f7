/*
 * kernels_linear.c — emitters of linear attention and SLA (OPS.md 12-13):
 *
 *   chunked (prefill, any T; non-causal): the feature map on q and k
 *     (unary.comp), then per segment of chunks
 *       linattn_chunk  each chunk's own part of the state     (chunk, head, key dim)
 *       linattn_scan   states before every chunk, final state (head, key dim)
 *       linattn_out    outputs: inter-chunk q S0 + intra-chunk (row, head)
 *     Non-causal: chunk and scan only sum the state, one linattn_out at the end.
 *   step (decoding: short calls on a stored state)
 *       linattn_step   the recurrent form, token by token     (head, 4 value columns)
 *       copy           the new z into the state
 *   sla_dwc            SLA's depthwise conv of v added to o
 *   sla_window         SLA causal: the last K-1 rows of v kept for the next call
 *
 * Segments bound the chunk-prefix scratch P to SEG_BYTES (a long prefill
 * runs as several segments, each continuing from the state the last left).
 * Designs follow LAVAPIPE.md: one invocation per output row or state row with
 * register accumulators and vec4 loads, no shared memory and no barriers.
 * Calls only the lowering interface (vkg__lower_emit, vkg__emit_unary,
 * vkg__emit_copy), the dispatch helpers (dispatch.h) and the error helpers.
 */
#include "kernels_linear.h"
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#define LS_LA 16u
#define LS_DWC 64u
#define STEP_MAX_T 16u
#define MAX_HEAD_DIM 256u           /* register arrays of D/4 vec4 per invocation */
#define SEG_BYTES (64ull << 20)

/* Default rows per chunk. linattn_out's work per row is Dh*Dh/4 loads for the
 * state term plus (chunk/2)*Dh/2 on average for the chunk term, so short
 * chunks win on lavapipe: at Dh 16, T 4096, 16 rows took 3.7 ms against 12.2
 * ms for 64 (linear-lm layer 0); the scan over more chunks stays below 0.2 ms. */
static uint32_t default_chunk(uint32_t Dh) { return Dh <= 32 ? 16u : 32u; }

static vkg__bufref rows(vkg__bufref r, uint64_t first_row, uint64_t row_floats)
{
    return vkg__bufref_sub(r, first_row * row_floats * 4, 0);
}

// >>linear attention
typedef struct la_plan {
    const vkg__linattn_desc *d;
    uint32_t chunk, DP;
    vkg__bufref fq, fk, P;          /* feature-mapped q, k; chunk prefix scratch */
    uint64_t pz_floats;             /* where PZ starts in P */
} la_plan;

static vkg_result check_desc(vkg__lower_ctx *lc, const vkg__linattn_desc *d)
{
    if (d->KV == 0 || d->H % d->KV != 0 || d->Dh == 0 || d->Dh > MAX_HEAD_DIM)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "linear attention: bad sizes (H %u, KV %u, Dh %u; Dh <= %u)", d->H, d->KV,
                          d->Dh, MAX_HEAD_DIM);
    if (d->feature != VKG__ACT_ELU1 && d->feature != VKG__ACT_RELU)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "linear attention: the feature map must be elu1 or relu");
    if (!d->causal && (d->decay.kind != VKG__BUF_NONE || d->mode == VKG__LINATTN_STEP))
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "linear attention: decay and steps need causal attention");
    if ((uint64_t)d->T * d->H * d->Dh > UINT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "linear attention: %u rows exceed the 32-bit index range", d->T);
    if (d->S.offset % 16 || d->z.offset % 16)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "linear attention: the state must be 16-byte aligned");
    return VKG_OK;
}

/* The fields common to every linear-attention dispatch: specs, decay binding last. */
static void la_init(vkg__lower_ctx *lc, vkg__dispatch *disp, int kernel, const vkg__linattn_desc *d, bool vec4)
{
    vkg__dispatch_init(lc, disp, kernel, LS_LA);
    vkg__dispatch_spec(disp, 1, d->Dh);
    vkg__dispatch_spec(disp, 2, vec4);
    vkg__dispatch_spec(disp, 3, d->causal);
    vkg__dispatch_spec(disp, 4, d->feature == VKG__ACT_RELU);
}

static void la_decay(vkg__dispatch *disp, const vkg__linattn_desc *d, vkg_pc_linattn *pc)
{
    bool has = d->decay.kind != VKG__BUF_NONE;
    pc->d_off = vkg__dispatch_bind(disp, has ? d->decay : d->v, false);
    if (has) pc->flags |= VKG_LA_DECAY;
}

/* Phase 1: rows t0.. of k and v, Ts rows, into P. */
static vkg_result la_chunk(vkg__lower_ctx *lc, const la_plan *pl, uint32_t t0, uint32_t Ts, uint32_t nc)
{
    const vkg__linattn_desc *d = pl->d;
    vkg__dispatch disp;
    vkg_pc_linattn pc = {.T = Ts, .H = d->H, .KV = d->KV, .chunk = pl->chunk, .n_chunks = nc};
    la_init(lc, &disp, VKG_KERNEL_LINATTN_CHUNK, d, false);
    pc.k_off = vkg__dispatch_bind(&disp, rows(pl->fk, t0, (uint64_t)d->KV * d->Dh), false);
    pc.v_off = vkg__dispatch_bind(&disp, rows(d->v, t0, (uint64_t)d->KV * d->Dh), false);
    pc.p_off = vkg__dispatch_bind(&disp, pl->P, true);
    pc.pz_off = pc.p_off + (uint32_t)pl->pz_floats;
    la_decay(&disp, d, &pc);
    vkg__dispatch_spec(&disp, 2, vkg__dispatch_vec4_ok(d->Dh, &pc.v_off, 1));
    vkg__dispatch_pc(&disp, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &disp, (uint64_t)nc * d->H * d->Dh);
}

/* Phase 2: the prefix scan over nc chunks of P; S, z carried. */
static vkg_result la_scan(vkg__lower_ctx *lc, const la_plan *pl, uint32_t Ts, uint32_t nc, bool init_zero)
{
    const vkg__linattn_desc *d = pl->d;
    vkg__dispatch disp;
    vkg_pc_linattn pc = {.T = Ts, .H = d->H, .KV = d->KV, .chunk = pl->chunk, .n_chunks = nc};
    la_init(lc, &disp, VKG_KERNEL_LINATTN_SCAN, d, false);
    pc.p_off = vkg__dispatch_bind(&disp, pl->P, true);
    pc.pz_off = pc.p_off + (uint32_t)pl->pz_floats;
    pc.s_off = vkg__dispatch_bind(&disp, d->S, true);
    pc.z_off = vkg__dispatch_bind(&disp, d->z, true);
    la_decay(&disp, d, &pc);
    if (init_zero) pc.flags |= VKG_LA_INIT_ZERO;
    vkg__dispatch_pc(&disp, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &disp, (uint64_t)d->H * d->Dh);
}

/* Phase 3: outputs of rows t0.., Ts rows; S0/z0 from P (causal) or S, z. */
static vkg_result la_out(vkg__lower_ctx *lc, const la_plan *pl, uint32_t t0, uint32_t Ts)
{
    const vkg__linattn_desc *d = pl->d;
    uint64_t qrow = (uint64_t)d->H * d->Dh, krow = (uint64_t)d->KV * d->Dh;
    vkg__dispatch disp;
    vkg_pc_linattn pc = {.T = Ts, .H = d->H, .KV = d->KV, .chunk = pl->chunk, .n_chunks = (Ts + pl->chunk - 1) / pl->chunk};
    la_init(lc, &disp, VKG_KERNEL_LINATTN_OUT, d, false);
    uint32_t off[4];
    off[0] = pc.q_off = vkg__dispatch_bind(&disp, rows(pl->fq, t0, qrow), false);
    off[1] = pc.k_off = vkg__dispatch_bind(&disp, rows(pl->fk, t0, krow), false);
    off[2] = pc.v_off = vkg__dispatch_bind(&disp, rows(d->v, t0, krow), false);
    off[3] = pc.o_off = vkg__dispatch_bind(&disp, rows(d->o, t0, qrow), true);
    pc.s_off = vkg__dispatch_bind(&disp, d->causal ? pl->P : d->S, false);
    pc.z_off = d->causal ? vkg__dispatch_bind(&disp, pl->P, false) + (uint32_t)pl->pz_floats : vkg__dispatch_bind(&disp, d->z, false);
    la_decay(&disp, d, &pc);
    vkg__dispatch_spec(&disp, 2, vkg__dispatch_vec4_ok(d->Dh, off, 4));
    vkg__dispatch_pc(&disp, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &disp, (uint64_t)Ts * d->H);
}

static vkg_result la_chunked(vkg__lower_ctx *lc, const vkg__linattn_desc *d)
{
    la_plan pl = {.d = d, .chunk = d->chunk ? d->chunk : default_chunk(d->Dh), .DP = vkg__linattn_dp(d->Dh)};
    uint64_t qn = (uint64_t)d->T * d->H * d->Dh, kn = (uint64_t)d->T * d->KV * d->Dh;
    pl.fq = vkg__lower_temp(lc, qn * 4);
    pl.fk = vkg__lower_temp(lc, kn * 4);
    vkg_result r;
    if ((r = vkg__emit_unary(lc, d->q, pl.fq, qn, d->feature)) || (r = vkg__emit_unary(lc, d->k, pl.fk, kn, d->feature))) return r;
    uint64_t s_floats = (uint64_t)d->H * d->Dh * pl.DP, z_floats = (uint64_t)d->H * pl.DP;
    uint64_t per_chunk = (s_floats + z_floats) * 4;
    uint32_t n_chunks = (d->T + pl.chunk - 1) / pl.chunk;
    uint64_t seg = SEG_BYTES / per_chunk;
    if (seg < 1) seg = 1;
    if (seg > n_chunks) seg = n_chunks;
    pl.pz_floats = seg * s_floats;
    pl.P = vkg__lower_temp(lc, seg * per_chunk);
    for (uint32_t t0 = 0; t0 < d->T; t0 += (uint32_t)seg * pl.chunk) {
        uint32_t Ts = (uint32_t)VKG__MIN((uint64_t)d->T - t0, seg * pl.chunk), nc = (Ts + pl.chunk - 1) / pl.chunk;
        bool zero = t0 == 0 && (d->init_zero || !d->causal);
        if ((r = la_chunk(lc, &pl, t0, Ts, nc)) || (r = la_scan(lc, &pl, Ts, nc, zero))) return r;
        if (d->causal && (r = la_out(lc, &pl, t0, Ts))) return r;
    }
    return d->causal ? VKG_OK : la_out(lc, &pl, 0, d->T);
}

static vkg_result la_step(vkg__lower_ctx *lc, const vkg__linattn_desc *d)
{
    uint32_t DP = vkg__linattn_dp(d->Dh);
    vkg__bufref zt = vkg__lower_temp(lc, (uint64_t)d->H * DP * 4);
    vkg__dispatch disp;
    vkg_pc_linattn pc = {.T = d->T, .H = d->H, .KV = d->KV, .chunk = 1, .n_chunks = d->T};
    la_init(lc, &disp, VKG_KERNEL_LINATTN_STEP, d, false);
    uint32_t off[4];
    off[0] = pc.q_off = vkg__dispatch_bind(&disp, d->q, false);
    off[1] = pc.k_off = vkg__dispatch_bind(&disp, d->k, false);
    off[2] = pc.v_off = vkg__dispatch_bind(&disp, d->v, false);
    off[3] = pc.o_off = vkg__dispatch_bind(&disp, d->o, true);
    pc.s_off = vkg__dispatch_bind(&disp, d->S, true);
    pc.z_off = vkg__dispatch_bind(&disp, d->z, false);
    pc.pz_off = vkg__dispatch_bind(&disp, zt, true);
    la_decay(&disp, d, &pc);
    if (d->init_zero) pc.flags |= VKG_LA_INIT_ZERO;
    vkg__dispatch_spec(&disp, 2, vkg__dispatch_vec4_ok(d->Dh, off, 4));
    vkg__dispatch_pc(&disp, &pc, sizeof pc);
    vkg_result r = vkg__dispatch_emit(lc, &disp, (uint64_t)d->H * (DP / 4));
    return r ? r : vkg__emit_copy(lc, zt, d->z, (uint64_t)d->H * DP);
}

vkg_result vkg__emit_linattn(vkg__lower_ctx *lc, const vkg__linattn_desc *d)
{
    vkg_result r = check_desc(lc, d);
    if (r || d->T == 0 || d->H == 0) return r;
    vkg__linattn_mode mode = d->mode;
    if (mode == VKG__LINATTN_AUTO) mode = d->causal && !d->init_zero && d->T <= STEP_MAX_T ? VKG__LINATTN_STEP : VKG__LINATTN_CHUNKED;
    return mode == VKG__LINATTN_STEP ? la_step(lc, d) : la_chunked(lc, d);
}

// >>SLA depthwise conv
/* The conv (sla_dwc.comp, mode 0 causal, 1 grid) added to o. */
static vkg_result dwc_conv(vkg__lower_ctx *lc, const vkg__sla_dwc_desc *sd, bool grid)
{
    vkg_pc_sla_dwc pc = {.T = sd->T, .H = sd->H, .KV = sd->KV, .D = sd->Dh, .K = sd->K, .pos0 = sd->pos0, .gh = sd->gh, .gw = sd->gw};
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_SLA_DWC, LS_DWC);
    vkg__dispatch_spec(&d, 1, grid);
    pc.v_off = vkg__dispatch_bind(&d, sd->v, false);
    pc.w_off = vkg__dispatch_bind(&d, sd->w, false);
    pc.b_off = vkg__dispatch_bind(&d, sd->b, false);
    pc.win_off = vkg__dispatch_bind(&d, sd->win.kind != VKG__BUF_NONE ? sd->win : sd->v, false);
    pc.o_off = vkg__dispatch_bind(&d, sd->o, true);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, (uint64_t)sd->T * sd->H * sd->Dh);
}

/* The window moves on to the last K-1 positions (sla_window.comp). */
static vkg_result dwc_window(vkg__lower_ctx *lc, const vkg__sla_dwc_desc *sd)
{
    vkg_pc_sla_dwc pc = {.T = sd->T, .H = sd->H, .KV = sd->KV, .D = sd->Dh, .K = sd->K, .pos0 = sd->pos0};
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_SLA_WINDOW, LS_DWC);
    pc.v_off = vkg__dispatch_bind(&d, sd->v, false);
    pc.win_off = vkg__dispatch_bind(&d, sd->win, true);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, (uint64_t)sd->KV * sd->Dh);
}

vkg_result vkg__emit_sla_dwc(vkg__lower_ctx *lc, const vkg__sla_dwc_desc *sd)
{
    bool grid = sd->gh != 0;
    if (sd->KV == 0 || sd->H % sd->KV || sd->Dh == 0 || sd->K == 0 || (grid && ((uint64_t)sd->gh * sd->gw != sd->T || sd->K % 2 == 0)))
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "sla dwc: bad sizes (H %u, KV %u, Dh %u, K %u, grid %ux%u, T %u)", sd->H, sd->KV,
                          sd->Dh, sd->K, sd->gh, sd->gw, sd->T);
    if (!grid && sd->K > 1 && sd->win.kind == VKG__BUF_NONE)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "sla dwc: a causal conv with K > 1 needs its window");
    if ((uint64_t)(sd->pos0 + sd->T) * sd->H * sd->Dh > INT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "sla dwc: sizes exceed the 32-bit index range");
    if (sd->T == 0) return VKG_OK;
    vkg_result r = dwc_conv(lc, sd, grid);
    if (r || grid || sd->K == 1) return r;
    return dwc_window(lc, sd);
}
