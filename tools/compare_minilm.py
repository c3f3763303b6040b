#!/usr/bin/env python3
"""Compares clformer's speed on all-MiniLM-L6-v2 with sentence-transformers (PyTorch),
ONNX Runtime and OpenVINO, in one run.

Embeds the sentences of `clformer bench model` (read from tools/bench_model.c,
so that every side sees the same text) in batches of 1, 8 and 32 with
sentence-transformers on the CPU (inference mode, torch.set_num_threads to
the machine's cores; tokenisation done once beforehand, so the model's
forward pass, mean pooling and normalisation are timed), as the median of
--runs after a warm-up of 3 runs and 300 ms; then with ONNX Runtime on a
local torch.onnx export of the model's transformer (nothing downloaded),
its BERT fusions applied by onnxruntime.transformers' optimizer as ONNX
Runtime's BERT guide does (attention, LayerNorm and GELU fused), the same
threads, the pooling and normalisation in numpy and timed with it; then
with OpenVINO on the same export before the fusions (its ONNX reader does
not take ONNX Runtime's fused operators; f32 inference precision, the
latency hint, the same threads); then runs `clformer bench model --speed
--json` (the graph run plus reading the embeddings back; tokenisation
excluded likewise) and prints them all in sentences per second with
clformer's ratios. Also checks that clformer's embeddings (`clformer embed
--npy`) and the peers' of the batch of 32 agree with PyTorch's.

Then (unless --varied 0) the job the embedding engines are used for: 256
generated sentences of 5-40 words (mixed lengths), texts in and vectors out
with tokenising timed, in batches of 1, 8 and 32 sorted by length:
sentence-transformers' encode, ONNX Runtime and OpenVINO on the same sorted
batches, and
`clformer bench embed --file` (the library's clf_dp_embed_texts); the
vectors of `clformer embed --file` are checked against PyTorch's too.

PyTorch and sentence-transformers come from the virtual environment that
tools/make_reference.py makes (build-ref/venv: Debian's python3-torch plus
pinned transformers and sentence-transformers); the script re-runs itself
in it when that exists. Exits 77 (skipped) when they are unavailable. ONNX
Runtime (and onnx, for the optimizer) and OpenVINO are pip-installed into
that venv at the first run; without them (no network) their columns are
left out, said so.

With --rounds N (default 1) the peers and clformer are timed N times in
turn (ONNX Runtime, OpenVINO, clformer, ONNX Runtime, ...; PyTorch once): on a
shared machine whose speed drifts by tens of percent over minutes, the
median of the N per-round ratios is the figure to quote; the columns give
each engine's median over the rounds and the ratio's range.

Usage: tools/compare_minilm.py [--clformer build/tools/clformer] [--runs 10]
       [--rounds 1] [--threads N] [--model-dir DIR] [--device SPEC]
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


def import_onnxruntime():
    """onnxruntime, installing it (and onnx) into the venv once; None when
    that fails."""
    try:
        import onnx  # noqa: F401  (the optimizer needs it)
        import onnxruntime
        return onnxruntime
    except ImportError:
        pass
    if (os.path.realpath(sys.prefix) != os.path.realpath(VENV)
            or os.environ.get("COMPARE_MINILM_INSTALLED")):  # installed, still not importable
        return None
    print("compare_minilm: installing onnxruntime and onnx into build-ref/venv", file=sys.stderr)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                        "-q", "onnxruntime", "onnx", "numpy<2"])
    if r.returncode != 0:
        return None
    # Again in a new process: modules imported before the install (torch's
    # typing_extensions, older than the one onnx needs and pip installed)
    # stay loaded in this one. Once: the variable stops a second install.
    os.environ["COMPARE_MINILM_INSTALLED"] = "1"
    os.execv(sys.executable, [sys.executable] + sys.argv)


def import_openvino():
    """openvino, installing it into the venv once; None when that fails (its
    columns are then left out)."""
    try:
        import openvino
        return openvino
    except ImportError:
        pass
    if (os.path.realpath(sys.prefix) != os.path.realpath(VENV)
            or os.environ.get("COMPARE_MINILM_OV_INSTALLED")):
        return None
    print("compare_minilm: installing openvino into build-ref/venv", file=sys.stderr)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                        "-q", "openvino", "numpy<2"])
    if r.returncode != 0:
        return None
    os.environ["COMPARE_MINILM_OV_INSTALLED"] = "1"  # as for onnxruntime: a new process, once
    os.execv(sys.executable, [sys.executable] + sys.argv)


def openvino_session(ov, onnx_path, threads):
    """OpenVINO on the plain torch.onnx export (its reader takes ONNX; the
    BERT-fused graph has ONNX Runtime's own operators): f32 inference, the
    latency hint, `threads` threads; embed(feed) -> normalised mean-pooled
    vectors."""
    import numpy as np
    core = ov.Core()
    model = core.read_model(onnx_path)
    comp = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                              "PERFORMANCE_HINT": "LATENCY",
                                              "INFERENCE_PRECISION_HINT": "f32"})
    req = comp.create_infer_request()
    names = [i.get_any_name() for i in comp.inputs]

    def embed(feed):
        h = req.infer([feed[n] for n in names])[comp.outputs[0]]
        m = feed["attention_mask"][:, :, None].astype(np.float32)
        p = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)

    return embed


def time_batches(fn, inputs, runs):
    """{n: median ms of fn(inputs[n])} after a warm-up of 3 runs and 300 ms,
    and fn's result for the largest batch."""
    ms, out = {}, None
    for n in BATCHES:
        start, w = time.perf_counter(), 0
        while w < 3 or time.perf_counter() - start < 0.3:
            out = fn(inputs[n])
            w += 1
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = fn(inputs[n])
            times.append((time.perf_counter() - t0) * 1e3)
        ms[n] = median(times)
    return ms, out


def onnx_export(torch, model, sample, tmp):
    """model's transformer exported by torch.onnx (sample: a tokenised batch
    to trace with) into tmp: the file's path."""
    # the inputs the tokenizer gives (MPNet, RoBERTa's: no token types)
    names = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample)
    bert = model[0].auto_model

    class Hidden(torch.nn.Module):
        """The transformer's last hidden states (a tensor, not a dict)."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *inputs):
            return self.m(**dict(zip(names, inputs)))[0]

    path = os.path.join(tmp, "minilm.onnx")
    axes = {n: {0: "batch", 1: "seq"} for n in names + ("hidden",)}
    torch.onnx.export(Hidden(bert).eval(), tuple(sample[n] for n in names), path,
                      input_names=list(names), output_names=["hidden"], dynamic_axes=axes,
                      opset_version=14)
    return path


def onnx_session(ort, model, path, threads, tmp):
    """ONNX Runtime on the export at path, BERT-fused by its optimizer:
    (embed(feed) -> normalised mean-pooled vectors, a label)."""
    import numpy as np
    bert = model[0].auto_model
    label = "fp32, exported"
    try:
        from onnxruntime.transformers import optimizer
        cfg = bert.config
        opt = optimizer.optimize_model(path, model_type="bert", num_heads=cfg.num_attention_heads,
                                       hidden_size=cfg.hidden_size)
        fused = os.path.join(tmp, "minilm-fused.onnx")
        opt.save_model_to_file(fused)
        path, label = fused, "fp32, BERT-fused graph"
    except Exception as e:  # the plain export still runs
        print(f"compare_minilm: onnxruntime's BERT optimizer failed ({e}); the plain export "
              "is timed", file=sys.stderr)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def embed(feed):
        h = sess.run(None, feed)[0]
        m = feed["attention_mask"][:, :, None].astype(np.float32)
        p = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)

    return embed, label


def onnx_feed(features):
    """A tokenised batch (torch tensors) as ONNX Runtime's int64 feed."""
    return {k: features[k].numpy().astype("int64")
            for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}


def varied_texts(n):
    """n English-like sentences of 5-40 words (8-47 tokens), seeded: the
    mixed lengths of a real embedding job."""
    import random
    rng = random.Random(42)
    words = ("the a man woman child dog cat is was runs eats reads writes plays house car city "
             "river morning evening quickly slowly small large old new music people game book "
             "story water light night day green blue happy computer program language learning "
             "model data science history world time year on in with under near and while").split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))).capitalize() + "."
            for _ in range(n)]


def sorted_passes(embed_batch, texts, runs):
    """{n: median ms of one pass over texts} in batches of n, longest first
    (by characters, as sentence-transformers' encode sorts), after one
    warm-up pass; and the last pass's vectors in the texts' order."""
    import numpy as np
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    ms, out = {}, None
    for n in BATCHES:
        times = []
        for r in range(runs + 1):
            t0 = time.perf_counter()
            rows = [embed_batch([texts[i] for i in order[s:s + n]])
                    for s in range(0, len(texts), n)]
            if r:
                times.append((time.perf_counter() - t0) * 1e3)
        ms[n] = median(times)
        out = np.empty((len(texts), rows[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(rows)
    return ms, out


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clformer", default=os.path.join(ROOT, "build", "tools", "clformer"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1,
                    help="time the peers and clformer this many times in turn")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--varied", type=int, default=256,
                    help="also time this many generated sentences of mixed lengths, "
                         "texts in and vectors out, sorted batches (0: not)")
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
    features = {n: model.tokenize(texts[:n]) for n in BATCHES}
    seqs = {n: int(features[n]["input_ids"].shape[1]) for n in BATCHES}
    with torch.inference_mode():
        torch_ms, out = time_batches(lambda f: model(dict(f))["sentence_embedding"], features,
                                     a.runs)
    ref = out.numpy()
    torch_sps = {n: n * 1e3 / torch_ms[n] for n in BATCHES}
    time.sleep(0.5)  # let PyTorch's OpenMP workers stop spinning

    # the peers on the same ONNX export: (name, label, embed(feed))
    peers = []
    ort, ov = import_onnxruntime(), import_openvino()
    for name, mod in (("onnxruntime", ort), ("openvino", ov)):
        if mod is None:
            print(f"compare_minilm: {name} is not installed and could not be: its columns are "
                  "left out", file=sys.stderr)
    onnx_tmp = tempfile.TemporaryDirectory()
    if ort or ov:
        with torch.inference_mode():
            onnx_path = onnx_export(torch, model, features[max(BATCHES)], onnx_tmp.name)
    if ort:
        embed, label = onnx_session(ort, model, onnx_path, a.threads, onnx_tmp.name)
        peers.append(("onnxruntime", f"onnxruntime {ort.__version__} ({label})", embed))
    if ov:
        peers.append(("openvino", f"openvino {ov.__version__} (f32, the plain export)",
                      openvino_session(ov, onnx_path, a.threads)))

    cmd = [a.clformer, "bench", "model", "--speed", "--json", "--runs", str(a.runs),
           "--model", model_dir]
    if a.device:
        cmd += ["--device", a.device]
    # per round: {n: each peer's sentences/s}, {n: clformer's}
    peer_rounds, peer_diff, our_rounds = {p[0]: [] for p in peers}, {}, []
    feeds = {n: onnx_feed(features[n]) for n in BATCHES}
    for _ in range(max(1, a.rounds)):
        for name, _, embed in peers:
            ms, out = time_batches(embed, feeds, a.runs)
            peer_rounds[name].append({n: n * 1e3 / ms[n] for n in BATCHES})
            peer_diff[name] = float(np.abs(out - ref).max())
            time.sleep(0.5)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr, end="")
            return 1
        bench = json.loads(res.stdout)
        ours = {r["batch"]: r for r in bench["results"] if r["op"] == "model-speed"}
        for n in BATCHES:
            if n not in ours or ours[n]["seq"] != seqs[n]:
                print(f"compare_minilm: clformer's batch {n} is missing or has other lengths",
                      file=sys.stderr)
                return 1
        our_rounds.append({n: ours[n]["sentences_per_s"] for n in BATCHES})

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
          f"runs, {a.threads} threads for each; pytorch {torch.__version__}"
          + "".join(f", {label}" for _, label, _ in peers)
          + f"; clformer on {bench['device']} ({bench['platform']})"
          + (f"; {len(our_rounds)} rounds: medians" if len(our_rounds) > 1 else ""))
    sps = {n: median([r[n] for r in our_rounds]) for n in BATCHES}
    cols = [("pytorch sent/s", lambda n: torch_sps[n], ".1f")]
    cols += peer_columns(peer_rounds, our_rounds, lambda n: sps[n])
    cols.insert(len(cols) - len(peers), ("clformer/pytorch", lambda n: sps[n] / torch_sps[n],
                                         ".2f"))
    print_table(cols)
    print(f"embeddings of the batch of {max(BATCHES)} against pytorch's: clformer max abs "
          f"difference {diff:.2e}" + "".join(f", {k} {v:.2e}" for k, v in peer_diff.items()))
    vdiff = 0.0
    if a.varied > 0:
        vdiff = varied_table(a, torch, model, peers, model_dir)
        if vdiff is None:
            return 1
    return 0 if diff < 1e-4 and vdiff < 1e-4 else 1


def ratio_column(ours, peers):
    """The column of ours / peers' sentences/s per batch size, both lists of
    {n: sentences/s} per round: the ratio, or with several rounds the median
    of the per-round ratios and their range."""
    def cell(n):
        r = sorted(o[n] / p[n] for o, p in zip(ours, peers))
        return f"{r[0]:.2f}" if len(r) == 1 else f"{median(r):.2f} ({r[0]:.2f}-{r[-1]:.2f})"
    return cell


def peer_columns(peer_rounds, our_rounds, ours):
    """The table's columns after PyTorch's: each peer's sentences/s (median
    over the rounds), clformer's (ours(n)), then clformer / each peer."""
    cols = [(f"{k} sent/s", lambda n, r=r: median([x[n] for x in r]), ".1f")
            for k, r in peer_rounds.items()]
    cols.append(("clformer sent/s", ours, ".1f"))
    cols += [(f"clformer/{k}", ratio_column(our_rounds, r), "s") for k, r in peer_rounds.items()]
    return cols


def print_table(cols):
    """cols: (title, value of batch n, format) for each column."""
    w = {t: max(len(t), 16) for t, _, _ in cols}
    print(f"{'batch':>5}" + "".join(f" {t:>{w[t]}}" for t, _, _ in cols))
    for n in BATCHES:
        print(f"{n:>5}" + "".join(f" {v(n):>{w[t]}{f}}" for t, v, f in cols))


def varied_table(a, torch, model, peers, model_dir):
    """The mixed-length job, texts in and vectors out (tokenising timed):
    sentence-transformers' encode (sorts by length itself), each peer
    (ONNX Runtime, OpenVINO) on batches sorted likewise, `clformer bench
    embed --file` (sorts by tokens), in turn for each round; prints
    sentences/s and returns clformer's largest difference to PyTorch's
    vectors (`clformer embed --file --npy`), None on failure."""
    import numpy as np
    texts = varied_texts(a.varied)
    runs = max(1, min(a.runs, 3))
    with torch.inference_mode():
        t_ms, t_out = sorted_passes(
            lambda b: model.encode(b, batch_size=len(b), convert_to_numpy=True), texts, runs)
    peer_rounds, peer_diff, our_rounds = {p[0]: [] for p in peers}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "texts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        dev = ["--device", a.device] if a.device else []
        for _ in range(max(1, a.rounds)):
            for name, _, embed in peers:
                ms, out = sorted_passes(lambda b, e=embed: e(onnx_feed(model.tokenize(b))),
                                        texts, runs)
                peer_rounds[name].append({n: len(texts) * 1e3 / ms[n] for n in BATCHES})
                peer_diff[name] = float(np.abs(out - t_out).max())
                time.sleep(0.5)
            res = subprocess.run([a.clformer, "bench", "embed", "--file", path, "--json",
                                  "--runs", str(runs), "--model", model_dir] + dev,
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(res.stderr, file=sys.stderr, end="")
                return None
            ours = {r["batch"]: r for r in json.loads(res.stdout)["results"]}
            our_rounds.append({n: ours[n]["sentences_per_s"] for n in BATCHES})
        npy = os.path.join(tmp, "e.npy")
        res = subprocess.run([a.clformer, "embed", "--model", model_dir, "--file", path,
                              "--npy", npy] + dev, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr, end="")
            return None
        vdiff = float(np.abs(np.load(npy) - t_out).max())
    tokens = ours[max(BATCHES)]["tokens"]
    print(f"\n{len(texts)} generated sentences of 5-40 words ({tokens} tokens), texts in and "
          f"vectors out (tokenising included), batches sorted by length, median of {runs} "
          "passes after one warm-up"
          + (f"; {len(our_rounds)} rounds: medians" if len(our_rounds) > 1 else ""))
    cols = [("pytorch sent/s", lambda n: len(texts) * 1e3 / t_ms[n], ".1f")]
    cols += peer_columns(peer_rounds, our_rounds,
                         lambda n: median([r[n] for r in our_rounds]))
    print_table(cols)
    print(f"vectors against pytorch's: clformer max abs difference {vdiff:.2e}"
          + "".join(f", {k} {v:.2e}" for k, v in peer_diff.items()))
    return vdiff

if __name__ == "__main__":
    sys.exit(main())
