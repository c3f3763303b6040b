"""Encoder: a tiny encoder with known weights (a safetensors file written
here) against a double-precision numpy reference of PyTorch's post-LN
nn.TransformerEncoderLayer, and against `clformer run` on the same
weights and input with the CLI's option strings (the same library calls:
the same bits)."""
import json
import struct
import subprocess

import numpy as np
import pytest

import clformer
from conftest import CLI

D, H, FF, L = 32, 4, 64, 2


def write_safetensors(path, tensors):
    """A safetensors file of float32 arrays."""
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_weights(rng):
    w = {}
    for i in range(L):
        p = "layers.%d." % i
        s = 1 / np.sqrt(D)
        w[p + "self_attn.in_proj_weight"] = rng.uniform(-s, s, (3 * D, D))
        w[p + "self_attn.in_proj_bias"] = rng.uniform(-0.1, 0.1, 3 * D)
        w[p + "self_attn.out_proj.weight"] = rng.uniform(-s, s, (D, D))
        w[p + "self_attn.out_proj.bias"] = rng.uniform(-0.1, 0.1, D)
        w[p + "linear1.weight"] = rng.uniform(-s, s, (FF, D))
        w[p + "linear1.bias"] = rng.uniform(-0.1, 0.1, FF)
        w[p + "linear2.weight"] = rng.uniform(-1 / 8, 1 / 8, (D, FF))
        w[p + "linear2.bias"] = rng.uniform(-0.1, 0.1, D)
        for n in ("norm1", "norm2"):
            w[p + n + ".weight"] = 1 + rng.uniform(-0.1, 0.1, D)
            w[p + n + ".bias"] = rng.uniform(-0.1, 0.1, D)
    return {k: v.astype(np.float32) for k, v in w.items()}


def layernorm(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def reference(w, x, pad):
    """PyTorch's post-LN encoder layers in float64; pad [batch, seq] True
    for a padding key."""
    x = x.astype(np.float64)
    w = {k: v.astype(np.float64) for k, v in w.items()}
    hd = D // H
    for i in range(L):
        p = "layers.%d." % i
        qkv = x @ w[p + "self_attn.in_proj_weight"].T + w[p + "self_attn.in_proj_bias"]
        q, k, v = np.split(qkv, 3, axis=-1)
        heads = []
        for h in range(H):
            sl = slice(h * hd, (h + 1) * hd)
            s = q[..., sl] @ np.swapaxes(k[..., sl], -1, -2) / np.sqrt(hd)
            if pad is not None:
                s = np.where(pad[:, None, :], -np.inf, s)
            s = np.exp(s - s.max(-1, keepdims=True))
            heads.append((s / s.sum(-1, keepdims=True)) @ v[..., sl])
        a = np.concatenate(heads, -1) @ w[p + "self_attn.out_proj.weight"].T \
            + w[p + "self_attn.out_proj.bias"]
        x = layernorm(x + a, w[p + "norm1.weight"], w[p + "norm1.bias"])
        f = np.maximum(x @ w[p + "linear1.weight"].T + w[p + "linear1.bias"], 0)
        f = f @ w[p + "linear2.weight"].T + w[p + "linear2.bias"]
        x = layernorm(x + f, w[p + "norm2.weight"], w[p + "norm2.bias"])
    return x


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    rng = np.random.default_rng(24)
    w = make_weights(rng)
    path = tmp_path_factory.mktemp("enc") / "w.safetensors"
    write_safetensors(str(path), w)
    x = rng.standard_normal((2, 6, D)).astype(np.float32)
    return w, str(path), x


def test_forward_against_reference(ctx, weights):
    w, path, x = weights
    pad = np.zeros((2, 6), dtype=bool)
    pad[1, 4:] = True
    # f32 through 2 layers whose longest dot products have FF = 64 terms:
    # at most ~64 u relative per GEMM (u = 2^-24), a few GEMMs and
    # LayerNorms (outputs of order 1) per layer, to first order additive:
    # 2 layers x 4 GEMMs x 64 u ~ 3e-5.
    bound = 2 * 4 * FF * 2.0 ** -24
    with clformer.Encoder(D, H, FF, L, weights=path, device=ctx) as enc:
        assert (enc.d_model, enc.heads, enc.d_ff, enc.layers) == (D, H, FF, L)
        y = enc.forward(x)
        assert y.dtype == np.float32 and y.shape == x.shape
        assert np.abs(y - reference(w, x, None)).max() <= bound
        ym = enc.forward(x, pad)
        assert np.abs(ym - reference(w, x, pad)).max() <= bound
        assert np.abs(ym[1] - y[1]).max() > 1e-3  # the mask mattered
        np.testing.assert_array_equal(ym[0], y[0])  # and only where it was set
        # one sequence [seq, d], mask [seq]
        y0 = enc(x[1], pad[1].astype(np.int32))
        assert y0.shape == (6, D) and np.abs(y0 - ym[1]).max() <= bound
        # the same graph replayed on a new input of the same shape
        x2 = x[::-1].copy()
        assert np.abs(enc.forward(x2) - reference(w, x2, None)).max() <= bound


def run_cli(tmp_path, x, *args):
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    r = subprocess.run([CLI, "run", "--layers", str(L), "--d-model", str(D), "--heads", str(H),
                        "--d-ff", str(FF), "--input", str(tmp_path / "x.npy"), "--output",
                        str(out), "--runs", "1", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out)


OPTIONS = [
    ({}, []),
    ({"attn": "topk:3"}, ["--attn", "topk:3"]),
    ({"kv": "int8"}, ["--kv", "int8"]),
    ({"attn": "window:2,global:1", "linear": "int8"},
     ["--attn", "window:2,global:1", "--linear", "int8"]),
    ({"attn_quant": "log:4", "kv": "int8:channel", "attn_impl": "gemm"},
     ["--attn-quant", "log:4", "--kv", "int8:channel", "--attn-impl", "gemm"]),
    ({"ffn": "svd:8", "ffn_act": "lsq:4"}, ["--ffn", "svd:8", "--ffn-act", "lsq:4"]),
    ({"activation": "gelu", "norm_first": True, "precision": "bf16"},
     ["--activation", "gelu", "--norm-first", "--precision", "bf16"]),
]


@pytest.mark.parametrize("opts,args", OPTIONS, ids=lambda o: str(o))
def test_equal_to_clformer_run(ctx, weights, tmp_path, opts, args):
    _, path, x = weights
    with clformer.Encoder(D, H, FF, L, weights=path, device=ctx, **opts) as enc:
        y = enc.forward(x)
    np.testing.assert_array_equal(y, run_cli(tmp_path, x, "--weights", path, *args))


def test_random_weights_equal_clformer_run(ctx, weights, tmp_path):
    _, _, x = weights
    with clformer.Encoder(D, H, FF, L, seed=7, device=ctx) as enc:
        y = enc.forward(x)
    np.testing.assert_array_equal(y, run_cli(tmp_path, x, "--seed", "7"))
    with clformer.Encoder(D, H, FF, L, seed=8, device=ctx) as enc:
        assert np.abs(enc.forward(x) - y).max() > 1e-3


def test_quantiser_calibrated_once(ctx, weights):
    """An activation quantiser's free parameters come from the first input
    (as `clformer run` calibrates on its input) and stay for later shapes."""
    _, path, x = weights
    x2 = np.random.default_rng(3).standard_normal((1, 4, D)).astype(np.float32) * 3
    with clformer.Encoder(D, H, FF, L, weights=path, device=ctx, ffn_act="lsq:2") as enc:
        first = enc.forward(x)
        after = enc.forward(x2)
        np.testing.assert_array_equal(enc.forward(x), first)
    with clformer.Encoder(D, H, FF, L, weights=path, device=ctx, ffn_act="lsq:2") as enc:
        alone = enc.forward(x2)  # calibrated on x2 itself
    assert np.abs(after - alone).max() > 1e-4
