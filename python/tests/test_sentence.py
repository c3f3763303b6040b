"""SentenceEncoder against `clformer embed` (the same library path, so the
same bits) and against sentence-transformers' vectors (the bounds the
command's own tests use: max abs 1e-5, test/folders.py)."""
import json
import shutil

import numpy as np
import pytest

import clformer
from conftest import TINY, cli_embed, model_dir, reference, tiny

TOL = 1e-5  # test/folders.py's: f32 through the layers, other summation orders


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_equal_cli_and_reference(ctx, tmp_path, name):
    ref = reference("tiny-models.json")
    want = np.array(next(m for m in ref["models"] if m["name"] == name)["embeddings"])
    with clformer.SentenceEncoder(tiny(name), ctx) as m:
        got = m.encode(ref["texts"])
        assert got.dtype == np.float32 and got.shape == want.shape
        assert m.get_sentence_embedding_dimension() == want.shape[1]
    np.testing.assert_array_equal(got, cli_embed(tmp_path, tiny(name), ref["texts"]))
    assert np.abs(got - want).max() <= TOL


def test_minilm_reference_and_cli(minilm, tmp_path):
    ref = reference("minilm-embeddings.json")
    got = minilm.encode(ref["texts"])
    assert np.abs(got - np.array(ref["embeddings"])).max() <= TOL
    np.testing.assert_array_equal(got, cli_embed(tmp_path, model_dir(), ref["texts"]))
    assert minilm.max_seq_length == 256 and minilm.similarity_fn_name == "cosine"
    # batch_size: other batches pad otherwise; within the batching bound of test-bert
    assert np.abs(minilm.encode(ref["texts"], batch_size=3) - got).max() <= 1e-5


def test_single_string_empty_list_and_nul(ctx, tmp_path):
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        one = m.encode("A man is eating food.")
        assert one.shape == (32,)
        np.testing.assert_array_equal(one, m.encode(["A man is eating food."])[0])
        assert m.encode([]).shape == (0, 32)
        # a NUL byte inside a text reaches the tokenizer (WordPiece drops it)
        np.testing.assert_array_equal(m.encode("foo\0bar"), m.encode("foobar"))
        listed = m.encode(["a", "b"], convert_to_numpy=False)
        assert isinstance(listed, list) and len(listed) == 2 and listed[0].shape == (32,)


def folder_with(tmp_path, name, **st_config):
    """A copy of a tiny folder with config_sentence_transformers.json."""
    d = tmp_path / name
    shutil.copytree(tiny(name), d)
    (d / "config_sentence_transformers.json").write_text(json.dumps(st_config))
    return str(d)


def test_prompts(ctx, tmp_path):
    texts = ["A man is eating food.", "short"]
    d = folder_with(tmp_path, "distilbert-mean",
                    prompts={"query": "query: ", "passage": "passage: "},
                    default_prompt_name="query")
    with clformer.SentenceEncoder(d, ctx) as m:
        assert m.prompts == {"query": "query: ", "passage": "passage: "}
        assert m.default_prompt_name == "query"
        default = m.encode(texts)
        np.testing.assert_array_equal(default, cli_embed(tmp_path, d, texts))
        np.testing.assert_array_equal(default, m.encode(texts, prompt_name="query"))
        np.testing.assert_array_equal(default, m.encode(["query: " + t for t in texts],
                                                        prompt=""))
        passage = m.encode(texts, prompt_name="passage")
        np.testing.assert_array_equal(passage, cli_embed(tmp_path, d, texts, "--prompt",
                                                         "passage"))
        assert np.abs(passage - default).max() > 1e-3
        np.testing.assert_array_equal(m.encode(texts, prompt="passage: "), passage)
        with pytest.raises(clformer.InvalidArgError, match="nope"):
            m.encode(texts, prompt_name="nope")
    with clformer.SentenceEncoder(d, ctx, prompts={"q": "passage: "},
                                  default_prompt_name="q") as m:
        np.testing.assert_array_equal(m.encode(texts), passage)
    with pytest.raises(clformer.InvalidArgError, match="missing"):
        clformer.SentenceEncoder(d, ctx, default_prompt_name="missing")


@pytest.mark.parametrize("variant", [0, 6, 7])
def test_prompt_left_out_of_pooling(ctx, tmp_path, variant):
    """include_prompt false (test/reference/include-prompt.json,
    sentence-transformers 3): the library leaves the prompt's tokens out."""
    ref = reference("include-prompt.json")
    v = ref["variants"][variant]
    d = tmp_path / "folder"
    shutil.copytree(tiny(v["folder"].split("/")[-1]), d)
    cfg_path = d / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    keys = {"mean": "mean_tokens", "max": "max_tokens", "cls": "cls_token",
            "weightedmean": "weightedmean_tokens"}
    cfg = {k: (False if k.startswith("pooling_mode_") else x) for k, x in cfg.items()}
    cfg["pooling_mode_" + keys.get(v["pooling"], v["pooling"])] = True
    cfg["include_prompt"] = False
    cfg_path.write_text(json.dumps(cfg))
    with clformer.SentenceEncoder(str(d), ctx) as m:
        got = m.encode(ref["texts"], prompt=ref["prompt"])
    assert np.abs(got - np.array(v["embeddings"])).max() <= TOL


def test_normalize_embeddings(ctx):
    texts = ["A man is eating food.", "The girl is carrying a baby."]
    with clformer.SentenceEncoder(tiny("bert-cased-cls"), ctx) as m:
        raw = m.encode(texts)
        norms = np.linalg.norm(raw.astype(np.float64), axis=1)
        assert np.abs(norms - 1).max() > 1e-3  # CLS pooling, no Normalize module
        unit = m.encode(texts, normalize_embeddings=True)
        # one f32 division by an f32 norm: a few ulp of values below 1
        assert np.abs(unit - raw / norms[:, None]).max() <= 1e-6
        assert np.abs(np.linalg.norm(unit, axis=1) - 1).max() <= 1e-6


def test_truncate_dim(ctx, tmp_path):
    texts = ["A man is eating food.", "Café crème brûlée."]
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        full = m.encode(texts)
        cut = m.encode(texts, truncate_dim=8)
        np.testing.assert_array_equal(cut, full[:, :8])  # as sentence-transformers: cut only
        # cut and re-normalised: Matryoshka, as `clformer embed --dimensions`
        unit = m.encode(texts, truncate_dim=8, normalize_embeddings=True)
        assert np.abs(unit - cli_embed(tmp_path, tiny("distilbert-mean"), texts,
                                       "--dimensions", "8")).max() <= 1e-6
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx, truncate_dim=5) as m:
        assert m.get_sentence_embedding_dimension() == 5
        np.testing.assert_array_equal(m.encode(texts), full[:, :5])
        assert m.encode(texts[0]).shape == (5,)


def test_max_seq_length(ctx, tmp_path):
    texts = ["Two men pushed carts through the woods.", "A man is riding a horse."]
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        full = m.encode(texts)
        m.max_seq_length = 5
        assert m.max_seq_length == 5
        cut = m.encode(texts)
        assert np.abs(cut - full).max() > 1e-3
        np.testing.assert_array_equal(cut, cli_embed(tmp_path, tiny("distilbert-mean"), texts,
                                                     "--max-seq-length", "5"))
        with pytest.raises(clformer.InvalidArgError):
            m.max_seq_length = 1


def test_similarity_functions(ctx, tmp_path):
    a = np.array([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32)
    b = np.array([[0.0, 1.0]], dtype=np.float32)
    want = {"cosine": [[0.8], [0.0]], "dot": [[4.0], [0.0]],
            "euclidean": [[-np.sqrt(18.0)], [-np.sqrt(2.0)]], "manhattan": [[-6.0], [-2.0]]}
    for fn, w in want.items():
        d = folder_with(tmp_path, "distilbert-mean", similarity_fn_name=fn)
        with clformer.SentenceEncoder(d, ctx) as m:
            assert m.similarity_fn_name == fn
            s = m.similarity(a, b)
            assert s.shape == (2, 1) and np.abs(s - np.array(w)).max() <= 1e-6, (fn, s)
            assert np.abs(m.similarity(a[0], b[0]) - np.array(w[0])).max() <= 1e-6
        shutil.rmtree(d)
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        e = m.encode(["A man is eating food.", "A man eats food.", "A monkey plays drums."])
        s = m.similarity(e, e)
        assert np.abs(np.diag(s) - 1).max() <= 1e-6 and np.abs(s - s.T).max() <= 1e-6
        np.testing.assert_allclose(m.similarity_pairwise(e, e), np.diag(s), atol=1e-6)


def test_unsupported_arguments(ctx):
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        with pytest.raises(clformer.UnsupportedError, match="token_embeddings"):
            m.encode("x", output_value="token_embeddings")
        with pytest.raises(clformer.UnsupportedError, match="int8"):
            m.encode("x", precision="int8")
        with pytest.raises(clformer.DeviceSpecError, match="cuda"):
            m.encode("x", device="cuda")  # no such device
        # a spec naming the model's device is fine (sentence-transformers'
        # code passes one), another device is refused
        np.testing.assert_array_equal(m.encode("x", device=m.device), m.encode("x"))
        kind = m.context.device["type"]
        if next(d["id"] for d in clformer.devices() if d["type"] == kind) == m.device:
            np.testing.assert_array_equal(m.encode("x", device=kind), m.encode("x"))
        others = [d["id"] for d in clformer.devices() if d["id"] != m.device]
        if others:
            with pytest.raises(clformer.UnsupportedError, match="another device"):
                m.encode("x", device=others[0])
        try:
            import torch  # noqa: F401
        except ImportError:
            with pytest.raises(clformer.UnsupportedError, match="torch"):
                m.encode("x", convert_to_tensor=True)
        with pytest.raises(clformer.InvalidArgError, match="sentence 1"):
            m.encode(["x", 3])
        with pytest.raises(clformer.InvalidArgError, match="batch_size"):
            m.encode("x", batch_size=0)
        # show_progress_bar is accepted (no bar)
        m.encode(["x"], show_progress_bar=True)


@pytest.mark.parametrize("opts,args", [
    ({"kv": "int8", "linear": "int8"}, ["--kv", "int8", "--linear", "int8"]),
    ({"attn": "window:2"}, ["--attn", "window:2"]),
    ({"precision": "bf16", "attn_impl": "gemm"}, ["--precision", "bf16", "--attn-impl", "gemm"]),
], ids=lambda o: str(o))
def test_encoder_options_equal_cli(ctx, tmp_path, opts, args):
    texts = reference("tiny-models.json")["texts"]
    with clformer.SentenceEncoder(tiny("bert-cased-cls"), ctx) as m:
        exact = m.encode(texts)
    with clformer.SentenceEncoder(tiny("bert-cased-cls"), ctx, **opts) as m:
        got = m.encode(texts)
    np.testing.assert_array_equal(got, cli_embed(tmp_path, tiny("bert-cased-cls"), texts, *args))
    assert np.abs(got - exact).max() > 0  # the option took effect
