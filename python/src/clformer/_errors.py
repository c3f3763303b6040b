"""The exceptions: clformer.Error and one subclass per enum clf_status,
each carrying the library's message. Subclasses also derive from the
built-in exception a Python caller would expect (ValueError for a bad
argument or shape, OSError for a file, ...)."""


class Error(Exception):
    """A libclformer call failed (or the package refused its arguments).
    `status` is the enum clf_status value (0 where the package itself
    refused), `status_name` its library name."""

    status = 0
    status_name = "error"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _kind(name, status, status_name, *bases, doc):
    return type(name, (Error,) + bases, {"status": status, "status_name": status_name,
                                        "__doc__": doc})


InvalidArgError = _kind("InvalidArgError", 1, "CLF_E_INVALID_ARG", ValueError,
                        doc="A NULL pointer or an out-of-range value (CLF_E_INVALID_ARG).")
ShapeError = _kind("ShapeError", 2, "CLF_E_SHAPE", ValueError,
                   doc="Shapes, strides or dtypes do not fit (CLF_E_SHAPE).")
NoDeviceError = _kind("NoDeviceError", 3, "CLF_E_NO_DEVICE", RuntimeError,
                      doc="No OpenCL platform or device (CLF_E_NO_DEVICE).")
DeviceSpecError = _kind("DeviceSpecError", 4, "CLF_E_DEVICE_SPEC", ValueError,
                        doc="A device spec that is unknown or ambiguous (CLF_E_DEVICE_SPEC).")
OutOfMemoryError = _kind("OutOfMemoryError", 5, "CLF_E_OUT_OF_MEMORY", MemoryError,
                         doc="A host or device allocation failed (CLF_E_OUT_OF_MEMORY).")
BuildError = _kind("BuildError", 6, "CLF_E_BUILD", RuntimeError,
                   doc="A kernel program failed to build (CLF_E_BUILD).")
OpenCLError = _kind("OpenCLError", 7, "CLF_E_OPENCL", RuntimeError,
                    doc="Another OpenCL call failed (CLF_E_OPENCL).")
IOError_ = _kind("IOError", 8, "CLF_E_IO", OSError,
                 doc="Reading or writing a file failed (CLF_E_IO).")
FormatError = _kind("FormatError", 9, "CLF_E_FORMAT", ValueError,
                    doc="A file or string is malformed (CLF_E_FORMAT).")
UnsupportedError = _kind("UnsupportedError", 10, "CLF_E_UNSUPPORTED", NotImplementedError,
                         doc="The device, build or package lacks a feature (CLF_E_UNSUPPORTED).")
StateError = _kind("StateError", 11, "CLF_E_STATE", RuntimeError,
                   doc="The object is not in a state to do this (CLF_E_STATE), e.g. closed.")
NumericError = _kind("NumericError", 12, "CLF_E_NUMERIC", ArithmeticError,
                     doc="A numerical method failed (CLF_E_NUMERIC).")
CommError = _kind("CommError", 13, "CLF_E_COMM", RuntimeError,
                  doc="An exchange between ranks failed (CLF_E_COMM).")
LibraryNotFoundError = _kind("LibraryNotFoundError", 0, "library not found", ImportError,
                             doc="libclformer could not be found or loaded.")

BY_STATUS = {c.status: c for c in (InvalidArgError, ShapeError, NoDeviceError, DeviceSpecError,
                                   OutOfMemoryError, BuildError, OpenCLError, IOError_,
                                   FormatError, UnsupportedError, StateError, NumericError,
                                   CommError)}


def error_for(status, message):
    """The exception of a non-OK status, with the library's message."""
    return BY_STATUS.get(status, Error)(message)
