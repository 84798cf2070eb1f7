/*
 * kernels_affine.c — emitter of the per-channel affine kernel (affine.comp):
 * y[r, c] = a[c] x[r, c] + b[c], optionally plus z_scale * z[r, c]. It runs
 * BatchNorm and RepBN at inference (OPS.md 6) with a and b computed at model
 * load, and PRepBN's blend with a LayerNorm result in z.
 *
 * Like kernels.c it only builds an abstract vkg__dispatch (dispatch.h) and
 * hands it to vkg__lower_emit: bindings at offsets rounded down to
 * VKG__BIND_ALIGN with the rest passed as an element offset, one element per
 * invocation, vec4 when C and every element offset are multiples of 4
 * (LAVAPIPE.md).
 */
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#define LS_ELEM 128u

vkg_result vkg__emit_affine(vkg__lower_ctx *lc, const vkg__affine_desc *ad) {
    uint64_t n = (uint64_t)ad->rows * ad->C;
    vkg_result r = vkg__dispatch_check_u32(lc, n, "affine");
    if (r != VKG_OK || n == 0) return r;
    vkg__dispatch d;
    vkg__dispatch_init(lc, &d, VKG_KERNEL_AFFINE, LS_ELEM);
    bool has_z = ad->z.kind != VKG__BUF_NONE;
    uint32_t off[5] = {vkg__dispatch_bind(&d, ad->x, false), vkg__dispatch_bind(&d, ad->y, true), vkg__dispatch_bind(&d, ad->a, false),
                       vkg__dispatch_bind(&d, ad->b, false), vkg__dispatch_bind(&d, has_z ? ad->z : ad->x, false)};
    bool v4 = vkg__dispatch_vec4(ad->C, off, 5);
    vkg__dispatch_spec(&d, 1, v4);
    vkg_pc_affine pc = {.rows = ad->rows, .C = v4 ? ad->C / 4 : ad->C, .has_z = has_z, .z_scale = ad->z_scale, .x_off = off[0],
                        .y_off = off[1], .a_off = off[2], .b_off = off[3], .z_off = off[4]};
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    return vkg__dispatch_emit(lc, &d, (uint64_t)pc.rows * pc.C);
}
