/*
 * model.h — the model and session structs, shared by weights.c, session.c,
 * exec_cpu.c and exec_vk.c.
 */
#ifndef VKG_MODEL_H
#define VKG_MODEL_H

#include "vkg_impl.h"

struct vkg_model {
    vkg_context *ctx;
    vkg_graph *graph;               /* not owned; must outlive the model */
    vkg_model_desc desc;
    float **host;                   /* [n_weights] f32, PyTorch layouts */
    uint64_t *offsets;              /* [n_weights] byte offsets in wbuf */
    vkg__vk_buffer wbuf;
    bool has_wbuf;
    uint64_t weight_bytes;
    /* The nodes as this model runs them (fold.c): copies of the graph's whose
     * params, weight slots and inputs the folding pass may change; skip[n]:
     * folded away (its readers read its input instead). */
    vkg__node *nodes;
    bool *skip;
    /* Weights: the graph's [0, graph->n_weights), then model-owned ones
     * (folded copies, norm affine coefficients) up to n_w. host and offsets
     * have cap_w entries. */
    int n_w, cap_w;
    int64_t *w_numel;
    const char **w_key;
    vkg__arena arena;               /* params and arguments of re-parsed nodes */
    int n_folds, cap_folds;
    const char **fold_norm, **fold_into;   /* weight prefixes */
};

typedef struct vkg__exec_vk vkg__exec_vk;

struct vkg_session {
    vkg_model *m;
    vkg_context *ctx;
    vkg_backend backend;
    vkg_host_tensor inputs[16];     /* copies, f32 or i32 */
    bool input_set[16];
    int64_t syms[VKG__MAX_SYMS];
    vkg__shape *shapes;             /* [n_tensors], bound for the last run */
    float **outputs;                /* [n_outputs] host f32 results of the last run */
    vkg__shape *output_shapes;
    vkg_session_stats stats;
    vkg__exec_vk *vk;
    int64_t pos0;                   /* tokens in the decoding state */
    int64_t max_tokens;             /* capacity of position-indexed state */
    /* Decoding state: node n owns states state_first[n] .. + state_count[n]. */
    int *state_first, *state_count;
    uint64_t *state_floats;         /* [n_states] */
    bool *state_is_cache;           /* [n_states]: written before read, never zeroed */
    int n_states;
    float **host_state;             /* CPU backend: [n_states] */
    bool state_dirty;               /* Vulkan: zero the device state before the next call */
};

/* (Re)sizes the decoding state for max_tokens and zeroes it. */
vkg_result vkg__session_state_init(vkg_session *s, int64_t max_tokens);

/* fold.c: copies the nodes and gives every batch/repbn/prepbn norm its affine
 * coefficients (two model-owned slots after its declared weights). */
vkg_result vkg__fold_prepare(vkg_model *m);
/* fold.c: compile pass 3, folding norms into the linear maps that read them
 * or into the linear that produces their input (OPS.md 6). */
vkg_result vkg__fold_run(vkg_model *m);
/* fold.c: a new zeroed model-owned weight of numel floats; its index, or -1 (out of memory). */
int vkg__model_add_weight(vkg_model *m, const char *key, int64_t numel);
/* True when some node still run reads weight w. */
bool vkg__model_weight_used(const vkg_model *m, int w);

void vkg__weights_draw(const vkg_graph *g, uint64_t seed, double std, float **host);
vkg_result vkg__exec_cpu_run(vkg_session *s);
vkg_result vkg__exec_vk_run(vkg_session *s);
void vkg__exec_vk_destroy(vkg_session *s);
/* Copies the first `bytes` of decoding-state buffer `state` back to the host. */
vkg_result vkg__exec_vk_read_state(vkg_session *s, int state, void *dst, uint64_t bytes);

#endif
