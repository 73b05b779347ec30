/* gemm_ggml.c — products on GGUF blocks (GM_GGML; gemm.h, "GGUF blocks",
 * states the function, gemm_internal.h the interleaved units).
 *
 * The function factors each sub-block's scale out of its k loop: per
 * output, per sub-block of 32 k (Q4_0, Q6_K: two of 16) in k order,
 *     a = 0; for its k ascending: a = fma(x[k], (float) code[k], a)
 *     t = fma(a, scale, t)          (and t = fma(min, xsum, t) for the types
 *                                    with a min: Q4_1, Q5_1, Q4_K, Q5_K)
 * where the codes are the blocks' small integers (exact in fp32), the
 * scale and min fp32 values computed exactly from the block's fields, and
 * xsum the row's plain fp32 sum over the sub-block, k ascending from 0,
 * computed once per row and shared by every column (gg_run). It is the
 * dequantized weights' product up to fp32 rounding, with one multiply per
 * sub-block where the exact weights cost one per weight.
 *
 * Routes, all computing that sequence per output (the same bits):
 *   - few rows with AVX-512 (decoding), Q8_0, Q4_0, Q4_K, Q5_K, Q6_K:
 *     fused kernels read the units and turn 16 columns' codes of one k
 *     into floats in registers (a 16-entry table permute for 4-bit codes),
 *     fma them into the sub-block's chains, and fold each sub-block into
 *     the totals, two panels per pass;
 *   - otherwise up to GG_FEW rows: each sub-block's codes widened into an
 *     L1 tile, then the sub-block kernels (gg_sbk) carry the totals in a
 *     tile from one sub-block to the next;
 *   - more rows (scoring): the panel's codes, scales and mins widened once
 *     per item, then gg_sbk over the whole k.
 * Scalar, AVX2 and AVX-512 variants of each piece spell the same
 * operations. */
#include "gemm.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"
#include "gguf.h"

/* gemm.c's work items (their sizes cannot change a result) */
#define GG_GROUP 4                  /* panels per item */
#define GG_ROWS_BYTES (384u << 10)  /* rows per item: about this many bytes of them */
#define GG_SBK_MAXMR 6              /* rows of the widest gg_sbk */

static inline uint16_t gg_le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* The types whose sub-blocks carry a min (weight = scale * code + min). */
static int gg_has_min(int type)
{
    return type == GGML_Q4_1 || type == GGML_Q5_1 || type == GGML_Q4_K || type == GGML_Q5_K;
}

/* ---- a sub-block's codes, scales and mins -----------------------------------
 * gg_sub(type, u, s, o, sc, mn): for sub-block s (k 32 s .. 32 s + 31) of
 * a panel's unit u, the codes as floats o[e * GM_NR + c] (e the k in the
 * sub-block, c the column), the scales sc[h * GM_NR + c] of its k 16 h ..
 * 16 h + 15 (the same twice except Q6_K), and the mins mn[c] (types with
 * a min; with a minus sign folded in where the format subtracts it):
 *   Q8_0 code q, scale d;  Q4_0 code q - 8, scale d;  Q4_1 code q, scale d,
 *   min m;  Q5_0 code q - 16, scale d;  Q5_1 code q, scale d, min m;
 *   Q4_K/Q5_K code q, scale d * sc, min -(dmin * m) (sc, m the sub-block's
 *   6-bit scale and min);  Q6_K code q - 32, scale d * sc of each 16 k.
 * Every value is exact (the products are of an fp16 by a <= 8-bit integer),
 * so how a path computes them cannot change a bit. The loops run over the
 * 32 columns innermost (contiguous in the units) and the body is compiled
 * per instruction set for the vectoriser. */
__attribute__((always_inline)) static inline void gg_sub_body(int type, const unsigned char *restrict u, size_t s,
                                                              float *restrict o, float *restrict sc,
                                                              float *restrict mn)
{
    float d[GM_NR];
    const unsigned char *dp = type == GGML_Q6_K ? u + 32 * 208 : u;
    for (size_t c = 0; c < GM_NR; c++)
        d[c] = f16_to_f32(gg_le16(dp + 2 * c));
    if (type != GGML_Q4_K && type != GGML_Q5_K && type != GGML_Q6_K)
        for (size_t c = 0; c < GM_NR; c++)
            sc[c] = sc[GM_NR + c] = d[c];
    switch (type) {
    case GGML_Q8_0: {
        const int8_t *q = (const int8_t *)(u + 64);
        for (size_t e = 0; e < 32; e++)
            for (size_t c = 0; c < GM_NR; c++)
                o[e * GM_NR + c] = (float)q[e * GM_NR + c];
        break;
    }
    case GGML_Q4_0:
    case GGML_Q4_1: {
        int one = type == GGML_Q4_1, z = one ? 0 : 8;
        const unsigned char *q = u + (one ? 128 : 64);
        for (size_t i = 0; i < 16; i++)
            for (size_t c = 0; c < GM_NR; c++) {
                int b = q[i * GM_NR + c];
                o[i * GM_NR + c] = (float)((b & 15) - z);
                o[(i + 16) * GM_NR + c] = (float)((b >> 4) - z);
            }
        if (one)
            for (size_t c = 0; c < GM_NR; c++)
                mn[c] = f16_to_f32(gg_le16(u + 64 + 2 * c));
        break;
    }
    case GGML_Q5_0:
    case GGML_Q5_1: {
        int one = type == GGML_Q5_1, z = one ? 0 : 16;
        const unsigned char *h = u + (one ? 128 : 64), *q = u + (one ? 256 : 192);
        uint32_t qh[GM_NR];
        for (size_t c = 0; c < GM_NR; c++)
            qh[c] = (uint32_t)h[4 * c] | (uint32_t)h[4 * c + 1] << 8 | (uint32_t)h[4 * c + 2] << 16 |
                    (uint32_t)h[4 * c + 3] << 24;
        for (size_t i = 0; i < 16; i++)
            for (size_t c = 0; c < GM_NR; c++) {
                int b = q[i * GM_NR + c];
                int lo = (b & 15) | (int)((qh[c] >> i) & 1) << 4, hi = (b >> 4) | (int)((qh[c] >> (i + 16)) & 1) << 4;
                o[i * GM_NR + c] = (float)(lo - z);
                o[(i + 16) * GM_NR + c] = (float)(hi - z);
            }
        if (one)
            for (size_t c = 0; c < GM_NR; c++)
                mn[c] = f16_to_f32(gg_le16(u + 64 + 2 * c));
        break;
    }
    case GGML_Q4_K:
    case GGML_Q5_K: {
        /* the sub-block's 6-bit scale and min (gguf_quant.c, scale_min_k4) */
        const unsigned char *scb = u + 128;
        for (size_t c = 0; c < GM_NR; c++) {
            int a, m;
            if (s < 4) {
                a = scb[s * GM_NR + c] & 63;
                m = scb[(s + 4) * GM_NR + c] & 63;
            } else {
                a = (scb[(s + 4) * GM_NR + c] & 15) | (scb[(s - 4) * GM_NR + c] >> 6) << 4;
                m = (scb[(s + 4) * GM_NR + c] >> 4) | (scb[s * GM_NR + c] >> 6) << 4;
            }
            sc[c] = sc[GM_NR + c] = d[c] * (float)a;
            mn[c] = -(f16_to_f32(gg_le16(u + 64 + 2 * c)) * (float)m);
        }
        int five = type == GGML_Q5_K, sh = (s & 1) ? 4 : 0;
        const unsigned char *q = u + (five ? 1536 : 512) + s / 2 * 32 * GM_NR, *h = u + 512;
        for (size_t j = 0; j < 32; j++)
            for (size_t c = 0; c < GM_NR; c++) {
                int v = (q[j * GM_NR + c] >> sh) & 15;
                if (five)
                    v |= ((h[j * GM_NR + c] >> s) & 1) << 4;
                o[j * GM_NR + c] = (float)v;
            }
        break;
    }
    case GGML_Q6_K: {
        const int8_t *scales = (const int8_t *)(u + 32 * 192);
        size_t half = s / 4, t = s % 4;
        const unsigned char *ql = u + (64 * half + 32 * (t & 1)) * GM_NR, *h = u + 4096 + 32 * half * GM_NR;
        for (size_t c = 0; c < GM_NR; c++) {
            sc[c] = d[c] * (float)scales[(2 * s) * GM_NR + c];
            sc[GM_NR + c] = d[c] * (float)scales[(2 * s + 1) * GM_NR + c];
        }
        int sh = t >= 2 ? 4 : 0;
        for (size_t j = 0; j < 32; j++)
            for (size_t c = 0; c < GM_NR; c++) {
                int lo = (ql[j * GM_NR + c] >> sh) & 15, hi = (h[j * GM_NR + c] >> (2 * t)) & 3;
                o[j * GM_NR + c] = (float)((lo | hi << 4) - 32);
            }
        break;
    }
    default:
        break;
    }
}

typedef void (*gg_sub_fn)(int type, const unsigned char *u, size_t s, float *o, float *sc, float *mn);
static void gg_sub_scalar(int type, const unsigned char *u, size_t s, float *o, float *sc, float *mn)
{
    gg_sub_body(type, u, s, o, sc, mn);
}

/* ---- sub-block kernels --------------------------------------------------------
 * gg_sbk(mr, nsub, x, ldx, codes, sc, mn, xs, ldxs, tile, cont): for rows
 * r < mr and columns j < GM_NR, the function above over nsub sub-blocks of
 * 32 k: codes[(32 b + e) * GM_NR + j], sc[(2 b + h) * GM_NR + j], mn[b *
 * GM_NR + j] (NULL: no min), xs[r * ldxs + b] the rows' sums; the total
 * starts from 0 (cont = 0) or from the tile (cont = 1: the same sequence
 * carried on over the next sub-blocks). HALF: two chains of 16 k, each
 * folded with its scale (Q6_K's two; Q4_0's d twice). */
typedef void (*gg_sbk_fn)(int mr, size_t nsub, const float *x, size_t ldx, const float *codes, const float *sc,
                          const float *mn, const float *xs, size_t ldxs, float *tile, int cont);

__attribute__((always_inline)) static inline void gg_sbk_scalar_body(const int HALF, int mr, size_t nsub,
                                                                     const float *x, size_t ldx, const float *codes,
                                                                     const float *sc, const float *mn,
                                                                     const float *xs, size_t ldxs, float *tile,
                                                                     int cont)
{
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            float t = cont ? tile[r * GM_NR + j] : 0.0f;
            for (size_t b = 0; b < nsub; b++) {
                const float *xb = x + (size_t)r * ldx + 32 * b, *cb = codes + 32 * b * GM_NR + j;
                if (HALF) {
                    for (size_t h = 0; h < 2; h++) {
                        float a = 0.0f;
                        for (size_t e = 16 * h; e < 16 * h + 16; e++)
                            a = fmaf(xb[e], cb[e * GM_NR], a);
                        t = fmaf(a, sc[(2 * b + h) * GM_NR + j], t);
                    }
                } else {
                    float a = 0.0f;
                    for (size_t e = 0; e < 32; e++)
                        a = fmaf(xb[e], cb[e * GM_NR], a);
                    t = fmaf(a, sc[2 * b * GM_NR + j], t);
                    if (mn)
                        t = fmaf(mn[b * GM_NR + j], xs[(size_t)r * ldxs + b], t);
                }
            }
            tile[r * GM_NR + j] = t;
        }
}

static void gg_sbk_scalar(int mr, size_t nsub, const float *x, size_t ldx, const float *codes, const float *sc,
                          const float *mn, const float *xs, size_t ldxs, float *tile, int cont)
{
    gg_sbk_scalar_body(0, mr, nsub, x, ldx, codes, sc, mn, xs, ldxs, tile, cont);
}
static void gg_sbk_scalar_h(int mr, size_t nsub, const float *x, size_t ldx, const float *codes, const float *sc,
                            const float *mn, const float *xs, size_t ldxs, float *tile, int cont)
{
    gg_sbk_scalar_body(1, mr, nsub, x, ldx, codes, sc, mn, xs, ldxs, tile, cont);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define GG_X86 1

/* AVX-512: MR <= 6 rows x 32 columns, the sub-block's chains and the
 * totals both in registers (24 zmm). */
#define GG_SBK512_MR 6
__attribute__((target("avx512f,fma"), always_inline)) static inline void
gg_sbk512_body(const int MR, const int HALF, const int MIN, size_t nsub, const float *x, size_t ldx,
               const float *codes, const float *sc, const float *mn, const float *xs, size_t ldxs, float *tile,
               int cont)
{
    __m512 t0[GG_SBK512_MR], t1[GG_SBK512_MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        t0[r] = cont ? _mm512_loadu_ps(tile + r * GM_NR) : _mm512_setzero_ps();
        t1[r] = cont ? _mm512_loadu_ps(tile + r * GM_NR + 16) : _mm512_setzero_ps();
    }
    for (size_t b = 0; b < nsub; b++) {
        const float *xb = x + 32 * b, *cb = codes + 32 * b * GM_NR;
        for (int h = 0; h < (HALF ? 2 : 1); h++) {
            __m512 a0[GG_SBK512_MR], a1[GG_SBK512_MR];
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++)
                a0[r] = a1[r] = _mm512_setzero_ps();
            for (int e = HALF ? 16 * h : 0; e < (HALF ? 16 * h + 16 : 32); e++) {
                __m512 w0 = _mm512_load_ps(cb + e * GM_NR), w1 = _mm512_load_ps(cb + e * GM_NR + 16);
#pragma GCC unroll 6
                for (int r = 0; r < MR; r++) {
                    __m512 xv = _mm512_set1_ps(xb[(size_t)r * ldx + (size_t)e]);
                    a0[r] = _mm512_fmadd_ps(xv, w0, a0[r]);
                    a1[r] = _mm512_fmadd_ps(xv, w1, a1[r]);
                }
            }
            __m512 s0 = _mm512_loadu_ps(sc + (2 * b + (size_t)h) * GM_NR), s1 = _mm512_loadu_ps(sc + (2 * b + (size_t)h) * GM_NR + 16);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                t0[r] = _mm512_fmadd_ps(a0[r], s0, t0[r]);
                t1[r] = _mm512_fmadd_ps(a1[r], s1, t1[r]);
            }
        }
        if (MIN) {
            __m512 m0 = _mm512_loadu_ps(mn + b * GM_NR), m1 = _mm512_loadu_ps(mn + b * GM_NR + 16);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m512 xv = _mm512_set1_ps(xs[(size_t)r * ldxs + b]);
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

#define GG_SBK512(M, H, MI, N)                                                                                     \
    __attribute__((target("avx512f,fma"))) static void gg_sbk512_##N##_##M(                                      \
        size_t nsub, const float *x, size_t ldx, const float *codes, const float *sc, const float *mn,             \
        const float *xs, size_t ldxs, float *tile, int cont)                                                     \
    {                                                                                                            \
        gg_sbk512_body(M, H, MI, nsub, x, ldx, codes, sc, mn, xs, ldxs, tile, cont);                             \
    }
#define GG_SBK512_ALL(H, MI, N)                                                                                    \
    GG_SBK512(1, H, MI, N) GG_SBK512(2, H, MI, N) GG_SBK512(3, H, MI, N) GG_SBK512(4, H, MI, N)                    \
    GG_SBK512(5, H, MI, N) GG_SBK512(6, H, MI, N)                                                                \
    static void gg_sbk512_##N(int mr, size_t nsub, const float *x, size_t ldx, const float *codes,               \
                              const float *sc, const float *mn, const float *xs, size_t ldxs, float *tile,       \
                              int cont)                                                                          \
    {                                                                                                            \
        static void (*const f[GG_SBK512_MR + 1])(size_t, const float *, size_t, const float *, const float *,    \
                                                 const float *, const float *, size_t, float *, int) = {         \
            NULL, gg_sbk512_##N##_1, gg_sbk512_##N##_2, gg_sbk512_##N##_3,                                      \
            gg_sbk512_##N##_4, gg_sbk512_##N##_5, gg_sbk512_##N##_6};                                           \
        f[mr](nsub, x, ldx, codes, sc, mn, xs, ldxs, tile, cont);                                                \
    }
GG_SBK512_ALL(0, 0, p)
GG_SBK512_ALL(0, 1, m)
GG_SBK512_ALL(1, 0, h)

/* AVX2: MR <= 3 rows x 16 columns per pass (c0: 0 or 16), chains and
 * totals in 12 ymm. */
#define GG_SBK256_MR 3
__attribute__((target("avx2,fma"), always_inline)) static inline void
gg_sbk256_body(const int MR, const int HALF, const int MIN, size_t nsub, const float *x, size_t ldx,
               const float *codes, const float *sc, const float *mn, const float *xs, size_t ldxs, size_t c0,
               float *tile, int cont)
{
    __m256 t0[GG_SBK256_MR], t1[GG_SBK256_MR];
#pragma GCC unroll 3
    for (int r = 0; r < MR; r++) {
        t0[r] = cont ? _mm256_loadu_ps(tile + r * GM_NR + c0) : _mm256_setzero_ps();
        t1[r] = cont ? _mm256_loadu_ps(tile + r * GM_NR + c0 + 8) : _mm256_setzero_ps();
    }
    for (size_t b = 0; b < nsub; b++) {
        const float *xb = x + 32 * b, *cb = codes + 32 * b * GM_NR + c0;
        for (int h = 0; h < (HALF ? 2 : 1); h++) {
            __m256 a0[GG_SBK256_MR], a1[GG_SBK256_MR];
#pragma GCC unroll 3
            for (int r = 0; r < MR; r++)
                a0[r] = a1[r] = _mm256_setzero_ps();
            for (int e = HALF ? 16 * h : 0; e < (HALF ? 16 * h + 16 : 32); e++) {
                __m256 w0 = _mm256_loadu_ps(cb + e * GM_NR), w1 = _mm256_loadu_ps(cb + e * GM_NR + 8);
#pragma GCC unroll 3
                for (int r = 0; r < MR; r++) {
                    __m256 xv = _mm256_broadcast_ss(xb + (size_t)r * ldx + (size_t)e);
                    a0[r] = _mm256_fmadd_ps(xv, w0, a0[r]);
                    a1[r] = _mm256_fmadd_ps(xv, w1, a1[r]);
                }
            }
            const float *sp = sc + (2 * b + (size_t)h) * GM_NR + c0;
            __m256 s0 = _mm256_loadu_ps(sp), s1 = _mm256_loadu_ps(sp + 8);
#pragma GCC unroll 3
            for (int r = 0; r < MR; r++) {
                t0[r] = _mm256_fmadd_ps(a0[r], s0, t0[r]);
                t1[r] = _mm256_fmadd_ps(a1[r], s1, t1[r]);
            }
        }
        if (MIN) {
            __m256 m0 = _mm256_loadu_ps(mn + b * GM_NR + c0), m1 = _mm256_loadu_ps(mn + b * GM_NR + c0 + 8);
#pragma GCC unroll 3
            for (int r = 0; r < MR; r++) {
                __m256 xv = _mm256_broadcast_ss(xs + (size_t)r * ldxs + b);
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

#define GG_SBK256(M, H, MI, N)                                                                                     \
    __attribute__((target("avx2,fma"))) static void gg_sbk256_##N##_##M(                                         \
        size_t nsub, const float *x, size_t ldx, const float *codes, const float *sc, const float *mn,             \
        const float *xs, size_t ldxs, float *tile, int cont)                                                     \
    {                                                                                                            \
        gg_sbk256_body(M, H, MI, nsub, x, ldx, codes, sc, mn, xs, ldxs, 0, tile, cont);                          \
        gg_sbk256_body(M, H, MI, nsub, x, ldx, codes, sc, mn, xs, ldxs, 16, tile, cont);                         \
    }
#define GG_SBK256_ALL(H, MI, N)                                                                                    \
    GG_SBK256(1, H, MI, N) GG_SBK256(2, H, MI, N) GG_SBK256(3, H, MI, N)                                         \
    static void gg_sbk256_##N(int mr, size_t nsub, const float *x, size_t ldx, const float *codes,               \
                              const float *sc, const float *mn, const float *xs, size_t ldxs, float *tile,       \
                              int cont)                                                                          \
    {                                                                                                            \
        static void (*const f[GG_SBK256_MR + 1])(size_t, const float *, size_t, const float *, const float *,    \
                                                 const float *, const float *, size_t, float *, int) = {         \
            NULL, gg_sbk256_##N##_1, gg_sbk256_##N##_2, gg_sbk256_##N##_3};                                     \
        f[mr](nsub, x, ldx, codes, sc, mn, xs, ldxs, tile, cont);                                                \
    }
GG_SBK256_ALL(0, 0, p)
GG_SBK256_ALL(0, 1, m)
GG_SBK256_ALL(1, 0, h)

__attribute__((target("avx2,fma,f16c"))) static void gg_sub_avx2(int type, const unsigned char *u, size_t s, float *o,
                                                                 float *sc, float *mn)
{
    gg_sub_body(type, u, s, o, sc, mn);
}

/* ---- fused decode kernels (AVX-512) ------------------------------------------
 * The codes of a sub-block turned into floats in registers, 16 columns
 * per vector: gg_sub512 holds the sub-block's scales and mins, gg_c512
 * gives the 16 codes of k index e (0..31 in the sub-block) of half h
 * (columns 16 h .. 16 h + 15), as gg_sub_body's values. */
typedef struct gg_sub512 {
    __m512 a[2], c[2], m[2];   /* scale of k 0..15, of k 16..31, min */
    const unsigned char *q, *h;
    int sh, sh2;
    /* Q5_K, Q6_K: the sub-block's codes as bytes [32 k][GM_NR] (gg_prep512) */
    _Alignas(64) int8_t cb[32 * GM_NR];
} gg_sub512;

__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline __m512i
gg_u8(const unsigned char *p)
{
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}

__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline void
gg_setup512(const int T, const unsigned char *u, size_t s, gg_sub512 *g)
{
    for (int h = 0; h < 2; h++) {
        const unsigned char *dp = T == GGML_Q6_K ? u + 32 * 208 : u;
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(dp + 32 * h)));
        if (T == GGML_Q8_0 || T == GGML_Q4_0) {
            g->a[h] = g->c[h] = d;
        } else if (T == GGML_Q4_K || T == GGML_Q5_K) {
            const unsigned char *sc = u + 128 + 16 * h;
            const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15);
            __m512i a, mn;
            if (s < 4) {
                a = _mm512_and_si512(gg_u8(sc + s * GM_NR), m63);
                mn = _mm512_and_si512(gg_u8(sc + (s + 4) * GM_NR), m63);
            } else {
                __m512i b4 = gg_u8(sc + (s + 4) * GM_NR), bl = gg_u8(sc + (s - 4) * GM_NR), bs = gg_u8(sc + s * GM_NR);
                a = _mm512_or_si512(_mm512_and_si512(b4, m15), _mm512_slli_epi32(_mm512_srli_epi32(bl, 6), 4));
                mn = _mm512_or_si512(_mm512_srli_epi32(b4, 4), _mm512_slli_epi32(_mm512_srli_epi32(bs, 6), 4));
            }
            __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + 64 + 32 * h)));
            g->a[h] = g->c[h] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(a));
            /* -(dmin * m): the product is exact, so negating it first or last is the same */
            g->m[h] = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), dmin), _mm512_cvtepi32_ps(mn));
        } else {   /* Q6_K */
            const unsigned char *sc = u + 32 * 192 + 16 * h;
            __m512i s0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(sc + 2 * s * GM_NR)));
            __m512i s1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(sc + (2 * s + 1) * GM_NR)));
            g->a[h] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(s0));
            g->c[h] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(s1));
        }
    }
    if (T == GGML_Q8_0 || T == GGML_Q4_0) {
        g->q = u + 64;
    } else if (T == GGML_Q4_K || T == GGML_Q5_K) {
        g->q = u + (T == GGML_Q5_K ? 1536 : 512) + s / 2 * 32 * GM_NR, g->h = u + 512;
        g->sh = (s & 1) ? 4 : 0, g->sh2 = (int)s;
    } else {
        size_t half = s / 4, t = s % 4;
        g->q = u + (64 * half + 32 * (t & 1)) * GM_NR, g->h = u + 4096 + 32 * half * GM_NR;
        g->sh = t >= 2 ? 4 : 0, g->sh2 = 2 * (int)t;
    }
}

/* Q5_K and Q6_K: the codes assembled from their two bit fields 64 at a
 * time with byte operations, once per sub-block, so that the k loop
 * widens each 16 with one sign extension and one conversion (as Q8_0)
 * instead of two widenings and two table permutes: the nibble (shifted
 * down by sh, masked), the high bits (at sh2) moved to bit 4 (Q6_K: bits
 * 4-5) by 16-bit shifts whose spill across bytes the masks drop, merged,
 * then Q6_K's - 32. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline void
gg_prep512(const int T, gg_sub512 *g)
{
    const __m512i m0f = _mm512_set1_epi8(0x0f), mh = _mm512_set1_epi8(T == GGML_Q6_K ? 0x30 : 0x10);
    int up = 4 - g->sh2;   /* shift of the high field: left when > 0 */
    __m128i csh = _mm_cvtsi32_si128(g->sh), cup = _mm_cvtsi32_si128(up > 0 ? up : -up);
    for (int j = 0; j < 32; j += 2) {
        __m512i a = _mm512_loadu_si512((const void *)(g->q + j * GM_NR));
        __m512i h = _mm512_loadu_si512((const void *)(g->h + j * GM_NR));
        __m512i lo = _mm512_and_si512(_mm512_srl_epi16(a, csh), m0f);
        h = up > 0 ? _mm512_sll_epi16(h, cup) : _mm512_srl_epi16(h, cup);
        __m512i v = _mm512_ternarylogic_epi32(lo, h, mh, 0xF8);   /* lo | (h & mh) */
        if (T == GGML_Q6_K)
            v = _mm512_sub_epi8(v, _mm512_set1_epi8(32));
        _mm512_store_si512((void *)(g->cb + j * GM_NR), v);
    }
}

/* (float)(q + bias) for the 4-bit q in the low bits of each lane (the
 * bits above are ignored): one permute of a table of 16 floats instead of
 * masking, subtracting and converting — the same exact value. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline __m512
gg_lut(__m512i v, int bias)
{
    const __m512 t = _mm512_add_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                   _mm512_set1_ps((float)bias));
    return _mm512_permutexvar_ps(v, t);
}

__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline __m512
gg_c512(const int T, const gg_sub512 *g, int e, int h, const int SH, const int SH2)
{
    (void)SH2;
    if (T == GGML_Q8_0)
        return _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(g->q + e * GM_NR + 16 * h))));
    if (T == GGML_Q4_0) {
        __m512i v = gg_u8(g->q + (e & 15) * GM_NR + 16 * h);
        return gg_lut(e < 16 ? v : _mm512_srli_epi32(v, 4), -8);
    }
    if (T == GGML_Q4_K) {
        __m512i v = gg_u8(g->q + e * GM_NR + 16 * h);
        return gg_lut(SH ? _mm512_srli_epi32(v, 4) : v, 0);
    }
    /* Q5_K, Q6_K: the codes gg_prep512 assembled */
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(const void *)(g->cb + e * GM_NR + 16 * h))));
}

/* The loop L(SH, SH2) specialised on the sub-block's shifts (constants
 * in each copy: no branches inside it): Q4_K's low or high nibble. */
#define GG_SUBS(T, S, L)                                                                                           \
    if (T == GGML_Q4_K && ((S) & 1)) {                                                                           \
        L(4, 0)                                                                                                  \
    } else {                                                                                                     \
        L(0, 0)                                                                                                  \
    }

/* The L1-tile routes' widening with the same vectors (stored). */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline void
gg_sub512_body(const int T, const unsigned char *u, size_t s, float *o, float *sc, float *mn)
{
    gg_sub512 g;
    gg_setup512(T, u, s, &g);
    if (T == GGML_Q5_K || T == GGML_Q6_K)
        gg_prep512(T, &g);
    for (int h = 0; h < 2; h++) {
        _mm512_storeu_ps(sc + 16 * h, g.a[h]);
        _mm512_storeu_ps(sc + GM_NR + 16 * h, g.c[h]);
        if (T == GGML_Q4_K || T == GGML_Q5_K)
            _mm512_storeu_ps(mn + 16 * h, g.m[h]);
    }
#define GG_DEQ(SH, SH2)                                                                                            \
    for (int e = 0; e < 32; e++)                                                                                 \
        for (int h = 0; h < 2; h++)                                                                              \
            _mm512_storeu_ps(o + e * GM_NR + 16 * h, gg_c512(T, &g, e, h, SH, SH2));
    GG_SUBS(T, s, GG_DEQ)
#undef GG_DEQ
}

/* MR rows x NP panels (stride pstride bytes) over k, tile[(pp * MR + r) *
 * GM_NR + j]; xs: the rows' sub-block sums (MIN types). Each sub-block's
 * chains start from 0 in a and are folded into the totals t. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline void
gg_kern512_body(const int T, const int MR, const int NP, size_t k, size_t ubytes, const float *x, size_t ldx,
                const float *xs, size_t ldxs, const unsigned char *panel, size_t pstride, float *tile)
{
    const size_t blk = T == GGML_Q8_0 || T == GGML_Q4_0 ? 32 : 256;
    const int MIN = T == GGML_Q4_K || T == GGML_Q5_K;
    __m512 t[2][4][2], a[2][4][2];
    for (int pp = 0; pp < NP; pp++)
        for (int r = 0; r < MR; r++)
            t[pp][r][0] = t[pp][r][1] = _mm512_setzero_ps();
    /* Q4_K: sub-blocks 2j and 2j + 1 are the low and high nibbles of the
     * same bytes: their chains side by side, each byte widened once, then
     * folded in order (2j's scale and min, then 2j + 1's) */
    for (size_t k0 = 0; T == GGML_Q4_K && k0 < k; k0 += 64) {
        gg_sub512 g[2], g2[2];
        __m512 a2[2][4][2];
        size_t step = (pstride + k / 64 - 1) / (k / 64);
        uintptr_t pf = (uintptr_t)panel + (uintptr_t)(NP * pstride) + (uintptr_t)(k0 / 64 * step);
        for (int pp = 0; pp < NP; pp++) {
            for (size_t o = 0; o < step; o += 64)
                _mm_prefetch((const char *)(pf + (uintptr_t)(pp * pstride + o)), _MM_HINT_T1);
            const unsigned char *u = panel + pp * pstride + k0 / blk * ubytes;
            gg_setup512(T, u, k0 % blk / 32, &g[pp]);
            gg_setup512(T, u, k0 % blk / 32 + 1, &g2[pp]);
            for (int r = 0; r < MR; r++)
                a[pp][r][0] = a[pp][r][1] = a2[pp][r][0] = a2[pp][r][1] = _mm512_setzero_ps();
        }
        _Pragma("GCC unroll 4") for (int e = 0; e < 32; e++) {
            __m512 xl[4], xh[4];
            for (int r = 0; r < MR; r++) {
                xl[r] = _mm512_set1_ps(x[r * ldx + k0 + (size_t)e]);
                xh[r] = _mm512_set1_ps(x[r * ldx + k0 + 32 + (size_t)e]);
            }
            for (int pp = 0; pp < NP; pp++)
                for (int h = 0; h < 2; h++) {
                    __m512i v = gg_u8(g[pp].q + e * GM_NR + 16 * h);
                    __m512 wl = gg_lut(v, 0), wh = gg_lut(_mm512_srli_epi32(v, 4), 0);
                    for (int r = 0; r < MR; r++) {
                        a[pp][r][h] = _mm512_fmadd_ps(xl[r], wl, a[pp][r][h]);
                        a2[pp][r][h] = _mm512_fmadd_ps(xh[r], wh, a2[pp][r][h]);
                    }
                }
        }
        for (int r = 0; r < MR; r++) {
            __m512 sl = _mm512_set1_ps(xs[(size_t)r * ldxs + k0 / 32]), sh = _mm512_set1_ps(xs[(size_t)r * ldxs + k0 / 32 + 1]);
            for (int pp = 0; pp < NP; pp++)
                for (int h = 0; h < 2; h++) {
                    t[pp][r][h] = _mm512_fmadd_ps(a[pp][r][h], g[pp].a[h], t[pp][r][h]);
                    t[pp][r][h] = _mm512_fmadd_ps(g[pp].m[h], sl, t[pp][r][h]);
                    t[pp][r][h] = _mm512_fmadd_ps(a2[pp][r][h], g2[pp].a[h], t[pp][r][h]);
                    t[pp][r][h] = _mm512_fmadd_ps(g2[pp].m[h], sh, t[pp][r][h]);
                }
        }
    }
    for (size_t k0 = 0; T != GGML_Q4_K && k0 < k; k0 += 32) {
        gg_sub512 g[2];
        /* the next pass's panels, a slice per sub-block: the fields of a
         * unit are apart (Q6_K's codes, high bits and scales 4 KB, 2 KB and
         * 512 bytes), more streams than the hardware prefetcher follows
         * when the weights come from memory (the vocabulary head); Q8_0's
         * contiguous codes it does follow, and prefetching them costs */
        if (T != GGML_Q8_0) {
            size_t step = (pstride + k / 32 - 1) / (k / 32);
            uintptr_t pf = (uintptr_t)panel + (uintptr_t)(NP * pstride) + (uintptr_t)(k0 / 32 * step);
            for (int pp = 0; pp < NP; pp++)
                for (size_t o = 0; o < step; o += 64)
                    _mm_prefetch((const char *)(pf + (uintptr_t)(pp * pstride + o)), _MM_HINT_T1);
        }
        for (int pp = 0; pp < NP; pp++) {
            gg_setup512(T, panel + pp * pstride + k0 / blk * ubytes, k0 % blk / 32, &g[pp]);
            if (T == GGML_Q5_K || T == GGML_Q6_K)
                gg_prep512(T, &g[pp]);
        }
        for (int pp = 0; pp < NP; pp++)
            for (int r = 0; r < MR; r++)
                a[pp][r][0] = a[pp][r][1] = _mm512_setzero_ps();
        /* k 0..15 and 16..31 of the sub-block apart, so that the choices
         * gg_c512 makes on e < 16 are known in each loop; Q6_K folds each
         * half with its scale */
#define GG_E_LOOP(E0, SH, SH2)                                                                                     \
    _Pragma("GCC unroll 4") for (int e = E0; e < E0 + 16; e++)                                                   \
    {                                                                                                            \
        __m512 xb[4];                                                                                            \
        for (int r = 0; r < MR; r++)                                                                             \
            xb[r] = _mm512_set1_ps(x[r * ldx + k0 + (size_t)e]);                                                 \
        for (int pp = 0; pp < NP; pp++)                                                                          \
            for (int h = 0; h < 2; h++) {                                                                        \
                __m512 wv = gg_c512(T, &g[pp], e, h, SH, SH2);                                                   \
                for (int r = 0; r < MR; r++)                                                                     \
                    a[pp][r][h] = _mm512_fmadd_ps(xb[r], wv, a[pp][r][h]);                                       \
            }                                                                                                    \
    }
#define GG_FOLD(F)                                                                                                 \
    for (int pp = 0; pp < NP; pp++)                                                                              \
        for (int r = 0; r < MR; r++)                                                                             \
            for (int h = 0; h < 2; h++) {                                                                        \
                t[pp][r][h] = _mm512_fmadd_ps(a[pp][r][h], g[pp].F[h], t[pp][r][h]);                             \
                a[pp][r][h] = _mm512_setzero_ps();                                                               \
            }
#define GG_SUB(SH, SH2)                                                                                            \
    GG_E_LOOP(0, SH, SH2)                                                                                        \
    if (T == GGML_Q6_K) {                                                                                        \
        GG_FOLD(a)                                                                                               \
    }                                                                                                            \
    GG_E_LOOP(16, SH, SH2)
        if (T == GGML_Q4_0) {
            /* the two halves' chains side by side: byte e holds the codes
             * of k e (low nibble) and k 16 + e (high), read once */
            __m512 a2[2][4][2];
            for (int pp = 0; pp < NP; pp++)
                for (int r = 0; r < MR; r++)
                    a2[pp][r][0] = a2[pp][r][1] = _mm512_setzero_ps();
            _Pragma("GCC unroll 4") for (int e = 0; e < 16; e++) {
                __m512 xl[4], xh[4];
                for (int r = 0; r < MR; r++) {
                    xl[r] = _mm512_set1_ps(x[r * ldx + k0 + (size_t)e]);
                    xh[r] = _mm512_set1_ps(x[r * ldx + k0 + 16 + (size_t)e]);
                }
                for (int pp = 0; pp < NP; pp++)
                    for (int h = 0; h < 2; h++) {
                        __m512i v = gg_u8(g[pp].q + e * GM_NR + 16 * h);
                        __m512 wl = gg_lut(v, -8), wh = gg_lut(_mm512_srli_epi32(v, 4), -8);
                        for (int r = 0; r < MR; r++) {
                            a[pp][r][h] = _mm512_fmadd_ps(xl[r], wl, a[pp][r][h]);
                            a2[pp][r][h] = _mm512_fmadd_ps(xh[r], wh, a2[pp][r][h]);
                        }
                    }
            }
            GG_FOLD(a)
            for (int pp = 0; pp < NP; pp++)
                for (int r = 0; r < MR; r++)
                    for (int h = 0; h < 2; h++)
                        t[pp][r][h] = _mm512_fmadd_ps(a2[pp][r][h], g[pp].c[h], t[pp][r][h]);
        } else {
            GG_SUBS(T, k0 % blk / 32, GG_SUB)
            if (T == GGML_Q6_K) {
                GG_FOLD(c)
            } else {
                GG_FOLD(a)
            }
        }
#undef GG_SUB
#undef GG_E_LOOP
#undef GG_FOLD
        if (MIN)
            for (int r = 0; r < MR; r++) {
                __m512 xv = _mm512_set1_ps(xs[(size_t)r * ldxs + k0 / 32]);
                for (int pp = 0; pp < NP; pp++)
                    for (int h = 0; h < 2; h++)
                        t[pp][r][h] = _mm512_fmadd_ps(g[pp].m[h], xv, t[pp][r][h]);
            }
    }
    for (int pp = 0; pp < NP; pp++)
        for (int r = 0; r < MR; r++) {
            _mm512_storeu_ps(tile + (pp * MR + r) * GM_NR, t[pp][r][0]);
            _mm512_storeu_ps(tile + (pp * MR + r) * GM_NR + 16, t[pp][r][1]);
        }
}

#define GG_TYPES(X) X(q8_0, GGML_Q8_0) X(q4_0, GGML_Q4_0) X(q4_k, GGML_Q4_K) X(q5_k, GGML_Q5_K) X(q6_k, GGML_Q6_K)
#define GG_K512(N, T, M, P)                                                                                        \
    __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"))) static void gk512_##N##_##M##_##P(               \
        size_t k, size_t ub, const float *x, size_t ldx, const float *xs, size_t ldxs, const unsigned char *panel, \
        size_t ps, float *tile)                                                                                  \
    {                                                                                                            \
        gg_kern512_body(T, M, P, k, ub, x, ldx, xs, ldxs, panel, ps, tile);                                      \
    }
/* two panels for up to 2 rows (8 chains and 8 totals per row pair), one
 * for 3-4 rows: the chains and totals stay in the 32 registers */
#define GG_K512_ALL(N, T)                                                                                          \
    GG_K512(N, T, 1, 1) GG_K512(N, T, 2, 1) GG_K512(N, T, 3, 1) GG_K512(N, T, 4, 1) GG_K512(N, T, 1, 2)           \
    GG_K512(N, T, 2, 2)                                                                                          \
    __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"))) static void gd512_##N(                        \
        const unsigned char *u, size_t s, float *o, float *sc, float *mn)                                        \
    {                                                                                                            \
        gg_sub512_body(T, u, s, o, sc, mn);                                                                      \
    }
GG_TYPES(GG_K512_ALL)
#define GG_KMAX 4   /* rows of gg_kern512 */
typedef void (*gg_kfn)(size_t, size_t, const float *, size_t, const float *, size_t, const unsigned char *, size_t,
                       float *);

/* The fused kernel for type with mr rows and np panels (np 2: mr <= 2),
 * or NULL (a type without one). */
static gg_kfn gg_kern512(int type, int mr, int np)
{
#define GG_ROW(N, T)                                                                                               \
    case T: {                                                                                                    \
        static const gg_kfn f[2][GG_KMAX] = {{gk512_##N##_1_1, gk512_##N##_2_1, gk512_##N##_3_1, gk512_##N##_4_1}, \
                                             {gk512_##N##_1_2, gk512_##N##_2_2, NULL, NULL}};                    \
        return f[np - 1][mr - 1];                                                                                \
    }
    switch (type) {
        GG_TYPES(GG_ROW)
    default:
        return NULL;
    }
#undef GG_ROW
}

__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"))) static void gg_sub_avx512v(int type, const unsigned char *u,
                                                                                        size_t s, float *o, float *sc,
                                                                                        float *mn)
{
    gg_sub_body(type, u, s, o, sc, mn);
}
static void gg_sub_avx512(int type, const unsigned char *u, size_t s, float *o, float *sc, float *mn)
{
    switch (type) {
#define GG_D(N, T)                                                                                                 \
    case T:                                                                                                      \
        gd512_##N(u, s, o, sc, mn);                                                                              \
        return;
        GG_TYPES(GG_D)
#undef GG_D
    default:
        gg_sub_avx512v(type, u, s, o, sc, mn);
    }
}
#endif

/* ---- driver ------------------------------------------------------------------- */

typedef struct gg_ctx {
    const gm_call *c;
    int type, half, fused;
    size_t block, ub;        /* k per block, bytes of a unit */
    gg_sub_fn sub;
    gg_sbk_fn sbk;
    int mr;                  /* rows per gg_sbk call */
    const float *xs;         /* MIN types: the rows' sums per sub-block (ldxs a row), or NULL */
    size_t ldxs;
    float *buf;              /* per worker: a whole panel's codes, scales and mins, or NULL */
    size_t bufn;             /* floats per worker */
    size_t mc, np, ngroups;
} gg_ctx;

/* A row's plain fp32 sum over 32 k, k ascending from 0: every route's
 * xsum. */
static float gg_xsum(const float *x)
{
    float s = 0.0f;
    for (int e = 0; e < 32; e++)
        s = s + x[e];
    return s;
}

#define GG_FEW 24   /* rows per pass of the sub-block route */

/* One panel's rows [r0, r1). Many rows with a buffer: the panel's codes,
 * scales and mins widened once, then gg_sbk over the whole k. Otherwise
 * sub-block by sub-block through an L1 tile, the totals carried. */
static void gg_panel(const gg_ctx *g, size_t p, size_t r0, size_t r1, int worker)
{
    const gm_call *c = g->c;
    const gm_weights *w = c->w;
    size_t k = w->k, nsub = k / 32, col = p * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
    const unsigned char *panel = (const unsigned char *)w->panels + col * w->rowb;
    int min = gg_has_min(g->type);
    if (g->buf && g->xs && r1 - r0 > GG_FEW) {
        float *codes = g->buf + (size_t)worker * g->bufn, *sc = codes + k * GM_NR, *mn = sc + 2 * nsub * GM_NR;
        _Alignas(64) float tile[GG_SBK_MAXMR * GM_NR];
        for (size_t b = 0; b < nsub; b++)
            g->sub(g->type, panel + 32 * b / g->block * g->ub, b % (g->block / 32), codes + 32 * b * GM_NR,
                   sc + 2 * b * GM_NR, mn + b * GM_NR);
        for (size_t i = r0; i < r1; i += (size_t)g->mr) {
            int mr = r1 - i < (size_t)g->mr ? (int)(r1 - i) : g->mr;
            g->sbk(mr, nsub, c->x + i * c->ldx, c->ldx, codes, sc, min ? mn : NULL, g->xs + i * g->ldxs, g->ldxs,
                   tile, 0);
            gm_epilogue(c, tile, i, mr, col, ncols);
        }
        return;
    }
    _Alignas(64) float wt[32 * GM_NR], sc[2 * GM_NR], mn[GM_NR];
    _Alignas(64) float acc[GG_FEW * GM_NR];
    float xsl[GG_FEW];
    for (size_t a0 = r0; a0 < r1; a0 += GG_FEW) {
        size_t a1 = a0 + GG_FEW < r1 ? a0 + GG_FEW : r1;
        for (size_t b = 0; b < nsub; b++) {
            g->sub(g->type, panel + 32 * b / g->block * g->ub, b % (g->block / 32), wt, sc, mn);
            const float *xs = g->xs ? g->xs + a0 * g->ldxs + b : xsl;
            size_t ldxs = g->xs ? g->ldxs : 1;
            if (min && !g->xs)
                for (size_t i = a0; i < a1; i++)
                    xsl[i - a0] = gg_xsum(c->x + i * c->ldx + 32 * b);
            for (size_t i = a0; i < a1; i += (size_t)g->mr) {
                int mr = a1 - i < (size_t)g->mr ? (int)(a1 - i) : g->mr;
                g->sbk(mr, 1, c->x + i * c->ldx + 32 * b, c->ldx, wt, sc, min ? mn : NULL, xs + (i - a0) * ldxs,
                       ldxs, acc + (i - a0) * GM_NR, b > 0);
            }
        }
        for (size_t i = a0; i < a1; i += (size_t)g->mr) {
            int mr = a1 - i < (size_t)g->mr ? (int)(a1 - i) : g->mr;
            gm_epilogue(c, acc + (i - a0) * GM_NR, i, mr, col, ncols);
        }
    }
}

#ifdef GG_X86
/* Up to GG_FUSED rows, AVX-512: the fused kernels, two panels at a time
 * for up to 2 rows (four chains per row: one panel's two would wait on the
 * fma latency), one for 3-4. */
#define GG_FUSED (2 * GG_KMAX)
static void gg_fused(const gg_ctx *g, size_t r0, size_t r1, size_t p0, size_t p1)
{
    const gm_call *c = g->c;
    const gm_weights *w = c->w;
    size_t ps = GM_NR * w->rowb;
    _Alignas(64) float tile[2 * GG_KMAX * GM_NR];
    for (size_t i = r0; i < r1; i += GG_KMAX) {
        int mr = r1 - i < GG_KMAX ? (int)(r1 - i) : GG_KMAX;
        const float *xs = g->xs ? g->xs + i * g->ldxs : NULL;
        for (size_t p = p0; p < p1;) {
            int np = p1 - p >= 2 && mr <= 2 ? 2 : 1;
            gg_kern512(g->type, mr, np)(w->k, g->ub, c->x + i * c->ldx, c->ldx, xs, g->ldxs,
                                        (const unsigned char *)w->panels + p * ps, ps, tile);
            for (int pp = 0; pp < np; pp++) {
                size_t col = (p + (size_t)pp) * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
                gm_epilogue(c, tile + (size_t)pp * (size_t)mr * GM_NR, i, mr, col, ncols);
            }
            p += (size_t)np;
        }
    }
}
#endif

static void gg_item(void *vctx, size_t item, int worker)
{
    const gg_ctx *g = vctx;
    const gm_call *c = g->c;
    size_t r0 = item / g->ngroups * g->mc, p0 = item % g->ngroups * GG_GROUP;
    size_t r1 = r0 + g->mc < c->n ? r0 + g->mc : c->n, p1 = p0 + GG_GROUP < g->np ? p0 + GG_GROUP : g->np;
#ifdef GG_X86
    if (g->fused && r1 - r0 <= GG_FUSED) {
        gg_fused(g, r0, r1, p0, p1);
        return;
    }
#endif
    for (size_t p = p0; p < p1; p++)
        gg_panel(g, p, r0, r1, worker);
}

/* The rows' sums per sub-block, [16 item, 16 item + 16). */
typedef struct gg_xs_ctx {
    const gm_call *c;
    float *xs;
    size_t nsub;
} gg_xs_ctx;

static void gg_xs_rows(void *vctx, size_t item, int worker)
{
    (void)worker;
    const gg_xs_ctx *q = vctx;
    size_t r1 = 16 * item + 16 < q->c->n ? 16 * item + 16 : q->c->n;
    for (size_t r = 16 * item; r < r1; r++)
        for (size_t b = 0; b < q->nsub; b++)
            q->xs[r * q->nsub + b] = gg_xsum(q->c->x + r * q->c->ldx + 32 * b);
}

void gg_run(kn_pool *pool, const gm_call *c, gm_isa isa)
{
    const gm_weights *w = c->w;
    gg_ctx g = {.c = c, .type = w->ggml_type, .half = w->ggml_type == GGML_Q6_K || w->ggml_type == GGML_Q4_0,
                .sub = gg_sub_scalar};
    size_t bytes, nsub = w->k / 32, nw = pool ? (size_t)kn_pool_threads(pool) : 1;
    gguf_type_size(g.type, &g.block, &bytes);
    g.ub = GM_NR * bytes;
    int min = gg_has_min(g.type);
    g.sbk = g.half ? gg_sbk_scalar_h : gg_sbk_scalar, g.mr = 4;
#ifdef GG_X86
    if (isa == GM_ISA_AVX512) {
        g.sub = gg_sub_avx512, g.mr = GG_SBK512_MR;
        g.sbk = g.half ? gg_sbk512_h : min ? gg_sbk512_m : gg_sbk512_p;
        g.fused = gg_kern512(g.type, 1, 1) != NULL;
    } else if (isa == GM_ISA_AVX2) {
        g.sub = gg_sub_avx2, g.mr = GG_SBK256_MR;
        g.sbk = g.half ? gg_sbk256_h : min ? gg_sbk256_m : gg_sbk256_p;
    }
#else
    (void)isa;
#endif
    float *xs = NULL, *buf = NULL;
    if (min && (xs = malloc(c->n * nsub * sizeof *xs + 1)) != NULL) {
        gg_xs_ctx q = {c, xs, nsub};
        if (pool)
            kn_pool_run(pool, (c->n + 15) / 16, gg_xs_rows, &q);
        else
            for (size_t i = 0; i < (c->n + 15) / 16; i++)
                gg_xs_rows(&q, i, 0);
        g.xs = xs, g.ldxs = nsub;
    }
    if (!min)
        g.xs = c->x, g.ldxs = 0;   /* unused; not NULL, so every route is open */
    /* the fused kernels need the sums of a MIN type */
    if (min && !xs)
        g.fused = 0;
    /* many rows: a whole panel's codes (k x GM_NR), scales and mins per worker */
    g.bufn = (w->k * GM_NR + 3 * nsub * GM_NR + 15) / 16 * 16;
    if (c->n > GG_FEW && (buf = kn_alloc(nw * g.bufn * sizeof *buf + 64)) != NULL)
        g.buf = buf;
    /* rows per item: ~384 KB of them, a multiple of every path's mr */
    size_t per = w->k ? GG_ROWS_BYTES / (w->k * sizeof(float)) / 12 * 12 : 192;
    g.mc = per < 12 ? 12 : per > 192 ? 192 : per;
    g.np = (w->out + GM_NR - 1) / GM_NR;
    g.ngroups = (g.np + GG_GROUP - 1) / GG_GROUP;
    size_t nitems = (c->n + g.mc - 1) / g.mc * g.ngroups;
    if (pool)
        kn_pool_run(pool, nitems, gg_item, &g);
    else
        for (size_t i = 0; i < nitems; i++)
            gg_item(&g, i, 0);
    free(xs);
    free(buf);
}
