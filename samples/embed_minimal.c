/*
 * embed_minimal.c — the smallest embedding of vkgraph: load a graph file,
 * bind its weights, run a short string's bytes as tokens on the default
 * device and print the argmax of the last row of the first output.
 * Usage: embed_minimal [GRAPH.yaml]   (default: graphs/llama-tiny.yaml,
 * relative to the current directory, i.e. run it from the source root).
 */
#include <stdio.h>
#include <string.h>

#include "vkg.h"
#include "vkg_frontend.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "graphs/llama-tiny.yaml";
    const char *text = "Hello, vkgraph!";
    vkg_context *ctx = NULL;
    vkg_graph *g = NULL;
    vkg_model *m = NULL;
    vkg_session *s = NULL;

    vkg_result r = vkg_context_create(&(vkg_context_desc){0}, &ctx);
    if (r == VKG_OK)
        r = vkg_frontend_load(ctx, &(vkg_frontend_desc){.path = path}, &g);
    if (r == VKG_OK)
        r = vkg_model_create(ctx, &(vkg_model_desc){.graph = g}, &m);
    if (r == VKG_OK)
        r = vkg_session_create(m, &(vkg_session_desc){0}, &s);

    int32_t ids[64];
    int n = (int)strlen(text);
    for (int i = 0; i < n; i++)
        ids[i] = (unsigned char)text[i];
    vkg_host_tensor in = {.dtype = VKG_DTYPE_I32, .n_dims = 1, .ne = {n}, .data = ids};
    const char *in_name = NULL;
    vkg_dtype dt;
    int nd;
    if (r == VKG_OK)
        r = vkg_graph_input_info(g, 0, &in_name, &dt, &nd);
    if (r == VKG_OK)
        r = vkg_session_set_input(s, in_name, &in);
    if (r == VKG_OK)
        r = vkg_session_run(s);

    vkg_host_tensor out;
    if (r == VKG_OK)
        r = vkg_session_get_output(s, 0, &out);
    if (r == VKG_OK) {
        int64_t row = out.ne[out.n_dims - 1], total = 1;
        for (int d = 0; d < out.n_dims; d++)
            total *= out.ne[d];
        const float *last = (const float *)out.data + (total - row);
        int64_t best = 0;
        for (int64_t i = 1; i < row; i++)
            if (last[i] > last[best])
                best = i;
        printf("%s on %s: output %s [", path, vkg_context_device_name(ctx), vkg_graph_output_name(g, 0));
        for (int d = 0; d < out.n_dims; d++)
            printf("%s%lld", d ? ", " : "", (long long)out.ne[d]);
        printf("], argmax of the last row: %lld\n", (long long)best);
    } else {
        fprintf(stderr, "embed_minimal: %s: %s\n", vkg_result_string(r), ctx ? vkg_last_error(ctx) : "");
    }
    vkg_session_destroy(s);
    vkg_model_destroy(m);
    vkg_graph_destroy(g);
    vkg_context_destroy(ctx);
    return r == VKG_OK ? 0 : 1;
}
