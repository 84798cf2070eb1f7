#!/usr/bin/python3
"""test_vkgraph_torch.py — checks tools/vkgraph_torch.py against plain numpy loops.

The numpy code below is written from OPS.md directly (per row, per head,
explicit index formulas), independently of the torch module, on awkward sizes.
Also checks the YAML 1.2 scalar rules, integer expressions, repeat expansion,
data flow and weight naming. Run: /usr/bin/python3 tools/test_vkgraph_torch.py
"""
import math
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vkgraph_torch as vt  # noqa: E402

warnings.simplefilter("ignore")
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL", what)


def close(a, b, tol, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        check(False, f"{what}: shape {a.shape} vs {b.shape}")
        return
    err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30) if a.size else 0.0
    check(err <= tol, f"{what}: rel err {err:.3g}")


def graph(text, dims=None):
    d = tempfile.mkdtemp()
    p = os.path.join(d, "g.yaml")
    with open(p, "w") as f:
        f.write(text)
    return vt.load_graph(p, dims)


def expect_error(text, needle):
    try:
        graph(text)
    except vt.GraphError as e:
        check(needle in str(e), f"error '{needle}' expected, got: {e}")
        return
    check(False, f"no error for: {needle}")


# ---- numpy reference, straight from OPS.md ----------------------------------

def np_rms(x, w, eps):
    return np.stack([w * (r / math.sqrt(np.mean(r * r) + eps)) for r in x])


def np_layer(x, w, b, eps):
    out = []
    for r in x:
        mu = r.mean()
        v = ((r - mu) ** 2).mean()
        out.append((r - mu) / math.sqrt(v + eps) * w + b)
    return np.stack(out)


def np_rope(vec, p, R, theta, style):
    """One head vector at position p; angles in float32."""
    out = vec.copy()
    for i in range(R // 2):
        inv = np.float32(1.0) / np.power(np.float32(theta), np.float32(2 * i) / np.float32(R))
        a = np.float32(np.float32(p) * inv)
        c, s = float(np.cos(a)), float(np.sin(a))
        if style == "half":
            x0, x1 = vec[i], vec[i + R // 2]
            out[i], out[i + R // 2] = x0 * c - x1 * s, x1 * c + x0 * s
        else:
            x0, x1 = vec[2 * i], vec[2 * i + 1]
            out[2 * i], out[2 * i + 1] = x0 * c - x1 * s, x0 * s + x1 * c
    return out


def np_attention(x, W, pre, H, KV, Dh, causal=True, rope=None, scale=None, bias=False, qk_norm="none",
                 qk_eps=1e-6, canon=None):
    T = x.shape[0]
    g = lambda k: W[pre + "." + k].astype(np.float64)  # noqa: E731
    q, k, v = x @ g("wq").T, x @ g("wk").T, x @ g("wv").T
    if bias:
        q, k, v = q + g("bq"), k + g("bk"), v + g("bv")
    if qk_norm == "full":
        q, k = np_rms(q, g("q_norm.weight"), qk_eps), np_rms(k, g("k_norm.weight"), qk_eps)
    elif qk_norm == "head":
        q = np_rms(q.reshape(T * H, Dh), g("q_norm.weight"), qk_eps).reshape(T, H * Dh)
        k = np_rms(k.reshape(T * KV, Dh), g("k_norm.weight"), qk_eps).reshape(T, KV * Dh)
    if canon is not None:
        qkv = np.concatenate([q, k, v], 1)
        qkv = qkv + np_conv(qkv, canon)
        q, k, v = qkv[:, :H * Dh], qkv[:, H * Dh:(H + KV) * Dh], qkv[:, (H + KV) * Dh:]
    scale = 1 / math.sqrt(Dh) if scale is None else scale
    o = np.zeros((T, H * Dh))
    for t in range(T):
        for h in range(H):
            gk = h // (H // KV)
            qv = q[t, h * Dh:(h + 1) * Dh]
            if rope:
                qv = np_rope(qv, t, rope[1], rope[0], rope[2])
            js = range(t + 1) if causal else range(T)
            s = []
            for j in js:
                kv_ = k[j, gk * Dh:(gk + 1) * Dh]
                if rope:
                    kv_ = np_rope(kv_, j, rope[1], rope[0], rope[2])
                s.append(scale * float(qv @ kv_))
            s = np.array(s)
            pr = np.exp(s - s.max())
            pr /= pr.sum()
            for pj, j in zip(pr, js):
                o[t, h * Dh:(h + 1) * Dh] += pj * v[j, gk * Dh:(gk + 1) * Dh]
    out = o @ g("wo").T
    return out + g("bo") if bias else out


def np_conv(x, w):
    """OPS.md 8 without residual: s[t, c] = sum_j W[c, j] x[t - (K-1) + j, c]."""
    T, C = x.shape
    K = w.shape[1]
    s = np.zeros((T, C))
    for t in range(T):
        for j in range(K):
            src = t - (K - 1) + j
            if src >= 0:
                s[t] += w[:, j] * x[src]
    return s


def np_act(fn, x):
    from math import erf
    f = {"relu": lambda v: max(v, 0.0), "gelu": lambda v: 0.5 * v * (1 + erf(v / math.sqrt(2))),
         "gelu_tanh": lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))),
         "silu": lambda v: v / (1 + math.exp(-v)), "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
         "tanh": math.tanh, "elu1": lambda v: v + 1 if v > 0 else math.exp(v)}[fn]
    return np.vectorize(f)(x)


def np_mlp(x, W, pre, act, bias=False, canon=False):
    g = lambda k: W[pre + "." + k].astype(np.float64)  # noqa: E731
    u = x @ g("up").T + (g("up_bias") if bias else 0)
    if act in ("swiglu", "geglu"):
        gg = x @ g("gate").T + (g("gate_bias") if bias else 0)
        if canon:
            F_ = gg.shape[1]
            gu = np.concatenate([gg, u], 1)
            gu = gu + np_conv(gu, g("canon.weight"))
            gg, u = gu[:, :F_], gu[:, F_:]
        h = np_act("silu" if act == "swiglu" else "gelu", gg) * u
    else:
        if canon:
            u = u + np_conv(u, g("canon.weight"))
        h = np_act(act, u)
    return h @ g("down").T + (g("down_bias") if bias else 0)


def nonzero_norms(g, W, rng):
    """Norm scales/biases away from 1/0 so that they are tested."""
    for k, (s, init) in g.weight_shapes().items():
        if init != "normal":
            W[k] = (rng.uniform(0.5, 1.5, s) if init == "one" else rng.normal(0, 0.1, s)).astype(np.float32)
        if k.endswith("running_var"):
            W[k] = rng.uniform(0.5, 2.0, s).astype(np.float32)
    return W


# ---- tests ---------------------------------------------------------------------

def test_yaml_scalars():
    y = vt.load_yaml("a: 1e-5\nb: yes\nc: on\nd: 1.0e-5\ne: true\nf: '12'\ng: 12\nh: .5\ni: ~\nj: 0\nk: -7\n")
    check(y["a"] == 1e-5 and isinstance(y["a"], float), "1e-5 is a float")
    check(y["b"] == "yes" and y["c"] == "on", "yes/on are strings")
    check(y["d"] == 1e-5 and y["e"] is True and y["f"] == "12" and y["g"] == 12, "scalars")
    check(y["h"] == 0.5 and y["i"] is None and y["j"] == 0 and y["k"] == -7, "scalars 2")
    for bad, needle in [("a: 1\na: 2\n", "duplicate key"), ("a: &x 1\nb: *x\n", "anchors"),
                        ("a: !!str 1\n", "tags"), ("a: 1\n---\nb: 2\n", "several"), ("a: 012\n", "leading zero"),
                        ("a: {<<: {b: 1}}\n", "merge")]:
        try:
            vt.load_yaml(bad)
            check(False, f"yaml accepted: {bad!r}")
        except vt.GraphError as e:
            check(needle in str(e), f"yaml error {needle}: {e}")


def test_expr():
    d = {"D": 12, "H": 3}
    check(vt.eval_expr("$D * 4", d) == 48, "mul")
    check(vt.eval_expr("-($D + 1) * 2", d) == -26, "unary minus")
    check(vt.eval_expr("$D / $H + 2 * 3 - 1", d) == 9, "precedence")
    check(vt.eval_expr("2 - 3 - 4", d) == -5, "left assoc")
    check(vt.eval_expr("24 / 2 / 3", d) == 4, "left assoc div")
    for bad in ("$D / 5", "$X", "1 +", "(1", "3 / 0"):
        try:
            vt.eval_expr(bad, d)
            check(False, f"expr accepted: {bad}")
        except vt.GraphError:
            pass


def test_llama_like(T, style, R, qk_norm, head_dim=None):
    C, H, KV = 20, 4, 2
    Dh = head_dim or C // H
    rope = f"{{theta: 500, dims: {R}, style: {style}}}"
    hd = f", head_dim: {head_dim}" if head_dim else ""
    g = graph(f"""
name: t
dims: {{V: 50, D: {C}, H: {H}, KV: {KV}, F: "$D * 2 - 3", L: 2}}
inputs:
  tokens: {{dtype: i32, shape: [T]}}
body:
  - embed: {{name: emb, vocab: $V, dim: $D}}
  - repeat:
      count: $L
      body:
        - residual:
            - norm: {{name: "l.{{i}}.n1", kind: rms}}
            - attention: {{name: "l.{{i}}.attn", kind: softmax, heads: $H, kv_heads: $KV, rope: {rope},
                          qk_norm: {qk_norm}{hd}}}
        - residual:
            - norm: {{name: "l.{{i}}.n2", kind: rms, eps: 1e-5}}
            - mlp: {{name: "l.{{i}}.mlp", hidden: "$F", act: swiglu}}
  - norm: {{name: fn, kind: rms}}
  - linear: {{name: head, out: $V, tie: emb}}
outputs: [logits]
""")
    rng = np.random.default_rng(T)
    W = nonzero_norms(g, g.random_weights(T, 0.3), rng)
    g.load_weights(W)
    ids = rng.integers(0, 50, T).astype(np.int32)
    got = g.run({"tokens": ids})["logits"].numpy()
    x = W["emb.weight"][ids].astype(np.float64)
    for i in range(2):
        x = x + np_attention(np_rms(x, W[f"l.{i}.n1.weight"], 1e-6), W, f"l.{i}.attn", H, KV, Dh,
                             rope=(500.0, R, style), qk_norm=qk_norm)
        x = x + np_mlp(np_rms(x, W[f"l.{i}.n2.weight"], 1e-5), W, f"l.{i}.mlp", "swiglu")
    ref = np_rms(x, W["fn.weight"], 1e-6) @ W["emb.weight"].astype(np.float64).T
    close(got, ref, 1e-6, f"llama-like T={T} {style} R={R} qk_norm={qk_norm} head_dim={head_dim}")
    check("head.weight" not in g.state_dict(), "tied linear has no own weight")


def test_gpt_vit_like(T, act, pool, norm):
    C, H = 24, 3
    g = graph(f"""
name: t
dims: {{D: {C}, H: {H}}}
inputs:
  x: {{dtype: f32, shape: [T, $D]}}
body:
  - pos_embed: {{name: pos, max_len: 300, dim: $D}}
  - residual:
      - norm: {{kind: {norm}, eps: 1e-6}}
      - attention: {{name: a, kind: softmax, heads: $H, causal: false, bias: true, scale: 0.3}}
  - residual:
      - norm: {{name: n2, kind: layer}}
      - mlp: {{name: m, hidden: 13, act: {act}, bias: true}}
  - pool: {{kind: {pool}}}
  - linear: {{name: head, out: 7, bias: true}}
""")
    rng = np.random.default_rng(T + 1)
    W = nonzero_norms(g, g.random_weights(T + 1, 0.3), rng)
    g.load_weights(W)
    x0 = rng.normal(0, 1, (T, C)).astype(np.float32)
    got = g.run({"x": x0})["out"].numpy()
    w = lambda k: W[k].astype(np.float64)  # noqa: E731
    x = x0 + w("pos.weight")[:T]
    if norm == "layer":
        n1 = np_layer(x, w("norm.0.weight"), w("norm.0.bias"), 1e-6)
    else:
        n1 = (x - w("norm.0.running_mean")) / np.sqrt(w("norm.0.running_var") + 1e-6) * w("norm.0.weight") \
            + w("norm.0.bias")
    x = x + np_attention(n1, W, "a", H, H, C // H, causal=False, scale=0.3, bias=True)
    x = x + np_mlp(np_layer(x, w("n2.weight"), w("n2.bias"), 1e-5), W, "m", act, bias=True)
    p = x.mean(0, keepdims=True) if pool == "mean" else x[:1]
    ref = p @ w("head.weight").T + w("head.bias")
    close(got, ref, 1e-9, f"gpt/vit-like T={T} act={act} pool={pool} norm={norm}")


def test_acts_dataflow():
    g = graph("""
name: t
inputs:
  x: {dtype: f32, shape: [T, 5]}
  y: {dtype: f32, shape: [T, 5]}
body:
  - act: {fn: relu, as: r}
  - act: {fn: gelu, in: x, as: g}
  - act: {fn: gelu_tanh, in: x, as: gt}
  - act: {fn: silu, in: x, as: s}
  - act: {fn: sigmoid, in: x, as: sg}
  - act: {fn: tanh, in: x, as: th}
  - act: {fn: elu1, in: x, as: e}
  - mul: {in: [e, y], as: m}
  - add: {in: [m, r]}
outputs: [g, gt, s, sg, th, e, m, final]
""")
    rng = np.random.default_rng(5)
    x = rng.normal(0, 3, (7, 5)).astype(np.float32)
    x[0, :3] = [-30.0, 30.0, 0.0]
    y = rng.normal(0, 1, (7, 5)).astype(np.float32)
    o = g.run({"x": x, "y": y})
    check(list(o) == ["g", "gt", "s", "sg", "th", "e", "m", "final"], "output order")
    xs = x.astype(np.float64)
    for n, fn in [("g", "gelu"), ("gt", "gelu_tanh"), ("s", "silu"), ("sg", "sigmoid"), ("th", "tanh"), ("e", "elu1")]:
        close(o[n].numpy(), np_act(fn, xs), 1e-12, f"act {fn}")
    close(o["final"].numpy(), np_act("elu1", xs) * y + np.maximum(xs, 0), 1e-12, "mul/add dataflow")


def test_patch_embed():
    g = graph("""
name: t
inputs:
  img: {dtype: f32, shape: [12, 8, 2]}
body:
  - patch_embed: {name: p, patch: 4, channels: 2, dim: 5, cls: true}
""")
    rng = np.random.default_rng(3)
    W = g.random_weights(3, 1.0)
    W["p.bias"] = rng.normal(0, 1, 5).astype(np.float32)
    g.load_weights(W)
    img = vt.standard_image((12, 8, 2))
    check(abs(img.reshape(-1)[5] - 185 % 101 / 100) < 1e-7, "standard image")
    got = g.run({"img": img})["out"].numpy()
    ref = [W["p.cls"].astype(np.float64)]
    for py in range(3):
        for px in range(2):
            r = W["p.bias"].astype(np.float64).copy()
            for d in range(5):
                for c in range(2):
                    for u in range(4):
                        for v in range(4):
                            r[d] += W["p.weight"][d, c, u, v] * float(img[py * 4 + u, px * 4 + v, c])
            ref.append(r)
    close(got, np.stack(ref), 1e-12, "patch_embed")


def test_canon_norms(T):
    g = graph("""
name: t
dims: {V: 30, D: 12}
inputs:
  tokens: {dtype: i32, shape: [T]}
body:
  - embed: {name: emb, vocab: $V, dim: $D}
  - residual:
      - norm: {name: n1, kind: rms}
      - canon: {name: ca, kernel: 3, bias: true, residual: false}
      - attention: {name: attn, kind: softmax, heads: 3, kv_heads: 1, rope: {style: interleaved}, canon: true,
                    qk_norm: full}
  - residual:
      - norm: {name: n2, kind: repbn}
      - canon: {name: cc}
      - mlp: {name: mlp, hidden: 11, act: swiglu, canon: true}
  - residual:
      - norm: {name: n3, kind: prepbn, lambda: 0.25, eps: 1e-4}
      - mlp: {name: mlp2, hidden: 7, act: gelu, canon: true, bias: true}
""")
    rng = np.random.default_rng(T + 7)
    W = nonzero_norms(g, g.random_weights(T, 0.4), rng)
    W["mlp.canon.weight"] = W["mlp.canon.weight"][:, None, :]       # PyTorch conv layout [C, 1, K]
    g.load_weights(W)
    W["mlp.canon.weight"] = W["mlp.canon.weight"][:, 0, :]
    ids = rng.integers(0, 30, T).astype(np.int32)
    got = g.run({"tokens": ids})["out"].numpy()
    w = lambda k: W[k].astype(np.float64)  # noqa: E731
    x = w("emb.weight")[ids]
    h = np_conv(np_rms(x, w("n1.weight"), 1e-6), w("ca.weight")) + w("ca.bias")
    x = x + np_attention(h, W, "attn", 3, 1, 4, rope=(10000.0, 4, "interleaved"), qk_norm="full",
                         canon=w("attn.canon.weight"))

    def bn(x, pre, eps):
        return w(pre + "weight") * (x - w(pre + "running_mean")) / np.sqrt(w(pre + "running_var") + eps) \
            + w(pre + "bias") + w(pre + "alpha") * x
    h = bn(x, "n2.", 1e-5)
    h = h + np_conv(h, w("cc.weight"))
    x = x + np_mlp(h, W, "mlp", "swiglu", canon=True)
    h = 0.25 * np_layer(x, w("n3.ln.weight"), w("n3.ln.bias"), 1e-4) + 0.75 * bn(x, "n3.bn.", 1e-4)
    x = x + np_mlp(h, W, "mlp2", "gelu", bias=True, canon=True)
    close(got, x, 1e-6, f"canon / repbn / prepbn T={T}")


def np_linear_attention(x, W, pre, H, KV, Dh, causal, feature, decay, bias=False):
    """OPS.md 12, recurrent form: S_t = g S_{t-1} + phi(k_t) v_t^T, z_t = g z_{t-1} + phi(k_t)."""
    T = x.shape[0]
    g = lambda k: W[pre + "." + k].astype(np.float64)  # noqa: E731
    q, k, v = x @ g("wq").T, x @ g("wk").T, x @ g("wv").T
    if bias:
        q, k, v = q + g("bq"), k + g("bk"), v + g("bv")
    phi = (lambda a: np.maximum(a, 0)) if feature == "relu" else (lambda a: np_act("elu1", a))
    o = np.zeros((T, H * Dh))
    for h in range(H):
        gk = h // (H // KV)
        fq, fk = phi(q[:, h * Dh:(h + 1) * Dh]), phi(k[:, gk * Dh:(gk + 1) * Dh])
        vv = v[:, gk * Dh:(gk + 1) * Dh]
        gam = 1 / (1 + math.exp(-g("decay")[h])) if decay else 1.0
        if causal:
            S, z = np.zeros((Dh, Dh)), np.zeros(Dh)
            for t in range(T):
                S = gam * S + np.outer(fk[t], vv[t])
                z = gam * z + fk[t]
                o[t, h * Dh:(h + 1) * Dh] = (S.T @ fq[t]) / (fq[t] @ z + 1e-6)
        else:
            S, z = fk.T @ vv, fk.sum(0)
            for t in range(T):
                o[t, h * Dh:(h + 1) * Dh] = (S.T @ fq[t]) / (fq[t] @ z + 1e-6)
    out = o @ g("wo").T
    return out + g("bo") if bias else out


def test_linear_attention(T):
    g = graph("""
name: t
inputs:
  x: {dtype: f32, shape: [T, 12]}
body:
  - attention: {name: la, kind: linear, heads: 3, as: a}
  - attention: {name: lb, kind: linear, heads: 4, kv_heads: 2, causal: false, feature: relu, in: x, as: b}
  - attention: {name: lc, kind: linear, heads: 2, head_dim: 5, decay: true, bias: true, in: x, as: c}
outputs: [a, b, c]
""")
    rng = np.random.default_rng(T + 11)
    W = nonzero_norms(g, g.random_weights(T, 0.4), rng)
    W["lc.decay"] = np.array([-1.0, 2.0], np.float32)
    g.load_weights(W)
    x = rng.normal(0, 1, (T, 12)).astype(np.float32)
    o = g.run({"x": x})
    xs = x.astype(np.float64)
    close(o["a"].numpy(), np_linear_attention(xs, W, "la", 3, 3, 4, True, "elu1", False), 1e-9, f"linear T={T}")
    close(o["b"].numpy(), np_linear_attention(xs, W, "lb", 4, 2, 3, False, "relu", False), 1e-9,
          f"linear relu non-causal GQA T={T}")
    close(o["c"].numpy(), np_linear_attention(xs, W, "lc", 2, 2, 5, True, "elu1", True, True), 1e-9,
          f"linear decay T={T}")


def test_names_and_repeat():
    g = graph("""
name: t
dims: {D: 4, N: 2}
inputs:
  x: {dtype: f32, shape: [T, $D]}
body:
  - linear: {out: $D}
  - repeat:
      count: $N
      index: a
      body:
        - repeat: {count: "{a} + 1", index: b, body: [{linear: {name: "r{a}.{b}", out: "$D * ({b} + 1)"}},
                                                      {linear: {out: $D}}]}
  - repeat: {count: 0, body: [{act: {fn: relu}}]}
  - norm: {kind: batch}
""")
    keys = list(g.state_dict())
    check(keys[0] == "linear.0.weight", f"OP.N prefix: {keys[:2]}")
    check("r1.1.weight" in keys and tuple(g.state_dict()["r1.1.weight"].shape) == (8, 4), "repeat {i} in strings")
    check("linear.4.weight" in keys and "norm.0.running_var" in keys, f"OP.N counts named nodes too: {keys}")
    expect_error("name: t\ninputs: {x: {dtype: f32, shape: [T, 4]}}\nbody:\n  - linear: {out: 4, bais: true}\n",
                 "did you mean 'bias'")
    expect_error("name: t\ninputs: {x: {dtype: f32, shape: [T, 4]}}\nbody:\n  - attention: {kind: softmax, heads: 3}\n",
                 "not exact")
    expect_error("name: t\ninputs: {x: {dtype: f32, shape: [T, 4]}}\nbody:\n  - residual: []\n", "empty residual")


def main():
    test_yaml_scalars()
    test_expr()
    for T in (1, 7, 13):
        test_llama_like(T, "half", 4, "none")
        test_llama_like(T, "interleaved", 4, "head")
    test_llama_like(13, "interleaved", 6, "full", head_dim=7)
    test_llama_like(9, "half", 8, "head", head_dim=8)
    for T, act, pool, norm in [(1, "gelu", "mean", "layer"), (7, "relu", "first", "batch"),
                               (13, "gelu_tanh", "mean", "batch"), (100, "silu", "first", "layer"),
                               (257, "geglu", "mean", "layer")]:
        test_gpt_vit_like(T, act, pool, norm)
    for T in (1, 5, 13):
        test_canon_norms(T)
    for T in (1, 7, 100):
        test_linear_attention(T)
    test_acts_dataflow()
    test_patch_embed()
    test_names_and_repeat()
    print("FAILED: %d" % len(FAILS) if FAILS else "all vkgraph_torch tests passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
