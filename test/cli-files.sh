#!/usr/bin/env bash
# The command's files, as a hostile or careless user gives them (issue 23):
# outputs (--output, --save, --trace, --npy) that are device nodes (copies
# made with mknod when root, so that a regression replaces a copy, never
# the machine's /dev/null or /dev/full), FIFOs, symbolic links, folders and
# missing folders; a --trace whose write fails (a full file system)
# leaving the previous trace whole; stdout on a full device (exit 1 with a message);
# NUL bytes inside an embed --file line; FIFOs and folders given as inputs
# (--input, --weights, embed --file, each file of a model folder), every
# command under a timeout so that one that blocks fails instead of hanging,
# and embed --file reading a pipe on purpose (-, /dev/stdin).
# Usage: cli-files.sh PATH/TO/clformer SOURCE_DIR
exe=$1
src=$2
expect_timeout=60 # a command that blocks fails instead of hanging
. "$(dirname "$0")/cli-common.sh"
export CLFORMER_CACHE_DIR="$tmp/cache"

# names TEXT DESCRIPTION: stderr holds TEXT (a path, a kind of file).
names() {
  if grep -qF -- "$1" "$tmp/err"; then pass "$2: the message names $1"
  else fail "$2: the message does not name $1: $(cat "$tmp/err")"; fi
}
is_device() { if [ -c "$1" ]; then pass "$2: still a character device"; else
  fail "$2: $1 is no longer a character device: $(ls -l "$1")"; fi; }
no_temporary() { # no .clformer-*.tmp left in folder $1
  if [ -z "$(find "$1" -maxdepth 1 -name '.clformer-*' 2>/dev/null)" ]; then pass "$2: no temporary file left"
  else fail "$2: temporary files left: $(find "$1" -maxdepth 1 -name '.clformer-*')"; fi
}

if ! "$exe" devices >/dev/null 2>&1; then
  echo "no OpenCL device: skipping"; exit 77
fi

small=(--layers 1 --d-model 16 --heads 2 --d-ff 24 --seq 5 --runs 1)
bert=$src/test/models/bert-dense
roberta=$src/test/models/roberta-mean

# ---- outputs ---------------------------------------------------------------
expect 0 "run --output, a new file" -- "$exe" run "${small[@]}" --output "$tmp/y.npy"
[ -s "$tmp/y.npy" ] || fail "run --output wrote nothing"

# device nodes: written in place, never replaced; a full one is an error
if mknod "$tmp/null" c 1 3 2>/dev/null && mknod "$tmp/full" c 1 7 2>/dev/null; then
  null=$tmp/null full=$tmp/full
else # not root: the real nodes (which a regression cannot replace then)
  null=/dev/null full=/dev/full
fi
for opt in --output --save --trace; do
  expect 0 "run $opt to a device" -- "$exe" run "${small[@]}" "$opt" "$null"
  is_device "$null" "run $opt to a device"
  expect 1 "run $opt to a full device" -- "$exe" run "${small[@]}" "$opt" "$full"
  names "$full" "run $opt to a full device"
  is_device "$full" "run $opt to a full device"
done
expect 0 "embed --npy to a device" -- "$exe" embed -m "$bert" --npy "$null" hello
is_device "$null" "embed --npy to a device"
expect 1 "embed --npy to a full device" -- "$exe" embed -m "$bert" --npy "$full" hello
names "$full" "embed --npy to a full device"

# a FIFO: written in place (the reader gets the file), stays a FIFO
mkfifo "$tmp/out.fifo"
timeout 60 cat "$tmp/out.fifo" >"$tmp/from-fifo.npy" &
reader=$!
expect 0 "run --output to a FIFO" -- "$exe" run "${small[@]}" --output "$tmp/out.fifo"
wait "$reader"
cmp -s "$tmp/from-fifo.npy" "$tmp/y.npy" && pass "run --output to a FIFO: the reader got the file" \
  || fail "run --output to a FIFO: the reader got $(wc -c <"$tmp/from-fifo.npy") bytes"
[ -p "$tmp/out.fifo" ] && pass "the FIFO stays a FIFO" || fail "the FIFO was replaced"

# symbolic links: the final target replaced, the links stay links
echo old >"$tmp/real.npy"
ln -s real.npy "$tmp/link1.npy"
ln -s "$tmp/link1.npy" "$tmp/link2.npy"
expect 0 "run --output through two links" -- "$exe" run "${small[@]}" --output "$tmp/link2.npy"
[ -L "$tmp/link1.npy" ] && [ -L "$tmp/link2.npy" ] && pass "the links stay links" \
  || fail "a link was replaced: $(ls -l "$tmp"/link*.npy)"
cmp -s "$tmp/real.npy" "$tmp/y.npy" && pass "the links' target holds the output" \
  || fail "the links' target was not written"
ln -s made.npy "$tmp/dangling.npy"
expect 0 "run --output through a dangling link" -- "$exe" run "${small[@]}" --output "$tmp/dangling.npy"
[ -L "$tmp/dangling.npy" ] && cmp -s "$tmp/made.npy" "$tmp/y.npy" \
  && pass "a dangling link's target is created" || fail "dangling link: $(ls -l "$tmp")"

# refused, naming the path: a folder, a missing folder
mkdir "$tmp/folder"
expect 1 "run --output to a folder" -- "$exe" run "${small[@]}" --output "$tmp/folder"
names "$tmp/folder" "run --output to a folder"
expect 1 "run --save into a missing folder" -- "$exe" run "${small[@]}" --save "$tmp/none/w.safetensors"
names "$tmp/none/w.safetensors" "run --save into a missing folder"
no_temporary "$tmp" "refused outputs"

# a --trace that cannot be written whole leaves the previous trace as it
# was, valid JSON. ulimit -f cannot show it here (PoCL writes to its cache
# during the run and fails first), so the trace goes to an 8 KiB tmpfs
# (root): a 2 KiB trace there, then one of 11 KiB, which does not fit
# (written in place, it would leave 8 KiB of invalid JSON).
small_fs=$tmp/small-fs
mkdir "$small_fs"
if mount -t tmpfs -o size=8k tmpfs "$small_fs" 2>/dev/null; then
  trap 'umount "$small_fs"; rm -rf "$tmp"' EXIT
  expect 0 "run --trace (small)" -- "$exe" run "${small[@]}" --trace "$small_fs/trace.json"
  cp "$small_fs/trace.json" "$tmp/trace.good"
  expect 1 "run --trace, larger than the free space" -- "$exe" run "${small[@]}" --layers 6 --trace "$small_fs/trace.json"
  names "$small_fs/trace.json" "run --trace, larger than the free space"
  cmp -s "$small_fs/trace.json" "$tmp/trace.good" && python3 -m json.tool "$small_fs/trace.json" >/dev/null \
    && pass "the previous trace is whole" || fail "the previous trace was damaged"
  no_temporary "$small_fs" "run --trace, larger than the free space"
else
  echo "skip: no tmpfs mount (not root): the failed --trace over a good one is left out"
fi

# ---- stdout: a write error is exit 1 with a message --------------------------
stdout_full() { # DESCRIPTION COMMAND...
  local what=$1; shift
  timeout 60 "$@" >/dev/full 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" -eq 1 ] && grep -q 'standard output' "$tmp/err"; then pass "$what > /dev/full: exit 1"
  else fail "$what > /dev/full: exit $rc: $(cat "$tmp/err")"; fi
}
stdout_full "--version" "$exe" --version
stdout_full "help run" "$exe" help run
stdout_full "devices" "$exe" devices
stdout_full "run --json" "$exe" run "${small[@]}" --json
stdout_full "embed" "$exe" embed -m "$bert" hi
stdout_full "embed --json" "$exe" embed -m "$bert" --json hi

# ---- a NUL byte inside an embed --file line ---------------------------------
# WordPiece drops it ("foo\0bar baz" is "foobar baz"), byte-level BPE keeps
# byte 0's symbol (not "foo", where the line used to be cut)
printf 'foo\0bar baz\nfoobar baz\nfoo\n' >"$tmp/nul.txt"
rows() { # FILE.npy I J: 0 when rows I and J are equal
  python3 - "$@" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
hl = struct.unpack('<H', b[8:10])[0]
head = b[10:10 + hl].decode()
n, d = eval(head)['shape']
x = struct.unpack('<%df' % (n * d), b[10 + hl:])
i, j = int(sys.argv[2]), int(sys.argv[3])
sys.exit(0 if x[i * d:(i + 1) * d] == x[j * d:(j + 1) * d] else 1)
PY
}
for m in "$bert" "$roberta"; do
  name=$(basename "$m")
  expect 0 "embed --file with a NUL byte ($name)" -- "$exe" embed -m "$m" --file "$tmp/nul.txt" --npy "$tmp/nul.npy"
  rows "$tmp/nul.npy" 0 2 && fail "$name: the NUL line embeds as 'foo' (cut at the NUL)" \
    || pass "$name: the text after the NUL is embedded"
done
expect 0 "embed --file with a NUL byte (bert)" -- "$exe" embed -m "$bert" --file "$tmp/nul.txt" --npy "$tmp/nul.npy"
rows "$tmp/nul.npy" 0 1 && pass "bert-dense: 'foo\\0bar baz' embeds as 'foobar baz'" \
  || fail "bert-dense: 'foo\\0bar baz' differs from 'foobar baz'"

# the texts echoed whole by --json, the NUL as \u0000 (cJSON's strings end at it)
printf 'foo\0bar "q"\tz\n' >"$tmp/nul1.txt"
for opt in "" "--similarity"; do
  if "$exe" embed -m "$bert" --file "$tmp/nul1.txt" --json $opt >"$tmp/nul.json" 2>"$tmp/err" &&
    python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
t = o["texts"][0] if isinstance(o, dict) else o[0]["text"]
sys.exit(0 if t == "foo\0bar \"q\"\tz" else 1)' "$tmp/nul.json"; then
    pass "embed --json $opt echoes a text with a NUL whole"
  else
    fail "embed --json $opt cuts or mangles a text with a NUL: $(head -c 300 "$tmp/nul.json")"
  fi
done

# ---- inputs: FIFOs and folders refused at once --------------------------------
mkfifo "$tmp/in.fifo"
expect 1 "run --input a FIFO" -- "$exe" run "${small[@]}" --input "$tmp/in.fifo"
names "FIFO" "run --input a FIFO"
expect 1 "run --weights a FIFO" -- "$exe" run "${small[@]}" --weights "$tmp/in.fifo"
names "$tmp/in.fifo" "run --weights a FIFO"
expect 1 "run --input a folder" -- "$exe" run "${small[@]}" --input "$tmp/folder"
names "$tmp/folder" "run --input a folder"
expect 1 "tune --import a FIFO" -- "$exe" tune --import "$tmp/in.fifo"
names "$tmp/in.fifo" "tune --import a FIFO"
expect 1 "embed --file a FIFO" -- "$exe" embed -m "$bert" --file "$tmp/in.fifo"
names "$tmp/in.fifo" "embed --file a FIFO"
# each file of a model folder replaced by a FIFO
for f in config.json modules.json vocab.txt tokenizer.json model.safetensors 1_Pooling/config.json; do
  rm -rf "$tmp/model" && cp -r "$bert" "$tmp/model" && rm "$tmp/model/$f" && mkfifo "$tmp/model/$f"
  expect 1 "embed, the folder's $f a FIFO" -- "$exe" embed -m "$tmp/model" hello
  names "$f" "embed, the folder's $f a FIFO"
done
# a pipe read on purpose: - and /dev/stdin
printf 'hello\nworld\n' | timeout 60 "$exe" embed -m "$bert" --file - --npy "$tmp/p1.npy" 2>"$tmp/err"
[ $? -eq 0 ] && pass "embed --file - (a pipe)" || fail "embed --file -: $(cat "$tmp/err")"
printf 'hello\nworld\n' | timeout 60 "$exe" embed -m "$bert" --file /dev/stdin --npy "$tmp/p2.npy" 2>"$tmp/err"
[ $? -eq 0 ] && pass "embed --file /dev/stdin (a pipe)" || fail "embed --file /dev/stdin: $(cat "$tmp/err")"
"$exe" embed -m "$bert" hello world --npy "$tmp/p3.npy" 2>/dev/null
cmp -s "$tmp/p1.npy" "$tmp/p3.npy" && cmp -s "$tmp/p2.npy" "$tmp/p3.npy" \
  && pass "the piped lines embed as the same texts given as arguments" || fail "piped lines differ"

echo "$fails failed"
[ "$fails" -eq 0 ]
