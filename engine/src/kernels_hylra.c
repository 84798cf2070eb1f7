/*
 * kernels_hylra.c — emitters of the HyLRA kernels (OPS.md 11):
 * hylra_full.comp (a full layer that keeps index sets, fused: per query row
 * and KV head the group's attention, then its scores once per key into a
 * scratch row and the top K by a bracket search on the f32 bit patterns),
 * hylra_select.comp (the same index sets after attention.comp, for groups too
 * large for the fused kernel's registers: per head a second online pass, then
 * a two-bits-per-pass search) and hylra_attend.comp (a reuse layer's
 * attention over the sets). All run one invocation per row, the
 * lavapipe design of attention.comp (LAVAPIPE.md: no shared memory, no
 * barriers). Offsets as in kernels.c (dispatch.h): bind at an aligned byte
 * offset, pass the rest as an element offset.
 */
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#define LS_ROW 16u
#define MAX_HEAD_DIM 512u
#define MAX_REP 64u
#define SCRATCH_BYTES (32ull << 20)     /* per select dispatch; well under the 128 MiB binding limit */
#define FULL_MAX_VEC4 64u               /* hylra_full.comp: NREP * ceil(Dh/4) vec4 registers (q and acc each) */

/* Spec 2 (vec4 loads) is set once the bindings are known. */
static void hylra_init(vkg__lower_ctx *lc, vkg__dispatch *d, int kernel, const vkg__hylra_desc *hd)
{
    vkg__dispatch_init(lc, d, kernel, LS_ROW);
    vkg__dispatch_spec(d, 1, hd->Dh);
    vkg__dispatch_spec(d, 3, hd->causal);
}

static vkg_result check_sizes(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    if (hd->KV == 0 || hd->H % hd->KV != 0 || hd->Dh == 0 || hd->Dh > MAX_HEAD_DIM || hd->H / hd->KV > MAX_REP || hd->top_k == 0)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "hylra: bad sizes (H %u, KV %u, Dh %u, top_k %u; Dh <= %u, H/KV <= %u)", hd->H,
                          hd->KV, hd->Dh, hd->top_k, MAX_HEAD_DIM, MAX_REP);
    uint64_t rows = (uint64_t)VKG__MAX(hd->Tq, hd->Tk), idx_rows = (uint64_t)hd->i_row0 + hd->Tq;
    if (rows * hd->H * hd->Dh > UINT32_MAX || idx_rows * hd->KV * hd->top_k > UINT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "hylra: sizes exceed the 32-bit index range");
    return VKG_OK;
}

/* Rows per dispatch so that their scratch rows fit SCRATCH_BYTES (at least one). */
static vkg_result scratch_chunk(vkg__lower_ctx *lc, const vkg__hylra_desc *hd, uint64_t row_bytes, uint64_t *chunk)
{
    *chunk = VKG__MAX(1, VKG__MIN((uint64_t)hd->Tq, SCRATCH_BYTES / row_bytes));
    if (*chunk * row_bytes > UINT32_MAX) return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "hylra: %u keys are too many", hd->Tk);
    return VKG_OK;
}

vkg_result vkg__emit_hylra_select(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    vkg_result r = check_sizes(lc, hd);
    if (r != VKG_OK || hd->Tq == 0) return r;
    if (hd->Tk == 0) return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "hylra: no keys to select from");
    uint64_t row_bytes = (uint64_t)hd->KV * hd->Tk * 8, chunk;     /* score and raw rows */
    if ((r = scratch_chunk(lc, hd, row_bytes, &chunk))) return r;
    vkg__bufref scratch = vkg__lower_temp(lc, chunk * row_bytes);
    for (uint64_t row0 = 0; row0 < hd->Tq && r == VKG_OK; row0 += chunk) {
        vkg__dispatch d;
        hylra_init(lc, &d, VKG_KERNEL_HYLRA_SELECT, hd);
        uint32_t off[2] = {vkg__dispatch_bind(&d, hd->q, false), vkg__dispatch_bind(&d, hd->k, false)};
        vkg__dispatch_spec(&d, 2, vkg__dispatch_vec4(hd->Dh, off, 2));
        vkg__dispatch_spec(&d, 4, hd->H / hd->KV);
        uint32_t n_rows = (uint32_t)VKG__MIN(chunk, hd->Tq - row0);
        vkg_pc_hylra_select pc = {.Tk = hd->Tk, .H = hd->H, .KV = hd->KV, .pos0 = hd->pos0, .top_k = hd->top_k, .row0 = (uint32_t)row0,
                                  .n_rows = n_rows, .i_row0 = hd->i_row0, .scale = hd->scale, .q_off = off[0], .k_off = off[1]};
        pc.s_off = vkg__dispatch_bind(&d, scratch, true);
        pc.i_off = vkg__dispatch_bind(&d, hd->idx, true);
        vkg__dispatch_pc(&d, &pc, sizeof pc);
        r = vkg__dispatch_emit(lc, &d, (uint64_t)n_rows * hd->KV);
    }
    return r;
}

static vkg_result emit_full_fused(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    uint64_t chunk;
    uint64_t row_bytes = (uint64_t)hd->H * hd->Tk * 4;      /* the raw scores of the group's heads */
    vkg_result r = scratch_chunk(lc, hd, row_bytes, &chunk);
    if (r != VKG_OK) return r;
    vkg__bufref scratch = vkg__lower_temp(lc, chunk * row_bytes);
    for (uint64_t row0 = 0; row0 < hd->Tq && r == VKG_OK; row0 += chunk) {
        vkg__dispatch d;
        hylra_init(lc, &d, VKG_KERNEL_HYLRA_FULL, hd);
        uint32_t off[4] = {vkg__dispatch_bind(&d, hd->q, false), vkg__dispatch_bind(&d, hd->k, false), vkg__dispatch_bind(&d, hd->v, false),
                           vkg__dispatch_bind(&d, hd->o, true)};
        vkg__dispatch_spec(&d, 2, vkg__dispatch_vec4(hd->Dh, off, 4));
        vkg__dispatch_spec(&d, 4, hd->H / hd->KV);
        uint32_t n_rows = (uint32_t)VKG__MIN(chunk, hd->Tq - row0);
        vkg_pc_hylra_full pc = {.Tk = hd->Tk, .H = hd->H, .KV = hd->KV, .pos0 = hd->pos0, .top_k = hd->top_k, .row0 = (uint32_t)row0,
                                .n_rows = n_rows, .i_row0 = hd->i_row0, .scale = hd->scale, .q_off = off[0], .k_off = off[1],
                                .v_off = off[2], .o_off = off[3]};
        pc.s_off = vkg__dispatch_bind(&d, scratch, true);
        pc.i_off = vkg__dispatch_bind(&d, hd->idx, true);
        vkg__dispatch_pc(&d, &pc, sizeof pc);
        r = vkg__dispatch_emit(lc, &d, (uint64_t)n_rows * hd->KV);
    }
    return r;
}

vkg_result vkg__emit_hylra_full(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    vkg_result r = check_sizes(lc, hd);
    if (r != VKG_OK || hd->Tq == 0) return r;
    if (hd->Tk == 0) return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "hylra: no keys to select from");
    if ((uint64_t)(hd->H / hd->KV) * ((hd->Dh + 3) / 4) <= FULL_MAX_VEC4) return emit_full_fused(lc, hd);
    vkg__attn_desc ad = {.q = hd->q, .k = hd->k, .v = hd->v, .o = hd->o, .Tq = hd->Tq, .Tk = hd->Tk, .H = hd->H, .KV = hd->KV,
                         .Dh = hd->Dh, .pos0 = hd->pos0, .scale = hd->scale, .causal = hd->causal};
    if ((r = vkg__emit_attention(lc, &ad))) return r;
    return vkg__emit_hylra_select(lc, hd);
}

vkg_result vkg__emit_hylra_attend(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    vkg_result r = check_sizes(lc, hd);
    if (r != VKG_OK || hd->Tq == 0) return r;
    vkg__dispatch d;
    hylra_init(lc, &d, VKG_KERNEL_HYLRA_ATTEND, hd);
    uint32_t off[4] = {vkg__dispatch_bind(&d, hd->q, false), vkg__dispatch_bind(&d, hd->k, false), vkg__dispatch_bind(&d, hd->v, false),
                       vkg__dispatch_bind(&d, hd->o, true)};
    vkg__dispatch_spec(&d, 2, vkg__dispatch_vec4(hd->Dh, off, 4));
    vkg_pc_hylra_attend pc = {.Tq = hd->Tq, .Tk = hd->Tk, .H = hd->H, .KV = hd->KV, .pos0 = hd->pos0, .top_k = hd->top_k,
                              .i_row0 = hd->i_row0, .scale = hd->scale, .q_off = off[0], .k_off = off[1], .v_off = off[2], .o_off = off[3]};
    pc.i_off = vkg__dispatch_bind(&d, hd->idx, false);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, (uint64_t)hd->Tq * hd->H);
}
