/*
 * binary.c — `add` and `mul`: elementwise over two tensors of the same shape.
 */
#include "op_util.h"

static vkg_result binary_infer(vkg__infer_ctx *ic) {
    vkg_result r;
    if ((r = vkg__expect_f32(ic, 0, -1)) || (r = vkg__expect_f32(ic, 1, -1))) return r;
    if (!vkg__shape_equal(&ic->in[0], &ic->in[1])) {
        char a[96], b[96];
        vkg__shape_str(ic->g, &ic->in[0], a, sizeof a);
        vkg__shape_str(ic->g, &ic->in[1], b, sizeof b);
        return vkg__node_error(ic->g, ic->node, "in", "shape mismatch between its inputs: %s and %s", a, b);
    }
    ic->out = ic->in[0];
    return VKG_OK;
}

static vkg_result binary_ref(vkg__ref_ctx *rc, vkg__binop op) {
    const float *a = rc->in[0], *b = rc->in[1];
    int64_t n = vkg__shape_numel(&rc->out_shape);
    for (int64_t i = 0; i < n; i++) rc->out[i] = op == VKG__BIN_ADD ? a[i] + b[i] : a[i] * b[i];
    return VKG_OK;
}

static vkg_result add_ref(vkg__ref_ctx *rc) { return binary_ref(rc, VKG__BIN_ADD); }
static vkg_result mul_ref(vkg__ref_ctx *rc) { return binary_ref(rc, VKG__BIN_MUL); }

static vkg_result add_lower(vkg__lower_ctx *lc) {
    return vkg__emit_binary(lc, lc->in[0], lc->in[1], lc->out, (uint64_t)vkg__shape_numel(&lc->out_shape), VKG__BIN_ADD);
}
static vkg_result mul_lower(vkg__lower_ctx *lc) {
    return vkg__emit_binary(lc, lc->in[0], lc->in[1], lc->out, (uint64_t)vkg__shape_numel(&lc->out_shape), VKG__BIN_MUL);
}

/* `in: [A, B]` is taken by the frontend; the ops have no other argument. */
const vkg__op_def vkg__op_add = {.name = "add", .args = (const char *const[]){NULL}, .infer = binary_infer, .ref = add_ref, .lower = add_lower};
const vkg__op_def vkg__op_mul = {.name = "mul", .args = (const char *const[]){NULL}, .infer = binary_infer, .ref = mul_ref, .lower = mul_lower};
