#!/usr/bin/env python3
"""hylra_diff.py — how far a HyLRA policy moves a graph's output (bench/RESULTS.md).

usage: hylra_diff.py FULL.npy HYLRA.npy
Both files are logits [T, V] from `vkg run ... --out DIR` of the same model and
input, FULL with every layer full. Prints the max |diff| of the logits (and
the logits' own max |value| for scale), KL(full || hylra) of the row-wise
softmax (mean and max over rows, nats) and the share of rows whose argmax
agrees. Run it with Debian's /usr/bin/python3 (numpy).
"""
import sys

import numpy as np


def softmax_log(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    full = np.load(argv[1]).astype(np.float64)
    hy = np.load(argv[2]).astype(np.float64)
    if full.shape != hy.shape:
        sys.exit(f"shapes differ: {full.shape} vs {hy.shape}")
    full, hy = full.reshape(-1, full.shape[-1]), hy.reshape(-1, hy.shape[-1])
    lf, lh = softmax_log(full), softmax_log(hy)
    kl = (np.exp(lf) * (lf - lh)).sum(axis=-1)
    agree = (full.argmax(axis=-1) == hy.argmax(axis=-1)).mean()
    print(f"rows {full.shape[0]}  max|diff| {np.abs(full - hy).max():.3g} (logit scale {np.abs(full).max():.3g})  "
          f"KL mean {kl.mean():.3g} max {kl.max():.3g}  argmax agrees {100 * agree:.0f}%")


if __name__ == "__main__":
    main(sys.argv)
