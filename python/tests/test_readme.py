"""README's Python program runs as a reader copies it (it takes the real
model where tools/fetch_model.sh puts it)."""
import os
import re
import subprocess
import sys

import pytest

from conftest import SRC

HOME_MODEL = os.path.join(os.path.expanduser("~"), ".cache", "clformer", "models",
                          "all-MiniLM-L6-v2", "model.safetensors")


def test_readme_python_program(tmp_path):
    with open(os.path.join(SRC, "README.md")) as f:
        blocks = re.findall(r"^```python\n(.*?)^```$", f.read(), flags=re.S | re.M)
    assert len(blocks) == 1, "README.md should hold one Python program"
    if not os.path.isfile(HOME_MODEL):
        pytest.skip("no all-MiniLM-L6-v2 in ~/.cache/clformer/models (tools/fetch_model.sh)")
    program = blocks[0] + "\nprint(emb.shape, y.shape)\n"
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python", "src"))
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["(2,", "384)", "(2,", "16,", "64)"]
