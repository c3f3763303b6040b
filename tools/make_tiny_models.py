#!/usr/bin/env python3
"""Writes the small sentence-transformers folders under test/models/ and
their goldens, test/reference/tiny-models.json, for test/folders.py and
test-tokenizer (nothing is downloaded: the models are built here).

  - two WordPiece vocabularies trained with the `tokenizers` library on the
    sentences below (uncased with accents stripped, and cased), and a
    byte-level BPE one, saved as Hugging Face tokenizers (vocab.txt or
    vocab.json and merges.txt, tokenizer.json, ...);
  - distilbert-mean: a DistilBERT (d 32, 2 layers, 4 heads, FFN 64) with
    the uncased vocabulary, mean pooling, Normalize;
  - bert-cased-cls: a BERT (d 24, 2 layers, 3 heads, FFN 48, gelu_new) with
    the cased vocabulary, CLS pooling, no Normalize, max_seq_length 20;
  - roberta-mean: a RoBERTa (d 32, 2 layers, 4 heads, FFN 64, positions
    from 2) with a byte-level BPE vocabulary, mean pooling, Normalize;
  - bert-dense: a BERT (d 24, 1 layer) with the uncased vocabulary, max
    pooling, a Dense module (24 -> 16, tanh), Normalize;
  - mpnet-mean: an MPNet (d 32, 2 layers, 4 heads, FFN 64, positions from
    2, its relative position bias scaled up 10x so that it matters) with an
    uncased WordPiece vocabulary of MPNet's special tokens (<s>, </s>,
    <pad>, [UNK], <mask>), mean pooling, Normalize;
  - xlmr-mean: an XLM-RoBERTa (d 32, 2 layers, 4 heads, FFN 64, positions
    from 2) with a SentencePiece Unigram model trained here (the sentences
    below and MULTILINGUAL, normalisation nmt_nfkc) and converted as
    transformers converts XLM-R's (XLMRobertaTokenizer to
    XLMRobertaTokenizerFast: a Precompiled charsmap, Replace, Metaspace),
    mean pooling, Normalize;
both with seeded random weights (initializer_range 0.2, so that the layers
do more than pass the embeddings on), saved by sentence-transformers
itself. The goldens: each model's sentence-transformers embeddings of the
texts, and each vocabulary's Hugging Face token ids (the fast tokenizers
sentence-transformers runs) of at least 200 varied texts (for xlmr-mean
also unigram_texts(): what NFKC and SentencePiece's charsmap change).

    build-ref/venv/bin/python tools/make_tiny_models.py [NAME...]

The `tokenizers` trainers order tied tokens differently from run to run, so
a full run rewrites every WordPiece vocabulary; NAME... (e.g. xlmr-mean)
rebuilds only those folders and replaces only their entries in the goldens.
"""
import json
import os
import random
import shutil
import sys
import tempfile

import numpy as np
import safetensors.torch
import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer, models
import sentencepiece
from transformers import (BertConfig, BertModel, BertTokenizerFast, DistilBertConfig,
                          DistilBertModel, DistilBertTokenizerFast, MPNetConfig, MPNetModel,
                          MPNetTokenizerFast, RobertaConfig, RobertaModel, RobertaTokenizerFast,
                          XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizer,
                          XLMRobertaTokenizerFast)
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = [
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through "
    "the woods.", "A man is riding a white horse on an enclosed ground.", "A monkey is playing "
    "drums.", "Someone in a gorilla costume is playing a set of drums.", "Café crème brûlée.",
    "Naïve façade, résumé and coöperation.", "Straße in München; Ærøskøbing.", "東京は日本の首都です。",
    "北京欢迎你", "Добро пожаловать в Москву.", "Καλημέρα κόσμε", "The quick brown fox jumps over "
    "the lazy dog.", "Unaffable affordances: unbelievable!", "Tokenizers split words into pieces.",
    "Sentence embeddings compare meanings.", "OpenCL kernels run on GPUs, CPUs and FPGAs.",
    "Numbers like 3.14159 and 2024 appear too.", "E-mail: someone@example.com, https://x.org/a?b=c",
    "Hello, world! How are you today?", "It's a beautiful day in the neighbourhood.",
]

# More scripts and forms for the Unigram model (not the other vocabularies:
# their goldens stay as they were).
MULTILINGUAL = [
    "Der schnelle braune Fuchs springt über den faulen Hund.", "Ça va très bien, merci!",
    "¿Dónde está la biblioteca? Ñandú y pingüino.", "Jeg har ingen penge, så øl er dyrt.",
    "Łódź jest pięknym miastem, źdźbło trawy.", "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Türkçe ve İngilizce dillerini öğreniyorum.", "Tiếng Việt có dấu: người, được, những.",
    "Это предложение на русском языке, съешь же ещё этих мягких булок.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "我们今天去公园散步，天气很好。", "日本語の文章：ひらがな、カタカナ、漢字。",
    "한국어 문장입니다. 안녕하세요, 반갑습니다.", "العربية لغة جميلة، مرحبا بالعالم.",
    "עברית היא שפה שמית.", "हिन्दी में यह एक वाक्य है।", "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Full-width ＡＢＣ １２３ and ligatures ﬁ ﬂ ﬀ, circled ① ② ③, ㎞ ㎏ ℃ № ™.",
    "Emoji: 🙂 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ and symbols © ® ° ± × ÷ € £ ¥.",
    "Combining: e\u0301 a\u0308 n\u0303, precomposed: é ä ñ; Å Å Ω Ω.",
]


def train_vocab(lowercase, size, cls, specials=("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")):
    """A WordPiece vocabulary trained on the corpus, as a Hugging Face
    tokenizer of class cls (DistilBERT's takes no token types)."""
    tok = tokenizers.BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase)
    tok.train_from_iterator(CORPUS * 4, vocab_size=size, min_frequency=1,
                            special_tokens=list(specials))
    d = tempfile.mkdtemp()
    tok.save_model(d)
    hf = cls(vocab_file=os.path.join(d, "vocab.txt"), do_lower_case=lowercase,
             strip_accents=lowercase)
    shutil.rmtree(d)
    return hf


def train_bpe(size):
    """A byte-level BPE vocabulary (RoBERTa's kind) trained on the corpus."""
    tok = tokenizers.ByteLevelBPETokenizer()
    tok.train_from_iterator(CORPUS * 4, vocab_size=size, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    d = tempfile.mkdtemp()
    tok.save_model(d)
    hf = RobertaTokenizerFast(vocab_file=os.path.join(d, "vocab.json"),
                              merges_file=os.path.join(d, "merges.txt"))
    shutil.rmtree(d)
    return hf


def train_unigram(size):
    """A SentencePiece Unigram model (nmt_nfkc, XLM-R's special-piece
    layout: <unk> 0, <s> 1, </s> 2) trained on the corpus and MULTILINGUAL,
    as XLM-R's slow and fast Hugging Face tokenizers."""
    d = tempfile.mkdtemp()
    path = os.path.join(d, "sentencepiece.bpe.model")
    with open(path, "wb") as f:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter((CORPUS + MULTILINGUAL) * 4), model_writer=f,
            vocab_size=size, model_type="unigram", normalization_rule_name="nmt_nfkc",
            character_coverage=1.0, hard_vocab_limit=False, num_threads=1,
            minloglevel=2, seed_sentencepiece_size=20000)
    hf = XLMRobertaTokenizerFast(vocab_file=path)
    shutil.rmtree(d)
    return hf


def unigram_texts():
    """Texts on what a Unigram tokenizer's normalisation does: NFKC's
    full-width forms, ligatures, compatibility characters, combining
    sequences (grapheme clusters), control characters, white-space runs of
    every kind, CRLF, very long words, scripts without spaces."""
    rng = random.Random(4321)
    fixed = list(MULTILINGUAL) + [
        "ＡＢＣ１２３！？", "ﬁnancial ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ", "① ⑳ ㈱ ㍿ ㎞ ㎡ ℡ ™ ℃ ℉ Ⅻ ⅻ ½ ¼ ¾ x² H₂O",
        "e\u0301e\u0301 a\u0308\u0301 n\u0303\u0323", "\u1100\u1161\u11a8 가각 각",
        "a\r\nb\rc\nd", "\r\n\r\n", "tab\there\vvertical\fform", "\x01\x02\x7f\x85\x9f",
        "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffbom", "soft\u00adhyphen",
        "\u3000ideographic\u3000space\u3000", "a\u2028line\u2029para", "   leading", "trailing   ",
        " ", "", "▁", "▁▁word", "a ▁ b", "<s>", "</s>", "<unk>", "<pad>", " <mask> ", "<mask>x",
        "＜s＞ ＜/s＞", "x" * 300, "ab" * 150, "pneumonoultramicroscopicsilicovolcanoconiosis",
        "👨‍👩‍👧‍👦👍🏽🏳️‍🌈🇯🇵", "ﷺ ﷽", "Ǆ ǅ ǆ Ǳ ǲ ǳ Ĳ ĳ Ŀ ŀ", "ｶﾀｶﾅ ﾊﾟﾋﾟ", "…‥‼⁇⁈", "ℌℍℎ 𝐀𝐁𝐂 𝔸𝔹",
        "Ω K Å", "İı ẞß ﬅ", "\ud7a3\uac00", "\U0001F600\U0010FFFD", "\ue000private",
        "mixed日本語and English와 한국어", "१२३ ١٢٣ ๑๒๓", "e\u0301\u0301\u0301\u0301\u0301",
    ]
    pool = ["ａ", "Ｚ", "ﬁ", "①", "㎞", "e\u0301", "\u1100\u1161", "\r\n", "\t", "\u3000",
            "\u00a0", "\u2003", "  ", "\u200b", "\x07", "é", "東京", "한국", "😀", "👍🏽",
            "<s>", "</s>", " <mask>", "Ⅻ", "½", "™", "ß", "İ", "ǅ", "▁", "x²", "\ufeff"]
    words = " ".join(CORPUS + MULTILINGUAL).split()
    texts = list(fixed)
    while len(texts) < 200:
        n = rng.randint(1, 10)
        pick = [rng.choice(words) if rng.random() < 0.6 else rng.choice(pool) for _ in range(n)]
        texts.append(rng.choice([" ", "", "  ", "\n"]).join(pick))
    return texts


def token_texts():
    """At least 200 varied texts: the corpus, pieces of it recombined, accents,
    CJK, emoji, white-space runs, long words, mixed scripts, control
    characters, the special tokens written out."""
    rng = random.Random(1234)
    words = " ".join(CORPUS).split()
    extra = ["🙂", "👍🏽", "\u200b", "\t\t", "  ", "\n", "\u00a0", "\x07", "\x1b", "\ufffd", "[CLS]",
             "[SEP]", "[MASK]", "[UNK]", "supercalifragilisticexpialidocious" * 3, "ÉCOLE",
             "İstanbul", "ǅungla", "ﬁne", "½", "x²", "Ⅻ", "«quoted»", "—", "…", "ß", "ŉ",
             "<s>", "</s>", " <mask> ", "<pad>", "don't", "I'M", "we'll", "it's", "\u2003",
             "  \n\n  ", "1234567", "a1b2"]
    texts = list(CORPUS) + [""]
    while len(texts) < 230:
        n = rng.randint(1, 12)
        pick = [rng.choice(words) if rng.random() < 0.75 else rng.choice(extra) for _ in range(n)]
        sep = rng.choice([" ", "  ", "\t", " \n ", ""])
        t = sep.join(pick)
        if rng.random() < 0.2:
            t = t.upper()
        texts.append(t)
    return texts


def st_folder(transformer_dir, pooling_mode, normalize, max_seq, dest, dense=0):
    word = models.Transformer(transformer_dir, max_seq_length=max_seq)
    mods = [word, models.Pooling(word.get_word_embedding_dimension(), pooling_mode=pooling_mode)]
    if dense:  # Dense(d -> dense), tanh (its default)
        mods.append(models.Dense(word.get_word_embedding_dimension(), dense))
    if normalize:
        mods.append(models.Normalize())
    st = SentenceTransformer(modules=mods, device="cpu")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    st.save(dest, create_model_card=False)
    return SentenceTransformer(dest, device="cpu")


def tidy(dest):
    """Drops what clformer does not read and sentence-transformers can do
    without (a README), so that the folders stay small; a Dense module's
    weights become model.safetensors (as sentence-transformers 3 saves
    them; this 2.3.1 writes a pickle, which clformer refuses); the
    SentencePiece model, which tokenizer.json holds converted."""
    for f in ["README.md", "sentencepiece.bpe.model"]:
        p = os.path.join(dest, f)
        if os.path.exists(p):
            os.remove(p)
    for sub in os.listdir(dest):
        pkl = os.path.join(dest, sub, "pytorch_model.bin")
        if sub.endswith("_Dense") and os.path.exists(pkl):
            state = torch.load(pkl, map_location="cpu")
            safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()},
                                        os.path.join(dest, sub, "model.safetensors"))
            os.remove(pkl)


def main():
    only = sys.argv[1:]
    torch.manual_seed(20261206)
    uncased = train_vocab(True, 400, DistilBertTokenizerFast)
    cased = train_vocab(False, 500, BertTokenizerFast)
    bpe = train_bpe(600)
    mpnet_tok = train_vocab(True, 400, MPNetTokenizerFast,
                            ("<s>", "<pad>", "</s>", "[UNK]", "<mask>"))
    unigram = train_unigram(700)
    out = {"generator": "tools/make_tiny_models.py",
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "tokenizers": tokenizers.__version__,
                        "sentence-transformers": sentence_transformers.__version__},
           "texts": CORPUS[:12] + ["", "short", "ÉCOLE 東京 🙂", "a " * 40],
           "models": [], "tokenizers": []}
    specs = [
        ("distilbert-mean", uncased,
         DistilBertConfig(vocab_size=uncased.vocab_size, dim=32, n_layers=2, n_heads=4,
                          hidden_dim=64, max_position_embeddings=64, initializer_range=0.2),
         DistilBertModel, "mean", True, 64),
        ("bert-cased-cls", cased,
         BertConfig(vocab_size=cased.vocab_size, hidden_size=24, num_hidden_layers=2,
                    num_attention_heads=3, intermediate_size=48, max_position_embeddings=40,
                    hidden_act="gelu_new", initializer_range=0.2, layer_norm_eps=1e-6),
         BertModel, "cls", False, 20),
        ("roberta-mean", bpe,
         RobertaConfig(vocab_size=bpe.vocab_size, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=64, max_position_embeddings=66,
                       type_vocab_size=1, pad_token_id=1, initializer_range=0.2),
         RobertaModel, "mean", True, 64),
        ("bert-dense", uncased,
         BertConfig(vocab_size=uncased.vocab_size, hidden_size=24, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                    initializer_range=0.2),
         BertModel, "max", True, 64, 16),
        ("mpnet-mean", mpnet_tok,
         MPNetConfig(vocab_size=mpnet_tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=66,
                     initializer_range=0.2),
         MPNetModel, "mean", True, 64),
        ("xlmr-mean", unigram,
         XLMRobertaConfig(vocab_size=len(unigram), hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=4, intermediate_size=64, max_position_embeddings=66,
                          type_vocab_size=1, pad_token_id=1, initializer_range=0.2),
         XLMRobertaModel, "mean", True, 64),
    ]
    for name, tok, cfg, cls, pooling, normalize, max_seq, *dense in specs:
        if only and name not in only:
            continue
        if cls is XLMRobertaModel:  # its own seed: the same weights built alone
            torch.manual_seed(22)
        tmp = tempfile.mkdtemp()
        model = cls(cfg).eval()
        if cls is MPNetModel:  # a bias of a few units, as trained ones have
            with torch.no_grad():
                model.encoder.relative_attention_bias.weight.mul_(10)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        dest = os.path.join(ROOT, "test", "models", name)
        st = st_folder(tmp, pooling, normalize, max_seq, dest, *dense)
        e = st.encode(out["texts"], batch_size=4, normalize_embeddings=False,
                      convert_to_numpy=True).astype(np.float64)
        tidy(dest)
        shutil.rmtree(tmp)
        out["models"].append({"name": name, "folder": "test/models/" + name,
                              "embeddings": [[float(f"{x:.9g}") for x in r] for r in e]})
        print(f"{name}: {e.shape}", file=sys.stderr)
    texts = token_texts()
    for name, tok in [("distilbert-mean", uncased), ("bert-cased-cls", cased),
                      ("roberta-mean", bpe), ("mpnet-mean", mpnet_tok), ("xlmr-mean", unigram)]:
        if only and name not in only:
            continue
        these = texts + unigram_texts() if tok is unigram else texts
        ids = [tok(t, truncation=True, max_length=512)["input_ids"] for t in these]
        out["tokenizers"].append({"folder": "test/models/" + name, "texts": these, "ids": ids})
    # MPNet's relative position buckets as torch computes them (test-bert)
    rel = torch.arange(-1023, 1024)[None, :]
    out["mpnet_buckets"] = {"first": -1023,
                            "buckets": MPNetEncoder.relative_position_bucket(rel)[0].tolist()}
    gold = os.path.join(ROOT, "test", "reference", "tiny-models.json")
    if only:  # the other entries as they were
        with open(gold) as f:
            old = json.load(f)
        for key, name in (("models", "name"), ("tokenizers", "folder")):
            new = {e[name]: e for e in out[key]}
            kept = [new.pop(e[name], e) for e in old[key]]
            out[key] = kept + list(new.values())
        out["versions"] = old["versions"]
    with open(gold, "w") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
