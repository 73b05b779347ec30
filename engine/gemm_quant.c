/* gemm_quant.c — products on yardstick's own quantized panels (GM_Q8,
 * GM_Q4; gemm.h, "Quantization", states the function).
 *
 * Like the GGUF blocks (gemm_ggml.c), the group's scale is factored out
 * of the k loop: per output, per group g of the column (GM_Q8: one, the
 * whole k), a = fma chain of x by the stored codes (int8 q, or the 4-bit
 * q) from 0, t = fma(a, s_g, t), and for GM_Q4 t = fma(m_g, xsum_g, t)
 * with m_g = -(s_g * z_g) (the zero point folded like a min) and xsum_g
 * the row's plain sum over the group, computed once per row per call.
 *
 * Routes, all computing that sequence per output (the same bits):
 *   - up to GQ_FUSED rows with AVX-512 (decoding): kernels read the codes
 *     and turn 16 columns' of one k into floats in registers (a sign
 *     extension and a conversion for int8, a 16-entry table permute for
 *     4-bit codes); one row of 4-bit codes (gq_f512_q4_r1) runs GQ_NG
 *     groups' chains side by side, since one row has too few chains to
 *     keep the fma units busy;
 *   - otherwise: the panel's codes widened once into fp32 (and its mins
 *     computed) per item, then the grouped fp32 kernels gq_gk (scalar,
 *     AVX2, AVX-512);
 *   - without memory for that, or for the rows' sums: a scalar loop from
 *     the codes (slow, the same bits). */
#include "gemm.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"

#define GQ_GROUP 4                  /* panels per item (gemm.c's work items) */
#define GQ_ROWS_BYTES (384u << 10)
#define GQ_MAXMR 6

__attribute__((always_inline)) static inline int gq_code(const gm_dtype DT, const unsigned char *row, size_t j)
{
    return DT == GM_Q8 ? (int)(int8_t)row[j] : j < 16 ? row[j] & 15 : row[j - 16] >> 4;
}

/* The row's sum over k [k0, k1): t = 0; t = t + x[k]. */
static float gq_xsum(const float *x, size_t k0, size_t k1)
{
    float s = 0.0f;
    for (size_t kk = k0; kk < k1; kk++)
        s = s + x[kk];
    return s;
}

/* The scalar route from the codes: the contract spelled out (xs NULL: the
 * sums computed here, the same additions). */
static void gq_scalar(gm_dtype dt, int mr, size_t k, const float *x, size_t ldx, const unsigned char *panel,
                      const float *sc, const uint8_t *zp, const float *xs, size_t ldxs, size_t G, float *tile)
{
    size_t rb = row_bytes(dt);
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            const float *xr = x + (size_t)r * ldx;
            float t = 0.0f;
            for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
                size_t k1 = k0 + G < k ? k0 + G : k;
                float a = 0.0f;
                for (size_t kk = k0; kk < k1; kk++)
                    a = fmaf(xr[kk], (float)(dt == GM_Q8 ? gq_code(GM_Q8, panel + kk * rb, j) : gq_code(GM_Q4, panel + kk * rb, j)), a);
                float s = sc[gi * GM_NR + j];
                t = fmaf(a, s, t);
                if (dt == GM_Q4)
                    t = fmaf(-(s * (float)zp[gi * GM_NR + j]), xs ? xs[(size_t)r * ldxs + gi] : gq_xsum(xr, k0, k1), t);
            }
            tile[r * GM_NR + j] = t;
        }
}

/* A panel's codes as floats, codes[kk * GM_NR + j], and (GM_Q4) its
 * mins mn[g * GM_NR + j] = -(s * z). */
__attribute__((always_inline)) static inline void gq_widen_body(gm_dtype dt, size_t k, const unsigned char *panel,
                                                                const float *sc, const uint8_t *zp, size_t ng,
                                                                float *codes, float *mn)
{
    size_t rb = row_bytes(dt);
    for (size_t kk = 0; kk < k; kk++) {
        const unsigned char *row = panel + kk * rb;
        if (dt == GM_Q8)
            for (size_t j = 0; j < GM_NR; j++)
                codes[kk * GM_NR + j] = (float)(int8_t)row[j];
        else
            for (size_t j = 0; j < 16; j++) {
                codes[kk * GM_NR + j] = (float)(row[j] & 15);
                codes[kk * GM_NR + j + 16] = (float)(row[j] >> 4);
            }
    }
    if (dt == GM_Q4)
        for (size_t i = 0; i < ng * GM_NR; i++)
            mn[i] = -(sc[i] * (float)zp[i]);
}

typedef void (*gq_widen_fn)(gm_dtype dt, size_t k, const unsigned char *panel, const float *sc, const uint8_t *zp,
                            size_t ng, float *codes, float *mn);
static void gq_widen_scalar(gm_dtype dt, size_t k, const unsigned char *panel, const float *sc, const uint8_t *zp,
                            size_t ng, float *codes, float *mn)
{
    gq_widen_body(dt, k, panel, sc, zp, ng, codes, mn);
}

/* ---- grouped fp32 kernels --------------------------------------------------
 * gq_gk(mr, k, G, x, ldx, codes, sc, mn, xs, ldxs, tile): the function
 * over widened codes; mn NULL for GM_Q8. */
typedef void (*gq_gk_fn)(int mr, size_t k, size_t G, const float *x, size_t ldx, const float *codes, const float *sc,
                         const float *mn, const float *xs, size_t ldxs, float *tile);

static void gq_gk_scalar(int mr, size_t k, size_t G, const float *x, size_t ldx, const float *codes, const float *sc,
                         const float *mn, const float *xs, size_t ldxs, float *tile)
{
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            const float *xr = x + (size_t)r * ldx;
            float t = 0.0f;
            for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
                size_t k1 = k0 + G < k ? k0 + G : k;
                float a = 0.0f;
                for (size_t kk = k0; kk < k1; kk++)
                    a = fmaf(xr[kk], codes[kk * GM_NR + j], a);
                t = fmaf(a, sc[gi * GM_NR + j], t);
                if (mn)
                    t = fmaf(mn[gi * GM_NR + j], xs[(size_t)r * ldxs + gi], t);
            }
            tile[r * GM_NR + j] = t;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define GQ_X86 1

/* AVX-512: MR <= 6 rows x 32 columns, the group's chains and the totals
 * in 24 zmm. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
gq_gk512_body(const int MR, const int MIN, size_t k, size_t G, const float *x, size_t ldx, const float *codes,
              const float *sc, const float *mn, const float *xs, size_t ldxs, float *tile)
{
    __m512 t0[GQ_MAXMR], t1[GQ_MAXMR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        t0[r] = t1[r] = _mm512_setzero_ps();
    for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
        size_t k1 = k0 + G < k ? k0 + G : k;
        __m512 a0[GQ_MAXMR], a1[GQ_MAXMR];
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
            a0[r] = a1[r] = _mm512_setzero_ps();
        for (size_t kk = k0; kk < k1; kk++) {
            __m512 w0 = _mm512_load_ps(codes + kk * GM_NR), w1 = _mm512_load_ps(codes + kk * GM_NR + 16);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m512 xv = _mm512_set1_ps(x[(size_t)r * ldx + kk]);
                a0[r] = _mm512_fmadd_ps(xv, w0, a0[r]);
                a1[r] = _mm512_fmadd_ps(xv, w1, a1[r]);
            }
        }
        __m512 s0 = _mm512_loadu_ps(sc + gi * GM_NR), s1 = _mm512_loadu_ps(sc + gi * GM_NR + 16);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            t0[r] = _mm512_fmadd_ps(a0[r], s0, t0[r]);
            t1[r] = _mm512_fmadd_ps(a1[r], s1, t1[r]);
        }
        if (MIN) {
            __m512 m0 = _mm512_loadu_ps(mn + gi * GM_NR), m1 = _mm512_loadu_ps(mn + gi * GM_NR + 16);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m512 xv = _mm512_set1_ps(xs[(size_t)r * ldxs + gi]);
                t0[r] = _mm512_fmadd_ps(m0, xv, t0[r]);
                t1[r] = _mm512_fmadd_ps(m1, xv, t1[r]);
            }
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tile + r * GM_NR, t0[r]);
        _mm512_storeu_ps(tile + r * GM_NR + 16, t1[r]);
    }
}

#define GQ_GK512(M)                                                                                                \
    __attribute__((target("avx512f,fma"))) static void gq_gk512_##M(size_t k, size_t G, const float *x,          \
                                                                   size_t ldx, const float *codes,               \
                                                                   const float *sc, const float *mn,             \
                                                                   const float *xs, size_t ldxs, float *tile)    \
    {                                                                                                            \
        if (mn)                                                                                                  \
            gq_gk512_body(M, 1, k, G, x, ldx, codes, sc, mn, xs, ldxs, tile);                                    \
        else                                                                                                     \
            gq_gk512_body(M, 0, k, G, x, ldx, codes, sc, mn, xs, ldxs, tile);                                    \
    }
GQ_GK512(1) GQ_GK512(2) GQ_GK512(3) GQ_GK512(4) GQ_GK512(5) GQ_GK512(6)
static void gq_gk512(int mr, size_t k, size_t G, const float *x, size_t ldx, const float *codes, const float *sc,
                     const float *mn, const float *xs, size_t ldxs, float *tile)
{
    static void (*const f[GQ_MAXMR + 1])(size_t, size_t, const float *, size_t, const float *, const float *,
                                         const float *, const float *, size_t, float *) = {
        NULL, gq_gk512_1, gq_gk512_2, gq_gk512_3, gq_gk512_4, gq_gk512_5, gq_gk512_6};
    f[mr](k, G, x, ldx, codes, sc, mn, xs, ldxs, tile);
}

/* AVX2: MR <= 3 rows x 16 columns per pass (c0: 0 or 16). */
#define GQ_MR256 3
__attribute__((target("avx2,fma"), always_inline)) static inline void
gq_gk256_body(const int MR, size_t k, size_t G, const float *x, size_t ldx, const float *codes, const float *sc,
              const float *mn, const float *xs, size_t ldxs, size_t c0, float *tile)
{
    __m256 t0[GQ_MR256], t1[GQ_MR256];
#pragma GCC unroll 3
    for (int r = 0; r < MR; r++)
        t0[r] = t1[r] = _mm256_setzero_ps();
    for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
        size_t k1 = k0 + G < k ? k0 + G : k;
        __m256 a0[GQ_MR256], a1[GQ_MR256];
#pragma GCC unroll 3
        for (int r = 0; r < MR; r++)
            a0[r] = a1[r] = _mm256_setzero_ps();
        for (size_t kk = k0; kk < k1; kk++) {
            __m256 w0 = _mm256_load_ps(codes + kk * GM_NR + c0), w1 = _mm256_load_ps(codes + kk * GM_NR + c0 + 8);
#pragma GCC unroll 3
            for (int r = 0; r < MR; r++) {
                __m256 xv = _mm256_broadcast_ss(x + (size_t)r * ldx + kk);
                a0[r] = _mm256_fmadd_ps(xv, w0, a0[r]);
                a1[r] = _mm256_fmadd_ps(xv, w1, a1[r]);
            }
        }
        __m256 s0 = _mm256_loadu_ps(sc + gi * GM_NR + c0), s1 = _mm256_loadu_ps(sc + gi * GM_NR + c0 + 8);
#pragma GCC unroll 3
        for (int r = 0; r < MR; r++) {
            t0[r] = _mm256_fmadd_ps(a0[r], s0, t0[r]);
            t1[r] = _mm256_fmadd_ps(a1[r], s1, t1[r]);
        }
        if (mn) {
            __m256 m0 = _mm256_loadu_ps(mn + gi * GM_NR + c0), m1 = _mm256_loadu_ps(mn + gi * GM_NR + c0 + 8);
#pragma GCC unroll 3
            for (int r = 0; r < MR; r++) {
                __m256 xv = _mm256_broadcast_ss(xs + (size_t)r * ldxs + gi);
                t0[r] = _mm256_fmadd_ps(m0, xv, t0[r]);
                t1[r] = _mm256_fmadd_ps(m1, xv, t1[r]);
            }
        }
    }
#pragma GCC unroll 3
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(tile + r * GM_NR + c0, t0[r]);
        _mm256_storeu_ps(tile + r * GM_NR + c0 + 8, t1[r]);
    }
}

#define GQ_GK256(M)                                                                                                \
    __attribute__((target("avx2,fma"))) static void gq_gk256_##M(size_t k, size_t G, const float *x, size_t ldx, \
                                                                const float *codes, const float *sc,             \
                                                                const float *mn, const float *xs, size_t ldxs,   \
                                                                float *tile)                                     \
    {                                                                                                            \
        gq_gk256_body(M, k, G, x, ldx, codes, sc, mn, xs, ldxs, 0, tile);                                        \
        gq_gk256_body(M, k, G, x, ldx, codes, sc, mn, xs, ldxs, 16, tile);                                       \
    }
GQ_GK256(1) GQ_GK256(2) GQ_GK256(3)
static void gq_gk256(int mr, size_t k, size_t G, const float *x, size_t ldx, const float *codes, const float *sc,
                     const float *mn, const float *xs, size_t ldxs, float *tile)
{
    static void (*const f[GQ_MR256 + 1])(size_t, size_t, const float *, size_t, const float *, const float *,
                                         const float *, const float *, size_t, float *) = {
        NULL, gq_gk256_1, gq_gk256_2, gq_gk256_3};
    f[mr](k, G, x, ldx, codes, sc, mn, xs, ldxs, tile);
}

__attribute__((target("avx2,fma"))) static void gq_widen_avx2(gm_dtype dt, size_t k, const unsigned char *panel,
                                                              const float *sc, const uint8_t *zp, size_t ng,
                                                              float *codes, float *mn)
{
    gq_widen_body(dt, k, panel, sc, zp, ng, codes, mn);
}
/* The widening with the fused kernels' vectors (stored). */
__attribute__((target("avx512f,avx512bw"))) static void gq_widen_avx512(gm_dtype dt, size_t k,
                                                                        const unsigned char *panel, const float *sc,
                                                                        const uint8_t *zp, size_t ng, float *codes,
                                                                        float *mn)
{
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t rb = row_bytes(dt);
    for (size_t kk = 0; kk < k; kk++) {
        const unsigned char *row = panel + kk * rb;
        __m512 w0, w1;
        if (dt == GM_Q8) {
            w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)row)));
            w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(row + 16))));
        } else {
            __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)row));
            w0 = _mm512_permutexvar_ps(b, lut);
            w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), lut);
        }
        _mm512_store_ps(codes + kk * GM_NR, w0);
        _mm512_store_ps(codes + kk * GM_NR + 16, w1);
    }
    if (dt == GM_Q4)
        for (size_t i = 0; i < ng * GM_NR; i++)
            mn[i] = -(sc[i] * (float)zp[i]);
}

/* Fused decode kernels: MR <= 6 rows x 32 columns from the codes; the
 * 4-bit ones through a table of 16 floats (vpermps ignores the index bits
 * above 4, so the high nibble needs only a shift). */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
gq_f512_body(const int MR, const gm_dtype DT, size_t k, const float *x, size_t ldx, const unsigned char *panel,
             const float *sc, const uint8_t *zp, const float *xs, size_t ldxs, size_t G, float *tile)
{
    const size_t rb = row_bytes(DT);
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 t0[GQ_MAXMR], t1[GQ_MAXMR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        t0[r] = t1[r] = _mm512_setzero_ps();
    for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
        size_t k1 = k0 + G < k ? k0 + G : k;
        __m512 a0[GQ_MAXMR], a1[GQ_MAXMR];
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
            a0[r] = a1[r] = _mm512_setzero_ps();
        for (size_t kk = k0; kk < k1; kk++) {
            const unsigned char *row = panel + kk * rb;
            __m512 w0, w1;
            if (DT == GM_Q8) {
                w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)row)));
                w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(row + 16))));
            } else {
                __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)row));
                w0 = _mm512_permutexvar_ps(b, lut);
                w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), lut);
            }
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m512 xv = _mm512_set1_ps(x[(size_t)r * ldx + kk]);
                a0[r] = _mm512_fmadd_ps(xv, w0, a0[r]);
                a1[r] = _mm512_fmadd_ps(xv, w1, a1[r]);
            }
        }
        __m512 s0 = _mm512_loadu_ps(sc + gi * GM_NR), s1 = _mm512_loadu_ps(sc + gi * GM_NR + 16);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            t0[r] = _mm512_fmadd_ps(a0[r], s0, t0[r]);
            t1[r] = _mm512_fmadd_ps(a1[r], s1, t1[r]);
        }
        if (DT == GM_Q4) {
            const __m512 zero = _mm512_setzero_ps();
            __m512 z0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(zp + gi * GM_NR))));
            __m512 z1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(zp + gi * GM_NR + 16))));
            __m512 m0 = _mm512_sub_ps(zero, _mm512_mul_ps(s0, z0)), m1 = _mm512_sub_ps(zero, _mm512_mul_ps(s1, z1));
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m512 xv = _mm512_set1_ps(xs[(size_t)r * ldxs + gi]);
                t0[r] = _mm512_fmadd_ps(m0, xv, t0[r]);
                t1[r] = _mm512_fmadd_ps(m1, xv, t1[r]);
            }
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tile + r * GM_NR, t0[r]);
        _mm512_storeu_ps(tile + r * GM_NR + 16, t1[r]);
    }
}

#define GQ_F512(M, DT, N)                                                                                          \
    __attribute__((target("avx512f,fma"))) static void gq_f512_##N##_##M(                                       \
        size_t k, const float *x, size_t ldx, const unsigned char *panel, const float *sc, const uint8_t *zp,      \
        const float *xs, size_t ldxs, size_t G, float *tile)                                                     \
    {                                                                                                            \
        gq_f512_body(M, DT, k, x, ldx, panel, sc, zp, xs, ldxs, G, tile);                                        \
    }
#define GQ_F512_ALL(DT, N)                                                                                         \
    GQ_F512(1, DT, N) GQ_F512(2, DT, N) GQ_F512(3, DT, N) GQ_F512(4, DT, N) GQ_F512(5, DT, N) GQ_F512(6, DT, N)  \
    static void gq_f512_##N(int mr, size_t k, const float *x, size_t ldx, const unsigned char *panel,            \
                            const float *sc, const uint8_t *zp, const float *xs, size_t ldxs, size_t G,          \
                            float *tile)                                                                         \
    {                                                                                                            \
        static void (*const f[GQ_MAXMR + 1])(size_t, const float *, size_t, const unsigned char *,               \
                                             const float *, const uint8_t *, const float *, size_t, size_t,      \
                                             float *) = {NULL, gq_f512_##N##_1, gq_f512_##N##_2, gq_f512_##N##_3, \
                                                         gq_f512_##N##_4, gq_f512_##N##_5, gq_f512_##N##_6};     \
        f[mr](k, x, ldx, panel, sc, zp, xs, ldxs, G, tile);                                                      \
    }
GQ_F512_ALL(GM_Q8, q8)
GQ_F512_ALL(GM_Q4, q4)

/* 4-bit codes of one k (32 columns, 16 bytes) as two vectors of floats:
 * low nibbles, then high nibbles (a mask or a shift, then a conversion;
 * in the one-row kernel below this measured ~4% faster than the table
 * permute the multi-row kernels use, same values). */
__attribute__((target("avx512f,fma"), always_inline)) static inline void gq_q4_codes(const unsigned char *row, __m512 *w0,
                                                                                    __m512 *w1)
{
    __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)row));
    *w0 = _mm512_cvtepi32_ps(_mm512_and_si512(b, _mm512_set1_epi32(15)));
    *w1 = _mm512_cvtepi32_ps(_mm512_srli_epi32(b, 4));
}

/* Folds group gi's chains into the totals, as gq_f512_body does:
 * t = fma(a, s, t), then t = fma(-(s * z), xsum, t). */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
gq_q4_fold(__m512 *t0, __m512 *t1, __m512 a0, __m512 a1, const float *sc, const uint8_t *zp, const float *xs, size_t gi)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 s0 = _mm512_loadu_ps(sc + gi * GM_NR), s1 = _mm512_loadu_ps(sc + gi * GM_NR + 16);
    *t0 = _mm512_fmadd_ps(a0, s0, *t0);
    *t1 = _mm512_fmadd_ps(a1, s1, *t1);
    __m512 z0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(zp + gi * GM_NR))));
    __m512 z1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(zp + gi * GM_NR + 16))));
    __m512 xv = _mm512_set1_ps(xs[gi]);
    *t0 = _mm512_fmadd_ps(_mm512_sub_ps(zero, _mm512_mul_ps(s0, z0)), xv, *t0);
    *t1 = _mm512_fmadd_ps(_mm512_sub_ps(zero, _mm512_mul_ps(s1, z1)), xv, *t1);
}

#define GQ_NG 3   /* groups side by side in the one-row kernel (2: -4%, 4: -20% with groups of 128) */

/* One row (decoding), 4-bit codes. With one row the kernel above has two
 * fma chains, each waiting on the last (~8 weights per cycle here); but
 * the groups' chains are independent (each a starts from 0), so GQ_NG
 * consecutive groups of the panel run side by side — 2 * GQ_NG chains —
 * and are folded into t in group order afterwards: per output, the same
 * operations in the same order as gq_f512_body. The GQ_NG streams are
 * short (G * 16 bytes each), too short for the hardware prefetcher to
 * follow, so the next GQ_NG groups are prefetched while these run
 * (without it this kernel was 1.7x slower than the two-chain one over a
 * model's matrices; with it 1.12x faster). */
__attribute__((target("avx512f,fma"))) static void gq_f512_q4_r1(size_t k, const float *x, const unsigned char *panel,
                                                                const float *sc, const uint8_t *zp, const float *xs,
                                                                size_t G, float *tile)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 t0 = zero, t1 = zero;
    size_t ng = (k + G - 1) / G, gi = 0;
    for (; gi + GQ_NG <= ng && (gi + GQ_NG) * G <= k; gi += GQ_NG) {
        __m512 a0[GQ_NG], a1[GQ_NG];
#pragma GCC unroll 8
        for (int g = 0; g < GQ_NG; g++)
            a0[g] = a1[g] = zero;
        const unsigned char *p = panel + gi * G * 16;
        const float *xp = x + gi * G;
        for (size_t kk = 0; kk < G; kk++) {
            _mm_prefetch((const char *)(p + GQ_NG * G * 16 + kk * 16 * GQ_NG), _MM_HINT_T0);
#pragma GCC unroll 8
            for (int g = 0; g < GQ_NG; g++) {
                __m512 w0, w1, xv = _mm512_set1_ps(xp[g * G + kk]);
                gq_q4_codes(p + (g * G + kk) * 16, &w0, &w1);
                a0[g] = _mm512_fmadd_ps(xv, w0, a0[g]);
                a1[g] = _mm512_fmadd_ps(xv, w1, a1[g]);
            }
        }
#pragma GCC unroll 8
        for (int g = 0; g < GQ_NG; g++)
            gq_q4_fold(&t0, &t1, a0[g], a1[g], sc, zp, xs, gi + g);
    }
    for (; gi < ng; gi++) {
        size_t k0 = gi * G, k1 = k0 + G < k ? k0 + G : k;
        __m512 a0 = zero, a1 = zero;
        for (size_t kk = k0; kk < k1; kk++) {
            __m512 w0, w1, xv = _mm512_set1_ps(x[kk]);
            gq_q4_codes(panel + kk * 16, &w0, &w1);
            a0 = _mm512_fmadd_ps(xv, w0, a0);
            a1 = _mm512_fmadd_ps(xv, w1, a1);
        }
        gq_q4_fold(&t0, &t1, a0, a1, sc, zp, xs, gi);
    }
    _mm512_storeu_ps(tile, t0);
    _mm512_storeu_ps(tile + 16, t1);
}
#endif

/* ---- driver ------------------------------------------------------------------- */

typedef void (*gq_fused_fn)(int mr, size_t k, const float *x, size_t ldx, const unsigned char *panel, const float *sc,
                            const uint8_t *zp, const float *xs, size_t ldxs, size_t G, float *tile);

typedef struct gq_ctx {
    const gm_call *c;
    gm_dtype dt;
    gq_fused_fn fused;      /* AVX-512, few rows */
    gq_widen_fn widen;
    gq_gk_fn gk;
    int mr;                 /* rows per gk / fused call */
    const float *xs;        /* GM_Q4: the rows' sums per group (ldxs a row), or NULL */
    size_t ldxs;
    float *buf;             /* per worker: a panel's codes and mins, or NULL */
    size_t bufn;
    size_t mc, np, ngroups;
} gq_ctx;

#define GQ_FUSED 12   /* rows up to which the fused kernels run */

static void gq_item(void *vctx, size_t item, int worker)
{
    const gq_ctx *g = vctx;
    const gm_call *c = g->c;
    const gm_weights *w = c->w;
    size_t r0 = item / g->ngroups * g->mc, p0 = item % g->ngroups * GQ_GROUP;
    size_t r1 = r0 + g->mc < c->n ? r0 + g->mc : c->n, p1 = p0 + GQ_GROUP < g->np ? p0 + GQ_GROUP : g->np;
    int q4 = g->dt == GM_Q4;
    _Alignas(64) float tile[GQ_MAXMR * GM_NR];
    for (size_t p = p0; p < p1; p++) {
        const unsigned char *panel = (const unsigned char *)w->panels + p * w->k * row_bytes(w->dtype);
        const float *sc = w->scales + p * w->ngroups * GM_NR;
        const uint8_t *zp = w->zeros + p * w->ngroups * GM_NR;
        size_t col = p * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
        float *codes = NULL, *mn = NULL;
        int fused = g->fused && g->xs && r1 - r0 <= GQ_FUSED;
        if (!fused && g->buf && g->xs) {
            codes = g->buf + (size_t)worker * g->bufn, mn = codes + w->k * GM_NR;
            g->widen(g->dt, w->k, panel, sc, zp, w->ngroups, codes, mn);
        }
        for (size_t i = r0; i < r1; i += (size_t)g->mr) {
            int mr = r1 - i < (size_t)g->mr ? (int)(r1 - i) : g->mr;
            const float *x = c->x + i * c->ldx, *xs = g->xs ? g->xs + i * g->ldxs : NULL;
#ifdef GQ_X86
            if (fused && mr == 1 && q4)
                gq_f512_q4_r1(w->k, x, panel, sc, zp, xs, w->group, tile);
            else
#endif
            if (fused)
                g->fused(mr, w->k, x, c->ldx, panel, sc, zp, xs, g->ldxs, w->group, tile);
            else if (codes)
                g->gk(mr, w->k, w->group, x, c->ldx, codes, sc, q4 ? mn : NULL, xs, g->ldxs, tile);
            else
                gq_scalar(g->dt, mr, w->k, x, c->ldx, panel, sc, zp, xs, g->ldxs, w->group, tile);
            gm_epilogue(c, tile, i, mr, col, ncols);
        }
    }
}

typedef struct gq_xs_ctx {
    const gm_call *c;
    float *xs;
    size_t ng;
} gq_xs_ctx;

static void gq_xs_rows(void *vctx, size_t item, int worker)
{
    (void)worker;
    const gq_xs_ctx *q = vctx;
    const gm_weights *w = q->c->w;
    size_t r1 = 16 * item + 16 < q->c->n ? 16 * item + 16 : q->c->n;
    for (size_t r = 16 * item; r < r1; r++)
        for (size_t gi = 0; gi < q->ng; gi++) {
            size_t k0 = gi * w->group, k1 = k0 + w->group < w->k ? k0 + w->group : w->k;
            q->xs[r * q->ng + gi] = gq_xsum(q->c->x + r * q->c->ldx, k0, k1);
        }
}

void gq_run(kn_pool *pool, const gm_call *c, gm_isa isa)
{
    const gm_weights *w = c->w;
    gq_ctx g = {.c = c, .dt = w->dtype, .widen = gq_widen_scalar, .gk = gq_gk_scalar, .mr = 4};
    size_t nw = pool ? (size_t)kn_pool_threads(pool) : 1;
#ifdef GQ_X86
    if (isa == GM_ISA_AVX512) {
        g.fused = w->dtype == GM_Q8 ? gq_f512_q8 : gq_f512_q4;
        g.widen = gq_widen_avx512, g.gk = gq_gk512, g.mr = 5;   /* 6 spills (-25% on int4 g32 scoring) */
    } else if (isa == GM_ISA_AVX2) {
        g.widen = gq_widen_avx2, g.gk = gq_gk256, g.mr = GQ_MR256;
    }
#else
    (void)isa;
#endif
    float *xs = NULL, *buf = NULL;
    if (w->dtype == GM_Q4) {
        if ((xs = malloc(c->n * w->ngroups * sizeof *xs + 1)) != NULL) {
            gq_xs_ctx q = {c, xs, w->ngroups};
            if (pool)
                kn_pool_run(pool, (c->n + 15) / 16, gq_xs_rows, &q);
            else
                for (size_t i = 0; i < (c->n + 15) / 16; i++)
                    gq_xs_rows(&q, i, 0);
            g.xs = xs, g.ldxs = w->ngroups;
        }
    } else {
        g.xs = c->x, g.ldxs = 0;   /* unused; not NULL, so every route is open */
    }
    /* a panel's codes and mins per worker, unless the fused kernels take every row */
    g.bufn = (w->k * GM_NR + w->ngroups * GM_NR + 15) / 16 * 16;
    if ((!g.fused || c->n > GQ_FUSED) && (buf = kn_alloc(nw * g.bufn * sizeof *buf + 64)) != NULL)
        g.buf = buf;
    size_t per = w->k ? GQ_ROWS_BYTES / (w->k * sizeof(float)) / 12 * 12 : 192;
    g.mc = per < 12 ? 12 : per > 192 ? 192 : per;
    g.np = (w->out + GM_NR - 1) / GM_NR;
    g.ngroups = (g.np + GQ_GROUP - 1) / GQ_GROUP;
    size_t nitems = (c->n + g.mc - 1) / g.mc * g.ngroups;
    if (pool)
        kn_pool_run(pool, nitems, gq_item, &g);
    else
        for (size_t i = 0; i < nitems; i++)
            gq_item(&g, i, 0);
    free(xs);
    free(buf);
}
