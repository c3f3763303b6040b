#!/usr/bin/env python3
"""Writes test/models/modernbert-mean and its goldens into
test/reference/tiny-models.json (its entries replaced, every other entry
left as it is), as tools/make_tiny_models.py does for the other folders:

  - a byte-level BPE vocabulary trained with the `tokenizers` library on
    make_tiny_models.py's corpus, with ModernBERT's special tokens ([UNK],
    [CLS], [SEP], [PAD], [MASK]) and its post-processor (TemplateProcessing
    "[CLS] $A [SEP]"), saved as a PreTrainedTokenizerFast (tokenizer.json);
  - a ModernBertModel (Warner et al. 2024: d 32, 3 layers, 4 heads, gated
    FFN of 48, rotary positions with theta 160000 on the global layer 0 and
    10000 on the local layers 1 and 2, local_attention 8: keys within 4
    positions) with seeded random weights (initializer_range 0.2 and its
    LayerNorm weights drawn from [0.5, 1.5], so that every part matters),
    mean pooling, Normalize, saved by sentence-transformers itself;
  - the goldens: its sentence-transformers embeddings of the texts, and the
    Hugging Face token ids of make_tiny_models.py's >= 200 texts.

It needs transformers >= 4.48 (ModernBERT), which build-ref/venv (4.36)
lacks, so it runs in this environment, made with
    build-ref/venv/bin/pip install --no-deps -t /work/wt/wp-modernbert-py \\
        transformers==4.48.3 tokenizers==0.21.0 huggingface_hub==0.27.1
and run as
    PYTHONPATH=/work/wt/wp-modernbert-py build-ref/venv/bin/python \\
        tools/make_tiny_modernbert.py
(build-ref/venv's torch is Debian's 1.13 and its sentence-transformers
2.3.1). ModernBERT's module asks two things of torch 2 that 1.13 lacks and
that inference does not use: torch.compile as a decorator (only called
when config.reference_compile is true; it is false here) and nn.LayerNorm's
bias=False argument. Both are supplied below before transformers is
imported: compile as the identity, LayerNorm with its bias removed (None:
F.layer_norm then adds nothing, as torch 2 does). The eager attention
(torch 1.13 has no scaled_dot_product_attention, so transformers chooses
eager itself; checked below) is plain matmul and softmax.
"""
import json
import os
import sys

import torch
import torch.nn as nn

if not hasattr(torch, "compile"):
    torch.compile = lambda *a, **k: (lambda f: f)


class _LayerNorm(nn.LayerNorm):
    def __init__(self, n, eps=1e-5, elementwise_affine=True, bias=True, **kw):
        super().__init__(n, eps=eps, elementwise_affine=elementwise_affine, **kw)
        if not bias:
            self.bias = None


if "bias" not in nn.LayerNorm.__init__.__code__.co_varnames:
    nn.LayerNorm = _LayerNorm

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from tokenizers.processors import TemplateProcessing  # noqa: E402
from transformers import ModernBertConfig, ModernBertModel, PreTrainedTokenizerFast  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import CORPUS, ROOT, st_folder, tidy, token_texts  # noqa: E402

NAME = "modernbert-mean"
SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]


def train_tokenizer(size):
    tok = tokenizers.ByteLevelBPETokenizer()
    tok.train_from_iterator(CORPUS * 4, vocab_size=size, min_frequency=1,
                            special_tokens=SPECIALS)
    inner = tok._tokenizer
    cls, sep = inner.token_to_id("[CLS]"), inner.token_to_id("[SEP]")
    inner.post_processor = TemplateProcessing(single="[CLS] $A [SEP]",
                                              pair="[CLS] $A [SEP] $B [SEP]",
                                              special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                                   mask_token="[MASK]", model_max_length=128,
                                   model_input_names=["input_ids", "attention_mask"])


def main():
    torch.manual_seed(20261206)
    tok = train_tokenizer(600)
    cfg = ModernBertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=48,
                           num_hidden_layers=3, num_attention_heads=4,
                           max_position_embeddings=128, local_attention=8,
                           global_attn_every_n_layers=3, global_rope_theta=160000.0,
                           local_rope_theta=10000.0, initializer_range=0.2,
                           pad_token_id=tok.pad_token_id, cls_token_id=tok.cls_token_id,
                           sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id,
                           eos_token_id=tok.sep_token_id, reference_compile=False)
    model = ModernBertModel(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
    ref = json.load(open(os.path.join(ROOT, "test", "reference", "tiny-models.json")))
    import tempfile, shutil  # noqa: E401
    tmp = tempfile.mkdtemp()
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    dest = os.path.join(ROOT, "test", "models", NAME)
    st = st_folder(tmp, "mean", True, 64, dest)
    impl = st[0].auto_model.config._attn_implementation
    assert impl == "eager", impl
    e = st.encode(ref["texts"], batch_size=4, normalize_embeddings=False,
                  convert_to_numpy=True).astype(np.float64)
    tidy(dest)
    shutil.rmtree(tmp)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__,
                "sentence-transformers": sentence_transformers.__version__}
    folder = "test/models/" + NAME
    model_entry = {"name": NAME, "folder": folder, "generator": "tools/make_tiny_modernbert.py",
                   "versions": versions,
                   "embeddings": [[float(f"{x:.9g}") for x in r] for r in e]}
    texts = token_texts()
    ids = [tok(t, truncation=True, max_length=512)["input_ids"] for t in texts]
    tok_entry = {"folder": folder, "texts": texts, "ids": ids}
    ref["models"] = [m for m in ref["models"] if m["folder"] != folder] + [model_entry]
    ref["tokenizers"] = [t for t in ref["tokenizers"] if t["folder"] != folder] + [tok_entry]
    with open(os.path.join(ROOT, "test", "reference", "tiny-models.json"), "w") as f:
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{NAME}: {e.shape}", file=sys.stderr)


if __name__ == "__main__":
    main()
