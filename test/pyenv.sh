#!/usr/bin/env bash
# Runs a Python test in the environment of tools/fetch_pyenv.sh (numpy,
# pytest, openai), which tools/dev.sh exports as CLFORMER_PYTHON; skips
# (exit 77) when it is unset.
# Usage: pyenv.sh SCRIPT ARGS...
if [ -z "${CLFORMER_PYTHON:-}" ]; then
  echo "SKIP: CLFORMER_PYTHON is unset (CLFORMER_PYTHON=\$(tools/fetch_pyenv.sh))"
  exit 77
fi
exec "$CLFORMER_PYTHON" "$@"
