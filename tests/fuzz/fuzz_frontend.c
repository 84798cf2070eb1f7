/*
 * fuzz_frontend.c — libFuzzer harness for the YAML graph frontend:
 * vkg_frontend_load on the input as graph text (desc.text), then the
 * introspection a caller would run on a loaded graph. Built by
 * scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fuzz_one_frontend(data, size);
    return 0;
}
