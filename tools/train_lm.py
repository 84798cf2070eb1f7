#!/usr/bin/python3
"""train_lm.py — train a byte-level language model defined by a vkgraph graph file.

The graph must read i32 token ids [T] and output logits [T, 256] (vocab 256:
one token per byte). Training uses the PyTorch reading of the graph
(vkgraph_torch.py through vkgraph_train.py), in float32, so the weights it
exports carry the engine's names and run with `vkg run` / `vkg generate`.

Corpus: a byte stream. --corpus-dir reads fortune-mod data files (the Debian
package `fortunes`: /usr/share/games/fortunes/*, strfile `%` separators); the
fortunes are split, every --holdout-every'th one goes to the held-out split
(never trained on), the rest to the training split, each joined with blank
lines. --corpus FILE reads any text file instead and holds out its last 5%.

Training: random windows of --seq bytes, AdamW (betas 0.9/0.95, weight decay on
matrices only), linear warmup then cosine decay to --min-lr-frac of --lr,
gradient-norm clipping, torch threads = --threads. Every --eval-every steps:
bits per byte on a fixed sample of held-out windows, a row in the CSV, and the
weights exported (f16 safetensors). At the end: bits per byte on the whole
held-out split, a sample of generated text. --time-limit (minutes) shortens
the schedule to time: the cosine follows the larger of the step fraction and the
time fraction, and training stops when either reaches 1.

    /usr/bin/python3 tools/train_lm.py GRAPH --out W.safetensors --csv loss.csv
        [--corpus-dir /usr/share/games/fortunes | --corpus FILE] [--steps N]
        [--time-limit MIN] [--batch 16] [--seq 256] [--lr 2e-3] [--seed 0]
"""
import argparse
import csv
import glob
import math
import os
import sys
import time


def _threads_from_argv(argv, default="2"):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return default


# BLAS and OpenMP thread counts must be set before numpy/torch load them
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads_from_argv(sys.argv))
os.environ.setdefault("OMP_NUM_THREADS", _threads_from_argv(sys.argv))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vkgraph_train as vtt  # noqa: E402

# fortune files that are pictures, not prose
NOT_PROSE = ("art", "ascii-art")


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------

def fortune_files(d):
    out = []
    for p in sorted(glob.glob(os.path.join(d, "*"))):
        base = os.path.basename(p)
        if os.path.isfile(p) and "." not in base and base not in NOT_PROSE:
            out.append(p)
    return out


def split_fortunes(files, every):
    """Returns (train bytes, held-out bytes): fortune i (over all files in order) is held
    out when i % every == every - 1."""
    train, held, i = [], [], 0
    for p in files:
        with open(p, "rb") as f:
            raw = f.read().replace(b"\r\n", b"\n")
        for item in raw.split(b"\n%\n"):
            item = item.strip(b"\n%")
            if not item.strip():
                continue
            (held if i % every == every - 1 else train).append(item)
            i += 1
    return b"\n\n".join(train) + b"\n\n", b"\n\n".join(held) + b"\n\n"


def split_file(path, frac=0.05):
    with open(path, "rb") as f:
        raw = f.read()
    cut = int(len(raw) * (1 - frac))
    return raw[:cut], raw[cut:]


# --------------------------------------------------------------------------
# Model helpers
# --------------------------------------------------------------------------

def param_groups(g, wd):
    """Weight decay on matrices (projections, embedding), none on norms, Canon taps, decays."""
    decay, no_decay = [], []
    for key in g.weight_specs:
        p = g.weight(key)
        is_conv = key.endswith("canon.weight") or (g.weight_specs[key][2].OP == "canon")
        (decay if p.dim() == 2 and not is_conv else no_decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def progress(step, total, elapsed, time_limit):
    """Fraction of training done: by steps, or by time when --time-limit (minutes) ends first."""
    p = step / total
    if time_limit:
        p = max(p, elapsed / (time_limit * 60))
    return p


def lr_at(step, total, base, warmup, min_frac, prog=None):
    """Linear warmup over `warmup` steps, then cosine from base to min_frac * base over the rest
    of the progress (steps, or `prog` in [0, 1] when given: time-based schedules)."""
    if step < warmup:
        return base * (step + 1) / warmup
    if prog is None:
        t = (step - warmup) / max(1, total - warmup)
    else:
        w = warmup / total
        t = (prog - w) / max(1e-9, 1 - w)
    t = min(1.0, max(0.0, t))
    return base * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def batch_windows(data, rng, batch, seq):
    starts = rng.integers(0, len(data) - seq - 1, size=batch)
    x = np.stack([data[s:s + seq + 1] for s in starts]).astype(np.int64)
    return torch.from_numpy(x)


@torch.no_grad()
def eval_bpb(g, data, seq, batch, max_windows=None):
    """Bits per byte over non-overlapping windows of seq+1 bytes (each predicts seq bytes)."""
    n = (len(data) - 1) // seq
    if max_windows is not None:
        n = min(n, max_windows)
    total, count = 0.0, 0
    for b0 in range(0, n, batch):
        rows = [data[i * seq:i * seq + seq + 1] for i in range(b0, min(n, b0 + batch))]
        x = torch.from_numpy(np.stack(rows).astype(np.int64))
        lg = vtt.forward_batch(g, x[:, :-1])
        loss = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        total += float(loss)
        count += x[:, 1:].numel()
    return total / count / math.log(2), count


@torch.no_grad()
def sample(g, prompt, n, temperature=0.8, top_k=40, seed=0, ctx=256):
    gen = torch.Generator().manual_seed(seed)
    ids = list(prompt)
    for _ in range(n):
        x = torch.tensor([ids[-ctx:]], dtype=torch.int64)
        lg = vtt.forward_batch(g, x)[0, -1].to(torch.float64) / temperature
        v, i = torch.topk(lg, top_k)
        nxt = int(i[torch.multinomial(torch.softmax(v, -1), 1, generator=gen)])
        ids.append(nxt)
    return bytes(ids)


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description="Train a byte-level LM defined by a vkgraph graph file.")
    ap.add_argument("graph")
    ap.add_argument("--out", required=True, help="f16 safetensors written at every eval and at the end")
    ap.add_argument("--csv", required=True, help="loss curve")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--corpus-dir", default="/usr/share/games/fortunes",
                     help="fortune-mod data files (Debian package fortunes)")
    src.add_argument("--corpus", help="a text file instead (last 5%% held out)")
    ap.add_argument("--holdout-every", type=int, default=20)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--time-limit", type=float, default=None,
                    help="minutes for the training loop (cosine follows time when that ends first)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--init-std", type=float, default=0.02)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-windows", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2,
                    help="torch, BLAS and OpenMP threads (1 trains faster on a CPU shared with other jobs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-prompt", default="The meaning of life is ")
    return ap.parse_args(argv)


def load_corpus(a):
    if a.corpus:
        return split_file(a.corpus)
    files = fortune_files(a.corpus_dir)
    if not files:
        raise SystemExit(f"no fortune files in {a.corpus_dir} (apt-get install fortunes)")
    return split_fortunes(files, a.holdout_every)


def train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    tr, ho = load_corpus(a)
    train_data, held_data = np.frombuffer(tr, np.uint8), np.frombuffer(ho, np.uint8)
    print(f"corpus: train {len(train_data)} bytes, held out {len(held_data)} bytes", flush=True)
    g = vtt.load_trainable(a.graph)
    vtt.init_weights(g, seed=a.seed, std=a.init_std)
    print(f"model: {vtt.n_params(g)} parameters", flush=True)
    opt = torch.optim.AdamW(param_groups(g, a.wd), lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    total, t0, tok = a.steps, time.time(), 0
    with open(a.csv, "w", newline="") as fcsv:
        w = csv.writer(fcsv)
        w.writerow(["step", "tokens", "lr", "train_loss", "train_bpb", "heldout_bpb", "seconds"])
        run_loss = None
        for step in range(total):
            el = time.time() - t0
            lr = lr_at(step, total, a.lr, a.warmup, a.min_lr_frac, progress(step, total, el, a.time_limit))
            for grp in opt.param_groups:
                grp["lr"] = lr
            x = batch_windows(train_data, rng, a.batch, a.seq)
            lg = vtt.forward_batch(g, x[:, :-1])
            loss = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(g.parameters(), a.clip)
            opt.step()
            tok += a.batch * a.seq
            lv = float(loss)
            run_loss = lv if run_loss is None else 0.9 * run_loss + 0.1 * lv
            el = time.time() - t0
            last = step == total - 1 or (step >= a.warmup and progress(step + 1, total, el, a.time_limit) >= 1.0)
            ho_bpb = ""
            if step % a.eval_every == 0 or last:
                ho_bpb, _ = eval_bpb(g, held_data, a.seq, a.batch, a.eval_windows)
                vtt.save_safetensors(g, a.out, dtype="f16")
                print(f"step {step:5d}/{total} lr {lr:.2e} loss {run_loss:.3f} ({run_loss / math.log(2):.3f} bpb) "
                      f"held-out {ho_bpb:.3f} bpb  {tok / el:.0f} tok/s  {el / 60:.1f} min", flush=True)
                ho_bpb = f"{ho_bpb:.4f}"
            w.writerow([step, tok, f"{lr:.3e}", f"{lv:.4f}", f"{lv / math.log(2):.4f}", ho_bpb, f"{el:.1f}"])
            fcsv.flush()
            if last:
                break
    vtt.save_safetensors(g, a.out, dtype="f16")
    return g, held_data


def main(argv=None):
    a = parse_args(argv)
    g, held = train(a)
    # the exported f16 weights are what ships: measure those
    vtt.load_safetensors(g, a.out)
    bpb, n = eval_bpb(g, held, a.seq, a.batch)
    print(f"held-out bits per byte (f16 weights, {n} bytes predicted, windows of {a.seq}): {bpb:.4f}", flush=True)
    text = sample(g, a.sample_prompt.encode(), 300, seed=a.seed)
    print("sample (temperature 0.8, top-k 40):\n" + text.decode("utf-8", "replace"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
