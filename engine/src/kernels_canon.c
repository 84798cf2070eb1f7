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
 * Binding offsets as in kernels.c: bound at an aligned byte offset, the rest
 * passed as an element offset; vec4 loads only when C, every stride and every
 * element offset (but the weights') are multiples of 4.
 */
#include "vkg_impl.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <string.h>

#define BIND_ALIGN 256u
#define MAX_GROUPS 65535u
#define LS_CANON 64u
#define ROWS_ONE_BLOCK 16u
#define ROWS_BLOCK 16u
#define MAX_K 64u           /* registers per invocation grow with K */

static uint32_t bind(vkg__dispatch *d, vkg__bufref r, bool write)
{
    VKG_ASSERT(d->n_bind < VKG__MAX_BINDINGS);
    VKG_ASSERT(r.offset % 4 == 0);
    uint64_t rem = r.offset % BIND_ALIGN;
    vkg__bufref b = r;
    b.offset = r.offset - rem;
    if (r.size != 0) b.size = r.size + rem;
    if (write) d->writes |= (uint8_t)(1u << d->n_bind);
    d->bind[d->n_bind++] = b;
    return (uint32_t)(rem / 4);
}

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
    if (span > UINT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "canon: %llu elements exceed the 32-bit index range", (unsigned long long)span);
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
    memset(&d, 0, sizeof d);
    d.kernel = VKG_KERNEL_CANON;
    d.node = lc->node_index;
    uint32_t off[4];
    off[0] = bind(&d, cd->x, false);
    off[1] = bind(&d, cd->y, true);
    uint32_t w_off = bind(&d, cd->w, false);
    off[2] = bind(&d, has_b ? cd->bias : cd->x, false);
    off[3] = bind(&d, has_win ? cd->win : cd->y, true);
    uint32_t C = cd->C, s[3] = {str[0], str[1], str[2]};
    bool v4 = C % 4 == 0 && s[0] % 4 == 0 && s[1] % 4 == 0 && s[2] % 4 == 0 && off[0] % 4 == 0 && off[1] % 4 == 0 &&
              off[2] % 4 == 0 && off[3] % 4 == 0;
    uint32_t u = v4 ? 4 : 1;
    uint32_t n_blocks = conv ? (cd->T - first_row + rows - 1) / rows : 1;
    vkg_pc_canon pc = {.T = cd->T, .C = C / u, .first_row = first_row, .rows = rows, .n_blocks = n_blocks,
                       .x_off = off[0] / u, .x_stride = s[0] / u, .y_off = off[1] / u, .y_stride = s[1] / u,
                       .w_off = w_off, .b_off = off[2] / u, .win_off = off[3] / u, .win_stride = s[2] / u};
    pc.flags = (has_b ? VKG_CANON_BIAS : 0) | (cd->residual ? VKG_CANON_RESIDUAL : 0) | (has_win ? VKG_CANON_READ_WIN : 0) |
               (has_win && write_win ? VKG_CANON_WRITE_WIN : 0) | (cd->K == 4 && w_off % 4 == 0 ? VKG_CANON_W_VEC4 : 0);
    d.spec[0] = LS_CANON;
    d.spec[1] = v4;
    d.spec[2] = cd->K;
    d.n_spec = 3;
    memcpy(d.pc, &pc, sizeof pc);
    d.pc_size = sizeof pc;
    uint64_t groups = ((uint64_t)pc.C * n_blocks + LS_CANON - 1) / LS_CANON;
    uint64_t gy = (groups + MAX_GROUPS - 1) / MAX_GROUPS;
    if (gy > MAX_GROUPS) return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "canon: dispatch too large");
    d.groups[0] = (uint32_t)((groups + gy - 1) / gy);
    d.groups[1] = (uint32_t)gy;
    d.groups[2] = 1;
    return vkg__lower_emit(lc, &d);
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
