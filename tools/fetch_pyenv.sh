#!/bin/sh
# Installs the Python packages the Python package's and the server's tests
# use (numpy, pytest, the official openai client, and a setuptools that
# builds wheels by itself, for the test of `pip install ./python` without
# build isolation: venv's own setuptools 65 needs the wheel package) once
# into a virtual environment in a cache folder, and prints that
# environment's python:
#
#   "$(tools/fetch_pyenv.sh)" -m pytest python/tests
#
# Folder: ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/pyenv-VERSION/venv, the
# wheels pinned below (about 160 MB installed). When the folder is complete
# nothing is downloaded; otherwise tools/venv_install.sh installs them into
# a new folder renamed into place. The library itself is not installed into
# it: the tests point the package at the build tree (python/README.md).
# Needs python3 with venv and pip (Debian: python3-venv); no root. Exits 1
# with one line on stderr when the wheels cannot be installed (offline).
set -eu

VERSION=2
WHEELS="numpy==2.4.6 pytest==9.2.0 openai==3.63.0 setuptools==84.2.1"

dir=${XDG_CACHE_HOME:-$HOME/.cache}/clformer/pyenv-$VERSION
py=$dir/venv/bin/python

if [ -x "$py" ] && [ -f "$dir/complete" ]; then
    echo "$py"
    exit 0
fi

# shellcheck disable=SC2086
"$(dirname "$0")/venv_install.sh" fetch_pyenv "$dir" bin/python $WHEELS
touch "$dir/complete"
echo "$py"
