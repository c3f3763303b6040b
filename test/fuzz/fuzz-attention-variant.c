/* libFuzzer harness: clf_attention_variant_parse; whatever it accepts must
 * print (clf_attention_variant_str) to a spec that parses back to the same
 * struct, field for field (floats bit for bit). */
#include "fuzz.h"

static bool same(const struct clf_attention_variant *a, const struct clf_attention_variant *b)
{
    return a->sparsity == b->sparsity && !memcmp(&a->threshold, &b->threshold, sizeof a->threshold) &&
           a->renormalize == b->renormalize && a->topk == b->topk &&
           a->window_left == b->window_left && a->window_right == b->window_right &&
           a->global_tokens == b->global_tokens && a->rank == b->rank &&
           a->projection == b->projection && a->seed == b->seed && a->iters == b->iters &&
           a->randomized == b->randomized && a->oversample == b->oversample;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fuzz_string(data, size);
    struct clf_attention_variant v, w;
    memset(&v, 0, sizeof v);
    char msg[256], str[512];
    if (clf_attention_variant_parse(spec, &v, msg, sizeof msg) == CLF_OK) {
        clf_attention_variant_str(&v, str, sizeof str);
        memset(&w, 0, sizeof w);
        enum clf_status st = clf_attention_variant_parse(str, &w, msg, sizeof msg);
        FUZZ_CHECK(st == CLF_OK, "'%s' printed as '%s', which does not parse: %s", spec, str,
                   msg);
        FUZZ_CHECK(same(&v, &w), "'%s' printed as '%s', which parses differently", spec, str);
    } else {
        FUZZ_CHECK(memchr(msg, 0, sizeof msg) && msg[0], "failure without a message");
    }
    /* a tiny message buffer: on failure the message is cut, still terminated */
    char small[3] = {'x', 'x', 'x'};
    if (clf_attention_variant_parse(spec, &w, small, sizeof small) != CLF_OK)
        FUZZ_CHECK(memchr(small, 0, sizeof small) != NULL, "message not terminated");
    free(spec);
    return 0;
}
