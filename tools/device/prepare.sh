#!/usr/bin/env bash
# Run HERE (Debian 12, with the build dependencies of tools/dev.sh installed):
# builds clformer into build-dev/ (the options of tools/dev.sh: default
# buildtype debugoptimized, -Dwerror=true) and extracts (dpkg -x) the
# runtime libraries that the built binaries need beyond a plain base system
# (libc6, libgcc-s1, libstdc++6), packed as .devpkgs/libs.tar.xz, so that
# tools/device/check.sh can run the test suites and `clformer bench` on a
# machine with no package registry.
# Both build-dev/ and .devpkgs/ are git-ignored (build-*/ in .gitignore,
# .devpkgs/ in .git/info/exclude) and travel through the `carry` list.
#   tools/device/prepare.sh            build, then fetch the libraries
#   CLEAN=1 tools/device/prepare.sh    wipe build-dev/ and .devpkgs/ first
set -u
cd "$(dirname "$0")/../.."
root=$PWD
build=build-dev
pkgdir=.devpkgs
base_pkgs="libc6 libgcc-s1 libstdc++6" # present on any Debian/Ubuntu base image

die() { echo "prepare: $*" >&2; exit 1; }

if [ "${CLEAN:-0}" = 1 ]; then rm -rf "$build" "$pkgdir"; fi

# --- 1. build --------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dwerror=true || die "meson setup failed"
fi
ninja -C "$build" || die "build failed"
# the test executables have the source dir compiled in (CLF_SOURCE_DIR):
# check.sh links it to the tree on the remote machine
echo "$root" >"$build/.source-dir"

bins=("$build/tools/clformer")
for f in "$build"/libclformer.so.*.*.* "$build"/test/test-*; do
    [ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
done

# --- 2. which packages provide the libraries they load -----------------------
declare -A pkgs=([ocl-icd-libopencl1]=1) # the ICD loader, always
while read -r soname path; do
    case "$path" in /*) ;; *) continue ;; esac
    case "$path" in "$root"/*) continue ;; esac # libclformer itself
    real=$(readlink -f "$path")
    owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true)
    owner=${owner%%:*}
    [ -n "$owner" ] || die "no package owns $real ($soname)"
    pkgs[$owner]=1
done < <(for f in "${bins[@]}"; do ldd "$f"; done | awk '/=>/ {print $1, $3}' | sort -u)
for b in $base_pkgs; do unset "pkgs[$b]"; done
list=$(printf '%s\n' "${!pkgs[@]}" | sort)
echo "prepare: packages:" $list

# --- 3. download (the installed versions) and extract -----------------------
rm -rf "$pkgdir"
mkdir -p "$pkgdir/debs" "$pkgdir/root"
chmod 777 "$pkgdir/debs" # lets apt's _apt user write there (no warning)
(
    cd "$pkgdir/debs" || exit 1
    specs=()
    for p in $list; do
        v=$(dpkg-query -W -f='${Version}' "$p:amd64" 2>/dev/null || dpkg-query -W -f='${Version}' "$p")
        specs+=("$p=$v")
    done
    apt-get download -q "${specs[@]}"
) || die "apt-get download failed"
for d in "$pkgdir"/debs/*.deb; do
    dpkg -x "$d" "$pkgdir/root" || die "dpkg -x $d failed"
done
ls "$pkgdir"/debs >"$pkgdir/packages.txt"
rm -rf "$pkgdir/debs" "$pkgdir/root/usr/share" "$pkgdir/root/etc"

# --- 4. git-ignore .devpkgs/ locally ---------------------------------------
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '.devpkgs/' "$exclude" 2>/dev/null || echo '.devpkgs/' >>"$exclude"

# --- 5. proof: every library resolves from .devpkgs or the base set ----------
libpath=$(find "$root/$pkgdir/root" -name '*.so*' \( -type f -o -type l \) -printf '%h\n' | sort -u | paste -sd:)
echo "$libpath" | tr ':' '\n' | sed "s|^$root/||" >"$pkgdir/libdirs.txt"
bad=0
for f in "${bins[@]}"; do
    while read -r soname path; do
        case "$path" in
        "$root"/*) ;;
        /lib/x86_64-linux-gnu/* | /usr/lib/x86_64-linux-gnu/*)
            owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$(readlink -f "$path" | sed 's|^/usr||')" 2>/dev/null)
            owner=${owner%%:*}
            case " $base_pkgs " in *" $owner "*) ;; *) echo "prepare: $f: $soname from $path ($owner)"; bad=1 ;; esac ;;
        *) echo "prepare: $f: $soname unresolved ($path)"; bad=1 ;;
        esac
    done < <(LD_LIBRARY_PATH=$libpath ldd "$f" | awk '/=>/ {print $1, $3}')
done
[ "$bad" = 0 ] || die "some libraries do not come from .devpkgs or the base set"

# --- 6. pack: OpenBLAS alone is 36 MB unpacked (all CPU kernels), and what
# travels is limited to 64 MiB; check.sh unpacks the archive into /tmp
tar -C "$pkgdir/root" -cJf "$pkgdir/libs.tar.xz" . || die "tar failed"
rm -rf "$pkgdir/root"
du -sh "$build" "$pkgdir"
echo "prepare: ok"
