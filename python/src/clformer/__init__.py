"""clformer: Python bindings of libclformer (OpenCL transformer inference).

    import clformer
    model = clformer.SentenceEncoder("path/to/all-MiniLM-L6-v2")
    emb = model.encode(["A man is eating food.", "A man is riding a horse."])
    model.similarity(emb, emb)

A thin layer over the library's public C API (ctypes): tokenising, batching,
pooling and the folder's configuration all happen in the library, as in
`clformer embed`. The library is found through $CLFORMER_LIBRARY, else the
system's loader, else pkg-config (python/README.md).
"""
from ._context import Context, DeviceGroup, devices
from ._encoder import Encoder
from ._errors import (BuildError, CommError, DeviceSpecError, Error, FormatError,
                      InvalidArgError, IOError_ as IOError, LibraryNotFoundError, NoDeviceError,
                      NumericError, OpenCLError, OutOfMemoryError, ShapeError, StateError,
                      UnsupportedError)
from ._sentence import SentenceEncoder

__version__ = "0.1.0"


def library_path():
    """The libclformer file in use (loading it if needed)."""
    from . import _lib
    return _lib.path()


def default_model_dir():
    """Where clformer's default model lives, as `clformer embed` takes it:
    $CLFORMER_MODEL_DIR, else ${XDG_CACHE_HOME:-~/.cache}/clformer/models/
    all-MiniLM-L6-v2 (tools/fetch_model.sh puts it there); not checked."""
    import ctypes
    from . import _lib
    buf = ctypes.create_string_buffer(8192)
    if _lib.lib().clf_default_model_dir(buf, len(buf)) != _lib.OK:
        raise InvalidArgError("the default model's path is too long")
    return _lib.text(buf.value)


def library_version():
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    from . import _lib
    return _lib.text(_lib.lib().clf_version())


__all__ = ["Context", "DeviceGroup", "devices", "Encoder", "SentenceEncoder", "Error",
           "InvalidArgError", "ShapeError", "NoDeviceError", "DeviceSpecError",
           "OutOfMemoryError", "BuildError", "OpenCLError", "IOError", "FormatError",
           "UnsupportedError", "StateError", "NumericError", "CommError",
           "LibraryNotFoundError", "default_model_dir", "library_path", "library_version"]
