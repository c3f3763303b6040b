#!/usr/bin/env bash
# The programs of examples/, each checked against the clformer command:
#   devices  lists what `clformer devices --json` lists (ids, types, names),
#            and picks the device `clformer info` picks for the same spec
#            ($CLFORMER_DEVICE, else cpu: a platform may have no CPU device)
#   encoder  prints the values `clformer run` computes with the same seed on
#            the same input (made here as a .npy by the example's generator)
#   embed    prints the cosine `clformer embed --similarity` gives the same
#            two texts (exit 77, skipped, without the model)
# Usage: examples.sh NAME PATH/TO/EXAMPLE PATH/TO/clformer
set -u
name=$1
example=$2
clformer=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$clformer" devices >/dev/null 2>&1; then
  echo "no OpenCL device: skipping"; exit 77
fi

case "$name" in
devices)
  spec=${CLFORMER_DEVICE:-cpu}
  "$example" "$spec" >"$tmp/out" || { echo "FAIL: devices exited $?"; exit 1; }
  "$clformer" devices --json >"$tmp/devices.json" || exit 1
  "$clformer" info --device "$spec" --no-build --json >"$tmp/info.json" || exit 1
  cat "$tmp/out"
  python3 - "$tmp/out" "$tmp/devices.json" "$tmp/info.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
devices, info = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
want = [f"{d['id']}  {d['type']:<11} {d['name']} ({d['platform_name']})," for d in devices]
listed = [l for l in lines if not l.startswith("picked: ")]
ok = len(listed) == len(want) and all(l.startswith(w) for l, w in zip(listed, want))
ok &= lines[-1] == f"picked: {info['id']} {info['name']}"
print("ok: the devices of clformer devices, and the one clformer info picks" if ok else
      "FAIL: expected the devices\n  " + "\n  ".join(want) + f"\nand picked: {info['id']}")
sys.exit(0 if ok else 1)
PY
  ;;
encoder)
  seed=7
  "$example" "$seed" >"$tmp/out" || { echo "FAIL: encoder exited $?"; exit 1; }
  cat "$tmp/out"
  # the example's input: xorshift32 from 2463534242 ^ seed, (s >> 8) / 2^23 - 1
  python3 - "$tmp/x.npy" "$seed" <<'PY'
import struct, sys
s, x = (2463534242 ^ int(sys.argv[2])) & 0xffffffff, []
for _ in range(16 * 64):
    s ^= (s << 13) & 0xffffffff
    s ^= s >> 17
    s ^= (s << 5) & 0xffffffff
    x.append((s >> 8) / 8388608.0 - 1.0)
text = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 16, 64), }"
header = (text + " " * (64 - (10 + len(text) + 1) % 64) + "\n").encode("latin1")
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    f.write(struct.pack("<%df" % len(x), *x))
PY
  "$clformer" run --layers 2 --d-model 64 --heads 4 --d-ff 256 --seed "$seed" --runs 1 \
    --input "$tmp/x.npy" --output "$tmp/y.npy" >/dev/null || exit 1
  python3 - "$tmp/out" "$tmp/y.npy" <<'PY'
import math, struct, sys
out = open(sys.argv[1]).read().splitlines()
b = open(sys.argv[2], "rb").read()
n = struct.unpack("<H", b[8:10])[0]
y = struct.unpack("<%df" % (16 * 64), b[10 + n:])
first = [float(v) for v in out[1].split()[3:]]
mean, rms = float(out[2].split()[1]), float(out[2].split()[3])
want = (y[:8], sum(y) / len(y), math.sqrt(sum(v * v for v in y) / len(y)))
ok = out[0] == "output [1, 16, 64]" and len(first) == 8
ok &= all(abs(a - w) <= 2e-5 for a, w in zip(first, want[0]))
ok &= abs(mean - want[1]) <= 2e-5 and abs(rms - want[2]) <= 2e-5
print("ok: the example's output is clformer run's" if ok else
      "FAIL: clformer run gives %s, mean %.6f, rms %.6f" % (" ".join("%.6f" % v for v in want[0]),
                                                             want[1], want[2]))
sys.exit(0 if ok else 1)
PY
  ;;
embed)
  a="A man is eating food."
  b="A man is riding a horse."
  "$example" "$a" "$b" >"$tmp/out"
  rc=$?
  cat "$tmp/out"
  [ "$rc" -eq 77 ] && exit 77
  [ "$rc" -eq 0 ] || { echo "FAIL: embed exited $rc"; exit 1; }
  "$clformer" embed --similarity --json "$a" "$b" >"$tmp/sim.json" || exit 1
  python3 - "$tmp/out" "$tmp/sim.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
got = float(lines[-1].split("cosine similarity: ")[1])
want = json.load(open(sys.argv[2]))["similarity"][0][1]
ok = abs(got - want) <= 2e-6 and lines[0].startswith("8 tokens, embedding [384] ")
print(("ok: cosine %.6f, clformer embed's %.6f" if ok else
       "FAIL: cosine %.6f, clformer embed --similarity gives %.6f") % (got, want))
sys.exit(0 if ok else 1)
PY
  ;;
*)
  echo "unknown example $name"; exit 1
  ;;
esac
