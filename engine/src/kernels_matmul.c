/*
 * kernels_matmul.c — the matmul kernel family: vkg__emit_matmul turns
 * y[M, N] = act(x[M, K] w[N, K]^T + bias) + res into one dispatch, choosing a
 * variant per device class (LAVAPIPE.md):
 *
 *   gemv          M <= 4 on CPU-like devices: one invocation per MM_GEMV_NR
 *                 output columns, each x load shared by those rows of w
 *                 (sharing x by subgroupBroadcast measured slower: 2.3 vs 3.6)
 *   matmul_sg     CPU-like devices with subgroups: 8-lane subgroups compute
 *                 16 x 64 blocks, sharing x rows by subgroupBroadcast
 *   matmul_rb     CPU-like devices without usable subgroups: 8 x 8 register
 *                 blocks per invocation
 *   matmul_tiled  GPUs: 64 x 64 shared-memory tiles, BK = 16
 *
 * Every variant takes vec4 loads (spec 2) only when K, x_stride and the x / w
 * element offsets are multiples of 4, and scalar loads otherwise.
 * Environment overrides (tests, benchmarks):
 *   VKG_FORCE_DEVCLASS=cpu|gpu            device class used for the choice
 *   VKG_MATMUL_VARIANT=sg|rb|gemv|tiled   force a variant; ",scalar" appended
 *                                         (e.g. "sg,scalar") forbids vec4 loads
 * Calls only the lowering interface (vkg__lower_emit), the dispatch helpers
 * (dispatch.h) and result.c.
 */
#include "dispatch.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <stdlib.h>
#include <string.h>

typedef enum mm_variant { MM_AUTO, MM_SG, MM_RB, MM_GEMV, MM_TILED } mm_variant;

#define MM_GEMV_MAX_M 4u
#define MM_GEMV_NR 4u     /* gemv.comp: rows of w per invocation, sharing the x loads (lavapipe: 1.5x over 1) */

typedef struct mm_force {
    mm_variant variant;
    bool scalar;
    int devclass;                   /* -1: as the device says */
} mm_force;

static mm_force read_force(void)
{
    mm_force f = {MM_AUTO, false, -1};
    const char *dc = getenv("VKG_FORCE_DEVCLASS");
    if (dc && strcmp(dc, "gpu") == 0) f.devclass = VKG__DEVCLASS_GPU;
    if (dc && strcmp(dc, "cpu") == 0) f.devclass = VKG__DEVCLASS_CPU;
    const char *v = getenv("VKG_MATMUL_VARIANT");
    if (v && *v) {
        static const struct { const char *name; mm_variant v; } names[] = {
            {"sg", MM_SG}, {"rb", MM_RB}, {"gemv", MM_GEMV}, {"tiled", MM_TILED},
        };
        size_t len = strcspn(v, ",");
        for (size_t i = 0; i < VKG__COUNTOF(names); i++)
            if (strlen(names[i].name) == len && strncmp(v, names[i].name, len) == 0)
                f.variant = names[i].v;
        f.scalar = strstr(v, ",scalar") != NULL;
    }
    return f;
}

/* Whether the subgroup kernel can run: broadcast support and a subgroup size
 * that divides its 16-row block. */
static bool subgroups_usable(const vkg__lower_ctx *lc)
{
    uint32_t sg = lc->subgroup_size;
    if (sg != 4 && sg != 8 && sg != 16) return false;
    if (lc->ctx && lc->ctx->vk && !lc->ctx->vk->subgroup_ballot) return false;
    return true;
}

/* Kernel and specialization constants of variant v (spec 2, vec4 loads, is
 * set by the caller) and its workgroup count in *n_groups. */
static vkg_result mm_variant_init(vkg__lower_ctx *lc, vkg__dispatch *d, mm_variant v, uint32_t M, uint32_t N, uint64_t *n_groups)
{
    switch (v) {
    case MM_SG: {
        if (!subgroups_usable(lc))
            return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED,
                              "matmul: subgroup variant needs broadcast and subgroup size 4, 8 or 16 (have %u)",
                              lc->subgroup_size);
        uint32_t sg = lc->subgroup_size, bm = 16, tn = 8;
        uint32_t local = sg * (64 / sg);
        vkg__dispatch_init(lc, d, VKG_KERNEL_MATMUL_SG, local);
        vkg__dispatch_spec(d, 1, sg);
        vkg__dispatch_spec(d, 3, bm);
        vkg__dispatch_spec(d, 4, tn);
        uint64_t tiles = vkg__ceil_div(M, bm) * vkg__ceil_div(N, (uint64_t)sg * tn);
        *n_groups = vkg__ceil_div(tiles, local / sg);
        return VKG_OK;
    }
    case MM_RB: {
        uint32_t local = 64, tm = 8, tn = 8;
        vkg__dispatch_init(lc, d, VKG_KERNEL_MATMUL_RB, local);
        vkg__dispatch_spec(d, 3, tm);
        vkg__dispatch_spec(d, 4, tn);
        *n_groups = vkg__ceil_div(vkg__ceil_div(M, tm) * vkg__ceil_div(N, tn), local);
        return VKG_OK;
    }
    case MM_GEMV: {
        if (M > MM_GEMV_MAX_M)
            return vkg__error(lc->ctx, VKG_ERR_UNSUPPORTED, "matmul: gemv variant takes M <= %u (have %u)",
                              MM_GEMV_MAX_M, M);
        uint32_t local = 64, nr = MM_GEMV_NR;
        vkg__dispatch_init(lc, d, VKG_KERNEL_GEMV, local);
        vkg__dispatch_spec(d, 3, M);
        vkg__dispatch_spec(d, 4, nr);
        *n_groups = vkg__ceil_div(vkg__ceil_div(N, nr), local);
        return VKG_OK;
    }
    case MM_TILED:
    default:
        vkg__dispatch_init(lc, d, VKG_KERNEL_MATMUL_TILED, 256);
        *n_groups = vkg__ceil_div(M, 64) * vkg__ceil_div(N, 64);
        return VKG_OK;
    }
}

vkg_result vkg__emit_matmul(vkg__lower_ctx *lc, const vkg__matmul_desc *md)
{
    vkg_context *ctx = lc->ctx;
    uint32_t M = md->M, N = md->N, K = md->K;
    uint32_t xs = md->x_stride ? md->x_stride : K;
    uint32_t ys = md->y_stride ? md->y_stride : N;
    if (M == 0 || N == 0) return VKG_OK;
    if (xs < K || ys < N || (unsigned)md->act >= VKG__ACT_COUNT)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG,
                          "matmul: bad description (K %u, x_stride %u, N %u, y_stride %u, act %d)",
                          K, xs, N, ys, (int)md->act);
    if (md->x.kind == VKG__BUF_NONE || md->w.kind == VKG__BUF_NONE || md->y.kind == VKG__BUF_NONE)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "matmul: x, w and y must be bound");
    const vkg__bufref *refs[5] = {&md->x, &md->w, &md->bias, &md->res, &md->y};
    for (int i = 0; i < 5; i++)
        if (refs[i]->offset % 4)
            return vkg__error(ctx, VKG_ERR_INVALID_ARG,
                              "matmul: binding %d offset %llu is not a multiple of 4 bytes",
                              i, (unsigned long long)refs[i]->offset);
    /* Element indices are 32-bit in the shaders. */
    if ((uint64_t)(M - 1) * xs + K + 256 > UINT32_MAX || (uint64_t)N * K + 256 > UINT32_MAX ||
        (uint64_t)(M - 1) * ys + N + 256 > UINT32_MAX)
        return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "matmul: %ux%ux%u exceeds 32-bit indexing", M, N, K);

    mm_force f = read_force();
    int devclass = f.devclass >= 0 ? f.devclass : (int)lc->devclass;
    mm_variant v = f.variant;
    if (v == MM_AUTO) {
        if (devclass == VKG__DEVCLASS_GPU) v = MM_TILED;
        else if (M <= MM_GEMV_MAX_M) v = MM_GEMV;
        else v = subgroups_usable(lc) ? MM_SG : MM_RB;
    }
    vkg__dispatch d;
    uint64_t n_groups = 1;
    vkg_result r = mm_variant_init(lc, &d, v, M, N, &n_groups);
    if (r != VKG_OK) return r;

    /* Bindings x, w, bias, res, y at the device's alignment; an absent bias
     * or res binds y as its stand-in, with element offset 0. */
    uint64_t align = vkg__dispatch_storage_align(lc);
    bool has_bias = md->bias.kind != VKG__BUF_NONE;
    bool has_res = md->res.kind != VKG__BUF_NONE;
    uint32_t off[5];
    off[0] = vkg__dispatch_bind_aligned(&d, md->x, false, align);
    off[1] = vkg__dispatch_bind_aligned(&d, md->w, false, align);
    off[2] = vkg__dispatch_bind_aligned(&d, has_bias ? md->bias : md->y, false, align);
    off[3] = vkg__dispatch_bind_aligned(&d, has_res ? md->res : md->y, false, align);
    off[4] = vkg__dispatch_bind_aligned(&d, md->y, true, align);
    if (!has_bias) off[2] = 0;
    if (!has_res) off[3] = 0;

    vkg_pc_matmul pc = {
        .M = M, .N = N, .K = K, .x_stride = xs, .y_stride = ys,
        .x_off = off[0], .w_off = off[1], .b_off = off[2], .r_off = off[3], .y_off = off[4],
        .act = (uint32_t)md->act,
        .flags = (has_bias ? VKG_MM_HAS_BIAS : 0u) | (has_res ? VKG_MM_HAS_RES : 0u),
    };
    vkg__dispatch_pc(&d, &pc, sizeof pc);
    bool vec4 = !f.scalar && vkg__dispatch_vec4_ok(K, (const uint32_t[]){xs, off[0], off[1]}, 3);
    vkg__dispatch_spec(&d, 2, vec4);
    if ((r = vkg__dispatch_groups(lc, &d, n_groups)) != VKG_OK) return r;
    return vkg__lower_emit(lc, &d);
}
