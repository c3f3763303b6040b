#!/usr/bin/env python3
"""Compares clformer's speed on all-MiniLM-L6-v2 with sentence-transformers (PyTorch).

Embeds the sentences of `clformer bench model` (read from tools/bench_model.c,
so that both sides see the same text) in batches of 1, 8 and 32 with
sentence-transformers on the CPU (inference mode, torch.set_num_threads to
the machine's cores; tokenisation done once beforehand, so the model's
forward pass, mean pooling and normalisation are timed), as the median of
--runs after a warm-up of 3 runs and 300 ms, then runs
`clformer bench model --speed --json` (the graph run plus reading the
embeddings back; tokenisation excluded likewise) and prints both in
sentences per second with their ratio. Also checks that clformer's
embeddings (`clformer embed --npy`) of the batch of 32 agree with
PyTorch's.

PyTorch and sentence-transformers come from the virtual environment that
tools/make_reference.py makes (build-ref/venv: Debian's python3-torch plus
pinned transformers and sentence-transformers); the script re-runs itself
in it when that exists. Exits 77 (skipped) when they are unavailable.

Usage: tools/compare_minilm.py [--clformer build/tools/clformer] [--runs 10]
       [--threads N] [--model-dir DIR] [--device SPEC]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "build-ref", "venv")
VENV_PY = os.path.join(VENV, "bin", "python")
BATCHES = (1, 8, 32)


def sentences():
    """The 64 sentences of tools/bench_model.c's pairs table, in order
    (adjacent C string literals concatenated, as the compiler does)."""
    with open(os.path.join(ROOT, "tools", "bench_model.c"), encoding="utf-8") as f:
        src = f.read()
    table = src[src.index("pairs[] = {"):]
    table = table[:table.index("\n};")]
    out = []
    for entry in re.finditer(r"\{\s*\d+\s*,((?:\s*\"(?:[^\"\\]|\\.)*\"\s*,?)+)\s*\}", table):
        parts, cur = [], None
        for tok in re.finditer(r"\"((?:[^\"\\]|\\.)*)\"|,", entry.group(1)):
            if tok.group(0) == ",":
                parts.append(cur)
                cur = None
            else:
                cur = (cur or "") + tok.group(1).encode().decode("unicode_escape")
        if cur is not None:
            parts.append(cur)
        if len(parts) != 2:
            sys.exit(f"compare_minilm: cannot read a pair of tools/bench_model.c: {entry.group(0)}")
        out += parts
    if len(out) < max(BATCHES):
        sys.exit("compare_minilm: found only %d sentences in tools/bench_model.c" % len(out))
    return out


def default_model_dir():
    env, xdg = os.environ.get("CLFORMER_MODEL_DIR"), os.environ.get("XDG_CACHE_HOME")
    if env:
        return env
    base = xdg or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "clformer", "models", "all-MiniLM-L6-v2")


def import_torch():
    """(torch, SentenceTransformer), re-running in the venv when they are
    missing here; exits 77 when they are nowhere."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        return torch, SentenceTransformer
    except ImportError as e:
        if os.path.exists(VENV_PY) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
            os.execv(VENV_PY, [VENV_PY] + sys.argv)
        print(f"compare_minilm: skipped: {e}. PyTorch and sentence-transformers are needed: "
              "run tools/make_reference.py once (it makes build-ref/venv; needs Debian's "
              "python3-torch and python3-venv)", file=sys.stderr)
        sys.exit(77)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clformer", default=os.path.join(ROOT, "build", "tools", "clformer"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    texts = sentences()
    model_dir = a.model_dir or default_model_dir()
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        print(f"compare_minilm: no model at {model_dir}: run tools/fetch_model.sh",
              file=sys.stderr)
        return 1
    if not os.access(a.clformer, os.X_OK):
        print(f"compare_minilm: {a.clformer} is not an executable (build it, or give "
              "--clformer)", file=sys.stderr)
        return 1
    torch, SentenceTransformer = import_torch()
    import numpy as np

    torch.set_num_threads(a.threads)
    model = SentenceTransformer(model_dir, device="cpu").eval()
    torch_sps, torch_ms, seqs, ref = {}, {}, {}, None
    with torch.inference_mode():
        for n in BATCHES:
            features = model.tokenize(texts[:n])
            seqs[n] = int(features["input_ids"].shape[1])
            start, w = time.perf_counter(), 0
            while w < 3 or time.perf_counter() - start < 0.3:
                out = model(dict(features))["sentence_embedding"]
                w += 1
            times = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                out = model(dict(features))["sentence_embedding"]
                times.append((time.perf_counter() - t0) * 1e3)
            torch_ms[n] = median(times)
            torch_sps[n] = n * 1e3 / torch_ms[n]
            ref = out.numpy()
    time.sleep(0.5)  # let PyTorch's OpenMP workers stop spinning

    cmd = [a.clformer, "bench", "model", "--speed", "--json", "--runs", str(a.runs),
           "--model", model_dir]
    if a.device:
        cmd += ["--device", a.device]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr, file=sys.stderr, end="")
        return 1
    bench = json.loads(res.stdout)
    ours = {r["batch"]: r for r in bench["results"] if r["op"] == "model-speed"}

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "e.npy")
        cmd = [a.clformer, "embed", "--model", model_dir, "--npy", path] + texts[:max(BATCHES)]
        if a.device:
            cmd += ["--device", a.device]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr, end="")
            return 1
        diff = float(np.abs(np.load(path) - ref).max())

    print(f"all-MiniLM-L6-v2, sentences of {seqs[max(BATCHES)]} tokens, median of {a.runs} "
          f"runs; pytorch {torch.__version__} with {a.threads} threads, clformer on "
          f"{bench['device']} ({bench['platform']})")
    print(f"{'batch':>5} {'pytorch sent/s':>15} {'clformer sent/s':>16} {'clformer/pytorch':>17}")
    for n in BATCHES:
        if n not in ours or ours[n]["seq"] != seqs[n]:
            print(f"compare_minilm: clformer's batch {n} is missing or has other lengths",
                  file=sys.stderr)
            return 1
        sps = ours[n]["sentences_per_s"]
        print(f"{n:>5} {torch_sps[n]:>15.1f} {sps:>16.1f} {sps / torch_sps[n]:>17.2f}")
    print(f"embeddings of the batch of {max(BATCHES)} agree: max abs difference {diff:.2e}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
