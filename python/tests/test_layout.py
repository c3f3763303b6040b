"""The ctypes mirrors of the public structs (clformer/_lib.py) against the
C compiler: sizeof of each struct and offsetof of each field, printed by a
small C program built here against include/. A field added, moved or
retyped in a header, and not in the mirror, fails this test (and a field
the mirror names that the header lacks fails the compile)."""
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
