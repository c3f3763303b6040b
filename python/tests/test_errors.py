"""Errors: every failure raises a clformer.Error subclass carrying the
library's message."""
import ctypes.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import clformer
from conftest import SRC, tiny


def test_missing_folder_names_the_file(ctx, tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(clformer.IOError) as e:
        clformer.SentenceEncoder(missing, ctx)
    assert missing in str(e.value) and isinstance(e.value, OSError)
    assert isinstance(e.value, clformer.Error) and e.value.status == 8


def test_broken_folder_names_the_file(ctx, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny("distilbert-mean"), d)
    (d / "modules.json").write_text("{ not json")
    with pytest.raises(clformer.FormatError, match="modules.json"):
        clformer.SentenceEncoder(str(d), ctx)
    modules = [{"idx": i, "name": str(i), "path": p, "type": "sentence_transformers.models." + t}
               for i, (p, t) in enumerate([("", "Transformer"), ("1_Pooling", "Pooling"),
                                           ("x", "LayerNorm")])]
    (d / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(clformer.UnsupportedError, match="LayerNorm"):
        clformer.SentenceEncoder(str(d), ctx)


def test_bad_device():
    with pytest.raises(clformer.DeviceSpecError) as e:
        clformer.Context("no-such-device-anywhere")
    assert "no-such-device-anywhere" in str(e.value)
    assert clformer.devices()[0]["id"] in str(e.value)  # the message lists the devices
    with pytest.raises(clformer.DeviceSpecError):
        clformer.SentenceEncoder(tiny("distilbert-mean"), device="no-such-device-anywhere")
    with pytest.raises(TypeError):
        clformer.Context(3)


def test_bad_environment_variable(monkeypatch):
    monkeypatch.setenv("CLFORMER_QUEUES", "many")
    with pytest.raises(clformer.InvalidArgError, match="CLFORMER_QUEUES"):
        clformer.Context()


@pytest.mark.parametrize("option,value,match", [
    ("attn", "bogus", "attn"), ("attn", "topk:0", "topk"), ("ffn", "svd:x", "ffn"),
    ("ffn_act", "zzz", "ffn_act"), ("kv", "int4", "kv"), ("attn_quant", "log:9", "attn_quant"),
    ("activation", "swish", "activation"), ("linear", "int4", "linear"),
    ("precision", "f64", "precision"), ("attn_impl", "flash", "attn_impl"), ("attn", 3, "attn"),
])
def test_bad_option_strings(ctx, option, value, match):
    with pytest.raises(clformer.InvalidArgError, match=match):
        clformer.Encoder(32, 4, 64, 1, device=ctx, **{option: value})


def test_options_the_library_refuses(ctx):
    with pytest.raises(clformer.UnsupportedError, match="exact attention"):
        clformer.Encoder(32, 4, 64, 1, device=ctx, attn="topk:3", kv="int8")
    with pytest.raises(clformer.InvalidArgError, match="heads"):
        clformer.Encoder(32, 0, 64, 1, device=ctx)
    with pytest.raises(clformer.InvalidArgError, match="must divide"):  # the library's check
        clformer.Encoder(30, 4, 64, 1, device=ctx)


def test_weights_file_errors(ctx, tmp_path):
    missing = str(tmp_path / "none.safetensors")
    with pytest.raises(clformer.IOError, match="none.safetensors"):
        clformer.Encoder(32, 4, 64, 1, weights=missing, device=ctx)
    from test_encoder import make_weights, write_safetensors
    path = str(tmp_path / "w.safetensors")
    write_safetensors(path, make_weights(np.random.default_rng(1)))
    with pytest.raises(clformer.ShapeError, match="in_proj_weight"):
        clformer.Encoder(16, 4, 64, 2, weights=path, device=ctx)


def test_forward_shapes_and_dtypes(ctx):
    with clformer.Encoder(32, 4, 64, 1, device=ctx) as enc:
        x = np.zeros((2, 3, 32), dtype=np.float32)
        for bad in (x.astype(np.float64), x[..., :31].copy(), x[None], x.tolist(),
                    np.zeros((2, 0, 32), dtype=np.float32)):
            with pytest.raises(clformer.ShapeError):
                enc.forward(bad)
        for mask in (np.zeros((2, 3), dtype=np.float32), np.zeros((3, 2), dtype=bool),
                     [[0, 0, 0], [0, 0, 0]]):
            with pytest.raises(clformer.ShapeError):
                enc.forward(x, mask)
        assert enc.forward(x[:, ::2]).shape == (2, 2, 32)  # strided input: copied
    with pytest.raises(clformer.StateError, match="closed"):
        enc.forward(x)


def test_closed_objects(tmp_path):
    c = clformer.Context()
    m = clformer.SentenceEncoder(tiny("distilbert-mean"), c)
    c.close()  # the model keeps the device until it is closed too
    assert m.encode("still works").shape == (32,)
    with pytest.raises(clformer.StateError, match="closed"):
        clformer.Encoder(32, 4, 64, 1, device=c)
    m.close()
    m.close()
    with pytest.raises(clformer.StateError, match="closed"):
        m.encode("x")


def test_text_not_utf8_named_by_index(ctx):
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        with pytest.raises(clformer.InvalidArgError, match="text 1: .*UTF-8"):
            m.encode(["fine", "bad \udcff surrogate"])


def test_library_not_found(tmp_path):
    env = dict(os.environ, CLFORMER_LIBRARY=str(tmp_path / "libclformer.so"),
               PYTHONPATH=os.path.join(SRC, "python", "src"))
    code = ("import clformer\n"
            "try:\n    clformer.devices()\n"
            "except clformer.LibraryNotFoundError as e:\n    print('refused:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "CLFORMER_LIBRARY" in r.stdout
    assert str(tmp_path / "libclformer.so") in r.stdout
    # a library that is not clformer's (or an older one): the missing function named
    env["CLFORMER_LIBRARY"] = ctypes.util.find_library("m") or "libm.so.6"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "has no clf_" in r.stdout


def test_folder_without_tokenizer_and_bad_arguments(ctx, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny("distilbert-mean"), d)
    for f in ("vocab.txt", "tokenizer.json"):
        if (d / f).exists():
            (d / f).unlink()
    with pytest.raises(clformer.IOError, match="no vocab.txt nor tokenizer.json"):
        clformer.SentenceEncoder(str(d), ctx)
    with pytest.raises(clformer.InvalidArgError, match="truncate_dim"):
        clformer.SentenceEncoder(tiny("distilbert-mean"), ctx, truncate_dim=0)
    with pytest.raises(clformer.InvalidArgError, match="similarity_fn_name"):
        clformer.SentenceEncoder(tiny("distilbert-mean"), ctx, similarity_fn_name="jaccard")
    with pytest.raises(clformer.InvalidArgError, match="attn"):
        clformer.SentenceEncoder(tiny("distilbert-mean"), ctx, attn="bogus")
