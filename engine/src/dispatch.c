/*
 * dispatch.c — the one implementation of the small helpers that fill an
 * abstract vkg__dispatch for the kernel emitters (kernels*.c; declared in
 * dispatch.h): bindings at aligned offsets with element remainders, spec and
 * push constants, 1-D / 2-D workgroup grids, the 32-bit index check and the
 * vec4 choice. Calls only the lowering interface (vkg__lower_emit) and
 * result.c; it never touches Vulkan.
 */
#include "dispatch.h"

#include <string.h>

void vkg__dispatch_init(vkg__lower_ctx *lc, vkg__dispatch *d, int kernel, uint32_t local_size)
{
    memset(d, 0, sizeof(*d));
    d->kernel = kernel;
    d->spec[0] = local_size;
    d->n_spec = 1;
    d->node = lc->node_index;
}

void vkg__dispatch_spec(vkg__dispatch *d, int i, uint32_t v)
{
    VKG_ASSERT(i >= 0 && i < VKG__MAX_SPEC);
    d->spec[i] = v;
    if (d->n_spec < i + 1) d->n_spec = i + 1;
}

uint32_t vkg__dispatch_bind_aligned(vkg__dispatch *d, vkg__bufref r, bool write, uint64_t align)
{
    VKG_ASSERT(d->n_bind < VKG__MAX_BINDINGS);
    VKG_ASSERT(r.offset % 4 == 0);
    uint64_t rem = r.offset % align;
    vkg__bufref b = r;
    b.offset = r.offset - rem;
    if (r.size != 0) b.size = r.size + rem;
    if (write) d->writes |= (uint8_t)(1u << d->n_bind);
    d->bind[d->n_bind++] = b;
    return (uint32_t)(rem / 4);
}

uint32_t vkg__dispatch_bind(vkg__dispatch *d, vkg__bufref r, bool write)
{
    return vkg__dispatch_bind_aligned(d, r, write, VKG__BIND_ALIGN);
}

uint32_t vkg__dispatch_bind_opt(vkg__dispatch *d, vkg__bufref r, vkg__bufref stand_in, uint32_t *present)
{
    *present = r.kind != VKG__BUF_NONE;
    return vkg__dispatch_bind(d, *present ? r : stand_in, false);
}

uint64_t vkg__dispatch_storage_align(const vkg__lower_ctx *lc)
{
    uint64_t align = VKG__BIND_ALIGN;
    if (lc->ctx && lc->ctx->vk && lc->ctx->vk->storage_align) align = lc->ctx->vk->storage_align;
    return VKG__MAX(align, 16);
}

void vkg__dispatch_pc(vkg__dispatch *d, const void *pc, uint32_t size)
{
    VKG_ASSERT(size <= sizeof(d->pc));
    memcpy(d->pc, pc, size);
    d->pc_size = size;
}

vkg_result vkg__dispatch_groups(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_groups)
{
    uint64_t gy = VKG__MAX(vkg__ceil_div(n_groups, VKG__MAX_GROUPS), 1);
    if (gy > VKG__MAX_GROUPS)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "dispatch of %llu workgroups is too large",
                          (unsigned long long)n_groups);
    uint64_t gx = VKG__MAX(vkg__ceil_div(n_groups, gy), 1);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return VKG_OK;
}

vkg_result vkg__dispatch_items(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items)
{
    return vkg__dispatch_groups(lc, d, vkg__ceil_div(n_items, d->spec[0]));
}

vkg_result vkg__dispatch_emit(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items)
{
    vkg_result r = vkg__dispatch_items(lc, d, n_items);
    return r != VKG_OK ? r : vkg__lower_emit(lc, d);
}

vkg_result vkg__dispatch_check_u32(vkg__lower_ctx *lc, uint64_t n, const char *what)
{
    if (n > UINT32_MAX)
        return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "%s: %llu elements exceed the 32-bit index range",
                          what, (unsigned long long)n);
    return VKG_OK;
}

bool vkg__dispatch_vec4_ok(uint32_t len, const uint32_t *off, int n)
{
    if (len % 4 != 0) return false;
    for (int i = 0; i < n; i++)
        if (off[i] % 4 != 0) return false;
    return true;
}

bool vkg__dispatch_vec4(uint32_t len, uint32_t *off, int n)
{
    if (!vkg__dispatch_vec4_ok(len, off, n)) return false;
    for (int i = 0; i < n; i++) off[i] /= 4;
    return true;
}
