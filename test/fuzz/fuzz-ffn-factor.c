/* libFuzzer harness: clf_ffn_factor_parse; whatever it accepts must print
 * (clf_ffn_factor_str) to a spec that parses back to the same struct,
 * field for field (eps bit for bit). */
#include "fuzz.h"

static bool same(const struct clf_ffn_factor *a, const struct clf_ffn_factor *b)
{
    return a->format == b->format && a->rank == b->rank &&
           !memcmp(&a->eps, &b->eps, sizeof a->eps) && a->oversample == b->oversample &&
           a->power_iters == b->power_iters && a->seed == b->seed && a->tt_cores == b->tt_cores;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fuzz_string(data, size);
    struct clf_ffn_factor f, g;
    memset(&f, 0, sizeof f);
    char msg[256], str[512];
    msg[0] = 0;
    if (clf_ffn_factor_parse(spec, &f, msg, sizeof msg) == CLF_OK) {
        clf_ffn_factor_str(&f, str, sizeof str);
        memset(&g, 0, sizeof g);
        enum clf_status st = clf_ffn_factor_parse(str, &g, msg, sizeof msg);
        FUZZ_CHECK(st == CLF_OK, "'%s' printed as '%s', which does not parse: %s", spec, str,
                   msg);
        FUZZ_CHECK(same(&f, &g), "'%s' printed as '%s', which parses differently", spec, str);
    } else {
        FUZZ_CHECK(memchr(msg, 0, sizeof msg) && msg[0], "failure without a message");
    }
    /* a tiny message buffer: on failure the message is cut, still terminated */
    char small[3] = {'x', 'x', 'x'};
    if (clf_ffn_factor_parse(spec, &g, small, sizeof small) != CLF_OK)
        FUZZ_CHECK(memchr(small, 0, sizeof small) != NULL, "message not terminated");
    free(spec);
    return 0;
}
