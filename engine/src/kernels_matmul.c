/*
 * kernels_matmul.c — the matmul kernel family: vkg__emit_matmul turns
 * y[M, N] = act(x[M, K] w[N, K]^T + bias) + res into one dispatch, choosing a
 * variant per device class (LAVAPIPE.md):
 *
 *   gemv          M <= 4 on CPU-like devices: one invocation per output column
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
 * Calls only the lowering interface (vkg__lower_emit) and result.c.
 */
#include "vkg_impl.h"
#include "vkg_kernels.h"
#include "vkg_pc.h"

#include <stdlib.h>
#include <string.h>

typedef enum mm_variant { MM_AUTO, MM_SG, MM_RB, MM_GEMV, MM_TILED } mm_variant;

#define MM_GEMV_MAX_M 4u
#define MM_GROUPS_MAX 65535u

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

/* Binds r at a byte offset aligned down to the storage-buffer alignment (at
 * least 16, so vec4 views stay aligned) and returns the remainder in
 * elements through *elem_off. Byte offsets must be multiples of 4. */
static vkg__bufref bind_aligned(const vkg__lower_ctx *lc, vkg__bufref r, uint64_t *elem_off)
{
    uint64_t align = 256;
    if (lc->ctx && lc->ctx->vk && lc->ctx->vk->storage_align) align = lc->ctx->vk->storage_align;
    if (align < 16) align = 16;
    uint64_t base = r.offset - r.offset % align;
    uint64_t delta = r.offset - base;
    *elem_off = delta / 4;
    vkg__bufref b = r;
    b.offset = base;
    if (r.size) b.size = r.size + delta;
    return b;
}

/* Splits a workgroup count over x and y (groupCountX <= 65535); the shaders
 * linearise (y * countX + x) and drop what lies past the end. */
static void set_groups(vkg__dispatch *d, uint64_t n)
{
    if (n == 0) n = 1;
    if (n <= MM_GROUPS_MAX) {
        d->groups[0] = (uint32_t)n;
        d->groups[1] = 1;
    } else {
        d->groups[0] = MM_GROUPS_MAX;
        d->groups[1] = (uint32_t)((n + MM_GROUPS_MAX - 1) / MM_GROUPS_MAX);
    }
    d->groups[2] = 1;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

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

    bool has_bias = md->bias.kind != VKG__BUF_NONE;
    bool has_res = md->res.kind != VKG__BUF_NONE;
    uint64_t off[5];
    vkg__dispatch d;
    memset(&d, 0, sizeof d);
    d.n_bind = 5;
    d.bind[0] = bind_aligned(lc, md->x, &off[0]);
    d.bind[1] = bind_aligned(lc, md->w, &off[1]);
    d.bind[4] = bind_aligned(lc, md->y, &off[4]);
    if (has_bias) {
        d.bind[2] = bind_aligned(lc, md->bias, &off[2]);
    } else {
        d.bind[2] = d.bind[4];
        off[2] = 0;
    }
    if (has_res) {
        d.bind[3] = bind_aligned(lc, md->res, &off[3]);
    } else {
        d.bind[3] = d.bind[4];
        off[3] = 0;
    }
    d.writes = 1u << 4;
    d.node = lc->node_index;

    vkg_pc_matmul pc = {
        .M = M, .N = N, .K = K, .x_stride = xs, .y_stride = ys,
        .x_off = (uint32_t)off[0], .w_off = (uint32_t)off[1], .b_off = (uint32_t)off[2],
        .r_off = (uint32_t)off[3], .y_off = (uint32_t)off[4],
        .act = (uint32_t)md->act,
        .flags = (has_bias ? VKG_MM_HAS_BIAS : 0u) | (has_res ? VKG_MM_HAS_RES : 0u),
    };
    memcpy(d.pc, &pc, sizeof pc);
    d.pc_size = sizeof pc;

    mm_force f = read_force();
    bool vec4 = !f.scalar && K % 4 == 0 && xs % 4 == 0 && off[0] % 4 == 0 && off[1] % 4 == 0;
    int devclass = f.devclass >= 0 ? f.devclass : (int)lc->devclass;
    mm_variant v = f.variant;
    if (v == MM_AUTO) {
        if (devclass == VKG__DEVCLASS_GPU) v = MM_TILED;
        else if (M <= MM_GEMV_MAX_M) v = MM_GEMV;
        else v = subgroups_usable(lc) ? MM_SG : MM_RB;
    }

    d.spec[2] = vec4 ? 1u : 0u;
    switch (v) {
    case MM_SG: {
        if (!subgroups_usable(lc))
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED,
                              "matmul: subgroup variant needs broadcast and subgroup size 4, 8 or 16 (have %u)",
                              lc->subgroup_size);
        uint32_t sg = lc->subgroup_size, bm = 16, tn = 8;
        uint32_t local = sg * (64 / sg);
        d.kernel = VKG_KERNEL_MATMUL_SG;
        d.spec[0] = local;
        d.spec[1] = sg;
        d.spec[3] = bm;
        d.spec[4] = tn;
        d.n_spec = 5;
        uint64_t tiles = ceil_div(M, bm) * ceil_div(N, (uint64_t)sg * tn);
        set_groups(&d, ceil_div(tiles, local / sg));
        break;
    }
    case MM_RB: {
        uint32_t local = 64, tm = 8, tn = 8;
        d.kernel = VKG_KERNEL_MATMUL_RB;
        d.spec[0] = local;
        d.spec[1] = 0;
        d.spec[3] = tm;
        d.spec[4] = tn;
        d.n_spec = 5;
        set_groups(&d, ceil_div(ceil_div(M, tm) * ceil_div(N, tn), local));
        break;
    }
    case MM_GEMV: {
        if (M > MM_GEMV_MAX_M)
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "matmul: gemv variant takes M <= %u (have %u)",
                              MM_GEMV_MAX_M, M);
        uint32_t local = 64;
        d.kernel = VKG_KERNEL_GEMV;
        d.spec[0] = local;
        d.spec[1] = 0;
        d.spec[3] = M;
        d.n_spec = 4;
        set_groups(&d, ceil_div(N, local));
        break;
    }
    case MM_TILED:
    default:
        d.kernel = VKG_KERNEL_MATMUL_TILED;
        d.spec[0] = 256;
        d.n_spec = 3;
        set_groups(&d, ceil_div(M, 64) * ceil_div(N, 64));
        break;
    }
    return vkg__lower_emit(lc, &d);
}
