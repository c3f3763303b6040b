#!/usr/bin/env python3
"""Writes the seed corpus of small .npy and safetensors files used by
test/test-io.c (test_corpus) and as seed inputs for fuzzing the readers.

    python3 test/corpus/make_corpus.py    # rewrites test/corpus/{npy,safetensors}/

Standard library only (no NumPy): the .npy headers are built exactly as
numpy.lib.format writes them (sorted keys, the first dimension given room to
grow to 21 digits, the prefix padded with spaces and a newline to a multiple
of 64).

Naming: ok-*   must be accepted (.npy: read; safetensors: opened, and every
               tensor then reads or reports CLF_E_FORMAT for its dtype or
               rank);
        bad-*  must be rejected with CLF_E_FORMAT (safetensors: at open).
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
NPY_DIR = os.path.join(HERE, "npy")
ST_DIR = os.path.join(HERE, "safetensors")

MAGIC = b"\x93NUMPY"


def numpy_dict(descr="<f4", fortran=False, shape=()):
    """The header dict text numpy.save writes (before padding)."""
    text = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, tuple(shape))
    if len(shape) > 0:
        text += " " * (21 - len(repr(shape[-1 if fortran else 0])))
    return text


def npy_prefix(text, version=(1, 0), align=64):
    """Magic, version, header length, and the padded header."""
    text = text.encode("utf8" if version == (3, 0) else "latin1")
    fmt = "<H" if version == (1, 0) else "<I"
    hlen = len(text) + 1
    pad = align - ((len(MAGIC) + 2 + struct.calcsize(fmt) + hlen) % align)
    return MAGIC + bytes(version) + struct.pack(fmt, hlen + pad) + text + b" " * pad + b"\n"


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def ramp(n, scale=0.25):
    return [(i - n / 2) * scale for i in range(n)]


def npy_files():
    files = {}
    for name, shape in [("2x3", (2, 3)), ("5", (5,)), ("scalar", ()), ("4d", (1, 2, 3, 2)),
                        ("empty-0x3", (0, 3))]:
        files["ok-v1-%s.npy" % name] = npy_prefix(numpy_dict(shape=shape)) + f32(ramp(count(shape)))
    # NumPy before 1.14 aligned to 16 bytes and had no growth padding
    files["ok-v1-old16-2x3.npy"] = (
        npy_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", align=16)
        + f32(ramp(6)))
    files["ok-v2-3x1.npy"] = npy_prefix(numpy_dict(shape=(3, 1)), (2, 0)) + f32(ramp(3))
    files["ok-v3-2x2.npy"] = npy_prefix(numpy_dict(shape=(2, 2)), (3, 0)) + f32(ramp(4))
    files["ok-v1-reordered.npy"] = (
        npy_prefix('{ "shape" : ( 2 ,3 ,) ,\n "fortran_order":False, "descr":"<f4"}') + f32(ramp(6)))
    files["ok-v1-py2-long.npy"] = (
        npy_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }") + f32(ramp(4)))
    files["ok-v1-trailing-bytes.npy"] = npy_prefix(numpy_dict(shape=(2,))) + f32(ramp(2)) + b"xyz"

    good = npy_prefix(numpy_dict(shape=(2, 3))) + f32(ramp(6))
    files["bad-empty.npy"] = b""
    files["bad-magic.npy"] = b"\x93NUMPZ" + good[6:]
    files["bad-truncated-version.npy"] = good[:7]
    files["bad-truncated-length.npy"] = good[:9]
    files["bad-truncated-header.npy"] = good[:60]
    files["bad-hlen-beyond.npy"] = MAGIC + b"\x01\x00" + struct.pack("<H", 65535) + good[10:]
    files["bad-v2-hlen-huge.npy"] = MAGIC + b"\x02\x00" + struct.pack("<I", 0xFFFFFFFF) + good[10:]
    files["bad-version-4.npy"] = MAGIC + b"\x04\x00" + good[8:]
    files["bad-fortran.npy"] = npy_prefix(numpy_dict(fortran=True, shape=(2, 3))) + f32(ramp(6))
    files["bad-f8.npy"] = npy_prefix(numpy_dict(descr="<f8", shape=(2,))) + struct.pack("<2d", 1, 2)
    files["bad-be-f4.npy"] = npy_prefix(numpy_dict(descr=">f4", shape=(2,))) + struct.pack(">2f", 1, 2)
    files["bad-i4.npy"] = npy_prefix(numpy_dict(descr="<i4", shape=(2,))) + struct.pack("<2i", 1, 2)
    files["bad-neg-dim.npy"] = npy_prefix(numpy_dict(shape=(-1, 3))) + f32(ramp(3))
    files["bad-huge-dim.npy"] = npy_prefix(numpy_dict(shape=(10**20,))) + f32(ramp(3))
    files["bad-overflow.npy"] = npy_prefix(numpy_dict(shape=(2**40, 2**40))) + f32(ramp(3))
    files["bad-short-data.npy"] = npy_prefix(numpy_dict(shape=(2, 2))) + f32(ramp(3))
    files["bad-5d.npy"] = npy_prefix(numpy_dict(shape=(1, 1, 1, 1, 2))) + f32(ramp(2))
    files["bad-missing-shape.npy"] = npy_prefix("{'descr': '<f4', 'fortran_order': False, }")
    files["bad-dup-key.npy"] = npy_prefix(
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }") + f32([1])
    files["bad-unknown-key.npy"] = npy_prefix(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }") + f32([1])
    files["bad-unterminated.npy"] = npy_prefix("{'descr': '<f4, 'fortran_order': False")
    files["bad-list-shape.npy"] = npy_prefix(
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }") + f32([1, 2])
    files["bad-structured.npy"] = npy_prefix(
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }") + f32([1])
    return files


def st_file(header, data=b"", length=None):
    header = header.encode("utf8") if isinstance(header, str) else header
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def st_header(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, nbytes); contiguous offsets."""
    entries = {}
    if metadata is not None:
        entries["__metadata__"] = metadata
    off = 0
    for name, dtype, shape, nbytes in tensors:
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    text = json.dumps(entries, separators=(",", ":"), ensure_ascii=False)
    if pad:
        text += " " * (-len(text.encode("utf8")) % 8)
    return text


def st_files():
    files = {}
    data = f32(ramp(6)) + f32([1.5, -2.0, 0.25])
    files["ok-f32.safetensors"] = st_file(
        st_header([("w", "F32", (2, 3), 24), ("b", "F32", (3,), 12)], {"format": "pt"}), data)
    f16 = struct.pack("<4H", 0x3C00, 0xC000, 0x3800, 0x7BFF)        # 1, -2, 0.5, 65504
    bf16 = struct.pack("<2H", 0x3F80, 0xC040)                        # 1, -3
    f64 = struct.pack("<2d", 1.5, 0.1)
    i32 = struct.pack("<2i", 7, -7)
    u8 = b"\x01\x02\x03"
    files["ok-mixed.safetensors"] = st_file(
        st_header([("h", "F16", (2, 2), 8), ("bf", "BF16", (2,), 4), ("d", "F64", (2,), 16),
                   ("i", "I32", (2,), 8), ("u", "U8", (3,), 3)]),
        f16 + bf16 + f64 + i32 + u8)
    files["ok-empty.safetensors"] = st_file("{}      ")
    files["ok-scalar-zero.safetensors"] = st_file(
        st_header([("s", "F32", (), 4), ("z", "F32", (0, 4), 0)]), f32([3.0]))
    files["ok-5d.safetensors"] = st_file(
        st_header([("five", "F32", (1, 1, 1, 1, 2), 8), ("one", "F32", (2,), 8)]), f32(ramp(4)))
    files["ok-unicode-name.safetensors"] = st_file(
        st_header([("caf\u00e9.\"q\"\\", "F32", (1,), 4)]), f32([1.0]))

    one = '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    files["bad-short.safetensors"] = b"\x05\x00\x00\x00\x00"
    files["bad-hlen-2p60.safetensors"] = st_file(one, f32([1, 2]), length=2**60)
    files["bad-hlen-beyond.safetensors"] = st_file(one, f32([1, 2]), length=len(one) + 9)
    files["bad-not-json.safetensors"] = st_file('{"t": {"dtype": "F32",', f32([1, 2]))
    files["bad-array.safetensors"] = st_file("[1, 2, 3]")
    files["bad-no-dtype.safetensors"] = st_file(
        '{"t":{"shape":[2],"data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-no-shape.safetensors"] = st_file(
        '{"t":{"dtype":"F32","data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-no-offsets.safetensors"] = st_file('{"t":{"dtype":"F32","shape":[2]}}', f32([1, 2]))
    files["bad-dtype.safetensors"] = st_file(
        '{"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-offsets-beyond.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', f32([1, 2]))
    files["bad-offsets-reversed.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', f32([1, 2]))
    files["bad-offsets-mismatch.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-dup.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        '"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32([1, 2]))
    files["bad-neg-dim.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-float-dim.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-huge-shape.safetensors"] = st_file(
        '{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', f32([1, 2]))
    files["bad-metadata.safetensors"] = st_file(
        '{"__metadata__":{"n":1},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
        f32([1, 2]))
    files["bad-trailing.safetensors"] = st_file(one + " x", f32([1, 2]))
    files["bad-utf8.safetensors"] = st_file(
        b'{"t\xff":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32([1, 2]))
    return files


def write_all(directory, files):
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        if old.startswith(("ok-", "bad-")):
            os.remove(os.path.join(directory, old))
    for name, content in sorted(files.items()):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(content)


if __name__ == "__main__":
    write_all(NPY_DIR, npy_files())
    write_all(ST_DIR, st_files())
