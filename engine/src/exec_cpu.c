/*
 * exec_cpu.c — runs a bound graph on the C reference: one host buffer per
 * tensor, every node's vkg__<op>_ref in order. The oracle for the Vulkan path.
 */
#include "model.h"

#include <string.h>

vkg_result vkg__exec_cpu_run(vkg_session *s) {
    const vkg_graph *g = s->m->graph;
    vkg_context *ctx = s->ctx;
    void **buf = vkg__calloc(ctx, (size_t)g->n_tensors, sizeof(void *));
    if (!buf) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    vkg_result r = VKG_OK;
    uint64_t total = 0;
    for (int i = 0; i < g->n_inputs; i++) buf[g->inputs[i]] = s->inputs[i].data;
    for (int n = 0; n < g->n_nodes && r == VKG_OK; n++) {
        const vkg__node *node = &s->m->nodes[n];   /* as folding left it */
        if (s->m->skip[n]) continue;
        uint64_t bytes = (uint64_t)vkg__shape_numel(&s->shapes[node->out]) * 4;
        total += bytes;
        if (!(buf[node->out] = vkg__malloc(ctx, bytes))) {
            r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for %s", node->prefix);
            break;
        }
        const float *w[VKG__MAX_NODE_WEIGHTS];
        for (int k = 0; k < node->n_weights; k++) w[k] = s->m->host[node->weights[k]];
        vkg__ref_ctx rc = {.ctx = ctx, .node = node, .params = node->params, .n_in = node->n_in, .w = w, .pos0 = s->pos0,
                           .out_shape = s->shapes[node->out], .out = buf[node->out]};
        for (int i = 0; i < node->n_in; i++) {
            rc.in_shape[i] = s->shapes[node->in[i]];
            rc.in[i] = buf[node->in[i]];
        }
        rc.max_tokens = s->max_tokens;
        rc.session = s;
        for (int k = 0; k < s->state_count[n]; k++) rc.state[k] = s->host_state[s->state_first[n] + k];
        r = vkg__ops[node->op]->ref(&rc);
    }
    for (int i = 0; i < g->n_outputs && r == VKG_OK; i++)
        memcpy(s->outputs[i], buf[g->outputs[i]], (size_t)vkg__shape_numel(&s->output_shapes[i]) * 4);
    for (int n = 0; n < g->n_nodes; n++) vkg__free(ctx, buf[g->nodes[n].out]);
    vkg__free(ctx, buf);
    s->stats.tensor_bytes_total = total;
    s->stats.arena_bytes = total;
    return r;
}

float *vkg__ref_state_of(const vkg__ref_ctx *rc, int node, int slot) {
    const vkg_session *s = rc->session;
    VKG_ASSERT(s && node >= 0 && node < s->m->graph->n_nodes && slot >= 0 && slot < s->state_count[node]);
    return s->host_state[s->state_first[node] + slot];
}
