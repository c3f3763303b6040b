#!/usr/bin/env python3
"""Sentence-transformers folders through `clformer embed`: each variant of
test/reference/minilm-folders.json (tools/make_folder_reference.py: the real
all-MiniLM-L6-v2 weights with other pooling, normalisation, lengths,
layouts, prompts, Matryoshka dimensions) is rebuilt in a scratch folder and
embedded; the vectors must be within max abs 1e-5 of sentence-transformers'
(the bound the real model's goldens use: f32 through six layers, with other
summation orders than PyTorch's). Then folders that must fail, each with a
message naming the file and the key or module at fault; those need the
model (tools/fetch_model.sh). First, always, the small committed folders
of test/models/ (tools/make_tiny_models.py: DistilBERT, a cased BERT with
CLS pooling, RoBERTa, BERT with a Dense module, MPNet) against their
sentence-transformers vectors.

    folders.py CLFORMER SOURCE_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

TOL = 1e-5


def model_dir():
    d = os.environ.get("CLFORMER_MODEL_DIR")
    if not d:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME", "."),
                                                                 ".cache")
        d = os.path.join(cache, "clformer", "models", "all-MiniLM-L6-v2")
    return d


def read_npy(path):
    """A float32 2-D .npy (as clf_npy_write writes it) as (rows, cols, list)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode()
    assert "'<f4'" in header and "False" in header, header
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    n = shape[0] * shape[1]
    vals = struct.unpack("<%df" % n, data[10 + hlen:10 + hlen + 4 * n])
    return shape[0], shape[1], vals


def build(src, dest, hf_files, files, model_sub):
    sub = os.path.join(dest, model_sub)
    os.makedirs(sub, exist_ok=True)
    for f in hf_files:
        os.symlink(os.path.join(src, f), os.path.join(sub, f))
    for path, content in files.items():
        full = os.path.join(dest, path)
        if os.path.lexists(full):
            os.remove(full)
        if content is None:
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))


def embed(exe, folder, texts, args, npy):
    return subprocess.run([exe, "embed", "-m", folder, "--npy", npy] + args + texts,
                          capture_output=True, text=True)


def compare(name, npy, want):
    """Checks the .npy against the golden rows; prints the result, returns
    the failures (0 or 1)."""
    rows, cols, got = read_npy(npy)
    if (rows, cols) != (len(want), len(want[0])):
        print("FAIL %s: shape %s, expected %s" % (name, (rows, cols), (len(want), len(want[0]))))
        return 1
    err = max(abs(got[r * cols + c] - want[r][c]) if got[r * cols + c] == got[r * cols + c]
              else float("inf") for r in range(rows) for c in range(cols))
    print("%s %s: max abs error %.2e (bound %.0e)" % ("ok  " if err <= TOL else "FAIL", name,
                                                    err, TOL))
    return err > TOL


def tiny_models(exe, srcdir, tmp):
    """The committed small folders (tools/make_tiny_models.py): other
    architectures, trained vocabularies, cased text, CLS pooling."""
    with open(os.path.join(srcdir, "test", "reference", "tiny-models.json")) as f:
        ref = json.load(f)
    failed = 0
    for m in ref["models"]:
        npy = os.path.join(tmp, m["name"] + ".npy")
        r = embed(exe, os.path.join(srcdir, m["folder"]), ref["texts"], [], npy)
        if r.returncode:
            print("FAIL %s: exit %d: %s" % (m["name"], r.returncode, r.stderr.strip()))
            failed += 1
            continue
        failed += compare(m["name"], npy, m["embeddings"])
    return failed


def prompt_left_out(exe, srcdir, tmp):
    """A prompt the Pooling leaves out (include_prompt false), each pooling
    mode: test/reference/include-prompt.json (tools/make_prompt_reference.py,
    sentence-transformers 3)."""
    with open(os.path.join(srcdir, "test", "reference", "include-prompt.json")) as f:
        ref = json.load(f)
    keys = {"mean": "mean_tokens", "max": "max_tokens", "cls": "cls_token",
            "weightedmean": "weightedmean_tokens"}
    failed = 0
    for v in ref["variants"]:
        name = "include_prompt false, %s, %s" % (os.path.basename(v["folder"]), v["pooling"])
        folder = os.path.join(tmp, "prompt-" + os.path.basename(v["folder"]) + "-" + v["pooling"])
        shutil.copytree(os.path.join(srcdir, v["folder"]), folder)
        path = os.path.join(folder, "1_Pooling", "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg = {k: (False if k.startswith("pooling_mode_") else x) for k, x in cfg.items()}
        cfg["pooling_mode_" + keys.get(v["pooling"], v["pooling"])] = True
        cfg["include_prompt"] = False
        with open(path, "w") as f:
            json.dump(cfg, f)
        npy = os.path.join(tmp, "prompt.npy")
        r = embed(exe, folder, ref["texts"], ["--prompt-text", ref["prompt"]], npy)
        if r.returncode:
            print("FAIL %s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
            failed += 1
            continue
        failed += compare(name, npy, v["embeddings"])
    return failed


def roberta_length(exe, srcdir, tmp):
    """Without a max_seq_length, a RoBERTa folder takes max_position_embeddings
    less its first two rows (66 -> 64 for the tiny one), as the loader does:
    --describe says so."""
    folder = os.path.join(tmp, "roberta-no-length")
    shutil.copytree(os.path.join(srcdir, "test", "models", "roberta-mean"), folder)
    os.remove(os.path.join(folder, "sentence_bert_config.json"))
    r = subprocess.run([exe, "embed", "-m", folder, "--describe", "--json"],
                       capture_output=True, text=True)
    got = json.loads(r.stdout)["max_seq_length"] if r.returncode == 0 else None
    ok = got == 64
    print("%s roberta length without max_seq_length: %s (expected 64)" % ("ok  " if ok else "FAIL",
                                                                          got))
    return not ok


def main():
    exe, srcdir = sys.argv[1], sys.argv[2]
    src = model_dir()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        failed += tiny_models(exe, srcdir, tmp)
        failed += prompt_left_out(exe, srcdir, tmp)
        failed += roberta_length(exe, srcdir, tmp)
    if not os.path.exists(os.path.join(src, "model.safetensors")):
        print("no model at %s (tools/fetch_model.sh): its variants skipped" % src)
        print("%d failure(s)" % failed)
        return 1 if failed else 0
    with open(os.path.join(srcdir, "test", "reference", "minilm-folders.json")) as f:
        ref = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        for i, v in enumerate(ref["variants"]):
            folder = os.path.join(tmp, "v%d" % i)
            build(src, folder, ref["hf_files"], v["files"], v["model_sub"])
            npy = folder + ".npy"
            r = embed(exe, folder, ref["texts"], v["args"], npy)
            if r.returncode:
                print("FAIL %s: exit %d: %s" % (v["name"], r.returncode, r.stderr.strip()))
                failed += 1
                continue
            failed += compare(v["name"], npy, v["embeddings"])
        failed += check_errors(exe, src, ref["hf_files"], tmp)
    print("%d failure(s)" % failed)
    return 1 if failed else 0


T = "sentence_transformers.models."
MODS = [{"path": "", "type": T + "Transformer"}, {"path": "1_Pooling", "type": T + "Pooling"}]
POOL = {"pooling_mode_mean_tokens": True}

# folder files over a good folder, extra arguments, words the message must hold
ERRORS = [
    ("an LSTM module", {"modules.json": MODS + [{"path": "2_LSTM", "type": T + "LSTM"}]}, [],
     ["modules.json", "module 2", "LSTM"]),
    ("a Dense module saved as a pickle",
     {"modules.json": MODS + [{"path": "2_Dense", "type": T + "Dense"}],
      "2_Dense/config.json": {"in_features": 384, "out_features": 8},
      "2_Dense/pytorch_model.bin": "not read"}, [], ["2_Dense/pytorch_model.bin", "pickle"]),
    ("a Dense module whose weights do not fit",
     {"modules.json": MODS + [{"path": "2_Dense", "type": T + "Dense"}],
      "2_Dense/config.json": {"in_features": 384, "out_features": 1048576},
      "2_Dense/model.safetensors": "junk"}, [], ["2_Dense/model.safetensors"]),
    ("a path leaving the folder", {"modules.json": [MODS[0], {"path": "../x",
                                                               "type": T + "Pooling"}]}, [],
     ["modules.json", "module 1", "leaves the folder"]),
    ("no pooling mode", {"1_Pooling/config.json": {"pooling_mode_mean_tokens": False}}, [],
     ["1_Pooling/config.json", "pooling_mode_"]),
    ("a pooling flag not boolean", {"1_Pooling/config.json": {"pooling_mode_cls_token": "yes"}},
     [], ["1_Pooling/config.json", "pooling_mode_cls_token"]),
    ("modules.json not JSON", {"modules.json": "[{"}, [], ["modules.json", "not valid JSON"]),
    ("max_seq_length past the positions", {"sentence_bert_config.json": {"max_seq_length": 513}},
     [], ["sentence_bert_config.json", "max_seq_length", "max_position_embeddings"]),
    # the top-level "normalizer" is read, not a decoy nested before it
    ("strip_accents against lower-casing",
     {"tokenizer.json": {"added_tokens": [{"content": "\"normalizer\"", "normalizer": {
         "type": "BertNormalizer", "lowercase": False, "strip_accents": True}}],
         "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": False}}},
     [], ["tokenizer.json", "\"strip_accents\" false with lower-casing on"]),
    ("a default prompt that is not there",
     {"config_sentence_transformers.json": {"prompts": {"q": "q: "},
                                            "default_prompt_name": "query"}},
     [], ["config_sentence_transformers.json", "default_prompt_name"]),
    ("an unknown --prompt", {"config_sentence_transformers.json": {"prompts": {"q": "q: "}}},
     ["--prompt", "query"], ["--prompt query", "it has: q"]),
    ("--no-truncate with a long text", {}, ["--no-truncate", "--max-seq-length", "4"],
     ["text 1", "longer than 4 tokens"]),
    ("--dimensions past the vector", {}, ["--dimensions", "385"], ["385", "384"]),
    ("a Unigram tokenizer.json only",
     {"vocab.txt": None, "tokenizer.json": {"model": {"type": "Unigram", "vocab": []},
                                            "post_processor": {"type": "RobertaProcessing"}}},
     [], ["tokenizer.json", "model \"Unigram\"", "WordPiece", "BPE"]),
    ("no tokenizer", {"vocab.txt": None, "tokenizer.json": None}, [],
     ["no vocab.txt nor tokenizer.json"]),
    ("an unknown similarity function",
     {"config_sentence_transformers.json": {"similarity_fn_name": "jaccard"}}, [],
     ["config_sentence_transformers.json", "similarity_fn_name"]),
    ("an architecture not run",
     {"config.json": {"model_type": "nomic_bert", "hidden_size": 384}},
     [], ["config.json", "model_type \"nomic_bert\"",
          "supported: bert, distilbert, roberta, xlm-roberta, mpnet, modernbert"]),
]


def check_errors(exe, src, hf_files, tmp):
    failed = 0
    base = {"modules.json": MODS, "1_Pooling/config.json": POOL}
    for i, (what, files, args, words) in enumerate(ERRORS):
        folder = os.path.join(tmp, "e%d" % i)
        build(src, folder, hf_files, dict(base, **files), "")
        r = embed(exe, folder, ["A man is eating food."], args, folder + ".npy")
        missing = [w for w in words if w not in r.stderr]
        ok = r.returncode != 0 and not missing and "Traceback" not in r.stderr
        failed += not ok
        print("%s error, %s: exit %d: %s%s" % ("ok  " if ok else "FAIL", what, r.returncode,
                                               r.stderr.strip().splitlines()[-1:] or "",
                                               " (missing: %s)" % missing if missing else ""))
    # --similarity follows the folder's similarity_fn_name
    texts = ["A man is eating food.", "A man eats.", "Tokyo is the capital."]
    for fn in ("dot", "euclidean", "manhattan"):
        folder = os.path.join(tmp, "sim-" + fn)
        build(src, folder, hf_files, dict(base, **{"config_sentence_transformers.json":
                                                   {"similarity_fn_name": fn}}), "")
        r = embed(exe, folder, texts, [], folder + ".npy")
        s = subprocess.run([exe, "embed", "-m", folder, "--similarity", "--json"] + texts,
                           capture_output=True, text=True)
        ok = r.returncode == 0 and s.returncode == 0
        worst = float("inf")
        if ok:
            rows, cols, e = read_npy(folder + ".npy")
            got = json.loads(s.stdout)["similarity"]
            worst = 0
            for i in range(rows):
                for j in range(rows):
                    a, b = e[i * cols:(i + 1) * cols], e[j * cols:(j + 1) * cols]
                    want = (sum(x * y for x, y in zip(a, b)) if fn == "dot" else
                            -sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5
                            if fn == "euclidean" else -sum(abs(x - y) for x, y in zip(a, b)))
                    worst = max(worst, abs(got[i][j] - want))
        ok = ok and worst <= 1e-6
        failed += not ok
        print("%s similarity %s: max abs error %.2e (bound 1e-06)" % ("ok  " if ok else "FAIL", fn,
                                                                    worst))
    # run and analyze given a model folder point to embed
    for cmd in (["run", "--seq", "4", "--weights", src], ["analyze", "attention", "--weights",
                                                          os.path.join(src, "model.safetensors")]):
        r = subprocess.run([exe] + cmd, capture_output=True, text=True)
        ok = r.returncode != 0 and "clformer embed -m" in r.stderr
        failed += not ok
        print("%s %s on a model folder: exit %d, %s" % ("ok  " if ok else "FAIL", cmd[0],
                                                         r.returncode, r.stderr.strip()[-120:]))
    return failed


if __name__ == "__main__":
    sys.exit(main())
