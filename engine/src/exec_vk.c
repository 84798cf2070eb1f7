/*
 * exec_vk.c — the Vulkan path of a session: lowers every node to abstract
 * dispatches (ops call the kernels.c emitters), plans tensor and temporary
 * lifetimes into one arena (plan.c), resolves buffer references to device
 * ranges, records one program (vk_program.c), uploads inputs, runs, reads
 * the outputs back. Also the stand-alone lowering used by kernel tests.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "vkg_kernels.h"

// >>lowering state shared by sessions and stand-alone use
typedef struct lower_state {
    vkg_context *ctx;
    vkg__dispatch *d;
    int n_d, cap_d;
    uint64_t *temp_size;
    int *temp_node;
    int n_temp, cap_temp;
    int cur_node;
    vkg_result err;
} lower_state;

static bool grow(vkg_context *ctx, void **arr, int *cap, size_t elem, int need) {
    if (need <= *cap) return true;
    int ncap = *cap ? *cap * 2 : 64;
    while (ncap < need) ncap *= 2;
    void *p = vkg__malloc(ctx, elem * (size_t)ncap);
    if (!p) return false;
    if (*arr) memcpy(p, *arr, elem * (size_t)*cap);
    vkg__free(ctx, *arr);
    *arr = p;
    *cap = ncap;
    return true;
}

static void state_free(lower_state *st) {
    vkg__free(st->ctx, st->d);
    vkg__free(st->ctx, st->temp_size);
    vkg__free(st->ctx, st->temp_node);
    memset(st, 0, sizeof *st);
}

vkg__bufref vkg__lower_temp(vkg__lower_ctx *lc, uint64_t bytes) {
    lower_state *st = lc->impl;
    int cap = st->cap_temp;
    if (!grow(st->ctx, (void **)&st->temp_size, &cap, sizeof(uint64_t), st->n_temp + 1) ||
        !grow(st->ctx, (void **)&st->temp_node, &st->cap_temp, sizeof(int), st->n_temp + 1)) {
        st->err = vkg__error(st->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory lowering the graph");
        return (vkg__bufref){0};
    }
    st->temp_size[st->n_temp] = bytes ? bytes : 4;
    st->temp_node[st->n_temp] = st->cur_node;
    return (vkg__bufref){.kind = VKG__BUF_TEMP, .index = (uint32_t)st->n_temp++, .size = bytes};
}

vkg_result vkg__lower_emit(vkg__lower_ctx *lc, const vkg__dispatch *d) {
    lower_state *st = lc->impl;
    if (st->err) return st->err;
    VKG_ASSERT(d->kernel >= 0 && d->kernel < VKG_KERNEL_COUNT && d->n_bind <= VKG__MAX_BINDINGS && d->pc_size <= 128);
    for (int b = 0; b < d->n_bind; b++)
        if (d->bind[b].kind == VKG__BUF_NONE)
            return vkg__error(st->ctx, VKG_ERR_INVALID_ARG, "kernel %s: binding %d is unbound", vkg__kernels[d->kernel].name, b);
    if (!grow(st->ctx, (void **)&st->d, &st->cap_d, sizeof(vkg__dispatch), st->n_d + 1))
        return st->err = vkg__error(st->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory lowering the graph");
    st->d[st->n_d] = *d;
    st->d[st->n_d].node = st->cur_node;
    st->n_d++;
    return VKG_OK;
}

vkg__bufref vkg__lower_state_of(const vkg__lower_ctx *lc, int node, int slot) {
    const vkg_session *s = lc->session;
    VKG_ASSERT(s && node >= 0 && node < s->m->graph->n_nodes && slot >= 0 && slot < s->state_count[node]);
    return (vkg__bufref){.kind = VKG__BUF_STATE, .index = (uint32_t)(s->state_first[node] + slot)};
}

vkg__bufref vkg__bufref_sub(vkg__bufref r, uint64_t offset, uint64_t size) {
    r.offset += offset;
    if (size) r.size = size;
    else if (r.size) r.size = r.size > offset ? r.size - offset : 0;
    return r;
}

/* Device-class override for tests: VKG_FORCE_DEVCLASS=gpu|cpu. */
static vkg__device_class devclass_of(vkg_context *ctx) {
    const char *force = getenv("VKG_FORCE_DEVCLASS");
    if (force && strcmp(force, "gpu") == 0) return VKG__DEVCLASS_GPU;
    if (force && strcmp(force, "cpu") == 0) return VKG__DEVCLASS_CPU;
    return ctx->vk->devclass;
}

static void lower_ctx_init(vkg__lower_ctx *lc, vkg_context *ctx, lower_state *st) {
    memset(lc, 0, sizeof *lc);
    lc->ctx = ctx;
    lc->devclass = devclass_of(ctx);
    lc->subgroup_size = ctx->vk->subgroup_size;
    lc->impl = st;
}

// >>resolving buffer references to device ranges
typedef struct resolver {
    const vkg__vk_buffer *arena;
    const uint64_t *tensor_off, *tensor_size;   /* session: per tensor */
    const uint64_t *temp_off;
    const uint64_t *temp_size;
    const vkg__vk_buffer *weights;
    const uint64_t *weight_off, *weight_size;
    const vkg__vk_buffer *state;
    const uint64_t *state_off, *state_size;
    vkg__vk_buffer *const *bufs;                 /* stand-alone: TENSOR i -> bufs[i] */
    int n_bufs;
} resolver;

static vkg_result resolve(vkg_context *ctx, const resolver *rs, vkg__bufref r, vkg__vk_binding *out) {
    const vkg__vk_buffer *buf = NULL;
    uint64_t base = 0, size = 0;
    switch (r.kind) {
    case VKG__BUF_TENSOR:
        if (rs->bufs) {
            if ((int)r.index >= rs->n_bufs) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "buffer %u out of range", r.index);
            buf = rs->bufs[r.index];
            size = buf->size;
        } else {
            buf = rs->arena;
            base = rs->tensor_off[r.index];
            size = rs->tensor_size[r.index];
        }
        break;
    case VKG__BUF_TEMP: buf = rs->arena; base = rs->temp_off[r.index]; size = rs->temp_size[r.index]; break;
    case VKG__BUF_WEIGHT: buf = rs->weights; base = rs->weight_off[r.index]; size = rs->weight_size[r.index]; break;
    case VKG__BUF_STATE:
        if (!rs->state) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "decoding state outside a session");
        buf = rs->state; base = rs->state_off[r.index]; size = rs->state_size[r.index];
        break;
    default: return vkg__error(ctx, VKG_ERR_INVALID_ARG, "unbound buffer reference");
    }
    if (!buf) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "buffer reference to a missing buffer");
    uint64_t len = r.size ? r.size : (size > r.offset ? size - r.offset : 0);
    if (r.offset + len > size || len == 0)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "buffer reference [%llu, +%llu) outside its buffer of %llu bytes",
                          (unsigned long long)r.offset, (unsigned long long)len, (unsigned long long)size);
    *out = (vkg__vk_binding){.buffer = buf->buffer, .offset = base + r.offset, .range = len};
    return VKG_OK;
}

static vkg_result build_program(vkg_context *ctx, const lower_state *st, const resolver *rs, vkg__vk_program **out) {
    vkg__vk_dispatch *vd = vkg__calloc(ctx, (size_t)st->n_d + 1, sizeof *vd);
    if (!vd) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    vkg_result r = VKG_OK;
    for (int i = 0; i < st->n_d && r == VKG_OK; i++) {
        const vkg__dispatch *d = &st->d[i];
        vd[i] = (vkg__vk_dispatch){.kernel = d->kernel, .n_spec = d->n_spec, .pc_size = d->pc_size, .n_bind = d->n_bind,
                                   .writes = d->writes, .node = d->node};
        memcpy(vd[i].spec, d->spec, sizeof d->spec);
        memcpy(vd[i].pc, d->pc, sizeof d->pc);
        memcpy(vd[i].groups, d->groups, sizeof d->groups);
        for (int b = 0; b < d->n_bind && r == VKG_OK; b++) r = resolve(ctx, rs, d->bind[b], &vd[i].bind[b]);
    }
    if (r == VKG_OK) r = vkg__vk_program_create(ctx, vd, st->n_d, out);
    vkg__free(ctx, vd);
    return r;
}

// >>sessions
struct vkg__exec_vk {
    lower_state st;
    vkg__vk_program *prog;
    vkg__vk_buffer arena;
    bool has_arena;
    vkg__vk_buffer state;           /* every decoding-state buffer of the session */
    bool has_state;
    uint64_t *state_off, *state_size;
    int64_t syms[VKG__MAX_SYMS];    /* sizes and position the program was built for */
    int64_t pos0;
    uint64_t *tensor_off, *tensor_size, *weight_size;
    uint64_t *temp_off;
    int n_dispatch_nodes;
};

void vkg__exec_vk_destroy(vkg_session *s) {
    vkg__exec_vk *e = s->vk;
    if (!e) return;
    vkg_context *ctx = s->ctx;
    if (e->prog) vkg__vk_program_destroy(ctx, e->prog);
    if (e->has_arena) vkg__vk_buffer_destroy(ctx, &e->arena);
    if (e->has_state) vkg__vk_buffer_destroy(ctx, &e->state);
    vkg__free(ctx, e->state_off);
    vkg__free(ctx, e->state_size);
    state_free(&e->st);
    vkg__free(ctx, e->tensor_off);
    vkg__free(ctx, e->tensor_size);
    vkg__free(ctx, e->weight_size);
    vkg__free(ctx, e->temp_off);
    vkg__free(ctx, e);
    s->vk = NULL;
}

// >>fusion: a residual `add` into the matmul epilogue of the node producing one input
/* fused_add[n]: the add node whose output node n writes with the add's other
 * input as residual (or -1); absorbed[a]: the add emits nothing. A producer
 * qualifies when its op can fuse, the add is its output's only reader and
 * the output is no graph output. Off with no_fold. */
static void plan_fusion(const vkg_session *s, int *fused_add, bool *absorbed) {
    const vkg_graph *g = s->m->graph;
    const vkg__node *nodes = s->m->nodes;
    for (int n = 0; n < g->n_nodes; n++) fused_add[n] = -1, absorbed[n] = false;
    if (s->m->desc.no_fold) return;
    for (int a = 0; a < g->n_nodes; a++) {
        if (s->m->skip[a] || nodes[a].op != VKG_OP_add) continue;
        for (int side = 0; side < 2; side++) {
            int t = nodes[a].in[side], p = g->tensors[t].producer;
            if (p < 0 || s->m->skip[p] || fused_add[p] >= 0 || !vkg__ops[nodes[p].op]->fuse_residual) continue;
            if (nodes[a].in[0] == nodes[a].in[1]) break;
            int readers = 0;
            for (int n = 0; n < g->n_nodes; n++)
                for (int i = 0; i < nodes[n].n_in; i++) readers += !s->m->skip[n] && nodes[n].in[i] == t;
            bool is_output = false;
            for (int o = 0; o < g->n_outputs; o++) is_output |= g->outputs[o] == t;
            if (readers != 1 || is_output) continue;
            fused_add[p] = a;
            absorbed[a] = true;
            break;
        }
    }
}

static vkg_result lower_nodes(vkg_session *s, lower_state *st, const int *fused_add, const bool *absorbed) {
    const vkg_graph *g = s->m->graph;
    for (int n = 0; n < g->n_nodes; n++) {
        const vkg__node *node = &s->m->nodes[n];   /* as folding left it */
        if (s->m->skip[n] || absorbed[n]) continue;
        vkg__lower_ctx lc;
        lower_ctx_init(&lc, s->ctx, st);
        st->cur_node = n;
        lc.g = g;
        lc.node = node;
        lc.params = node->params;
        lc.node_index = n;
        lc.n_in = node->n_in;
        lc.pos0 = s->pos0;
        for (int i = 0; i < node->n_in; i++) {
            lc.in_shape[i] = s->shapes[node->in[i]];
            lc.in[i] = (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)node->in[i]};
        }
        lc.out_shape = s->shapes[node->out];
        lc.out = (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)node->out};
        if (fused_add[n] >= 0) {
            const vkg__node *add = &s->m->nodes[fused_add[n]];
            int other = add->in[0] == node->out ? add->in[1] : add->in[0];
            lc.out = (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)add->out};
            lc.residual = (vkg__bufref){.kind = VKG__BUF_TENSOR, .index = (uint32_t)other};
        }
        for (int k = 0; k < node->n_weights; k++) lc.w[k] = (vkg__bufref){.kind = VKG__BUF_WEIGHT, .index = (uint32_t)node->weights[k]};
        for (int k = 0; k < s->state_count[n]; k++)
            lc.state[k] = (vkg__bufref){.kind = VKG__BUF_STATE, .index = (uint32_t)(s->state_first[n] + k)};
        lc.max_tokens = s->max_tokens;
        lc.session = s;
        vkg_result r = vkg__ops[node->op]->lower(&lc);
        if (r) return r;
        if (st->err) return st->err;
    }
    return VKG_OK;
}

/* Lifetimes in node steps: a tensor lives from its producer to its last
 * reader (inputs from step 0, outputs to the end); temps within their node. */
static vkg_result plan_arena(vkg_session *s, vkg__exec_vk *e, const int *fused_add, uint64_t *arena_size) {
    const vkg_graph *g = s->m->graph;
    vkg_context *ctx = s->ctx;
    int nt = g->n_tensors, n = nt + e->st.n_temp;
    uint64_t *sizes = vkg__calloc(ctx, (size_t)n + 1, sizeof(uint64_t)), *offs = vkg__calloc(ctx, (size_t)n + 1, sizeof(uint64_t));
    int *first = vkg__calloc(ctx, (size_t)n + 1, sizeof(int)), *last = vkg__calloc(ctx, (size_t)n + 1, sizeof(int));
    vkg__free(ctx, e->tensor_off), vkg__free(ctx, e->tensor_size), vkg__free(ctx, e->temp_off);
    e->tensor_off = vkg__calloc(ctx, (size_t)nt + 1, sizeof(uint64_t));
    e->tensor_size = vkg__calloc(ctx, (size_t)nt + 1, sizeof(uint64_t));
    e->temp_off = vkg__calloc(ctx, (size_t)e->st.n_temp + 1, sizeof(uint64_t));
    vkg_result r = VKG_OK;
    if (!sizes || !offs || !first || !last || !e->tensor_off || !e->tensor_size || !e->temp_off)
        r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory planning memory");
    if (r == VKG_OK) {
        uint64_t total = 0;
        for (int t = 0; t < nt; t++) {
            sizes[t] = (uint64_t)vkg__shape_numel(&s->shapes[t]) * 4;
            if (g->tensors[t].producer >= 0 && s->m->skip[g->tensors[t].producer]) sizes[t] = 0;   /* folded away */
            total += sizes[t];
            first[t] = g->tensors[t].producer < 0 ? 0 : g->tensors[t].producer;
            last[t] = first[t];
        }
        const vkg__node *nodes = s->m->nodes;
        for (int ni = 0; ni < g->n_nodes; ni++)
            for (int i = 0; i < nodes[ni].n_in && !s->m->skip[ni]; i++) last[nodes[ni].in[i]] = VKG__MAX(last[nodes[ni].in[i]], ni);
        for (int i = 0; i < g->n_outputs; i++) last[g->outputs[i]] = g->n_nodes;
        for (int p = 0; p < g->n_nodes; p++)
            if (fused_add[p] >= 0) {
                /* The producer writes the add's output; its own output is never written. */
                total -= sizes[nodes[p].out];
                sizes[nodes[p].out] = 0;
                first[nodes[fused_add[p]].out] = p;
            }
        for (int i = 0; i < e->st.n_temp; i++) {
            sizes[nt + i] = e->st.temp_size[i];
            first[nt + i] = last[nt + i] = e->st.temp_node[i];
            total += sizes[nt + i];
        }
        uint64_t align = VKG__MAX(ctx->vk->storage_align, 16);
        r = vkg__plan_memory(ctx, n, sizes, first, last, align, offs, arena_size);
        for (int t = 0; t < nt && r == VKG_OK; t++) e->tensor_off[t] = offs[t], e->tensor_size[t] = sizes[t];
        for (int i = 0; i < e->st.n_temp && r == VKG_OK; i++) e->temp_off[i] = offs[nt + i];
        s->stats.tensor_bytes_total = total;
        s->stats.arena_bytes = *arena_size;
    }
    vkg__free(ctx, sizes), vkg__free(ctx, offs), vkg__free(ctx, first), vkg__free(ctx, last);
    return r;
}

static vkg_result compile(vkg_session *s, vkg__exec_vk *e) {
    vkg_context *ctx = s->ctx;
    if (e->prog) vkg__vk_program_destroy(ctx, e->prog), e->prog = NULL;
    state_free(&e->st);
    e->st.ctx = ctx;
    int n_nodes = s->m->graph->n_nodes;
    int *fused_add = vkg__calloc(ctx, (size_t)n_nodes + 1, sizeof(int));
    bool *absorbed = vkg__calloc(ctx, (size_t)n_nodes + 1, sizeof(bool));
    vkg_result r = fused_add && absorbed ? VKG_OK : vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (r == VKG_OK) {
        plan_fusion(s, fused_add, absorbed);
        s->stats.n_fused_adds = 0;
        for (int n = 0; n < n_nodes; n++) s->stats.n_fused_adds += absorbed[n];
        r = lower_nodes(s, &e->st, fused_add, absorbed);
    }
    uint64_t arena_size = 0;
    if (r == VKG_OK) r = plan_arena(s, e, fused_add, &arena_size);
    vkg__free(ctx, fused_add);
    vkg__free(ctx, absorbed);
    if (r == VKG_OK && (!e->has_arena || e->arena.size < arena_size)) {
        if (e->has_arena) vkg__vk_buffer_destroy(ctx, &e->arena), e->has_arena = false;
        r = vkg__vk_buffer_create(ctx, arena_size ? arena_size : 16, VKG__MEM_DEVICE, &e->arena);
        e->has_arena = r == VKG_OK;
    }
    if (r == VKG_OK && !e->weight_size) {
        if (!(e->weight_size = vkg__calloc(ctx, (size_t)s->m->n_w + 1, sizeof(uint64_t))))
            r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int i = 0; i < s->m->n_w && r == VKG_OK; i++) e->weight_size[i] = (uint64_t)s->m->w_numel[i] * 4;
    }
    if (r == VKG_OK) {
        resolver rs = {.arena = &e->arena, .tensor_off = e->tensor_off, .tensor_size = e->tensor_size, .temp_off = e->temp_off,
                       .temp_size = e->st.temp_size, .weights = &s->m->wbuf, .weight_off = s->m->offsets, .weight_size = e->weight_size,
                       .state = e->has_state ? &e->state : NULL, .state_off = e->state_off, .state_size = e->state_size};
        r = build_program(ctx, &e->st, &rs, &e->prog);
    }
    if (r == VKG_OK) {
        memcpy(e->syms, s->syms, sizeof e->syms);
        e->pos0 = s->pos0;
        s->stats.n_dispatches = (uint32_t)e->st.n_d;
        s->stats.n_barriers = vkg__vk_program_barriers(e->prog);
    }
    return r;
}

/* One device buffer holds every state of the session, each at an aligned offset. */
static vkg_result alloc_state(vkg_session *s, vkg__exec_vk *e) {
    vkg_context *ctx = s->ctx;
    e->state_off = vkg__calloc(ctx, (size_t)s->n_states + 1, sizeof(uint64_t));
    e->state_size = vkg__calloc(ctx, (size_t)s->n_states + 1, sizeof(uint64_t));
    if (!e->state_off || !e->state_size) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    uint64_t align = VKG__MAX(ctx->vk->storage_align, 16), total = 0;
    for (int i = 0; i < s->n_states; i++) {
        e->state_off[i] = total;
        e->state_size[i] = s->state_floats[i] * 4;
        total += (e->state_size[i] + align - 1) / align * align;
    }
    if (total == 0) return VKG_OK;
    vkg_result r = vkg__vk_buffer_create(ctx, total, VKG__MEM_DEVICE, &e->state);
    e->has_state = r == VKG_OK;
    return r;
}

/* Zeroes the states a new sequence must see as zero (not the KV caches). */
static vkg_result zero_state(vkg_session *s, vkg__exec_vk *e) {
    uint64_t biggest = 0;
    for (int i = 0; i < s->n_states; i++)
        if (!s->state_is_cache[i]) biggest = VKG__MAX(biggest, e->state_size[i]);
    if (biggest == 0) return VKG_OK;
    void *zeros = vkg__calloc(s->ctx, 1, (size_t)biggest);
    if (!zeros) return vkg__error(s->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    vkg_result r = VKG_OK;
    for (int i = 0; i < s->n_states && r == VKG_OK; i++)
        if (!s->state_is_cache[i]) r = vkg__vk_upload(s->ctx, &e->state, e->state_off[i], zeros, e->state_size[i]);
    vkg__free(s->ctx, zeros);
    return r;
}

vkg_result vkg__exec_vk_run(vkg_session *s) {
    vkg_context *ctx = s->ctx;
    const vkg_graph *g = s->m->graph;
    vkg_result r = VKG_OK;
    if (!s->vk) {
        if (!(s->vk = vkg__calloc(ctx, 1, sizeof *s->vk))) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
        if ((r = alloc_state(s, s->vk))) return r;
    }
    vkg__exec_vk *e = s->vk;
    if (s->state_dirty) {
        if ((r = zero_state(s, e))) return r;
        s->state_dirty = false;
    }
    if (!e->prog || e->pos0 != s->pos0 || memcmp(e->syms, s->syms, sizeof e->syms) != 0) r = compile(s, e);
    for (int i = 0; i < g->n_inputs && r == VKG_OK; i++) {
        int t = g->inputs[i];
        r = vkg__vk_upload(ctx, &e->arena, e->tensor_off[t], s->inputs[i].data, e->tensor_size[t]);
    }
    if (r == VKG_OK) r = vkg__vk_program_run(ctx, e->prog);
    for (int i = 0; i < g->n_outputs && r == VKG_OK; i++) {
        int t = g->outputs[i];
        r = vkg__vk_download(ctx, &e->arena, e->tensor_off[t], s->outputs[i], e->tensor_size[t]);
    }
    if (r && e->prog) {
        /* Rebuild from scratch next time: the failure may have left the program unusable. */
        vkg__vk_program_destroy(ctx, e->prog);
        e->prog = NULL;
    }
    return r;
}

vkg_result vkg__exec_vk_read_state(vkg_session *s, int state, void *dst, uint64_t bytes) {
    const vkg__exec_vk *e = s->vk;
    if (!e || !e->has_state || state < 0 || state >= s->n_states || bytes > e->state_size[state])
        return vkg__error(s->ctx, VKG_ERR_INVALID_ARG, "no such decoding state on the device: run the session first");
    return vkg__vk_download(s->ctx, &e->state, e->state_off[state], dst, bytes);
}

int vkg_session_timing_count(const vkg_session *s) {
    return s && s->vk && s->vk->prog ? s->vk->st.n_d : 0;
}

vkg_result vkg_session_timing(const vkg_session *s, int index, vkg_op_timing *out) {
    if (!s || !out || !s->vk || !s->vk->prog || index < 0 || index >= s->vk->st.n_d) return VKG_ERR_INVALID_ARG;
    const vkg__exec_vk *e = s->vk;
    int n = e->st.n_d;
    double *start = vkg__malloc(s->ctx, sizeof(double) * (size_t)n * 2);
    if (!start) return vkg__error(s->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    double *dur = start + n;
    int got = vkg__vk_program_timings(e->prog, start, dur, n);
    const vkg__dispatch *d = &e->st.d[index];
    const vkg__node *node = &s->m->graph->nodes[d->node];
    const vkg__tensor *t = &s->m->graph->tensors[node->out];
    *out = (vkg_op_timing){.node = t->name ? t->name : node->prefix, .op = vkg__ops[node->op]->name, .kernel = vkg__kernels[d->kernel].name,
                           .start_us = index < got ? start[index] : 0, .dur_us = index < got ? dur[index] : 0};
    vkg__free(s->ctx, start);
    return got > index ? VKG_OK : vkg__error(s->ctx, VKG_ERR_UNSUPPORTED, "no timestamps: create the context with profile on a device with timestamps");
}

// >>stand-alone lowering (kernel tests and benchmarks)
typedef struct standalone {
    vkg__lower_ctx lc;
    lower_state st;
    vkg__vk_buffer *const *bufs;
    int n_bufs;
    vkg__vk_buffer temps;
    bool has_temps;
} standalone;

vkg_result vkg__standalone_begin(vkg_context *ctx, vkg__vk_buffer *const *bufs, int n_bufs, vkg__lower_ctx **out) {
    if (!ctx || !ctx->vk || !out) return VKG_ERR_INVALID_ARG;
    standalone *sa = vkg__calloc(ctx, 1, sizeof *sa);
    if (!sa) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    sa->st.ctx = ctx;
    sa->st.cur_node = -1;
    sa->bufs = bufs;
    sa->n_bufs = n_bufs;
    lower_ctx_init(&sa->lc, ctx, &sa->st);
    sa->lc.node_index = -1;
    *out = &sa->lc;
    return VKG_OK;
}

vkg_result vkg__standalone_build(vkg__lower_ctx *lc, vkg__vk_program **out) {
    standalone *sa = (standalone *)lc;
    vkg_context *ctx = lc->ctx;
    if (sa->st.err) return sa->st.err;
    uint64_t align = VKG__MAX(ctx->vk->storage_align, 16), total = 0;
    uint64_t *off = vkg__calloc(ctx, (size_t)sa->st.n_temp + 1, sizeof(uint64_t));
    if (!off) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < sa->st.n_temp; i++) {
        off[i] = total;
        total += (sa->st.temp_size[i] + align - 1) / align * align;
    }
    vkg_result r = VKG_OK;
    if (total && !sa->has_temps) {
        r = vkg__vk_buffer_create(ctx, total, VKG__MEM_DEVICE, &sa->temps);
        sa->has_temps = r == VKG_OK;
    }
    if (r == VKG_OK) {
        resolver rs = {.arena = &sa->temps, .temp_off = off, .temp_size = sa->st.temp_size, .bufs = sa->bufs, .n_bufs = sa->n_bufs};
        r = build_program(ctx, &sa->st, &rs, out);
    }
    vkg__free(ctx, off);
    return r;
}

void vkg__standalone_end(vkg__lower_ctx *lc) {
    if (!lc) return;
    standalone *sa = (standalone *)lc;
    vkg_context *ctx = lc->ctx;
    if (sa->has_temps) vkg__vk_buffer_destroy(ctx, &sa->temps);
    state_free(&sa->st);
    vkg__free(ctx, sa);
}
