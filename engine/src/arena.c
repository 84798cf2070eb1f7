/*
 * arena.c — chunked bump allocator (16-byte aligned, zeroed) owned by a
 * graph: nodes, tensors, names and copied values; one call frees it all.
 */
#include "vkg_impl.h"

#include <string.h>

struct vkg__arena_chunk {
    vkg__arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK_MIN (64 * 1024)

void *vkg__arena_alloc(vkg__arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    vkg__arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > ARENA_CHUNK_MIN ? size : ARENA_CHUNK_MIN;
        c = vkg__malloc(a->ctx, sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->size = cap;
        c->used = 0;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *vkg__arena_strdup(vkg__arena *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = vkg__arena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

void vkg__arena_free_all(vkg__arena *a) {
    vkg__arena_chunk *c = a->head;
    while (c) {
        vkg__arena_chunk *next = c->next;
        vkg__free(a->ctx, c);
        c = next;
    }
    a->head = NULL;
}
