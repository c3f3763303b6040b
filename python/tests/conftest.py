"""Fixtures of the Python package's tests (run by test/python.sh, which
sets CLFORMER_LIBRARY to the build's library and CLFORMER_CLI to its
command; both default to the build/ folder of the source tree)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

SRC = os.environ.get("CLFORMER_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("CLFORMER_LIBRARY", os.path.join(SRC, "build", "libclformer.so"))
CLI = os.environ.get("CLFORMER_CLI") or os.path.join(SRC, "build", "tools", "clformer")
sys.path.insert(0, os.path.join(SRC, "python", "src"))  # the package as it is in the tree

import clformer  # noqa: E402



def reference(name):
    with open(os.path.join(SRC, "test", "reference", name)) as f:
        return json.load(f)


# The small committed folders of test/models/ with sentence-transformers'
# vectors (tools/make_tiny_models.py and the like)
TINY = [m["name"] for m in reference("tiny-models.json")["models"]]


def tiny(name):
    return os.path.join(SRC, "test", "models", name)


def model_dir():
    """The real all-MiniLM-L6-v2 folder (tools/fetch_model.sh), or None."""
    d = clformer.default_model_dir()
    return d if os.path.isfile(os.path.join(d, "model.safetensors")) else None


def cli_embed(tmp_path, folder, texts, *args):
    """`clformer embed --npy` of the texts: float32 [len(texts), dim]."""
    npy = str(tmp_path / "cli.npy")
    r = subprocess.run([CLI, "embed", "-m", folder, "--npy", npy, *args, "--", *texts],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(npy)


@pytest.fixture(scope="session")
def ctx():
    """One context for the tests that share it (the default device)."""
    with clformer.Context() as c:
        yield c


@pytest.fixture(scope="session")
def minilm(ctx):
    d = model_dir()
    if d is None:
        pytest.skip("no all-MiniLM-L6-v2 (tools/fetch_model.sh)")
    with clformer.SentenceEncoder(d, ctx) as m:
        yield m
