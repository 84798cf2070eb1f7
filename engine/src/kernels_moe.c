/*
 * kernels_moe.c — emitters of the mixture-of-experts kernels (OPS.md 14):
 *
 *   moe_gate     per token: softmax over E router logits, top K (ties to the
 *                smaller index), gate weights (renormalised or not)
 *   moe_sort     counting sort of the T*K choices by expert (one invocation
 *                per expert, stable in token order): offsets, rows, slots
 *   moe_gemm     grouped GEMM over the expert-sorted rows: gate and up with
 *                the GLU in the epilogue (rows gathered by token index), then
 *                down; each expert multiplies only its own rows
 *   moe_combine  y[t] = sum_k w_tk ys[slot(t, k)] in f32 (the scatter-add
 *                written as a gather: no float atomics, same sum every run)
 *   moe_gru      the recurrent router's GRU cell, in place on the state
 *
 * Routing never leaves the device. The number of rows of each expert is known
 * only there: the grouped GEMM is launched for the worst case (T rows for
 * every expert) and each invocation whose row block lies past its expert's
 * count leaves at once; the runtime has no indirect dispatch. On lavapipe the
 * GEMM uses register blocks with vec4 loads (LAVAPIPE.md).
 *
 * Calls only the lowering interface (vkg__lower_emit, vkg__lower_temp), the
 * dispatch helpers (dispatch.h) and the error helpers.
 */
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#define LS_ELEM 128u        /* elementwise kernels */
#define LS_ROW 16u          /* one invocation per token or per expert */
#define LS_GEMM 64u
#define GATEUP_TM 8u        /* register blocks of the grouped GEMM */
#define GATEUP_TN 4u
#define DOWN_TM 8u
#define DOWN_TN 8u

// >>routing
static vkg_result emit_gate(vkg__lower_ctx *lc, const vkg__moe_desc *md, vkg__bufref sel, vkg__bufref wt)
{
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_MOE_GATE, LS_ROW);
    vkg_pc_moe_gate pc = {.T = md->T, .E = md->E, .K = md->K, .normalize = md->normalize};
    pc.logits_off = vkg__dispatch_bind(&d, md->logits, false);
    pc.sel_off = vkg__dispatch_bind(&d, sel, true);
    pc.wt_off = vkg__dispatch_bind(&d, wt, true);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, md->T);
}

static vkg_result emit_sort(vkg__lower_ctx *lc, const vkg__moe_desc *md, vkg__bufref sel, vkg__bufref offs, vkg__bufref rows,
                            vkg__bufref pos)
{
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_MOE_SORT, LS_ROW);
    vkg_pc_moe_sort pc = {.n = md->T * md->K, .K = md->K, .E = md->E};
    pc.sel_off = vkg__dispatch_bind(&d, sel, false);
    pc.offs_off = vkg__dispatch_bind(&d, offs, true);
    pc.rows_off = vkg__dispatch_bind(&d, rows, true);
    pc.pos_off = vkg__dispatch_bind(&d, pos, true);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, md->E);
}

// >>grouped GEMM
typedef struct gemm_args {
    vkg__bufref x, w, w2, offs, rows, y;    /* w2: up (gated only) */
    uint32_t N, K;
    bool gated;
} gemm_args;

static vkg_result emit_gemm(vkg__lower_ctx *lc, const vkg__moe_desc *md, const gemm_args *ga)
{
    uint32_t tm = ga->gated ? GATEUP_TM : DOWN_TM, tn = ga->gated ? GATEUP_TN : DOWN_TN;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_MOE_GEMM, LS_GEMM);
    vkg_pc_moe_gemm pc = {.M = md->T, .N = ga->N, .K = ga->K, .E = md->E};
    pc.x_off = vkg__dispatch_bind(&d, ga->x, false);
    pc.w_off = vkg__dispatch_bind(&d, ga->w, false);
    pc.w2_off = vkg__dispatch_bind(&d, ga->gated ? ga->w2 : ga->w, false);
    pc.offs_off = vkg__dispatch_bind(&d, ga->offs, false);
    pc.rows_off = vkg__dispatch_bind(&d, ga->rows, false);
    pc.y_off = vkg__dispatch_bind(&d, ga->y, true);
    bool v4 = vkg__dispatch_vec4_ok(ga->K, (const uint32_t[]){pc.x_off, pc.w_off, pc.w2_off}, 3);
    vkg__dispatch_spec(&d, 1, v4);
    vkg__dispatch_spec(&d, 2, ga->gated);
    vkg__dispatch_spec(&d, 3, tm);
    vkg__dispatch_spec(&d, 4, tn);
    vkg__dispatch_spec(&d, 5, (uint32_t)md->act);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    uint64_t n = (uint64_t)md->E * vkg__ceil_div(md->T, tm) * vkg__ceil_div(ga->N, tn);
    return vkg__dispatch_emit(lc, &d, n);
}

static vkg_result emit_combine(vkg__lower_ctx *lc, const vkg__moe_desc *md, vkg__bufref ys, vkg__bufref pos, vkg__bufref wt)
{
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_MOE_COMBINE, LS_ELEM);
    vkg_pc_moe_combine pc = {.T = md->T, .C = md->C, .K = md->K};
    pc.ys_off = vkg__dispatch_bind(&d, ys, false);
    pc.pos_off = vkg__dispatch_bind(&d, pos, false);
    pc.wt_off = vkg__dispatch_bind(&d, wt, false);
    pc.y_off = vkg__dispatch_bind(&d, md->y, true);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, (uint64_t)md->T * md->C);
}

static vkg_result check_desc(vkg__lower_ctx *lc, const vkg__moe_desc *md)
{
    if (md->E == 0 || md->K == 0 || md->K > md->E || md->C == 0 || md->F == 0 ||
        (md->act != VKG__ACT_SILU && md->act != VKG__ACT_GELU))
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "moe: bad sizes (E %u, K %u, C %u, F %u) or activation %d", md->E, md->K,
                          md->C, md->F, (int)md->act);
    uint64_t TK = (uint64_t)md->T * md->K;
    uint64_t biggest = VKG__MAX((uint64_t)md->E * md->F * md->C, TK * VKG__MAX(md->F, md->C));
    if (biggest + 256 > UINT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "moe: %llu elements exceed the 32-bit index range", (unsigned long long)biggest);
    return VKG_OK;
}

vkg_result vkg__emit_moe(vkg__lower_ctx *lc, const vkg__moe_desc *md)
{
    vkg_result r = check_desc(lc, md);
    if (r != VKG_OK || md->T == 0) return r;
    uint64_t TK = (uint64_t)md->T * md->K;
    vkg__bufref sel = vkg__lower_temp(lc, TK * 4), wt = vkg__lower_temp(lc, TK * 4);
    vkg__bufref offs = vkg__lower_temp(lc, ((uint64_t)md->E + 1) * 4);
    vkg__bufref rows = vkg__lower_temp(lc, TK * 4), pos = vkg__lower_temp(lc, TK * 4);
    vkg__bufref h = vkg__lower_temp(lc, TK * md->F * 4), ys = vkg__lower_temp(lc, TK * md->C * 4);
    gemm_args gu = {.x = md->x, .w = md->gate, .w2 = md->up, .offs = offs, .rows = rows, .y = h, .N = md->F, .K = md->C, .gated = true};
    gemm_args dn = {.x = h, .w = md->down, .offs = offs, .rows = rows, .y = ys, .N = md->C, .K = md->F, .gated = false};
    if ((r = emit_gate(lc, md, sel, wt)) || (r = emit_sort(lc, md, sel, offs, rows, pos)) || (r = emit_gemm(lc, md, &gu)) ||
        (r = emit_gemm(lc, md, &dn)))
        return r;
    return emit_combine(lc, md, ys, pos, wt);
}

// >>recurrent router
vkg_result vkg__emit_moe_gru(vkg__lower_ctx *lc, vkg__bufref gi, vkg__bufref gh, vkg__bufref h, uint32_t T, uint32_t R, bool first)
{
    uint64_t n = (uint64_t)T * R;
    if (n * 3 + 256 > UINT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "moe: router state of %llu floats is too large", (unsigned long long)n);
    if (n == 0) return VKG_OK;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_MOE_GRU, LS_ELEM);
    vkg__dispatch_spec(&d, 1, first);
    vkg_pc_moe_gru pc = {.T = T, .R = R};
    pc.gi_off = vkg__dispatch_bind(&d, gi, false);
    pc.gh_off = vkg__dispatch_bind(&d, gh, false);
    pc.h_off = vkg__dispatch_bind(&d, h, true);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, n);
}
