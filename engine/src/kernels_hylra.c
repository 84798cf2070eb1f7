/*
 * kernels_hylra.c — emitters of the HyLRA kernels (OPS.md 11):
 * hylra_select.comp (a full layer's index sets: per query row and KV head the
 * group's summed softmax probabilities into a scratch row, then the top K by
 * a bitwise search on the f32 bit patterns) and hylra_attend.comp (a reuse
 * layer's attention over those sets). Both run one invocation per row, the
 * lavapipe design of attention.comp (LAVAPIPE.md: no shared memory, no
 * barriers). Offsets as in kernels.c: bind at an aligned byte offset, pass the
 * rest as an element offset.
 */
#include "vkg_impl.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <string.h>

#define BIND_ALIGN 256u
#define MAX_GROUPS 65535u
#define LS_ROW 16u
#define MAX_HEAD_DIM 512u
#define MAX_REP 64u
#define SCRATCH_BYTES (32ull << 20)     /* per select dispatch; well under the 128 MiB binding limit */

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

/* Spec 2 (vec4 loads) is set once the bindings are known. */
static void dispatch_init(vkg__lower_ctx *lc, vkg__dispatch *d, int kernel, const vkg__hylra_desc *hd)
{
    memset(d, 0, sizeof(*d));
    d->kernel = kernel;
    d->spec[0] = LS_ROW;
    d->spec[1] = hd->Dh;
    d->spec[3] = hd->causal;
    d->n_spec = 4;
    d->node = lc->node_index;
}

static vkg_result emit_rows(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items)
{
    uint64_t n_groups = (n_items + LS_ROW - 1) / LS_ROW;
    uint64_t gy = (n_groups + MAX_GROUPS - 1) / MAX_GROUPS;
    if (gy == 0) gy = 1;
    if (gy > MAX_GROUPS) return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "hylra: dispatch of %llu rows is too large", (unsigned long long)n_items);
    uint64_t gx = (n_groups + gy - 1) / gy;
    d->groups[0] = (uint32_t)(gx ? gx : 1);
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return vkg__lower_emit(lc, d);
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

/* q and k (and v, o) offsets in vec4s when Dh and every offset allow. */
static bool use_vec4(uint32_t Dh, uint32_t *off, int n)
{
    bool v4 = Dh % 4 == 0;
    for (int i = 0; i < n; i++) v4 = v4 && off[i] % 4 == 0;
    for (int i = 0; v4 && i < n; i++) off[i] /= 4;
    return v4;
}

vkg_result vkg__emit_hylra_select(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    vkg_result r = check_sizes(lc, hd);
    if (r != VKG_OK || hd->Tq == 0) return r;
    uint64_t row_bytes = (uint64_t)hd->KV * hd->Tk * 8;     /* score and raw rows */
    uint64_t chunk = VKG__MAX(1, VKG__MIN((uint64_t)hd->Tq, SCRATCH_BYTES / row_bytes));
    if (chunk * row_bytes > UINT32_MAX) return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "hylra: %u keys are too many", hd->Tk);
    vkg__bufref scratch = vkg__lower_temp(lc, chunk * row_bytes);
    for (uint64_t row0 = 0; row0 < hd->Tq && r == VKG_OK; row0 += chunk) {
        vkg__dispatch d;
        dispatch_init(lc, &d, VKG_KERNEL_HYLRA_SELECT, hd);
        uint32_t off[2] = {bind(&d, hd->q, false), bind(&d, hd->k, false)};
        d.spec[2] = use_vec4(hd->Dh, off, 2);
        d.spec[4] = hd->H / hd->KV;
        d.n_spec = 5;
        uint32_t n_rows = (uint32_t)VKG__MIN(chunk, hd->Tq - row0);
        vkg_pc_hylra_select pc = {.Tk = hd->Tk, .H = hd->H, .KV = hd->KV, .pos0 = hd->pos0, .top_k = hd->top_k, .row0 = (uint32_t)row0,
                                  .n_rows = n_rows, .i_row0 = hd->i_row0, .scale = hd->scale, .q_off = off[0], .k_off = off[1]};
        pc.s_off = bind(&d, scratch, true);
        pc.i_off = bind(&d, hd->idx, true);
        memcpy(d.pc, &pc, sizeof pc);
        d.pc_size = sizeof pc;
        r = emit_rows(lc, &d, (uint64_t)n_rows * hd->KV);
    }
    return r;
}

vkg_result vkg__emit_hylra_attend(vkg__lower_ctx *lc, const vkg__hylra_desc *hd)
{
    vkg_result r = check_sizes(lc, hd);
    if (r != VKG_OK || hd->Tq == 0) return r;
    vkg__dispatch d;
    dispatch_init(lc, &d, VKG_KERNEL_HYLRA_ATTEND, hd);
    uint32_t off[4] = {bind(&d, hd->q, false), bind(&d, hd->k, false), bind(&d, hd->v, false), bind(&d, hd->o, true)};
    d.spec[2] = use_vec4(hd->Dh, off, 4);
    vkg_pc_hylra_attend pc = {.Tq = hd->Tq, .Tk = hd->Tk, .H = hd->H, .KV = hd->KV, .pos0 = hd->pos0, .top_k = hd->top_k,
                              .i_row0 = hd->i_row0, .scale = hd->scale, .q_off = off[0], .k_off = off[1], .v_off = off[2], .o_off = off[3]};
    pc.i_off = bind(&d, hd->idx, false);
    memcpy(d.pc, &pc, sizeof pc);
    d.pc_size = sizeof pc;
    return emit_rows(lc, &d, (uint64_t)hd->Tq * hd->H);
}
