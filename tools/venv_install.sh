#!/bin/sh
# Installs PyPI wheels into a new virtual environment DIR/venv, for the
# tools/fetch_intel_*.sh scripts:
#
#   tools/venv_install.sh TAG DIR LIB WHEEL...
#
# The wheels go into a folder next to DIR (DIR.tmp.PID), which replaces DIR
# once they are installed and hold LIB (a path inside the venv, e.g.
# lib/libintelocl.so), so an interrupted install leaves nothing half-made.
# Needs python3 with venv and pip (Debian: python3-venv); no root. Exits 1
# with one line on stderr, prefixed by TAG, when the wheels cannot be
# installed (offline, or no wheel for this machine).
set -eu
tag=$1 dir=$2 lib=$3
shift 3

mkdir -p "$(dirname "$dir")"
stage="$dir.tmp.$$"
trap 'rm -rf "$stage" "$stage.log"' EXIT INT TERM
if ! python3 -m venv "$stage/venv" >"$stage.log" 2>&1; then
    echo "$tag: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
if ! "$stage/venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries 1 \
    --timeout 60 "$@" >"$stage.log" 2>&1; then
    echo "$tag: cannot install $1 from PyPI (offline, or not x86-64 Linux):" \
        "$(tail -n 1 "$stage.log")" >&2
    exit 1
fi
if [ ! -f "$stage/venv/$lib" ]; then
    echo "$tag: the wheels hold no $lib (was a version changed?)" >&2
    exit 1
fi
# An existing folder (an earlier, interrupted or older install) is replaced.
rm -rf "$dir"
mv "$stage" "$dir"
