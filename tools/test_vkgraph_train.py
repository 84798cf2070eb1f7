#!/usr/bin/python3
"""test_vkgraph_train.py — self-test of the trainable bridge (vkgraph_train.py) and of
train_lm.py's corpus split, schedule and loop. Small shapes, a few seconds on one core.

    /usr/bin/python3 tools/test_vkgraph_train.py      # exit 0 when every check passes
"""
import math
import os
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402
import train_lm  # noqa: E402
import vkgraph_torch as vt  # noqa: E402
import vkgraph_train as vtt  # noqa: E402

# token graphs and small dims for them (every op the bridge has on a token path)
GRAPHS = [
    ("graphs/llama-tiny.yaml", {"D": 16, "H": 4, "KV": 2, "F": 24, "L": 1}),
    ("graphs/gpt2-tiny.yaml", None),
    ("graphs/canon-lm.yaml", {"D": 24, "H": 3, "F": 20, "P": 1}),
]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def graphs():
    for rel, dims in GRAPHS:
        path = os.path.join(ROOT, rel)
        if os.path.exists(path):
            yield rel, path, dims


def small_dims(path, dims):
    if dims is None:
        return None
    g = vt.load_graph(path)
    return {k: v for k, v in dims.items() if k in g.dims}


def test_batched_equals_single(rel, path, dims):
    """forward_batch (vmap over B) equals vkgraph_torch's one-sequence run, row by row."""
    g = vtt.load_trainable(path, dims, dtype=torch.float64)
    vtt.init_weights(g, seed=3, std=0.2)
    x = torch.randint(0, 256, (3, 13), generator=torch.Generator().manual_seed(1))
    yb = vtt.forward_batch(g, x).detach()
    err = 0.0
    for b in range(3):
        ys = g.run({next(iter(g.inputs)): x[b].numpy().astype(np.int32)})
        ys = next(iter(ys.values()))
        err = max(err, float((yb[b] - ys).abs().max() / ys.abs().max()))
    check(err < 1e-12, f"{rel}: batched forward equals the single-sequence module (rel {err:.2g})")


def test_gradients(rel, path, dims):
    """Every weight gets a finite, non-zero gradient; float64 gradcheck on a few of them."""
    g = vtt.load_trainable(path, dims, dtype=torch.float64)
    vtt.init_weights(g, seed=4, std=0.2)
    x = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(2))
    lg = vtt.forward_batch(g, x[:, :-1])
    F.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1)).backward()
    bad = [k for k in g.weight_specs
           if g.weight(k).grad is None or not torch.isfinite(g.weight(k).grad).all()
           or float(g.weight(k).grad.abs().max()) == 0.0]
    bad = [k for k in bad if not k.endswith("running_mean") and not k.endswith("running_var")]
    check(not bad, f"{rel}: every weight has a finite non-zero gradient {bad[:4] if bad else ''}")
    keys = [k for k in g.weight_specs if k.endswith("decay") or "canon" in k][:3] or list(g.weight_specs)[-2:]
    params = [g.weight(k) for k in keys]
    xs = x[:1, :7]

    # functional wrapper: swap the tensors in, so autograd sees ps as the leaves
    def fn(*ps):
        mods = []
        for k, q in zip(keys, ps):
            op = g.weight_specs[k][2]
            parts = k[len(op.prefix) + 1:].split(".")
            mod = op
            for part in parts[:-1]:
                mod = getattr(mod, part)
            mods.append((mod, parts[-1], mod._parameters[parts[-1]]))
            del mod._parameters[parts[-1]]
            setattr(mod, parts[-1], q)
        try:
            return vtt.forward_batch(g, xs)[0, -1, :8]
        finally:
            for mod, name, p in mods:
                delattr(mod, name)
                mod._parameters[name] = p

    inp = tuple(p.detach().clone().requires_grad_(True) for p in params)
    ok = torch.autograd.gradcheck(fn, inp, eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=False)
    check(ok, f"{rel}: gradcheck (float64) on {', '.join(keys)}")


def test_safetensors(rel, path, dims):
    g = vtt.load_trainable(path, dims)
    vtt.init_weights(g, seed=5, std=0.3)
    want = vtt.state_arrays(g)
    with tempfile.TemporaryDirectory() as d:
        for dt, tol in (("f32", 0.0), ("f16", 1e-3)):
            p = os.path.join(d, f"w_{dt}.safetensors")
            vtt.save_safetensors(g, p, dtype=dt)
            t, _ = safetensors_io.load(p)
            check(list(t) == list(g.weight_specs) and all(
                t[k].dtype == (np.float16 if dt == "f16" else np.float32) for k in t),
                f"{rel}: {dt} file holds exactly the engine's keys in {dt}")
            h = vtt.load_trainable(path, dims)
            vtt.load_safetensors(h, p)
            got = vtt.state_arrays(h)
            err = max(float(np.max(np.abs(got[k] - want[k]) / (np.max(np.abs(want[k])) + 1e-30)))
                      for k in want)
            check(err <= tol and all(p.requires_grad for p in h.parameters()),
                  f"{rel}: {dt} write then read gives the weights back (rel {err:.2g}), still trainable")
            if dt == "f16":
                exact = all(np.array_equal(got[k], want[k].astype(np.float16).astype(np.float32)) for k in want)
                check(exact, f"{rel}: f16 read is the f16 rounding of the weights, exactly")


def test_corpus_split():
    with tempfile.TemporaryDirectory() as d:
        items = [f"fortune number {i}\n  -- someone".encode() for i in range(45)]
        with open(os.path.join(d, "a"), "wb") as f:
            f.write(b"\n%\n".join(items[:30]) + b"\n%\n")
        with open(os.path.join(d, "b"), "wb") as f:
            f.write(b"\n%\n".join(items[30:]) + b"\n%\n")
        with open(os.path.join(d, "art"), "wb") as f:
            f.write(b"  /\\_/\\ \n%\n")
        with open(os.path.join(d, "a.dat"), "wb") as f:
            f.write(b"\0\0binary")
        files = train_lm.fortune_files(d)
        check([os.path.basename(p) for p in files] == ["a", "b"], "corpus: only the prose files are read")
        tr, ho = train_lm.split_fortunes(files, 10)
        held = [i for i in range(45) if i % 10 == 9]
        ok = all((f"number {i}\n".encode() in ho) == (i in held) for i in range(45))
        ok = ok and all((f"number {i}\n".encode() in tr) == (i not in held) for i in range(45))
        check(ok and b"%" not in tr + ho, "corpus: every 10th fortune held out, disjoint from training, no separators")


def test_schedule():
    lrs = [train_lm.lr_at(s, 100, 1.0, 10, 0.1) for s in range(100)]
    ok = abs(lrs[0] - 0.1) < 1e-12 and abs(lrs[9] - 1.0) < 1e-12 and abs(lrs[10] - 1.0) < 1e-12
    ok = ok and all(lrs[i + 1] <= lrs[i] + 1e-12 for i in range(10, 99)) and abs(lrs[-1] - (0.1 + 0.9 * 0.5 * (
        1 + math.cos(math.pi * 89 / 90)))) < 1e-12
    check(ok, "schedule: linear warmup, then cosine down to min-lr-frac")
    # time-based: progress 0.5 of a 10%-warmup run is 4/9 of the way down the cosine; done at 1
    half = train_lm.lr_at(50, 100, 1.0, 10, 0.1, train_lm.progress(20, 100, 30.0, 1.0))
    ok = abs(train_lm.progress(20, 100, 30.0, 1.0) - 0.5) < 1e-12 and abs(train_lm.progress(60, 100, 0.0, None) - 0.6) < 1e-12
    ok = ok and abs(half - (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 4 / 9)))) < 1e-12
    ok = ok and abs(train_lm.lr_at(50, 100, 1.0, 10, 0.1, 1.0) - 0.1) < 1e-12
    check(ok, "schedule: with a time limit the cosine follows the larger of step and time fractions")


def test_training_learns():
    """A tiny model on a repeated sentence: the loss falls well below uniform (8 bits)."""
    path = os.path.join(ROOT, "graphs/canon-lm.yaml")
    torch.manual_seed(0)
    g = vtt.load_trainable(path, {"D": 24, "H": 3, "F": 32, "P": 1})
    vtt.init_weights(g, seed=0)
    data = np.frombuffer(b"the cat sat on the mat. " * 40, np.uint8)
    opt = torch.optim.AdamW(train_lm.param_groups(g, 0.1), lr=1e-2)
    rng = np.random.default_rng(0)
    for step in range(60):
        x = train_lm.batch_windows(data, rng, 4, 24)
        lg = vtt.forward_batch(g, x[:, :-1])
        loss = F.cross_entropy(lg.reshape(-1, 256), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(g.parameters(), 1.0)
        opt.step()
    bpb, n = train_lm.eval_bpb(g, data, 24, 8)
    check(bpb < 1.5 and n > 0, f"training: 60 steps on a repeated sentence reach {bpb:.3f} bits per byte (< 1.5)")


def main():
    torch.set_num_threads(1)
    for rel, path, dims in graphs():
        dims = small_dims(path, dims)
        test_batched_equals_single(rel, path, dims)
        test_gradients(rel, path, dims)
        test_safetensors(rel, path, dims)
    test_corpus_split()
    test_schedule()
    test_training_learns()
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
