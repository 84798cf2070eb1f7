"""Regenerates the small reference files of tests/test_io.c with Debian's numpy.

    /usr/bin/python3 tests/data/make_io_data.py

The C tests recompute every value from the formulas below, so keep them in step.
"""
import os
import sys

import numpy as np
from numpy.lib import format as npf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import safetensors_io  # noqa: E402


def p(name):
    return os.path.join(HERE, name)


def save_version(name, arr, version):
    with open(p(name), "wb") as f:
        npf.write_array(f, arr, version=version)


# good files
np.save(p("io_f32_2x3.npy"), (np.arange(6, dtype=np.float32) * 0.25 - 0.5).reshape(2, 3))
np.save(p("io_f32_1.npy"), np.array([3.5], dtype=np.float32))
np.save(p("io_f32_1x7x13x1.npy"), (np.arange(91, dtype=np.float32) * 0.125 - 3).reshape(1, 7, 13, 1))
np.save(p("io_f32_2x0.npy"), np.zeros((2, 0), dtype=np.float32))
np.save(p("io_f16_7.npy"), (np.arange(7) * 1.5 - 4).astype(np.float16))
np.save(p("io_f64_13.npy"), np.arange(13, dtype=np.float64) / 7.0)
np.save(p("io_i32_4.npy"), np.array([-2147483648, -1, 0, 2147483647], dtype=np.int32))
np.save(p("io_i64_3x1x2.npy"), (np.arange(6, dtype=np.int64) * 1000003 - 3000000).reshape(3, 1, 2))
np.save(p("io_be_f4_5.npy"), np.arange(5, dtype=">f4") + 0.5)
np.save(p("io_be_i8_3.npy"), np.array([-5, 0, 7], dtype=">i8"))
save_version("io_v2_f32_257.npy", np.arange(257, dtype=np.float32), (2, 0))
save_version("io_v3_f32_3.npy", np.arange(3, dtype=np.float32), (3, 0))
# bad files
np.save(p("io_bad_i64_big.npy"), np.array([1, 2**40], dtype=np.int64))
np.save(p("io_bad_fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(p("io_bad_scalar.npy"), np.float32(1.0))
np.save(p("io_bad_bool.npy"), np.array([True, False, True]))
np.save(p("io_bad_u8.npy"), np.arange(4, dtype=np.uint8))
np.save(p("io_bad_5d.npy"), np.zeros((1, 1, 1, 1, 2), dtype=np.float32))
np.save(p("io_bad_struct.npy"), np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))

# safetensors written by tools/safetensors_io.py (key order: a, b)
safetensors_io.save(p("io_py.safetensors"), {
    "b.f16": (np.arange(7) * 0.5 - 1).astype(np.float16),
    "a.f32": (np.arange(6, dtype=np.float32) * 0.25 - 0.5).reshape(2, 3),
})
safetensors_io.save(p("io_py_bf16.safetensors"),
                    {"w": (np.arange(13, dtype=np.float32) - 6) * 0.5}, dtype="bf16")
