/*
 * kernels_affine.c — emitter of the per-channel affine kernel (affine.comp):
 * y[r, c] = a[c] x[r, c] + b[c], optionally plus z_scale * z[r, c]. It runs
 * BatchNorm and RepBN at inference (OPS.md 6) with a and b computed at model
 * load, and PRepBN's blend with a LayerNorm result in z.
 *
 * Like kernels.c it only builds an abstract vkg__dispatch and hands it to
 * vkg__lower_emit: bindings at offsets rounded down to BIND_ALIGN with the
 * rest passed as an element offset, one element per invocation, vec4 when C
 * and every element offset are multiples of 4 (LAVAPIPE.md).
 */
#include "vkg_impl.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <string.h>

#define BIND_ALIGN 256u
#define MAX_GROUPS 65535u
#define LS_ELEM 128u

/* Adds a binding at an aligned offset; returns the remaining offset in floats. */
static uint32_t bind(vkg__dispatch *d, vkg__bufref r, bool write) {
    VKG_ASSERT(d->n_bind < VKG__MAX_BINDINGS && r.offset % 4 == 0);
    uint64_t rem = r.offset % BIND_ALIGN;
    vkg__bufref b = r;
    b.offset = r.offset - rem;
    if (r.size != 0) b.size = r.size + rem;
    if (write) d->writes |= (uint8_t)(1u << d->n_bind);
    d->bind[d->n_bind++] = b;
    return (uint32_t)(rem / 4);
}

static vkg_result set_items(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items) {
    uint64_t n_groups = (n_items + LS_ELEM - 1) / LS_ELEM;
    uint64_t gy = (n_groups + MAX_GROUPS - 1) / MAX_GROUPS;
    if (gy == 0) gy = 1;
    if (gy > MAX_GROUPS)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "affine: dispatch of %llu workgroups is too large", (unsigned long long)n_groups);
    uint64_t gx = (n_groups + gy - 1) / gy;
    d->groups[0] = (uint32_t)(gx ? gx : 1);
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return VKG_OK;
}

vkg_result vkg__emit_affine(vkg__lower_ctx *lc, const vkg__affine_desc *ad) {
    uint64_t n = (uint64_t)ad->rows * ad->C;
    if (n > UINT32_MAX) return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "affine: %llu elements exceed the 32-bit index range", (unsigned long long)n);
    if (n == 0) return VKG_OK;
    vkg__dispatch d;
    memset(&d, 0, sizeof d);
    d.kernel = VKG_KERNEL_AFFINE;
    d.spec[0] = LS_ELEM;
    d.n_spec = 2;
    d.node = lc->node_index;
    bool has_z = ad->z.kind != VKG__BUF_NONE;
    uint32_t off[5] = {bind(&d, ad->x, false), bind(&d, ad->y, true), bind(&d, ad->a, false), bind(&d, ad->b, false),
                       bind(&d, has_z ? ad->z : ad->x, false)};
    bool v4 = ad->C % 4 == 0;
    for (int i = 0; i < 5; i++) v4 = v4 && off[i] % 4 == 0;
    uint32_t div = v4 ? 4 : 1;
    d.spec[1] = v4;
    vkg_pc_affine pc = {.rows = ad->rows, .C = ad->C / div, .has_z = has_z, .z_scale = ad->z_scale, .x_off = off[0] / div,
                        .y_off = off[1] / div, .a_off = off[2] / div, .b_off = off[3] / div, .z_off = off[4] / div};
    memcpy(d.pc, &pc, sizeof pc);
    d.pc_size = sizeof pc;
    vkg_result r = set_items(lc, &d, (uint64_t)pc.rows * pc.C);
    return r ? r : vkg__lower_emit(lc, &d);
}
