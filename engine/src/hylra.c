/*
 * hylra.c — the public HyLRA calls of vkg.h that are not graph building:
 * the number of softmax layers a policy needs and reading a session's index
 * sets (for `vkg tune-hylra`). The index sets themselves are made and used by
 * engine/ops/attention_softmax.c.
 */
#include "model.h"

#include <string.h>

int vkg_graph_hylra_layers(const vkg_graph *g) {
    int n = 0;
    while (g && vkg__hylra_layer_node(g, n) >= 0) n++;
    return n;
}

vkg_result vkg_session_hylra_indices(vkg_session *s, int layer, vkg_host_tensor *out) {
    if (!s || !out || layer < 0) return VKG_ERR_INVALID_ARG;
    const vkg_graph *g = s->m->graph;
    int node = vkg__hylra_layer_node(g, layer);
    if (node < 0) return vkg__error(s->ctx, VKG_ERR_INVALID_ARG, "hylra: the graph has no softmax layer %d", layer);
    int slot = vkg__hylra_index_slot(g, node);
    if (slot < 0) return vkg__error(s->ctx, VKG_ERR_INVALID_ARG, "hylra: softmax layer %d keeps no index sets", layer);
    if (!s->input_set[0]) return vkg__error(s->ctx, VKG_ERR_INVALID_ARG, "hylra: no index sets yet: run the session first");
    int st = s->state_first[node] + slot;
    int64_t top_k = g->hylra.top_k, KV = (int64_t)s->state_floats[st] / (s->max_tokens * top_k);
    int64_t rows = s->pos0 > 0 ? s->pos0 : s->inputs[0].ne[0];
    if (rows > s->max_tokens) return vkg__error(s->ctx, VKG_ERR_INVALID_ARG, "hylra: no index sets for %lld rows", (long long)rows);
    size_t bytes = (size_t)(rows * KV * top_k) * 4;
    void *data = vkg__malloc(s->ctx, bytes);
    if (!data) return vkg__error(s->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for hylra index sets");
    vkg_result r = VKG_OK;
    if (s->backend == VKG_BACKEND_CPU) memcpy(data, s->host_state[st], bytes);
    else r = vkg__exec_vk_read_state(s, st, data, bytes);
    if (r) {
        vkg__free(s->ctx, data);
        return r;
    }
    *out = (vkg_host_tensor){.dtype = VKG_DTYPE_I32, .n_dims = 3, .ne = {rows, KV, top_k}, .data = data};
    return VKG_OK;
}
