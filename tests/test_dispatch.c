/*
 * test_dispatch.c — the shared dispatch helpers of the kernel emitters
 * (engine/src/dispatch.c): workgroup grids (1-D, split 2-D, too large),
 * bindings at aligned offsets with element remainders, the device alignment,
 * spec constants, the 32-bit index check and the vec4 choice. Host only: no
 * dispatch is recorded, so no device is needed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dispatch.h"

static vkg_context ctx;             /* zeroed: vkg__error writes only ctx.err */

static vkg__lower_ctx lower_ctx(void)
{
    memset(&ctx, 0, sizeof ctx);
    return (vkg__lower_ctx){.ctx = &ctx, .node_index = 3};
}

Test(dispatch, init_and_spec)
{
    vkg__lower_ctx lc = lower_ctx();
    vkg__dispatch d;
    memset(&d, 0xff, sizeof d);
    vkg__dispatch_init(&lc, &d, 5, 128);
    cr_expect_eq(d.kernel, 5);
    cr_expect_eq(d.node, 3);
    cr_expect_eq(d.n_spec, 1);
    cr_expect_eq(d.spec[0], 128);
    cr_expect_eq(d.n_bind, 0);
    cr_expect_eq(d.writes, 0);
    vkg__dispatch_spec(&d, 3, 7);
    cr_expect_eq(d.n_spec, 4);
    cr_expect_eq(d.spec[1], 0);
    cr_expect_eq(d.spec[3], 7);
    vkg__dispatch_spec(&d, 1, 5);
    cr_expect_eq(d.n_spec, 4, "a lower spec keeps the count");
}

/* Every count: gx, gy <= 65535, gx * gy covers n with less than one row of
 * spare groups; the split is 1-D while it fits. */
Test(dispatch, groups_cover_counts)
{
    vkg__lower_ctx lc = lower_ctx();
    const uint64_t counts[] = {0, 1, 7, 65535, 65536, 65535ull * 3 + 1, 100000007ull, 65535ull * 65535};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        uint64_t n = counts[i];
        vkg__dispatch d;
        vkg__dispatch_init(&lc, &d, 0, 1);
        cr_assert_eq(vkg__dispatch_groups(&lc, &d, n), VKG_OK, "n %llu", (unsigned long long)n);
        uint64_t gx = d.groups[0], gy = d.groups[1], need = n ? n : 1;
        cr_expect(gx >= 1 && gx <= 65535 && gy >= 1 && gy <= 65535 && d.groups[2] == 1, "n %llu: %llu x %llu",
                  (unsigned long long)n, (unsigned long long)gx, (unsigned long long)gy);
        cr_expect(gx * gy >= need && gx * gy - need < gy, "n %llu: %llu x %llu", (unsigned long long)n,
                  (unsigned long long)gx, (unsigned long long)gy);
        if (need <= 65535) cr_expect(gx == need && gy == 1, "n %llu is 1-D", (unsigned long long)n);
    }
}

Test(dispatch, groups_too_large)
{
    vkg__lower_ctx lc = lower_ctx();
    vkg__dispatch d;
    vkg__dispatch_init(&lc, &d, 0, 64);
    cr_expect_eq(vkg__dispatch_groups(&lc, &d, 65535ull * 65535 + 1), VKG_ERR_UNSUPPORTED);
    cr_expect_eq(vkg__dispatch_items(&lc, &d, 64ull * 65535 * 65535), VKG_OK);
    cr_expect_eq(vkg__dispatch_items(&lc, &d, 64ull * 65535 * 65535 + 1), VKG_ERR_UNSUPPORTED);
}

Test(dispatch, items_round_up_by_local_size)
{
    vkg__lower_ctx lc = lower_ctx();
    vkg__dispatch d;
    vkg__dispatch_init(&lc, &d, 0, 128);
    cr_assert_eq(vkg__dispatch_items(&lc, &d, 129), VKG_OK);
    cr_expect_eq(d.groups[0], 2);
    cr_assert_eq(vkg__dispatch_items(&lc, &d, 128), VKG_OK);
    cr_expect_eq(d.groups[0], 1);
}

Test(dispatch, bind_aligned_offsets)
{
    vkg__lower_ctx lc = lower_ctx();
    vkg__dispatch d;
    vkg__dispatch_init(&lc, &d, 0, 1);
    vkg__bufref a = {VKG__BUF_TENSOR, 2, 256 * 3 + 52, 0}, b = {VKG__BUF_WEIGHT, 1, 40, 100};
    cr_expect_eq(vkg__dispatch_bind(&d, a, false), 13);
    cr_expect_eq(vkg__dispatch_bind(&d, b, true), 10);
    cr_expect_eq(vkg__dispatch_bind_aligned(&d, a, true, 16), 1);
    cr_assert_eq(d.n_bind, 3);
    cr_expect_eq(d.bind[0].offset, 768);
    cr_expect_eq(d.bind[0].size, 0, "to the end stays to the end");
    cr_expect_eq(d.bind[0].index, 2);
    cr_expect_eq(d.bind[1].offset, 0);
    cr_expect_eq(d.bind[1].size, 140, "the size grows by what the offset lost");
    cr_expect_eq(d.bind[1].kind, VKG__BUF_WEIGHT);
    cr_expect_eq(d.bind[2].offset, 816);
    cr_expect_eq(d.writes, 0x6);
    uint32_t present = 7;
    cr_expect_eq(vkg__dispatch_bind_opt(&d, (vkg__bufref){0}, a, &present), 13);
    cr_expect_eq(present, 0);
    cr_expect_eq(d.bind[3].index, 2, "the stand-in is bound");
    cr_expect_eq(vkg__dispatch_bind_opt(&d, b, a, &present), 10);
    cr_expect_eq(present, 1);
    cr_expect_eq(d.writes, 0x6, "optional inputs are read only");
}

Test(dispatch, storage_align)
{
    vkg__lower_ctx lc = lower_ctx();
    cr_expect_eq(vkg__dispatch_storage_align(&lc), 256, "no device: VKG__BIND_ALIGN");
    vkg__vk_device vk;
    memset(&vk, 0, sizeof vk);
    ctx.vk = &vk;
    vk.storage_align = 4;
    cr_expect_eq(vkg__dispatch_storage_align(&lc), 16, "at least 16 for vec4 views");
    vk.storage_align = 64;
    cr_expect_eq(vkg__dispatch_storage_align(&lc), 64);
    ctx.vk = NULL;
}

Test(dispatch, check_u32)
{
    vkg__lower_ctx lc = lower_ctx();
    cr_expect_eq(vkg__dispatch_check_u32(&lc, UINT32_MAX, "x"), VKG_OK);
    cr_expect_eq(vkg__dispatch_check_u32(&lc, (uint64_t)UINT32_MAX + 1, "x"), VKG_ERR_UNSUPPORTED);
}

Test(dispatch, vec4_choice)
{
    uint32_t off[3] = {4, 8, 0};
    cr_expect(vkg__dispatch_vec4_ok(12, off, 3));
    cr_expect(!vkg__dispatch_vec4_ok(13, off, 3), "row length");
    cr_expect(vkg__dispatch_vec4(12, off, 3));
    cr_expect(off[0] == 1 && off[1] == 2 && off[2] == 0, "offsets in vec4s");
    uint32_t odd[2] = {4, 6};
    cr_expect(!vkg__dispatch_vec4(8, odd, 2));
    cr_expect(odd[0] == 4 && odd[1] == 6, "unchanged when scalar");
}

/* HyLRA selection over no keys is an error (it divided by zero before). */
Test(dispatch, hylra_select_without_keys)
{
    vkg__lower_ctx lc = lower_ctx();
    vkg__bufref t = {VKG__BUF_TENSOR, 0, 0, 0};
    vkg__hylra_desc hd = {.q = t, .k = t, .v = t, .o = t, .idx = t, .Tq = 3, .Tk = 0, .H = 2, .KV = 1, .Dh = 8, .top_k = 4,
                          .scale = 1.0f, .causal = false};
    cr_expect_eq(vkg__emit_hylra_select(&lc, &hd), VKG_ERR_INVALID_ARG);
}
