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
 * Calls only the lowering interface (vkg__lower_emit, vkg__lower_temp) and
 * the error helpers.
 */
#include "vkg_impl.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <string.h>

#define BIND_ALIGN 256u
#define MAX_GROUPS 65535u
#define LS_ELEM 128u        /* elementwise kernels */
#define LS_ROW 16u          /* one invocation per token or per expert */
#define LS_GEMM 64u
#define GATEUP_TM 8u        /* register blocks of the grouped GEMM */
#define GATEUP_TN 4u
#define DOWN_TM 8u
#define DOWN_TN 8u

static void dispatch_init(vkg__lower_ctx *lc, vkg__dispatch *d, int kernel, uint32_t local_size)
{
    memset(d, 0, sizeof(*d));
    d->kernel = kernel;
    d->spec[0] = local_size;
    d->n_spec = 1;
    d->node = lc->node_index;
}

static void set_spec(vkg__dispatch *d, int i, uint32_t v)
{
    d->spec[i] = v;
    if (d->n_spec < i + 1) d->n_spec = i + 1;
}

/* Adds a binding at an aligned offset; returns the remaining offset in elements. */
static uint32_t bind(vkg__dispatch *d, vkg__bufref r, bool write)
{
    VKG_ASSERT(d->n_bind < VKG__MAX_BINDINGS && r.offset % 4 == 0);
    uint64_t rem = r.offset % BIND_ALIGN;
    vkg__bufref b = r;
    b.offset = r.offset - rem;
    if (r.size != 0) b.size = r.size + rem;
    if (write) d->writes |= (uint8_t)(1u << d->n_bind);
    d->bind[d->n_bind++] = b;
    return (uint32_t)(rem / 4);
}

static void set_pc(vkg__dispatch *d, const void *pc, uint32_t size)
{
    VKG_ASSERT(size <= sizeof(d->pc));
    memcpy(d->pc, pc, size);
    d->pc_size = size;
}

/* n_items invocations: 1-D up to 65535 groups, else a 2-D grid (vkg_flat_id). */
static vkg_result emit(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items)
{
    uint64_t n_groups = (n_items + d->spec[0] - 1) / d->spec[0];
    uint64_t gy = (n_groups + MAX_GROUPS - 1) / MAX_GROUPS;
    if (gy == 0) gy = 1;
    if (gy > MAX_GROUPS)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "moe: dispatch of %llu workgroups is too large", (unsigned long long)n_groups);
    uint64_t gx = (n_groups + gy - 1) / gy;
    d->groups[0] = (uint32_t)(gx ? gx : 1);
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return vkg__lower_emit(lc, d);
}

static uint32_t ceil_div(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

// >>routing
static vkg_result emit_gate(vkg__lower_ctx *lc, const vkg__moe_desc *md, vkg__bufref sel, vkg__bufref wt)
{
    vkg__dispatch d;
    dispatch_init(lc, &d, VKG_KERNEL_MOE_GATE, LS_ROW);
    vkg_pc_moe_gate pc = {.T = md->T, .E = md->E, .K = md->K, .normalize = md->normalize};
    pc.logits_off = bind(&d, md->logits, false);
    pc.sel_off = bind(&d, sel, true);
    pc.wt_off = bind(&d, wt, true);
    set_pc(&d, &pc, sizeof pc);
    return emit(lc, &d, md->T);
}

static vkg_result emit_sort(vkg__lower_ctx *lc, const vkg__moe_desc *md, vkg__bufref sel, vkg__bufref offs, vkg__bufref rows,
                            vkg__bufref pos)
{
    vkg__dispatch d;
    dispatch_init(lc, &d, VKG_KERNEL_MOE_SORT, LS_ROW);
    vkg_pc_moe_sort pc = {.n = md->T * md->K, .K = md->K, .E = md->E};
    pc.sel_off = bind(&d, sel, false);
    pc.offs_off = bind(&d, offs, true);
    pc.rows_off = bind(&d, rows, true);
    pc.pos_off = bind(&d, pos, true);
    set_pc(&d, &pc, sizeof pc);
    return emit(lc, &d, md->E);
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
    dispatch_init(lc, &d, VKG_KERNEL_MOE_GEMM, LS_GEMM);
    vkg_pc_moe_gemm pc = {.M = md->T, .N = ga->N, .K = ga->K, .E = md->E};
    pc.x_off = bind(&d, ga->x, false);
    pc.w_off = bind(&d, ga->w, false);
    pc.w2_off = bind(&d, ga->gated ? ga->w2 : ga->w, false);
    pc.offs_off = bind(&d, ga->offs, false);
    pc.rows_off = bind(&d, ga->rows, false);
    pc.y_off = bind(&d, ga->y, true);
    bool v4 = ga->K % 4 == 0 && pc.x_off % 4 == 0 && pc.w_off % 4 == 0 && pc.w2_off % 4 == 0;
    set_spec(&d, 1, v4);
    set_spec(&d, 2, ga->gated);
    set_spec(&d, 3, tm);
    set_spec(&d, 4, tn);
    set_spec(&d, 5, (uint32_t)md->act);
    set_pc(&d, &pc, sizeof pc);
    uint64_t n = (uint64_t)md->E * ceil_div(md->T, tm) * ceil_div(ga->N, tn);
    return emit(lc, &d, n);
}

static vkg_result emit_combine(vkg__lower_ctx *lc, const vkg__moe_desc *md, vkg__bufref ys, vkg__bufref pos, vkg__bufref wt)
{
    vkg__dispatch d;
    dispatch_init(lc, &d, VKG_KERNEL_MOE_COMBINE, LS_ELEM);
    vkg_pc_moe_combine pc = {.T = md->T, .C = md->C, .K = md->K};
    pc.ys_off = bind(&d, ys, false);
    pc.pos_off = bind(&d, pos, false);
    pc.wt_off = bind(&d, wt, false);
    pc.y_off = bind(&d, md->y, true);
    set_pc(&d, &pc, sizeof pc);
    return emit(lc, &d, (uint64_t)md->T * md->C);
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
    if (n * 3 + 256 > UINT32_MAX) return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "moe: router state of %llu floats is too large", (unsigned long long)n);
    if (n == 0) return VKG_OK;
    vkg__dispatch d;
    dispatch_init(lc, &d, VKG_KERNEL_MOE_GRU, LS_ELEM);
    set_spec(&d, 1, first);
    vkg_pc_moe_gru pc = {.T = T, .R = R};
    pc.gi_off = bind(&d, gi, false);
    pc.gh_off = bind(&d, gh, false);
    pc.h_off = bind(&d, h, true);
    set_pc(&d, &pc, sizeof pc);
    return emit(lc, &d, n);
}
