# Sourced by the command's test scripts (cli.sh, cli-files.sh, serve.sh): a
# temporary folder $tmp removed at exit, pass/fail with a count of failures,
# expect, one_line_err.
set -u
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# expect RC DESCRIPTION -- COMMAND...: runs it, keeps stdout/stderr in $tmp;
# under a limit of $expect_timeout seconds when it is set (exit 124: the
# command blocked).
expect() {
  local want=$1 what=$2; shift 3
  timeout "${expect_timeout:-0}" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$what"; else
    fail "$what: exit $rc, expected $want"; sed 's/^/  | /' "$tmp/err"; fi
}

# one_line_err DESCRIPTION: the last command's stderr is one "clformer: " line.
one_line_err() {
  local n; n=$(wc -l <"$tmp/err")
  if [ "$n" -eq 1 ] && grep -q '^clformer: ' "$tmp/err"; then pass "$1: one-line error"
  else fail "$1: stderr has $n lines"; sed 's/^/  | /' "$tmp/err"; fi
}
