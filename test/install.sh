#!/usr/bin/env bash
# `meson install` into a staging prefix, then a program outside the tree
# builds against the installed clformer.pc (shared and static) and runs; the
# public header compiles as strict C11 and as C++; the shared library
# exports only clf_* symbols.
# Usage: install.sh BUILD_DIR
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/stage"

meson install -C "$build" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }
pc=$(find "$dest" -name clformer.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: clformer.pc not installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
pcflags=(--define-variable=prefix="$dest$prefix")
libdir=$(pkg-config "${pcflags[@]}" --variable=libdir clformer)

cat >"$tmp/app.c" <<'C'
#include <clformer.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    struct clf_device_info *list = NULL;
    size_t n = 0;
    enum clf_status st = clf_devices_query(&list, &n);
    printf("clformer %s: %zu device(s) (%s), cache %s\n", clf_version(), n, clf_status_str(st),
           p.disk_cache ? "on" : "off");
    clf_devices_free(list);
    return strcmp(clf_status_str(CLF_OK), "ok") != 0;
}
C
cc -std=c11 -pedantic -Wall -Wextra -Werror "$tmp/app.c" -o "$tmp/app" \
  $(pkg-config "${pcflags[@]}" --cflags --libs clformer)
LD_LIBRARY_PATH="$libdir" "$tmp/app"
echo "ok: program built against the installed clformer.pc runs"

cc -std=c11 -pedantic -Wall -Wextra -Werror "$tmp/app.c" -o "$tmp/app-static" \
  $(pkg-config "${pcflags[@]}" --cflags clformer) "$libdir/libclformer.a" \
  $(pkg-config "${pcflags[@]}" --static --libs-only-other --libs-only-L clformer) \
  $(pkg-config --libs OpenCL clblast libxxhash libcjson lapacke) -lm
"$tmp/app-static"
echo "ok: static link against libclformer.a runs"

if command -v c++ >/dev/null; then
  echo '#include <clformer.h>
int main() { return clf_dtype_size(CLF_F32) == 4 ? 0 : 1; }' >"$tmp/app.cpp"
  c++ -std=c++11 -pedantic -Wall -Wextra -Werror "$tmp/app.cpp" -o "$tmp/app-cpp" \
    $(pkg-config "${pcflags[@]}" --cflags --libs clformer)
  LD_LIBRARY_PATH="$libdir" "$tmp/app-cpp"
  echo "ok: the header compiles and links as C++"
fi

# Each layer's header stands alone (includes what it uses), as strict C11
# and as C++.
incdir=$(pkg-config "${pcflags[@]}" --variable=includedir clformer)
headers=("$incdir"/clformer/*.h)
[ "${#headers[@]}" -ge 5 ] || { echo "FAIL: layer headers not installed: ${headers[*]}"; exit 1; }
for h in "${headers[@]}"; do
  name=clformer/$(basename "$h")
  printf '#include <%s>\nint clf_header_check;\n' "$name" >"$tmp/one.c"
  cc -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$incdir" "$tmp/one.c" ||
    { echo "FAIL: $name alone as C11"; exit 1; }
  if command -v c++ >/dev/null; then
    c++ -std=c++11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ -I"$incdir" "$tmp/one.c" ||
      { echo "FAIL: $name alone as C++"; exit 1; }
  fi
done
echo "ok: ${#headers[@]} layer headers compile alone as C11 and C++"

"$dest$prefix/bin/clformer" --version >/dev/null 2>&1 ||
  LD_LIBRARY_PATH="$libdir" "$dest$prefix/bin/clformer" --version
echo "ok: installed clformer runs"

so=$(find "$libdir" -name 'libclformer.so.*' -type f | head -1)
bad=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | grep -v '^clf_' | grep -v '^_' || true)
if [ -n "$bad" ]; then echo "FAIL: exported symbols outside clf_*: $bad"; exit 1; fi
echo "ok: only clf_* symbols exported ($(nm -D --defined-only "$so" | grep -c ' T clf_') functions)"
