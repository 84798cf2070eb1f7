/*
 * cli_run.c — `vkg run` (CLI.md): loads a graph, gathers its inputs from
 * --input .npy files, --text / --text-file bytes or an --image (stb_image),
 * builds model and session on Vulkan or the CPU reference, runs once, writes
 * every output to DIR/NAME.npy and prints a short summary. Calls only vkg.h
 * and vkg_frontend.h (plus stb_image for pictures).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "cli.h"

/* One graph input ready for vkg_session_set_input. */
typedef struct run_input {
    const char *name;        /* graph input name (owned by the graph or argv) */
    const char *from;        /* what gave it, for messages */
    vkg_host_tensor t;
    bool npy;                /* data from vkg_npy_read (freed by vkg_host_tensor_free) */
} run_input;

typedef struct run_state {
    vkg_context *ctx;
    vkg_graph *g;
    run_input in[CLI_MAX_ARGS + 2];
    int n_in;
} run_state;

static int find_graph_input(const vkg_graph *g, const char *name, size_t len)
{
    int n = vkg_graph_input_count(g);
    for (int i = 0; i < n; i++) {
        const char *in_name;
        vkg_dtype dt;
        int nd;
        if (vkg_graph_input_info(g, i, &in_name, &dt, &nd) == VKG_OK && strlen(in_name) == len &&
            memcmp(in_name, name, len) == 0)
            return i;
    }
    return -1;
}

static int already_given(const run_state *st, const char *name)
{
    for (int i = 0; i < st->n_in; i++)
        if (strcmp(st->in[i].name, name) == 0)
            return i;
    return -1;
}

static int add_input(run_state *st, int index, const char *from, vkg_host_tensor t, bool npy)
{
    const char *name;
    vkg_dtype dt;
    int nd;
    vkg_graph_input_info(st->g, index, &name, &dt, &nd);
    int prev = already_given(st, name);
    if (prev >= 0) {
        if (npy)
            vkg_host_tensor_free(st->ctx, &t);
        else
            free(t.data);
        return cli_usage_error("run: input %s given twice (%s and %s)", name, st->in[prev].from, from);
    }
    st->in[st->n_in++] = (run_input){.name = name, .from = from, .t = t, .npy = npy};
    return CLI_EXIT_OK;
}

/* First graph input with dtype dt and (rank < 0: any) rank; -1 if none. */
static int first_input_of(const vkg_graph *g, vkg_dtype want, int rank)
{
    int n = vkg_graph_input_count(g);
    for (int i = 0; i < n; i++) {
        const char *name;
        vkg_dtype dt;
        int nd;
        if (vkg_graph_input_info(g, i, &name, &dt, &nd) != VKG_OK)
            continue;
        bool float_ok = want == VKG_DTYPE_F32 && (dt == VKG_DTYPE_F32 || dt == VKG_DTYPE_F16 || dt == VKG_DTYPE_BF16);
        if ((dt == want || float_ok) && (rank < 0 || nd == rank))
            return i;
    }
    return -1;
}

static int tokens_input(run_state *st, const char *from, const unsigned char *bytes, size_t n)
{
    int idx = first_input_of(st->g, VKG_DTYPE_I32, -1);
    if (idx < 0)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: %s has no i32 input to take token ids", from, st->a_graph_name);
    if (n == 0)
        return cli_fail_msg(CLI_EXIT_INPUT, "%s: no bytes, so no tokens", from);
    int32_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return cli_fail_msg(CLI_EXIT_DEVICE, "out of host memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = bytes[i];
    vkg_host_tensor t = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {(int64_t)n}, .data = ids};
    return add_input(st, idx, from, t, false);
}
