#!/usr/bin/env python3
"""Writes test/reference/include-prompt.json: sentence-transformers 3's
vectors of the tiny folders of test/models/ with a prompt and the Pooling's
include_prompt false (the prompt's tokens, [CLS] among them, left out of the
pooling; sentence-transformers 2.3.1, which tools/make_tiny_models.py uses,
predates prompts), for test/folders.py. One variant per pooling mode on the
uncased DistilBERT folder, and one on the byte-level BPE RoBERTa and the
MPNet folders.

sentence-transformers 3.0.1 beside the reference venv's transformers:

    build-ref/venv/bin/pip install --no-deps -t /tmp/st3 sentence-transformers==3.0.1
    PYTHONPATH=/tmp/st3 build-ref/venv/bin/python tools/make_prompt_reference.py
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import sentence_transformers
from sentence_transformers import SentenceTransformer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODES = ["mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken", "cls"]
TEXTS = ["A man is eating food.", "The girl is carrying a baby.", "short", "",
         "Two men pushed carts through the woods while a monkey played drums."]
PROMPT = "query: "


def variant(folder, mode, tmp):
    """The folder with one pooling mode and include_prompt false."""
    dest = os.path.join(tmp, os.path.basename(folder) + "-" + mode)
    shutil.copytree(os.path.join(ROOT, folder), dest)
    path = os.path.join(dest, "1_Pooling", "config.json")
    with open(path) as f:
        cfg = json.load(f)
    for k in list(cfg):
        if k.startswith("pooling_mode_"):
            cfg[k] = False
    key = {"mean": "mean_tokens", "max": "max_tokens", "cls": "cls_token",
           "weightedmean": "weightedmean_tokens"}.get(mode, mode)
    cfg["pooling_mode_" + key] = True
    cfg["include_prompt"] = False
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return dest


def main():
    assert sentence_transformers.__version__.startswith("3."), sentence_transformers.__version__
    out = {"generator": "tools/make_prompt_reference.py",
           "sentence-transformers": sentence_transformers.__version__,
           "texts": TEXTS, "prompt": PROMPT, "variants": []}
    runs = [("test/models/distilbert-mean", m) for m in MODES]
    runs += [("test/models/roberta-mean", "mean"), ("test/models/mpnet-mean", "mean")]
    with tempfile.TemporaryDirectory() as tmp:
        for folder, mode in runs:
            st = SentenceTransformer(variant(folder, mode, tmp), device="cpu")
            e = st.encode(TEXTS, prompt=PROMPT, batch_size=2, convert_to_numpy=True)
            out["variants"].append({"folder": folder, "pooling": mode,
                                    "embeddings": [[float(f"{x:.9g}") for x in r]
                                                   for r in e.astype(np.float64)]})
            print(folder, mode, e.shape, file=sys.stderr)
    with open(os.path.join(ROOT, "test", "reference", "include-prompt.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
