#!/usr/bin/python3
"""make_expected.py — writes graphs/expected/<name>.npy for the shipped graphs.

For each graph (default: every graphs/*.yaml) the engine writes its random
weights (`vkg init-weights GRAPH`, seed and std from the graph's
`weights: {random}`; a graph whose `weights:` is a file, such as a trained
model that ships, uses that file), the PyTorch reading (vkgraph_torch.py, float64) computes
the outputs on the standard inputs of tests/test_graphs.c, and the first
output is saved as float32 in graphs/expected/<file stem>.npy. Nothing else is
written there.

Standard inputs: token graphs get the UTF-8 bytes of
"The quick brown fox jumps over the lazy dog." as int32 ids for the first i32
input; image graphs get a float32 image of the input's fixed shape whose flat
(row-major HWC) element i is ((i * 37) % 101) / 100.

Usage: /usr/bin/python3 tools/make_expected.py [GRAPH.yaml ...] [--vkg PATH]
       [--own-weights]   (numpy weights with the right keys, NOT the engine's:
                          for development only, the result will not match)
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import vkgraph_torch as vt  # noqa: E402

DEFAULT_VKG = os.path.join(ROOT, "build-lead", "frontend", "vkg")


def find_vkg(path=None):
    for p in ([path] if path else []) + [os.environ.get("VKG"), DEFAULT_VKG,
                                          os.path.join(ROOT, "build", "frontend", "vkg")]:
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def engine_weights(vkg, graph, out, extra=()):
    r = subprocess.run([vkg, "init-weights", graph, "-o", out, *extra], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"vkg init-weights {graph} failed ({r.returncode}): {r.stderr.strip()}")


def own_weights(g, out):
    w = g.weights_key if isinstance(g.weights_key, dict) else {}
    r = (w or {}).get("random") or {}
    vt.safetensors_io.save(out, g.random_weights(int(r.get("seed", 0)), float(r.get("std", 0.02))))


def expected_for(graph, vkg, own=False):
    g = vt.load_graph(graph, dtype=torch.float64)
    if isinstance(g.weights_key, str):     # a graph that ships its weights: use them
        g.load_safetensors(os.path.join(os.path.dirname(graph), g.weights_key))
        outs = g.run(vt.standard_inputs(g))
        name, t = next(iter(outs.items()))
        return name, t.numpy().astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        w = os.path.join(d, "w.safetensors")
        if own:
            own_weights(g, w)
        else:
            engine_weights(vkg, graph, w)
        g.load_safetensors(w)
    outs = g.run(vt.standard_inputs(g))
    name, t = next(iter(outs.items()))
    return name, t.numpy().astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graphs", nargs="*")
    ap.add_argument("--vkg")
    ap.add_argument("--own-weights", action="store_true")
    ap.add_argument("--outdir", default=os.path.join(ROOT, "graphs", "expected"))
    a = ap.parse_args(argv)
    graphs = a.graphs or sorted(glob.glob(os.path.join(ROOT, "graphs", "*.yaml")))
    vkg = None if a.own_weights else find_vkg(a.vkg)
    if not a.own_weights and not vkg:
        print("error: no vkg binary (pass --vkg PATH, or --own-weights for development)", file=sys.stderr)
        return 2
    os.makedirs(a.outdir, exist_ok=True)
    rc = 0
    for gpath in graphs:
        stem = os.path.splitext(os.path.basename(gpath))[0]
        try:
            oname, arr = expected_for(gpath, vkg, a.own_weights)
        except (vt.GraphError, RuntimeError) as e:
            print(f"{stem}: error: {e}", file=sys.stderr)
            rc = 1
            continue
        dst = os.path.join(a.outdir, stem + ".npy")
        np.save(dst, arr)
        print(f"{stem}: {oname} {list(arr.shape)} -> {os.path.relpath(dst, ROOT)}"
              + ("  (own weights: development only)" if a.own_weights else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
