/* Host binary16 conversions: exhaustive round trip of every half value, and
 * float -> half rounding (nearest, ties to even) checked against the
 * neighbouring half values computed in double. No OpenCL needed. */
#include <math.h>
#include <string.h>

#include "common.h"

static bool is_nan16(uint16_t h)
{
    return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
}

START_TEST(test_every_half_round_trips)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = clf_f16_to_f32((uint16_t)h);
        uint16_t back = clf_f32_to_f16(f);
        if (is_nan16((uint16_t)h)) {
            ck_assert_msg(isnan(f) && is_nan16(back), "NaN 0x%04x not kept", h);
            continue;
        }
        ck_assert_msg(back == h, "0x%04x -> %a -> 0x%04x", h, (double)f, back);
    }
}
END_TEST

START_TEST(test_known_values)
{
    ck_assert_float_eq(clf_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(clf_f16_to_f32(0xc000), -2.0f);
    ck_assert_float_eq(clf_f16_to_f32(0x7bff), 65504.0f);
    ck_assert_float_eq(clf_f16_to_f32(0x0001), 0x1p-24f);
    ck_assert_float_eq(clf_f16_to_f32(0x0400), 0x1p-14f);
    ck_assert(isinf(clf_f16_to_f32(0x7c00)));
    ck_assert_uint_eq(clf_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(clf_f32_to_f16(65519.99f), 0x7bff); /* below the rounding edge */
    ck_assert_uint_eq(clf_f32_to_f16(65520.0f), 0x7c00);  /* ties to even -> Inf */
    ck_assert_uint_eq(clf_f32_to_f16(1e10f), 0x7c00);
    ck_assert_uint_eq(clf_f32_to_f16(-1e10f), 0xfc00);
    ck_assert_uint_eq(clf_f32_to_f16(0x1p-25f), 0x0000);    /* tie between 0 and 2^-24 */
    ck_assert_uint_eq(clf_f32_to_f16(0x1.8p-25f), 0x0001);  /* above the tie */
    ck_assert_uint_eq(clf_f32_to_f16(-0.0f), 0x8000);
    ck_assert(is_nan16(clf_f32_to_f16(NAN)));
}
END_TEST

/* Distance in double between x and the half h (infinite for Inf/NaN). */
static double dist(float x, uint16_t h)
{
    float v = clf_f16_to_f32(h);
    if (isinf(v) || isnan(v))
        return INFINITY;
    return fabs((double)v - (double)x);
}

START_TEST(test_rounding_random)
{
    for (int i = 0; i < 200000; i++) {
        /* magnitudes spread over the whole half range, subnormals included */
        double e = test_rand_uniform(-26.0, 16.0);
        float x = (float)(ldexp(test_rand_uniform(1.0, 2.0), (int)floor(e)) *
                          (test_rand_u64() & 1 ? 1 : -1));
        uint16_t h = clf_f32_to_f16(x);
        if (fabsf(x) >= 65520.0f) {
            ck_assert_uint_eq(h & 0x7fffu, 0x7c00u);
            continue;
        }
        double d = dist(x, h);
        uint16_t mag = h & 0x7fffu, sign = h & 0x8000u;
        /* neighbours of the same sign; crossing zero covers +-0 */
        uint16_t up = (uint16_t)(sign | (mag + 1u));
        double d_up = mag < 0x7bffu ? dist(x, up) : INFINITY;
        double d_down = mag > 0 ? dist(x, (uint16_t)(sign | (mag - 1u))) : dist(x, sign ^ 0x8000u);
        ck_assert_msg(d <= d_up && d <= d_down, "%a -> 0x%04x not nearest", (double)x, h);
        if (d == d_up || d == d_down)
            ck_assert_msg((h & 1u) == 0, "%a -> 0x%04x: tie not to even", (double)x, h);
    }
}
END_TEST

int main(void)
{
    test_seed();
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("convert");
    tcase_add_test(tc, test_every_half_round_trips);
    tcase_add_test(tc, test_known_values);
    tcase_add_test(tc, test_rounding_random);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
