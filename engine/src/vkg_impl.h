/*
 * vkg_impl.h — internal declarations shared by the engine's files.
 * Not installed; nothing outside engine/ (and tests) includes it.
 *
 * Sections: context and errors, arena, IR, op registry, CPU reference,
 * lowering (abstract dispatches), Vulkan runtime, safetensors / npy / rng.
 */
#ifndef VKG_IMPL_H
#define VKG_IMPL_H

#include "vkg.h"
#include <stdarg.h>

#define VKG_ASSERT(c) ((c) ? (void)0 : vkg__assert_fail(#c, __FILE__, __LINE__))
void vkg__assert_fail(const char *what, const char *file, int line);

#define VKG__MIN(a, b) ((a) < (b) ? (a) : (b))
#define VKG__MAX(a, b) ((a) > (b) ? (a) : (b))
#define VKG__COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* >>context and errors (result.c) -----------------------------------------*/
typedef struct vkg__vk_device vkg__vk_device;

struct vkg_context {
    vkg_context_desc desc;          /* defaults resolved */
    vkg_allocator alloc;
    char err[4096];
    vkg__vk_device *vk;             /* NULL for the CPU backend */
};

/* Records a message and returns r (so: `return vkg__error(ctx, r, ...)`). */
vkg_result vkg__error(vkg_context *ctx, vkg_result r, const char *fmt, ...);
/* Same, prefixed with "FILE:LINE:COL: " when loc has a line. */
vkg_result vkg__error_at(vkg_context *ctx, vkg_result r, vkg_loc loc, const char *fmt, ...);
void vkg__log(vkg_context *ctx, vkg_log_level level, const char *fmt, ...);
void *vkg__malloc(vkg_context *ctx, size_t size);   /* through the context allocator */
void *vkg__calloc(vkg_context *ctx, size_t n, size_t size);
void vkg__free(vkg_context *ctx, void *p);
char *vkg__strdup(vkg_context *ctx, const char *s);
/* Edit distance, for "did you mean" suggestions. */
int vkg__edit_distance(const char *a, const char *b);
const char *vkg__closest(const char *word, const char *const *choices, int n);

/* >>arena (arena.c): chunked bump allocator, 16-byte aligned ---------------*/
typedef struct vkg__arena_chunk vkg__arena_chunk;
typedef struct vkg__arena {
    vkg_context *ctx;
    vkg__arena_chunk *head;
} vkg__arena;
void *vkg__arena_alloc(vkg__arena *a, size_t size);      /* zeroed; NULL on OOM */
char *vkg__arena_strdup(vkg__arena *a, const char *s);
void vkg__arena_free_all(vkg__arena *a);

/* >>IR (ir.c, value.c) ----------------------------------------------------*/
/* Symbolic sizes: a dim < 0 is -(k+1) for the k-th run-time symbol ("T"),
 * or VKG__DIM_DYN when derived from one in a way the IR does not track. */
#define VKG__DIM_DYN (-1000000)
#define VKG__SYM(k) (-(int64_t)(k) - 1)
#define VKG__MAX_SYMS 8

typedef struct vkg__shape {
    int n_dims;
    int64_t ne[VKG_MAX_DIMS];
} vkg__shape;

vkg_value *vkg__value_copy(vkg__arena *a, const vkg_value *v);   /* deep copy */

/* Runs shape inference on concrete sizes: sym_values[k] binds the k-th
 * run-time symbol. Writes every tensor's concrete shape into shapes[n_tensors]. */
vkg_result vkg__graph_bind(vkg_graph *g, const int64_t *sym_values, vkg__shape *shapes);
/* Binds run-time symbols from the given input shapes (input_shapes[n_inputs]). */
vkg_result vkg__graph_bind_inputs(vkg_graph *g, const vkg__shape *input_shapes, int64_t *sym_values);

int64_t vkg__shape_numel(const vkg__shape *s);   /* dims must be concrete */
bool vkg__shape_concrete(const vkg__shape *s);
bool vkg__shape_equal(const vkg__shape *a, const vkg__shape *b);
/* "[T, 128]"; symbols by name when g is non-NULL. */
void vkg__shape_str(const vkg_graph *g, const vkg__shape *s, char *buf, size_t n);

typedef struct vkg__tensor {
    const char *name;               /* NULL when unnamed */
    vkg_loc loc;
    vkg_dtype dtype;
    vkg__shape shape;               /* symbolic (see above) */
    int producer;                   /* node index, or -1 for a graph input */
    int input_index;                /* for graph inputs */
} vkg__tensor;

typedef enum vkg__init {            /* random-initialisation law, OPS.md 16 */
    VKG__INIT_NORMAL, VKG__INIT_ONES, VKG__INIT_ZEROS, VKG__INIT_COUNT
} vkg__init;

typedef struct vkg__weight {        /* one weight key the graph needs */
    const char *key;
    vkg__shape shape;               /* concrete */
    vkg__init init;
    int conv_layout;                /* 1: may also come as [C, 1, K] / [Dh, 1, k, k] */
} vkg__weight;

#define VKG__MAX_NODE_WEIGHTS 24

typedef enum vkg_op {
#define VKG__OP(name) VKG_OP_##name,
#include "../ops/ops.def"
#undef VKG__OP
    VKG_OP_COUNT
} vkg_op;

typedef struct vkg__node {
    vkg_op op;
    vkg_loc loc;                    /* of the op key */
    const vkg_value *args;          /* deep copy, for argument locations */
    void *params;                   /* the op's typed params struct */
    const char *prefix;             /* weight prefix: name, or OP.N */
    int op_index;                   /* N among nodes of this op */
    int n_in;
    int in[2];                      /* tensor indices */
    int out;                        /* tensor index */
    int n_weights;
    int weights[VKG__MAX_NODE_WEIGHTS]; /* indices into g->weights, in the op's declared order */
    bool causal;                    /* false: the node cannot be decoded token by token (set by infer) */
} vkg__node;

typedef struct vkg__dim {
    const char *name;
    int64_t value;
} vkg__dim;

struct vkg_graph {
    vkg_context *ctx;
    vkg__arena arena;
    const char *name;
    const char *file;
    vkg__dim *dims; int n_dims, cap_dims;
    const char *syms[VKG__MAX_SYMS]; int n_syms;    /* run-time symbols, in order of appearance */
    vkg__tensor *tensors; int n_tensors, cap_tensors;
    vkg__node *nodes; int n_nodes, cap_nodes;
    int inputs[16]; int n_inputs;                    /* tensor indices */
    int outputs[64]; const char *output_names[64]; int n_outputs;
    vkg__weight *weights; int n_weights, cap_weights;
    vkg_weights_source wsrc; bool has_wsrc;
    const char *weights_path_abs;                    /* resolved relative to the file */
    int op_counts[VKG_OP_COUNT];
    bool has_hylra;
    vkg_hylra_desc hylra;                            /* arrays copied into the arena */
    bool finished;
    struct vkg__ir_index *index;                     /* ir.c: hashes of tensor names and weight keys, first users */
};

/* Error about a node, located at its argument `arg` when given and present
 * (the key's location), else at the node. Returns VKG_ERR_GRAPH. */
vkg_result vkg__node_error(vkg_graph *g, const vkg__node *node, const char *arg, const char *fmt, ...);
vkg_loc vkg__node_arg_loc(const vkg__node *node, const char *arg);

/* >>op registry (engine/ops/ops.def + engine/ops/<op>.c) -------------------*/
typedef struct vkg__parse_ctx {
    vkg_graph *g;
    const vkg__node *node;
    const vkg_value *args;          /* map or NULL */
    void *params;
} vkg__parse_ctx;

/* Argument readers: a missing argument takes `def`, or is an error when
 * `required`. Ints accept integers and integer expressions. */
const vkg_value *vkg__arg(vkg__parse_ctx *pc, const char *key);
vkg_result vkg__arg_int(vkg__parse_ctx *pc, const char *key, bool required, int64_t def, int64_t *out);
vkg_result vkg__arg_float(vkg__parse_ctx *pc, const char *key, double def, double *out);
vkg_result vkg__arg_bool(vkg__parse_ctx *pc, const char *key, bool def, bool *out);
/* choices NULL-terminated; def < 0: required. */
vkg_result vkg__arg_enum(vkg__parse_ctx *pc, const char *key, const char *const *choices, int def, int *out);
vkg_result vkg__arg_string(vkg__parse_ctx *pc, const char *key, bool required, const char **out);
/* Same readers for a nested map value (e.g. attention's rope: {...}). */
vkg_result vkg__map_check_keys(vkg__parse_ctx *pc, const vkg_value *map, const char *what, const char *const *keys);
vkg_result vkg__value_int(vkg__parse_ctx *pc, const vkg_value *v, const char *what, int64_t *out);
vkg_result vkg__value_float(vkg__parse_ctx *pc, const vkg_value *v, const char *what, double *out);
const vkg_value *vkg__map_get(const vkg_value *map, const char *key, vkg_loc *key_loc);

typedef struct vkg__infer_ctx {
    vkg_graph *g;
    const vkg__node *node;
    const void *params;
    int n_in;
    vkg__shape in[2];
    vkg_dtype in_dtype[2];
    vkg__shape out;                 /* set by infer */
    vkg_dtype out_dtype;            /* set by infer (default f32) */
    bool not_causal;                /* set by infer: a row reads later rows (no token-by-token decoding) */
} vkg__infer_ctx;

typedef struct vkg__weights_ctx {
    vkg_graph *g;
    const vkg__node *node;
    const void *params;
    vkg__shape in[2];
    vkg__shape out;
    /* filled by vkg__need_weight */
    int n;
    const char *keys[VKG__MAX_NODE_WEIGHTS];
    vkg__shape shapes[VKG__MAX_NODE_WEIGHTS];
    vkg__init inits[VKG__MAX_NODE_WEIGHTS];
    int conv[VKG__MAX_NODE_WEIGHTS];
} vkg__weights_ctx;
/* Declares weight PREFIX.suffix (or the full key when suffix starts with '='),
 * shape given by n_dims sizes. Returns its slot (declaration order). */
int vkg__need_weight(vkg__weights_ctx *wc, const char *suffix, vkg__init init, int n_dims, ...);
void vkg__need_conv_weight(vkg__weights_ctx *wc, int slot);

#define VKG__MAX_NODE_STATES 8

typedef struct vkg__state_ctx {
    const vkg_graph *g;
    const vkg__node *node;
    const void *params;
    vkg__shape in[2];               /* concrete except the row dim, which may be symbolic */
    int64_t max_tokens;             /* capacity for position-indexed state */
    int n;
    uint64_t floats[VKG__MAX_NODE_STATES];   /* filled by vkg__need_state */
    bool cache[VKG__MAX_NODE_STATES];
} vkg__state_ctx;
/* Declares a state buffer of n f32 values, zero at the start of a sequence; returns its slot. */
int vkg__need_state(vkg__state_ctx *sc, uint64_t n);
/* Same for position-indexed state (KV cache) that is always written before it
 * is read, so a new sequence need not zero it. */
int vkg__need_state_cache(vkg__state_ctx *sc, uint64_t n);

typedef struct vkg__ref_ctx {
    vkg_context *ctx;
    const vkg__node *node;
    const void *params;
    int n_in;
    vkg__shape in_shape[2];         /* concrete */
    const void *in[2];              /* f32 (or i32 for i32 tensors) */
    vkg__shape out_shape;
    float *out;
    const float *const *w;          /* by slot, f32, PyTorch layouts */
    int64_t pos0;                   /* tokens already in the decoding state */
    float *state[VKG__MAX_NODE_STATES]; /* the node's decoding state, by slot (see vkg__state_ctx) */
    int64_t max_tokens;             /* capacity of position-indexed state (KV cache) */
    struct vkg_session *session;
} vkg__ref_ctx;
/* State slot `slot` of another node (e.g. HyLRA reuse layers read the index
 * sets of their full layer; recurrent MoE routers share one router state). */
float *vkg__ref_state_of(const vkg__ref_ctx *rc, int node, int slot);

/* >>memory planning (plan.c) */
/* Offsets (multiples of align) for n items alive over steps [first, last];
 * items alive at the same time never overlap. total: the arena size. */
vkg_result vkg__plan_memory(vkg_context *ctx, int n, const uint64_t *sizes, const int *first, const int *last, uint64_t align,
                            uint64_t *offsets, uint64_t *total);

/* >>lowering (exec_vk.c, kernels.c): ops emit abstract dispatches ----------*/
typedef enum vkg__buf_kind {
    VKG__BUF_NONE,                  /* unbound (optional binding) */
    VKG__BUF_TENSOR,                /* index: graph tensor (arena) */
    VKG__BUF_TEMP,                  /* index: temp made by vkg__lower_temp (arena, lives for the node) */
    VKG__BUF_WEIGHT,                /* index: graph weight */
    VKG__BUF_STATE,                 /* index: session state buffer (decoding state, kept between calls) */
    VKG__BUF_KIND_COUNT
} vkg__buf_kind;

typedef struct vkg__bufref {
    vkg__buf_kind kind;
    uint32_t index;
    uint64_t offset;                /* bytes into the tensor/temp/weight */
    uint64_t size;                  /* bytes; 0: to the end */
} vkg__bufref;

typedef struct vkg__lower_ctx vkg__lower_ctx;

#define VKG__MAX_BINDINGS 8
#define VKG__MAX_SPEC 8

/* Device classes pick kernel variants (LAVAPIPE.md). */
typedef enum vkg__device_class {
    VKG__DEVCLASS_CPU,              /* lavapipe / SwiftShader: register blocks, subgroup broadcasts */
    VKG__DEVCLASS_GPU,              /* discrete / integrated: shared-memory tiles */
    VKG__DEVCLASS_COUNT
} vkg__device_class;

struct vkg__lower_ctx {
    vkg_context *ctx;
    const vkg_graph *g;
    const vkg__node *node;
    const void *params;
    int node_index;
    int n_in;
    vkg__shape in_shape[2];         /* concrete */
    vkg__bufref in[2];
    vkg__shape out_shape;
    vkg__bufref out;
    vkg__bufref w[VKG__MAX_NODE_WEIGHTS];
    vkg__bufref state[VKG__MAX_NODE_STATES];
    vkg__bufref residual;           /* fusion: add this [T, C] tensor to the output (ops with fuse_residual); else NONE */
    int64_t pos0;
    int64_t max_tokens;
    struct vkg_session *session;    /* NULL in stand-alone lowering */
    vkg__device_class devclass;
    uint32_t subgroup_size;
    void *impl;                     /* exec_vk.c's state */
};

typedef struct vkg__dispatch {
    int kernel;                     /* VKG_KERNEL_* (generated vkg_kernels.h) */
    uint32_t spec[VKG__MAX_SPEC];   /* specialization constants 0..n_spec-1 (u32 bits) */
    int n_spec;
    uint8_t pc[128];                /* push constants */
    uint32_t pc_size;
    int n_bind;                     /* bindings 0..n_bind-1, storage buffers */
    vkg__bufref bind[VKG__MAX_BINDINGS];
    uint8_t writes;                 /* bit b: binding b is written */
    uint32_t groups[3];
    int node;                       /* node index, for profiling; -1 none */
} vkg__dispatch;

/* State slot `slot` of another node, as vkg__ref_state_of. */
vkg__bufref vkg__lower_state_of(const vkg__lower_ctx *lc, int node, int slot);
/* A scratch buffer of `bytes` for this node only. */
vkg__bufref vkg__lower_temp(vkg__lower_ctx *lc, uint64_t bytes);
vkg_result vkg__lower_emit(vkg__lower_ctx *lc, const vkg__dispatch *d);
/* A sub-range of a buffer reference. */
vkg__bufref vkg__bufref_sub(vkg__bufref r, uint64_t offset, uint64_t size);

typedef struct vkg__op_def {
    const char *name;
    const char *const *args;        /* NULL-terminated argument names (not in/as/name) */
    size_t params_size;
    vkg_result (*parse)(vkg__parse_ctx *pc);
    vkg_result (*infer)(vkg__infer_ctx *ic);
    void (*weights)(vkg__weights_ctx *wc);
    vkg_result (*ref)(vkg__ref_ctx *rc);
    vkg_result (*lower)(vkg__lower_ctx *lc);
    /* Optional: checks run-time data before any backend runs (token ids in
     * range, positions below max_len). rc->in[i] is NULL unless input i is a
     * graph input; rc->out is NULL. Errors: VKG_ERR_INPUT. */
    vkg_result (*check_run)(vkg__ref_ctx *rc);
    /* Optional: declares the decoding state the node keeps between calls
     * (KV cache, Canon windows, linear-attention S and z): f32 buffers,
     * zero at the start of a sequence. */
    void (*state)(vkg__state_ctx *sc);
    /* The op's last dispatch can add lc->residual to its output (a matmul
     * epilogue), so a following residual `add` is fused into it. */
    bool fuse_residual;
} vkg__op_def;

extern const vkg__op_def *const vkg__ops[VKG_OP_COUNT];

/* >>kernel emitters (kernels.c): one per kernel family, variants per device
 * class. Sizes in elements; all buffers f32 unless said. -------------------*/
typedef enum vkg__act {
    VKG__ACT_NONE, VKG__ACT_RELU, VKG__ACT_GELU, VKG__ACT_GELU_TANH, VKG__ACT_SILU,
    VKG__ACT_SIGMOID, VKG__ACT_TANH, VKG__ACT_ELU1, VKG__ACT_COUNT
} vkg__act;
float vkg__act_ref(vkg__act a, float x);      /* the C reference of every activation (double inside) */

typedef struct vkg__matmul_desc {
    vkg__bufref x;                  /* [M, K], row stride x_stride */
    vkg__bufref w;                  /* [N, K] (PyTorch Linear weight), contiguous */
    vkg__bufref bias;               /* [N] or NONE */
    vkg__bufref res;                /* [M, N] added after the activation, row stride y_stride, or NONE */
    vkg__bufref y;                  /* [M, N], row stride y_stride */
    uint32_t M, N, K;
    uint32_t x_stride, y_stride;    /* 0: K, N */
    vkg__act act;
} vkg__matmul_desc;
vkg_result vkg__emit_matmul(vkg__lower_ctx *lc, const vkg__matmul_desc *d);

typedef enum vkg__binop { VKG__BIN_ADD, VKG__BIN_MUL, VKG__BIN_COUNT } vkg__binop;
vkg_result vkg__emit_unary(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref y, uint64_t n, vkg__act act);
vkg_result vkg__emit_binary(vkg__lower_ctx *lc, vkg__bufref a, vkg__bufref b, vkg__bufref y, uint64_t n, vkg__binop op);
/* y[r, f] = act(gu[r, f]) * gu[r, F + f] for a [rows, 2F] input (gate | up). */
vkg_result vkg__emit_glu(vkg__lower_ctx *lc, vkg__bufref gu, vkg__bufref y, uint32_t rows, uint32_t F, vkg__act act);

typedef enum vkg__norm_kind { VKG__NORM_LAYER, VKG__NORM_RMS, VKG__NORM_BATCH, VKG__NORM_KIND_COUNT } vkg__norm_kind;
/* layer: w, b; rms: w; batch: w, b, mean, var (per channel, no row stats). Rows of C. */
typedef struct vkg__norm_desc {
    vkg__bufref x, y, w, b, mean, var;
    uint32_t rows, C;
    float eps;
    vkg__norm_kind kind;
} vkg__norm_desc;
vkg_result vkg__emit_norm(vkg__lower_ctx *lc, const vkg__norm_desc *d);

/* y[t, :] = table[ids[t], :] (ids i32, already range-checked on the host). */
vkg_result vkg__emit_embed(vkg__lower_ctx *lc, vkg__bufref ids, vkg__bufref table, vkg__bufref y, uint32_t T, uint32_t D);
/* y[t, :] = x[t, :] + rows[first_row + t, :]. */
vkg_result vkg__emit_add_rows(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref rows, vkg__bufref y, uint32_t T, uint32_t C, uint32_t first_row);
/* Image [Hh, Ww, Cin] HWC -> patches [(Hh/P)(Ww/P), Cin*P*P] in (c, u, v) order, matching W[dim, Cin, P, P]. */
vkg_result vkg__emit_im2col(vkg__lower_ctx *lc, vkg__bufref img, vkg__bufref cols, uint32_t Hh, uint32_t Ww, uint32_t Cin, uint32_t P);

typedef enum vkg__rope_style { VKG__ROPE_HALF, VKG__ROPE_INTERLEAVED, VKG__ROPE_STYLE_COUNT } vkg__rope_style;
/* In place on x [T, n_heads*head_dim] (row stride row_stride), first rot_dims of each head, positions pos0+t. */
typedef struct vkg__rope_desc {
    vkg__bufref x;
    uint32_t T, n_heads, head_dim, row_stride, rot_dims, pos0;
    float theta;
    vkg__rope_style style;
} vkg__rope_desc;
vkg_result vkg__emit_rope(vkg__lower_ctx *lc, const vkg__rope_desc *d);

/* o[t, h*Dh..] = softmax(scale q_t,h . k_j,g) v_j,g over visible j; g = h / (H/KV).
 * q [Tq, H*Dh], k and v [Tk, KV*Dh], o [Tq, H*Dh], contiguous rows.
 * causal: query t sees keys j <= pos0 + t (keys are positions 0..Tk-1). */
typedef struct vkg__attn_desc {
    vkg__bufref q, k, v, o;
    uint32_t Tq, Tk, H, KV, Dh, pos0;
    float scale;
    bool causal;
} vkg__attn_desc;
vkg_result vkg__emit_attention(vkg__lower_ctx *lc, const vkg__attn_desc *d);
/* The same with the kernel variant forced (tests, benches; kernels.c says
 * what each is): AUTO is vkg__emit_attention's choice. `param` (0: automatic)
 * is GROUP's query rows per invocation (clamped to what the registers hold)
 * or SPLIT's keys per chunk. GROUP and SPLIT need Dh <= 256, else
 * VKG_ERR_UNSUPPORTED. */
typedef enum vkg__attn_variant {
    VKG__ATTN_AUTO, VKG__ATTN_ROW, VKG__ATTN_GROUP, VKG__ATTN_SPLIT, VKG__ATTN_VARIANT_COUNT
} vkg__attn_variant;
vkg_result vkg__emit_attention_variant(vkg__lower_ctx *lc, const vkg__attn_desc *d, vkg__attn_variant variant, uint32_t param);

typedef enum vkg__pool_kind { VKG__POOL_MEAN, VKG__POOL_FIRST, VKG__POOL_KIND_COUNT } vkg__pool_kind;
vkg_result vkg__emit_pool(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref y, uint32_t T, uint32_t C, vkg__pool_kind kind);
/* Plain copy of n floats (y may be a strided destination through offsets). */
vkg_result vkg__emit_copy(vkg__lower_ctx *lc, vkg__bufref x, vkg__bufref y, uint64_t n);

/* Canon layer (kernels_canon.c), OPS.md 8: per channel c < C and row t < T,
 * y[t, c] = (residual ? x[t, c] : 0) + bias[c] + sum_j w[c, j] x[t-(K-1)+j, c],
 * w [C, K] contiguous (a row sub-range of a larger weight works through the
 * offset). Rows before t = 0 come from win ([K-1, C], row stride win_stride,
 * oldest row first), which is then replaced by the last K-1 inputs (left
 * padded from the old window when T < K-1); with win NONE they are zero.
 * x and y must not overlap. Strides 0 mean C. */
typedef struct vkg__canon_desc {
    vkg__bufref x, y, w, bias, win;     /* bias and win may be NONE */
    uint32_t T, C, K;
    uint32_t x_stride, y_stride, win_stride;
    bool residual;
} vkg__canon_desc;
vkg_result vkg__emit_canon(vkg__lower_ctx *lc, const vkg__canon_desc *d);

/* >>HyLRA kernels (kernels_hylra.c, OPS.md 11). Query rows t < Tq see keys
 * j < n_t (causal: pos0 + t + 1, else Tk); K_t = min(top_k, n_t). Index sets
 * are int32 rows (i_row0 + t) of [KV, top_k]: ascending positions, -1 after K_t.
 * q [Tq, H*Dh], k and v [Tk, KV*Dh], o [Tq, H*Dh], contiguous rows. */
typedef struct vkg__hylra_desc {
    vkg__bufref q, k, v, o, idx;    /* select: q, k, idx (written); attend: all (idx read) */
    uint32_t Tq, Tk, H, KV, Dh, pos0, top_k, i_row0;
    float scale;
    bool causal;
} vkg__hylra_desc;
/* A full layer's index sets: the K_t positions with the largest f32 sum over
 * g's heads of the exact softmax probabilities, ties to the smaller j. */
vkg_result vkg__emit_hylra_select(vkg__lower_ctx *lc, const vkg__hylra_desc *d);
/* A reuse layer's attention: the exact softmax renormalised over each row's set. */
vkg_result vkg__emit_hylra_attend(vkg__lower_ctx *lc, const vkg__hylra_desc *d);
/* A full layer that keeps index sets: its attention output o and its index
 * sets (one fused kernel when the group's registers fit, else attention then select). */
vkg_result vkg__emit_hylra_full(vkg__lower_ctx *lc, const vkg__hylra_desc *d);
/* HyLRA plumbing (ops/attention_softmax.c): node of softmax layer `layer`
 * (policy order; -1: none); the state slot where node keeps its index sets
 * (-1: it keeps none); the C reference top-K of non-negative scores. */
int vkg__hylra_layer_node(const vkg_graph *g, int layer);
int vkg__hylra_index_slot(const vkg_graph *g, int node);
void vkg__hylra_topk_ref(const float *score, int64_t n, int64_t K, int32_t *out);

/* >>Vulkan runtime (vk_device.c, vk_buffer.c, vk_pipeline.c, vk_program.c) -*/
typedef struct vkg__vk_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    uint64_t size;
    void *mapped;                   /* non-NULL when host visible */
} vkg__vk_buffer;

typedef enum vkg__mem_kind {
    VKG__MEM_DEVICE,                /* device local; uploads go through staging */
    VKG__MEM_UPLOAD,                /* host visible, coherent */
    VKG__MEM_READBACK,              /* host visible, cached when possible */
    VKG__MEM_KIND_COUNT
} vkg__mem_kind;

struct vkg__vk_device {
    VkInstance instance;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    bool external;                  /* owned by the host application */
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    vkg__device_class devclass;
    uint32_t subgroup_size;
    bool subgroup_ballot, subgroup_shuffle, subgroup_arith;
    bool fp16_arith, storage16;
    uint64_t max_storage_range;
    uint64_t storage_align;         /* minStorageBufferOffsetAlignment */
    VkDebugUtilsMessengerEXT messenger;
    uint32_t validation_messages;
    VkPipelineCache pipeline_cache;
    char *pipeline_cache_path;      /* NULL: not persisted */
    VkCommandPool cmd_pool;
    float timestamp_period;         /* ns per tick; 0: no timestamps */
    uint64_t allocated;             /* device bytes allocated by the engine */
    struct vkg__vk_pipeline *pipelines;   /* cache (vk_pipeline.c) */
    bool lost;
};

/* vk_device.c: creates ctx->vk from ctx->desc (device selection, external
 * wrapping, validation messenger, pipeline cache load). */
vkg_result vkg__vk_device_create(vkg_context *ctx);
void vkg__vk_device_destroy(vkg_context *ctx);     /* saves the pipeline cache; wait idle first */
/* Maps a VkResult to a vkg_result and records "what: VK_ERROR_..." (OUT_OF_DEVICE_MEMORY -> VKG_ERR_DEVICE_MEMORY, DEVICE_LOST -> VKG_ERR_DEVICE_LOST, else VKG_ERR_VULKAN). */
vkg_result vkg__vk_check(vkg_context *ctx, VkResult res, const char *what);
const char *vkg__vk_result_name(VkResult res);

/* vk_buffer.c. Respects desc.device_memory_limit (VKG_ERR_DEVICE_MEMORY naming bytes needed and available). */
vkg_result vkg__vk_buffer_create(vkg_context *ctx, uint64_t size, vkg__mem_kind kind, vkg__vk_buffer *out);
void vkg__vk_buffer_destroy(vkg_context *ctx, vkg__vk_buffer *b);
vkg_result vkg__vk_upload(vkg_context *ctx, vkg__vk_buffer *dst, uint64_t offset, const void *src, uint64_t size);
vkg_result vkg__vk_download(vkg_context *ctx, const vkg__vk_buffer *src, uint64_t offset, void *dst, uint64_t size);

/* vk_program.c: a dispatch list with concrete buffers, recorded once into
 * one command buffer (pipelines from the cache, descriptor sets, barriers
 * only where a dispatch touches what an earlier one wrote, or writes what an
 * earlier one read; timestamps when profiling). */
typedef struct vkg__vk_binding {
    VkBuffer buffer;
    uint64_t offset, range;
} vkg__vk_binding;

typedef struct vkg__vk_dispatch {
    int kernel;
    uint32_t spec[VKG__MAX_SPEC];
    int n_spec;
    uint8_t pc[128];
    uint32_t pc_size;
    int n_bind;
    vkg__vk_binding bind[VKG__MAX_BINDINGS];
    uint8_t writes;
    uint32_t groups[3];
    int node;
} vkg__vk_dispatch;

typedef struct vkg__vk_program vkg__vk_program;
vkg_result vkg__vk_program_create(vkg_context *ctx, const vkg__vk_dispatch *d, int n, vkg__vk_program **out);
vkg_result vkg__vk_program_run(vkg_context *ctx, vkg__vk_program *p);     /* submit, wait */
uint32_t vkg__vk_program_barriers(const vkg__vk_program *p);
/* After a run with profiling: per dispatch start/duration in microseconds. */
int vkg__vk_program_timings(const vkg__vk_program *p, double *start_us, double *dur_us, int cap);
void vkg__vk_program_destroy(vkg_context *ctx, vkg__vk_program *p);

/* Stand-alone lowering for kernel tests and benchmarks (exec_vk.c): bufrefs
 * of kind VKG__BUF_TENSOR with index i name bufs[i]; temps are allocated on
 * build. Emit with the vkg__emit_* calls, then build a program and run it. */
vkg_result vkg__standalone_begin(vkg_context *ctx, vkg__vk_buffer *const *bufs, int n_bufs, vkg__lower_ctx **out);
vkg_result vkg__standalone_build(vkg__lower_ctx *lc, vkg__vk_program **out);
/* Frees the temporaries the programs built here use: destroy those programs first. */
void vkg__standalone_end(vkg__lower_ctx *lc);


/* >>files: safetensors.c, npy.c, rng.c ------------------------------------*/
typedef struct vkg__st_entry {
    const char *key;
    vkg_dtype dtype;                /* F32, F16 or BF16 */
    int n_dims;
    int64_t ne[VKG_MAX_DIMS + 1];
    uint64_t offset, size;          /* bytes, relative to the data section */
} vkg__st_entry;

typedef struct vkg__safetensors {
    vkg_context *ctx;
    const uint8_t *data;            /* mmap of the data section */
    void *map; uint64_t map_size;
    vkg__st_entry *entries; int n_entries;
    char *strings;
} vkg__safetensors;
/* Maps the file, parses and checks the header (JSON, dtypes, offsets in range
 * and not overlapping, shape products). Errors: VKG_ERR_WEIGHTS, VKG_ERR_IO. */
vkg_result vkg__st_open(vkg_context *ctx, const char *path, vkg__safetensors *out);
void vkg__st_close(vkg__safetensors *st);
const vkg__st_entry *vkg__st_find(const vkg__safetensors *st, const char *key);
/* Converts an entry to f32 (dst holds numel floats). */
void vkg__st_to_f32(const vkg__safetensors *st, const vkg__st_entry *e, float *dst);

typedef struct vkg__st_write_entry {
    const char *key;
    vkg_dtype dtype;                /* stored dtype: F32 or F16 (BF16 too) */
    int n_dims;
    int64_t ne[VKG_MAX_DIMS];
    const float *data;              /* f32 source, converted on write */
} vkg__st_write_entry;
vkg_result vkg__st_write(vkg_context *ctx, const char *path, const vkg__st_write_entry *e, int n);

float vkg__f16_to_f32(uint16_t h);
uint16_t vkg__f32_to_f16(float f);    /* round to nearest even */
float vkg__bf16_to_f32(uint16_t h);
uint16_t vkg__f32_to_bf16(float f);   /* round to nearest even */

/* The engine's random generator: splitmix64 seeding a xoshiro256** stream;
 * normals by Box-Muller (both values used). Draw order is the caller's. */
typedef struct vkg__rng { uint64_t s[4]; bool has_spare; double spare; } vkg__rng;
void vkg__rng_seed(vkg__rng *r, uint64_t seed);
uint64_t vkg__rng_next(vkg__rng *r);
double vkg__rng_uniform(vkg__rng *r);     /* [0, 1) */
double vkg__rng_normal(vkg__rng *r);      /* N(0, 1) */


/* >>per-channel affine, RepBN/PRepBN and folding (kernels_affine.c, norm.c, fold.c) */
/* y[r, c] = a[c] x[r, c] + b[c] (+ z_scale * z[r, c] when z is bound); rows of C, contiguous. */
typedef struct vkg__affine_desc {
    vkg__bufref x, y, a, b, z;
    uint32_t rows, C;
    float z_scale;
} vkg__affine_desc;
vkg_result vkg__emit_affine(vkg__lower_ctx *lc, const vkg__affine_desc *d);
/* A batch/repbn/prepbn norm node's BN part as y = a x + b (double, (1 - lambda)
 * applied for prepbn), from its weights by slot. Returns 0 for layer/rms (a, b
 * untouched), 1 when the whole norm is that map (foldable), 2 for prepbn with
 * lambda != 0 (a LayerNorm part remains). */
int vkg__norm_affine(const vkg__node *node, const float *const *w, int64_t C, double *a, double *b);
/* Weight slots the norm node declares; its lowering reads a and b from the next two. */
int vkg__norm_declared_weights(const vkg__node *node);

/* >>mixture of experts (kernels_moe.c; the moe op, OPS.md 14) */
/* Routing and experts of one moe layer from its router logits [T, E]:
 * softmax over E and top K (ties to the smaller index) per token, a counting
 * sort of the T*K choices by expert, grouped GEMMs in which each expert
 * multiplies only its own rows (gathered by index; gate and up with the GLU in
 * the epilogue, then down), and y[t] = sum_k w_tk Expert(x_t) in f32. */
typedef struct vkg__moe_desc {
    vkg__bufref x, logits, y;       /* x [T, C], logits [T, E], y [T, C], contiguous */
    vkg__bufref gate, up, down;     /* stacked [E, F, C], [E, F, C], [E, C, F] */
    uint32_t T, C, F, E, K;
    vkg__act act;                   /* of the gate: SILU (swiglu) or GELU (geglu) */
    bool normalize;                 /* weights renormalised over the K chosen */
} vkg__moe_desc;
vkg_result vkg__emit_moe(vkg__lower_ctx *lc, const vkg__moe_desc *d);
/* GRU cell in place on the router state h [T, R] from gi = u W_ih^T + b_ih and
 * gh = h W_hh^T + b_hh, both [T, 3R] (gates r, z, n). first: h is taken as 0
 * and gh is b_hh [3R] for every row. */
vkg_result vkg__emit_moe_gru(vkg__lower_ctx *lc, vkg__bufref gi, vkg__bufref gh, vkg__bufref h, uint32_t T, uint32_t R, bool first);

#endif /* VKG_IMPL_H */
