/*
 * vkg_frontend.h — graph files (YAML, GRAPH-FORMAT.md) to vkg_graph.
 * Uses only the public graph-building API of vkg.h; links libyaml.
 */
#ifndef VKG_FRONTEND_H
#define VKG_FRONTEND_H

#include "vkg.h"

typedef struct vkg_frontend_desc {
    const char *path;                 /* the graph file (also named in messages) */
    const char *text;                 /* non-NULL: parse this text instead of reading path */
    size_t text_len;                  /* 0: strlen(text) */
    const char *const *dim_overrides; /* "K=V" strings (--dim) */
    int n_dim_overrides;
} vkg_frontend_desc;

/* Parses, expands repeats and residuals and builds the graph; every check of
 * GRAPH-FORMAT.md happens here or in the graph calls it makes.
 * Errors: VKG_ERR_GRAPH with "FILE:LINE:COL: message" in vkg_last_error(ctx),
 * VKG_ERR_IO when the file cannot be read, VKG_ERR_OUT_OF_MEMORY. */
vkg_result vkg_frontend_load(vkg_context *ctx, const vkg_frontend_desc *desc, vkg_graph **out);

#endif
