/*
 * vkg_pc.h — push-constant structs, one per kernel, valid in both C and GLSL.
 * 32-bit scalars only (uint32_t / float), each struct at most 128 bytes.
 * In GLSL include it inside `layout(push_constant) uniform PC { VKG_PC_x pc; };`
 * style blocks via the VKG_PC_* macros below.
 */
#ifndef VKG_PC_H
#define VKG_PC_H

#ifdef GL_core_profile
#define VKG_U32 uint
#define VKG_F32 float
#define VKG_PC_STRUCT(name) struct name
#else
#include <stdint.h>
#define VKG_U32 uint32_t
#define VKG_F32 float
#define VKG_PC_STRUCT(name) typedef struct name name; struct name
#define VKG_PC_CHECK(name) _Static_assert(sizeof(name) <= 128, #name " exceeds 128 bytes")
#endif

/* copy.comp: y[i] = x[i], i < n */
VKG_PC_STRUCT(vkg_pc_copy) {
    VKG_U32 n;
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_copy);
#endif

/* >>matmul family (matmul helper edits only this section) */

/* >>other kernels (kernels helper edits only this section) */

#endif
