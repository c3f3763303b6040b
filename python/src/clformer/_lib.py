"""libclformer through ctypes: finding the library, the public structs
mirrored field for field (tests/test_layout.py compares them with the C
compiler's sizeof and offsetof), and the prototypes of the functions used.

ctypes.CDLL releases the GIL for the whole of every foreign call, so device
work in one thread lets other Python threads run.
"""
import ctypes
import ctypes.util
import os
import shutil
import subprocess
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double,
                    c_float, c_int, c_int64, c_size_t, c_uint, c_uint64, c_void_p)

from ._errors import LibraryNotFoundError

# enum clf_status, enum clf_dtype, enum clf_log_level (include/clformer/core.h, ops.h)
OK = 0
F32, I32 = 0, 3
LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR = 0, 1, 2, 3
ACTQ_NONE = 0


class DeviceInfo(Structure):
    """struct clf_device_info."""
    _fields_ = [("platform_index", c_int), ("device_index", c_int),
                ("platform_name", c_char * 128), ("platform_vendor", c_char * 128),
                ("platform_version", c_char * 128), ("name", c_char * 256),
                ("vendor", c_char * 128), ("driver_version", c_char * 128),
                ("version", c_char * 128), ("c_version", c_char * 128),
                ("c_major", c_int), ("c_minor", c_int), ("type", c_int),
                ("compute_units", c_uint), ("clock_mhz", c_uint),
                ("global_mem_bytes", c_uint64), ("local_mem_bytes", c_uint64),
                ("local_mem_dedicated", c_bool), ("constant_mem_bytes", c_uint64),
                ("max_alloc_bytes", c_uint64), ("max_work_group_size", c_size_t),
                ("mem_base_align_bits", c_uint),
                ("vec_char", c_uint), ("vec_short", c_uint), ("vec_int", c_uint),
                ("vec_long", c_uint), ("vec_float", c_uint), ("vec_double", c_uint),
                ("vec_half", c_uint),
                ("fp16", c_bool), ("fp64", c_bool), ("subgroups", c_bool),
                ("int_dot_product", c_bool), ("command_buffer", c_bool),
                ("out_of_order_queue", c_bool), ("profiling", c_bool)]


LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_int, c_int, c_char_p)


class CtxParams(Structure):
    """struct clf_ctx_params."""
    _fields_ = [("size", c_size_t), ("device", c_char_p), ("cache_dir", c_char_p),
                ("disk_cache", c_bool), ("cl_dir", c_char_p), ("log_fn", LOG_FN),
                ("log_user", c_void_p), ("log_level", c_int), ("progress_fn", PROGRESS_FN),
                ("progress_user", c_void_p), ("pool_max_bytes", c_size_t),
                ("profiling", c_bool), ("gemm_provider", c_int), ("queues", c_int),
                ("command_buffers", c_bool), ("tune_mode", c_int),
                ("program_binaries", c_int)]


class TokenizerParams(Structure):
    """struct clf_tokenizer_params."""
    _fields_ = [("size", c_size_t), ("lower_case", c_bool), ("max_length", c_int64),
                ("max_word_chars", c_int64), ("vocab_limit", c_int64)]


class EmbedParams(Structure):
    """struct clf_embed_params."""
    _fields_ = [("size", c_size_t), ("batch", c_int64), ("max_batch_tokens", c_int64),
                ("prompt", c_char_p), ("pool_prompt", c_bool),
                ("text_lengths", POINTER(c_size_t))]


class AttentionVariant(Structure):
    """struct clf_attention_variant."""
    _fields_ = [("sparsity", c_int), ("threshold", c_float), ("renormalize", c_bool),
                ("topk", c_int64), ("window_left", c_int64), ("window_right", c_int64),
                ("global_tokens", c_int64), ("rank", c_int64), ("projection", c_int),
                ("seed", c_uint64), ("iters", c_int), ("randomized", c_bool),
                ("oversample", c_int64)]


class FfnFactor(Structure):
    """struct clf_ffn_factor."""
    _fields_ = [("format", c_int), ("rank", c_int64), ("eps", c_double),
                ("oversample", c_int64), ("power_iters", c_int), ("seed", c_uint64),
                ("tt_cores", c_int)]


ACTQ_MAX_STEPS = 16


class Actq(Structure):
    """struct clf_actq."""
    _fields_ = [("kind", c_int), ("bits", c_int), ("is_signed", c_bool), ("alpha", c_float),
                ("step", c_float), ("clip", c_float), ("breakpoint", c_float),
                ("n_thresholds", c_int), ("thresholds", c_float * (ACTQ_MAX_STEPS - 1)),
                ("levels", c_float * ACTQ_MAX_STEPS)]


class EncoderConfig(Structure):
    """struct clf_encoder_config."""
    _fields_ = [("size", c_size_t), ("d_model", c_int64), ("heads", c_int64),
                ("d_ff", c_int64), ("layers", c_int64), ("act", c_int), ("eps", c_float),
                ("norm_first", c_bool), ("attn_impl", c_int), ("attn", AttentionVariant),
                ("kv", c_int), ("attn_p", c_int), ("attn_p_bits", c_int),
                ("linear_int8", c_bool), ("ffn", FfnFactor), ("drop_dense", c_bool),
                ("ffn_act", Actq), ("precision", c_int), ("attn_q_int8", c_bool)]


GATHER_FN = CFUNCTYPE(c_bool, c_void_p, POINTER(c_float), POINTER(c_size_t), c_bool)


class DpComm(Structure):
    """struct clf_dp_comm."""
    _fields_ = [("rank", c_int), ("size", c_int), ("gather", GATHER_FN), ("user", c_void_p)]


# Every struct mirrored here, by its C name (for the layout test).
STRUCTS = {"clf_device_info": DeviceInfo, "clf_ctx_params": CtxParams,
           "clf_tokenizer_params": TokenizerParams, "clf_embed_params": EmbedParams,
           "clf_attention_variant": AttentionVariant, "clf_ffn_factor": FfnFactor,
           "clf_actq": Actq, "clf_encoder_config": EncoderConfig, "clf_dp_comm": DpComm}

P = c_void_p  # an opaque object of the library
status = c_int
_PROTOTYPES = {
    "clf_status_str": (c_char_p, [status]),
    "clf_version": (c_char_p, []),
    "clf_device_type_str": (c_char_p, [c_int]),
    "clf_devices_query": (status, [POINTER(POINTER(DeviceInfo)), POINTER(c_size_t)]),
    "clf_devices_free": (None, [POINTER(DeviceInfo)]),
    "clf_device_find": (status, [c_char_p, POINTER(DeviceInfo), c_char_p, c_size_t]),
    "clf_ctx_params_init": (None, [POINTER(CtxParams), c_size_t]),
    "clf_ctx_create": (status, [POINTER(CtxParams), POINTER(P)]),
    "clf_ctx_destroy": (None, [P]),
    "clf_ctx_last_error": (c_char_p, [P]),
    "clf_ctx_device_info": (status, [P, POINTER(DeviceInfo)]),
    "clf_group_create": (status, [c_char_p, POINTER(CtxParams), POINTER(P), c_char_p,
                                  c_size_t]),
    "clf_group_destroy": (None, [P]),
    "clf_group_size": (c_int, [P]),
    "clf_group_ctx": (P, [P, c_int]),
    "clf_tensor_create": (status, [P, c_int, c_int, POINTER(c_int64), POINTER(P)]),
    "clf_tensor_destroy": (None, [P]),
    "clf_tensor_write": (status, [P, c_void_p, c_size_t]),
    "clf_tensor_read": (status, [P, c_void_p, c_size_t]),
    "clf_graph_create": (status, [P, POINTER(P)]),
    "clf_graph_destroy": (None, [P]),
    "clf_graph_run": (status, [P]),
    "clf_encoder_config_option": (status, [POINTER(EncoderConfig), c_char_p, c_char_p,
                                           c_char_p, c_size_t]),
    "clf_encoder_config_init": (None, [POINTER(EncoderConfig), c_size_t]),
    "clf_encoder_config_of": (None, [P, POINTER(EncoderConfig), c_size_t]),
    "clf_encoder_create_random": (status, [P, POINTER(EncoderConfig), c_uint64, POINTER(P)]),
    "clf_encoder_load": (status, [P, POINTER(EncoderConfig), c_char_p, POINTER(P)]),
    "clf_encoder_destroy": (None, [P]),
    "clf_encoder_forward": (status, [P, P, P, P, POINTER(P)]),
    "clf_encoder_calibrate": (status, [P, P, P]),
    "clf_tokenizer_params_init": (None, [POINTER(TokenizerParams), c_size_t]),
    "clf_tokenizer_load": (status, [P, c_char_p, POINTER(TokenizerParams), POINTER(P)]),
    "clf_tokenizer_destroy": (None, [P]),
    "clf_default_model_dir": (status, [c_char_p, c_size_t]),
    "clf_sentence_folder_load": (status, [c_char_p, POINTER(P), c_char_p, c_size_t]),
    "clf_sentence_folder_destroy": (None, [P]),
    "clf_sentence_folder_model_dir": (c_char_p, [P]),
    "clf_sentence_folder_tokenizer_file": (c_char_p, [P]),
    "clf_sentence_folder_include_prompt": (c_bool, [P]),
    "clf_sentence_folder_similarity": (c_char_p, [P]),
    "clf_sentence_folder_tokenizer_params": (status, [P, POINTER(TokenizerParams)]),
    "clf_sentence_folder_prompt_count": (c_size_t, [P]),
    "clf_sentence_folder_prompt_name": (c_char_p, [P, c_size_t]),
    "clf_sentence_folder_default_prompt": (c_char_p, [P]),
    "clf_sentence_folder_prompt": (c_char_p, [P, c_char_p]),
    "clf_dp_create_bert_rank": (status, [P, c_char_p, POINTER(EncoderConfig), POINTER(DpComm),
                                         POINTER(P)]),
    "clf_dp_create_bert": (status, [P, c_char_p, POINTER(EncoderConfig), POINTER(P)]),
    "clf_dp_members": (c_int, [P]),
    "clf_dp_destroy": (None, [P]),
    "clf_dp_set_folder": (status, [P, P, c_uint, c_int, c_int64]),
    "clf_dp_embed_dim": (c_int64, [P]),
    "clf_embed_params_init": (None, [POINTER(EmbedParams), c_size_t]),
    "clf_dp_embed_texts": (status, [P, P, POINTER(c_char_p), c_size_t, POINTER(EmbedParams),
                                    POINTER(c_float), POINTER(c_size_t), POINTER(c_bool)]),
}

_lib = None
_lib_lock = threading.Lock()


def _pkg_config_libdir():
    """pkg-config's libdir of clformer, or None."""
    exe = shutil.which("pkg-config")
    if not exe:
        return None
    try:
        r = subprocess.run([exe, "--variable=libdir", "clformer"], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def _candidates():
    """Where to look, in order: $CLFORMER_LIBRARY, the system's search, pkg-config."""
    env = os.environ.get("CLFORMER_LIBRARY")
    if env:
        return [env], True
    found = []
    name = ctypes.util.find_library("clformer")
    if name:
        found.append(name)
    libdir = _pkg_config_libdir()
    if libdir:
        found += [os.path.join(libdir, n) for n in ("libclformer.so.0", "libclformer.so")]
    return found, False


def lib():
    """The loaded library, its prototypes set (loaded once, at first use)."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        paths, from_env = _candidates()
        how = ("set CLFORMER_LIBRARY to the path of libclformer.so (the build tree's "
               "build/libclformer.so, or the installed one), or install the library "
               "(meson install -C build) where the system's loader or pkg-config finds it")
        errors = []
        for path in paths:
            try:
                handle = ctypes.CDLL(path)
                break
            except OSError as e:
                errors.append("%s: %s" % (path, e))
        else:
            if from_env:
                raise LibraryNotFoundError("CLFORMER_LIBRARY=%s cannot be loaded (%s): %s"
                                           % (paths[0], "; ".join(errors), how))
            raise LibraryNotFoundError("libclformer was not found%s: %s"
                                       % (" (" + "; ".join(errors) + ")" if errors else "", how))
        for fn, (restype, argtypes) in _PROTOTYPES.items():
            try:
                f = getattr(handle, fn)
            except AttributeError:
                raise LibraryNotFoundError("%s has no %s: a libclformer older than this "
                                           "package (%s)" % (handle._name, fn, how)) from None
            f.restype = restype
            f.argtypes = argtypes
        _lib = handle
        return _lib


def path():
    """The file the library was loaded from."""
    return lib()._name


def status_str(st):
    return lib().clf_status_str(st).decode()


def text(b):
    """A C string the library returned, as str (None stays None)."""
    return None if b is None else b.decode("utf-8", "replace")


def msg_buffer():
    """A buffer for the msg arguments of the folder and parser functions."""
    return ctypes.create_string_buffer(1024)
