/* test_vmath.c — engine/vmath.h: vm_expf is accurate to 2 ulp against
 * double exp and handles the edges; every function gives bitwise the same
 * results on the scalar, AVX2 and AVX-512 paths for every length and
 * alignment; the sum is the documented 16-lane order; GELU, SiLU and the
 * soft-cap match their double-precision definitions. */
#include "testsupport.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmath.h"

static const gm_isa ISAS[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512};
static const char *const ISA_NAMES[] = {"scalar", "avx2", "avx512"};
#define NISAS (sizeof ISAS / sizeof ISAS[0])

static float frand(uint32_t *seed, float lo, float hi)
{
    *seed = *seed * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*seed >> 8) / 16777216.0f;
}

static void test_expf_accuracy(void **state)
{
    (void)state;
    uint32_t seed = 7;
    double worst = 0;
    for (int i = 0; i < 2000000; i++) {
        float x = i < 1000000 ? frand(&seed, -86.0f, 88.37f) : frand(&seed, -1.0f, 1.0f);
        double e = exp((double)x), got = vm_expf(x);
        double rel = fabs(got - e) / e;
        worst = rel > worst ? rel : worst;
    }
    /* 2 ulp of a float in [1, 2) is 2^-22 relative at most */
    if (worst > 0x1p-22)
        fail_msg("vm_expf: worst relative error %.3g exceeds 2 ulp", worst);
}

static void test_expf_edges(void **state)
{
    (void)state;
    assert_true(vm_expf(0.0f) == 1.0f);
    assert_true(vm_expf(-0.0f) == 1.0f);
    assert_true(fabs(vm_expf(1.0f) - 2.718281828459045) < 3e-7);
    assert_true(isinf(vm_expf(89.0f)) && vm_expf(89.0f) > 0);
    assert_true(isinf(vm_expf(INFINITY)));
    assert_true(vm_expf(-87.0f) == 0.0f);
    assert_true(vm_expf(-INFINITY) == 0.0f);
    assert_true(isnan(vm_expf(NAN)));
    /* the ends of the computed range are finite and normal */
    float hi = vm_expf(88.37f), lo = vm_expf(-86.0f);
    assert_true(isfinite(hi) && fabs(hi / exp((double)88.37f) - 1) < 3e-7);
    assert_true(isnormal(lo) && fabs(lo / exp(-86.0) - 1) < 3e-7);
}

/* arrays with ordinary values, the range ends, infinities and NaN */
static float *values(size_t n, uint32_t seed)
{
    float *v = malloc((n + 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n + 1; i++)
        v[i] = frand(&seed, -30.0f, 30.0f);
    static const float special[] = {0.0f, -0.0f, 88.37f, 89.0f, -86.0f, -87.0f, 1e-30f, -1e-30f, 100.0f, -100.0f};
    for (size_t i = 0; i < n && i < 10; i++)
        v[(i * 7) % n] = special[i];
    return v;
}

static void test_same_bits_every_isa(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 100, 1000, 50257};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        for (size_t off = 0; off < 2; off++) {   /* aligned and not */
            float *v = values(n, 11 + (uint32_t)n), *u = values(n, 99 + (uint32_t)n);
            float *ref = malloc((n + 1) * sizeof *ref), *got = malloc((n + 1) * sizeof *got);
            float *g = malloc((n + 1) * sizeof *g), *gr = malloc((n + 1) * sizeof *gr);
            assert_true(ref && got && g && gr);
            double sref = vm_exp_sum(GM_ISA_SCALAR, ref + off, v + off, n - (n && off), 1.5f);
            memcpy(gr, v, (n + 1) * sizeof *gr);
            vm_gelu_tanh(GM_ISA_SCALAR, gr + off, n - (n && off));
            float *sr = malloc((n + 1) * sizeof *sr);
            assert_non_null(sr);
            memcpy(sr, v, (n + 1) * sizeof *sr);
            vm_silu_mul(GM_ISA_SCALAR, sr + off, u + off, n - (n && off));
            float *cr = malloc((n + 1) * sizeof *cr);
            assert_non_null(cr);
            memcpy(cr, v, (n + 1) * sizeof *cr);
            vm_softcap(GM_ISA_SCALAR, cr + off, n - (n && off), 2.5f);
            float *er = malloc((n + 1) * sizeof *er);
            assert_non_null(er);
            memcpy(er, v, (n + 1) * sizeof *er);
            vm_gelu_erf(GM_ISA_SCALAR, er + off, n - (n && off));
            for (size_t k = 1; k < NISAS; k++) {
                if (!gm_isa_supported(ISAS[k]))
                    continue;
                size_t m = n - (n && off);
                memset(got, 0, (n + 1) * sizeof *got);
                double s = vm_exp_sum(ISAS[k], got + off, v + off, m, 1.5f);
                if (memcmp(&s, &sref, sizeof s) != 0 || memcmp(got + off, ref + off, m * sizeof *got) != 0)
                    fail_msg("vm_exp_sum: %s differs from scalar at n = %zu, offset %zu", ISA_NAMES[k], m, off);
                double s2 = vm_exp_sum(ISAS[k], NULL, v + off, m, 1.5f);   /* no output: same sum */
                assert_memory_equal(&s2, &sref, sizeof s2);
                memcpy(g, v, (n + 1) * sizeof *g);
                vm_gelu_tanh(ISAS[k], g + off, m);
                if (memcmp(g, gr, (n + 1) * sizeof *g) != 0)   /* and nothing outside [off, off + m) */
                    fail_msg("vm_gelu_tanh: %s differs from scalar at n = %zu, offset %zu", ISA_NAMES[k], m, off);
                memcpy(g, v, (n + 1) * sizeof *g);
                vm_gelu_erf(ISAS[k], g + off, m);
                if (memcmp(g, er, (n + 1) * sizeof *g) != 0)
                    fail_msg("vm_gelu_erf: %s differs from scalar at n = %zu, offset %zu", ISA_NAMES[k], m, off);
                memcpy(g, v, (n + 1) * sizeof *g);
                vm_softcap(ISAS[k], g + off, m, 2.5f);
                if (memcmp(g, cr, (n + 1) * sizeof *g) != 0)
                    fail_msg("vm_softcap: %s differs from scalar at n = %zu, offset %zu", ISA_NAMES[k], m, off);
                memcpy(g, v, (n + 1) * sizeof *g);
                vm_silu_mul(ISAS[k], g + off, u + off, m);
                if (memcmp(g, sr, (n + 1) * sizeof *g) != 0)
                    fail_msg("vm_silu_mul: %s differs from scalar at n = %zu, offset %zu", ISA_NAMES[k], m, off);
            }
            free(v), free(u), free(ref), free(got), free(g), free(gr), free(sr), free(cr), free(er);
        }
    }
}

/* The sum is element j into lane j mod 16 (double), lanes folded 8, 4, 2,
 * 1 apart; out[j] is vm_expf(x[j] - shift). Written out independently. */
static void test_sum_order(void **state)
{
    (void)state;
    for (size_t n = 0; n < 70; n++) {
        uint32_t seed = 5 + (uint32_t)n;
        float x[70], out[70];
        for (size_t j = 0; j < n; j++)
            x[j] = frand(&seed, -20.0f, 5.0f);
        double lane[16] = {0}, plain = 0;
        for (size_t j = 0; j < n; j++) {
            lane[j % 16] += (double)vm_expf(x[j] - 0.25f);
            plain += exp((double)x[j] - 0.25);
        }
        for (int w = 8; w > 0; w /= 2)
            for (int i = 0; i < w; i++)
                lane[i] += lane[i + w];
        for (size_t k = 0; k < NISAS; k++) {
            if (!gm_isa_supported(ISAS[k]))
                continue;
            double s = vm_exp_sum(ISAS[k], out, x, n, 0.25f);
            assert_memory_equal(&s, &lane[0], sizeof s);
            for (size_t j = 0; j < n; j++)
                assert_true(out[j] == vm_expf(x[j] - 0.25f));
            assert_true(fabs(s - plain) <= 1e-6 * plain);
        }
    }
}

static void test_activations_accuracy(void **state)
{
    (void)state;
    enum { N = 4001 };
    float g[N], s[N], u[N];
    for (int i = 0; i < N; i++)
        g[i] = s[i] = (float)(i - N / 2) / 100.0f, u[i] = 1.0f;
    vm_gelu_tanh(GM_ISA_AUTO, g, N);
    vm_silu_mul(GM_ISA_AUTO, s, u, N);
    for (int i = 0; i < N; i++) {
        double x = (double)(i - N / 2) / 100.0;
        double ge = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        double se = x / (1 + exp(-x));
        if (fabs(g[i] - ge) > 2e-6 * (1 + fabs(ge)))
            fail_msg("gelu(%g) = %.9g, expected %.9g", x, g[i], ge);
        if (fabs(s[i] - se) > 2e-6 * (1 + fabs(se)))
            fail_msg("silu(%g) = %.9g, expected %.9g", x, s[i], se);
    }
    /* far tails: exactly 0 or x, no NaN from inf / inf */
    float t[] = {-1000.0f, 1000.0f, -90.0f};
    vm_gelu_tanh(GM_ISA_AUTO, t, 3);
    assert_true(t[0] == 0.0f && t[1] == 1000.0f && t[2] == 0.0f);
    float a[] = {-1000.0f, 1000.0f}, one[] = {1.0f, 1.0f};
    vm_silu_mul(GM_ISA_AUTO, a, one, 2);
    assert_true(a[0] == 0.0f && a[1] == 1000.0f);
}

/* cap * tanh(z / cap) within 3 ulp of the double function of the fp32 quotient, on both sides
 * of the polynomial/exp switch (|z / cap| = 0.5), with the edges: signed
 * zeros, infinities to +-cap, NaN kept. */
static void test_softcap_accuracy(void **state)
{
    (void)state;
    enum { N = 200001 };
    static float z[N];
    const float caps[] = {30.0f, 50.0f, 1.0f};
    double worst = 0;
    for (size_t ci = 0; ci < 3; ci++) {
        float cap = caps[ci];
        for (int i = 0; i < N; i++)
            z[i] = (float)(i - N / 2) / (float)(N / 2) * 8.0f * cap;   /* |z / cap| up to 8 */
        for (size_t is = 0; is < NISAS; is++) {
            if (!gm_isa_supported(ISAS[is]))
                continue;
            float *c = malloc(N * sizeof *c);
            assert_non_null(c);
            memcpy(c, z, sizeof z);
            vm_softcap(ISAS[is], c, N, cap);
            for (int i = 0; i < N; i++) {
                double want = (double)cap * tanh((double)(z[i] / cap));   /* the quotient in fp32, as HF */
                float wf = (float)want;
                double ulp = wf == 0.0f ? 0x1p-149 : fabs((double)nextafterf(wf, INFINITY) - wf);
                if (fabs(c[i] - want) / ulp > worst)
                    worst = fabs(c[i] - want) / ulp;
                if (fabs(c[i] - want) > 3 * ulp)
                    fail_msg("softcap(%.9g, %g) = %.9g, expected %.9g (%s)", z[i], cap, c[i], want, ISA_NAMES[is]);
            }
            free(c);
        }
    }
    print_message("softcap: worst error %.2f ulp\n", worst);
    float e[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e30f};
    vm_softcap(GM_ISA_AUTO, e, 7, 30.0f);
    assert_true(e[0] == 0.0f && !signbit(e[0]) && e[1] == 0.0f && signbit(e[1]));
    assert_true(e[2] == 30.0f && e[3] == -30.0f && isnan(e[4]) && e[5] == 30.0f && e[6] == -30.0f);
}

/* The exact GELU within 6 ulp of x * Phi(x) in double (Phi from erfc,
 * so that the far negative side is held to its relative accuracy too,
 * down to results of 1e-35, below which Phi is subnormal and then 0), over |x| <= 40 and on both sides of the series/erfc switch (|x| = 0.5
 * sqrt 2); edges: +-0, +inf, NaN. */
static void test_gelu_erf_accuracy(void **state)
{
    (void)state;
    enum { N = 400001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - N / 2) / (float)(N / 2) * 40.0f;
    double worst = 0;
    for (size_t is = 0; is < NISAS; is++) {
        if (!gm_isa_supported(ISAS[is]))
            continue;
        memcpy(y, x, sizeof x);
        vm_gelu_erf(ISAS[is], y, N);
        for (int i = 0; i < N; i++) {
            double want = (double)x[i] * 0.5 * erfc(-(double)x[i] / sqrt(2.0));
            float wf = (float)want;
            if (fabsf(wf) < 0x1p-126f)   /* below the normal range: absolute */
                wf = 0x1p-126f;
            double ulp = fabs((double)nextafterf(fabsf(wf), INFINITY) - fabsf(wf));
            if (fabs(want) < 1e-35 && fabs(y[i] - want) < 1e-36)
                continue;   /* x < -12: Phi is subnormal in fp32, then 0 (torch: 0 below -5.5) */
            double d = fabs(y[i] - want) / ulp;
            if (d > worst)
                worst = d;
            if (d > 6)
                fail_msg("gelu_erf(%.9g) = %.9g, expected %.9g (%s)", x[i], y[i], want, ISA_NAMES[is]);
        }
    }
    print_message("gelu_erf: worst error %.2f ulp\n", worst);
    float e[] = {0.0f, -0.0f, INFINITY, NAN, 3.0f};
    vm_gelu_erf(GM_ISA_AUTO, e, 5);
    assert_true(e[0] == 0.0f && e[1] == 0.0f && e[2] == INFINITY && isnan(e[3]));
    assert_true(fabsf(e[4] - 2.99595031f) < 1e-6f);   /* 3 Phi(3) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_accuracy),       cmocka_unit_test(test_expf_edges),
        cmocka_unit_test(test_same_bits_every_isa), cmocka_unit_test(test_sum_order),
        cmocka_unit_test(test_activations_accuracy),
        cmocka_unit_test(test_softcap_accuracy),
        cmocka_unit_test(test_gelu_erf_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
