/* test_math.c - the private jemalloc's exp, log and round (fallback_jemalloc_math.c), which
 * stand in for libm's, checked against libm: to within 2 ulp over the whole range of each,
 * exactly for round, and the special values (0, negatives, infinities, NaN, subnormals). The
 * functions are compiled in here under names of the test's own: the library keeps its copy
 * local. */
#define aslab__je_exp   tested_exp
#define aslab__je_log   tested_log
#define aslab__je_round tested_round
#include "../../src/malloc/fallback_jemalloc_math.c"

#include "test_suites.h"

#include <math.h>

static uint64_t next_random(uint64_t *rng) {
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    return *rng;
}

/* How many representable doubles apart a and b are (both finite, of one sign). */
static uint64_t ulps_apart(double a, double b) {
    int64_t x = (int64_t)to_bits(a), y = (int64_t)to_bits(b);
    return x > y ? (uint64_t)(x - y) : (uint64_t)(y - x);
}

/* The worst distance from libm over `n` arguments drawn by `draw`. */
static uint64_t worst(double (*mine)(double), double (*libm)(double), double (*draw)(uint64_t *),
                      int n) {
    uint64_t rng = 0x9E3779B97F4A7C15u, most = 0;
    for (int i = 0; i < n; i++) {
        double x = draw(&rng), a = mine(x), b = libm(x);
        uint64_t d = ulps_apart(a, b);
        if (d > most) most = d;
    }
    return most;
}

static double any_positive(uint64_t *rng) { /* every finite positive double, subnormals too */
    return from_bits(next_random(rng) % 0x7ff0000000000000u);
}

static double near_one(uint64_t *rng) { /* where log is near 0 */
    return 1 + ((double)(next_random(rng) >> 11) / 0x1p53 - 0.5) / 64;
}

static double exp_range(uint64_t *rng) { /* EXP_MIN .. EXP_MAX, subnormal results included */
    return EXP_MIN + (EXP_MAX - EXP_MIN) * ((double)(next_random(rng) >> 11) / 0x1p53);
}

static double small_exp(uint64_t *rng) {
    return ((double)(next_random(rng) >> 11) / 0x1p53 - 0.5) * 4;
}

static void test_log(void) {
    CU_ASSERT(worst(tested_log, log, any_positive, 200000) <= 2);
    CU_ASSERT(worst(tested_log, log, near_one, 200000) <= 2);
    CU_ASSERT_EQUAL(tested_log(1), 0);
    CU_ASSERT(isinf(tested_log(0)) && tested_log(0) < 0);
    CU_ASSERT(isnan(tested_log(-1)));
    CU_ASSERT(isinf(tested_log(INFINITY)) && tested_log(INFINITY) > 0);
    CU_ASSERT(isnan(tested_log(NAN)));
    CU_ASSERT(ulps_apart(tested_log(0x1p-1074), log(0x1p-1074)) <= 2);
}

static void test_exp(void) {
    CU_ASSERT(worst(tested_exp, exp, exp_range, 200000) <= 2);
    CU_ASSERT(worst(tested_exp, exp, small_exp, 200000) <= 2);
    CU_ASSERT_EQUAL(tested_exp(0), 1);
    CU_ASSERT(isinf(tested_exp(710)));
    CU_ASSERT_EQUAL(tested_exp(-746), 0);
    CU_ASSERT_EQUAL(tested_exp(-INFINITY), 0);
    CU_ASSERT(isnan(tested_exp(NAN)));
}

static void test_round(void) {
    static const double cases[] = {
        0.5,    -0.5,  1.5,   2.5, -2.5, 0.49999999999999994, -0.4, 0.0, -0.0, 4503599627370495.5,
        0x1p52, 1e300, -1e300};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double a = tested_round(cases[i]), b = round(cases[i]);
        CU_ASSERT(a == b && signbit(a) == signbit(b));
    }
    uint64_t rng = 7;
    for (int i = 0; i < 200000; i++) {
        double x = ((double)(int64_t)next_random(&rng)) / (double)((uint64_t)1 << (i % 40));
        CU_ASSERT_EQUAL_FATAL(tested_round(x), round(x));
    }
    CU_ASSERT(isnan(tested_round(NAN)) && isinf(tested_round(INFINITY)));
}

CU_TestInfo test_math_tests[] = {
    {"log against libm", test_log},
    {"exp against libm", test_exp},
    {"round against libm", test_round},
    CU_TEST_INFO_NULL,
};
