#!/usr/bin/env bash
# Kernel launches per forward pass: counts clEnqueueNDRangeKernel calls (an
# LD_PRELOAD shim built here into a temporary folder) in two runs of
#   clformer run --runs 10 / --runs 20  ARGS...
# and prints the difference over 10: what one more forward pass launches,
# without the process's build, warm-up and tuning launches.
# Usage: tools/count_launches.sh [BUILD_DIR] [-- CLFORMER_RUN_ARGS...]
#   default BUILD_DIR build; default arguments: 6 layers, d_model 384, 12
#   heads, d_ff 1536, GELU, seq 18 (all-MiniLM-L6-v2's shape at batch 1).
set -eu
build=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--seq 18 --d-model 384 --heads 12 --d-ff 1536 --layers 6 --activation gelu)
exe=$build/tools/clformer
[ -x "$exe" ] || { echo "count_launches.sh: no $exe" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/shim.c" <<'C'
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
static long launches;
static void report(void) { fprintf(stderr, "launches %ld\n", launches); }
__attribute__((constructor)) static void init(void) { atexit(report); }
cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
                              const size_t *global, const size_t *local, cl_uint n_wait,
                              const cl_event *wait, cl_event *ev)
{
    static cl_int (*real)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                          const size_t *, cl_uint, const cl_event *, cl_event *);
    if (!real)
        real = (cl_int(*)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                          const size_t *, cl_uint, const cl_event *, cl_event *))
            dlsym(RTLD_NEXT, "clEnqueueNDRangeKernel");
    launches++;
    return real(q, k, dims, off, global, local, n_wait, wait, ev);
}
C
cc -shared -fPIC -O1 "$tmp/shim.c" -o "$tmp/shim.so" -ldl
count() {
    LD_PRELOAD=$tmp/shim.so "$exe" run --runs "$1" "${args[@]}" 2>&1 >/dev/null |
        sed -n 's/^launches //p'
}
a=$(count 10)
b=$(count 20)
echo "kernel launches per forward pass: $(( (b - a) / 10 )) (clformer run ${args[*]}; $a launches with 10 timed runs, $b with 20)"
