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
# downloaded. Otherwise tools/venv_install.sh installs the wheels into a
# new folder next to it, which is renamed into place (an interrupted
# install leaves nothing half-made). Needs python3 with venv and pip
# (Debian: python3-venv); no root. Exits 1 with one line on stderr when
# the wheels cannot be installed (offline, or no wheel for this machine:
# they are for x86-64 Linux only).
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

# shellcheck disable=SC2086
"$(dirname "$0")/venv_install.sh" fetch_intel_fpga_emu "$dir" lib/libintelocl_emu.so $WHEELS
mkdir -p "$dir/vendors"
# written last: its presence marks the install complete
echo "$lib" >"$dir/vendors/fpga-emu.icd.tmp"
mv "$dir/vendors/fpga-emu.icd.tmp" "$dir/vendors/fpga-emu.icd"
echo "$dir/vendors"
