"""vkgraph_train.py — the trainable side of the PyTorch bridge (vkgraph_torch.py).

vkgraph_torch.py reads a graph file into a torch.nn.Module whose parameter
names are the engine's weight keys; it runs one sequence at a time, without
gradients, in float64 (an oracle). This module turns such a graph into a model
that trains:

    import vkgraph_train as vtt
    g = vtt.load_trainable("graphs/canon-lm.yaml")      # float32, requires_grad on
    vtt.init_weights(g, seed=0, std=0.02)               # the graph's init kinds
    logits = vtt.forward_batch(g, tokens)               # tokens [B, T] int64 -> [B, T, V]
    vtt.save_safetensors(g, "w.safetensors", dtype="f16")   # engine names, f16 or f32
    vtt.load_safetensors(g, "w.safetensors")            # F32/F16/BF16, names and shapes checked

forward_batch runs every node of the graph through vmap (torch.func / functorch) over the
batch (each op's forward is written for one sequence [T, C]), so autograd
reaches every op vkgraph_torch implements; only `embed` is gathered outside
vmap (its id check is data-dependent). Decoding positions (p0) are 0.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import vkgraph_torch as vt  # noqa: E402


def load_trainable(path, dims=None, dtype=torch.float32):
    """The graph as a trainable module: parameters in `dtype` with requires_grad on."""
    g = vt.load_graph(path, dims=dims, dtype=dtype)
    for p in g.parameters():
        p.requires_grad_(True)
    return g


def init_weights(g, seed=0, std=0.02, out_std=None, decay_range=(1.0, 8.0)):
    """Fills the parameters by their declared init (normal(0, std), one, zero), like
    `vkg init-weights` does in kind. Output projections (`.wo`, `.down`) get out_std
    (default std / sqrt(2 * number of blocks)); linear-attention `decay` logits are
    spread so that head h keeps gamma_h = 1 - 2^-e, e from decay_range (short to long
    memory) instead of all heads starting at gamma = 0.5."""
    gen = torch.Generator().manual_seed(seed)
    n_out = sum(1 for k in g.weight_specs if k.endswith(".wo") or k.endswith(".down"))
    out_std = std / math.sqrt(max(n_out, 1)) if out_std is None else out_std
    with torch.no_grad():
        for key, (shape, init, _) in g.weight_specs.items():
            p = g.weight(key)
            if key.endswith(".decay") and len(shape) == 1:
                e = torch.linspace(decay_range[0], decay_range[1], shape[0], dtype=torch.float64)
                gamma = 1.0 - torch.pow(2.0, -e)
                p.copy_(torch.log(gamma / (1.0 - gamma)))
            elif init == "normal":
                s = out_std if (key.endswith(".wo") or key.endswith(".down")) else std
                p.copy_(torch.randn(shape, generator=gen, dtype=torch.float64) * s)
            else:
                p.fill_(1.0 if init == "one" else 0.0)


try:                                   # torch >= 2.0
    _vmap = torch.func.vmap
except AttributeError:                 # Debian's torch 1.13 ships functorch
    from functorch import vmap as _vmap


def _batched(op):
    return _vmap(op, in_dims=0, out_dims=0, randomness="error")


def _exec_batch(g, steps, env):
    for st in steps:
        if st.op is None:                           # residual: x + f(x)
            x = env[st.ins[0]]
            _exec_batch(g, st.sub, env)
            env[st.out] = x + env[st.sub_last]
        elif st.op.OP == "embed":
            ids = env[st.ins[0]]
            env[st.out] = F.embedding(ids, st.op.weight)
        else:
            env[st.out] = _batched(st.op)(*[env[t] for t in st.ins])


def forward_batch(g, tokens, output=None):
    """tokens: int tensor [B, T] for the graph's first (i32 [T]) input. Returns the graph's
    first output (or `output`) as [B, T, ...], with autograd. Ids are checked here."""
    name = next(iter(g.inputs))
    dt, shp = g.inputs[name]
    if dt != "i32" or len(shp) != 1:
        raise vt.GraphError(f"forward_batch: the first input must be i32 [T], got {dt} {list(shp)}")
    if tokens.dim() != 2:
        raise ValueError("forward_batch: tokens must be [B, T]")
    tokens = tokens.long()
    for st in g.steps:
        if st.op is not None and st.op.OP == "embed":
            if int(tokens.min()) < 0 or int(tokens.max()) >= st.op.vocab:
                raise vt.GraphError(f"embed '{st.op.prefix}': id outside [0, {st.op.vocab})")
    g.p0 = 0
    env = {name: tokens}
    _exec_batch(g, g.steps, env)
    ref = dict(g.outputs)[output] if output else g.outputs[0][1]
    return env[ref]


def state_arrays(g, dtype=np.float32):
    """{engine weight key: numpy array} in the graph's declaration order."""
    return {k: g.weight(k).detach().to(torch.float64).cpu().numpy().astype(dtype) for k in g.weight_specs}


def save_safetensors(g, path, dtype="f16", metadata=None):
    """Writes every weight under its engine key; dtype "f16", "f32" or "bf16"."""
    safetensors_io.save(path, state_arrays(g), dtype=dtype, metadata=metadata)


def load_safetensors(g, path):
    """Reads F32/F16/BF16 weights by engine key (shapes checked) into g, keeping requires_grad."""
    t, _ = safetensors_io.load(path)
    req = {id(p): p.requires_grad for p in g.parameters()}
    for p in g.parameters():
        p.requires_grad_(False)
    try:
        g.load_weights(t, path)
    finally:
        for p in g.parameters():
            p.requires_grad_(req[id(p)])


def n_params(g):
    return sum(int(np.prod(s)) for s, _ in g.weight_shapes().values())
