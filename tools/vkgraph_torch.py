#!/usr/bin/python3
"""vkgraph_torch.py — an independent PyTorch reading of vkgraph's graph format.

Builds a torch.nn.Module from a graph file, following only
design/GRAPH-FORMAT.md (the file format) and design/OPS.md (the math), so that
its numbers can judge the engine's. It computes in float64 by default (a sharp
oracle); float32 is an option. Parameters are named exactly as the engine's
weight keys (`layers.0.attn.wq`), so `model.state_dict()` keys are weight keys
and `load_safetensors` fills them.

    from vkgraph_torch import load_graph
    m = load_graph("graphs/llama-tiny.yaml", dims={"L": 3})
    m.load_safetensors("w.safetensors")
    outs = m.run({"tokens": np.array([...], np.int32)})   # {name: tensor}, output order
    every = m.run(inputs, keep_all=True)                  # also every named tensor

Command line (writes DIR/NAME.npy, float32, one per graph output):
    python3 tools/vkgraph_torch.py GRAPH --weights W.safetensors
        [--text STR | --input NAME=FILE.npy ... | --image-seed] [--dim K=V]...
        [--float32] [--dump] --out DIR

Adding an op: write a subclass of Op with OP, KEYS, `setup` (parse arguments,
check the input shapes, declare parameters with `self.param`, return the
output shape) and `forward`, and decorate it with @register.
"""
import argparse
import difflib
import math
import os
import re
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402  (numpy-only safetensors reader/writer)

STANDARD_TEXT = "The quick brown fox jumps over the lazy dog."


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class GraphError(Exception):
    """An error in a graph file (FILE:LINE:COL: message), a weights file or an input."""

    def __init__(self, msg, file=None, mark=None):
        if file is not None and mark is not None:
            msg = f"{file}:{mark[0]}:{mark[1]}: {msg}"
        elif file is not None:
            msg = f"{file}: {msg}"
        super().__init__(msg)


def closest(word, choices):
    m = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.0)
    return f" (did you mean '{m[0]}'?)" if m else ""


# --------------------------------------------------------------------------
# YAML: the YAML 1.2 core schema over PyYAML's parser (which is YAML 1.1)
# --------------------------------------------------------------------------

class MDict(dict):
    """A mapping that remembers where it, its keys and its values are (1-based line, col)."""
    mark = None

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.kmarks, self.vmarks = {}, {}


class MList(list):
    mark = None

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.marks = []


_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_DEC_RE = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")
_HEXOCT_RE = re.compile(r"0x[0-9a-fA-F]+\Z|0o[0-7]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF_RE = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN_RE = re.compile(r"\.(nan|NaN|NAN)\Z")
INT64_MAX = 2 ** 63 - 1


def _mk(m):
    return (m.line + 1, m.column + 1)


def resolve_plain(s, file, mark):
    """A plain scalar under the YAML 1.2 core schema (integers: decimal only)."""
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT_RE.match(s):
        if not _DEC_RE.match(s):
            raise GraphError(f"integer '{s}' has a leading zero (integers are decimal)", file, mark)
        v = int(s)
        if abs(v) > INT64_MAX:
            raise GraphError(f"integer '{s}' does not fit in 64 bits", file, mark)
        return v
    if _HEXOCT_RE.match(s):
        raise GraphError(f"'{s}': integers are decimal", file, mark)
    if _FLOAT_RE.match(s):
        return float(s)
    if _INF_RE.match(s):
        return float("-inf") if s.startswith("-") else float("inf")
    if _NAN_RE.match(s):
        return float("nan")
    return s


def load_yaml(text, file="<graph>"):
    """Parses a graph file's text: YAML 1.2 core-schema scalars; duplicate keys, anchors,
    aliases, merge keys, tags, %TAG directives and several documents are errors."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GraphError(f"not UTF-8 ({e})", file)
    if "\0" in text:
        raise GraphError("NUL character in file", file)
    try:
        docs = 0
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    raise GraphError("several YAML documents in one file", file, _mk(ev.start_mark))
                if ev.tags:
                    raise GraphError("%TAG directives are not allowed", file, _mk(ev.start_mark))
            if isinstance(ev, yaml.AliasEvent):
                raise GraphError("aliases are not allowed", file, _mk(ev.start_mark))
            if getattr(ev, "anchor", None) is not None:
                raise GraphError("anchors are not allowed", file, _mk(ev.start_mark))
            if getattr(ev, "tag", None) is not None:
                raise GraphError(f"tags are not allowed ('{ev.tag}')", file, _mk(ev.start_mark))
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        msg = getattr(e, "problem", None) or str(e)
        raise GraphError(f"bad YAML: {msg}", file, _mk(mark) if mark else None)
    if node is None:
        raise GraphError("empty graph file", file, (1, 1))

    def build(n, depth=0):
        if depth > 64:
            raise GraphError("nesting too deep", file, _mk(n.start_mark))
        if isinstance(n, yaml.ScalarNode):
            if n.style is None:
                return resolve_plain(n.value, file, _mk(n.start_mark))
            return n.value
        if isinstance(n, yaml.SequenceNode):
            out = MList()
            out.mark = _mk(n.start_mark)
            for item in n.value:
                out.append(build(item, depth + 1))
                out.marks.append(_mk(item.start_mark))
            return out
        out = MDict()
        out.mark = _mk(n.start_mark)
        for kn, vn in n.value:
            if not isinstance(kn, yaml.ScalarNode):
                raise GraphError("keys must be scalars", file, _mk(kn.start_mark))
            if kn.style is None and kn.value == "<<":
                raise GraphError("merge keys are not allowed", file, _mk(kn.start_mark))
            k = build(kn, depth + 1)
            if not isinstance(k, str):
                k = kn.value
            if k in out:
                raise GraphError(f"duplicate key '{k}'", file, _mk(kn.start_mark))
            out[k] = build(vn, depth + 1)
            out.kmarks[k] = _mk(kn.start_mark)
            out.vmarks[k] = _mk(vn.start_mark)
        return out

    return build(node)


# --------------------------------------------------------------------------
# Integer expressions
# --------------------------------------------------------------------------

_TOK_RE = re.compile(r"\s*(?:(\d+)|\$([A-Za-z_][A-Za-z0-9_]*)|([-+*/()]))")


def eval_expr(s, dims, file=None, mark=None):
    """Evaluates `+ - * /` (exact), parentheses, unary minus over integers and $SYMs."""
    toks, pos, s2 = [], 0, s.rstrip()
    while pos < len(s2):
        m = _TOK_RE.match(s2, pos)
        if not m:
            raise GraphError(f"bad integer expression '{s}'", file, mark)
        pos = m.end()
        if m.group(1):
            toks.append(("n", int(m.group(1))))
        elif m.group(2):
            sym = m.group(2)
            if sym not in dims:
                raise GraphError(f"${sym} is not in dims{closest(sym, dims)}", file, mark)
            toks.append(("n", dims[sym]))
        else:
            toks.append(("o", m.group(3)))
    toks.append(("end", None))
    i = [0]

    def peek():
        return toks[i[0]]

    def take():
        t = toks[i[0]]
        i[0] += 1
        return t

    def atom():
        t = take()
        if t[0] == "n":
            return t[1]
        if t == ("o", "-"):
            return -atom()
        if t == ("o", "+"):
            return atom()
        if t == ("o", "("):
            v = add()
            if take() != ("o", ")"):
                raise GraphError(f"missing ')' in '{s}'", file, mark)
            return v
        raise GraphError(f"bad integer expression '{s}'", file, mark)

    def mul():
        v = atom()
        while peek() in (("o", "*"), ("o", "/")):
            op = take()[1]
            r = atom()
            if op == "*":
                v = v * r
            else:
                if r == 0 or v % r != 0:
                    raise GraphError(f"'{s}' is not an exact integer ({v} / {r})", file, mark)
                v = v // r
        return v

    def add():
        v = mul()
        while peek() in (("o", "+"), ("o", "-")):
            op = take()[1]
            r = mul()
            v = v + r if op == "+" else v - r
        return v

    v = add()
    if peek()[0] != "end":
        raise GraphError(f"bad integer expression '{s}'", file, mark)
    if abs(v) > INT64_MAX:
        raise GraphError(f"'{s}' does not fit in 64 bits", file, mark)
    return v


# --------------------------------------------------------------------------
# Ops
# --------------------------------------------------------------------------

OPS = {}
REQUIRED = object()


def register(cls):
    OPS[cls.OP] = cls
    return cls


class Op(torch.nn.Module):
    """One node of the graph. Subclasses set OP and KEYS and implement setup/forward."""
    OP = None
    KEYS = ()           # arguments besides name, as, in
    N_IN = 1

    def __init__(self, graph, args, file, where):
        super().__init__()
        self._g = (graph,)          # a tuple, so the graph is not registered as a child
        self.args_ = args
        self.file = file
        self.where = where          # mark of the node
        self.prefix = None          # weight prefix (name or OP.N)
        self.param_specs = []       # (key suffix, shape, init)
        allowed = set(self.KEYS) | {"name", "as", "in"}
        for k in args:
            if k not in allowed:
                raise GraphError(f"unknown argument '{k}' of {self.OP}{closest(k, allowed)}",
                                 file, args.kmarks.get(k, where))

    @property
    def graph(self):
        return self._g[0]

    # argument helpers ---------------------------------------------------
    def _mark(self, key):
        return self.args_.vmarks.get(key, self.where) if isinstance(self.args_, MDict) else self.where

    def err(self, msg, key=None):
        return GraphError(msg, self.file, self._mark(key) if key else self.where)

    def has(self, key):
        return key in self.args_

    def int_arg(self, key, default=REQUIRED, args=None):
        args = self.args_ if args is None else args
        if key not in args:
            if default is REQUIRED:
                raise self.err(f"{self.OP}: missing required argument '{key}'")
            return default
        return self.graph.number(args[key], args.vmarks.get(key, self.where))

    def float_arg(self, key, default=REQUIRED, args=None):
        args = self.args_ if args is None else args
        if key not in args:
            if default is REQUIRED:
                raise self.err(f"{self.OP}: missing required argument '{key}'")
            return default
        v = args[key]
        mark = args.vmarks.get(key, self.where)
        if isinstance(v, bool):
            raise GraphError(f"'{key}' must be a number", self.file, mark)
        if isinstance(v, (int, float)):
            return float(v)
        return float(self.graph.number(v, mark))

    def bool_arg(self, key, default=REQUIRED):
        if key not in self.args_:
            if default is REQUIRED:
                raise self.err(f"{self.OP}: missing required argument '{key}'")
            return default
        v = self.args_[key]
        if not isinstance(v, bool):
            raise self.err(f"'{key}' must be true or false", key)
        return v

    def enum_arg(self, key, choices, default=REQUIRED):
        if key not in self.args_:
            if default is REQUIRED:
                raise self.err(f"{self.OP}: missing required argument '{key}' (one of {', '.join(choices)})")
            return default
        v = self.args_[key]
        if v not in choices:
            raise self.err(f"'{key}' must be one of {', '.join(choices)}, not '{v}'{closest(v, choices)}", key)
        return v

    # parameters ---------------------------------------------------------
    def param(self, suffix, shape, init="normal"):
        """Declares the parameter PREFIX.SUFFIX ([shape]); init: normal, one, zero."""
        shape = tuple(int(s) for s in shape)
        mod = self
        parts = suffix.split(".")
        for p in parts[:-1]:
            if p not in mod._modules:
                mod.add_module(p, torch.nn.Module())
            mod = mod._modules[p]
        p = torch.nn.Parameter(torch.zeros(shape, dtype=self.graph.dtype), requires_grad=False)
        mod.register_parameter(parts[-1], p)
        self.param_specs.append((suffix, shape, init))
        return p

    def p(self, suffix):
        mod = self
        for part in suffix.split("."):
            mod = getattr(mod, part)
        return mod

    # to implement -------------------------------------------------------
    def setup(self, in_shapes, in_dtypes):
        """Parses arguments, checks inputs, declares parameters; returns the output shape."""
        raise NotImplementedError

    def needs_params(self):
        """Whether this node reads weights (decides whether it gets an OP.N prefix)."""
        return True

    def channels(self, shape, what="input"):
        if len(shape) != 2:
            raise self.err(f"{self.OP}: {what} must be [T, C], got {fmt_shape(shape)}")
        if not isinstance(shape[1], int):
            raise self.err(f"{self.OP}: channel count of the {what} is not fixed")
        return shape[1]

    def want_float(self, in_dtypes):
        for d in in_dtypes:
            if d == "i32":
                raise self.err(f"{self.OP}: needs a float input, got i32 (only embed reads ids)")


def fmt_shape(s):
    return "[" + ", ".join(str(x) for x in s) + "]"


# --- elementwise math (OPS.md 1) ---------------------------------------

def act_fn(name, x):
    if name == "relu":
        return torch.clamp_min(x, 0)
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    if name == "silu":
        return x * torch.sigmoid(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "elu1":
        return torch.where(x > 0, x + 1.0, torch.exp(torch.clamp_max(x, 0)))
    raise ValueError(name)


ACT_FNS = ("relu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "elu1")


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps))


def causal_conv(x, w):
    """OPS.md 8: s[t, c] = sum_j W[c, j] x[t - (K-1) + j, c], zeros before the start."""
    T, K = x.shape[0], w.shape[1]
    xp = torch.cat([x.new_zeros((K - 1, x.shape[1])), x], 0)
    s = torch.zeros_like(x)
    for j in range(K):
        s = s + w[:, j] * xp[j:j + T]
    return s


# --- embeddings, pooling (OPS.md 2) ------------------------------------

@register
class Embed(Op):
    OP = "embed"
    KEYS = ("vocab", "dim")

    def setup(self, in_shapes, in_dtypes):
        self.vocab, self.dim = self.int_arg("vocab"), self.int_arg("dim")
        if in_dtypes[0] != "i32" or len(in_shapes[0]) != 1:
            raise self.err(f"embed: input must be i32 [T], got {in_dtypes[0]} {fmt_shape(in_shapes[0])}")
        self.param("weight", (self.vocab, self.dim))
        return (in_shapes[0][0], self.dim)

    def forward(self, ids):
        bad = (ids < 0) | (ids >= self.vocab)
        if bool(bad.any()):
            raise GraphError(f"embed '{self.prefix}': id {int(ids[bad][0])} outside [0, {self.vocab})")
        return self.weight[ids.long()]


@register
class PosEmbed(Op):
    OP = "pos_embed"
    KEYS = ("max_len", "dim")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        self.max_len, self.dim = self.int_arg("max_len"), self.int_arg("dim")
        c = self.channels(in_shapes[0])
        if c != self.dim:
            raise self.err(f"pos_embed: input {fmt_shape(in_shapes[0])} does not match dim {self.dim}")
        self.param("weight", (self.max_len, self.dim))
        return in_shapes[0]

    def forward(self, x):
        p0 = self.graph.p0
        if p0 + x.shape[0] > self.max_len:
            raise GraphError(f"pos_embed '{self.prefix}': position {p0 + x.shape[0] - 1} >= max_len {self.max_len}")
        return x + self.weight[p0:p0 + x.shape[0]]


@register
class PatchEmbed(Op):
    OP = "patch_embed"
    KEYS = ("patch", "channels", "dim", "cls")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        P, cin, d = self.int_arg("patch"), self.int_arg("channels"), self.int_arg("dim")
        self.P, self.cls_on = P, self.bool_arg("cls", False)
        s = in_shapes[0]
        if len(s) != 3 or s[2] != cin:
            raise self.err(f"patch_embed: input must be an HWC image [Hh, Ww, {cin}], got {fmt_shape(s)}")
        if P <= 0:
            raise self.err("patch_embed: patch must be positive", "patch")
        for v in s[:2]:
            if isinstance(v, int) and v % P:
                raise self.err(f"patch_embed: patch {P} does not divide the image size {fmt_shape(s)}", "patch")
        self.param("weight", (d, cin, P, P))
        self.param("bias", (d,), "zero")
        if self.cls_on:
            self.param("cls", (d,))
        if all(isinstance(v, int) for v in s[:2]):
            n = (s[0] // P) * (s[1] // P) + (1 if self.cls_on else 0)
        else:
            n = "N_" + str(self.prefix)
        return (n, d)

    def forward(self, img):
        P = self.P
        if img.shape[0] % P or img.shape[1] % P:
            raise GraphError(f"patch_embed '{self.prefix}': patch {P} does not divide the image {list(img.shape)}")
        y = F.conv2d(img.permute(2, 0, 1).unsqueeze(0), self.weight, self.bias, stride=P)
        y = y[0].reshape(y.shape[1], -1).t()
        if self.cls_on:
            y = torch.cat([self.cls.unsqueeze(0), y], 0)
        return y


@register
class Pool(Op):
    OP = "pool"
    KEYS = ("kind",)

    def needs_params(self):
        return False

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        self.kind = self.enum_arg("kind", ("mean", "first"))
        return (1, self.channels(in_shapes[0]))

    def forward(self, x):
        return x.mean(0, keepdim=True) if self.kind == "mean" else x[0:1]


# --- linear (OPS.md 3) ---------------------------------------------------

@register
class Linear(Op):
    OP = "linear"
    KEYS = ("out", "bias", "tie")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        self.n_out, self.c_in = self.int_arg("out"), self.channels(in_shapes[0])
        self.bias_on = self.bool_arg("bias", False)
        self.tie = None
        if self.has("tie"):
            t = self.args_["tie"]
            if not isinstance(t, str):
                raise self.err("tie must name a node", "tie")
            self.tie = t
            self.graph.ties.append((self, t + ".weight", (self.n_out, self.c_in), self._mark("tie")))
        else:
            self.param("weight", (self.n_out, self.c_in))
        if self.bias_on:
            self.param("bias", (self.n_out,), "zero")
        return (in_shapes[0][0], self.n_out)

    def forward(self, x):
        w = self.graph.weight(self.tie + ".weight") if self.tie else self.weight
        return F.linear(x, w, self.bias if self.bias_on else None)


# --- norms (OPS.md 4, 5, 6) ---------------------------------------------

@register
class Norm(Op):
    OP = "norm"
    KEYS = ("kind", "eps", "lambda")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        k = self.enum_arg("kind", ("layer", "rms", "batch", "repbn", "prepbn"))
        self.kind = k
        self.eps = self.float_arg("eps", 1e-6 if k == "rms" else 1e-5)
        if self.has("lambda") and k != "prepbn":
            raise self.err("'lambda' is an argument of norm kind prepbn only", "lambda")
        self.lam = self.float_arg("lambda", 0.0)
        c = self.channels(in_shapes[0])
        if k == "layer":
            self.param("weight", (c,), "one")
            self.param("bias", (c,), "zero")
        elif k == "rms":
            self.param("weight", (c,), "one")
        else:
            pre = "bn." if k == "prepbn" else ""
            if k == "prepbn":
                self.param("ln.weight", (c,), "one")
                self.param("ln.bias", (c,), "zero")
            self.param(pre + "weight", (c,), "one")
            self.param(pre + "bias", (c,), "zero")
            self.param(pre + "running_mean", (c,), "zero")
            self.param(pre + "running_var", (c,), "one")
            if k != "batch":
                self.param(pre + "alpha", (1,), "zero")
        return in_shapes[0]

    def layer(self, x, w, b):
        mu = x.mean(-1, keepdim=True)
        d = x - mu
        var = (d * d).mean(-1, keepdim=True)
        return d / torch.sqrt(var + self.eps) * w + b

    def batchnorm(self, x, pre=""):
        p = self.p
        y = p(pre + "weight") * (x - p(pre + "running_mean")) / torch.sqrt(p(pre + "running_var") + self.eps) \
            + p(pre + "bias")
        if self.kind != "batch":
            y = y + p(pre + "alpha") * x
        return y

    def forward(self, x):
        k = self.kind
        if k == "layer":
            return self.layer(x, self.weight, self.bias)
        if k == "rms":
            return rms_norm(x, self.weight, self.eps)
        if k in ("batch", "repbn"):
            return self.batchnorm(x)
        return self.lam * self.layer(x, self.p("ln.weight"), self.p("ln.bias")) + (1 - self.lam) * self.batchnorm(x, "bn.")


# --- act, add, mul --------------------------------------------------------

@register
class Act(Op):
    OP = "act"
    KEYS = ("fn",)

    def needs_params(self):
        return False

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        self.fn = self.enum_arg("fn", ACT_FNS)
        return in_shapes[0]

    def forward(self, x):
        return act_fn(self.fn, x)


class Binary(Op):
    N_IN = 2

    def needs_params(self):
        return False

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        if tuple(in_shapes[0]) != tuple(in_shapes[1]):
            raise self.err(f"{self.OP}: shapes differ: {fmt_shape(in_shapes[0])} and {fmt_shape(in_shapes[1])}", "in")
        return in_shapes[0]


@register
class Add(Binary):
    OP = "add"

    def forward(self, a, b):
        return a + b


@register
class Mul(Binary):
    OP = "mul"

    def forward(self, a, b):
        return a * b


# --- Canon (OPS.md 8) ------------------------------------------------------

@register
class Canon(Op):
    OP = "canon"
    KEYS = ("kernel", "residual", "bias")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        self.K = self.int_arg("kernel", 4)
        if self.K < 1:
            raise self.err("canon: kernel must be positive", "kernel")
        self.residual_on = self.bool_arg("residual", True)
        self.bias_on = self.bool_arg("bias", False)
        c = self.channels(in_shapes[0])
        self.param("weight", (c, self.K))
        if self.bias_on:
            self.param("bias", (c,), "zero")
        return in_shapes[0]

    def forward(self, x):
        z = causal_conv(x, self.weight)
        if self.bias_on:
            z = z + self.bias
        return x + z if self.residual_on else z


# --- MLP (OPS.md 7) ---------------------------------------------------------

@register
class Mlp(Op):
    OP = "mlp"
    KEYS = ("hidden", "act", "bias", "canon")
    ACTS = ("gelu", "gelu_tanh", "relu", "silu", "swiglu", "geglu")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        c = self.channels(in_shapes[0])
        f = self.hidden = self.int_arg("hidden")
        self.act = self.enum_arg("act", self.ACTS, "gelu")
        self.gated = self.act in ("swiglu", "geglu")
        self.bias_on = self.bool_arg("bias", False)
        self.canon_on = self.bool_arg("canon", False)
        if self.gated:
            self.param("gate", (f, c))
        self.param("up", (f, c))
        self.param("down", (c, f))
        if self.bias_on:
            self.param("up_bias", (f,), "zero")
            if self.gated:
                self.param("gate_bias", (f,), "zero")
            self.param("down_bias", (c,), "zero")
        if self.canon_on:
            self.param("canon.weight", ((2 * f) if self.gated else f, 4))
        return in_shapes[0]

    def forward(self, x):
        b = self.bias_on
        u = F.linear(x, self.up, self.up_bias if b else None)
        if self.gated:
            g = F.linear(x, self.gate, self.gate_bias if b else None)
            if self.canon_on:
                gu = causal_conv(torch.cat([g, u], 1), self.p("canon.weight"))
                gu = torch.cat([g, u], 1) + gu
                g, u = gu[:, :self.hidden], gu[:, self.hidden:]
            h = act_fn("silu" if self.act == "swiglu" else "gelu", g) * u
        else:
            if self.canon_on:
                u = u + causal_conv(u, self.p("canon.weight"))
            h = act_fn(self.act, u)
        return F.linear(h, self.down, self.down_bias if b else None)


# --- attention (OPS.md 9, 10) ---------------------------------------------

def rope_tables(positions, R, theta):
    """cos, sin [T, R/2] computed in float32 as PyTorch does (OPS.md 9)."""
    inv = 1.0 / (float(theta) ** (torch.arange(0, R, 2, dtype=torch.float32) / R))
    ang = torch.outer(positions.to(torch.float32), inv)
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x, cos, sin, R, style):
    """x [T, heads, Dh]; rotates the first R dims of every head."""
    cos = cos.to(x.dtype)[:, None, :]
    sin = sin.to(x.dtype)[:, None, :]
    out = x.clone()
    if style == "half":
        a, b = x[..., :R // 2], x[..., R // 2:R]
        out[..., :R // 2] = a * cos - b * sin
        out[..., R // 2:R] = b * cos + a * sin
    else:
        a, b = x[..., 0:R:2], x[..., 1:R:2]
        out[..., 0:R:2] = a * cos - b * sin
        out[..., 1:R:2] = a * sin + b * cos
    return out


@register
class Attention(Op):
    OP = "attention"
    KEYS = ("kind", "heads", "kv_heads", "head_dim", "causal", "rope", "scale", "bias", "qk_norm",
            "qk_norm_eps", "canon", "feature", "decay", "dwc_kernel", "grid")
    KINDS = ("softmax", "linear", "sla")
    IMPLEMENTED = ("softmax", "linear", "sla")
    KIND_KEYS = {"softmax": ("scale",), "linear": ("feature", "decay"), "sla": ("dwc_kernel", "grid")}

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        C = self.channels(in_shapes[0])
        self.kind = self.enum_arg("kind", self.KINDS)
        if self.kind not in self.IMPLEMENTED:
            raise self.err(f"attention kind '{self.kind}' is not implemented by this reader", "kind")
        for kind, keys in self.KIND_KEYS.items():
            for k in keys:
                if self.has(k) and kind != self.kind:
                    raise self.err(f"'{k}' is not an argument of attention kind {self.kind}", k)
        H = self.H = self.int_arg("heads")
        KV = self.KV = self.int_arg("kv_heads", H)
        if H <= 0 or KV <= 0:
            raise self.err("attention: heads and kv_heads must be positive", "heads")
        if H % KV:
            raise self.err(f"attention: kv_heads {KV} does not divide heads {H}", "kv_heads")
        if self.has("head_dim"):
            Dh = self.int_arg("head_dim")
            if Dh <= 0:
                raise self.err("attention: head_dim must be positive", "head_dim")
        else:
            if C % H:
                raise self.err(f"attention: C/H = {C}/{H} is not exact; give head_dim", "heads")
            Dh = C // H
        self.Dh = Dh
        self.causal = self.bool_arg("causal", True)
        self.rope = None
        if self.has("rope") and self.args_["rope"] is not None:
            r = self.args_["rope"]
            if not isinstance(r, dict):
                raise self.err("rope must be a mapping ({} turns it on)", "rope")
            for k in r:
                if k not in ("theta", "dims", "style"):
                    raise GraphError(f"unknown argument '{k}' of rope{closest(k, ('theta', 'dims', 'style'))}",
                                     self.file, r.kmarks.get(k, self._mark("rope")))
            theta = self.float_arg("theta", 10000.0, args=r)
            R = self.int_arg("dims", Dh, args=r)
            style = r.get("style", "half")
            if style not in ("half", "interleaved"):
                raise GraphError(f"rope style must be half or interleaved, not '{style}'", self.file,
                                 r.vmarks.get("style", self.where))
            if R % 2 or R > Dh or R <= 0:
                raise GraphError(f"rope dims {R} must be even, positive and <= head_dim {Dh}", self.file,
                                 r.vmarks.get("dims", self._mark("rope")))
            self.rope = (theta, R, style)
        self.scale = self.float_arg("scale", 1.0 / math.sqrt(Dh))
        self.bias_on = self.bool_arg("bias", False)
        self.qk_norm = self.enum_arg("qk_norm", ("none", "full", "head"), "none")
        self.qk_eps = self.float_arg("qk_norm_eps", 1e-6)
        self.canon_on = self.bool_arg("canon", False)
        self.feature = self.enum_arg("feature", ("elu1", "relu"), "elu1")
        self.decay_on = self.bool_arg("decay", False)
        if self.decay_on and not self.causal:
            raise self.err("decay needs causal attention (OPS.md 12)", "decay")
        if self.kind == "sla":
            self.sla_setup(in_shapes[0][0])
        self.param("wq", (H * Dh, C))
        self.param("wk", (KV * Dh, C))
        self.param("wv", (KV * Dh, C))
        self.param("wo", (C, H * Dh))
        if self.bias_on:
            self.param("bq", (H * Dh,), "zero")
            self.param("bk", (KV * Dh,), "zero")
            self.param("bv", (KV * Dh,), "zero")
            self.param("bo", (C,), "zero")
        if self.qk_norm == "full":
            self.param("q_norm.weight", (H * Dh,), "one")
            self.param("k_norm.weight", (KV * Dh,), "one")
        elif self.qk_norm == "head":
            self.param("q_norm.weight", (Dh,), "one")
            self.param("k_norm.weight", (Dh,), "one")
        if self.canon_on:
            self.param("canon.weight", ((H + 2 * KV) * Dh, 4))
        if self.decay_on:
            self.param("decay", (H,), "zero")
        if self.kind == "sla":
            k = self.dwc_k
            self.param("dwc.weight", (Dh, k, k) if self.grid else (Dh, k))
            self.param("dwc.bias", (Dh,), "zero")
        return in_shapes[0]

    def sla_setup(self, T):
        """OPS.md 13 / GRAPH-FORMAT.md: dwc_kernel (5), grid [gh, gw] for causal: false only."""
        k = self.dwc_k = self.int_arg("dwc_kernel", 5)
        if k < 1:
            raise self.err("dwc_kernel must be at least 1", "dwc_kernel")
        self.grid = None
        if self.has("grid"):
            g = self.args_["grid"]
            if not isinstance(g, list) or len(g) != 2:
                raise self.err("grid must be a list [gh, gw]", "grid")
            self.grid = tuple(self.graph.number(x, m) for x, m in zip(g, g.marks))
            if min(self.grid) < 1:
                raise self.err("grid sizes must be at least 1", "grid")
        if self.causal and self.grid:
            raise self.err("grid applies to sla with causal: false only", "grid")
        if not self.causal and not self.grid:
            raise self.err("sla with causal: false needs grid: [gh, gw]", "kind")
        if self.grid and k % 2 == 0:
            raise self.err(f"dwc_kernel must be odd with grid, got {k}", "dwc_kernel")
        if self.grid and isinstance(T, int) and T != self.grid[0] * self.grid[1]:
            raise self.err(f"grid {list(self.grid)} holds {self.grid[0] * self.grid[1]} tokens but the input has T = {T}", "grid")

    def project(self, x):
        H, KV, Dh, T = self.H, self.KV, self.Dh, x.shape[0]
        b = self.bias_on
        q = F.linear(x, self.wq, self.bq if b else None)
        k = F.linear(x, self.wk, self.bk if b else None)
        v = F.linear(x, self.wv, self.bv if b else None)
        if self.qk_norm == "full":
            q = rms_norm(q, self.p("q_norm.weight"), self.qk_eps)
            k = rms_norm(k, self.p("k_norm.weight"), self.qk_eps)
        elif self.qk_norm == "head":
            q = rms_norm(q.reshape(T, H, Dh), self.p("q_norm.weight"), self.qk_eps).reshape(T, H * Dh)
            k = rms_norm(k.reshape(T, KV, Dh), self.p("k_norm.weight"), self.qk_eps).reshape(T, KV * Dh)
        if self.canon_on:
            qkv = torch.cat([q, k, v], 1)
            qkv = qkv + causal_conv(qkv, self.p("canon.weight"))
            q, k, v = qkv.split([H * Dh, KV * Dh, KV * Dh], 1)
        q, k, v = q.reshape(T, H, Dh), k.reshape(T, KV, Dh), v.reshape(T, KV, Dh)
        if self.rope:
            theta, R, style = self.rope
            pos = torch.arange(T, dtype=torch.int64) + self.graph.p0
            cos, sin = rope_tables(pos, R, theta)
            q, k = apply_rope(q, cos, sin, R, style), apply_rope(k, cos, sin, R, style)
        return q, k, v

    def forward(self, x):
        T, H, KV = x.shape[0], self.H, self.KV
        q, k, v = self.project(x)
        rep = H // KV
        k = k.repeat_interleave(rep, dim=1)      # head h reads KV head h // rep (HF repeat_kv)
        v = v.repeat_interleave(rep, dim=1)
        o = self.softmax_heads(q, k, v) if self.kind == "softmax" else self.linear_heads(q, k, v)
        if self.kind == "sla":
            o = o + self.sla_dwc(v)
        return F.linear(o.reshape(T, H * self.Dh), self.wo, self.bo if self.bias_on else None)

    def linear_heads(self, q, k, v):
        """OPS.md 12: o_t = sum_j w_tj phi(q_t).phi(k_j) v_j / (sum_j w_tj phi(q_t).phi(k_j) + 1e-6),
        w_tj = gamma^(t-j) for j <= t (causal; gamma = sigmoid(decay_h) or 1), 1 for all j (non-causal)."""
        T = q.shape[0]
        feature = "relu" if self.kind == "sla" else self.feature       # SLA: relu, no decay (OPS.md 13)
        fq, fk = act_fn(feature, q), act_fn(feature, k)
        a = torch.einsum("thd,jhd->htj", fq, fk)
        if self.causal:
            dt = (torch.arange(T)[:, None] - torch.arange(T)[None, :]).to(q.dtype)
            if self.decay_on:
                lg = F.logsigmoid(self.decay.to(q.dtype))[:, None, None]
                w = torch.exp(lg * dt.clamp_min(0))
            else:
                w = torch.ones_like(dt)[None]
            a = a * torch.where(dt >= 0, w, torch.zeros_like(w))
        num = torch.einsum("htj,jhd->thd", a, v)
        den = a.sum(-1).t()[:, :, None]
        return num / (den + 1e-6)

    def sla_dwc(self, v):
        """OPS.md 13: depthwise conv of v [T, H, Dh], weights shared by the heads. Grid: PyTorch conv2d
        (cross-correlation, zero padding (k-1)/2) on [gh, gw]; causal: the 1-D causal conv of OPS.md 8
        (left padding k-1) along the sequence. Plus dwc.bias."""
        T, H, Dh = v.shape
        w, b, k = self.p("dwc.weight"), self.p("dwc.bias"), self.dwc_k
        if self.grid:
            gh, gw = self.grid
            x = v.reshape(gh, gw, H, Dh).permute(2, 3, 0, 1)
            y = F.conv2d(x, w.reshape(Dh, 1, k, k), b, padding=(k - 1) // 2, groups=Dh)
            return y.permute(2, 3, 0, 1).reshape(T, H, Dh)
        y = causal_conv(v.reshape(T, H * Dh), w.reshape(Dh, k).repeat(H, 1)) + b.repeat(H)
        return y.reshape(T, H, Dh)

    def softmax_heads(self, q, k, v):
        T = q.shape[0]
        s = torch.einsum("thd,jhd->htj", q, k) * self.scale
        if self.causal:
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            s = s.masked_fill(mask, float("-inf"))
        hy = getattr(self, "hy", None)
        hy_on = hy is not None and (not hy[2] or T == 1)       # decode_only: calls with T = 1 only
        if hy_on and hy[0] == "reuse":
            keep = hy[3].hy_sets.repeat_interleave(self.H // self.KV, dim=0)
            s = s.masked_fill(~keep, float("-inf"))
        p = torch.softmax(s, -1)
        if hy_on and hy[0] == "full":
            object.__setattr__(self, "hy_sets", hylra_select(p, self.KV, hy[1], self.causal))
        return torch.einsum("htj,jhd->thd", p, v)


def hylra_select(p, KV, top_k, causal):
    """OPS.md 11: for KV head g and row t, the K = min(top_k, visible keys) positions j with the
    largest sum over g's query heads of p[h, t, j], ties to the smaller j; a mask [KV, T, T]."""
    H, T, _ = p.shape
    score = p.reshape(KV, H // KV, T, T).sum(1)
    vis = torch.ones(T, T, dtype=torch.bool)
    if causal:
        vis = vis.tril()
    score = score.masked_fill(~vis, -1.0)
    order = torch.sort(score, dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(T).expand_as(order).contiguous())
    K = vis.sum(-1).clamp(max=top_k)
    return rank < K[None, :, None]


# --- mixture of experts (OPS.md 14) -------------------------------------------

class RouterGRU(torch.nn.Module):
    """The one graph-wide GRU cell shared by every recurrent moe router (weights router_gru.*)."""
    OP = "router_gru"

    def __init__(self, dtype, R):
        super().__init__()
        self.prefix, self.R = "router_gru", R
        self.specs = (("weight_ih", (3 * R, R), "normal"), ("weight_hh", (3 * R, R), "normal"),
                      ("bias_ih", (3 * R,), "zero"), ("bias_hh", (3 * R,), "zero"))
        for n, s, _ in self.specs:
            self.register_parameter(n, torch.nn.Parameter(torch.zeros(s, dtype=dtype), requires_grad=False))

    def p(self, suffix):
        return getattr(self, suffix)

    def forward(self, u, h):
        """PyTorch GRUCell: gates r, z, n; h' = (1 - z) n + z h."""
        gi = F.linear(u, self.weight_ih, self.bias_ih)
        gh = F.linear(h, self.weight_hh, self.bias_hh)
        ir, iz, i_n = gi.chunk(3, -1)
        hr, hz, hn = gh.chunk(3, -1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(i_n + r * hn)
        return (1 - z) * n + z * h


@register
class Moe(Op):
    OP = "moe"
    KEYS = ("experts", "top_k", "hidden", "router", "act", "normalize")

    def setup(self, in_shapes, in_dtypes):
        self.want_float(in_dtypes)
        c = self.channels(in_shapes[0])
        E = self.E = self.int_arg("experts")
        K = self.K = self.int_arg("top_k")
        f = self.hidden = self.int_arg("hidden")
        if E < 1:
            raise self.err("moe: experts must be at least 1", "experts")
        if K < 1 or K > E:
            raise GraphError(f"moe: top_k {K} must be in 1..experts ({E})", self.file, self.args_.kmarks.get("top_k", self.where))
        if f < 1:
            raise self.err("moe: hidden must be at least 1", "hidden")
        self.act = self.enum_arg("act", ("swiglu", "geglu"), "swiglu")
        self.normalize = self.bool_arg("normalize", True)
        self.recurrent = self._router()
        if self.recurrent:
            self.param("router.in.weight", (self.R, c))
            self.param("router.out.weight", (E, self.R))
        else:
            self.param("router.weight", (E, c))
        self.param("experts.gate", (E, f, c))
        self.param("experts.up", (E, f, c))
        self.param("experts.down", (E, c, f))
        return in_shapes[0]

    def _router(self):
        """router: linear | {kind: recurrent, dim: R}; the first recurrent node declares the GRU cell."""
        if "router" not in self.args_:
            raise self.err("moe: missing required argument 'router'")
        v = self.args_["router"]
        if v == "linear":
            return False
        if not isinstance(v, MDict):
            raise self.err("moe: router must be linear or {kind: recurrent, dim: R}", "router")
        for k in v:
            if k not in ("kind", "dim"):
                raise GraphError(f"unknown argument '{k}' of moe router{closest(k, ('kind', 'dim'))}", self.file, v.kmarks[k])
        if v.get("kind") != "recurrent":
            raise GraphError("moe: a router map needs kind: recurrent", self.file, v.vmarks.get("kind", v.mark))
        at = v.kmarks.get("dim", self.args_.kmarks.get("router", self.where))
        self.R = self.graph.number(v["dim"], v.vmarks["dim"]) if "dim" in v else 256
        if self.R < 1:
            raise GraphError("moe: router dim must be at least 1", self.file, at)
        g = self.graph
        cell = g.__dict__.get("_rmoe_cell")
        self.chain_first = cell is None
        if cell is None:
            cell = RouterGRU(g.dtype, self.R)
            object.__setattr__(g, "_rmoe_cell", cell)
            for n, s, init in cell.specs:
                g.weight_specs["router_gru." + n] = (s, init, cell)
            g._insert("router_gru", cell)
        elif cell.R != self.R:
            raise GraphError(f"moe: recurrent router dim {self.R} differs from {cell.R} of the first one (one shared GRU cell)",
                             self.file, at)
        return True

    def forward(self, x):
        T, E, K = x.shape[0], self.E, self.K
        if self.recurrent:
            g = self.graph
            h = torch.zeros(T, self.R, dtype=x.dtype) if self.chain_first else g.__dict__["_rmoe_h"]
            h = g.__dict__["_rmoe_cell"](F.linear(x, self.p("router.in.weight")), h)
            object.__setattr__(g, "_rmoe_h", h)    # passes unchanged through other nodes to the next router
            logits = F.linear(h, self.p("router.out.weight"))
        else:
            logits = F.linear(x, self.p("router.weight"))
        p = torch.softmax(logits, -1)                                      # over all E, before the top-k
        idx = torch.sort(-logits, dim=-1, stable=True).indices[:, :K]     # ties: the smaller index first
        w = p.gather(1, idx)
        if self.normalize:
            w = w / w.sum(-1, keepdim=True)
        gate, up, down = self.p("experts.gate"), self.p("experts.up"), self.p("experts.down")
        y = torch.zeros_like(x)
        for e in range(E):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            xe = x[rows]
            h = act_fn("silu" if self.act == "swiglu" else "gelu", F.linear(xe, gate[e])) * F.linear(xe, up[e])
            y.index_add_(0, rows, w[rows, slot][:, None] * F.linear(h, down[e]))
        return y


# --------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------

_INDEX_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BARE_SYM_RE = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_SYM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
TOP_KEYS = ("name", "dims", "inputs", "weights", "hylra", "body", "outputs")


class Step:
    """One executed node: op (or None for a residual), input refs, output ref."""

    def __init__(self, op, ins, out, sub=None, sub_last=None):
        self.op, self.ins, self.out, self.sub, self.sub_last = op, ins, out, sub, sub_last


class Graph(torch.nn.Module):
    """A graph file as a torch Module; parameters are named by the engine's weight keys."""

    def __init__(self, doc, file="<graph>", dims=None, dtype=torch.float64):
        super().__init__()
        self.file, self.dtype, self.p0 = file, dtype, 0
        self.ties, self.weight_specs = [], {}      # key -> (shape, init, op)
        if not isinstance(doc, MDict):
            raise GraphError("the graph file must be a mapping", file, (1, 1))
        for k in doc:
            if k not in TOP_KEYS:
                raise GraphError(f"unknown top-level key '{k}'{closest(k, TOP_KEYS)}", file, doc.kmarks[k])
        if "name" not in doc:
            raise GraphError("missing required key 'name'", file, doc.mark)
        if not isinstance(doc["name"], str):
            raise GraphError("'name' must be a string", file, doc.vmarks["name"])
        self.name = doc["name"]
        self._eval_dims(doc, dict(dims or {}))
        self._read_inputs(doc)
        self.weights_key = doc.get("weights")
        self._check_weights_key(doc)
        if "body" not in doc:
            raise GraphError("missing required key 'body'", file, doc.mark)
        body = doc["body"]
        if not isinstance(body, list) or not body:
            raise GraphError("'body' must be a non-empty list of nodes", file, doc.vmarks["body"])
        self._budget = 0
        nodes = self._expand(body, doc.vmarks["body"], {})
        if not nodes:
            raise GraphError("'body' expands to no nodes", file, doc.vmarks["body"])
        # build
        self.counts, self.tensors, self.anon = {}, {}, 0
        for n, (dt, shp) in self.inputs.items():
            self.tensors[n] = (shp, dt)
        first = next(iter(self.inputs))
        steps, last = self._build(nodes, first)
        # plain attributes set after nodes were inserted as children (a node may be named 'last')
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "last", last)
        for op, key, shape, mark in self.ties:
            if key not in self.weight_specs:
                raise GraphError(f"tie: no weight '{key}' in this graph", file, mark)
            s = self.weight_specs[key][0]
            if tuple(s) != tuple(shape):
                raise GraphError(f"tie: '{key}' is {fmt_shape(s)}, this linear needs {fmt_shape(shape)}", file, mark)
        self._read_outputs(doc)
        self._setup_hylra(doc)

    def _setup_hylra(self, doc):
        """HyLRA (OPS.md 11, GRAPH-FORMAT.md): one policy entry per softmax attention layer in
        execution order; a reuse layer reads the sets of the nearest preceding full layer."""
        if "hylra" not in doc:
            return
        h, m = doc["hylra"], doc.vmarks["hylra"]
        if not isinstance(h, dict) or "top_k" not in h or "policy" not in h:
            raise GraphError("hylra must be a mapping {top_k: K, policy: [full|reuse, ...], decode_only: false}", self.file, m)
        for k in h:
            if k not in ("top_k", "policy", "decode_only"):
                raise GraphError(f"unknown key '{k}' of hylra{closest(k, ('top_k', 'policy', 'decode_only'))}",
                                 self.file, h.kmarks[k])
        top_k = self.number(h["top_k"], h.vmarks["top_k"])
        if top_k < 1:
            raise GraphError("hylra: top_k must be at least 1", self.file, h.vmarks["top_k"])
        decode_only = h.get("decode_only", False)
        if not isinstance(decode_only, bool):
            raise GraphError("hylra: decode_only must be true or false", self.file, h.vmarks["decode_only"])
        layers = []

        def walk(steps):
            for st in steps:
                if st.op is None:
                    walk(st.sub)
                elif isinstance(st.op, Attention) and st.op.kind == "softmax":
                    layers.append(st.op)
        walk(self.steps)
        pol = h["policy"]
        if not isinstance(pol, list) or any(e not in ("full", "reuse") for e in pol):
            raise GraphError("hylra policy must be a list of full|reuse", self.file, h.vmarks["policy"])
        if len(pol) != len(layers):
            raise GraphError(f"hylra: policy has {len(pol)} entries but the graph has {len(layers)} softmax attention layers",
                             self.file, h.vmarks["policy"])
        if layers and pol[0] != "full":
            raise GraphError("hylra: the first policy entry must be full", self.file, h.vmarks["policy"])
        src = None
        for i, (op, e) in enumerate(zip(layers, pol)):
            if e == "full":
                src = op
                object.__setattr__(op, "hy", ("full", top_k, decode_only, None))
            else:
                if (op.H, op.KV, op.causal) != (src.H, src.KV, src.causal):
                    raise GraphError(f"hylra: reuse layer {i} must have the heads, kv_heads and causal of the full layer it reuses",
                                     self.file, h.vmarks["policy"])
                object.__setattr__(op, "hy", ("reuse", top_k, decode_only, src))

    # dims, inputs, outputs ---------------------------------------------
    def _check_weights_key(self, doc):
        if "weights" not in doc or isinstance(doc["weights"], str):
            return
        w, m = doc["weights"], doc.vmarks["weights"]
        if not isinstance(w, MDict) or list(w) != ["random"]:
            k = next(iter(w), None) if isinstance(w, MDict) else None
            raise GraphError("weights must be a path or {random: {seed, std}}" + (closest(k, ["random"]) if k else ""),
                             self.file, w.kmarks.get(k, m) if k else m)
        r = w["random"]
        if r is None:
            return
        if not isinstance(r, MDict):
            raise GraphError("random takes {seed: N, std: S}", self.file, w.vmarks["random"])
        for k, v in r.items():
            if k not in ("seed", "std"):
                raise GraphError(f"unknown key '{k}' of random{closest(k, ('seed', 'std'))}", self.file, r.kmarks[k])
            if k == "seed" and (self.number(v, r.vmarks[k]) < 0):
                raise GraphError("seed must be >= 0", self.file, r.vmarks[k])
            if k == "std" and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0):
                raise GraphError("std must be a number >= 0", self.file, r.vmarks[k])

    def number(self, v, mark):
        if isinstance(v, bool) or v is None or isinstance(v, float):
            raise GraphError(f"expected an integer, got {v!r}", self.file, mark)
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            if _INDEX_RE.search(v):
                raise GraphError(f"'{v}': no enclosing repeat index", self.file, mark)
            return eval_expr(v, self.dims, self.file, mark)
        raise GraphError("expected an integer", self.file, mark)

    def _eval_dims(self, doc, overrides):
        self.dims = {}
        d = doc.get("dims", MDict())
        if not isinstance(d, MDict):
            raise GraphError("'dims' must be a mapping", self.file, doc.vmarks.get("dims"))
        for k in overrides:
            if k not in d:
                raise GraphError(f"--dim {k}: not in dims{closest(k, d)}", self.file)
        for k, v in d.items():
            if not _SYM_RE.match(k):
                raise GraphError(f"bad dim name '{k}'", self.file, d.kmarks[k])
            if k in overrides:
                ov = overrides[k]
                self.dims[k] = ov if isinstance(ov, int) else eval_expr(str(ov), self.dims, self.file)
            else:
                self.dims[k] = self.number(v, d.vmarks[k])

    def _read_inputs(self, doc):
        if "inputs" not in doc or not isinstance(doc["inputs"], MDict) or not doc["inputs"]:
            raise GraphError("'inputs' must be a non-empty mapping", self.file, doc.vmarks.get("inputs", doc.mark))
        self.inputs = {}
        ins = doc["inputs"]
        for n, spec in ins.items():
            if not isinstance(spec, MDict):
                raise GraphError(f"input '{n}' must be {{dtype, shape}}", self.file, ins.vmarks[n])
            for k in spec:
                if k not in ("dtype", "shape"):
                    raise GraphError(f"unknown key '{k}' of input{closest(k, ('dtype', 'shape'))}", self.file,
                                     spec.kmarks[k])
            if spec.get("dtype") not in ("i32", "f32", "f16"):
                raise GraphError("input dtype must be i32, f32 or f16", self.file, spec.vmarks.get("dtype", spec.mark))
            shp = spec.get("shape")
            if not isinstance(shp, MList) or not shp:
                raise GraphError("input shape must be a non-empty list", self.file, spec.vmarks.get("shape", spec.mark))
            out = []
            for v, m in zip(shp, shp.marks):
                if isinstance(v, str) and _BARE_SYM_RE.match(v):
                    if v in self.dims:
                        raise GraphError(f"'{v}' is in dims: write ${v}", self.file, m)
                    out.append(v)
                else:
                    x = self.number(v, m)
                    if x < 0:
                        raise GraphError("negative size", self.file, m)
                    out.append(x)
            self.inputs[n] = (spec["dtype"], tuple(out))

    def _read_outputs(self, doc):
        outs = []
        object.__setattr__(self, "outputs", outs)
        if "outputs" not in doc:
            outs.append(("out", self.last))
            return
        o = doc["outputs"]
        if not isinstance(o, MList) or not o:
            raise GraphError("'outputs' must be a non-empty list of names", self.file, doc.vmarks["outputs"])
        for i, (n, m) in enumerate(zip(o, o.marks)):
            if not isinstance(n, str):
                raise GraphError("an output must be a tensor name", self.file, m)
            if any(n == x for x, _ in self.outputs):
                raise GraphError(f"output '{n}' listed twice", self.file, m)
            if n in self.tensors:
                self.outputs.append((n, n))
            elif i == len(o) - 1:
                self.outputs.append((n, self.last))
            else:
                raise GraphError(f"output '{n}' names no tensor{closest(n, self.tensors)}", self.file, m)

    # repeat expansion ------------------------------------------------------
    def _subst(self, v, env, mark):
        if isinstance(v, str):
            def rep(m):
                if m.group(1) not in env:
                    raise GraphError(f"'{{{m.group(1)}}}' names no enclosing repeat index", self.file, mark)
                return str(env[m.group(1)])
            return _INDEX_RE.sub(rep, v)
        if isinstance(v, MDict):
            out = MDict()
            out.mark, out.kmarks = v.mark, v.kmarks
            for k, x in v.items():
                out[k] = self._subst(x, env, v.vmarks.get(k, mark))
            out.vmarks = v.vmarks
            return out
        if isinstance(v, MList):
            out = MList(self._subst(x, env, m) for x, m in zip(v, v.marks))
            out.mark, out.marks = v.mark, v.marks
            return out
        return v

    def _expand(self, nodes, mark, env):
        """Returns [(op, args, mark)] with repeats unrolled; residual args are expanded lists."""
        if not isinstance(nodes, MList):
            raise GraphError("expected a list of nodes", self.file, mark)
        out = []
        for node, m in zip(nodes, nodes.marks):
            if not isinstance(node, MDict) or len(node) != 1:
                raise GraphError("a node is a one-key mapping {op: arguments}", self.file, m)
            op, args = next(iter(node.items()))
            am = node.vmarks[op]
            if op == "repeat":
                if not isinstance(args, MDict):
                    raise GraphError("repeat takes {count, index, body}", self.file, am)
                for k in args:
                    if k not in ("count", "index", "body"):
                        raise GraphError(f"unknown argument '{k}' of repeat{closest(k, ('count', 'index', 'body'))}",
                                         self.file, args.kmarks[k])
                if "count" not in args:
                    raise GraphError("repeat: missing required argument 'count'", self.file, am)
                if "body" not in args:
                    raise GraphError("repeat: missing required argument 'body'", self.file, am)
                cm = args.vmarks["count"]
                cnt = self.number(self._subst(args["count"], env, cm), cm)
                if cnt < 0:
                    raise GraphError(f"repeat count {cnt} is below 0", self.file, cm)
                idx = args.get("index", "i")
                if not isinstance(idx, str) or not _SYM_RE.match(idx):
                    raise GraphError("repeat index must be a name", self.file, args.vmarks.get("index"))
                if idx in env:
                    raise GraphError(f"repeat index '{idx}' reuses an enclosing index", self.file,
                                     args.vmarks.get("index", am))
                self._budget += cnt
                if self._budget > 1000000:
                    raise GraphError("repeats expand to too many nodes (more than 1000000)", self.file, cm)
                for it in range(cnt):
                    out.extend(self._expand(args["body"], args.vmarks["body"], dict(env, **{idx: it})))
                if cnt == 0:    # check the body's syntax anyway with a dummy index
                    self._expand(args["body"], args.vmarks["body"], dict(env, **{idx: 0}))
            elif op == "residual":
                sub = self._expand(args, am, env)
                if not sub:
                    raise GraphError("empty residual", self.file, am)
                out.append(("residual", sub, m))
            else:
                if op not in OPS:
                    known = list(OPS) + ["repeat", "residual"]
                    raise GraphError(f"unknown op '{op}'{closest(op, known)}", self.file, node.kmarks[op])
                if not isinstance(args, MDict):
                    raise GraphError(f"{op}: arguments must be a mapping", self.file, am)
                out.append((op, self._subst(args, env, am), m))
        return out

    # building ---------------------------------------------------------------
    def _new_anon(self):
        self.anon += 1
        return "#%d" % self.anon

    def _tensor_name(self, args, key):
        v = args[key]
        if not isinstance(v, str) or not v:
            raise GraphError(f"'{key}' must be a name", self.file, args.vmarks[key])
        if v in self.tensors:
            raise GraphError(f"duplicate tensor name '{v}'", self.file, args.vmarks[key])
        return v

    def _build(self, nodes, prev):
        steps = []
        for op_name, args, mark in nodes:
            if op_name == "residual":
                sub, last = self._build(args, prev)
                xs, fs = self.tensors[prev][0], self.tensors[last][0]
                if tuple(xs) != tuple(fs):
                    raise GraphError(f"residual: f(x) is {fmt_shape(fs)}, x is {fmt_shape(xs)}", self.file, mark)
                out = self._new_anon()
                self.tensors[out] = self.tensors[prev]
                steps.append(Step(None, [prev], out, sub, last))
                prev = out
                continue
            cls = OPS[op_name]
            n = self.counts.get(op_name, 0)
            self.counts[op_name] = n + 1
            op = cls(self, args, self.file, mark)
            if "in" in args:
                v, im = args["in"], args.vmarks["in"]
                if cls.N_IN == 2:
                    if not isinstance(v, list) or len(v) != 2:
                        raise GraphError(f"{op_name} takes in: [A, B] (exactly two tensors)", self.file, im)
                    ins = list(v)
                else:
                    if not isinstance(v, str):
                        raise GraphError(f"{op_name} takes one input: in: NAME", self.file, im)
                    ins = [v]
                for t in ins:
                    if t not in self.tensors:
                        raise GraphError(f"in: no tensor '{t}' (yet){closest(t, [x for x in self.tensors if x[0] != '#'])}",
                                         self.file, im)
            elif cls.N_IN == 2:
                raise GraphError(f"{op_name} needs in: [A, B]", self.file, mark)
            else:
                ins = [prev]
            if "name" in args:
                if not isinstance(args["name"], str) or not args["name"]:
                    raise GraphError("'name' must be a string", self.file, args.vmarks["name"])
                op.prefix = args["name"]
            else:
                op.prefix = f"{op_name}.{n}"
            if "as" in args:
                out = self._tensor_name(args, "as")
            elif "name" in args:
                out = self._tensor_name(args, "name")
            else:
                out = self._new_anon()
            shp = op.setup([self.tensors[t][0] for t in ins], [self.tensors[t][1] for t in ins])
            if op.param_specs and "name" not in args:
                warnings.warn(f"{self.file}: node {op_name} without a name reads its weights under '{op.prefix}'")
            if op.param_specs:
                for suffix, s, init in op.param_specs:
                    key = op.prefix + "." + suffix
                    if key in self.weight_specs:
                        raise GraphError(f"weight '{key}' declared twice (share weights only with tie)", self.file,
                                         mark)
                    self.weight_specs[key] = (s, init, op)
                self._insert(op.prefix, op)
            self.tensors[out] = (tuple(shp), "f32")
            steps.append(Step(op, ins, out))
            prev = out
        return steps, prev

    def _insert(self, path, op):
        parts = path.split(".")
        mod = self
        for p in parts[:-1]:
            if p not in mod._modules:
                mod.add_module(p, torch.nn.Module())
            mod = mod._modules[p]
        last = parts[-1]
        if last in mod._modules:           # a container made for a longer prefix: adopt its children
            for k, ch in mod._modules[last]._modules.items():
                op.add_module(k, ch)
        if last in mod._parameters:
            raise GraphError(f"weight prefix '{path}' collides with a weight key", self.file, op.where)
        mod._modules[last] = op

    # weights ----------------------------------------------------------------
    def weight(self, key):
        return self.weight_specs[key][2].p(key[len(self.weight_specs[key][2].prefix) + 1:])

    def weight_shapes(self):
        """{key: (shape, init)} in declaration order (init: normal, one, zero)."""
        return {k: (s, i) for k, (s, i, _) in self.weight_specs.items()}

    def load_weights(self, tensors, where="weights"):
        used = set()
        for key, (shape, _, op) in self.weight_specs.items():
            if key not in tensors:
                raise GraphError(f"missing weight '{key}' (expected {fmt_shape(shape)})", where)
            a = np.asarray(tensors[key])
            if a.dtype not in (np.float32, np.float16):
                raise GraphError(f"weight '{key}': dtype {a.dtype} (F32, F16 or BF16 only)", where)
            s = tuple(a.shape)
            conv = key.endswith("canon.weight") or key.endswith("dwc.weight") or \
                (op.OP == "canon" and key == op.prefix + ".weight")
            if conv and len(s) == len(shape) + 1 and s[1] == 1 and (s[0],) + s[2:] == tuple(shape):
                a = a.reshape(shape)
            elif s != tuple(shape):
                raise GraphError(f"weight '{key}': expected {fmt_shape(shape)}, found {fmt_shape(s)}", where)
            with torch.no_grad():
                op.p(key[len(op.prefix) + 1:]).copy_(torch.from_numpy(a.astype(np.float64)))
            used.add(key)
        unused = [k for k in tensors if k not in used]
        if unused:
            warnings.warn(f"{where}: weights not used by the graph: {', '.join(unused)}")

    def load_safetensors(self, path):
        t, _ = safetensors_io.load(path)
        self.load_weights(t, path)

    def random_weights(self, seed=0, std=0.02, vary=False):
        """Weights with the right keys and shapes, drawn with numpy (NOT the engine's generator).
        vary: norm scales, biases and running statistics random too (a sharper test)."""
        rng = np.random.default_rng(seed)
        out = {}
        for k, (s, init, _) in self.weight_specs.items():
            if init == "normal":
                out[k] = (rng.standard_normal(s) * std).astype(np.float32)
            elif not vary:
                out[k] = np.full(s, 1.0 if init == "one" else 0.0, np.float32)
            elif init == "one":
                out[k] = rng.uniform(0.5, 1.5 if not k.endswith("running_var") else 2.0, s).astype(np.float32)
            else:
                out[k] = (rng.standard_normal(s) * 0.1).astype(np.float32)
        return out

    # running ----------------------------------------------------------------
    def _bind_inputs(self, inputs):
        env, syms = {}, {}
        for n, (dt, shp) in self.inputs.items():
            if n not in inputs:
                raise GraphError(f"no value for input '{n}'")
            a = inputs[n]
            a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
            if len(a.shape) != len(shp):
                raise GraphError(f"input '{n}': rank {a.ndim}, graph says {fmt_shape(shp)}")
            for got, want in zip(a.shape, shp):
                if isinstance(want, int):
                    if got != want:
                        raise GraphError(f"input '{n}': shape {list(a.shape)}, graph says {fmt_shape(shp)}")
                elif syms.setdefault(want, got) != got:
                    raise GraphError(f"input '{n}': {want} = {got} but already bound to {syms[want]}")
            if dt == "i32":
                if a.dtype.kind not in "iu":
                    raise GraphError(f"input '{n}' must be integer ids")
                env[n] = torch.from_numpy(a.astype(np.int64))
            else:
                env[n] = torch.from_numpy(np.asarray(a, np.float64)).to(self.dtype)
        for n in inputs:
            if n not in self.inputs:
                raise GraphError(f"no graph input named '{n}'")
        return env

    def _exec(self, steps, env):
        for st in steps:
            if st.op is None:
                x = env[st.ins[0]]
                self._exec(st.sub, env)
                env[st.out] = x + env[st.sub_last]
            else:
                env[st.out] = st.op(*[env[t] for t in st.ins])

    @torch.no_grad()
    def run(self, inputs, keep_all=False):
        """inputs: {name: array}. Returns {output name: tensor} in output order; with
        keep_all also every named tensor (after the outputs)."""
        env = self._bind_inputs(inputs)
        self._exec(self.steps, env)
        out = {n: env[ref] for n, ref in self.outputs}
        if keep_all:
            for k, v in env.items():
                if k[0] != "#" and k not in out:
                    out[k] = v
        return out

    def forward(self, **inputs):
        return self.run(inputs)

    def named_tensors(self):
        """The names of every named tensor in execution order (inputs first)."""
        return [k for k in self.tensors if k[0] != "#"]


def load_graph(path, dims=None, dtype=torch.float64):
    with open(path, "rb") as f:
        text = f.read()
    return Graph(load_yaml(text, path), path, dims, dtype)


# --------------------------------------------------------------------------
# Standard inputs and the command line
# --------------------------------------------------------------------------

def standard_image(shape):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    return (((i * 37) % 101).astype(np.float32) / np.float32(100.0)).reshape(shape)


def standard_inputs(g, text=None, image=False, files=None):
    """Inputs for a graph: --input files, --text ids for the first i32 input, the standard image
    for the first f32 rank-3 input. text=None and image=False: the test suite's standard inputs."""
    files = dict(files or {})
    out = {}
    for n, f in files.items():
        out[n] = np.load(f)
    standard = text is None and not image and not files
    if text is not None or standard:
        t = STANDARD_TEXT if text is None else text
        first_i32 = next((n for n, (dt, _) in g.inputs.items() if dt == "i32"), None)
        if first_i32 is not None and first_i32 not in out:
            out[first_i32] = np.frombuffer(t.encode("utf-8"), np.uint8).astype(np.int32)
        elif text is not None:
            raise GraphError("--text: the graph has no i32 input")
    if image or standard:
        first_img = next((n for n, (dt, s) in g.inputs.items() if dt != "i32" and len(s) == 3), None)
        if first_img is not None and first_img not in out:
            s = g.inputs[first_img][1]
            if not all(isinstance(v, int) for v in s):
                raise GraphError(f"input '{first_img}' has no fixed shape for the standard image")
            out[first_img] = standard_image(s)
        elif image:
            raise GraphError("--image-seed: the graph has no f32 input of rank 3")
    return out


def parse_dims(items):
    d = {}
    for it in items or []:
        k, _, v = it.partition("=")
        if not k or not v:
            raise SystemExit(f"--dim {it}: expected K=V")
        d[k] = int(v)
    return d


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run a vkgraph graph file with PyTorch (float64 oracle).")
    ap.add_argument("graph")
    ap.add_argument("--weights", help="safetensors file (default: the graph's weights: path)")
    ap.add_argument("--text")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    ap.add_argument("--image-seed", action="store_true", help="the standard test image for the f32 image input")
    ap.add_argument("--dim", action="append", default=[], metavar="K=V")
    ap.add_argument("--float32", action="store_true", help="compute in float32 instead of float64")
    ap.add_argument("--dump", action="store_true", help="also write every named tensor")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        g = load_graph(a.graph, parse_dims(a.dim), torch.float32 if a.float32 else torch.float64)
        w = a.weights
        if w is None:
            if not isinstance(g.weights_key, str):
                raise GraphError("random weights: pass --weights (write them with `vkg init-weights`)", a.graph)
            w = os.path.join(os.path.dirname(a.graph), g.weights_key)
        g.load_safetensors(w)
        files = {}
        for it in a.input:
            n, _, f = it.partition("=")
            files[n] = f
        ins = standard_inputs(g, a.text, a.image_seed, files)
        outs = g.run(ins, keep_all=a.dump)
    except GraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    os.makedirs(a.out, exist_ok=True)
    for n, t in outs.items():
        np.save(os.path.join(a.out, n + ".npy"), t.to(torch.float64).numpy().astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
