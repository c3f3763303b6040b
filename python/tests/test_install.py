"""`pip install ./python` works: installed (no dependencies, no build
isolation: offline) into a scratch folder, imported from there, pointed at
the build's library through CLFORMER_LIBRARY. pip builds in the folder it
is given, so it is given a copy (the source tree stays clean)."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import SRC, tiny


def test_pip_install_target(tmp_path):
    target = tmp_path / "site"
    pkg = tmp_path / "python"
    shutil.copytree(os.path.join(SRC, "python"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check", "--no-index",
                        "--target", str(target), str(pkg)],
                       capture_output=True, text=True, cwd=str(tmp_path))
    if r.returncode and "No module named pip" in r.stderr:
        pytest.skip("this Python has no pip")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "clformer" / "__init__.py").is_file()
    code = ("import clformer, sys\n"
            "assert clformer.__file__.startswith(sys.argv[1]), clformer.__file__\n"
            "m = clformer.SentenceEncoder(sys.argv[2])\n"
            "print(clformer.library_version(), m.encode(['installed']).shape)\n")
    env = dict(os.environ, PYTHONPATH=str(target))
    r = subprocess.run([sys.executable, "-c", code, str(target), tiny("distilbert-mean")],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.1.0", "(1,", "32)"]
