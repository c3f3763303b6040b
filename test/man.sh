#!/usr/bin/env bash
# The man page (docs/clformer.1): `man -l` renders it with no warning of
# groff's, and the page names every command and every environment variable
# that `clformer --help` lists.
# Usage: man.sh PAGE PATH/TO/clformer
set -u
page=$1
exe=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v man >/dev/null || { echo "FAIL: no man command (Debian: man-db)"; exit 1; }
MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings=w -l "$page" >"$tmp/page" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] || [ -s "$tmp/err" ]; then
  echo "FAIL: man -l $page exited $rc:"; cat "$tmp/err"; exit 1
fi
grep -q '^NAME' "$tmp/page" && grep -q 'clformer - transformer inference' "$tmp/page" ||
  { echo "FAIL: the page lacks its NAME section:"; head -20 "$tmp/page"; exit 1; }
echo "ok: man -l renders $(wc -l <"$tmp/page") lines, no warnings"

"$exe" --help >"$tmp/usage" || exit 1
cmds=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$tmp/usage")
vars=$(awk '/^Environment/ { on = 1; next } on && /^ / { print $1 }' "$tmp/usage")
[ "$(echo "$cmds" | wc -w)" -ge 6 ] && [ "$(echo "$vars" | wc -w)" -ge 10 ] ||
  { echo "FAIL: --help lists too few commands or variables"; exit 1; }
fails=0
for w in $cmds $vars; do
  grep -qw -- "$w" "$tmp/page" || { echo "FAIL: the page does not name $w"; fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] || exit 1
echo "ok: the page names the $(echo "$cmds" | wc -w) commands and $(echo "$vars" | wc -w) variables of --help"
