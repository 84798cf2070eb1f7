/*
 * session.c — sessions: inputs, binding run-time sizes, per-run input checks,
 * running on the chosen backend (exec_cpu.c or exec_vk.c) and the outputs.
 */
#include "model.h"

#include <string.h>

vkg_result vkg_session_create(vkg_model *m, const vkg_session_desc *desc, vkg_session **out) {
    if (!m || !desc || !out || (unsigned)desc->backend >= VKG_BACKEND_COUNT) return VKG_ERR_INVALID_ARG;
    *out = NULL;
    vkg_context *ctx = m->ctx;
    if (desc->backend == VKG_BACKEND_VULKAN && !ctx->vk)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "the Vulkan backend needs a context created with a device");
    vkg_session *s = vkg__calloc(ctx, 1, sizeof *s);
    if (!s) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    s->m = m;
    s->ctx = ctx;
    s->backend = desc->backend;
    s->max_tokens = desc->max_tokens > 0 ? desc->max_tokens : 2048;
    const vkg_graph *g = m->graph;
    s->shapes = vkg__calloc(ctx, (size_t)g->n_tensors, sizeof(vkg__shape));
    s->outputs = vkg__calloc(ctx, (size_t)g->n_outputs, sizeof(float *));
    s->output_shapes = vkg__calloc(ctx, (size_t)g->n_outputs, sizeof(vkg__shape));
    s->state_first = vkg__calloc(ctx, (size_t)g->n_nodes + 1, sizeof(int));
    s->state_count = vkg__calloc(ctx, (size_t)g->n_nodes + 1, sizeof(int));
    vkg_result r = VKG_OK;
    if (!s->shapes || !s->outputs || !s->output_shapes || !s->state_first || !s->state_count)
        r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (r == VKG_OK) r = vkg__session_state_init(s, s->max_tokens);
    if (r) {
        vkg_session_destroy(s);
        return r;
    }
    *out = s;
    return VKG_OK;
}

static void free_host_state(vkg_session *s) {
    if (!s->host_state) return;
    for (int i = 0; i < s->n_states; i++) vkg__free(s->ctx, s->host_state[i]);
    vkg__free(s->ctx, s->host_state);
    s->host_state = NULL;
}

/* Asks every node with decoding state how much it needs for max_tokens. */
vkg_result vkg__session_state_init(vkg_session *s, int64_t max_tokens) {
    const vkg_graph *g = s->m->graph;
    vkg_context *ctx = s->ctx;
    int total = 0;
    uint64_t floats[1024];
    bool cache[1024];
    for (int n = 0; n < g->n_nodes; n++) {
        const vkg__node *node = &g->nodes[n];
        s->state_first[n] = total;
        s->state_count[n] = 0;
        if (!vkg__ops[node->op]->state) continue;
        vkg__state_ctx sc = {.g = g, .node = node, .params = node->params, .max_tokens = max_tokens};
        for (int i = 0; i < node->n_in; i++) sc.in[i] = g->tensors[node->in[i]].shape;
        vkg__ops[node->op]->state(&sc);
        if (total + sc.n > (int)VKG__COUNTOF(floats)) return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "too many decoding-state buffers");
        for (int k = 0; k < sc.n; k++) floats[total + k] = sc.floats[k], cache[total + k] = sc.cache[k];
        s->state_count[n] = sc.n;
        total += sc.n;
    }
    free_host_state(s);
    vkg__free(ctx, s->state_floats);
    vkg__free(ctx, s->state_is_cache);
    s->n_states = total;
    s->max_tokens = max_tokens;
    s->state_floats = vkg__calloc(ctx, (size_t)total + 1, sizeof(uint64_t));
    s->state_is_cache = vkg__calloc(ctx, (size_t)total + 1, sizeof(bool));
    if (!s->state_floats || !s->state_is_cache) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(s->state_floats, floats, sizeof(uint64_t) * (size_t)total);
    memcpy(s->state_is_cache, cache, sizeof(bool) * (size_t)total);
    if (s->backend == VKG_BACKEND_CPU) {
        if (!(s->host_state = vkg__calloc(ctx, (size_t)total + 1, sizeof(float *)))) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int i = 0; i < total; i++)
            if (!(s->host_state[i] = vkg__calloc(ctx, (size_t)floats[i], sizeof(float))))
                return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for decoding state (%llu floats)",
                                  (unsigned long long)floats[i]);
    } else {
        vkg__exec_vk_destroy(s);   /* buffers are sized by the state; rebuilt on the next call */
    }
    s->pos0 = 0;
    s->state_dirty = true;
    return VKG_OK;
}

vkg_result vkg_session_reset(vkg_session *s) {
    if (!s) return VKG_ERR_INVALID_ARG;
    s->pos0 = 0;
    for (int i = 0; s->host_state && i < s->n_states; i++)
        if (!s->state_is_cache[i]) memset(s->host_state[i], 0, (size_t)s->state_floats[i] * sizeof(float));
    s->state_dirty = true;
    return VKG_OK;
}

int64_t vkg_session_position(const vkg_session *s) { return s ? s->pos0 : 0; }

void vkg_session_destroy(vkg_session *s) {
    if (!s) return;
    vkg_context *ctx = s->ctx;
    vkg__exec_vk_destroy(s);
    free_host_state(s);
    vkg__free(ctx, s->state_floats);
    vkg__free(ctx, s->state_is_cache);
    vkg__free(ctx, s->state_first);
    vkg__free(ctx, s->state_count);
    for (int i = 0; i < 16; i++) vkg__free(ctx, s->inputs[i].data);
    if (s->outputs)
        for (int i = 0; i < s->m->graph->n_outputs; i++) vkg__free(ctx, s->outputs[i]);
    vkg__free(ctx, s->outputs);
    vkg__free(ctx, s->output_shapes);
    vkg__free(ctx, s->shapes);
    vkg__free(ctx, s);
}

static void f16_to_f32_n(float *dst, const uint16_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = vkg__f16_to_f32(src[i]);
}

vkg_result vkg_session_set_input(vkg_session *s, const char *name, const vkg_host_tensor *t) {
    if (!s || !name || !t || !t->data || t->n_dims < 1 || t->n_dims > VKG_MAX_DIMS) return VKG_ERR_INVALID_ARG;
    vkg_context *ctx = s->ctx;
    const vkg_graph *g = s->m->graph;
    int idx = -1;
    for (int i = 0; i < g->n_inputs; i++)
        if (strcmp(g->tensors[g->inputs[i]].name, name) == 0) idx = i;
    if (idx < 0) return vkg__error(ctx, VKG_ERR_INPUT, "the graph has no input named '%s'", name);
    vkg_dtype want = g->tensors[g->inputs[idx]].dtype;
    bool ok = want == VKG_DTYPE_I32 ? t->dtype == VKG_DTYPE_I32 : (t->dtype == VKG_DTYPE_F32 || t->dtype == VKG_DTYPE_F16);
    if (!ok)
        return vkg__error(ctx, VKG_ERR_INPUT, "input '%s': expected %s data, got %s", name, want == VKG_DTYPE_I32 ? "i32" : "f32 or f16",
                          vkg_dtype_name(t->dtype));
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) {
        if (t->ne[i] < 1) return vkg__error(ctx, VKG_ERR_INPUT, "input '%s': empty input (dimension %d is %lld)", name, i, (long long)t->ne[i]);
        if (__builtin_mul_overflow(n, t->ne[i], &n) || n > ((int64_t)1 << 34))
            return vkg__error(ctx, VKG_ERR_INPUT, "input '%s': too large", name);
    }
    void *copy = vkg__malloc(ctx, (size_t)n * 4);
    if (!copy) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for input '%s'", name);
    if (t->dtype == VKG_DTYPE_F16) f16_to_f32_n(copy, t->data, n);
    else memcpy(copy, t->data, (size_t)n * 4);
    vkg__free(ctx, s->inputs[idx].data);
    s->inputs[idx] = *t;
    s->inputs[idx].dtype = want;
    s->inputs[idx].data = copy;
    s->input_set[idx] = true;
    return VKG_OK;
}

/* Binds run-time sizes from the inputs and runs the ops' checks of the data. */
static vkg_result prepare_run(vkg_session *s) {
    vkg_graph *g = s->m->graph;
    vkg__shape in_shapes[16];
    for (int i = 0; i < g->n_inputs; i++) {
        if (!s->input_set[i]) return vkg__error(s->ctx, VKG_ERR_INPUT, "input '%s' was not given", g->tensors[g->inputs[i]].name);
        in_shapes[i].n_dims = s->inputs[i].n_dims;
        memcpy(in_shapes[i].ne, s->inputs[i].ne, sizeof in_shapes[i].ne);
    }
    vkg_result r = vkg__graph_bind_inputs(g, in_shapes, s->syms);
    if (r == VKG_OK) r = vkg__graph_bind(g, s->syms, s->shapes);
    for (int n = 0; n < g->n_nodes && r == VKG_OK; n++) {
        const vkg__node *node = &g->nodes[n];
        if (!vkg__ops[node->op]->check_run) continue;
        vkg__ref_ctx rc = {.ctx = s->ctx, .node = node, .params = node->params, .n_in = node->n_in, .pos0 = s->pos0};
        for (int i = 0; i < node->n_in; i++) {
            const vkg__tensor *t = &g->tensors[node->in[i]];
            rc.in_shape[i] = s->shapes[node->in[i]];
            rc.in[i] = t->producer < 0 ? s->inputs[t->input_index].data : NULL;
        }
        rc.out_shape = s->shapes[node->out];
        r = vkg__ops[node->op]->check_run(&rc);
    }
    return r;
}

static vkg_result alloc_outputs(vkg_session *s) {
    const vkg_graph *g = s->m->graph;
    for (int i = 0; i < g->n_outputs; i++) {
        vkg__free(s->ctx, s->outputs[i]);
        s->output_shapes[i] = s->shapes[g->outputs[i]];
        s->outputs[i] = vkg__malloc(s->ctx, (size_t)vkg__shape_numel(&s->output_shapes[i]) * 4);
        if (!s->outputs[i]) return vkg__error(s->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for outputs");
    }
    return VKG_OK;
}

/* Rows of this call: the first input's leading size for token graphs. */
static int64_t call_tokens(const vkg_session *s) { return s->inputs[0].ne[0]; }

/* Runs a call whose sizes prepare_run has bound and checked. */
static vkg_result execute(vkg_session *s, bool decodable) {
    vkg_result r = alloc_outputs(s);
    if (r) return r;
    s->stats.weight_bytes = s->m->weight_bytes;
    r = s->backend == VKG_BACKEND_CPU ? vkg__exec_cpu_run(s) : vkg__exec_vk_run(s);
    if (r == VKG_OK && decodable) s->pos0 += call_tokens(s);
    return r;
}

/* The most rows any node reads in this call (bound shapes). */
static int64_t rows_needed(const vkg_session *s) {
    const vkg_graph *g = s->m->graph;
    int64_t rows = 0;
    for (int n = 0; n < g->n_nodes; n++) rows = VKG__MAX(rows, s->shapes[g->nodes[n].in[0]].ne[0]);
    return rows;
}

vkg_result vkg_session_run(vkg_session *s) {
    if (!s) return VKG_ERR_INVALID_ARG;
    vkg_result r = vkg_session_reset(s);
    if (r == VKG_OK) r = prepare_run(s);
    /* A whole sequence longer than the state: grow it (a run is never refused for length). */
    int64_t rows = r == VKG_OK ? rows_needed(s) : 0;
    if (rows > s->max_tokens) r = vkg__session_state_init(s, rows);
    if (r) return r;
    r = execute(s, false);
    vkg_session_reset(s);
    return r;
}

vkg_result vkg_session_step(vkg_session *s) {
    if (!s) return VKG_ERR_INVALID_ARG;
    const char *why;
    vkg_loc where;
    if (vkg_graph_decodable(s->m->graph, &why, &where) != VKG_OK) {
        if (where.line > 0) return vkg__error_at(s->ctx, VKG_ERR_GRAPH, where, "%s cannot be decoded token by token (it reads later rows)", why);
        return vkg__error(s->ctx, VKG_ERR_GRAPH, "the graph cannot be decoded token by token: %s", why);
    }
    if (!s->input_set[0]) return vkg__error(s->ctx, VKG_ERR_INPUT, "input '%s' was not given", s->m->graph->tensors[s->m->graph->inputs[0]].name);
    if (s->pos0 + call_tokens(s) > s->max_tokens)
        return vkg__error(s->ctx, VKG_ERR_INPUT, "the sequence would reach %lld tokens, past the session's max_tokens %lld",
                          (long long)(s->pos0 + call_tokens(s)), (long long)s->max_tokens);
    vkg_result r = prepare_run(s);
    return r ? r : execute(s, true);
}

vkg_result vkg_session_get_output(vkg_session *s, int index, vkg_host_tensor *out) {
    if (!s || !out || index < 0 || index >= s->m->graph->n_outputs) return VKG_ERR_INVALID_ARG;
    if (!s->outputs[index]) return vkg__error(s->ctx, VKG_ERR_INVALID_ARG, "no output yet: run the session first");
    *out = (vkg_host_tensor){.dtype = VKG_DTYPE_F32, .n_dims = s->output_shapes[index].n_dims, .data = s->outputs[index]};
    memcpy(out->ne, s->output_shapes[index].ne, sizeof out->ne);
    return VKG_OK;
}

vkg_result vkg_session_stats_get(const vkg_session *s, vkg_session_stats *out) {
    if (!s || !out) return VKG_ERR_INVALID_ARG;
    *out = s->stats;
    return VKG_OK;
}
