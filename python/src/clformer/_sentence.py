"""Sentence embeddings of a sentence-transformers folder, with
sentence-transformers' names and semantics (SentenceTransformer.encode,
.similarity, ...), through the library's one path: clf_sentence_folder_load,
clf_tokenizer_load, clf_dp_create_bert_rank, clf_dp_set_folder,
clf_dp_embed_texts (as `clformer embed`, tools/cmd_embed.c)."""
import ctypes
import os

import numpy as np

from . import _lib
from ._context import Closeable, DeviceGroup, check
from ._encoder import default_config, layer_options, own_context
from ._errors import InvalidArgError, IOError_, StateError, UnsupportedError, error_for

SIMILARITY_FUNCTIONS = ("cosine", "dot", "euclidean", "manhattan")


def _one_rank_gather(user, y, counts, ok):
    """The gather of a data-parallel run of one rank: its block is all."""
    return ok


_GATHER = _lib.GATHER_FN(_one_rank_gather)


def _as_2d(a, name):
    a = np.asarray(a.cpu().numpy() if hasattr(a, "cpu") else a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise InvalidArgError("%s must be one embedding or a 2-D array of them, not shape %s"
                              % (name, a.shape))
    return a


def similarity(fn, a, b):
    """sentence-transformers' similarity functions as matrices [len(a),
    len(b)]: cosine, dot, and the negated euclidean and manhattan distances
    (so that larger is more similar, as sentence-transformers defines them)."""
    a, b = _as_2d(a, "a"), _as_2d(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InvalidArgError("embeddings of %d and %d columns" % (a.shape[1], b.shape[1]))
    if fn == "cosine":
        na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        s = na @ nb.T
    elif fn == "dot":
        s = a @ b.T
    elif fn == "euclidean":
        s = -np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :]
                                - 2 * a @ b.T, 0))
    elif fn == "manhattan":
        s = -np.abs(a[:, None, :] - b[None, :, :]).sum(2)
    else:
        raise InvalidArgError("unknown similarity function %r (%s)"
                              % (fn, ", ".join(SIMILARITY_FUNCTIONS)))
    return s.astype(np.float32)


class SentenceEncoder(Closeable):
    """A sentence-transformers model folder on one device, with
    SentenceTransformer's interface: existing code switches by changing the
    import.

    model_name_or_path: a local folder ("~" expanded; this package
    downloads nothing).
    device: a device spec ("auto", "cpu", "gpu:1", "P:D", a name; None:
    $CLFORMER_DEVICE, else auto), a clformer.Context to share, or a
    clformer.DeviceGroup whose devices the batches are dealt over.
    devices: a device list ("all", "cpu:0,cpu:1") for a group of the
    model's own, as `clformer embed --devices`; not with device.
    truncate_dim: keep the first columns of every embedding, as
    sentence-transformers does (after the folder's pipeline, not
    re-normalised: pass normalize_embeddings=True for unit vectors).
    prompts, default_prompt_name: replace the folder's
    (config_sentence_transformers.json), as in sentence-transformers.
    similarity_fn_name: replaces the folder's ("cosine" by default).
    The other keywords are `clformer embed`'s encoder options in its grammar
    (attn, attn_impl, kv, attn_quant, linear, precision, ffn; see Encoder).
    """

    def __init__(self, model_name_or_path, device=None, *, devices=None, truncate_dim=None,
                 prompts=None, default_prompt_name=None, similarity_fn_name=None, attn=None,
                 attn_impl=None, kv=None, attn_quant=None, linear=None, precision=None,
                 ffn=None):
        self._ctx = self._folder = self._tok = self._dp = None
        self.truncate_dim = truncate_dim
        lib = _lib.lib()
        path = os.path.expanduser(os.fspath(model_name_or_path))
        folder = ctypes.c_void_p()
        msg = _lib.msg_buffer()
        st = lib.clf_sentence_folder_load(path.encode(), ctypes.byref(folder), msg, len(msg))
        if st != _lib.OK:
            raise error_for(st, _lib.text(msg.value) or _lib.status_str(st))
        self._folder = folder
        self.model_path = path
        n = lib.clf_sentence_folder_prompt_count(folder)
        names = [_lib.text(lib.clf_sentence_folder_prompt_name(folder, i)) for i in range(n)]
        self.prompts = dict(prompts) if prompts is not None else {
            k: _lib.text(lib.clf_sentence_folder_prompt(folder, k.encode())) for k in names}
        self.default_prompt_name = (default_prompt_name if default_prompt_name is not None else
                                    _lib.text(lib.clf_sentence_folder_default_prompt(folder)))
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            self.close()
            raise InvalidArgError("default_prompt_name %r is not among the prompts (%s)"
                                  % (self.default_prompt_name, ", ".join(self.prompts) or "none"))
        self.similarity_fn_name = (similarity_fn_name or
                                   _lib.text(lib.clf_sentence_folder_similarity(folder)) or
                                   "cosine")
        if self.similarity_fn_name not in SIMILARITY_FUNCTIONS:
            self.close()
            raise InvalidArgError("similarity_fn_name %r: one of %s"
                                  % (self.similarity_fn_name, ", ".join(SIMILARITY_FUNCTIONS)))
        self._pool_prompt = bool(lib.clf_sentence_folder_include_prompt(folder))
        tok_file = lib.clf_sentence_folder_tokenizer_file(folder)
        model_dir = lib.clf_sentence_folder_model_dir(folder)
        try:
            options = layer_options(default_config(), attn=attn, attn_impl=attn_impl, kv=kv,
                                    attn_quant=attn_quant, linear=linear, precision=precision,
                                    ffn=ffn)
            if tok_file is None:
                raise IOError_("%s: no vocab.txt nor tokenizer.json" % _lib.text(model_dir))
            self._tok_file = tok_file
            if devices is not None and device is not None:
                raise InvalidArgError("give device or devices, not both")
            if devices is not None:
                self._ctx, self._owns_ctx = DeviceGroup(devices), True
            else:
                self._ctx, self._owns_ctx = own_context(device, group_ok=True)
            ctx = self._ctx
            with ctx._lock:
                ctx._retain()
                self._retained = True
                self._tp = _lib.TokenizerParams()
                lib.clf_tokenizer_params_init(ctypes.byref(self._tp), ctypes.sizeof(self._tp))
                check(lib.clf_sentence_folder_tokenizer_params(folder, ctypes.byref(self._tp)),
                      lambda: "the folder's tokenizer parameters")
                self._load_tokenizer()
                dp = ctypes.c_void_p()
                if isinstance(ctx, DeviceGroup):
                    st = lib.clf_dp_create_bert(ctx._handle(), model_dir, ctypes.byref(options),
                                                ctypes.byref(dp))
                else:  # a run of one rank: the same batches, one device
                    comm = _lib.DpComm(0, 1, _GATHER, None)
                    st = lib.clf_dp_create_bert_rank(ctx._handle(), model_dir,
                                                     ctypes.byref(options), ctypes.byref(comm),
                                                     ctypes.byref(dp))
                check(st, ctx.last_error)
                self._dp = dp
                check(lib.clf_dp_set_folder(dp, folder, 0, -1, 0), ctx.last_error)
                self._dim = int(lib.clf_dp_embed_dim(dp))
        except BaseException:
            self.close()
            raise

    def _load_tokenizer(self):
        lib = _lib.lib()
        tok = ctypes.c_void_p()
        check(lib.clf_tokenizer_load(self._ctx._ctx(), self._tok_file, ctypes.byref(self._tp),
                                     ctypes.byref(tok)), self._ctx.last_error)
        if self._tok:
            lib.clf_tokenizer_destroy(self._tok)
        self._tok = tok

    @property
    def context(self):
        return self._ctx

    @property
    def device(self):
        """The device's id "P:D" (a group's: its members' joined by ",")."""
        return self._ctx.device["id"]

    @property
    def max_seq_length(self):
        """Tokens per text, special tokens included; longer texts are cut.
        Settable, as in sentence-transformers."""
        return int(self._tp.max_length)

    @max_seq_length.setter
    def max_seq_length(self, n):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
            raise InvalidArgError("max_seq_length must be an integer >= 2, not %r" % (n,))
        with self._ctx._lock:
            self._open()
            old = self._tp.max_length
            self._tp.max_length = int(n)
            try:
                self._load_tokenizer()
            except BaseException:
                self._tp.max_length = old
                raise

    @property
    def truncate_dim(self):
        return self._truncate_dim

    @truncate_dim.setter
    def truncate_dim(self, d):
        if d is not None and (not isinstance(d, (int, np.integer)) or isinstance(d, bool) or
                              not 1 <= d):
            raise InvalidArgError("truncate_dim must be a positive integer or None, not %r"
                                  % (d,))
        self._truncate_dim = None if d is None else int(d)

    def get_sentence_embedding_dimension(self):
        """The columns of an embedding (truncate_dim's when smaller)."""
        return min(self._dim, self._truncate_dim or self._dim)

    def _runs_on(self, spec):
        """Whether a device spec names the model's device (or its group)."""
        if spec == self.device:
            return True
        if not isinstance(spec, str) or isinstance(self._ctx, DeviceGroup):
            return False
        info = _lib.DeviceInfo()
        msg = _lib.msg_buffer()
        st = _lib.lib().clf_device_find(spec.encode(), ctypes.byref(info), msg, len(msg))
        if st != _lib.OK:
            raise error_for(st, _lib.text(msg.value) or _lib.status_str(st))
        return "%d:%d" % (info.platform_index, info.device_index) == self.device

    def _open(self):
        if not self._dp:
            raise StateError("the SentenceEncoder is closed")

    def _prompt(self, prompt_name, prompt):
        if prompt is not None:
            if not isinstance(prompt, str):
                raise InvalidArgError("prompt must be a string, not %s" % type(prompt).__name__)
            return prompt
        if prompt_name is not None:
            if prompt_name not in self.prompts:
                raise InvalidArgError("prompt name %r not found among the prompts (%s)"
                                      % (prompt_name, ", ".join(self.prompts) or "none"))
            return self.prompts[prompt_name]
        if self.default_prompt_name is not None:
            return self.prompts.get(self.default_prompt_name)
        return None

    def encode(self, sentences, batch_size=32, show_progress_bar=None,
               output_value="sentence_embedding", precision="float32", convert_to_numpy=True,
               convert_to_tensor=False, device=None, normalize_embeddings=False,
               prompt_name=None, prompt=None, truncate_dim=None):
        """Embeddings of one sentence (a 1-D array) or of a list of them (a
        2-D float32 array, a row each, in order), as
        SentenceTransformer.encode: the prompt (prompt, else
        prompts[prompt_name], else the default prompt) goes before every
        text; normalize_embeddings L2-normalises on top of the folder's
        pipeline; truncate_dim (else the model's) keeps the first columns.
        Texts are batched longest first, batch_size at a time.
        show_progress_bar is accepted and shows nothing (the whole call is
        one library call). Not supported (UnsupportedError): output_value
        other than "sentence_embedding", precision other than "float32",
        convert_to_tensor without torch, a device other than the model's
        (a spec naming the model's device is accepted)."""
        if output_value != "sentence_embedding":
            raise UnsupportedError("output_value=%r: only \"sentence_embedding\" is supported "
                                   "(token embeddings are not returned by the library)"
                                   % (output_value,))
        if precision != "float32":
            raise UnsupportedError("precision=%r: only \"float32\" is supported" % (precision,))
        if device is not None and not self._runs_on(device):
            raise UnsupportedError("device=%r: the model runs on %s; make another "
                                   "SentenceEncoder for another device" % (device, self.device))
        torch = None
        if convert_to_tensor:
            try:
                import torch
            except ImportError:
                raise UnsupportedError("convert_to_tensor=True needs torch, which is not "
                                       "installed; use convert_to_numpy=True") from None
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise InvalidArgError("batch_size must be a positive integer, not %r" % (batch_size,))
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InvalidArgError("sentence %d is a %s, not a str" % (i, type(t).__name__))
        p = self._prompt(prompt_name, prompt)
        dim = truncate_dim if truncate_dim is not None else self._truncate_dim
        out = self._embed(texts, int(batch_size), p)
        if dim is not None:
            out = np.ascontiguousarray(out[:, :dim])
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        if single:
            out = out[0]
        if torch is not None:
            return torch.from_numpy(out)
        if not convert_to_numpy:
            return list(out) if not single else out
        return out

    def _embed(self, texts, batch, prompt):
        lib = _lib.lib()
        n = len(texts)
        data = [t.encode("utf-8", "surrogatepass") for t in texts]  # invalid: the library says
        ptrs = (ctypes.c_char_p * max(n, 1))(*data)
        lens = (ctypes.c_size_t * max(n, 1))(*[len(d) for d in data])
        ep = _lib.EmbedParams()
        lib.clf_embed_params_init(ctypes.byref(ep), ctypes.sizeof(ep))
        ep.batch = batch
        ep.prompt = prompt.encode() if prompt else None
        ep.pool_prompt = self._pool_prompt
        ep.text_lengths = lens
        with self._ctx._lock:
            self._open()
            out = np.empty((n, self._dim), dtype=np.float32)
            if n:
                check(lib.clf_dp_embed_texts(self._dp, self._tok, ptrs, n, ctypes.byref(ep),
                                             out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                             None, None), self._ctx.last_error)
        return out

    def similarity(self, embeddings1, embeddings2):
        """The similarity matrix [len(embeddings1), len(embeddings2)] by the
        folder's function (similarity_fn_name): cosine, dot, or the negated
        euclidean or manhattan distance, as sentence-transformers."""
        return similarity(self.similarity_fn_name, embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        """The similarity of each row of embeddings1 with the same row of
        embeddings2."""
        a, b = _as_2d(embeddings1, "embeddings1"), _as_2d(embeddings2, "embeddings2")
        if a.shape != b.shape:
            raise InvalidArgError("pairwise similarity of shapes %s and %s" % (a.shape, b.shape))
        return np.array([similarity(self.similarity_fn_name, a[i], b[i])[0, 0]
                         for i in range(len(a))], dtype=np.float32)

    def close(self):
        """Frees the model, its tokenizer and folder (and its own context)."""
        lib = _lib.lib()
        ctx = self._ctx
        if ctx is not None:
            with ctx._lock:
                if self._dp:
                    lib.clf_dp_destroy(self._dp)
                    self._dp = None
                if self._tok:
                    lib.clf_tokenizer_destroy(self._tok)
                    self._tok = None
                if getattr(self, "_retained", False):
                    self._retained = False
                    ctx._release()
            if self._owns_ctx:
                ctx.close()
        if self._folder:
            lib.clf_sentence_folder_destroy(self._folder)
            self._folder = None

    def __repr__(self):
        return "<clformer.SentenceEncoder %r on %s, %d dimensions>" % (
            self.model_path, self.device if self._ctx else "?",
            self.get_sentence_embedding_dimension())
