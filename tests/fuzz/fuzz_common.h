/*
 * fuzz_common.h — helpers shared by the libFuzzer harnesses of tests/fuzz/
 * and by tests/test_robust.c, which replays the regression files through the
 * same entry points: a CPU context made once, and the fuzz input handed to a
 * path-based reader through an anonymous in-memory file (memfd).
 */
#ifndef VKG_FUZZ_COMMON_H
#define VKG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vkg.h"
#include <stdlib.h>

#include "vkg_frontend.h"
#include "vkg_impl.h"

/* A CPU-backend context, silent, made on first use and kept. */
__attribute__((unused)) static vkg_context *fuzz_context(void)
{
    static vkg_context *ctx;
    if (!ctx && vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx) != VKG_OK)
        ctx = NULL;
    return ctx;
}

/* Writes data to a memfd; path gets "/proc/self/fd/N". Returns the fd or -1. */
__attribute__((unused)) static int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("vkg-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

/* One graph text through the frontend: returns its result (never crashes). */
__attribute__((unused)) static vkg_result fuzz_one_frontend(const uint8_t *data, size_t size)
{
    vkg_context *ctx = fuzz_context();
    if (!ctx)
        return VKG_ERR_OUT_OF_MEMORY;
    vkg_graph *g = NULL;
    /* text_len 0 means strlen: an empty input goes through a one-byte buffer */
    static const char empty[1] = "";
    vkg_result r = vkg_frontend_load(ctx,
                                     &(vkg_frontend_desc){.path = "fuzz.yaml",
                                                          .text = size ? (const char *)data : empty,
                                                          .text_len = size},
                                     &g);
    if (r == VKG_OK) {
        const char *why;
        vkg_loc where;
        (void)vkg_graph_decodable(g, &why, &where);
        (void)vkg_graph_weight_count(g);
        vkg_graph_destroy(g);
    }
    return r;
}
__attribute__((unused)) static vkg_result fuzz_one_safetensors(const uint8_t *data, size_t size)
{
    vkg_context *ctx = fuzz_context();
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (!ctx || fd < 0)
        return VKG_ERR_IO;
    vkg__safetensors st;
    vkg_result r = vkg__st_open(ctx, path, &st);
    close(fd);
    if (r != VKG_OK)
        return r;
    for (int i = 0; i < st.n_entries; i++) {
        const vkg__st_entry *e = &st.entries[i];
        if (vkg__st_find(&st, e->key) == NULL)
            abort();   /* every key must be found */
        if (e->size > (64u << 20))
            continue;
        float *dst = malloc(e->size * 2 + 4);
        if (dst)
            vkg__st_to_f32(&st, e, dst);
        free(dst);
    }
    vkg__st_close(&st);
    return r;
}

__attribute__((unused)) static vkg_result fuzz_one_npy(const uint8_t *data, size_t size)
{
    vkg_context *ctx = fuzz_context();
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (!ctx || fd < 0)
        return VKG_ERR_IO;
    vkg_host_tensor t;
    vkg_result r = vkg_npy_read(ctx, path, &t);
    close(fd);
    if (r != VKG_OK)
        return r;
    if (t.n_dims < 1 || t.n_dims > VKG_MAX_DIMS)
        abort();
    size_t n = 1;
    for (int d = 0; d < t.n_dims; d++)
        n *= (size_t)t.ne[d];
    volatile uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ((const uint32_t *)t.data)[i];
    vkg_host_tensor_free(ctx, &t);
    return r;
}

#endif
