#include "bootstrap.h"

#include <math.h>
#include <stdlib.h>

/* xoshiro256** seeded through splitmix64: small, fast, reproducible. */
typedef struct {
    uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n) without modulo bias (Lemire's method). */
static size_t below(rng *r, size_t n)
{
    uint64_t x = next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -(uint64_t)n % n;
        while (l < t) {
            x = next(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (size_t)(m >> 64);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int boot_resample(size_t n, int iters, uint64_t seed, boot_fn fn, void *ctx, boot_estimate *out,
                  ys_error *err)
{
    out->stderr_ = out->ci_low = out->ci_high = NAN;
    if (n == 0 || iters < 2)
        return 0;
    size_t *idx = malloc(n * sizeof *idx);
    double *reps = malloc((size_t)iters * sizeof *reps);
    if (!idx || !reps) {
        free(idx), free(reps);
        return ys_fail(err, YS_ENOMEM, "out of memory in bootstrap");
    }
    rng r;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix(&x);
    double mean = 0;
    for (int it = 0; it < iters; it++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = below(&r, n);
        reps[it] = fn(idx, n, ctx);
        mean += reps[it];
    }
    mean /= iters;
    double ss = 0;
    for (int it = 0; it < iters; it++)
        ss += (reps[it] - mean) * (reps[it] - mean);
    out->stderr_ = sqrt(ss / (iters - 1));
    qsort(reps, (size_t)iters, sizeof *reps, cmp_double);
    size_t lo = (size_t)iters / 40;
    out->ci_low = reps[lo];
    out->ci_high = reps[(size_t)iters - lo - 1];
    free(idx), free(reps);
    return 0;
}

void boot_mean(const double *values, size_t n, boot_estimate *out)
{
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += values[i];
    mean = n ? mean / (double)n : NAN;
    out->value = mean;
    out->stderr_ = out->ci_low = out->ci_high = NAN;
    if (n < 2)
        return;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (values[i] - mean) * (values[i] - mean);
    out->stderr_ = sqrt(ss / (double)(n - 1)) / sqrt((double)n);
    out->ci_low = mean - 1.959963984540054 * out->stderr_;
    out->ci_high = mean + 1.959963984540054 * out->stderr_;
}
