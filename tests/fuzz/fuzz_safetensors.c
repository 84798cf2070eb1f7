/*
 * fuzz_safetensors.c — libFuzzer harness for the safetensors reader:
 * vkg__st_open on the input (through a memfd path), then every entry
 * converted to f32 as a model load would. Built by scripts/fuzz.sh.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fuzz_one_safetensors(data, size);
    return 0;
}
