#!/bin/sh
# The Python package's tests (python/tests, pytest) against this build:
#
#   python.sh LIBRARY CLFORMER SOURCE_DIR
#
# run by $CLFORMER_PYTHON (tools/fetch_pyenv.sh's environment: numpy,
# pytest; tools/dev.sh exports it), with CLFORMER_LIBRARY pointing the
# package at the built library and CLFORMER_CLI at the built command (the
# tests compare with it). Without CLFORMER_PYTHON the suite is skipped (77).
set -eu
if [ -z "${CLFORMER_PYTHON:-}" ]; then
    echo "python: CLFORMER_PYTHON is not set (\"\$(tools/fetch_pyenv.sh)\"): skipped"
    exit 77
fi
export CLFORMER_LIBRARY="$1" CLFORMER_CLI="$2" CLFORMER_SOURCE_DIR="$3"
# A library built with AddressSanitizer (tools/sanitize.sh's build-asan)
# needs ASan's runtime first in the process, which Python is not built
# with: preload it (the interpreter's own allocations left at exit are not
# the library's leaks: leak checking stays with the C suites).
asan=$(ldd "$1" 2>/dev/null | sed -n 's/^[[:space:]]*libasan\.so[^ ]* => \([^ ]*\) .*/\1/p')
if [ -n "$asan" ]; then
    export LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
cd "$3"
exec "$CLFORMER_PYTHON" -m pytest -q -p no:cacheprovider python/tests
