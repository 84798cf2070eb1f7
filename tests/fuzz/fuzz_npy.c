/*
 * fuzz_npy.c — libFuzzer harness for the .npy reader: vkg_npy_read on the
 * input (through a memfd path), then a touch of every element it returned.
 * Built by scripts/fuzz.sh.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fuzz_one_npy(data, size);
    return 0;
}
