"""The encoder stack on numpy arrays (clf_encoder_*), and the options of
`clformer run` in its grammar (clf_encoder_config_option)."""
import ctypes

import numpy as np

from . import _lib
from ._context import Closeable, Context, DeviceGroup, check
from ._errors import InvalidArgError, ShapeError, StateError, UnsupportedError


def option(cfg, name, value, keyword=None):
    """One option of `clformer run` in its grammar onto an EncoderConfig,
    through the library's parser (clf_encoder_config_option); keyword names
    the Python argument in the error."""
    if not isinstance(value, str):
        raise InvalidArgError("%s must be a string in the command line's grammar, not %s"
                              % (keyword or name, type(value).__name__))
    msg = _lib.msg_buffer()
    st = _lib.lib().clf_encoder_config_option(ctypes.byref(cfg), name.encode(), value.encode(),
                                               msg, len(msg))
    check(st, lambda: "%s=%r: %s" % (keyword or name, value, _lib.text(msg.value)))


def layer_options(cfg, attn=None, attn_impl=None, kv=None, attn_quant=None, linear=None,
                  precision=None, ffn=None, ffn_act=None, drop_dense=None):
    """Sets the attention variant, quantisation and FFN options of
    `clformer run` on an EncoderConfig (None: the default stays)."""
    given = (("attn", attn), ("attn-impl", attn_impl), ("kv", kv), ("attn-quant", attn_quant),
             ("linear", linear), ("precision", precision), ("ffn", ffn), ("ffn-act", ffn_act))
    for name, value in given:
        if value is not None:
            option(cfg, name, value, name.replace("-", "_"))
    if drop_dense is not None:
        cfg.drop_dense = bool(drop_dense)
    return cfg


def default_config():
    cfg = _lib.EncoderConfig()
    _lib.lib().clf_encoder_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg))
    return cfg


def own_context(device, group_ok=False):
    """(context, owned): the Context (or, where group_ok, DeviceGroup) given,
    or a new Context on a device spec."""
    if isinstance(device, DeviceGroup) and not group_ok:
        raise UnsupportedError("an Encoder runs on one device (a Context or a device spec), "
                               "not a DeviceGroup")
    if isinstance(device, (Context, DeviceGroup)):
        return device, False
    return Context(device), True


class Encoder(Closeable):
    """A stack of Transformer encoder layers (PyTorch's nn.TransformerEncoder
    at inference; `clformer run`'s model) on one device, on numpy float32
    [batch, seq, d_model] inputs.

    Weights: `weights`, a safetensors file with PyTorch's state_dict names
    (clf_encoder_load), else seeded random ones (clf_encoder_create_random,
    the same for a seed on every machine; `clformer run --seed`'s).

    The options take the strings of `clformer run` (docs/cli.md): attn
    ("exact", "topk:32", "window:64,global:2", "linformer:64", "nystrom:32,
    iters:20", "svd:16", ...), attn_impl ("auto", "fused", "gemm"), kv
    ("f32", "int8", "int8:channel", "int8,q", "int8:channel,q"), attn_quant ("f32", "f16", "log:4"),
    linear ("f32", "int8"), precision ("f32", "f16", "bf16"), ffn ("dense",
    "svd:64", "rsvd:64", "tt:8", ...), ffn_act ("none", "binary", "lsq:4",
    "pwl:4", ...); activation ("relu", "gelu", "gelu-tanh").

    device: a Context, or a device spec for a context of the encoder's own.
    """

    def __init__(self, d_model=512, heads=8, d_ff=2048, layers=6, *, activation="relu",
                 eps=1e-5, norm_first=False, weights=None, seed=1, device=None, attn=None,
                 attn_impl=None, kv=None, attn_quant=None, linear=None, precision=None,
                 ffn=None, ffn_act=None, drop_dense=None):
        self._ptr = None
        self._ctx = None
        self._graph = None
        lib = _lib.lib()
        cfg = default_config()
        for name, v in (("d_model", d_model), ("heads", heads), ("d_ff", d_ff),
                        ("layers", layers)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidArgError("%s must be a positive integer, not %r" % (name, v))
            setattr(cfg, name, int(v))
        option(cfg, "activation", activation)
        cfg.eps = float(eps)
        cfg.norm_first = bool(norm_first)
        layer_options(cfg, attn=attn, attn_impl=attn_impl, kv=kv, attn_quant=attn_quant,
                      linear=linear, precision=precision, ffn=ffn, ffn_act=ffn_act,
                      drop_dense=drop_dense)
        self._calibrate = cfg.ffn_act.kind != _lib.ACTQ_NONE
        ctx, owned = own_context(device)
        self._ctx, self._owns_ctx = ctx, owned
        try:
            with ctx._lock:
                ctx._retain()
                ptr = ctypes.c_void_p()
                if weights is not None:
                    st = lib.clf_encoder_load(ctx._handle(), ctypes.byref(cfg),
                                              str(weights).encode(), ctypes.byref(ptr))
                else:
                    st = lib.clf_encoder_create_random(ctx._handle(), ctypes.byref(cfg),
                                                       int(seed), ctypes.byref(ptr))
                if st != _lib.OK:
                    ctx._release()
                check(st, ctx.last_error)
                self._ptr = ptr
                got = _lib.EncoderConfig()
                lib.clf_encoder_config_of(ptr, ctypes.byref(got), ctypes.sizeof(got))
        except BaseException:
            if owned:
                ctx.close()
            raise
        self.d_model, self.heads, self.d_ff, self.layers = (got.d_model, got.heads, got.d_ff,
                                                            got.layers)

    @property
    def context(self):
        return self._ctx

    def _drop_graph(self):
        lib = _lib.lib()
        if self._graph:
            _, g, x, kp = self._graph[:4]
            lib.clf_graph_destroy(g)
            lib.clf_tensor_destroy(x)
            lib.clf_tensor_destroy(kp)
            self._graph = None

    def _tensor(self, dtype, shape):
        ctx = self._ctx
        t = ctypes.c_void_p()
        dims = (ctypes.c_int64 * len(shape))(*shape)
        check(_lib.lib().clf_tensor_create(ctx._handle(), dtype, len(shape), dims,
                                           ctypes.byref(t)), ctx.last_error)
        return t

    def _record(self, batch, seq, masked, x_host, kp_host):
        """The graph of this shape (one kept: the latest), its inputs written."""
        lib = _lib.lib()
        ctx = self._ctx
        key = (batch, seq, masked)
        if self._graph and self._graph[0] != key:
            self._drop_graph()
        if not self._graph:
            x = self._tensor(_lib.F32, (batch, seq, self.d_model))
            kp = None
            try:
                kp = self._tensor(_lib.I32, (batch, seq)) if masked else ctypes.c_void_p()
                g = ctypes.c_void_p()
                check(lib.clf_graph_create(ctx._handle(), ctypes.byref(g)), ctx.last_error)
            except BaseException:
                lib.clf_tensor_destroy(x)
                if kp:
                    lib.clf_tensor_destroy(kp)
                raise
            self._graph = [key, g, x, kp]  # and the output, once recorded
            self._write(x_host, kp_host)
            if self._calibrate:
                # `clformer run`'s way: the quantiser's free parameters from
                # the first input's activations
                st = lib.clf_encoder_calibrate(self._ptr, x, kp)
                if st != _lib.OK:
                    self._drop_graph()
                check(st, ctx.last_error)
                self._calibrate = False
            y = ctypes.c_void_p()
            st = lib.clf_encoder_forward(self._ptr, g, x, kp, ctypes.byref(y))
            if st != _lib.OK:
                self._drop_graph()
            check(st, ctx.last_error)
            self._graph.append(y)
        else:
            self._write(x_host, kp_host)
        return self._graph[4]

    def _write(self, x_host, kp_host):
        lib = _lib.lib()
        _, _, x, kp = self._graph[:4]
        check(lib.clf_tensor_write(x, x_host.ctypes.data, x_host.nbytes), self._ctx.last_error)
        if kp_host is not None:
            check(lib.clf_tensor_write(kp, kp_host.ctypes.data, kp_host.nbytes),
                  self._ctx.last_error)

    def forward(self, x, mask=None):
        """y = encoder(x): x float32 [batch, seq, d_model] (or [seq, d_model],
        one sequence, giving y of that shape); mask [batch, seq] (or [seq])
        of bools or integers, True / nonzero for a padding key (PyTorch's
        src_key_padding_mask), or None. Returns a new float32 array."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            raise ShapeError("x must be a numpy float32 array, not %s"
                             % (x.dtype if isinstance(x, np.ndarray) else type(x).__name__))
        one = x.ndim == 2
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model or 0 in x.shape:
            raise ShapeError("x has shape %s: [batch, seq, %d] or [seq, %d] (nonempty) needed"
                             % (x.shape, self.d_model, self.d_model))
        xs = np.ascontiguousarray(x[None] if one else x)
        batch, seq = xs.shape[:2]
        kp = None
        if mask is not None:
            m = mask
            if not isinstance(m, np.ndarray) or not (m.dtype == np.bool_ or
                                                     np.issubdtype(m.dtype, np.integer)):
                raise ShapeError("mask must be a numpy array of bools or integers, not %s"
                                 % (m.dtype if isinstance(m, np.ndarray) else type(m).__name__))
            if m.shape != x.shape[:-1] and m.shape != (batch, seq):
                raise ShapeError("mask has shape %s, x %s: [batch, seq] needed"
                                 % (m.shape, x.shape))
            kp = np.ascontiguousarray((m != 0).reshape(batch, seq), dtype=np.int32)
        lib = _lib.lib()
        with self._ctx._lock:
            if not self._ptr:
                raise StateError("the encoder is closed")
            y_t = self._record(batch, seq, kp is not None, xs, kp)
            check(lib.clf_graph_run(self._graph[1]), self._ctx.last_error)
            y = np.empty((batch, seq, self.d_model), dtype=np.float32)
            check(lib.clf_tensor_read(y_t, y.ctypes.data, y.nbytes), self._ctx.last_error)
        return y[0] if one else y

    __call__ = forward

    def close(self):
        """Frees the weights on the device (and the encoder's own context)."""
        ctx = self._ctx
        if ctx is None:
            return
        with ctx._lock:
            if self._ptr:
                self._drop_graph()
                _lib.lib().clf_encoder_destroy(self._ptr)
                self._ptr = None
                ctx._release()
        if self._owns_ctx:
            ctx.close()
