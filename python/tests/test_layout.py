"""The ctypes mirrors of the public structs (clformer/_lib.py) against the
C compiler: sizeof of each struct and offsetof of each field, printed by a
small C program built here against include/. A field added, moved or
retyped in a header, and not in the mirror, fails this test (and a field
the mirror names that the header lacks fails the compile). And the
prototypes the package declares against the headers' declarations."""
import ctypes
import os
import shutil
import subprocess

import pytest

from clformer import _lib
from conftest import SRC


def c_program():
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <clformer.h>",
             "int main(void)", "{"]
    for cname, cls in _lib.STRUCTS.items():
        lines.append('    printf("%s %%zu\\n", sizeof(struct %s));' % (cname, cname))
        for f in cls._fields_:
            lines.append('    printf("%s.%s %%zu\\n", offsetof(struct %s, %s));'
                         % (cname, f[0], cname, f[0]))
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


def ctypes_layout():
    out = []
    for cname, cls in _lib.STRUCTS.items():
        out.append("%s %d" % (cname, ctypes.sizeof(cls)))
        out += ["%s.%s %d" % (cname, f[0], getattr(cls, f[0]).offset) for f in cls._fields_]
    return out


def test_structs_match_the_headers(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    src = tmp_path / "layout.c"
    src.write_text(c_program())
    exe = tmp_path / "layout"
    r = subprocess.run([cc, "-std=c11", "-I", os.path.join(SRC, "include"), str(src), "-o",
                        str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    c = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    py = ctypes_layout()
    assert [line for line in c if line] == py


def test_every_params_struct_has_its_size_first():
    """The ABI rule (core.h): params structs begin with size_t size, and the
    package sets it from its init function (checked here on each)."""
    lib = _lib.lib()
    for cls, init in ((_lib.CtxParams, lib.clf_ctx_params_init),
                      (_lib.TokenizerParams, lib.clf_tokenizer_params_init),
                      (_lib.EmbedParams, lib.clf_embed_params_init),
                      (_lib.EncoderConfig, lib.clf_encoder_config_init)):
        assert cls._fields_[0] == ("size", ctypes.c_size_t)
        p = cls()
        init(ctypes.byref(p), ctypes.sizeof(p))
        assert p.size == ctypes.sizeof(cls)


def header_prototypes():
    """name -> (return type, [parameter types]) of every CLF_API function
    of include/clformer/*.h, as C text."""
    import glob
    import re
    protos = {}
    for h in glob.glob(os.path.join(SRC, "include", "clformer", "*.h")):
        text = open(h).read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        for m in re.finditer(r"CLF_API\s+([^;{]*?)\b(clf_\w+)\s*\(([^)]*)\)\s*;", text):
            params = [p.strip() for p in m.group(3).split(",")]
            if params == ["void"]:
                params = []
            # a parameter's type: its text less the name (a function pointer has none here)
            types = [re.sub(r"\s*\b\w+$", "", p) if not p.endswith("*") else p for p in params]
            protos[m.group(2)] = (" ".join(m.group(1).split()), types)
    return protos


def ctypes_matches(c_type, ct):
    """Whether a ctypes type stands for a C type of the headers."""
    import re
    t = re.sub(r"\s*\*\s*", "*", " ".join(re.sub(r"\bconst\b", " ", c_type).split()))
    scalars = {"int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "size_t": ctypes.c_size_t,
               "bool": ctypes.c_bool, "int": ctypes.c_int, "unsigned": ctypes.c_uint,
               "float": ctypes.c_float, "int32_t": ctypes.c_int32, "void": None}
    if t.startswith("enum ") and "*" not in t:
        return ct is ctypes.c_int
    if t in scalars:
        return ct is scalars[t]
    if t == "char*":
        return ct is ctypes.c_char_p
    if t == "char**":
        return ct == ctypes.POINTER(ctypes.c_char_p)
    if t == "void*":
        return ct is ctypes.c_void_p
    if t.startswith("struct ") and t.endswith("**"):  # an object's out pointer
        inner = t[len("struct "):-2]
        if inner in _lib.STRUCTS:
            return ct == ctypes.POINTER(ctypes.POINTER(_lib.STRUCTS[inner]))
        return ct == ctypes.POINTER(ctypes.c_void_p)
    if t.startswith("struct ") and t.endswith("*"):
        inner = t[len("struct "):-1]
        if inner in _lib.STRUCTS:  # a mirrored struct, by its own pointer
            return ct == ctypes.POINTER(_lib.STRUCTS[inner])
        return ct is ctypes.c_void_p  # an opaque object
    if t.endswith("*") and t[:-1] in scalars:
        return ct == ctypes.POINTER(scalars[t[:-1]])
    return False


def test_prototypes_match_the_headers():
    """Each function the package calls: as many parameters as its header
    declares, each of a ctypes type that stands for the C one (an int64_t
    is not passed as an int, a mirrored struct only by its own pointer)."""
    protos = header_prototypes()
    for name, (restype, argtypes) in _lib._PROTOTYPES.items():
        assert name in protos, name
        c_ret, c_params = protos[name]
        assert len(c_params) == len(argtypes), (name, c_params)
        for c, ct in zip(c_params, argtypes):
            assert ctypes_matches(c, ct), (name, c, ct)
        assert ctypes_matches(c_ret, restype), (name, c_ret, restype)
