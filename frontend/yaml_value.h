/*
 * yaml_value.h — private to the frontend: libyaml -> vkg_value trees.
 *
 * The tree lives in a chunked bump arena owned by the caller; one call to
 * vkg__yaml_arena_free releases every value, string and array in it.
 */
#ifndef VKG_YAML_VALUE_H
#define VKG_YAML_VALUE_H

#include "vkg.h"

#define VKG__YAML_MAX_DEPTH 64                 /* nested collections, the top map included */
#define VKG__YAML_MAX_BYTES ((size_t)16 << 20) /* 16 MiB */

typedef struct vkg__yaml_chunk vkg__yaml_chunk;
typedef struct vkg__yaml_arena {
    vkg__yaml_chunk *head;
} vkg__yaml_arena;

/* Zeroed, 16-byte aligned; NULL when out of memory. */
void *vkg__yaml_alloc(vkg__yaml_arena *a, size_t size);
/* Copies len bytes and a terminating NUL; NULL when out of memory. */
char *vkg__yaml_strndup(vkg__yaml_arena *a, const char *s, size_t len);
void vkg__yaml_arena_free(vkg__yaml_arena *a);

/* Resolves a plain (unquoted) scalar by the YAML 1.2 core schema subset of
 * GRAPH-FORMAT.md into v (kind and i/f/b/s; s points into the arena).
 * Returns false when a decimal integer does not fit in 64 bits. */
bool vkg__yaml_resolve_plain(vkg__yaml_arena *a, const char *s, size_t len, vkg_value *v);

/* Parses text (len bytes) into a tree whose top level is a map. Every value
 * and key carries its 1-based line/column with loc.file = file.
 * Errors: VKG_ERR_GRAPH ("FILE:LINE:COL: message" recorded in ctx) for bad
 * YAML or a rejected construct (duplicate keys, anchors, aliases, merge keys,
 * tags, several documents, an empty file, a top level that is not a map, NUL
 * bytes, invalid UTF-8, nesting deeper than VKG__YAML_MAX_DEPTH, more than
 * VKG__YAML_MAX_BYTES); VKG_ERR_OUT_OF_MEMORY. */
vkg_result vkg__yaml_parse(vkg_context *ctx, vkg__yaml_arena *a, const char *file, const char *text, size_t len, vkg_value **out);

#endif
