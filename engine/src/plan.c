/*
 * plan.c — the memory planner: items (tensors, temporaries) with byte sizes
 * and lifetimes [first, last] in dispatch-step order share one arena where
 * their lifetimes do not overlap. Greedy: largest first, lowest offset that
 * fits beside every placed item alive at the same time.
 */
#include "vkg_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct placed { uint64_t off, end; int first, last; } placed;

/* Stable insertion sort of item indices by size, largest first (qsort_r is not portable). */
static void sort_by_size(int *order, int n, const uint64_t *sizes) {
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && sizes[order[j]] < sizes[v]) { order[j + 1] = order[j]; j--; }
        order[j + 1] = v;
    }
}

static int cmp_off(const void *a, const void *b) {
    const placed *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

vkg_result vkg__plan_memory(vkg_context *ctx, int n, const uint64_t *sizes, const int *first, const int *last, uint64_t align,
                            uint64_t *offsets, uint64_t *total) {
    *total = 0;
    if (n == 0) return VKG_OK;
    int *order = vkg__malloc(ctx, sizeof(int) * (size_t)n);
    placed *done = vkg__malloc(ctx, sizeof(placed) * (size_t)n);
    placed *live = vkg__malloc(ctx, sizeof(placed) * (size_t)n);
    if (!order || !done || !live) {
        vkg__free(ctx, order), vkg__free(ctx, done), vkg__free(ctx, live);
        return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory planning the arena");
    }
    for (int i = 0; i < n; i++) order[i] = i;
    sort_by_size(order, n, sizes);
    int n_done = 0;
    for (int oi = 0; oi < n; oi++) {
        int i = order[oi];
        uint64_t size = (sizes[i] + align - 1) / align * align;
        int n_live = 0;
        for (int j = 0; j < n_done; j++)
            if (done[j].first <= last[i] && first[i] <= done[j].last) live[n_live++] = done[j];
        qsort(live, (size_t)n_live, sizeof(placed), cmp_off);
        uint64_t off = 0;
        for (int j = 0; j < n_live; j++) {
            if (live[j].off >= off + size) break;
            if (live[j].end > off) off = live[j].end;
        }
        offsets[i] = off;
        done[n_done++] = (placed){off, off + size, first[i], last[i]};
        if (off + size > *total) *total = off + size;
    }
    vkg__free(ctx, order);
    vkg__free(ctx, done);
    vkg__free(ctx, live);
    return VKG_OK;
}
