/* libFuzzer harness: clf_actq_parse; whatever it accepts must print
 * (clf_actq_str) to a spec that parses back to the same struct, field for
 * field (floats bit for bit). */
#include "fuzz.h"

static bool same(const struct clf_actq *a, const struct clf_actq *b)
{
    return a->kind == b->kind && a->bits == b->bits && a->is_signed == b->is_signed &&
           !memcmp(&a->alpha, &b->alpha, sizeof a->alpha) &&
           !memcmp(&a->step, &b->step, sizeof a->step) &&
           !memcmp(&a->clip, &b->clip, sizeof a->clip) &&
           !memcmp(&a->breakpoint, &b->breakpoint, sizeof a->breakpoint) &&
           a->n_thresholds == b->n_thresholds &&
           !memcmp(a->thresholds, b->thresholds, sizeof a->thresholds) &&
           !memcmp(a->levels, b->levels, sizeof a->levels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fuzz_string(data, size);
    struct clf_actq q, r;
    memset(&q, 0, sizeof q);
    char msg[256], str[1024];
    msg[0] = 0;
    if (clf_actq_parse(spec, &q, msg, sizeof msg) == CLF_OK) {
        clf_actq_str(&q, str, sizeof str);
        memset(&r, 0, sizeof r);
        enum clf_status st = clf_actq_parse(str, &r, msg, sizeof msg);
        FUZZ_CHECK(st == CLF_OK, "'%s' printed as '%s', which does not parse: %s", spec, str,
                   msg);
        FUZZ_CHECK(same(&q, &r), "'%s' printed as '%s', which parses differently", spec, str);
    } else {
        FUZZ_CHECK(memchr(msg, 0, sizeof msg) && msg[0], "failure without a message");
    }
    /* a tiny message buffer: on failure the message is cut, still terminated */
    char small[3] = {'x', 'x', 'x'};
    if (clf_actq_parse(spec, &r, small, sizeof small) != CLF_OK)
        FUZZ_CHECK(memchr(small, 0, sizeof small) != NULL, "message not terminated");
    free(spec);
    return 0;
}
