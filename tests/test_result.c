/*
 * test_result.c — results and their strings, contexts, the CPU backend
 * context, error messages and the memory planner.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vkg_impl.h"

Test(result, every_code_has_a_string) {
    for (int r = 0; r < VKG_RESULT_COUNT; r++) {
        const char *s = vkg_result_string((vkg_result)r);
        cr_assert(s && *s && strcmp(s, "unknown result") != 0, "code %d has no string", r);
    }
    cr_assert_str_eq(vkg_result_string(VKG_RESULT_COUNT), "unknown result");
}

Test(result, cpu_context_has_no_device) {
    vkg_context *ctx;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    cr_assert_str_eq(vkg_context_device_name(ctx), "cpu");
    cr_assert_eq(vkg_context_set_error(ctx, VKG_ERR_INPUT, "bad %d", 7), VKG_ERR_INPUT);
    cr_assert_str_eq(vkg_last_error(ctx), "bad 7");
    vkg_context_destroy(ctx);
}

Test(result, bad_device_name_keeps_the_message) {
    vkg_context *ctx = NULL;
    vkg_result r = vkg_context_create(&(vkg_context_desc){.device = "no-such-device-xyz"}, &ctx);
    cr_assert_eq(r, VKG_ERR_NO_DEVICE);
    cr_assert_not_null(ctx);
    cr_assert(strstr(vkg_last_error(ctx), "no-such-device-xyz") != NULL, "message: %s", vkg_last_error(ctx));
    vkg_context_destroy(ctx);
}

Test(result, planner_never_overlaps_live_items) {
    vkg_context *ctx;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    enum { N = 40 };
    uint64_t sizes[N], offs[N], total;
    int first[N], last[N];
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        sizes[i] = (uint64_t)(i * 37 % 11 + 1) * 100;
        first[i] = i / 2;
        last[i] = first[i] + i % 5;
        sum += (sizes[i] + 255) / 256 * 256;
    }
    cr_assert_eq(vkg__plan_memory(ctx, N, sizes, first, last, 256, offs, &total), VKG_OK);
    cr_assert(total < sum, "no reuse: %llu vs %llu", (unsigned long long)total, (unsigned long long)sum);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(offs[i] % 256, 0);
        cr_assert(offs[i] + sizes[i] <= total);
        for (int j = 0; j < i; j++) {
            bool live = first[i] <= last[j] && first[j] <= last[i];
            bool overlap = offs[i] < offs[j] + sizes[j] && offs[j] < offs[i] + sizes[i];
            cr_assert(!(live && overlap), "items %d and %d overlap while both alive", i, j);
        }
    }
    vkg_context_destroy(ctx);
}
