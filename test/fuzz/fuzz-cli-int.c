/* libFuzzer harness: the command line's integer parser cli_parse_int.
 * Input: 16 bytes of bounds (lo, hi as little-endian int64), then the
 * text. What it accepts must be the exact decimal value of the whole text
 * (checked against an independent parse, overflow included) and lie in
 * [lo, hi]. */
#include "fuzz.h"

#include <ctype.h>
#include <stdbool.h>

#include "../../tools/cli.h"

/* Reference: strtoll's syntax (leading space, sign, decimal digits, the
 * whole string), the exact value; false when none or beyond int64. */
static bool ref_parse(const char *s, int64_t *out)
{
    while (isspace((unsigned char)*s))
        s++;
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t mag = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (mag > (lim - d) / 10)
            return false;
        mag = mag * 10 + d;
    }
    if (*s)
        return false;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16)
        return 0;
    int64_t lo, hi;
    memcpy(&lo, data, 8);
    memcpy(&hi, data + 8, 8);
    /* mostly the bounds the command line uses */
    if ((uint64_t)lo % 4 != 0)
        lo = (int64_t)((uint64_t)lo % 3) - 1;
    if ((uint64_t)hi % 4 != 0)
        hi = (uint64_t)hi % 2 ? INT64_MAX : INT32_MAX;
    char *s = fuzz_string(data + 16, size - 16);
    int64_t v = 0x5a5a5a5a, want = 0;
    bool ok = cli_parse_int(s, lo, hi, &v);
    bool ref = ref_parse(s, &want) && want >= lo && want <= hi;
    FUZZ_CHECK(ok == ref, "'%s' in [%lld, %lld]: cli_parse_int says %d, the exact value %s", s,
               (long long)lo, (long long)hi, ok, ref ? "is in range" : "is not / has none");
    if (ok)
        FUZZ_CHECK(v == want, "'%s' read as %lld", s, (long long)v);
    free(s);
    return 0;
}
