/*
 * vkg.h — the one public header of vkgraph.
 *
 * vkgraph compiles a transformer-style graph into Vulkan compute dispatches
 * (or runs it on a plain-C reference backend) and runs it.
 *
 *   vkg_context   a Vulkan device (or none, for the CPU reference), an
 *                 allocator, a log callback and the last error message.
 *   vkg_graph     the IR: inputs, nodes, tensors. Built by the YAML frontend
 *                 (frontend/vkg_frontend.h) or through the calls below.
 *   vkg_model     a graph whose weights are bound (safetensors or random) and
 *                 uploaded; the graph must outlive its models.
 *   vkg_session   a model planned and compiled for one backend: memory arena,
 *                 pipelines, recorded commands.
 *
 * Usage (error checks left out):
 *
 *   vkg_context *ctx;  vkg_context_create(&(vkg_context_desc){0}, &ctx);
 *   vkg_graph *g;      vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = "graphs/llama-tiny.yaml"}, &g);
 *   vkg_model *m;      vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m);
 *   vkg_session *s;    vkg_session_create(m, &(vkg_session_desc){0}, &s);
 *   int32_t ids[3] = {1, 2, 3};
 *   vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {3}, .data = ids};
 *   vkg_session_set_input(s, "tokens", &in);
 *   vkg_session_run(s);
 *   vkg_host_tensor out; vkg_session_get_output(s, 0, &out);   // f32, owned by s
 *   vkg_session_destroy(s); vkg_model_destroy(m); vkg_graph_destroy(g); vkg_context_destroy(ctx);
 *
 * Every fallible call returns a vkg_result; vkg_last_error(ctx) gives the
 * message (with FILE:LINE:COL for graph-file errors). No call aborts or exits
 * the process and nothing prints unless a log callback is set.
 *
 * Threads: separate contexts are independent and may be used on separate
 * threads at the same time. Within one context, calls are made one at a time,
 * except sessions: once the model exists, each thread may create, feed, run,
 * read and destroy its own sessions of it (vkg_session_* on distinct
 * sessions, either backend) concurrently; the engine itself serializes the
 * device queue, command pool, pipeline cache and memory budget (a lock held
 * for host-side calls only, never across a GPU wait). The graph and the model
 * must not be changed or destroyed while such sessions live. vkg_last_error is
 * per context, so with concurrent sessions the message may be another
 * thread's: use a context per thread where messages matter. With an external
 * device, the application must not use the queue during engine calls.
 */
#ifndef VKG_H
#define VKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VKG_MAX_DIMS 4

/* >>results ---------------------------------------------------------------*/
#define VKG_RESULT_LIST(X)                                                     \
    X(VKG_OK, "ok")                                                            \
    X(VKG_ERR_INVALID_ARG, "invalid argument to an API call")                  \
    X(VKG_ERR_OUT_OF_MEMORY, "out of host memory")                             \
    X(VKG_ERR_GRAPH, "bad graph")                                              \
    X(VKG_ERR_WEIGHTS, "bad weights file")                                     \
    X(VKG_ERR_INPUT, "bad input")                                              \
    X(VKG_ERR_IO, "file could not be read or written")                         \
    X(VKG_ERR_NO_DEVICE, "no Vulkan device")                                   \
    X(VKG_ERR_VULKAN, "Vulkan call failed")                                    \
    X(VKG_ERR_DEVICE_MEMORY, "out of device memory")                           \
    X(VKG_ERR_DEVICE_LOST, "device lost")                                      \
    X(VKG_ERR_UNSUPPORTED, "not supported by this device or backend")

typedef enum vkg_result {
#define VKG__X(code, msg) code,
    VKG_RESULT_LIST(VKG__X)
#undef VKG__X
    VKG_RESULT_COUNT
} vkg_result;

/* A static string naming the code ("ok", "bad graph", ...). */
const char *vkg_result_string(vkg_result r);

/* >>basic types -----------------------------------------------------------*/
typedef enum vkg_dtype {
    VKG_DTYPE_F32,
    VKG_DTYPE_F16,
    VKG_DTYPE_BF16,
    VKG_DTYPE_I32,
    VKG_DTYPE_COUNT
} vkg_dtype;

const char *vkg_dtype_name(vkg_dtype t);  /* "f32", "f16", "bf16", "i32" */
size_t vkg_dtype_size(vkg_dtype t);

/* A tensor in host memory, row-major, ne[0] is the outermost dimension
 * (a [T, C] activation has ne = {T, C}). */
typedef struct vkg_host_tensor {
    vkg_dtype dtype;
    int n_dims;
    int64_t ne[VKG_MAX_DIMS];
    void *data;
} vkg_host_tensor;

typedef struct vkg_allocator {
    void *(*alloc)(size_t size, void *user);   /* NULL on failure */
    void (*free)(void *ptr, void *user);
    void *user;
} vkg_allocator;

typedef enum vkg_log_level { VKG_LOG_DEBUG, VKG_LOG_INFO, VKG_LOG_WARN, VKG_LOG_ERROR, VKG_LOG_LEVEL_COUNT } vkg_log_level;
typedef void (*vkg_log_fn)(vkg_log_level level, const char *msg, void *user);

/* >>context ---------------------------------------------------------------*/
typedef struct vkg_context vkg_context;

typedef enum vkg_backend {
    VKG_BACKEND_VULKAN,   /* default */
    VKG_BACKEND_CPU,      /* the C reference; the context opens no device */
    VKG_BACKEND_COUNT
} vkg_backend;

/* Wrap a device the host application owns; the engine never destroys these. */
typedef struct vkg_external_device {
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
} vkg_external_device;

typedef struct vkg_context_desc {
    vkg_backend backend;
    const char *device;              /* index ("1") or name substring; NULL: first discrete, else integrated, else CPU */
    bool validation;                 /* enable VK_LAYER_KHRONOS_validation and count its messages */
    const vkg_external_device *external; /* non-NULL: use this device */
    const char *pipeline_cache_dir;  /* NULL: $XDG_CACHE_HOME/vkgraph or ~/.cache/vkgraph; "" disables */
    uint64_t device_memory_limit;    /* bytes the engine may allocate on the device; 0: no limit */
    bool profile;                    /* timestamp queries around every dispatch */
    vkg_allocator allocator;         /* zero: malloc/free */
    vkg_log_fn log;                  /* NULL: silent */
    void *log_user;
} vkg_context_desc;

/* Errors: VKG_ERR_NO_DEVICE, VKG_ERR_VULKAN, VKG_ERR_UNSUPPORTED, VKG_ERR_OUT_OF_MEMORY,
 * VKG_ERR_INVALID_ARG. As sqlite3_open, a device failure still sets *out to a
 * context (without a device) whose vkg_last_error says why; destroy it. */
vkg_result vkg_context_create(const vkg_context_desc *desc, vkg_context **out);
void vkg_context_destroy(vkg_context *ctx);
/* Message of the last failed call on ctx (or on an object made from it). Never NULL. */
const char *vkg_last_error(const vkg_context *ctx);
/* Records a message for vkg_last_error (for layers built on this API, such as
 * the frontend) and returns r. */
vkg_result vkg_context_set_error(vkg_context *ctx, vkg_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Number of validation-layer messages (warnings and errors) seen so far. */
uint32_t vkg_context_validation_messages(const vkg_context *ctx);
/* Name of the device in use ("llvmpipe (LLVM 15...)"); "cpu" for the CPU backend. */
const char *vkg_context_device_name(const vkg_context *ctx);

/* Writes one line per Vulkan device visible to the loader into buf
 * (index, name, vendor, driver, type, memory, features). */
vkg_result vkg_list_devices(char *buf, size_t buf_size);

/* >>values (graph-building arguments) -------------------------------------*/
typedef struct vkg_loc {
    const char *file;    /* may be NULL */
    int line, col;       /* 1-based; 0 when unknown */
} vkg_loc;

typedef enum vkg_value_kind {
    VKG_VALUE_NULL, VKG_VALUE_INT, VKG_VALUE_FLOAT, VKG_VALUE_BOOL,
    VKG_VALUE_STRING,   /* also integer expressions: "$D * 4", "$V" */
    VKG_VALUE_LIST, VKG_VALUE_MAP,
    VKG_VALUE_KIND_COUNT
} vkg_value_kind;

/* A YAML-like value with its source location. Lists have n items; maps have
 * n items with keys[i] (and key_locs[i]). The graph copies what it keeps. */
typedef struct vkg_value vkg_value;
struct vkg_value {
    vkg_value_kind kind;
    vkg_loc loc;
    int64_t i;
    double f;
    bool b;
    const char *s;
    int n;
    vkg_value *items;
    const char **keys;
    vkg_loc *key_locs;
};

/* >>graph -----------------------------------------------------------------*/
typedef struct vkg_graph vkg_graph;
typedef struct vkg_tensor { uint32_t id; } vkg_tensor;   /* 0: invalid */

typedef struct vkg_graph_desc {
    const char *name;
    const char *file;            /* graph file path, for messages and relative weights */
} vkg_graph_desc;

vkg_result vkg_graph_create(vkg_context *ctx, const vkg_graph_desc *desc, vkg_graph **out);
void vkg_graph_destroy(vkg_graph *g);

/* Defines dim `name` from an integer or an expression over earlier dims.
 * Errors (VKG_ERR_GRAPH): unknown $SYM, inexact division, duplicate dim. */
vkg_result vkg_graph_set_dim(vkg_graph *g, const char *name, const vkg_value *v, vkg_loc name_loc);
/* Evaluates an integer or integer expression over the dims. */
vkg_result vkg_graph_eval_int(vkg_graph *g, const vkg_value *v, int64_t *out);
bool vkg_graph_get_dim(const vkg_graph *g, const char *name, int64_t *out);

typedef struct vkg_input_desc {
    const char *name;
    vkg_loc loc;
    vkg_dtype dtype;
    const vkg_value *shape;       /* a list: integers, expressions or bare run-time symbols ("T") */
} vkg_input_desc;
vkg_result vkg_graph_add_input(vkg_graph *g, const vkg_input_desc *desc, vkg_tensor *out);

typedef struct vkg_node_desc {
    const char *op;               /* "linear", "attention", ... */
    vkg_loc loc;                  /* of the op key */
    const vkg_value *args;        /* map of arguments without in/as/name (may be NULL) */
    const char *name;             /* weight prefix and tensor name; NULL: automatic OP.N */
    vkg_loc name_loc;
    const char *as;               /* tensor name overriding name; NULL: none */
    vkg_loc as_loc;
    int n_inputs;                 /* 1, or 2 for add/mul */
    vkg_tensor inputs[2];
} vkg_node_desc;
/* Parses the arguments, checks them and infers the output shape.
 * Errors (VKG_ERR_GRAPH, message with the location): unknown op/argument
 * (closest name suggested), missing argument, bad value, shape mismatch. */
vkg_result vkg_graph_add_node(vkg_graph *g, const vkg_node_desc *desc, vkg_tensor *out);

/* Tensor by name (graph inputs and named node outputs). */
bool vkg_graph_find_tensor(const vkg_graph *g, const char *name, vkg_tensor *out);
/* Names a tensor (for outputs: a new name for the last node's output). */
vkg_result vkg_graph_name_tensor(vkg_graph *g, vkg_tensor t, const char *name, vkg_loc loc);
vkg_result vkg_graph_add_output(vkg_graph *g, vkg_tensor t, const char *name, vkg_loc loc);

typedef struct vkg_weights_source {
    const char *path;             /* safetensors file; NULL: random */
    uint64_t seed;
    double std;                   /* 0: 0.02 */
    vkg_loc loc;
} vkg_weights_source;
vkg_result vkg_graph_set_weights(vkg_graph *g, const vkg_weights_source *src);

/* HyLRA (GRAPH-FORMAT.md): policy[i] is true for `full`, false for `reuse`. */
typedef struct vkg_hylra_desc {
    int64_t top_k;
    int n_policy;
    const bool *policy_full;
    const vkg_loc *policy_locs;   /* one per entry; may be NULL */
    bool decode_only;
    vkg_loc loc;                  /* of the hylra key */
    bool record;                  /* not in the graph format: every full layer keeps its index
                                   * sets, for vkg_session_hylra_indices (vkg tune-hylra) */
} vkg_hylra_desc;
vkg_result vkg_graph_set_hylra(vkg_graph *g, const vkg_hylra_desc *desc);
/* Number of softmax attention layers: the entries a hylra policy needs. */
int vkg_graph_hylra_layers(const vkg_graph *g);

/* Final checks after the last node (outputs, hylra). */
vkg_result vkg_graph_finish(vkg_graph *g);

/* Introspection (for `vkg check`). */
int vkg_graph_node_count(const vkg_graph *g);
typedef struct vkg_node_info {
    const char *op;
    const char *tensor_name;      /* "" when unnamed */
    const char *weight_prefix;
    int n_dims;
    int64_t ne[VKG_MAX_DIMS];     /* -1 where the size depends on a run-time symbol */
    char shape_str[96];           /* "[T, 128]" */
    int64_t n_params;             /* own (untied) parameters */
} vkg_node_info;
vkg_result vkg_graph_node_info(const vkg_graph *g, int index, vkg_node_info *out);
/* Weights the graph needs, in execution order, each key once. */
int vkg_graph_weight_count(const vkg_graph *g);
vkg_result vkg_graph_weight_info(const vkg_graph *g, int index, const char **key, int *n_dims, int64_t ne[VKG_MAX_DIMS]);
int vkg_graph_input_count(const vkg_graph *g);
vkg_result vkg_graph_input_info(const vkg_graph *g, int index, const char **name, vkg_dtype *dtype, int *n_dims);
/* Sizes of input `index`; -1 where a run-time symbol stands. */
vkg_result vkg_graph_input_shape(const vkg_graph *g, int index, int64_t ne[VKG_MAX_DIMS]);
/* VKG_OK when the graph can be decoded token by token (GRAPH-FORMAT.md,
 * decoding state); else VKG_ERR_GRAPH with *why naming the node (its weight
 * prefix) or the reason, and *where its location. Sets no error message. */
vkg_result vkg_graph_decodable(const vkg_graph *g, const char **why, vkg_loc *where);
/* Vocabulary of the first `embed` node (0 when there is none). */
int64_t vkg_graph_vocab(const vkg_graph *g);
int vkg_graph_output_count(const vkg_graph *g);
const char *vkg_graph_output_name(const vkg_graph *g, int index);
const char *vkg_graph_file(const vkg_graph *g);
const vkg_weights_source *vkg_graph_weights(const vkg_graph *g);

/* >>weights files ---------------------------------------------------------*/
/* Writes every weight the graph needs, drawn as OPS.md section 16 says. */
vkg_result vkg_graph_write_random_weights(vkg_graph *g, const char *path, uint64_t seed, double std, vkg_dtype dtype);

/* >>model and session -----------------------------------------------------*/
typedef struct vkg_model vkg_model;
typedef struct vkg_model_desc {
    vkg_graph *graph;
    const char *weights_path;     /* overrides the graph's weights; NULL: the graph's */
    bool no_fold;                 /* turn off folding and fusion */
    bool check_finite;            /* NaN/Inf in weights is an error */
} vkg_model_desc;
/* Errors: VKG_ERR_WEIGHTS (missing key, wrong shape, bad file), VKG_ERR_IO, device errors. */
vkg_result vkg_model_create(vkg_context *ctx, const vkg_model_desc *desc, vkg_model **out);
void vkg_model_destroy(vkg_model *m);
/* Folds made at model creation (OPS.md 6; none with no_fold): a batch, repbn or
 * prepbn (lambda 0) norm removed by folding it into the weights of node `into`
 * (one entry per receiving node). Names are weight prefixes, owned by the
 * graph or model. vkg_model_fold_info errors: VKG_ERR_INVALID_ARG. */
int vkg_model_fold_count(const vkg_model *m);
vkg_result vkg_model_fold_info(const vkg_model *m, int i, const char **norm, const char **into);

typedef struct vkg_session vkg_session;
typedef struct vkg_session_desc {
    vkg_backend backend;          /* VKG_BACKEND_VULKAN (default) or VKG_BACKEND_CPU */
    int64_t max_tokens;           /* decoding capacity (KV cache rows); 0: 2048. vkg_session_run grows it as needed */
} vkg_session_desc;
vkg_result vkg_session_create(vkg_model *m, const vkg_session_desc *desc, vkg_session **out);
void vkg_session_destroy(vkg_session *s);

/* Copies the data. Errors (VKG_ERR_INPUT): unknown name, wrong dtype or rank,
 * size not matching the graph, ids out of range (checked at run). */
vkg_result vkg_session_set_input(vkg_session *s, const char *name, const vkg_host_tensor *t);
/* Runs the whole graph on the inputs set, as a sequence of its own: the
 * decoding state is reset first. */
vkg_result vkg_session_run(vkg_session *s);
/* Runs the inputs set as the next T tokens of the sequence, keeping the
 * decoding state (KV cache, Canon windows, linear-attention state): a prompt
 * in one or several calls, then one token per call. Only for decodable graphs
 * (vkg_graph_decodable). Errors: VKG_ERR_INPUT past max_tokens, VKG_ERR_GRAPH
 * for a graph that cannot be decoded. */
vkg_result vkg_session_step(vkg_session *s);
/* Forgets the sequence: position 0, zero state. */
vkg_result vkg_session_reset(vkg_session *s);
/* Tokens in the decoding state (P0 of the next call). */
int64_t vkg_session_position(const vkg_session *s);
/* Output i as f32, valid until the next run or destroy. */
vkg_result vkg_session_get_output(vkg_session *s, int index, vkg_host_tensor *out);

/* HyLRA index sets that softmax layer `layer` (policy order) selected, as
 * int32 [rows, KV, top_k]: row p holds the positions chosen for the query at
 * position p (ascending, -1 after min(top_k, p + 1); non-causal: min(top_k, T)).
 * rows: the tokens of the last vkg_session_run, or the position after
 * vkg_session_step calls. Only layers that keep sets have them (a full layer
 * followed by a reuse layer, or any full layer with hylra.record). Either
 * backend. Free with vkg_host_tensor_free. */
vkg_result vkg_session_hylra_indices(vkg_session *s, int layer, vkg_host_tensor *out);

/* Memory plan of the last run: arena bytes vs. the sum of all activations. */
typedef struct vkg_session_stats {
    uint64_t arena_bytes;
    uint64_t tensor_bytes_total;
    uint64_t weight_bytes;
    uint32_t n_dispatches;
    uint32_t n_barriers;
    uint32_t n_fused_adds;        /* residual adds fused into the producing matmul (off with no_fold) */
} vkg_session_stats;
vkg_result vkg_session_stats_get(const vkg_session *s, vkg_session_stats *out);

/* Per-dispatch GPU times of the last run (context created with profile). */
typedef struct vkg_op_timing {
    const char *node;             /* tensor name or weight prefix of the node */
    const char *op;
    const char *kernel;
    double start_us, dur_us;      /* from the first dispatch's start */
} vkg_op_timing;
int vkg_session_timing_count(const vkg_session *s);
vkg_result vkg_session_timing(const vkg_session *s, int index, vkg_op_timing *out);

/* >>.npy files ------------------------------------------------------------*/
/* Reads a .npy (f32/f16/f64 -> F32, i32/i64 -> I32); data allocated with the
 * context allocator, freed by vkg_host_tensor_free. Errors: VKG_ERR_INPUT, VKG_ERR_IO. */
vkg_result vkg_npy_read(vkg_context *ctx, const char *path, vkg_host_tensor *out);
vkg_result vkg_npy_write(vkg_context *ctx, const char *path, const vkg_host_tensor *t);
void vkg_host_tensor_free(vkg_context *ctx, vkg_host_tensor *t);

#ifdef __cplusplus
}
#endif
#endif /* VKG_H */
