#!/usr/bin/env bash
# The ABI of libclformer.so, three lists that must be equal: the dynamic
# symbols it exports (nm -D), the global symbols of its version script
# (lib/libclformer.map), and the functions the public headers declare with
# CLF_API. Every export must carry the script's version node.
# Usage: abi.sh LIBCLFORMER.so MAP INCLUDE_DIR
set -eu
so=$1 map=$2 inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

node=$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_.]*\) *{.*/\1/p' "$map" | head -1)
[ -n "$node" ] || { echo "FAIL: no version node in $map"; exit 1; }
# global: ... local: of the script (comments removed)
sed 's|/\*.*\*/||; /\/\*/,/\*\//d' "$map" |
  awk '/global:/ {on = 1; next} /local:/ {on = 0} on' |
  tr -d ' \t;' | grep -v '^$' | sort >"$tmp/map"
# defined dynamic symbols, the version node's own (absolute) symbol left out
nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sort >"$tmp/versioned"
sed 's/@.*//' "$tmp/versioned" | sort >"$tmp/exported"
# CLF_API function declarations: the name before the first '(' of each
python3 - "$inc" >"$tmp/declared" <<'PY'
import glob, re, sys
text = "".join(open(f).read() for f in glob.glob(sys.argv[1] + "/**/*.h", recursive=True))
text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
print("\n".join(sorted(set(re.findall(r"CLF_API[^;(]*?\b(clf_\w+)\s*\(", text)))))
PY

fail=0
compare() { # name-a file-a name-b file-b
  if ! diff -u --label "$1" --label "$3" "$2" "$4"; then
    echo "FAIL: $1 and $3 differ (lines - only in $1, + only in $3)"
    fail=1
  fi
}
compare "exported by $(basename "$so")" "$tmp/exported" "listed in $(basename "$map")" "$tmp/map"
compare "listed in $(basename "$map")" "$tmp/map" "declared CLF_API in include/" "$tmp/declared"
unversioned=$(grep -v "@@$node\$" "$tmp/versioned" || true)
if [ -n "$unversioned" ]; then
  echo "FAIL: exported without the version node $node: $unversioned"
  fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "ok: $(wc -l <"$tmp/map") symbols, exported = $(basename "$map") = CLF_API declarations, all @@$node"
