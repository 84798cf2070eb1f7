#!/usr/bin/python3
"""torch_whole_graph.py — the PyTorch reference speed for `vkg bench GRAPH --tokens N --decode M`.

Builds the graph's torch module with tools/vkgraph_torch.py in float32 on the
CPU with torch.set_num_threads(2) (this machine's cores), random weights
(numpy, std 0.05: speed does not depend on the values), and times
  prefill: one forward of N random byte ids, median and min of R runs after a warm-up;
  decode:  M greedy steps without a cache, each a full forward of the growing
           sequence (N + k tokens) of which only the last row is used, as a
           naive loop does (the module has no KV cache); time per token.

Usage: /usr/bin/python3 bench/torch_whole_graph.py GRAPH --tokens N [--decode M] [--repeat R] [--dim K=V]...
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import vkgraph_torch as vt  # noqa: E402


def time_ms(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graph")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--decode", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--dim", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(2)
    g = vt.load_graph(a.graph, dims=vt.parse_dims(a.dim), dtype=torch.float32)
    g.load_weights(g.random_weights(1, std=0.05), "random")
    g.eval()
    name = next(iter(g.inputs))
    ids = np.random.default_rng(1234).integers(0, 256, a.tokens + a.decode).astype(np.int32)

    run = lambda n: g.run({name: ids[:n]})  # noqa: E731
    run(a.tokens)  # warm-up
    ms = sorted(time_ms(lambda: run(a.tokens)) for _ in range(a.repeat))
    med = statistics.median(ms)
    print(f"torch {torch.__version__} float32, {torch.get_num_threads()} threads: {a.graph}")
    print(f"prefill {a.tokens} tokens: median {med:.3f} ms, min {ms[0]:.3f} ms over {a.repeat} runs, "
          f"{a.tokens / (med / 1e3):.1f} tokens/s")
    if a.decode > 0:
        passes = []
        for _ in range(max(1, a.repeat // 5)):
            passes.append(sum(time_ms(lambda: run(a.tokens + k + 1)) for k in range(a.decode)) / a.decode)
        passes.sort()
        med = statistics.median(passes)
        print(f"decode {a.decode} steps after {a.tokens} tokens (no cache: full forward per token): "
              f"median {med:.3f} ms/token, min {passes[0]:.3f} ms/token over {len(passes)} runs, "
              f"{1e3 / med:.1f} tokens/s")


if __name__ == "__main__":
    main()
