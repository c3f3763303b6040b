#!/bin/sh
# Installs Intel's FPGA emulation OpenCL runtime once into a cache folder
# and prints a folder holding fpga-emu.icd, an ICD file naming it, for
# OCL_ICD_VENDORS, with no system file changed:
#
#   OCL_ICD_VENDORS=$(tools/fetch_intel_fpga_emu.sh)/fpga-emu.icd clformer devices
#
# It shows one accelerator, "Intel(R) FPGA Emulation Device" (OpenCL 1.2,
# embedded profile), which compiles OpenCL C source at run time on the CPU.
# Folder: ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/intel-fpga-emu-VERSION,
# holding venv/ (a virtual environment with the PyPI wheels
# intel-opencl-fpga-emu-rt and, of the same release, intel-opencl-rt and
# intel-cmplr-lib-rt, whose compiler libraries the emulator loads
# (libcommon_clang.so of that release only), and their dependencies, pinned
# below) and vendors/ (fpga-emu.icd naming venv/lib/libintelocl_emu.so,
# which finds its own libraries through its RUNPATH, so no LD_LIBRARY_PATH).
# vendors/ holds no other ICD file: the emulator must be the only platform
# of its process, since Intel's CPU runtime (tools/fetch_intel_opencl.sh, a
# newer release) ships libraries of the same file names (libtbb.so.12,
# libsvml.so, ...). When venv/ and vendors/ are complete nothing is
# downloaded. Otherwise the wheels are installed into a new folder next to
# it, which is renamed into place (an interrupted install leaves nothing
# half-made). Needs python3 with venv and pip (Debian: python3-venv); no
# root. Exits 1 with one line on stderr when the wheels cannot be installed
# (offline, or no wheel for this machine: they are for x86-64 Linux only).
set -eu

# The newest emulator release on PyPI (2025.0.x); the other Intel wheels
# must be of the same release.
VERSION=2025.0.5
# its dependencies, pinned to the versions it was checked with
WHEELS="intel-opencl-fpga-emu-rt==$VERSION intel-opencl-rt==$VERSION
  intel-cmplr-lib-rt==$VERSION intel-cmplr-lic-rt==$VERSION tbb==2022.3.1 tcmlib==1.6.0"

dir=${XDG_CACHE_HOME:-$HOME/.cache}/clformer/intel-fpga-emu-$VERSION
lib=$dir/venv/lib/libintelocl_emu.so

if [ -f "$lib" ] && [ -f "$dir/vendors/fpga-emu.icd" ]; then
    echo "$dir/vendors"
    exit 0
fi

mkdir -p "$(dirname "$dir")"
stage="$dir.tmp.$$"
trap 'rm -rf "$stage"' EXIT INT TERM
if ! python3 -m venv "$stage/venv" >"$stage.log" 2>&1; then
    echo "fetch_intel_fpga_emu: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    rm -f "$stage.log"
    exit 1
fi
# shellcheck disable=SC2086
if ! "$stage/venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries 1 \
    --timeout 60 $WHEELS >"$stage.log" 2>&1; then
    echo "fetch_intel_fpga_emu: cannot install intel-opencl-fpga-emu-rt $VERSION from PyPI" \
        "(offline, or not x86-64 Linux): $(tail -n 1 "$stage.log")" >&2
    rm -f "$stage.log"
    exit 1
fi
rm -f "$stage.log"
if [ ! -f "$stage/venv/lib/libintelocl_emu.so" ]; then
    echo "fetch_intel_fpga_emu: the wheels hold no lib/libintelocl_emu.so (was $VERSION changed?)" >&2
    exit 1
fi

# An existing folder (an earlier, interrupted or older install) is replaced.
rm -rf "$dir"
mv "$stage" "$dir"
mkdir -p "$dir/vendors"
# written last: its presence marks the install complete
echo "$lib" >"$dir/vendors/fpga-emu.icd.tmp"
mv "$dir/vendors/fpga-emu.icd.tmp" "$dir/vendors/fpga-emu.icd"
echo "$dir/vendors"
