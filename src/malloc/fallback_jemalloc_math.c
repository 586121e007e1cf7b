/* fallback_jemalloc_math.c - exp, log and round for the private jemalloc, so that the
 * library does not load libm: 0.3 MiB of resident memory in every process (its text and
 * tables, faulted in as the dynamic linker relocates it), against a one-malloc program's
 * 2.7 MiB under aslab. Only jemalloc's heap profiler calls them (prof.o: log, for the
 * sampling interval; prof_data.o: exp and round, to unbias a dump), and the copy's options
 * never turn profiling on (fallback_jemalloc.c); they are correct all the same, to about an
 * ulp (tests/malloc/test_math.c checks them against libm). The Makefile sends jemalloc's
 * calls here (JEMALLOC_REDIRECT).
 *
 * log: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1, ln x = e ln 2 + 2 atanh(s)
 * with s = f / (2 + f), |s| < 0.172, written as fdlibm does so that the exact f leads and the
 * series (to s^23; the next term is below 2^-64) only corrects it.
 * exp: x = k ln 2 + r with |r| <= ln 2 / 2, e^x = 2^k e^r, e^r by Taylor to r^17; ln 2 in
 * two parts (fdlibm's), so that k ln 2 is exact in the first. */
#include "fallback_jemalloc.h"

#include <stdint.h>
#include <string.h>

#define LN2_HI    6.93147180369123816490e-01 /* the top 32 bits of ln 2: k * LN2_HI is exact */
#define LN2_LO    1.90821492927058770002e-10 /* ln 2 - LN2_HI */
#define INV_LN2   1.44269504088896338700e+00
#define SQRT2     1.41421356237309504880
#define EXP_MAX   709.782712893383973096    /* above it e^x overflows */
#define EXP_MIN   (-745.133219101941108420) /* below it e^x rounds to 0 */
#define TWO_54    18014398509481984.0
#define MANT_MASK ((uint64_t)0x000fffffffffffff)
#define ONE_BITS  ((uint64_t)0x3ff0000000000000)

static double from_bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static uint64_t to_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* 2^k for -1022 <= k <= 1023. */
static double pow2(int k) {
    return from_bits((uint64_t)(k + 1023) << 52);
}

double aslab__je_round(double x) {
    if (!(__builtin_fabs(x) < TWO_54 / 4)) return x; /* NaN, infinite, or already whole */
    double t = (double)(int64_t)x;                   /* toward zero */
    if (x - t >= 0.5)
        t += 1;
    else if (t - x >= 0.5)
        t -= 1;
    return __builtin_copysign(t, x); /* -0.4 rounds to -0 */
}

double aslab__je_log(double x) {
    if (x != x || x == __builtin_inf()) return x;
    if (x < 0) return __builtin_nan("");
    if (x == 0) return -__builtin_inf();
    int e = 0;
    if (x < 0x1p-1022) { /* subnormal: make it normal first */
        x *= TWO_54;
        e = -54;
    }
    uint64_t bits = to_bits(x);
    e += (int)(bits >> 52) - 1023;
    double m = from_bits((bits & MANT_MASK) | ONE_BITS); /* [1, 2) */
    if (m > SQRT2) {
        m *= 0.5;
        e++;
    }
    /* ln m = 2 atanh(s) = f - (f^2 / 2 - s (f^2 / 2 + R)): f exact, the rest small */
    double f = m - 1, s = f / (2 + f), z = s * s, r = 0, half_f2 = 0.5 * f * f;
    for (int k = 23; k >= 3; k -= 2)
        r = (r + 2.0 / k) * z;
    return e * LN2_HI + (f - (half_f2 - (s * (half_f2 + r) + e * LN2_LO)));
}

double aslab__je_exp(double x) {
    if (x != x) return x;
    if (x > EXP_MAX) return __builtin_inf();
    if (x < EXP_MIN) return 0;
    double kf = aslab__je_round(x * INV_LN2);
    int k = (int)kf;
    double r = (x - kf * LN2_HI) - kf * LN2_LO, q = 1;
    for (int i = 17; i >= 1; i--)
        q = 1 + r * q / i;
    if (k < -1021) return q * pow2(k + 54) / TWO_54; /* a subnormal result */
    if (k > 1023) return q * pow2(k - 1) * 2;
    return q * pow2(k);
}
