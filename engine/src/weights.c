/*
 * weights.c — the model: every weight the graph needs, read from a
 * safetensors file (F32/F16/BF16 converted to f32, shapes checked, unused
 * keys warned about once) or drawn by the engine's generator (OPS.md 16),
 * kept on the host for the CPU reference and uploaded into one device buffer.
 */
#include "vkg_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

static vkg_result shape_error(vkg_model *m, const vkg__weight *w, const vkg__st_entry *e, const char *path) {
    char want[96], got[128] = "[";
    vkg__shape_str(NULL, &w->shape, want, sizeof want);
    for (int i = 0; i < e->n_dims; i++) {
        char d[32];
        snprintf(d, sizeof d, "%s%lld", i ? ", " : "", (long long)e->ne[i]);
        strncat(got, d, sizeof got - strlen(got) - 1);
    }
    strncat(got, "]", sizeof got - strlen(got) - 1);
    return vkg__error(m->ctx, VKG_ERR_WEIGHTS, "%s: weight %s has shape %s, expected %s", path, w->key, got, want);
}

/* The conv exception of GRAPH-FORMAT.md: [C, 1, K] for [C, K], [Dh, 1, k, k] for [Dh, k, k]. */
static bool conv_layout_matches(const vkg__weight *w, const vkg__st_entry *e) {
    if (!w->conv_layout || e->n_dims != w->shape.n_dims + 1 || e->ne[1] != 1) return false;
    if (e->ne[0] != w->shape.ne[0]) return false;
    for (int i = 1; i < w->shape.n_dims; i++)
        if (e->ne[i + 1] != w->shape.ne[i]) return false;
    return true;
}

static bool entry_matches(const vkg__weight *w, const vkg__st_entry *e) {
    if (e->n_dims != w->shape.n_dims) return conv_layout_matches(w, e);
    for (int i = 0; i < e->n_dims; i++)
        if (e->ne[i] != w->shape.ne[i]) return false;
    return true;
}

static void warn_unused(vkg_model *m, const vkg__safetensors *st, const char *path) {
    char list[1024] = "";
    int unused = 0;
    for (int i = 0; i < st->n_entries; i++) {
        bool used = false;
        for (int j = 0; j < m->graph->n_weights && !used; j++) used = strcmp(st->entries[i].key, m->graph->weights[j].key) == 0;
        if (used) continue;
        if (unused++ < 16) {
            strncat(list, unused > 1 ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, st->entries[i].key, sizeof list - strlen(list) - 1);
        }
    }
    if (unused)
        vkg__log(m->ctx, VKG_LOG_WARN, "%s: %d weight%s the graph does not use: %s%s", path, unused, unused > 1 ? "s" : "", list,
                 unused > 16 ? ", ..." : "");
}

static vkg_result load_file(vkg_model *m, const char *path) {
    vkg__safetensors st;
    vkg_result r = vkg__st_open(m->ctx, path, &st);
    if (r) return r;
    const vkg_graph *g = m->graph;
    for (int i = 0; i < g->n_weights && r == VKG_OK; i++) {
        const vkg__weight *w = &g->weights[i];
        const vkg__st_entry *e = vkg__st_find(&st, w->key);
        if (!e) {
            char want[96];
            vkg__shape_str(NULL, &w->shape, want, sizeof want);
            r = vkg__error(m->ctx, VKG_ERR_WEIGHTS, "%s: missing weight %s (expected shape %s)", path, w->key, want);
        } else if (!entry_matches(w, e)) {
            r = shape_error(m, w, e, path);
        } else {
            vkg__st_to_f32(&st, e, m->host[i]);
        }
    }
    if (r == VKG_OK) warn_unused(m, &st, path);
    vkg__st_close(&st);
    return r;
}

/* OPS.md 16: one generator seeded once, weights in declaration order, each row-major. */
void vkg__weights_draw(const vkg_graph *g, uint64_t seed, double std, float **host) {
    vkg__rng rng;
    vkg__rng_seed(&rng, seed);
    for (int i = 0; i < g->n_weights; i++) {
        const vkg__weight *w = &g->weights[i];
        int64_t n = vkg__shape_numel(&w->shape);
        for (int64_t j = 0; j < n; j++)
            host[i][j] = w->init == VKG__INIT_NORMAL ? (float)(vkg__rng_normal(&rng) * std) : w->init == VKG__INIT_ONES ? 1.0f : 0.0f;
    }
}

static vkg_result check_finite(vkg_model *m) {
    for (int i = 0; i < m->graph->n_weights; i++) {
        int64_t n = vkg__shape_numel(&m->graph->weights[i].shape);
        for (int64_t j = 0; j < n; j++)
            if (!isfinite(m->host[i][j]))
                return vkg__error(m->ctx, VKG_ERR_WEIGHTS, "weight %s: element %lld is %s", m->graph->weights[i].key, (long long)j,
                                  isnan(m->host[i][j]) ? "NaN" : "infinite");
    }
    return VKG_OK;
}

static vkg_result alloc_host(vkg_model *m) {
    const vkg_graph *g = m->graph;
    m->cap_w = g->n_weights + 1;
    m->host = vkg__calloc(m->ctx, (size_t)m->cap_w, sizeof(float *));
    m->offsets = vkg__calloc(m->ctx, (size_t)m->cap_w, sizeof(uint64_t));
    m->w_numel = vkg__calloc(m->ctx, (size_t)m->cap_w, sizeof(int64_t));
    m->w_key = vkg__calloc(m->ctx, (size_t)m->cap_w, sizeof(const char *));
    if (!m->host || !m->offsets || !m->w_numel || !m->w_key) return vkg__error(m->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for weights");
    for (int i = 0; i < g->n_weights; i++) {
        size_t n = (size_t)vkg__shape_numel(&g->weights[i].shape);
        m->n_w = i + 1;
        m->w_numel[i] = (int64_t)n;
        m->w_key[i] = g->weights[i].key;
        if (!(m->host[i] = vkg__malloc(m->ctx, n * sizeof(float))))
            return vkg__error(m->ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for weight %s", g->weights[i].key);
    }
    return VKG_OK;
}

/* Weights no node reads any more (folded away) are neither counted nor uploaded. */
static void count_used(vkg_model *m) {
    m->weight_bytes = 0;
    for (int i = 0; i < m->n_w; i++)
        if (vkg__model_weight_used(m, i)) m->weight_bytes += (uint64_t)m->w_numel[i] * 4;
}

static vkg_result upload(vkg_model *m) {
    vkg_context *ctx = m->ctx;
    uint64_t align = VKG__MAX(ctx->vk->storage_align, 16), total = 0;
    for (int i = 0; i < m->n_w; i++) {
        m->offsets[i] = total;
        if (vkg__model_weight_used(m, i)) total += ((uint64_t)m->w_numel[i] * 4 + align - 1) / align * align;
    }
    vkg_result r = vkg__vk_buffer_create(ctx, total ? total : 16, VKG__MEM_DEVICE, &m->wbuf);
    if (r) return r;
    m->has_wbuf = true;
    for (int i = 0; i < m->n_w && r == VKG_OK; i++)
        if (vkg__model_weight_used(m, i)) r = vkg__vk_upload(ctx, &m->wbuf, m->offsets[i], m->host[i], (uint64_t)m->w_numel[i] * 4);
    return r;
}

vkg_result vkg_model_create(vkg_context *ctx, const vkg_model_desc *desc, vkg_model **out) {
    if (!ctx || !desc || !desc->graph || !out) return VKG_ERR_INVALID_ARG;
    *out = NULL;
    vkg_graph *g = desc->graph;
    if (!g->finished) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg_model_create: call vkg_graph_finish first");
    vkg_model *m = vkg__calloc(ctx, 1, sizeof *m);
    if (!m) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->graph = g;
    m->desc = *desc;
    vkg_result r = alloc_host(m);
    const char *path = desc->weights_path ? desc->weights_path : (g->has_wsrc ? g->wsrc.path : NULL);
    if (r == VKG_OK) {
        if (path) r = load_file(m, path);
        else vkg__weights_draw(g, g->has_wsrc ? g->wsrc.seed : 0, g->has_wsrc ? g->wsrc.std : 0.02, m->host);
    }
    if (r == VKG_OK && desc->check_finite) r = check_finite(m);
    if (r == VKG_OK) r = vkg__fold_prepare(m);
    if (r == VKG_OK && !desc->no_fold) r = vkg__fold_run(m);
    if (r == VKG_OK) count_used(m);
    if (r == VKG_OK && ctx->vk) r = upload(m);
    if (r) {
        vkg_model_destroy(m);
        return r;
    }
    *out = m;
    return VKG_OK;
}

void vkg_model_destroy(vkg_model *m) {
    if (!m) return;
    vkg_context *ctx = m->ctx;
    if (m->has_wbuf) vkg__vk_buffer_destroy(ctx, &m->wbuf);
    if (m->host)
        for (int i = 0; i < m->n_w; i++) vkg__free(ctx, m->host[i]);
    vkg__free(ctx, m->host);
    vkg__free(ctx, m->offsets);
    vkg__free(ctx, m->w_numel);
    vkg__free(ctx, m->w_key);
    vkg__free(ctx, m->nodes);
    vkg__free(ctx, m->skip);
    vkg__free(ctx, m->fold_norm);
    vkg__free(ctx, m->fold_into);
    vkg__arena_free_all(&m->arena);
    vkg__free(ctx, m);
}

vkg_result vkg_graph_write_random_weights(vkg_graph *g, const char *path, uint64_t seed, double std, vkg_dtype dtype) {
    if (!g || !path || (dtype != VKG_DTYPE_F32 && dtype != VKG_DTYPE_F16 && dtype != VKG_DTYPE_BF16)) return VKG_ERR_INVALID_ARG;
    vkg_context *ctx = g->ctx;
    float **host = vkg__calloc(ctx, (size_t)g->n_weights + 1, sizeof(float *));
    vkg__st_write_entry *e = vkg__calloc(ctx, (size_t)g->n_weights + 1, sizeof *e);
    vkg_result r = host && e ? VKG_OK : vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < g->n_weights && r == VKG_OK; i++) {
        const vkg__weight *w = &g->weights[i];
        if (!(host[i] = vkg__malloc(ctx, sizeof(float) * (size_t)vkg__shape_numel(&w->shape))))
            r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory");
        e[i] = (vkg__st_write_entry){.key = w->key, .dtype = dtype, .n_dims = w->shape.n_dims, .data = host[i]};
        memcpy(e[i].ne, w->shape.ne, sizeof e[i].ne);
    }
    if (r == VKG_OK) {
        vkg__weights_draw(g, seed, std == 0 ? 0.02 : std, host);
        r = vkg__st_write(ctx, path, e, g->n_weights);
    }
    if (host)
        for (int i = 0; i < g->n_weights; i++) vkg__free(ctx, host[i]);
    vkg__free(ctx, host);
    vkg__free(ctx, e);
    return r;
}
