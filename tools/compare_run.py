#!/usr/bin/python3
"""compare_run.py — the engine (`vkg run`, Vulkan and CPU backends) against the PyTorch reading.

Runs GRAPH on the same weights and inputs with `vkg run --backend vulkan`,
`vkg run --backend cpu` and vkgraph_torch.py (float64), and prints, per
output, max abs and relative difference (max |a - b| / max |ref|, as the C
tests measure) of each backend against PyTorch, and Vulkan against CPU.
Exit 0 when every relative difference is <= --tol (1e-3), 1 above, 2 when a
run failed.

Usage: /usr/bin/python3 tools/compare_run.py GRAPH [--text STR | --input NAME=F.npy ...]
         [--weights W.safetensors] [--dim K=V]... [--vkg PATH] [--backend vulkan|cpu]...
         [--intermediates] [--decode] [--tol 1e-3] [--keep DIR]

Inputs default to the standard ones (tools/make_expected.py). Weights default
to `vkg init-weights GRAPH` (with --dim, or --own-weights: numpy weights
of the right keys and shapes, norm parameters random too). Inputs the
standard ones do not cover are random, run-time symbols = --seq (13). --intermediates also compares every named
tensor (the graph is rewritten with all of them in `outputs:`) and names the
first one that disagrees.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vkgraph_torch as vt  # noqa: E402
from make_expected import engine_weights, find_vkg  # noqa: E402


def with_outputs(src, names):
    """The graph text with its `outputs:` key replaced by `names` (double-quoted)."""
    lines = src.splitlines()
    out, skip = [], False
    for ln in lines:
        if re.match(r"outputs\s*:", ln):
            skip = True
            continue
        if skip and (ln[:1] in (" ", "\t", "#", "-") or not ln.strip()):
            continue
        skip = False
        out.append(ln)
    q = ", ".join('"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"' for n in names)
    return "\n".join(out) + f"\noutputs: [{q}]\n"


def diff(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a.size != ref.size:
        return float("inf"), float("inf")
    a, ref = a.reshape(-1), ref.reshape(-1)
    mabs = float(np.max(np.abs(a - ref))) if a.size else 0.0
    if np.isnan(a).any() != np.isnan(ref).any():
        mabs = float("nan")
    m = float(np.max(np.abs(ref))) if ref.size else 0.0
    return mabs, mabs / (m if m > 0 else 1.0)


def run_vkg(vkg, graph, weights, inputs, outdir, backend, dims, decode):
    cmd = [vkg, "run", graph, "--weights", weights, "--out", outdir, "--backend", backend]
    for n, f in inputs.items():
        cmd += ["--input", f"{n}={f}"]
    for d in dims:
        cmd += ["--dim", d]
    if decode:
        cmd.append("--decode")
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, (r.stderr + r.stdout).strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graph")
    ap.add_argument("--text")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    ap.add_argument("--weights")
    ap.add_argument("--own-weights", action="store_true")
    ap.add_argument("--dim", action="append", default=[], metavar="K=V")
    ap.add_argument("--vkg")
    ap.add_argument("--backend", action="append", choices=("vulkan", "cpu"))
    ap.add_argument("--intermediates", action="store_true")
    ap.add_argument("--decode", action="store_true", help="run vkg with --decode")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--seq", type=int, default=13, help="run-time size symbols of inputs without a value (13)")
    ap.add_argument("--keep", help="keep weights, inputs and outputs in this directory")
    a = ap.parse_args(argv)
    backends = a.backend or ["vulkan", "cpu"]
    vkg = find_vkg(a.vkg)
    if not vkg:
        print("error: no vkg binary (--vkg PATH)", file=sys.stderr)
        return 2
    work = a.keep or tempfile.mkdtemp(prefix="compare_run.")
    os.makedirs(work, exist_ok=True)
    warnings.simplefilter("ignore")
    try:
        dims = vt.parse_dims(a.dim)
        g = vt.load_graph(a.graph, dims)
        graph = a.graph
        if a.intermediates:
            names = [n for n in g.named_tensors() if n not in g.inputs]
            last_names = [n for n, _ in g.outputs]
            names = [n for n in names if n not in last_names] + last_names
            if g.outputs[-1][1] != g.outputs[-1][0] and g.outputs[-1][1] in names:
                names.remove(g.outputs[-1][1])      # the last node's own name: its output comes under the new name
            with open(a.graph, encoding="utf-8-sig") as f:
                text = with_outputs(f.read(), names)
            graph = os.path.join(work, "intermediates.yaml")
            with open(graph, "w") as f:
                f.write(text)
            g = vt.load_graph(graph, dims)
        w = a.weights
        if not w:
            w = os.path.join(work, "weights.safetensors")
            if a.own_weights or dims:
                vt.safetensors_io.save(w, g.random_weights(1, 0.05, vary=True))
            else:
                engine_weights(vkg, a.graph, w)
        g.load_safetensors(w)
        files = dict(x.split("=", 1) for x in a.input)
        ins = vt.standard_inputs(g, a.text, False, files)
        rng = np.random.default_rng(0)
        for n, (dt, shp) in g.inputs.items():     # anything else: random, symbols = --seq
            if n not in ins:
                shp = tuple(v if isinstance(v, int) else a.seq for v in shp)
                ins[n] = rng.integers(0, 256, shp).astype(np.int32) if dt == "i32" else \
                    rng.standard_normal(shp).astype(np.float32)
        in_files = {}
        for n, arr in ins.items():
            in_files[n] = os.path.join(work, f"in_{n}.npy")
            np.save(in_files[n], arr)
        ref = {n: t.numpy() for n, t in g.run(ins).items()}
    except (vt.GraphError, RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    res, status = {}, 0
    for b in backends:
        od = os.path.join(work, "out_" + b)
        rc, msg = run_vkg(vkg, graph, w, in_files, od, b, a.dim, a.decode)
        if rc != 0:
            print(f"vkg run --backend {b} failed ({rc}): {msg}")
            status = 2
            continue
        res[b] = {}
        for n in ref:
            p = os.path.join(od, n + ".npy")
            res[b][n] = np.load(p) if os.path.exists(p) else None
    print(f"{os.path.basename(a.graph)}: inputs {', '.join(f'{n} {list(v.shape)}' for n, v in ins.items())}; "
          f"weights {w}")
    first_bad = None
    for n in ref:
        cols = []
        for b in backends:
            if b not in res:
                continue
            o = res[b][n]
            if o is None:
                cols.append(f"{b}: missing")
                status = max(status, 1)
                continue
            if o.size != ref[n].size:
                cols.append(f"{b}: shape {list(o.shape)} vs {list(ref[n].shape)}")
                status = max(status, 1)
                first_bad = first_bad or n
                continue
            mabs, rel = diff(o, ref[n])
            bad = not rel <= a.tol
            if bad:
                status = max(status, 1)
                first_bad = first_bad or n
            cols.append(f"{b} vs torch: abs {mabs:.3g} rel {rel:.3g}{' FAIL' if bad else ''}")
        if "vulkan" in res and "cpu" in res and res["vulkan"][n] is not None and res["cpu"][n] is not None \
                and res["vulkan"][n].size == res["cpu"][n].size:
            mabs, rel = diff(res["vulkan"][n], res["cpu"][n])
            cols.append(f"vulkan vs cpu: rel {rel:.3g}")
        print(f"  {n} {list(ref[n].shape)}: " + "; ".join(cols))
    if first_bad:
        print(f"first disagreement: {first_bad}")
    if not a.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
