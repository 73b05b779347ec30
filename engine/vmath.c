/* vmath.c — vectorised exp-based row functions with ISA-independent bits
 * (vmath.h says which operations, and why they are fixed).
 *
 * Each function exists three times, scalar / AVX2 / AVX-512, spelling the
 * same fp32 operations in the same order; the vector paths are compiled
 * with target attributes and picked at run time, as in gemm.c. The
 * constants are shared so that no path can round one differently. */
#include "vmath.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define X_MAX 88.3762626647949f   /* x * log2(e) stays below 127.5: n <= 127 */
#define X_MIN -86.0f              /* n >= -125: the exponent add stays normal */
static const float LOG2E = 1.44269504088896341f;
static const float LN2_HI = 0.693359375f;      /* 9 significant bits: n * LN2_HI is exact */
static const float LN2_LO = -2.12194440e-4f;
/* e^r on |r| <= ln2/2 by its Taylor polynomial of degree 7 (truncation
 * below 6e-9 relative), highest coefficient first */
static const float C7 = 1.98412698e-4f, C6 = 1.38888889e-3f, C5 = 8.33333333e-3f, C4 = 4.16666667e-2f,
                   C3 = 1.66666667e-1f, C2 = 0.5f, C1 = 1.0f, C0 = 1.0f;
static const float GELU_A = 0.044715f, GELU_B = -1.5957691216057308f;   /* -2 sqrt(2/pi) */
/* tanh y on |y| < TANH_POLY by its Taylor series up to y^15, highest
 * coefficient first (the first term left out, 6404582/10854718875 y^17,
 * is below 1e-8 relative there); elsewhere (1 - e) / (1 + e) with
 * e = exp(-2|y|) <= e^-1, where 1 - e loses at most a bit and a half. */
#define TANH_POLY 0.5f
/* The exact GELU, x * Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2
 * (torch's formula), computed without its cancellation: for |u| < 0.5,
 * u = x / sqrt 2, erf u by its Taylor series to u^13 (truncation below
 * 1e-9) and Phi = 1/2 + u erf'/2; beyond, erfc |u| = exp(-u^2) erfcx |u|,
 * with u^2 split exactly (hi + lo, by an fma) so that exp(-u^2) keeps its
 * accuracy — from x itself, u^2 = x^2 / 2, since the rounding of u
 * would be multiplied by u^2 — and erfcx |u| = t P(t), t = 1 / (1 + |u| / 2),
 * P of degree 8 fitted in double to relative 3e-9 on |u| in [0.5, 9.5]
 * (|x| is clamped to 14, where erfc is 0 in fp32); Phi = 1 - erfc / 2 or
 * erfc / 2. */
#define GELU_ERF_POLY 0.5f
static const float SQRT1_2 = 0.707106781186547524f;
static const float E13 = 1.2055332982e-4f, E11 = -8.5483270235e-4f, E9 = 5.2239776254e-3f,
                   E7 = -2.6866170645e-2f, E5 = 1.1283791671e-1f, E3 = -3.7612638903e-1f, E1 = 1.1283791671f;
static const float R8 = -6.457106024e-02f, R7 = 3.091910779e-01f, R6 = -5.333310962e-01f, R5 = 3.252760172e-01f,
                   R4 = -5.541056022e-02f, R3 = 2.133660465e-01f, R2 = 2.407557666e-01f, R1 = 2.826544344e-01f,
                   R0 = 2.820726931e-01f;
static const float T15 = -1.45583438705e-3f, T13 = 3.59212803657e-3f, T11 = -8.86323552990e-3f,
                   T9 = 2.18694885362e-2f, T7 = -5.39682539683e-2f, T5 = 1.33333333333e-1f,
                   T3 = -3.33333333333e-1f;

/* ---- scalar (the definition) ------------------------------------------------ */

float vm_expf(float x)
{
    if (x != x)
        return x;
    if (x > X_MAX)
        return INFINITY;
    if (x < X_MIN)
        return 0.0f;
    float n = nearbyintf(x * LOG2E);
    float r = fmaf(n, -LN2_HI, x);
    r = fmaf(n, -LN2_LO, r);
    float p = fmaf(C7, r, C6);
    p = fmaf(p, r, C5), p = fmaf(p, r, C4), p = fmaf(p, r, C3);
    p = fmaf(p, r, C2), p = fmaf(p, r, C1), p = fmaf(p, r, C0);
    uint32_t b;
    memcpy(&b, &p, sizeof b);
    b += (uint32_t)(int32_t)n << 23;   /* p * 2^n: p in [0.7, 1.5], result normal */
    memcpy(&p, &b, sizeof p);
    return p;
}

static double fold16(double acc[16])
{
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            acc[i] += acc[i + w];
    return acc[0];
}

static double sum_scalar(float *out, const float *x, size_t n, float shift)
{
    double acc[16] = {0};
    for (size_t j = 0; j < n; j++) {
        float e = vm_expf(x[j] - shift);
        if (out)
            out[j] = e;
        acc[j % 16] += e;
    }
    return fold16(acc);
}

static float gelu1(float x) { return x / (1.0f + vm_expf(GELU_B * (x + GELU_A * x * x * x))); }

static void gelu_scalar(float *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = gelu1(x[j]);
}

static float softcap1(float z, float cap)
{
    /* tanh |y|, then y's sign (tanh(-0) = -0) */
    float y = z / cap, a = fabsf(y), t;
    if (a < TANH_POLY) {
        float a2 = a * a, p = fmaf(T15, a2, T13);
        p = fmaf(p, a2, T11), p = fmaf(p, a2, T9), p = fmaf(p, a2, T7);
        p = fmaf(p, a2, T5), p = fmaf(p, a2, T3);
        t = fmaf(a, a2 * p, a);
    } else {
        float e = vm_expf(-2.0f * a);
        t = (1.0f - e) / (1.0f + e);
    }
    return copysignf(t, y) * cap;
}

static float gelu_erf1(float x)
{
    float u = x * SQRT1_2, a = fabsf(u);
    float u2 = u * u, p = fmaf(E13, u2, E11);
    p = fmaf(p, u2, E9), p = fmaf(p, u2, E7), p = fmaf(p, u2, E5), p = fmaf(p, u2, E3), p = fmaf(p, u2, E1);
    float near0 = fmaf(0.5f * u, p, 0.5f);
    float ax = fabsf(x), xc = ax < 14.0f ? ax : 14.0f;   /* NaN: 14, as vminps */
    float ac = xc * SQRT1_2, t = 1.0f / fmaf(0.5f, ac, 1.0f), r = fmaf(R8, t, R7);
    r = fmaf(r, t, R6), r = fmaf(r, t, R5), r = fmaf(r, t, R4), r = fmaf(r, t, R3);
    r = fmaf(r, t, R2), r = fmaf(r, t, R1), r = fmaf(r, t, R0);
    float x2 = xc * xc, hi = 0.5f * x2, lo = 0.5f * fmaf(xc, xc, -x2), e = vm_expf(-hi);
    float half = fmaf(-lo, e, e) * (r * t) * 0.5f;   /* erfc(|u|) / 2 */
    float phi = a < GELU_ERF_POLY ? near0 : u > 0.0f ? 1.0f - half : half;
    return x * phi;
}

static void gelu_erf_scalar(float *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = gelu_erf1(x[j]);
}

static void softcap_scalar(float *z, size_t n, float cap)
{
    for (size_t j = 0; j < n; j++)
        z[j] = softcap1(z[j], cap);
}

static void silu_scalar(float *g, const float *u, size_t n)
{
    for (size_t j = 0; j < n; j++)
        g[j] = g[j] / (1.0f + vm_expf(-g[j])) * u[j];
}

#if defined(__x86_64__) && defined(__GNUC__)
#define VM_X86 1

/* ---- AVX-512 ----------------------------------------------------------------- */

#define T512 __attribute__((target("avx512f,fma")))

T512 static inline __m512 exp512(__m512 x)
{
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(X_MIN)), _mm512_set1_ps(X_MAX));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_HI), xc);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(C7), r, _mm512_set1_ps(C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C0));
    __m512i e = _mm512_slli_epi32(_mm512_cvtps_epi32(n), 23);
    p = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), e));
    p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(x, _mm512_set1_ps(X_MAX), _CMP_GT_OQ),
                           _mm512_set1_ps(INFINITY));
    p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(x, _mm512_set1_ps(X_MIN), _CMP_LT_OQ), _mm512_setzero_ps());
    return _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

T512 static double sum512(float *out, const float *x, size_t n, float shift)
{
    __m512d a = _mm512_setzero_pd(), b = _mm512_setzero_pd();   /* lanes 0-7, 8-15 */
    __m512 sh = _mm512_set1_ps(shift);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), sh)));
        if (out)
            _mm512_mask_storeu_ps(out + j, k, e);
        /* lanes past n add +0.0: the sums are >= +0, so no bit changes */
        a = _mm512_add_pd(a, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        b = _mm512_add_pd(b, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    __m512d s = _mm512_add_pd(a, b);                                       /* w = 8 */
    __m256d t = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));   /* w = 4 */
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));       /* w = 2 */
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));                          /* w = 1 */
}

T512 static void gelu512(float *x, size_t n)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, x + j);
        __m512 c = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_A), v), v), v);
        __m512 e = exp512(_mm512_mul_ps(_mm512_set1_ps(GELU_B), _mm512_add_ps(v, c)));
        _mm512_mask_storeu_ps(x + j, k, _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
    }
}

T512 static void silu512(float *g, const float *u, size_t n)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, g + j);
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
        __m512 s = _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(g + j, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + j)));
    }
}

T512 static void softcap512(float *z, size_t n, float cap)
{
    const __m512 c = _mm512_set1_ps(cap), one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 y = _mm512_div_ps(_mm512_maskz_loadu_ps(k, z + j), c);
        __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(y)));
        __m512 a2 = _mm512_mul_ps(a, a), p = _mm512_fmadd_ps(_mm512_set1_ps(T15), a2, _mm512_set1_ps(T13));
        p = _mm512_fmadd_ps(p, a2, _mm512_set1_ps(T11));
        p = _mm512_fmadd_ps(p, a2, _mm512_set1_ps(T9));
        p = _mm512_fmadd_ps(p, a2, _mm512_set1_ps(T7));
        p = _mm512_fmadd_ps(p, a2, _mm512_set1_ps(T5));
        p = _mm512_fmadd_ps(p, a2, _mm512_set1_ps(T3));
        __m512 poly = _mm512_fmadd_ps(a, _mm512_mul_ps(a2, p), a);
        __m512 e = exp512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), a));
        __m512 t = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
        t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(a, _mm512_set1_ps(TANH_POLY), _CMP_LT_OQ), poly);
        t = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t),
                                                _mm512_and_si512(_mm512_castps_si512(y), sign)));
        _mm512_mask_storeu_ps(z + j, k, _mm512_mul_ps(t, c));
    }
}

T512 static void gelu_erf512(float *x, size_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), halfc = _mm512_set1_ps(0.5f), zero = _mm512_setzero_ps();
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, x + j), u = _mm512_mul_ps(v, _mm512_set1_ps(SQRT1_2));
        __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(u)));
        __m512 u2 = _mm512_mul_ps(u, u), p = _mm512_fmadd_ps(_mm512_set1_ps(E13), u2, _mm512_set1_ps(E11));
        p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(E9));
        p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(E7));
        p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(E5));
        p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(E3));
        p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(E1));
        __m512 near0 = _mm512_fmadd_ps(_mm512_mul_ps(halfc, u), p, halfc);
        __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
        __m512 xc = _mm512_min_ps(ax, _mm512_set1_ps(14.0f)), ac = _mm512_mul_ps(xc, _mm512_set1_ps(SQRT1_2));
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(halfc, ac, one));
        __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(R8), t, _mm512_set1_ps(R7));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R6));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R5));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R4));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R3));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R2));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R1));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(R0));
        __m512 x2 = _mm512_mul_ps(xc, xc), hi = _mm512_mul_ps(halfc, x2);
        __m512 lo = _mm512_mul_ps(halfc, _mm512_fmsub_ps(xc, xc, x2));
        __m512 e = exp512(_mm512_sub_ps(zero, hi));
        __m512 half = _mm512_mul_ps(_mm512_mul_ps(_mm512_fnmadd_ps(lo, e, e), _mm512_mul_ps(r, t)), halfc);
        __m512 phi = _mm512_mask_mov_ps(half, _mm512_cmp_ps_mask(u, zero, _CMP_GT_OQ), _mm512_sub_ps(one, half));
        phi = _mm512_mask_mov_ps(phi, _mm512_cmp_ps_mask(a, _mm512_set1_ps(GELU_ERF_POLY), _CMP_LT_OQ), near0);
        _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(v, phi));
    }
}

/* ---- AVX2 -------------------------------------------------------------------- */

#define T256 __attribute__((target("avx2,fma")))

T256 static inline __m256 exp256(__m256 x)
{
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(X_MIN)), _mm256_set1_ps(X_MAX));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HI), xc);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(C7), r, _mm256_set1_ps(C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C0));
    __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    p = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
    p = _mm256_blendv_ps(p, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(X_MAX), _CMP_GT_OQ));
    p = _mm256_blendv_ps(p, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(X_MIN), _CMP_LT_OQ));
    return _mm256_blendv_ps(p, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* lanes [0, m) of 8 set, for maskload/maskstore */
T256 static inline __m256i mask8(size_t m)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(m < 8 ? m : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

T256 static inline __m256 load8(const float *p, size_t m)
{
    return m >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask8(m));
}

T256 static inline void store8(float *p, size_t m, __m256 v)
{
    if (m >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, mask8(m), v);
}

T256 static double sum256(float *out, const float *x, size_t n, float shift)
{
    /* the 16 lanes as four registers: 0-3, 4-7, 8-11, 12-15 */
    __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256 sh = _mm256_set1_ps(shift);
    for (size_t j = 0; j < n; j += 8) {
        size_t m = n - j;
        __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(load8(x + j, m), sh)), _mm256_castsi256_ps(mask8(m)));
        if (out)
            store8(out + j, m, e);
        int h = (int)(j / 8 % 2) * 2;
        a[h] = _mm256_add_pd(a[h], _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a[h + 1] = _mm256_add_pd(a[h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    __m256d s0 = _mm256_add_pd(a[0], a[2]), s1 = _mm256_add_pd(a[1], a[3]);   /* w = 8 */
    __m256d t = _mm256_add_pd(s0, s1);                                       /* w = 4 */
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));   /* w = 2 */
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));                      /* w = 1 */
}

T256 static void gelu256(float *x, size_t n)
{
    for (size_t j = 0; j < n; j += 8) {
        __m256 v = load8(x + j, n - j);
        __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_A), v), v), v);
        __m256 e = exp256(_mm256_mul_ps(_mm256_set1_ps(GELU_B), _mm256_add_ps(v, c)));
        store8(x + j, n - j, _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
    }
}

T256 static void softcap256(float *z, size_t n, float cap)
{
    const __m256 c = _mm256_set1_ps(cap), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (size_t j = 0; j < n; j += 8) {
        __m256 y = _mm256_div_ps(load8(z + j, n - j), c), a = _mm256_andnot_ps(sign, y);
        __m256 a2 = _mm256_mul_ps(a, a), p = _mm256_fmadd_ps(_mm256_set1_ps(T15), a2, _mm256_set1_ps(T13));
        p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(T11));
        p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(T9));
        p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(T7));
        p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(T5));
        p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(T3));
        __m256 poly = _mm256_fmadd_ps(a, _mm256_mul_ps(a2, p), a);
        __m256 e = exp256(_mm256_mul_ps(_mm256_set1_ps(-2.0f), a));
        __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
        t = _mm256_blendv_ps(t, poly, _mm256_cmp_ps(a, _mm256_set1_ps(TANH_POLY), _CMP_LT_OQ));
        t = _mm256_or_ps(t, _mm256_and_ps(y, sign));
        store8(z + j, n - j, _mm256_mul_ps(t, c));
    }
}

T256 static void gelu_erf256(float *x, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), halfc = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
    for (size_t j = 0; j < n; j += 8) {
        __m256 v = load8(x + j, n - j), u = _mm256_mul_ps(v, _mm256_set1_ps(SQRT1_2));
        __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), u);
        __m256 u2 = _mm256_mul_ps(u, u), p = _mm256_fmadd_ps(_mm256_set1_ps(E13), u2, _mm256_set1_ps(E11));
        p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(E9));
        p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(E7));
        p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(E5));
        p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(E3));
        p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(E1));
        __m256 near0 = _mm256_fmadd_ps(_mm256_mul_ps(halfc, u), p, halfc);
        __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
        __m256 xc = _mm256_min_ps(ax, _mm256_set1_ps(14.0f)), ac = _mm256_mul_ps(xc, _mm256_set1_ps(SQRT1_2));
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(halfc, ac, one));
        __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(R8), t, _mm256_set1_ps(R7));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R6));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R5));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R4));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R3));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R2));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R1));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(R0));
        __m256 x2 = _mm256_mul_ps(xc, xc), hi = _mm256_mul_ps(halfc, x2);
        __m256 lo = _mm256_mul_ps(halfc, _mm256_fmsub_ps(xc, xc, x2));
        __m256 e = exp256(_mm256_sub_ps(zero, hi));
        __m256 half = _mm256_mul_ps(_mm256_mul_ps(_mm256_fnmadd_ps(lo, e, e), _mm256_mul_ps(r, t)), halfc);
        __m256 phi = _mm256_blendv_ps(half, _mm256_sub_ps(one, half), _mm256_cmp_ps(u, zero, _CMP_GT_OQ));
        phi = _mm256_blendv_ps(phi, near0, _mm256_cmp_ps(a, _mm256_set1_ps(GELU_ERF_POLY), _CMP_LT_OQ));
        store8(x + j, n - j, _mm256_mul_ps(v, phi));
    }
}

T256 static void silu256(float *g, const float *u, size_t n)
{
    for (size_t j = 0; j < n; j += 8) {
        __m256 v = load8(g + j, n - j);
        __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), v));
        __m256 s = _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        store8(g + j, n - j, _mm256_mul_ps(s, load8(u + j, n - j)));
    }
}
#endif

/* ---- dispatch ----------------------------------------------------------------- */

double vm_exp_sum(gm_isa isa, float *out, const float *x, size_t n, float shift)
{
#ifdef VM_X86
    switch (gm_isa_resolve(isa)) {
    case GM_ISA_AVX512: return sum512(out, x, n, shift);
    case GM_ISA_AVX2: return sum256(out, x, n, shift);
    default: break;
    }
#endif
    (void)isa;
    return sum_scalar(out, x, n, shift);
}

void vm_gelu_tanh(gm_isa isa, float *x, size_t n)
{
#ifdef VM_X86
    switch (gm_isa_resolve(isa)) {
    case GM_ISA_AVX512: gelu512(x, n); return;
    case GM_ISA_AVX2: gelu256(x, n); return;
    default: break;
    }
#endif
    (void)isa;
    gelu_scalar(x, n);
}

void vm_silu_mul(gm_isa isa, float *g, const float *u, size_t n)
{
#ifdef VM_X86
    switch (gm_isa_resolve(isa)) {
    case GM_ISA_AVX512: silu512(g, u, n); return;
    case GM_ISA_AVX2: silu256(g, u, n); return;
    default: break;
    }
#endif
    (void)isa;
    silu_scalar(g, u, n);
}

void vm_softcap(gm_isa isa, float *z, size_t n, float cap)
{
#ifdef VM_X86
    switch (gm_isa_resolve(isa)) {
    case GM_ISA_AVX512: softcap512(z, n, cap); return;
    case GM_ISA_AVX2: softcap256(z, n, cap); return;
    default: break;
    }
#endif
    (void)isa;
    softcap_scalar(z, n, cap);
}

void vm_gelu_erf(gm_isa isa, float *x, size_t n)
{
#ifdef VM_X86
    switch (gm_isa_resolve(isa)) {
    case GM_ISA_AVX512: gelu_erf512(x, n); return;
    case GM_ISA_AVX2: gelu_erf256(x, n); return;
    default: break;
    }
#endif
    (void)isa;
    gelu_erf_scalar(x, n);
}
