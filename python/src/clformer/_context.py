"""Devices and contexts (include/clformer/core.h)."""
import ctypes
import logging
import threading

from . import _lib
from ._errors import StateError, error_for

log = logging.getLogger("clformer")
_PY_LEVEL = {_lib.LOG_DEBUG: logging.DEBUG, _lib.LOG_INFO: logging.INFO,
             _lib.LOG_WARN: logging.WARNING, _lib.LOG_ERROR: logging.ERROR}


def check(st, message):
    """Raises the exception of a non-OK status; message is a callable giving
    the library's text (called only on failure)."""
    if st != _lib.OK:
        m = message() or _lib.status_str(st)
        raise error_for(st, m)


def _device_dict(d):
    lib = _lib.lib()
    s = lambda b: b.decode("utf-8", "replace")  # noqa: E731
    return {
        "id": "%d:%d" % (d.platform_index, d.device_index),
        "platform_index": d.platform_index, "device_index": d.device_index,
        "platform_name": s(d.platform_name), "platform_vendor": s(d.platform_vendor),
        "platform_version": s(d.platform_version), "name": s(d.name), "vendor": s(d.vendor),
        "type": _lib.text(lib.clf_device_type_str(d.type)),
        "driver_version": s(d.driver_version), "opencl_version": s(d.version),
        "opencl_c_version": s(d.c_version), "compute_units": d.compute_units,
        "clock_mhz": d.clock_mhz, "global_mem_bytes": d.global_mem_bytes,
        "local_mem_bytes": d.local_mem_bytes, "local_mem_dedicated": d.local_mem_dedicated,
        "constant_mem_bytes": d.constant_mem_bytes, "max_alloc_bytes": d.max_alloc_bytes,
        "max_work_group_size": d.max_work_group_size,
        "mem_base_align_bits": d.mem_base_align_bits,
        "preferred_vector_width": {k: getattr(d, "vec_" + k) for k in
                                   ("char", "short", "int", "long", "float", "double", "half")},
        "fp16": d.fp16, "fp64": d.fp64, "subgroups": d.subgroups,
        "integer_dot_product": d.int_dot_product, "command_buffer": d.command_buffer,
        "out_of_order_queue": d.out_of_order_queue, "profiling": d.profiling,
    }


def devices():
    """Every OpenCL device, as `clformer devices --json` lists them: a list of
    dicts (id "P:D", name, platform_name, type, ...). Raises NoDeviceError
    when there is none."""
    lib = _lib.lib()
    arr = ctypes.POINTER(_lib.DeviceInfo)()
    n = ctypes.c_size_t()
    st = lib.clf_devices_query(ctypes.byref(arr), ctypes.byref(n))
    try:
        check(st, lambda: "no OpenCL device (is an OpenCL driver installed? clinfo lists them)")
        return [_device_dict(arr[i]) for i in range(n.value)]
    finally:
        lib.clf_devices_free(arr)


def _log_handler(errors):
    """A clf_log_fn passing messages to the "clformer" logger; while
    errors[0] is a list (the context's creation), errors go there instead,
    for the exception. A closure, not a method: the context must not refer
    to itself."""
    def handler(user, level, msg):
        text = _lib.text(msg)
        if errors[0] is not None and level >= _lib.LOG_ERROR:
            errors[0].append(text)
        else:
            log.log(_PY_LEVEL.get(level, logging.ERROR), "%s", text)
    return handler


class Closeable:
    """close() at the end of a `with` block and when collected."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to do
            pass


class _Devices(Closeable):
    """What Context and DeviceGroup share: the library's handle, a lock that
    every call on it or on an object made on it takes (the library's rule:
    one thread at a time), and a count of those objects, which keep the
    device until they are closed too."""

    _what = "context"

    def _start(self):
        self._ptr = None
        self._lock = threading.RLock()
        self._users = 0          # objects made on it and not yet closed
        self._closing = False

    @staticmethod
    def _params(log_fn, device=None):
        p = _lib.CtxParams()
        _lib.lib().clf_ctx_params_init(ctypes.byref(p), ctypes.sizeof(p))
        if device is not None:
            if not isinstance(device, str):
                raise TypeError("a device spec is a string, not %s" % type(device).__name__)
            p.device = device.encode()
        p.log_fn = log_fn
        return p

    @property
    def closed(self):
        return self._closing

    def _handle(self):
        if self._closing or not self._ptr:
            raise StateError("the %s is closed" % self._what)
        return self._ptr

    def _retain(self):
        """An object made on it (closed with _release)."""
        with self._lock:
            self._handle()
            self._users += 1

    def _release(self):
        with self._lock:
            self._users -= 1
            self._destroy_if_unused()

    def _destroy_if_unused(self):
        if self._closing and self._users == 0 and self._ptr:
            self._destroy(self._ptr)
            self._ptr = None

    def close(self):
        """Closes it: no new object can be made on it; the devices are
        released once the objects made on it are closed too."""
        with self._lock:
            self._closing = True
            self._destroy_if_unused()


class Context(_Devices):
    """One OpenCL device with its queues, kernel programs and caches
    (struct clf_ctx). `device` takes the device spec of the command line and
    of CLFORMER_DEVICE: "auto", "cpu", "gpu:1", an id "P:D" from devices(),
    or a part of a device's or platform's name; None (the default) means
    $CLFORMER_DEVICE, else "auto", as every command of the CLI.

    A context and everything made on it are used by one thread at a time
    (the library's rule): each Context holds a lock that every call on it or
    on an object made on it takes, so sharing one between threads is safe
    but serial. Two contexts run in parallel. The library's log messages go
    to the "clformer" logger of the logging module.
    """

    def __init__(self, device=None):
        lib = _lib.lib()
        self._start()
        # The library's log messages; failures before the context exists are
        # reported only this way, so they become the exception's text.
        errors = [[]]
        self._log_fn = _lib.LOG_FN(_log_handler(errors))
        p = self._params(self._log_fn, device)
        ptr = ctypes.c_void_p()
        st = lib.clf_ctx_create(ctypes.byref(p), ctypes.byref(ptr))
        check(st, lambda: "; ".join(errors[0]))
        self._ptr = ptr
        errors[0] = None
        info = _lib.DeviceInfo()
        check(lib.clf_ctx_device_info(ptr, ctypes.byref(info)), self.last_error)
        self.device = _device_dict(info)

    def _ctx(self):
        """The clf_ctx for calls that take one."""
        return self._handle()

    def _destroy(self, ptr):
        _lib.lib().clf_ctx_destroy(ptr)

    def last_error(self):
        """The message of the last failure on this context ("" when none)."""
        return _lib.text(_lib.lib().clf_ctx_last_error(self._ptr)) if self._ptr else ""

    def __repr__(self):
        return "<clformer.Context %s %r%s>" % (self.device["id"], self.device["name"],
                                               " closed" if self._closing else "")


class DeviceGroup(_Devices):
    """Several devices, a context each (struct clf_group), for a
    SentenceEncoder that deals its batches over them (data parallel, as
    `clformer embed --devices LIST`): `spec` is "all" or a comma-separated
    list of device specs ("cpu:0,cpu:1", "0:0,0:1"). `devices` lists the
    members (dicts as devices() gives). Used by one thread at a time, as a
    Context (the library runs the members in threads of its own)."""

    _what = "device group"

    def __init__(self, spec):
        lib = _lib.lib()
        self._start()
        self._log_fn = _lib.LOG_FN(_log_handler([None]))
        if not isinstance(spec, str):
            raise TypeError("a device list is a string, not %s" % type(spec).__name__)
        p = self._params(self._log_fn)
        ptr = ctypes.c_void_p()
        msg = _lib.msg_buffer()
        st = lib.clf_group_create(spec.encode(), ctypes.byref(p), ctypes.byref(ptr), msg,
                                  len(msg))
        check(st, lambda: _lib.text(msg.value))
        self._ptr = ptr
        self.devices = []
        for i in range(lib.clf_group_size(ptr)):
            info = _lib.DeviceInfo()
            check(lib.clf_ctx_device_info(lib.clf_group_ctx(ptr, i), ctypes.byref(info)),
                  self.last_error)
            self.devices.append(_device_dict(info))
        self.device = {"id": ",".join(d["id"] for d in self.devices)}

    def _ctx(self):
        """The first member's context: tokenizers are made on it, and the
        group's errors are reported there."""
        return _lib.lib().clf_group_ctx(self._handle(), 0)

    def _destroy(self, ptr):
        _lib.lib().clf_group_destroy(ptr)

    def last_error(self):
        """The message of the group's last failure ("" when none)."""
        lib = _lib.lib()
        return _lib.text(lib.clf_ctx_last_error(lib.clf_group_ctx(self._ptr, 0))) \
            if self._ptr else ""

    def __repr__(self):
        return "<clformer.DeviceGroup %s%s>" % (self.device["id"],
                                               " closed" if self._closing else "")
