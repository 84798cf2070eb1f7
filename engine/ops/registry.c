/*
 * registry.c — the op table, generated from ops.def: one row per op, each
 * naming the vkg__op_<name> definition in its op file.
 */
#include "vkg_impl.h"

#define VKG__OP(name) extern const vkg__op_def vkg__op_##name;
#include "ops.def"
#undef VKG__OP

const vkg__op_def *const vkg__ops[VKG_OP_COUNT] = {
#define VKG__OP(name) [VKG_OP_##name] = &vkg__op_##name,
#include "ops.def"
#undef VKG__OP
};

_Static_assert(VKG__COUNTOF(vkg__ops) == VKG_OP_COUNT, "ops.def and the op table disagree");
