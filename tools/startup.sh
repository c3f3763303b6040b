#!/usr/bin/env bash
# How long the clformer command takes to start, as a new user meets it:
# with a new, empty PoCL kernel cache (POCL_CACHE_DIR) and clformer cache
# (CLFORMER_CACHE_DIR), the first and then the second process of
#   clformer run                      (the default job)
#   clformer embed "one sentence"     (all-MiniLM-L6-v2; skipped without it)
# and where each one's time went: making the context, the weights
# (generated or read), kernel programs built or loaded and their time,
# shape classes tuned, the first forward pass (PoCL compiles each kernel at
# its first launch: that is in it, with the tuning and the weights'
# packing) and the later ones, and the rest of the process (loading the
# libraries, exiting). The other environment variables apply as usual
# (CLFORMER_GEMM=native leaves CLBlast out of the tuning,
# CLFORMER_BINARIES=on keeps program binaries on PoCL at once, off not at
# all, CLFORMER_DEVICE). On PoCL a third process of each runs after the
# background writer of the binaries (clformer save-binaries) is done.
# Usage: tools/startup.sh [BUILD_DIR]     (default: build)
set -eu
build=${1:-build}
exe=$build/tools/clformer
[ -x "$exe" ] || { echo "startup.sh: no $exe (build first, or give BUILD_DIR)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export POCL_CACHE_DIR="$tmp/pocl" CLFORMER_CACHE_DIR="$tmp/clformer"
mkdir -p "$POCL_CACHE_DIR" "$CLFORMER_CACHE_DIR"

now() { date +%s.%N; }

# run_job NAME COMMAND...: runs it once, appends "NAME wall-seconds" and the
# command's own figures (stdout for run --json, the timings line for embed)
# to $tmp/results.
run_job() {
  local name=$1; shift
  local t0 t1
  t0=$(now)
  if ! "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then
    echo "startup.sh: $name failed:" >&2; cat "$tmp/err" >&2; exit 1
  fi
  t1=$(now)
  python3 - "$name" "$t0" "$t1" "$tmp/out" "$tmp/err" >>"$tmp/results" <<'PY'
import json, sys
name, t0, t1, out, err = sys.argv[1:]
r = {"name": name, "wall_s": float(t1) - float(t0)}
if name.startswith("run"):
    d = json.load(open(out))
    r.update(context_ms=d["context_ms"], weights_ms=d["load_ms"], first_ms=d["first_run_ms"],
             later_ms=d["ms"], runs=d["runs"], startup=d["startup"], device=d["device"])
else:
    line = [l for l in open(err) if l.startswith("timings: ")][-1]
    d = json.loads(line[len("timings: "):])
    r.update(context_ms=d["context_ms"], weights_ms=d["load_ms"],
             first_ms=d["tokenize_ms"] + d["embed_ms"], later_ms=None, runs=0,
             startup=d["startup"])
print(json.dumps(r))
PY
}

# the binaries a process built from source are written by a saver it starts
# in the background (clformer save-binaries --when-idle, PoCL only: it waits
# for 2 s without a run or an embed first, holding saver.lock): the third
# process runs once that saver has released its lock
saved() {
  local f
  for f in saver.lock binaries.lock; do
    [ -f "$CLFORMER_CACHE_DIR/$f" ] && flock -w 300 "$CLFORMER_CACHE_DIR/$f" true
  done
  return 0
}
run_job "run, first process" "$exe" run --json
run_job "run, second process" "$exe" run --json
saved
run_job "run, binaries saved" "$exe" run --json
model=${CLFORMER_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2}
if [ -f "$model/config.json" ]; then
  run_job "embed, first process" "$exe" embed --timings "one sentence"
  run_job "embed, second process" "$exe" embed --timings "one sentence"
  saved
  run_job "embed, binaries saved" "$exe" embed --timings "one sentence"
else
  echo "(no model at $model: embed not measured; tools/fetch_model.sh fetches it)"
fi

python3 - "$tmp/results" "${CLFORMER_BINARIES:-auto}" "${CLFORMER_GEMM:-auto}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
dev = next((r["device"] for r in rows if "device" in r), "?")
print(f"clformer start-up on {dev}, every cache empty before the first process")
print(f"(CLFORMER_BINARIES={sys.argv[2]}, CLFORMER_GEMM={sys.argv[3]}; times in ms unless "
      "marked)\n")
print(f"{'':22} {'wall':>7} {'context':>8} {'weights':>8} {'programs built/loaded':>22} "
      f"{'tuned':>6} {'first pass':>11} {'later':>13} {'rest':>6}")
for r in rows:
    s = r["startup"]
    progs = f"{s['programs_built']}/{s['programs_loaded']} in {s['build_ms']:.0f}"
    later = f"{r['runs']} x {r['later_ms']:.0f}" if r["later_ms"] is not None else "-"
    spent = r["context_ms"] + r["weights_ms"] + r["first_ms"] + r["runs"] * (r["later_ms"] or 0)
    rest = r["wall_s"] * 1e3 - spent
    print(f"{r['name']:22} {r['wall_s']:6.2f}s {r['context_ms']:8.0f} {r['weights_ms']:8.0f} "
          f"{progs:>22} {s['tuned']:6d} {r['first_ms']:11.0f} {later:>13} {rest:6.0f}")
print("""
context: the OpenCL context made; weights: generated (run) or read from
model.safetensors (embed); programs: built from source (on PoCL its own cache
serves a rebuilt program in ~65 ms) or loaded as binaries from the clformer
cache, and the time of both (inside the first pass); tuned: shape classes
measured by the auto-tuners (inside the first pass); first pass: the first
forward pass (embed: with the tokenizer), with the kernel builds, the first
launch of each kernel (PoCL compiles it then, once per process tree of its
cache), the tuning and the weights' packing; later: the timed runs; rest:
starting and ending the process (libraries, the device's threads).""")
PY
