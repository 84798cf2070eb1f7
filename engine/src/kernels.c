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

/* Attention variants (OPS.md 10). ROW: attention.comp, one invocation per
 * (query row, head). GROUP: attention_group.comp, one invocation per (block of
 * up to 8 query rows, block of heads sharing a KV head), so each key and value
 * row is loaded once per block; lavapipe prefill. SPLIT: the same kernel per
 * chunk of keys writing partial (m, l, acc) to a temp, then
 * attention_merge.comp (flash-decoding) for few query rows and long caches,
 * on every device class. */
#define ATTN_MAX_VEC4 128u      /* attention_group.comp: q and acc registers, vec4s each (compile time grows with it) */
#define ATTN_GROUP_MAX_DH 256u  /* attention_group.comp's largest head (compile time) */
#define ATTN_MAX_ROWS 8u        /* query rows per grouped invocation, forced */
#define ATTN_AUTO_ROWS 8u       /* ... chosen (lavapipe: 8 rows 6x faster than attention.comp, 1 row 3x) */
#define ATTN_MIN_ITEMS 64u      /* row blocks stay small enough to leave this many invocations */
#define ATTN_SPLIT_ITEMS 128u   /* split the keys when fewer invocations than this ... */
#define ATTN_SPLIT_MIN_KEYS 256u /* ... and at least this many keys */
#define ATTN_SPLIT_CHUNK 64u    /* fewest keys per chunk */
#define ATTN_SPLIT_TARGET 256u  /* invocations to aim at when splitting */

typedef struct attn_plan {
    uint32_t hb, rows, n_split, chunk;
} attn_plan;

/* Heads per invocation: the largest divisor of n_rep whose registers fit. */
static uint32_t attn_heads_per_item(const vkg__attn_desc *ad)
{
    uint32_t rep = ad->H / ad->KV, d4 = (ad->Dh + 3) / 4;
    for (uint32_t hb = rep; hb > 1; hb--)
        if (rep % hb == 0 && hb * d4 <= ATTN_MAX_VEC4) return hb;
    return 1;
}

/* Rows per invocation, a power of two: up to `rows` if given (at most
 * ATTN_MAX_ROWS), else up to ATTN_AUTO_ROWS while at least ATTN_MIN_ITEMS
 * invocations remain; within the registers. */
static attn_plan attn_plan_group(const vkg__attn_desc *ad, uint32_t rows)
{
    attn_plan p = {.hb = attn_heads_per_item(ad), .rows = 1, .n_split = 1, .chunk = VKG__MAX(ad->Tk, 1)};
    uint32_t d4 = (ad->Dh + 3) / 4, heads = ad->H / p.hb, limit = rows ? VKG__MIN(rows, ATTN_MAX_ROWS) : ATTN_AUTO_ROWS;
    while (2 * p.rows <= limit && 2 * p.rows * p.hb * d4 <= ATTN_MAX_VEC4
           && (rows || vkg__ceil_div(ad->Tq, 2 * p.rows) * heads >= ATTN_MIN_ITEMS))
        p.rows *= 2;
    return p;
}

/* Keys per chunk: `chunk` if given, else enough chunks for about
 * ATTN_SPLIT_TARGET invocations, each of at least ATTN_SPLIT_CHUNK keys. */
static attn_plan attn_plan_split(const vkg__attn_desc *ad, uint32_t chunk)
{
    attn_plan p = {.hb = attn_heads_per_item(ad), .rows = 1};
    uint64_t items = (uint64_t)ad->Tq * (ad->H / p.hb);
    uint64_t n = VKG__MIN(vkg__ceil_div(ad->Tk, ATTN_SPLIT_CHUNK), vkg__ceil_div(ATTN_SPLIT_TARGET, items));
    p.chunk = chunk ? chunk : (uint32_t)VKG__MAX(vkg__ceil_div(ad->Tk, VKG__MAX(n, 1)), 1);
    p.n_split = (uint32_t)VKG__MAX(vkg__ceil_div(ad->Tk, p.chunk), 1);
    return p;
}

static vkg__attn_variant attn_choose(const vkg__lower_ctx *lc, const vkg__attn_desc *ad, vkg__attn_variant want)
{
    if (want != VKG__ATTN_AUTO) return want;
    if (ad->Dh > ATTN_GROUP_MAX_DH) return VKG__ATTN_ROW;
    uint64_t items = (uint64_t)ad->Tq * (ad->H / attn_heads_per_item(ad));
    if (items < ATTN_SPLIT_ITEMS && ad->Tk >= ATTN_SPLIT_MIN_KEYS) return VKG__ATTN_SPLIT;
    return lc->devclass == VKG__DEVCLASS_CPU ? VKG__ATTN_GROUP : VKG__ATTN_ROW;
}

static vkg_result attn_emit_row(vkg__lower_ctx *lc, const vkg__attn_desc *ad)
{
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

/* attention_group.comp; with p->n_split > 1 into the partials ml (m, l pairs)
 * and acc (vec4 rows), else into ad->o. The shader's unused outputs are bound
 * to a buffer it writes anyway, marked written: the barriers (and the
 * synchronization validation, which goes by the SPIR-V's stores) see no
 * write to an input. */
static vkg_result attn_emit_group(vkg__lower_ctx *lc, const vkg__attn_desc *ad, const attn_plan *p, vkg__bufref ml, vkg__bufref acc)
{
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_ATTENTION_GROUP, LS_ATTN);
    uint32_t off[4] = {vkg__dispatch_bind(&d, ad->q, false), vkg__dispatch_bind(&d, ad->k, false), vkg__dispatch_bind(&d, ad->v, false),
                       vkg__dispatch_bind(&d, p->n_split > 1 ? acc : ad->o, true)};
    bool v4 = vkg__dispatch_vec4(ad->Dh, off, 4);
    vkg_pc_attention_group pc = {.Tq = ad->Tq, .Tk = ad->Tk, .H = ad->H, .KV = ad->KV, .pos0 = ad->pos0,
                                 .scale = (float)((double)ad->scale * 1.4426950408889634), .q_off = off[0], .k_off = off[1],
                                 .v_off = off[2], .o_off = off[3], .n_split = p->n_split, .chunk = p->chunk};
    vkg__dispatch_spec(&d, 1, ad->Dh);
    vkg__dispatch_spec(&d, 2, v4);
    vkg__dispatch_spec(&d, 3, ad->causal);
    vkg__dispatch_spec(&d, 4, p->hb);
    vkg__dispatch_spec(&d, 5, p->rows);
    vkg__dispatch_spec(&d, 6, p->n_split > 1);
    bool split = p->n_split > 1;
    pc.ml_off = vkg__dispatch_bind(&d, split ? ml : ad->o, true);
    pc.a_off = vkg__dispatch_bind(&d, split ? acc : ad->o, true) / 4;
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    uint64_t items = vkg__ceil_div(ad->Tq, p->rows) * (ad->H / p->hb) * p->n_split;
    return vkg__dispatch_emit(lc, &d, items);
}

static vkg_result attn_emit_merge(vkg__lower_ctx *lc, const vkg__attn_desc *ad, const attn_plan *p, vkg__bufref ml, vkg__bufref acc)
{
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_ATTENTION_MERGE, LS_ELEM);
    vkg_pc_attention_merge pc = {.Tq = ad->Tq, .H = ad->H, .n_split = p->n_split};
    pc.ml_off = vkg__dispatch_bind(&d, ml, false);
    pc.a_off = vkg__dispatch_bind(&d, acc, false) / 4;
    uint32_t off[1] = {vkg__dispatch_bind(&d, ad->o, true)};
    bool v4 = vkg__dispatch_vec4(ad->Dh, off, 1);
    pc.o_off = off[0];
    vkg__dispatch_spec(&d, 1, ad->Dh);
    vkg__dispatch_spec(&d, 2, v4);
    vkg__dispatch_pc(&d, &pc, sizeof(pc));
    return vkg__dispatch_emit(lc, &d, (uint64_t)ad->Tq * ad->H * ((ad->Dh + 3) / 4));
}

/* Partials in one temp: acc rows (vec4s) first, then the (m, l) pairs, each
 * part starting at a multiple of VKG__BIND_ALIGN (element offsets 0). */
static vkg_result attn_emit_split(vkg__lower_ctx *lc, const vkg__attn_desc *ad, const attn_plan *p)
{
    uint64_t n_part = (uint64_t)ad->Tq * ad->H * p->n_split;
    uint64_t acc_bytes = n_part * ((ad->Dh + 3) / 4) * 16, acc_span = vkg__ceil_div(acc_bytes, VKG__BIND_ALIGN) * VKG__BIND_ALIGN;
    vkg_result r = vkg__dispatch_check_u32(lc, acc_bytes / 4, "attention partials");
    if (r != VKG_OK) return r;
    vkg__bufref tmp = vkg__lower_temp(lc, acc_span + n_part * 8);
    vkg__bufref acc = vkg__bufref_sub(tmp, 0, acc_bytes), ml = vkg__bufref_sub(tmp, acc_span, n_part * 8);
    if ((r = attn_emit_group(lc, ad, p, ml, acc))) return r;
    return attn_emit_merge(lc, ad, p, ml, acc);
}

vkg_result vkg__emit_attention_variant(vkg__lower_ctx *lc, const vkg__attn_desc *ad, vkg__attn_variant variant, uint32_t param)
{
    if (ad->KV == 0 || ad->H % ad->KV != 0 || ad->Dh == 0 || ad->Dh > MAX_HEAD_DIM || (unsigned)variant >= VKG__ATTN_VARIANT_COUNT)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "attention: bad sizes (H %u, KV %u, Dh %u; Dh <= %u) or variant %d",
                          ad->H, ad->KV, ad->Dh, MAX_HEAD_DIM, (int)variant);
    vkg_result r = vkg__dispatch_check_u32(lc, (uint64_t)VKG__MAX(ad->Tq, ad->Tk) * ad->H * ad->Dh, "attention");
    if (r != VKG_OK || ad->Tq == 0 || ad->H == 0) return r;
    vkg__attn_variant v = attn_choose(lc, ad, variant);
    if (v != VKG__ATTN_ROW && ad->Dh > ATTN_GROUP_MAX_DH)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "attention: grouped kernels need Dh <= %u (Dh %u)", ATTN_GROUP_MAX_DH, ad->Dh);
    switch (v) {
    case VKG__ATTN_GROUP: {
        attn_plan p = attn_plan_group(ad, param);
        return attn_emit_group(lc, ad, &p, (vkg__bufref){0}, (vkg__bufref){0});
    }
    case VKG__ATTN_SPLIT: {
        attn_plan p = attn_plan_split(ad, param);
        if (p.n_split > 1) return attn_emit_split(lc, ad, &p);
        return attn_emit_group(lc, ad, &p, (vkg__bufref){0}, (vkg__bufref){0});
    }
    default: return attn_emit_row(lc, ad);
    }
}

vkg_result vkg__emit_attention(vkg__lower_ctx *lc, const vkg__attn_desc *ad)
{
    return vkg__emit_attention_variant(lc, ad, VKG__ATTN_AUTO, 0);
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
