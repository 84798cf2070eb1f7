#!/usr/bin/python3
"""bench_torch.py — prefill speed of a graph's PyTorch forward (vkgraph_torch), the
baseline that `vkg bench` numbers are set against.

    /usr/bin/python3 tools/bench_torch.py GRAPH [--weights W] [--tokens 128 512]
        [--threads 2] [--repeat 5]

Runs the graph on one sequence of N byte tokens (a fixed English sentence,
repeated), float32, no autograd, after one warm-up run; prints the median wall
time and prefill tokens/s per N, with the torch version, thread count, BLAS and
the load average (the CPU may be shared).
"""
import argparse
import os
import sys
import time


def _threads(argv, default="2"):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
    return default


os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads(sys.argv))
os.environ.setdefault("OMP_NUM_THREADS", _threads(sys.argv))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vkgraph_torch as vt  # noqa: E402

TEXT = b"The quick brown fox jumps over the lazy dog. "


def blas_name():
    try:
        return os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3").split("/")[-2]
    except OSError:
        return "?"


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch forward prefill tokens/s of a token graph.")
    ap.add_argument("graph")
    ap.add_argument("--weights")
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    g = vt.load_graph(a.graph, dtype=torch.float32)
    w = a.weights or os.path.join(os.path.dirname(a.graph), g.weights_key)
    g.load_safetensors(w)
    name = next(iter(g.inputs))
    print(f"# {g.name}: torch {torch.__version__}, float32, {a.threads} threads, BLAS {blas_name()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    for n in a.tokens:
        ids = np.frombuffer((TEXT * (n // len(TEXT) + 1))[:n], np.uint8).astype(np.int32)
        g.run({name: ids})                                   # warm-up
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            g.run({name: ids})
            times.append(time.perf_counter() - t0)
        med = float(np.median(times))
        print(f"prefill {n:5d} tokens: {med * 1e3:8.1f} ms  {n / med:8.0f} tokens/s  (median of {a.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
