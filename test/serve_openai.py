#!/usr/bin/env python3
"""`clformer serve` with the official openai client (PyPI): the real model's
vectors equal `clformer embed --npy`'s within 1e-6, as floats, as base64 (the
client's default) and cut by `dimensions` (equal to `embed --dimensions`);
the client's errors carry the server's status and message.

Usage: serve_openai.py PATH/TO/clformer   (exit 77 without the model)
"""
import base64
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import openai

TEXTS = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The quick brown fox jumps over the lazy dog",
    "Ünïcödé and emoji 🙂 are tokenised as the CLI does",
    "  leading and trailing white space  ",
    "short",
]
TOL = 1e-6
fails = 0


def check(what, ok, detail=""):
    global fails
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f" ({detail})"))
    fails += not ok


def close(what, rows, want):
    """Checks that rows equal want within TOL; returns them as an array."""
    got = np.array(rows, dtype=np.float64)
    err = np.abs(got - want).max() if got.shape == want.shape else float("inf")
    check(f"{what} (max |diff| {err:.2g})", err <= TOL, got.shape)
    return got


def embed_npy(exe, model, tmp, *args):
    path = os.path.join(tmp, "ref.npy")
    subprocess.run([exe, "embed", "-m", model, "--npy", path, *args, *TEXTS], check=True,
                   stdout=subprocess.DEVNULL)
    return np.load(path)


def main():
    exe = sys.argv[1]
    model = os.environ.get("CLFORMER_MODEL_DIR") or os.path.expanduser(
        "~/.cache/clformer/models/all-MiniLM-L6-v2")
    if not os.path.exists(os.path.join(model, "config.json")):
        print(f"SKIP: no model at {model} (tools/fetch_model.sh)")
        return 77
    server = subprocess.Popen([exe, "serve", "-m", model, "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        check("the server prints its address", line.startswith("listening on http://"), line)
        base = line.split()[-1]
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        with tempfile.TemporaryDirectory() as tmp:
            ref = embed_npy(exe, model, tmp)
            ref64 = embed_npy(exe, model, tmp, "--dimensions", "64")
        r = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS,
                                     encoding_format="float")
        close("float vectors equal embed's", [d.embedding for d in r.data], ref)
        check("the answer's model, indices and usage",
              r.model == "all-MiniLM-L6-v2" and [d.index for d in r.data] == list(range(6))
              and r.usage.prompt_tokens == r.usage.total_tokens > 6 * 2, r)
        r = client.embeddings.create(model="m", input=TEXTS)  # the client asks for base64
        close("base64 vectors (decoded by the client) equal embed's",
              [d.embedding for d in r.data], ref)
        r = client.embeddings.create(model="m", input=TEXTS, encoding_format="base64")
        close("base64 is embed's vectors as little-endian float32",
              [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in r.data], ref)
        r = client.embeddings.create(model="m", input=TEXTS, dimensions=64,
                                     encoding_format="float")
        got = close("dimensions 64 equals embed --dimensions 64", [d.embedding for d in r.data],
                    ref64)
        check("dimensions 64: unit vectors",
              np.abs(np.linalg.norm(got, axis=1) - 1).max() < 1e-6)
        r = client.embeddings.create(model="m", input=TEXTS[0], encoding_format="float")
        close("one string", [d.embedding for d in r.data], ref[:1])
        try:
            client.embeddings.create(model="m", input=TEXTS, dimensions=385)
            check("dimensions 385 is refused", False, "no error")
        except openai.BadRequestError as e:
            check("dimensions 385: BadRequestError with the server's message",
                  e.status_code == 400 and "dimensions" in str(e), str(e))
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=60)
    check("SIGTERM: exit 0", rc == 0, rc)
    print(f"{fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
