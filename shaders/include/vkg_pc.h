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

/* copy.comp: y[y_off + i] = x[x_off + i], i < n. With spec 1 (vec4) set,
 * n and the offsets count vec4s. */
VKG_PC_STRUCT(vkg_pc_copy) {
    VKG_U32 n;
    VKG_U32 x_off, y_off;           /* elements (or vec4s) into the binding */
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_copy);
#endif

/* >>matmul family (matmul helper edits only this section) */

/* matmul_sg.comp, matmul_rb.comp, matmul_tiled.comp, gemv.comp
 * (engine/src/kernels_matmul.c):
 * y[m, n] = act(sum_k x[m, k] w[n, k] + bias[n]) + res[m, n].
 * Offsets are in elements from each binding's start; strides in elements. */
#define VKG_MM_HAS_BIAS 1u
#define VKG_MM_HAS_RES 2u
VKG_PC_STRUCT(vkg_pc_matmul) {
    VKG_U32 M, N, K;
    VKG_U32 x_stride, y_stride;     /* row strides of x and of y / res */
    VKG_U32 x_off, w_off, b_off, r_off, y_off;
    VKG_U32 act;                    /* vkg__act */
    VKG_U32 flags;                  /* VKG_MM_HAS_* */
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_matmul);
#endif

/* >>other kernels (kernels helper edits only this section) */
/* Common to these kernels: every binding has an element offset *_off into
 * its binding (the emitter binds at an aligned byte offset and passes the
 * rest); with the vec4 spec constant set, sizes and offsets that run along
 * contiguous rows count vec4s. */

/* unary.comp: y[i] = act(x[i]), i < n (act: spec 2). */
VKG_PC_STRUCT(vkg_pc_unary) {
    VKG_U32 n;
    VKG_U32 x_off, y_off;
};

/* binary.comp: y[i] = a[i] op b[i], i < n (op: spec 2). */
VKG_PC_STRUCT(vkg_pc_binary) {
    VKG_U32 n;
    VKG_U32 a_off, b_off, y_off;
};

/* glu.comp: y[r, f] = act(gu[r, f]) * gu[r, F + f], r < rows, f < F. */
VKG_PC_STRUCT(vkg_pc_glu) {
    VKG_U32 rows, F;
    VKG_U32 gu_off, y_off;
};

/* norm.comp: layer (spec 1 = 0) or rms (1) over rows of C. */
VKG_PC_STRUCT(vkg_pc_norm) {
    VKG_U32 rows, C;
    VKG_F32 eps;
    VKG_U32 has_w, has_b;
    VKG_U32 x_off, y_off, w_off, b_off;
};

/* norm_batch.comp: y[r, c] = w_c (x[r, c] - mean_c) / sqrt(var_c + eps) + b_c. */
VKG_PC_STRUCT(vkg_pc_norm_batch) {
    VKG_U32 n, C;                   /* n = rows * C */
    VKG_F32 eps;
    VKG_U32 has_w, has_b;
    VKG_U32 x_off, y_off, w_off, b_off, mean_off, var_off;
};

/* embed.comp: y[t, :] = table[ids[t], :]. */
VKG_PC_STRUCT(vkg_pc_embed) {
    VKG_U32 T, D;
    VKG_U32 ids_off, table_off, y_off;
};

/* add_rows.comp: y[t, :] = x[t, :] + rows[first_row + t, :]. */
VKG_PC_STRUCT(vkg_pc_add_rows) {
    VKG_U32 T, C, first_row;
    VKG_U32 x_off, rows_off, y_off;
};

/* im2col.comp: HWC image to (c, u, v)-ordered patch rows. */
VKG_PC_STRUCT(vkg_pc_im2col) {
    VKG_U32 Hh, Ww, Cin, P;
    VKG_U32 img_off, cols_off;
};

/* rope.comp: in place, one invocation per (t, head, pair); style: spec 1. */
VKG_PC_STRUCT(vkg_pc_rope) {
    VKG_U32 T, n_heads, head_dim, row_stride, rot_dims, pos0;
    VKG_F32 log2_theta_hi, log2_theta_lo;   /* log2(theta) as an unevaluated f32 sum */
    VKG_U32 x_off;
};

/* attention.comp: one invocation per (query row, head); Dh, vec4, causal: spec 1-3. */
VKG_PC_STRUCT(vkg_pc_attention) {
    VKG_U32 Tq, Tk, H, KV, pos0;
    VKG_F32 scale;
    VKG_U32 q_off, k_off, v_off, o_off;
};

/* pool.comp: y[c] = (1/T) sum_t x[t, c]. */
VKG_PC_STRUCT(vkg_pc_pool) {
    VKG_U32 T, C;
    VKG_U32 x_off, y_off;
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_unary);
VKG_PC_CHECK(vkg_pc_binary);
VKG_PC_CHECK(vkg_pc_glu);
VKG_PC_CHECK(vkg_pc_norm);
VKG_PC_CHECK(vkg_pc_norm_batch);
VKG_PC_CHECK(vkg_pc_embed);
VKG_PC_CHECK(vkg_pc_add_rows);
VKG_PC_CHECK(vkg_pc_im2col);
VKG_PC_CHECK(vkg_pc_rope);
VKG_PC_CHECK(vkg_pc_attention);
VKG_PC_CHECK(vkg_pc_pool);
#endif

/* >>canon (canon helper edits only this section) */
/* canon.comp (engine/src/kernels_canon.c): depthwise causal conv with the
 * Canon residual, OPS.md 8. C counts channel groups (vec4s with spec 1);
 * offsets and strides of x, y, bias and the window count the same units,
 * w_off counts floats. Invocations: C * n_blocks; block b covers rows
 * first_row + b*rows .. (clamped to T). */
#define VKG_CANON_BIAS 1u
#define VKG_CANON_RESIDUAL 2u
#define VKG_CANON_READ_WIN 4u
#define VKG_CANON_WRITE_WIN 8u
#define VKG_CANON_W_VEC4 16u         /* K = 4 and w_off % 4 == 0: weight rows as vec4 */
VKG_PC_STRUCT(vkg_pc_canon) {
    VKG_U32 T, C, first_row, rows, n_blocks;
    VKG_U32 x_off, x_stride, y_off, y_stride;
    VKG_U32 w_off, b_off, win_off, win_stride;
    VKG_U32 flags;                  /* VKG_CANON_* */
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_canon);
#endif

/* >>hylra (engine/src/kernels_hylra.c) */
/* hylra_select.comp: one invocation per (query row row0 + r, KV head), r < n_rows;
 * scratch s: [n_rows * KV, 2, Tk] f32; index sets idx: int32 rows (i_row0 + t) of [KV, top_k]. */
VKG_PC_STRUCT(vkg_pc_hylra_select) {
    VKG_U32 Tk, H, KV, pos0, top_k, row0, n_rows, i_row0;
    VKG_F32 scale;
    VKG_U32 q_off, k_off, s_off, i_off;
};
/* hylra_attend.comp: one invocation per (query row, head) over its index set. */
VKG_PC_STRUCT(vkg_pc_hylra_attend) {
    VKG_U32 Tq, Tk, H, KV, pos0, top_k, i_row0;
    VKG_F32 scale;
    VKG_U32 q_off, k_off, v_off, o_off, i_off;
};
/* hylra_full.comp: one invocation per (query row row0 + r, KV head), r < n_rows:
 * the group's attention, then its index sets; scratch s: [n_rows * KV, H / KV, Tk] f32. */
VKG_PC_STRUCT(vkg_pc_hylra_full) {
    VKG_U32 Tk, H, KV, pos0, top_k, row0, n_rows, i_row0;
    VKG_F32 scale;
    VKG_U32 q_off, k_off, v_off, o_off, s_off, i_off;
};
#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_hylra_select);
VKG_PC_CHECK(vkg_pc_hylra_attend);
VKG_PC_CHECK(vkg_pc_hylra_full);
#endif

/* >>affine (fold helper edits only this section) */
/* affine.comp: y[r, c] = a[c] x[r, c] + b[c] (+ z_scale z[r, c] when has_z);
 * with spec 1 (vec4) C and the offsets count vec4s. */
VKG_PC_STRUCT(vkg_pc_affine) {
    VKG_U32 rows, C;
    VKG_U32 has_z;
    VKG_F32 z_scale;
    VKG_U32 x_off, y_off, a_off, b_off, z_off;
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_affine);
#endif

/* >>moe kernels (engine/src/kernels_moe.c; the moe helper edits only this section) */
/* moe_gate.comp: per token, softmax over E logits, top K, gate weights (normalize: 0/1). */
VKG_PC_STRUCT(vkg_pc_moe_gate) {
    VKG_U32 T, E, K, normalize;
    VKG_U32 logits_off, sel_off, wt_off;
};

/* moe_sort.comp: counting sort of n = T*K expert choices, one invocation per expert. */
VKG_PC_STRUCT(vkg_pc_moe_sort) {
    VKG_U32 n, K, E;
    VKG_U32 sel_off, offs_off, rows_off, pos_off;
};

/* moe_gemm.comp: grouped GEMM over expert-sorted rows; M = rows bound per
 * expert (T), N outputs, K inner size; w, w2 stacked [E, N, K]. */
VKG_PC_STRUCT(vkg_pc_moe_gemm) {
    VKG_U32 M, N, K, E;
    VKG_U32 x_off, w_off, w2_off, offs_off, rows_off, y_off;
};

/* moe_combine.comp: y[t, c] = sum_k wt[t, k] ys[pos[t, k], c]. */
VKG_PC_STRUCT(vkg_pc_moe_combine) {
    VKG_U32 T, C, K;
    VKG_U32 ys_off, pos_off, wt_off, y_off;
};

/* moe_gru.comp: GRU cell in place on h [T, R]. */
VKG_PC_STRUCT(vkg_pc_moe_gru) {
    VKG_U32 T, R;
    VKG_U32 gi_off, gh_off, h_off;
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_moe_gate);
VKG_PC_CHECK(vkg_pc_moe_sort);
VKG_PC_CHECK(vkg_pc_moe_gemm);
VKG_PC_CHECK(vkg_pc_moe_combine);
VKG_PC_CHECK(vkg_pc_moe_gru);
#endif

/* >>linear attention and SLA (linattn; engine/src/kernels_linear.c) */
/* linattn_chunk/scan/out/step.comp: layouts in shaders/include/linattn.glsl.
 * Offsets in elements into each binding (multiples of 4 for S, P and, with
 * vec4 loads, q, k, v, o). */
#define VKG_LA_DECAY 1u             /* gamma_h = sigmoid(decay[d_off + h]) */
#define VKG_LA_INIT_ZERO 2u         /* start from a zero state instead of S, z */
VKG_PC_STRUCT(vkg_pc_linattn) {
    VKG_U32 T, H, KV, chunk, n_chunks;
    VKG_U32 flags;                  /* VKG_LA_* */
    VKG_U32 q_off, k_off, v_off, o_off, s_off, z_off, p_off, pz_off, d_off;
};

/* sla_dwc.comp: depthwise conv of v added to o (causal or on a grid), window update. */
VKG_PC_STRUCT(vkg_pc_sla_dwc) {
    VKG_U32 T, H, KV, D, K, pos0;
    VKG_U32 gh, gw;
    VKG_U32 v_off, w_off, b_off, win_off, o_off;
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_linattn);
VKG_PC_CHECK(vkg_pc_sla_dwc);
#endif

/* >>attention variants (attnperf; engine/src/kernels.c vkg__emit_attention) */
/* attention_group.comp: one invocation per (block of rows, block of heads of
 * one KV head, key chunk); scale includes log2(e). Keys of chunk s:
 * [s chunk, (s+1) chunk); n_split 1 writes o, more write partials (ml: (m, l)
 * pairs; a: vec4 acc rows) for attention_merge.comp. Offsets in elements
 * (q, k, v, o in vec4s with spec 2; a always in vec4s). */
VKG_PC_STRUCT(vkg_pc_attention_group) {
    VKG_U32 Tq, Tk, H, KV, pos0;
    VKG_F32 scale;
    VKG_U32 q_off, k_off, v_off, o_off;
    VKG_U32 n_split, chunk, ml_off, a_off;
};

/* attention_merge.comp: one invocation per (row, head, vec4 of the head). */
VKG_PC_STRUCT(vkg_pc_attention_merge) {
    VKG_U32 Tq, H, n_split;
    VKG_U32 ml_off, a_off, o_off;
};

#ifndef GL_core_profile
VKG_PC_CHECK(vkg_pc_attention_group);
VKG_PC_CHECK(vkg_pc_attention_merge);
#endif

#endif
