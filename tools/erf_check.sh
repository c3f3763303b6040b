#!/usr/bin/env bash
# The worst error of clf_erf (cl/common.cl) over every float in [0, 4.5]
# (erf is odd), against the double-precision erf of libm: clf_erf's own
# lines (the CLF_ERF_DEFINE macro), taken from cl/common.cl, compiled as C with the float functions
# OpenCL C names fabs, fma and copysign (the same IEEE operations, correctly
# rounded), no contraction. About 2 minutes on one core.
# Usage: tools/erf_check.sh
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
    echo '#include <math.h>'
    echo '#include <stdint.h>'
    echo '#include <stdio.h>'
    echo '#include <string.h>'
    echo '#define fabs fabsf'
    echo '#define fma fmaf'
    echo '#define copysign copysignf'
    echo '#define select(a, b, c) ((c) ? (b) : (a))' # OpenCL C's, for scalars
    sed -n '/^#define CLF_ERF_DEFINE(NAME, T)/,/^    }$/p' cl/common.cl
    echo 'CLF_ERF_DEFINE(clf_erf, float)'
    cat <<'C'
int main(void)
{
    const float hi = 4.5f;
    uint32_t top;
    memcpy(&top, &hi, sizeof top);
    double worst = 0;
    float at = 0;
    for (uint32_t b = 0; b <= top; b++) {
        float x;
        memcpy(&x, &b, sizeof x);
        double ref = erf((double)x);
        float rf = (float)ref;
        double ulp = rf == 1.0f ? 0x1p-24 : nextafterf(rf, INFINITY) - (double)rf;
        double e = fabs((double)clf_erf(x) - ref) / ulp;
        if (e > worst) {
            worst = e;
            at = x;
        }
    }
    printf("clf_erf: worst %.2f ulp over every float in [0, 4.5] (at %.9g)\n", worst, (double)at);
    return 0;
}
C
} >"$tmp/erf.c"
grep -q 'return copysign(r, x);' "$tmp/erf.c" || { echo "erf_check.sh: CLF_ERF_DEFINE not found in cl/common.cl" >&2; exit 1; }
cc -O2 -ffp-contract=off "$tmp/erf.c" -o "$tmp/erf" -lm
"$tmp/erf"
