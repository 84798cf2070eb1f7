"""safetensors_io.py — read and write safetensors files with numpy only.

The engine (engine/src/safetensors.c) and the Python tools exchange weights
through this format; this module needs no `safetensors` or `torch` package.

    from safetensors_io import load, save
    tensors, metadata = load("w.safetensors")         # {key: np.ndarray}, {str: str}
    save("out.safetensors", {"w": arr}, dtype="f16")  # dtype: None (keep), "f32", "f16", "bf16"

F32, F16 and BF16 are what the engine reads; load also understands the
other common dtypes (F64, I64, I32, I16, I8, U8, BOOL). BF16 comes back as
float32 (numpy has no bfloat16). Files are written as the reference
implementation writes them: header padded with spaces to a multiple of 8,
data packed without holes, larger elements first.

Command line:  python3 tools/safetensors_io.py FILE   (lists keys, dtypes, shapes)
"""
import json
import struct
import sys

import numpy as np

_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
         "I8": 1, "U8": 1, "BOOL": 1}


def bf16_to_f32(u16):
    """uint16 bf16 bit patterns -> float32."""
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """float32 -> uint16 bf16 bit patterns, round to nearest even; NaN stays NaN."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = (b & 0x7FFFFFFF) > 0x7F800000
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF
    r = np.where(nan, (b >> 16) | 0x40, r)
    return r.astype(np.uint16)


def load(path):
    """Returns ({key: array}, metadata). Arrays are copies (writable)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} beyond the file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for key, info in header.items():
        dt, shape = info["dtype"], [int(s) for s in info["shape"]]
        b, e = (int(v) for v in info["data_offsets"])
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if dt not in _SIZE:
            raise ValueError(f"{path}: key {key!r}: unsupported dtype {dt}")
        if not (0 <= b <= e <= len(data)) or e - b != numel * _SIZE[dt]:
            raise ValueError(f"{path}: key {key!r}: bad data_offsets {b}, {e}")
        buf = data[b:e]
        if dt == "BF16":
            arr = bf16_to_f32(np.frombuffer(buf, dtype="<u2"))
        else:
            arr = np.frombuffer(buf, dtype=_NP[dt]).copy()
        out[key] = arr.reshape(shape)
    return out, meta


def save(path, tensors, dtype=None, metadata=None):
    """Writes {key: array} (insertion order kept in the header).

    dtype None keeps float16/float32 arrays as they are (other floats become
    F32); "f32", "f16" or "bf16" converts every array."""
    items = []
    for key, a in tensors.items():
        a = np.asarray(a)
        want = dtype or ("f16" if a.dtype == np.float16 else "f32")
        if want == "f32":
            st, buf = "F32", np.ascontiguousarray(a, dtype="<f4").tobytes()
        elif want == "f16":
            st, buf = "F16", np.ascontiguousarray(a, dtype="<f2").tobytes()
        elif want == "bf16":
            st, buf = "BF16", f32_to_bf16(a).astype("<u2").tobytes()
        else:
            raise ValueError(f"unknown dtype {want!r}")
        items.append((key, st, list(a.shape), buf))
    order = sorted(range(len(items)), key=lambda i: (-_SIZE[items[i][1]], i))
    offsets, pos = {}, 0
    for i in order:
        offsets[i] = (pos, pos + len(items[i][3]))
        pos += len(items[i][3])
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    for i, (key, st, shape, _) in enumerate(items):
        header[key] = {"dtype": st, "shape": shape, "data_offsets": list(offsets[i])}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for i in order:
            f.write(items[i][3])


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    tensors, meta = load(argv[1])
    for k, v in meta.items():
        print(f"# {k}: {v}")
    for k, v in tensors.items():
        print(f"{k}\t{v.dtype}\t{list(v.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
