/*
 * kernels.c — emitters of every kernel family except matmul (kernels_matmul.c):
 * elementwise (unary, binary, glu, copy, add_rows, embed, im2col), norms
 * (layer, rms, batch), RoPE, softmax attention and pooling.
 *
 * Each emitter turns its arguments into one abstract vkg__dispatch (kernel id
 * from the generated vkg_kernels.h, specialization constants, a push-constant
 * struct from vkg_pc.h, buffer bindings, group counts) and hands it to
 * vkg__lower_emit. It calls only the lowering interface (vkg_impl.h) and the
 * error helpers; it never touches Vulkan. Variants per device class follow
 * LAVAPIPE.md: on lavapipe one element (or vec4) per invocation for
 * elementwise kernels and one invocation per row for row reductions; on GPUs
 * a workgroup per row for norms.
 *
 * Binding offsets (dispatch.h): every binding is made at a byte offset rounded
 * down to VKG__BIND_ALIGN and the rest is passed to the shader as an element
 * offset in the push constants, so callers may use any 4-byte aligned offset.
 * vec4 loads are chosen only when every such element offset and the
 * contiguous row length are multiples of 4.
 */
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <math.h>

#define LS_ELEM 128u        /* elementwise kernels */
#define LS_ROW_CPU 16u      /* one invocation per row: small groups spread rows over threads */
#define LS_ROW_GPU 256u     /* one workgroup per row (power of two, <= 256: norm.comp's shared array) */
#define LS_ATTN 16u
#define MAX_HEAD_DIM 512u   /* registers per invocation in attention.comp grow with Dh */

/* >>elementwise -----------------------------------------------------------*/
vkg_result vkg__emit_copy(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref y, uint64_t n)
{
    vkg_result r = vkg__dispatch_check_u32(lc, n, "copy");
    if (r != VKG_OK || n == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_COPY, LS_ELEM);
    uint32_t off[2] = {vkg__dispatch_bind(&d, x, false), vkg__dispatch_bind(&d, y, true)};
    bool v4 = vkg__dispatch_vec4((uint32_t)n, off, 2);
    vkg__dispatch_spec(&d, 1, v4);
    vkg_pc_copy pc = {.n = (uint32_t)(v4 ? n / 4 : n), .x_off = off[0], .y_off = off[1]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, pc.n);
}

vkg_result vkg__emit_unary(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref y, uint64_t n, vkg__act act)
{
    if ((unsigned)act >= VKG__ACT_COUNT)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "unary: bad activation %d", (int)act);
    vkg_result r = vkg__dispatch_check_u32(lc, n, "unary");
    if (r != VKG_OK || n == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_UNARY, LS_ELEM);
    uint32_t off[2] = {vkg__dispatch_bind(&d, x, false), vkg__dispatch_bind(&d, y, true)};
    bool v4 = vkg__dispatch_vec4((uint32_t)n, off, 2);
    vkg__dispatch_spec(&d, 1, v4);
    vkg__dispatch_spec(&d, 2, (uint32_t)act);
    vkg_pc_unary pc = {.n = (uint32_t)(v4 ? n / 4 : n), .x_off = off[0], .y_off = off[1]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, pc.n);
}

vkg_result vkg__emit_binary(vkg__lower_ctx *lc, vkg__bufref a, vkg__bufref b, vkg__bufref y, uint64_t n, vkg__binop op)
{
    if ((unsigned)op >= VKG__BIN_COUNT)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "binary: bad op %d", (int)op);
    vkg_result r = vkg__dispatch_check_u32(lc, n, "binary");
    if (r != VKG_OK || n == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_BINARY, LS_ELEM);
    uint32_t off[3] = {vkg__dispatch_bind(&d, a, false), vkg__dispatch_bind(&d, b, false), vkg__dispatch_bind(&d, y, true)};
    bool v4 = vkg__dispatch_vec4((uint32_t)n, off, 3);
    vkg__dispatch_spec(&d, 1, v4);
    vkg__dispatch_spec(&d, 2, (uint32_t)op);
    vkg_pc_binary pc = {.n = (uint32_t)(v4 ? n / 4 : n), .a_off = off[0], .b_off = off[1], .y_off = off[2]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, pc.n);
}

vkg_result vkg__emit_glu(vkg__lower_ctx *lc, vkg__bufref gu, vkg__bufref y, uint32_t rows, uint32_t F, vkg__act act)
{
    if ((unsigned)act >= VKG__ACT_COUNT)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "glu: bad activation %d", (int)act);
    vkg_result r = vkg__dispatch_check_u32(lc, 2ull * rows * F, "glu");
    if (r != VKG_OK || rows == 0 || F == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_GLU, LS_ELEM);
    uint32_t off[2] = {vkg__dispatch_bind(&d, gu, false), vkg__dispatch_bind(&d, y, true)};
    bool v4 = vkg__dispatch_vec4(F, off, 2);
    vkg__dispatch_spec(&d, 1, v4);
    vkg__dispatch_spec(&d, 2, (uint32_t)act);
    vkg_pc_glu pc = {.rows = rows, .F = v4 ? F / 4 : F, .gu_off = off[0], .y_off = off[1]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, (uint64_t)rows * pc.F);
}

vkg_result vkg__emit_add_rows(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref rows, vkg__bufref y, uint32_t T, uint32_t C,
                              uint32_t first_row)
{
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)(first_row + (uint64_t)T) * C, "add_rows");
    if (r != VKG_OK || T == 0 || C == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_ADD_ROWS, LS_ELEM);
    uint32_t off[3] = {vkg__dispatch_bind(&d, x, false), vkg__dispatch_bind(&d, rows, false), vkg__dispatch_bind(&d, y, true)};
    bool v4 = vkg__dispatch_vec4(C, off, 3);
    vkg__dispatch_spec(&d, 1, v4);
    vkg_pc_add_rows pc = {.T = T, .C = v4 ? C / 4 : C, .first_row = first_row,
                          .x_off = off[0], .rows_off = off[1], .y_off = off[2]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, (uint64_t)T * pc.C);
}

vkg_result vkg__emit_embed(vkg__lower_ctx *lc, vkg__bufref ids, vkg__bufref table, vkg__bufref y, uint32_t T, uint32_t D)
{
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)T * D, "embed");
    if (r != VKG_OK || T == 0 || D == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_EMBED, LS_ELEM);
    uint32_t ids_off = vkg__dispatch_bind(&d, ids, false);
    uint32_t off[2] = {vkg__dispatch_bind(&d, table, false), vkg__dispatch_bind(&d, y, true)};
    bool v4 = vkg__dispatch_vec4(D, off, 2);
    vkg__dispatch_spec(&d, 1, v4);
    vkg_pc_embed pc = {.T = T, .D = v4 ? D / 4 : D, .ids_off = ids_off, .table_off = off[0], .y_off = off[1]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, (uint64_t)T * pc.D);
}

vkg_result vkg__emit_im2col(vkg__lower_ctx *lc, vkg__bufref img, vkg__bufref cols, uint32_t Hh, uint32_t Ww, uint32_t Cin, uint32_t P)
{
    if (P == 0 || Hh % P != 0 || Ww % P != 0)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "im2col: image %ux%u is not a multiple of patch %u", Hh, Ww, P);
    uint64_t n = (uint64_t)Hh * Ww * Cin;
    vkg_result r = vkg__dispatch_check_u32(lc, n, "im2col");
    if (r != VKG_OK || n == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_IM2COL, LS_ELEM);
    vkg_pc_im2col pc = {.Hh = Hh, .Ww = Ww, .Cin = Cin, .P = P};
    pc.img_off = vkg__dispatch_bind(&d, img, false);
    pc.cols_off = vkg__dispatch_bind(&d, cols, true);
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, n);
}

/* >>norms -----------------------------------------------------------------*/
static vkg_result emit_norm_batch(vkg__lower_ctx *lc, const vkg__norm_desc *nd)
{
    if (nd->mean.kind == VKG__BUF_NONE || nd->var.kind == VKG__BUF_NONE)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "batch norm needs running mean and var");
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_NORM_BATCH, LS_ELEM);
    vkg_pc_norm_batch pc = {.n = nd->rows * nd->C, .C = nd->C, .eps = nd->eps};
    pc.x_off = vkg__dispatch_bind(&d, nd->x, false);
    pc.y_off = vkg__dispatch_bind(&d, nd->y, true);
    pc.w_off = vkg__dispatch_bind_opt(&d, nd->w, nd->x, &pc.has_w);
    pc.b_off = vkg__dispatch_bind_opt(&d, nd->b, nd->x, &pc.has_b);
    pc.mean_off = vkg__dispatch_bind(&d, nd->mean, false);
    pc.var_off = vkg__dispatch_bind(&d, nd->var, false);
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, pc.n);
}

vkg_result vkg__emit_norm(vkg__lower_ctx *lc, const vkg__norm_desc *nd)
{
    if ((unsigned)nd->kind >= VKG__NORM_KIND_COUNT)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "norm: bad kind %d", (int)nd->kind);
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)nd->rows * nd->C, "norm");
    if (r != VKG_OK || nd->rows == 0 || nd->C == 0) return r;
    if (nd->kind == VKG__NORM_BATCH) return emit_norm_batch(lc, nd);

    bool per_wg = lc->devclass == VKG__DEVCLASS_GPU;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_NORM, per_wg ? LS_ROW_GPU : LS_ROW_CPU);
    vkg_pc_norm pc = {.rows = nd->rows, .C = nd->C, .eps = nd->eps};
    uint32_t off[4];
    off[0] = vkg__dispatch_bind(&d, nd->x, false);
    off[1] = vkg__dispatch_bind(&d, nd->y, true);
    off[2] = vkg__dispatch_bind_opt(&d, nd->w, nd->x, &pc.has_w);
    off[3] = vkg__dispatch_bind_opt(&d, nd->kind == VKG__NORM_LAYER ? nd->b : (vkg__bufref){0}, nd->x, &pc.has_b);
    bool v4 = vkg__dispatch_vec4(nd->C, off, 4);
    if (v4) pc.C /= 4;
    pc.x_off = off[0]; pc.y_off = off[1]; pc.w_off = off[2]; pc.b_off = off[3];
    vkg__dispatch_spec(&d, 1, nd->kind == VKG__NORM_RMS);
    vkg__dispatch_spec(&d, 2, v4);
    vkg__dispatch_spec(&d, 3, per_wg);
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    r = per_wg ? vkg__dispatch_groups(lc, &d, nd->rows) : vkg__dispatch_items(lc, &d, nd->rows);
    if (r != VKG_OK) return r;
    return vkg__lower_emit(lc, &d);
}

/* >>rope, attention, pool -------------------------------------------------*/
vkg_result vkg__emit_rope(vkg__lower_ctx *lc, const vkg__rope_desc *rd)
{
    if ((unsigned)rd->style >= VKG__ROPE_STYLE_COUNT || !(rd->theta > 0) || rd->rot_dims % 2 != 0 || rd->rot_dims > rd->head_dim
        || (uint64_t)rd->n_heads * rd->head_dim > rd->row_stride)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "rope: bad sizes (rot_dims %u, head_dim %u, heads %u, row stride %u)",
                          rd->rot_dims, rd->head_dim, rd->n_heads, rd->row_stride);
    if (rd->pos0 + (uint64_t)rd->T > (1u << 24))
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "rope: positions beyond 2^24 are not exact in f32");
    uint64_t n = (uint64_t)rd->T * rd->n_heads * (rd->rot_dims / 2);
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)rd->T * rd->row_stride, "rope");
    if (r != VKG_OK || n == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_ROPE, LS_ELEM);
    vkg__dispatch_spec(&d, 1, rd->style == VKG__ROPE_INTERLEAVED);
    vkg_pc_rope pc = {.T = rd->T, .n_heads = rd->n_heads, .head_dim = rd->head_dim, .row_stride = rd->row_stride,
                      .rot_dims = rd->rot_dims, .pos0 = rd->pos0};
    double l2 = log2((double)rd->theta);
    pc.log2_theta_hi = (float)l2;
    pc.log2_theta_lo = (float)(l2 - (double)pc.log2_theta_hi);
    pc.x_off = vkg__dispatch_bind(&d, rd->x, true);
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, n);
}

vkg_result vkg__emit_attention(vkg__lower_ctx *lc, const vkg__attn_desc *ad)
{
    if (ad->KV == 0 || ad->H % ad->KV != 0 || ad->Dh == 0 || ad->Dh > MAX_HEAD_DIM)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "attention: bad sizes (H %u, KV %u, Dh %u; Dh <= %u)",
                          ad->H, ad->KV, ad->Dh, MAX_HEAD_DIM);
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)VKG__MAX(ad->Tq, ad->Tk) * ad->H * ad->Dh, "attention");
    if (r != VKG_OK || ad->Tq == 0 || ad->H == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_ATTENTION, LS_ATTN);
    uint32_t off[4] = {vkg__dispatch_bind(&d, ad->q, false), vkg__dispatch_bind(&d, ad->k, false), vkg__dispatch_bind(&d, ad->v, false),
                       vkg__dispatch_bind(&d, ad->o, true)};
    bool v4 = vkg__dispatch_vec4(ad->Dh, off, 4);
    vkg__dispatch_spec(&d, 1, ad->Dh);
    vkg__dispatch_spec(&d, 2, v4);
    vkg__dispatch_spec(&d, 3, ad->causal);
    vkg_pc_attention pc = {.Tq = ad->Tq, .Tk = ad->Tk, .H = ad->H, .KV = ad->KV, .pos0 = ad->pos0, .scale = ad->scale,
                           .q_off = off[0], .k_off = off[1], .v_off = off[2], .o_off = off[3]};
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, (uint64_t)ad->Tq * ad->H);
}

vkg_result vkg__emit_pool(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref y, uint32_t T, uint32_t C, vkg__pool_kind kind)
{
    if ((unsigned)kind >= VKG__POOL_KIND_COUNT || T == 0)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "pool: bad kind %d or no rows", (int)kind);
    if (kind == VKG__POOL_FIRST) return vkg__emit_copy(lc, x, y, C);
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)T * C, "pool");
    if (r != VKG_OK || C == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_POOL, LS_ELEM);
    vkg_pc_pool pc = {.T = T, .C = C};
    pc.x_off = vkg__dispatch_bind(&d, x, false);
    pc.y_off = vkg__dispatch_bind(&d, y, true);
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, C);
}
