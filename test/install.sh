#!/usr/bin/env bash
# A staging install, as a package build makes one: `meson install --destdir`
# into a scratch directory, then programs outside the tree build against the
# staged clformer.pc, found with PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR
# (which puts the staging directory before its paths): --cflags carries no
# private dependency's flags; a program links shared, and static from the
# .pc's Libs.private alone, and runs; the public header compiles as strict
# C11 and as C++; the programs of examples/ and README's build against it
# alone; the man page is installed; the shared library exports only clf_*
# symbols.
# Usage: install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/stage"

meson install -C "$build" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }
pc=$(find "$dest" -name clformer.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: clformer.pc not installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$dest
# (pkgconf puts the sysroot before --variable's value too; pkg-config did not)
libdir=$dest$(pkg-config --variable=libdir clformer | sed "s|^$dest||")

# --cflags: the include directory and OpenCL's (the one public requirement)
if grep -q '^Requires.private' "$pc"; then
  echo "FAIL: clformer.pc has private requirements, whose cflags --cflags would give:"
  grep '^Requires.private' "$pc"; exit 1
fi
got=$(PKG_CONFIG_SYSROOT_DIR='' pkg-config --cflags clformer | xargs)
want=$(echo "-I$prefix/include" "$(PKG_CONFIG_SYSROOT_DIR='' pkg-config --cflags OpenCL)" | xargs)
if [ "$got" != "$want" ]; then
  echo "FAIL: pkg-config --cflags clformer is '$got', expected '$want'"; exit 1
fi
echo "ok: pkg-config --cflags clformer is '$got'"

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
  $(pkg-config --cflags --libs clformer)
LD_LIBRARY_PATH="$libdir" "$tmp/app"
echo "ok: program built against the installed clformer.pc runs"

cc -std=c11 -pedantic -Wall -Wextra -Werror "$tmp/app.c" -o "$tmp/app-static" \
  $(pkg-config --cflags clformer) "$libdir/libclformer.a" \
  $(pkg-config --static --libs clformer | sed 's/-lclformer//')
"$tmp/app-static"
echo "ok: static link against libclformer.a with pkg-config --static --libs runs"

if command -v c++ >/dev/null; then
  echo '#include <clformer.h>
int main() { return clf_dtype_size(CLF_F32) == 4 ? 0 : 1; }' >"$tmp/app.cpp"
  c++ -std=c++11 -pedantic -Wall -Wextra -Werror "$tmp/app.cpp" -o "$tmp/app-cpp" \
    $(pkg-config --cflags --libs clformer)
  LD_LIBRARY_PATH="$libdir" "$tmp/app-cpp"
  echo "ok: the header compiles and links as C++"
fi

for f in "$src"/examples/*.c; do
  cc -std=c11 -pedantic -Wall -Wextra -Werror "$f" -o "$tmp/example-$(basename "$f" .c)" \
    $(pkg-config --cflags --libs clformer) -lm
done
LD_LIBRARY_PATH="$libdir" "$tmp/example-devices" >/dev/null
echo "ok: examples/*.c build against the installed clformer.pc; example-devices runs"

# README's C program (its one C block), as a reader copies it: softmax of 1..4
awk '/^```c$/ { on = 1; next } /^```$/ { on = 0 } on' "$src/README.md" >"$tmp/readme.c"
[ -s "$tmp/readme.c" ] || { echo "FAIL: README.md has no C program"; exit 1; }
cc -std=c11 -pedantic -Wall -Wextra -Werror "$tmp/readme.c" -o "$tmp/readme" \
  $(pkg-config --cflags --libs clformer)
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/readme")
[ "$out" = "0.032059 0.087144 0.236883 0.643914" ] ||
  { echo "FAIL: README's program printed '$out'"; exit 1; }
echo "ok: README's C program builds against the installed clformer.pc and prints $out"

[ -f "$dest$prefix/share/man/man1/clformer.1" ] || { echo "FAIL: no man page installed"; exit 1; }
echo "ok: the man page is installed (share/man/man1/clformer.1)"
# Each layer's header stands alone (includes what it uses), as strict C11
# and as C++.
incdir=$dest$(pkg-config --variable=includedir clformer | sed "s|^$dest||")
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
