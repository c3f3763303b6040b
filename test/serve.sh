#!/usr/bin/env bash
# `clformer serve` over curl, on a tiny model folder: the endpoints, every
# error case (a clean JSON 4xx each, in its endpoint's shape), a full queue
# (503), the metrics, SIGTERM with a request in flight (answered, exit 0),
# and the command line's errors.
# Usage: serve.sh PATH/TO/clformer SOURCE_ROOT
exe=$1
src=$2
. "$(dirname "$0")/cli-common.sh"
model=$src/test/models/distilbert-mean
command -v curl >/dev/null || { echo "FAIL: no curl (Debian: curl)"; exit 1; }

# start NAME ARGS...: a server of $serve_model (default $model) in the
# background (pid in $pid), its port in
# $port once it prints "listening on http://127.0.0.1:PORT".
start() {
  local name=$1; shift
  "$exe" serve -m "${serve_model:-$model}" --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  for _ in $(seq 600); do
    port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$tmp/$name.out" 2>/dev/null)
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: $name did not start:"; cat "$tmp/$name.err"; exit 1
}

# call WANT DESCRIPTION CURL-ARGS...: the status must be WANT; the body is
# in $tmp/body.
call() {
  local want=$1 what=$2; shift 2
  local got
  got=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 60 "$@")
  if [ "$got" = "$want" ]; then pass "$what"; else
    fail "$what: HTTP $got, expected $want"; head -c 300 "$tmp/body" | sed 's/^/  | /'; echo; fi
}

# json DESCRIPTION PYTHON-EXPRESSION: the expression over the body parsed
# (as b) must be true.
json() {
  if python3 -c 'import json, sys, base64, math
b = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$2" 2>"$tmp/pyerr"; then pass "$1"
  else fail "$1: not ($2)"; head -c 300 "$tmp/body" | sed 's/^/  | /'; echo; cat "$tmp/pyerr"; fi
}

# post4xx WANT CODE DESCRIPTION BODY: POST /v1/embeddings answered WANT
# with OpenAI's error shape and code CODE.
post4xx() {
  call "$1" "$3" -X POST "http://127.0.0.1:$port/v1/embeddings" -d "$4"
  json "$3: OpenAI's error shape, code $2" \
    "set(b['error']) == {'message', 'type', 'param', 'code'} and b['error']['code'] == '$2' and b['error']['type'] == 'invalid_request_error' and b['error']['message']"
}

start main --max-inputs 4 --max-body-bytes 4096
url=http://127.0.0.1:$port
norm='abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5'

call 200 "GET /health" "$url/health"
json "/health says ok" "b == {'status': 'ok'}"
call 200 "one string" -X POST "$url/v1/embeddings" -d '{"input": "hello world", "model": "m1"}'
json "one string: OpenAI's list" "b['object'] == 'list' and b['model'] == 'm1' and len(b['data']) == 1 and b['data'][0]['object'] == 'embedding' and b['data'][0]['index'] == 0 and len(b['data'][0]['embedding']) == 32"
json "one string: usage counts [CLS] and [SEP]" "b['usage']['prompt_tokens'] == b['usage']['total_tokens'] and b['usage']['prompt_tokens'] >= 3"
json "one string: normalised (the folder's Normalize)" "all($norm for v in [b['data'][0]['embedding']])"
cp "$tmp/body" "$tmp/one.json"
call 200 "strings" -X POST "$url/v1/embeddings" -d '{"input": ["a b", "hello world", "c"]}'
json "strings: in order, the folder's name as model" "[d['index'] for d in b['data']] == [0, 1, 2] and b['model'] == 'distilbert-mean'"
json "strings: the same vector for the same text in another batch" "max(abs(x - y) for x, y in zip(b['data'][1]['embedding'], json.load(open('$tmp/one.json'))['data'][0]['embedding'])) < 1e-6"
call 200 "token ids" -X POST "$url/v1/embeddings" -d '{"input": [2, 17, 3]}'
json "token ids: one vector, usage the ids given" "len(b['data']) == 1 and b['usage']['prompt_tokens'] == 3"
call 200 "arrays of token ids" -X POST "$url/v1/embeddings" -d '{"input": [[2, 17, 3], [5]]}'
json "arrays of token ids: two vectors, usage 4" "len(b['data']) == 2 and b['usage']['prompt_tokens'] == 4"
call 200 "base64" -X POST "$url/v1/embeddings" -d '{"input": "hello world", "encoding_format": "base64"}'
json "base64: little-endian float32 of the float answer" "__import__('struct').unpack('<32f', base64.b64decode(b['data'][0]['embedding'])) == tuple(__import__('struct').unpack('<32f', __import__('struct').pack('<32f', *json.load(open('$tmp/one.json'))['data'][0]['embedding'])))"
call 200 "dimensions 5" -X POST "$url/v1/embeddings" -d '{"input": "hello world", "dimensions": 5}'
json "dimensions 5: the first 5, normalised again" "[len(v) for v in [b['data'][0]['embedding']]] == [5] and all($norm for v in [b['data'][0]['embedding']])"
call 200 "/embed, one string" -X POST "$url/embed" -d '{"inputs": "hello world"}'
json "/embed: an array of arrays, normalised" "len(b) == 1 and len(b[0]) == 32 and all($norm for v in b)"
call 200 "/embed, normalize false" -X POST "$url/embed" -d '{"inputs": ["hello world", "a"], "normalize": false}'
json "/embed, normalize false: not unit vectors" "len(b) == 2 and not any($norm for v in b)"
long=$(printf 'word %.0s' $(seq 600))
call 200 "/embed, truncate true: a long text cut" -X POST "$url/embed" -d "{\"inputs\": \"$long\", \"truncate\": true}"
call 200 "/v1/embeddings truncates a long text" -X POST "$url/v1/embeddings" -d "{\"input\": \"$long\"}"

# errors, each in OpenAI's shape
post4xx 400 invalid_json "malformed JSON" '{"input": '
post4xx 400 invalid_type "a body that is not an object" '["a"]'
post4xx 400 missing_input "no input" '{"model": "m"}'
post4xx 400 invalid_type "input a number" '{"input": 5}'
post4xx 400 invalid_type "input an object" '{"input": {"a": 1}}'
post4xx 400 invalid_type "input mixing strings and numbers" '{"input": ["a", 5]}'
post4xx 400 invalid_input "input an empty array" '{"input": []}'
post4xx 400 invalid_input "an empty token array" '{"input": [[]]}'
post4xx 400 invalid_input "a token id past the vocabulary" '{"input": [2, 400, 3]}'
post4xx 400 invalid_input "a negative token id" '{"input": [2, -1]}'
post4xx 400 invalid_input "a token id not an integer" '{"input": [2, 1.5]}'
post4xx 400 invalid_input "a token id that is a string" '{"input": [[2, "x"]]}'
post4xx 400 invalid_type "model not a string" '{"input": "a", "model": 3}'
post4xx 400 invalid_value "encoding_format hex" '{"input": "a", "encoding_format": "hex"}'
post4xx 400 invalid_value "dimensions 0" '{"input": "a", "dimensions": 0}'
post4xx 400 invalid_value "dimensions past the model's 32" '{"input": "a", "dimensions": 33}'
post4xx 400 invalid_value "dimensions 2.5" '{"input": "a", "dimensions": 2.5}'
post4xx 400 invalid_value "dimensions a string" '{"input": "a", "dimensions": "4"}'
post4xx 413 too_many_inputs "more inputs than --max-inputs" '{"input": ["a", "b", "c", "d", "e"]}'
printf '{"input": "a\xff"}' >"$tmp/badutf8"
post4xx 400 invalid_input "invalid UTF-8" "@$tmp/badutf8"
head -c 5000 /dev/zero | tr '\0' a >"$tmp/big"
post4xx 413 body_too_large "a body past --max-body-bytes" "@$tmp/big"
call 413 "a chunked body past --max-body-bytes" -X POST "$url/v1/embeddings" \
  -H 'Transfer-Encoding: chunked' --data-binary "@$tmp/big"
json "chunked: code body_too_large" "b['error']['code'] == 'body_too_large'"
call 404 "an unknown path" "$url/v1/nothing"
json "404: OpenAI's error shape" "b['error']['code'] == 'not_found'"
call 405 "GET /v1/embeddings" "$url/v1/embeddings"
json "405: OpenAI's error shape" "b['error']['code'] == 'method_not_allowed'"
curl -s -D "$tmp/headers" -o /dev/null -X POST "$url/health"
grep -qi '^Allow: GET' "$tmp/headers" && pass "405 POST /health names Allow: GET" ||
  fail "POST /health: $(head -1 "$tmp/headers")"
# /embed's errors in text-embeddings-inference's shape
call 413 "/embed: a long text without truncate" -X POST "$url/embed" -d "{\"inputs\": \"$long\"}"
json "/embed 413: TEI's error shape" "set(b) == {'error', 'error_type'} and b['error_type'] == 'Validation'"
call 413 "/embed: too many token ids without truncate" -X POST "$url/embed" \
  -d "{\"inputs\": [[$(seq -s, 600 | sed 's/[0-9]*/5/g')]]}"
call 400 "/embed: normalize not a boolean" -X POST "$url/embed" -d '{"inputs": "a", "normalize": 1}'
json "/embed 400: TEI's error shape" "b['error_type'] == 'Validation' and 'normalize' in b['error']"
call 400 "/embed: no inputs" -X POST "$url/embed" -d '{"input": "a"}'
call 200 "/metrics" "$url/metrics"
for want in 'clformer_requests_total{endpoint="/v1/embeddings",status="200"}' \
  'clformer_requests_total{endpoint="/v1/embeddings",status="413"}' \
  'clformer_requests_total{endpoint="/embed",status="400"}' \
  'clformer_requests_total{endpoint="other",status="404"}'; do
  grep -qF "$want" "$tmp/body" && pass "/metrics has $want" || fail "/metrics lacks $want"
done
# the counts agree: the 14 inputs of the 10 embedding requests answered 200
# above went through the batches, each request queued once, every answer timed
if python3 -c 'import re, sys
m, req = {}, {}
for line in open(sys.argv[1]):
    k = re.match(r"(clformer_\w+)(\{endpoint=\"([^\"]*)\",status=\"(\d+)\"\})? (\S+)$", line)
    if k and k[2]:
        req[k[3], k[4]] = float(k[5])
    elif k:
        m[k[1]] = float(k[5])
ok = sum(n for (ep, st), n in req.items() if ep in ("/v1/embeddings", "/embed") and st == "200")
checks = [m["clformer_inputs_total"] == 14, m["clformer_batch_inputs_sum"] == 14,
          m["clformer_tokens_total"] == m["clformer_batch_tokens_sum"] > 0,
          m["clformer_queue_seconds_count"] == ok == 10,
          m["clformer_request_seconds_count"] == sum(req.values())]
print(checks, m, req)
sys.exit(0 if all(checks) else 1)' "$tmp/body" >"$tmp/metrics.check"; then
  pass "/metrics: inputs, tokens, queue waits and latencies counted consistently"
else fail "/metrics counts: $(cat "$tmp/metrics.check")"; fi
expect 1 "a port in use" -- "$exe" serve -m "$model" --port "$port"
one_line_err "a port in use"
grep -q "cannot listen on 127.0.0.1 port $port: .*in use" "$tmp/err" || fail "a port in use: $(cat "$tmp/err")"
kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" -eq 0 ] && pass "SIGTERM when idle: exit 0" || fail "SIGTERM when idle: exit $rc"

# A folder whose default prompt is left out of the pooling (include_prompt
# false): a text gets the prompt and the pooling skips it, as `embed` does;
# token ids get neither (the folder's model without a prompt), also when
# both kinds share a batch. "the of a" is [CLS] the of a [SEP] in its vocabulary.
pf=$tmp/prompted
cp -r "$model" "$pf"
echo '{"prompts": {"query": "query: "}, "default_prompt_name": "query"}' \
  >"$pf/config_sentence_transformers.json"
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["include_prompt"] = False
json.dump(c, open(sys.argv[1], "w"))' "$pf/1_Pooling/config.json"
"$exe" embed -m "$pf" --json "the of a" >"$tmp/prompted.json" 2>/dev/null &&
  "$exe" embed -m "$model" --json "the of a" >"$tmp/plain.json" 2>/dev/null ||
  fail "embed of the prompted folder"
serve_model=$pf start prompted --max-wait-ms 0
call 200 "a text and token ids, prompt left out of the pooling" -X POST \
  "http://127.0.0.1:$port/v1/embeddings" -d '{"input": ["the of a", [2, 151, 183, 23, 3]]}'
kill -TERM "$pid"; wait "$pid"
near="max(abs(x - y) for x, y in zip(b['data'][K]['embedding'], json.load(open('$tmp/F.json'))[0]['embedding'])) < 1e-6"
json "the text: embed's vector with the prompt skipped" \
  "$(echo "$near" | sed 's/\[K\]/[0]/; s/F\.json/prompted.json/')"
json "the token ids: embed's vector of the folder's model, no prompt" \
  "$(echo "$near" | sed 's/\[K\]/[1]/; s/F\.json/plain.json/')"
json "the text's vector differs from the ids' (the prompt counts)" \
  "$(echo "$near" | sed 's/\[K\]/[1]/; s/F\.json/prompted.json/; s/ < 1e-6/ > 1e-3/')"

# A worker that waits 10 s for its batch to fill: one request fills the
# queue of 1, so the next is refused (503); SIGTERM then ends the wait, the
# request in flight is answered, and the server exits 0.
start hold --max-queue 1 --max-wait-ms 10000 --max-batch-tokens 100000
url=http://127.0.0.1:$port
curl -s -o "$tmp/held" -w '%{http_code}' --max-time 60 -X POST "$url/v1/embeddings" \
  -d '{"input": ["held", "request"]}' >"$tmp/held.code" &
held=$!
sleep 1
call 503 "a full queue (--max-queue 1)" -X POST "$url/v1/embeddings" -d '{"input": "x"}'
json "503: code queue_full" "b['error']['code'] == 'queue_full' and b['error']['type'] == 'server_error'"
call 503 "/embed, a full queue: TEI's Overloaded" -X POST "$url/embed" -d '{"inputs": "x"}'
json "/embed 503: error_type Overloaded" "b['error_type'] == 'Overloaded'"
t0=$(date +%s.%N)
kill -TERM "$pid"; wait "$pid"; rc=$?
wait "$held"
[ "$rc" -eq 0 ] && pass "SIGTERM with a request in flight: exit 0" || fail "SIGTERM in flight: exit $rc"
[ "$(cat "$tmp/held.code")" = 200 ] && cp "$tmp/held" "$tmp/body" && pass "the request in flight was answered" ||
  fail "the request in flight: HTTP $(cat "$tmp/held.code")"
json "the request in flight: its two vectors" "len(b['data']) == 2"
python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) < 5 else 1)" "$t0" "$(date +%s.%N)" &&
  pass "SIGTERM ended the batch's wait" || fail "SIGTERM did not end the batch's wait"
curl -s --max-time 5 "$url/health" >/dev/null && fail "the port still answers after exit" ||
  pass "the port is closed after exit"

# Two devices (PoCL's CPU device twice, POCL_DEVICES), a worker each: 8
# concurrent requests, each answer's vectors those of one device.
ndev=$(env POCL_DEVICES="pthread pthread" "$exe" devices --json |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
if [ "$ndev" -ge 2 ]; then
  export POCL_DEVICES="pthread pthread"
  start two --devices cpu:0,cpu:1 --max-wait-ms 0 --max-batch-tokens 16
  unset POCL_DEVICES
  url=http://127.0.0.1:$port
  for i in $(seq 8); do
    curl -s -o "$tmp/two$i" --max-time 60 -X POST "$url/v1/embeddings" \
      -d '{"input": ["a b", "hello world", "c", "hello world"]}' &
  done
  wait $(jobs -p | grep -v "^$pid$")
  for i in $(seq 8); do
    cp "$tmp/two$i" "$tmp/body"
    json "two devices, request $i: one device's vectors" "all(max(abs(x - y) for x, y in zip(b['data'][k]['embedding'], json.load(open('$tmp/one.json'))['data'][0]['embedding'])) < 1e-6 for k in (1, 3))"
  done
  curl -s "$url/metrics" >"$tmp/body"
  grep -q '^clformer_batch_inputs_count [1-9]' "$tmp/body" && pass "two devices: batches counted" ||
    fail "two devices: no batch counted"
  kill -TERM "$pid"; wait "$pid" || fail "two devices: exit $? after SIGTERM"
else
  echo "$ndev device(s) with POCL_DEVICES: the two-device case not run"
fi

# the command line
expect 2 "--port 70000" -- "$exe" serve -m "$model" --port 70000
expect 2 "--device and --devices" -- "$exe" serve -m "$model" --device cpu --devices all
expect 2 "an argument" -- "$exe" serve -m "$model" extra
expect 2 "--max-queue 0" -- "$exe" serve -m "$model" --max-queue 0
expect 1 "--host not an address" -- "$exe" serve -m "$model" --port 0 --host localhost
one_line_err "--host not an address"
grep -q 'not a numeric IPv4 or IPv6 address' "$tmp/err" || fail "--host localhost: $(cat "$tmp/err")"
expect 1 "no model" -- "$exe" serve -m "$tmp/none" --port 0

echo "$fails failed"
[ "$fails" -eq 0 ]
