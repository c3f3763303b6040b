"""Several devices: a SentenceEncoder over a DeviceGroup deals its batches
over the members (clf_dp_create_bert), and gives one device's vectors bit
for bit, as `clformer embed --devices` does. Two PoCL CPU devices
(POCL_DEVICES, read when the platform starts: so in a process of its own)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import clformer
from conftest import CLI, SRC, reference, tiny

CODE = """
import sys, numpy as np, clformer
ids = [d["id"] for d in clformer.devices() if d["type"] == "cpu"]
if len(ids) < 2:
    print("one device"); sys.exit(0)
spec = ",".join(ids[:2])
texts = sys.argv[3:]
with clformer.SentenceEncoder(sys.argv[1], device=ids[0]) as one:
    a = one.encode(texts, batch_size=2)
    try:
        one.encode(texts, device=ids[1])
        sys.exit("encode on another device than the model's was not refused")
    except clformer.UnsupportedError:
        pass
with clformer.SentenceEncoder(sys.argv[1], devices=spec) as two:
    assert two.device == spec, two.device
    from clformer import _lib
    assert _lib.lib().clf_dp_members(two._dp) == 2  # a replica on each
    b = two.encode(texts, batch_size=2)
group = clformer.DeviceGroup(spec)
assert [d["id"] for d in group.devices] == ids[:2]
with clformer.SentenceEncoder(sys.argv[1], group) as shared:
    c = shared.encode(texts, batch_size=2)
group.close()
assert np.array_equal(a, b) and np.array_equal(b, c)
np.save(sys.argv[2], b)
print(spec)
"""


def test_group_equals_one_device_and_cli(tmp_path):
    texts = reference("tiny-models.json")["texts"]
    env = dict(os.environ, POCL_DEVICES="pthread pthread",
               PYTHONPATH=os.path.join(SRC, "python", "src"))
    out = str(tmp_path / "group.npy")
    r = subprocess.run([sys.executable, "-c", CODE, tiny("distilbert-mean"), out, *texts],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    if r.stdout.strip() == "one device":
        pytest.skip("fewer than two CPU devices (PoCL's POCL_DEVICES not in use)")
    spec = r.stdout.strip()
    cli = tmp_path / "cli.npy"
    c = subprocess.run([CLI, "embed", "-m", tiny("distilbert-mean"), "--devices", spec, "--batch",
                        "2", "--npy", str(cli), "--", *texts], capture_output=True, text=True,
                       env=env)
    assert c.returncode == 0, c.stderr
    np.testing.assert_array_equal(np.load(out), np.load(cli))


def test_group_errors(ctx):
    first = clformer.devices()[0]["id"]
    with pytest.raises(clformer.DeviceSpecError, match="twice"):
        clformer.DeviceGroup(first + "," + first)
    with pytest.raises(clformer.InvalidArgError):
        clformer.DeviceGroup(" ")
    with pytest.raises(clformer.InvalidArgError, match="not both"):
        clformer.SentenceEncoder(tiny("distilbert-mean"), ctx, devices=first)
    with clformer.DeviceGroup(first) as g:
        with pytest.raises(clformer.UnsupportedError, match="one device"):
            clformer.Encoder(32, 4, 64, 1, device=g)
