/*
 * kernels_canon.c — the emitter of the Canon layer kernel (shaders/canon.comp,
 * OPS.md 8): a depthwise causal conv over rows with the Canon residual, its
 * left context read from and its last K-1 inputs written back to a decoding
 * window.
 *
 * Work split (LAVAPIPE.md: loads set the speed): one invocation per channel
 * (or vec4 of channels) and block of rows, with the weights and a sliding
 * history of the last K-1 inputs in registers, so every input is loaded
 * about once. A call of at most ROWS_ONE_BLOCK rows (decoding steps, short
 * chunks) is one block per channel: one dispatch that also writes the window
 * back. Longer calls use blocks of ROWS_BLOCK rows and a second dispatch of
 * the same shader that moves the window after every block has read it (the
 * barrier between them comes from the lowering: it writes what the first read).
 *
 * y and the window count as written by every dispatch (the validation layer
 * judges by the shader's declarations, not by what a dispatch stores), and
 * an absent window binds y as its stand-in.
 *
 * Binding offsets as in kernels.c (dispatch.h): bound at an aligned byte
 * offset, the rest passed as an element offset; vec4 loads only when C, every
 * stride and every element offset (but the weights') are multiples of 4.
 */
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#define LS_CANON 64u
#define ROWS_ONE_BLOCK 16u
#define ROWS_BLOCK 16u
#define MAX_K 64u           /* registers per invocation grow with K */

static bool overlap(vkg__bufref a, uint64_t a_bytes, vkg__bufref b, uint64_t b_bytes)
{
    if (a.kind != b.kind || a.index != b.index) return false;
    return a.offset < b.offset + b_bytes && b.offset < a.offset + a_bytes;
}

static vkg_result check_desc(vkg__lower_ctx *lc, const vkg__canon_desc *cd, uint32_t xs, uint32_t ys, uint32_t ws)
{
    if (cd->K == 0 || cd->K > MAX_K)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "canon: kernel %u outside 1..%u", cd->K, MAX_K);
    if (xs < cd->C || ys < cd->C || ws < cd->C)
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "canon: a row stride is below C = %u", cd->C);
    uint64_t span = ((uint64_t)cd->T + cd->K) * VKG__MAX(VKG__MAX(xs, ys), ws);
    vkg_result r = vkg__dispatch_check_u32(lc, span, "canon");
    if (r != VKG_OK) return r;
    uint64_t xb = ((uint64_t)(cd->T - 1) * xs + cd->C) * 4, yb = ((uint64_t)(cd->T - 1) * ys + cd->C) * 4;
    if (overlap(cd->x, xb, cd->y, yb))
        return vkg__error(lc->ctx, VKG_ERR_INVALID_ARG, "canon: x and y overlap (the conv cannot run in place)");
    return VKG_OK;
}

/* One dispatch: rows first_row .. T in blocks of `rows` (update only: first_row = T). */
static vkg_result emit_part(vkg__lower_ctx *lc, const vkg__canon_desc *cd, const uint32_t str[3], uint32_t first_row,
                            uint32_t rows, bool write_win)
{
    bool has_win = cd->win.kind != VKG__BUF_NONE && cd->K > 1, has_b = cd->bias.kind != VKG__BUF_NONE;
    bool conv = first_row < cd->T;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_CANON, LS_CANON);
    uint32_t o[7];                  /* element offsets of x, y, bias, win; strides of x, y, win */
    o[0] = vkg__dispatch_bind(&d, cd->x, false);
    o[1] = vkg__dispatch_bind(&d, cd->y, true);
    uint32_t w_off = vkg__dispatch_bind(&d, cd->w, false);
    o[2] = vkg__dispatch_bind(&d, has_b ? cd->bias : cd->x, false);
    o[3] = vkg__dispatch_bind(&d, has_win ? cd->win : cd->y, true);
    o[4] = str[0], o[5] = str[1], o[6] = str[2];
    bool v4 = vkg__dispatch_vec4(cd->C, o, 7);
    uint32_t n_blocks = conv ? (cd->T - first_row + rows - 1) / rows : 1;
    vkg_pc_canon pc = {.T = cd->T, .C = v4 ? cd->C / 4 : cd->C, .first_row = first_row, .rows = rows, .n_blocks = n_blocks,
                       .x_off = o[0], .x_stride = o[4], .y_off = o[1], .y_stride = o[5],
                       .w_off = w_off, .b_off = o[2], .win_off = o[3], .win_stride = o[6]};
    pc.flags = (has_b ? VKG_CANON_BIAS : 0) | (cd->residual ? VKG_CANON_RESIDUAL : 0) | (has_win ? VKG_CANON_READ_WIN : 0) |
               (has_win && write_win ? VKG_CANON_WRITE_WIN : 0) | (cd->K == 4 && w_off % 4 == 0 ? VKG_CANON_W_VEC4 : 0);
    vkg__dispatch_spec(&d, 1, v4);
    vkg__dispatch_spec(&d, 2, cd->K);
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, (uint64_t)pc.C * n_blocks);
}

vkg_result vkg__emit_canon(vkg__lower_ctx *lc, const vkg__canon_desc *cd)
{
    if (cd->T == 0 || cd->C == 0) return VKG_OK;
    uint32_t str[3] = {cd->x_stride ? cd->x_stride : cd->C, cd->y_stride ? cd->y_stride : cd->C,
                       cd->win_stride ? cd->win_stride : cd->C};
    vkg_result r = check_desc(lc, cd, str[0], str[1], str[2]);
    if (r != VKG_OK) return r;
    bool keeps = cd->win.kind != VKG__BUF_NONE && cd->K > 1;
    if (cd->T <= ROWS_ONE_BLOCK) return emit_part(lc, cd, str, 0, cd->T, true);
    if ((r = emit_part(lc, cd, str, 0, ROWS_BLOCK, false)) != VKG_OK || !keeps) return r;
    return emit_part(lc, cd, str, cd->T, ROWS_BLOCK, true);
}
