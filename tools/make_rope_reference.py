#!/usr/bin/env python3
"""Writes test/reference/rope-hf.json: Hugging Face's rotary table (cos and
sin of ModernBERT's ModernBertRotaryEmbedding, transformers 4.48.3, f32 as
the model computes it) for head dimensions 64 and 8, theta 160000 and 10000
(ModernBERT's global and local layers), at positions up to 8191 (its
max_position_embeddings), for test-posenc: clf_rope_table must give the
model's angles, which Hugging Face forms in f32 (inverse frequencies and
position times frequency rounded to f32, then cos and sin of that f32
angle), not the exact ones: at position 8191 the two differ by up to 5e-4
rad, enough to move a long text's embedding.

Runs in the environment of tools/make_tiny_modernbert.py (see there):
    PYTHONPATH=/work/wt/wp-modernbert-py build-ref/venv/bin/python \\
        tools/make_rope_reference.py
"""
import json
import os

import torch
import torch.nn as nn

if not hasattr(torch, "compile"):  # as make_tiny_modernbert.py: unused here
    torch.compile = lambda *a, **k: (lambda f: f)

from transformers import ModernBertConfig  # noqa: E402
from transformers.models.modernbert.modeling_modernbert import \
    ModernBertRotaryEmbedding  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
POSITIONS = [0, 1, 2, 7, 63, 100, 511, 1000, 2047, 4095, 5000, 8190, 8191]


def main():
    cases = []
    for dim, theta in ((64, 160000.0), (64, 10000.0), (8, 160000.0), (8, 10000.0)):
        cfg = ModernBertConfig(max_position_embeddings=8192)
        rope = ModernBertRotaryEmbedding(cfg, dim=dim, base=theta)
        pos = torch.tensor([POSITIONS], dtype=torch.long)
        x = torch.zeros(1, dtype=torch.float32)
        cos, sin = rope(x, pos)  # [1, n, dim] each, rotate-half: halves repeat
        half = dim // 2
        cases.append({"dim": dim, "theta": theta, "positions": POSITIONS,
                      "cos": cos[0, :, :half].tolist(), "sin": sin[0, :, :half].tolist()})
    with open(os.path.join(ROOT, "test", "reference", "rope-hf.json"), "w") as f:
        json.dump({"transformers": __import__("transformers").__version__,
                   "torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
