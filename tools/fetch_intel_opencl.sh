#!/bin/sh
# Installs Intel's OpenCL CPU runtime once into a cache folder and prints a
# folder of ICD files for OCL_ICD_VENDORS that names it, so that a program
# sees it as a second platform beside the system's (PoCL) without any
# system file changed:
#
#   OCL_ICD_VENDORS=$(tools/fetch_intel_opencl.sh) clformer devices
#
# Folder: ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/intel-opencl-VERSION,
# holding venv/ (a virtual environment with the PyPI wheels intel-opencl-rt
# and intel-cmplr-lib-rt and their dependencies, pinned below; about 830 MB
# installed, 225 MB of it downloaded once) and vendors/ (intel.icd naming
# venv/lib/libintelocl.so, which finds its own libraries through its
# RUNPATH, so no LD_LIBRARY_PATH; plus a copy of every system ICD file, so
# PoCL stays visible). When venv/ and vendors/ are complete nothing is
# downloaded. Otherwise tools/venv_install.sh installs the wheels into a
# new folder next to it, which is renamed into place (an interrupted
# install leaves nothing half-made). Needs python3 with venv and pip
# (Debian: python3-venv); no root. Exits 1 with one line on stderr when
# the wheels cannot be installed (offline, or no wheel for this machine:
# they are for x86-64 Linux only).
set -eu

VERSION=2026.2.0
# intel-opencl-rt's dependencies, pinned to the versions it was checked with
WHEELS="intel-opencl-rt==$VERSION intel-cmplr-lib-rt==$VERSION intel-cmplr-lic-rt==$VERSION
  tbb==2023.2.0 tcmlib==1.6.0"

dir=${XDG_CACHE_HOME:-$HOME/.cache}/clformer/intel-opencl-$VERSION
lib=$dir/venv/lib/libintelocl.so

if [ -f "$lib" ] && [ -f "$dir/vendors/intel.icd" ]; then
    echo "$dir/vendors"
    exit 0
fi

# shellcheck disable=SC2086
"$(dirname "$0")/venv_install.sh" fetch_intel_opencl "$dir" lib/libintelocl.so $WHEELS
mkdir -p "$dir/vendors"
for f in /etc/OpenCL/vendors/*.icd; do
    [ -f "$f" ] && cp "$f" "$dir/vendors/"
done
# written last: its presence marks the install complete
echo "$lib" >"$dir/vendors/intel.icd.tmp"
mv "$dir/vendors/intel.icd.tmp" "$dir/vendors/intel.icd"
echo "$dir/vendors"
