#!/usr/bin/env bash
# The host's cost per graph node on a short-sequence model, where launches
# weigh most: `clformer run` of 6 layers, d_model 384, 12 heads, d_ff 1536,
# GELU, seq 16, batch 1, with command buffers off (every node enqueued) and
# on (CLFORMER_COMMAND_BUFFER=1: the graph recorded once, then replayed,
# where the device can; the row says "(not recorded)" where it cannot),
# alternating, ROUNDS processes each. Per process:
# the median wall time of a forward over 200 runs (upload and read-back
# included). The device time comes from the runs without command buffers
# (per-node profiling; a replay has none): the sum of the nodes' kernel
# times. Prints the medians over the rounds and the overhead per node,
# (wall - device) / nodes.
# Usage: tools/launch_overhead.sh [BUILD_DIR] [ROUNDS]   (build, 5)
#        CLFORMER_DEVICE picks the device as usual.
set -eu
build=${1:-build}
rounds=${2:-5}
exe=$build/tools/clformer
[ -x "$exe" ] || { echo "launch_overhead.sh: no $exe (build first, or give BUILD_DIR)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
job="--seq 16 --d-model 384 --heads 12 --d-ff 1536 --layers 6 --activation gelu --runs 200 --json"
# one warm-up process: builds and tuning records
"$exe" run $job >/dev/null
for r in $(seq "$rounds"); do
    for cb in 0 1; do
        CLFORMER_COMMAND_BUFFER=$cb "$exe" run $job >"$tmp/$cb.$r.json"
    done
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
runs = {cb: [json.load(open(f"{tmp}/{cb}.{r}.json")) for r in range(1, rounds + 1)]
        for cb in (0, 1)}
first = runs[0][0]
nodes = sum(op["count"] for op in first["ops"])
device = statistics.median(sum(op["ms"] for op in d["ops"]) for d in runs[0])
print(f"device    {first['device']} ({first['platform']})")
print(f"model     6 layers, d_model 384, seq 16: {nodes} nodes; device time {device:.3f} ms"
      " per forward (median over the runs without command buffers)")
# a replayed run has no per-node times: the ops' times sum to 0
recorded = all(sum(op["ms"] for op in d["ops"]) == 0 for d in runs[1])
for cb, name in ((0, "enqueued"), (1, "command buffers" if recorded else "(not recorded)")):
    wall = statistics.median(d["ms"] for d in runs[cb])
    print(f"{name:16s} wall {wall:7.3f} ms per forward, {wall / device:5.2f}x the device time,"
          f" {(wall - device) / nodes * 1000:7.1f} us per node beyond it")
PY
