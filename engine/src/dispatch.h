/*
 * dispatch.h — the helpers every kernel emitter (kernels*.c) uses to fill one
 * abstract vkg__dispatch (dispatch.c): kernel and specialization constants,
 * buffer bindings, push constants, workgroup counts, the 32-bit index check
 * and the vec4 choice. Internal to engine/src; include after vkg_impl.h.
 *
 * Binding offsets: vkg__dispatch_bind binds at the byte offset rounded down to
 * VKG__BIND_ALIGN (a multiple of any minStorageBufferOffsetAlignment) and
 * returns the rest in elements (4-byte units) for the push constants, so
 * callers may use any 4-byte aligned offset. vkg__dispatch_bind_aligned takes
 * the alignment (matmul uses the device's, vkg__dispatch_storage_align).
 *
 * Workgroups: 1-D up to VKG__MAX_GROUPS, else a 2-D grid split evenly over x
 * and y; the shaders flatten with vkg_flat_id (index.glsl) or
 * gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x and drop what lies
 * past the end.
 */
#ifndef VKG_DISPATCH_H
#define VKG_DISPATCH_H

#include "vkg_impl.h"

#define VKG__BIND_ALIGN 256u
#define VKG__MAX_GROUPS 65535u

static inline uint64_t vkg__ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* Zeroes d and sets the kernel, spec 0 (the local size) and the node. */
void vkg__dispatch_init(vkg__lower_ctx *lc, vkg__dispatch *d, int kernel, uint32_t local_size);
/* Sets spec constant i (the ones below it that are unset stay 0). */
void vkg__dispatch_spec(vkg__dispatch *d, int i, uint32_t v);

/* Adds a binding at r's byte offset aligned down to VKG__BIND_ALIGN (r.offset
 * a multiple of 4); returns the remaining offset in elements. */
uint32_t vkg__dispatch_bind(vkg__dispatch *d, vkg__bufref r, bool write);
uint32_t vkg__dispatch_bind_aligned(vkg__dispatch *d, vkg__bufref r, bool write, uint64_t align);
/* Optional input: an absent r binds `stand_in` (never read: the shader checks
 * *present) so that every descriptor is valid. */
uint32_t vkg__dispatch_bind_opt(vkg__dispatch *d, vkg__bufref r, vkg__bufref stand_in, uint32_t *present);
/* The device's storage-buffer offset alignment, at least 16 (vec4 views stay
 * aligned); VKG__BIND_ALIGN without a device. */
uint64_t vkg__dispatch_storage_align(const vkg__lower_ctx *lc);

void vkg__dispatch_pc(vkg__dispatch *d, const void *pc, uint32_t size);

/* n_groups workgroups (0 counts as 1); VKG_ERR_UNSUPPORTED past 65535^2. */
vkg_result vkg__dispatch_groups(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_groups);
/* Enough workgroups of spec 0 invocations for n_items. */
vkg_result vkg__dispatch_items(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items);
/* vkg__dispatch_items, then vkg__lower_emit. */
vkg_result vkg__dispatch_emit(vkg__lower_ctx *lc, vkg__dispatch *d, uint64_t n_items);

/* VKG_ERR_UNSUPPORTED when n elements exceed the shaders' 32-bit indices. */
vkg_result vkg__dispatch_check_u32(vkg__lower_ctx *lc, uint64_t n, const char *what);

/* Whether vec4 loads fit: len (the contiguous row length) and the n element
 * offsets off[] are multiples of 4. */
bool vkg__dispatch_vec4_ok(uint32_t len, const uint32_t *off, int n);
/* vkg__dispatch_vec4_ok, and if so off[] turned into vec4 offsets (/ 4). */
bool vkg__dispatch_vec4(uint32_t len, uint32_t *off, int n);

#endif
