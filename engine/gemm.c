/* gemm.c — packed-weight SGEMM with a fixed per-element operation order
 * (gemm.h says which and why).
 *
 * Structure, BLIS-like but without packing the activations: the output is
 * cut into items of (up to `mc` rows) x (GM_GROUP panels of GM_NR columns);
 * inside an item each panel is swept by micro-tiles of `mr` rows, so the
 * panel (k * 128 bytes) stays in L1/L2 while the rows pass, and the item's
 * rows (mc * k * 4 bytes, sized to ~384 KB) stay in L2 across its panels.
 * A micro-kernel keeps mr x GM_NR accumulators in registers for the whole
 * k loop, then hands them to one scalar epilogue. None of these sizes can
 * change a result: each element's k loop is never split.
 *
 * The vector kernels are compiled with target attributes (no -march flag
 * needed) and chosen at run time with __builtin_cpu_supports. Packing
 * (and quantization) is in gemm_pack.c; the products on quantized panels
 * in gemm_quant.c (GM_Q8, GM_Q4) and gemm_ggml.c (GGUF blocks). */
#include "gemm.h"

#include <float.h>
#include <immintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_ggml_i8.h"
#include "gemm_internal.h"
#include "gguf.h"
#include "vmath.h"
#include "ys_error.h"

#define GM_GROUP 4          /* panels per work item: 128 columns */
#define MR_MAX 12           /* rows per micro-tile, widest path (AVX-512) */
#define ROWS_BYTES (384u << 10)
#define KC_MAX 512          /* longest k block (run_item_kblocked) */

/* ---- micro-kernels -------------------------------------------------------
 * kern(mr, k, x, ldx, panel, tile, cont): tile[r * GM_NR + j] = sum over kk
 * ascending of fma(x[r * ldx + kk], W(panel[kk * GM_NR + j]), .) from 0
 * (cont = 0) or from the tile's value (cont = 1: the same chain carried on
 * over the next k, which lets the driver block k without changing a bit),
 * for r < mr, j < GM_NR, where W widens a panel element to fp32 (exactly:
 * the identity for fp32 panels, a shift for BF16, vcvtph2ps or f16.h for
 * F16). Each kernel is instantiated per panel type with the type a
 * constant, so the fp32 loops are those of before 16-bit panels. */
typedef void (*gm_kernel)(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile, int cont);
/* GM_BF16DOT's kernels: the same without cont (their k is never blocked). */
typedef void (*gm_bkernel)(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile);

__attribute__((always_inline)) static inline void scalar_body(const gm_dtype DT, int mr, size_t k, const float *x,
                                                              size_t ldx, const void *panel, float *tile, int cont)
{
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            float acc = cont ? tile[r * GM_NR + j] : 0.0f;
            for (size_t kk = 0; kk < k; kk++)
                acc = fmaf(x[r * ldx + kk], src_at(panel, DT, kk * GM_NR + j), acc);
            tile[r * GM_NR + j] = acc;
        }
}

static void kern_scalar(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile, int cont)
{
    scalar_body(GM_F32, mr, k, x, ldx, panel, tile, cont);
}
static void kern_scalar_f16(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile, int cont)
{
    scalar_body(GM_F16, mr, k, x, ldx, panel, tile, cont);
}
static void kern_scalar_bf16(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile, int cont)
{
    scalar_body(GM_BF16, mr, k, x, ldx, panel, tile, cont);
}

/* GM_BF16DOT (gemm.h): x holds each row's activations as BF16 pairs
 * (dwords, ldx in dwords), the panel the weights likewise; k counts
 * elements. The scalar path spells vdpbf16ps: each product of two BF16 is
 * exact in fp32, subnormal products and sums are flushed to zero. */
static float ftz(float v) { return fabsf(v) < FLT_MIN ? copysignf(0.0f, v) : v; }
static float bf_hi(uint32_t d) { return bf16_to_f32((uint16_t)(d >> 16)); }
static float bf_lo(uint32_t d) { return bf16_to_f32((uint16_t)d); }

/* The same from fp32 rows, rounding each activation as it is read (gm_run
 * without memory for the rounded rows). */
static void kern_scalar_bdot_f32x(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile)
{
    const uint32_t *wp = panel;
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            float acc = 0.0f;
            for (size_t i = 0; 2 * i < k; i++) {
                uint32_t wv = wp[i * GM_NR + j];
                float xe = bf16_to_f32(bf16_rne_daz(x[r * ldx + 2 * i]));
                float xo = 2 * i + 1 < k ? bf16_to_f32(bf16_rne_daz(x[r * ldx + 2 * i + 1])) : 0.0f;
                acc = ftz(acc + ftz(xo * bf_hi(wv)));
                acc = ftz(acc + ftz(xe * bf_lo(wv)));
            }
            tile[r * GM_NR + j] = acc;
        }
}

static void kern_scalar_bdot(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile)
{
    const uint32_t *xp = (const uint32_t *)(const void *)x, *wp = panel;
    size_t kp = (k + 1) / 2;
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            float acc = 0.0f;
            for (size_t i = 0; i < kp; i++) {
                uint32_t xv = xp[r * ldx + i], wv = wp[i * GM_NR + j];
                acc = ftz(acc + ftz(bf_hi(xv) * bf_hi(wv)));
                acc = ftz(acc + ftz(bf_lo(xv) * bf_lo(wv)));
            }
            tile[r * GM_NR + j] = acc;
        }
}

/* GM_I8DOT (gemm.h, "int8 dot products"): xq holds each row's activation
 * codes + 128 as bytes (k padded to quads with 128, ldq bytes a row), xd
 * each row's block scales (ldd a row); the panel holds the weights' codes
 * c in quads, with each column's sum of codes per block (so that the
 * unsigned activations' sums can be corrected: sum (x + 128) c - 128 sum c). */
typedef void (*gm_ikernel)(int mr, size_t k, const uint8_t *xq, size_t ldq, const float *xd, size_t ldd,
                           const int8_t *panel, const float *sc, const int32_t *cs, size_t G, float *tile);

static void ikern_scalar(int mr, size_t k, const uint8_t *xq, size_t ldq, const float *xd, size_t ldd,
                         const int8_t *panel, const float *sc, const int32_t *cs, size_t G, float *tile)
{
    (void)cs;
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            float total = 0.0f;
            for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
                size_t k1 = k0 + G < k ? k0 + G : k;
                float acc = 0.0f;
                for (size_t b0 = k0; b0 < k1; b0 += GM_I8BLOCK) {
                    size_t b1 = b0 + GM_I8BLOCK < k1 ? b0 + GM_I8BLOCK : k1;
                    int32_t isum = 0;
                    for (size_t kk = b0; kk < b1; kk++)
                        isum += ((int32_t)xq[r * ldq + kk] - 128) * panel[(kk / 4 * GM_NR + j) * 4 + kk % 4];
                    acc = fmaf((float)isum, xd[r * ldd + b0 / GM_I8BLOCK], acc);
                }
                total = fmaf(acc, sc[gi * GM_NR + j], total);
            }
            tile[r * GM_NR + j] = total;
        }
}

/* A row's activations as GM_I8DOT's codes + 128 and block scales. */
static void quant_row(const float *x, size_t k, size_t kq4, uint8_t *q, float *d)
{
    for (size_t b0 = 0; b0 < k; b0 += GM_I8BLOCK) {
        size_t b1 = b0 + GM_I8BLOCK < k ? b0 + GM_I8BLOCK : k;
        float a = 0.0f;
        for (size_t kk = b0; kk < b1; kk++)
            a = fabsf(x[kk]) > a ? fabsf(x[kk]) : a;
        float db = a / 127.0f;
        d[b0 / GM_I8BLOCK] = db;
        for (size_t kk = b0; kk < b1; kk++) {
            float r = db != 0.0f ? rintf(x[kk] / db) : 0.0f;
            q[kk] = (uint8_t)((int)(r < -127.0f ? -127.0f : r > 127.0f ? 127.0f : r) + 128);
        }
    }
    for (size_t kk = k; kk < kq4; kk++)
        q[kk] = 128;
}

void gm_quant_row(const float *x, size_t k, size_t kq4, uint8_t *q, float *d) { quant_row(x, k, kq4, q, d); }

/* ikern_scalar from fp32 rows, quantizing each row as it goes (gm_run
 * without memory for the quantized rows; same bits, slow). */
static void ikern_scalar_f32x(const gm_call *c, size_t i, int mr, const int8_t *panel, const float *sc,
                              const int32_t *cs, float *tile)
{
    size_t k = c->w->k, kq4 = k_stored(GM_I8DOT, k), nb = (k + GM_I8BLOCK - 1) / GM_I8BLOCK;
    uint8_t q[4 * GM_I8BLOCK];
    float d[1];
    for (int r = 0; r < mr; r++) {
        float out[GM_NR] = {0};
        float acc[GM_NR] = {0};
        const float *x = c->x + (i + (size_t)r) * c->ldx;
        for (size_t b = 0; b < nb; b++) {
            size_t b0 = b * GM_I8BLOCK, b1 = b0 + GM_I8BLOCK < k ? b0 + GM_I8BLOCK : k;
            quant_row(x + b0, b1 - b0, b1 - b0, q, d);
            for (size_t j = 0; j < GM_NR; j++) {
                int32_t isum = 0;
                for (size_t kk = b0; kk < b1; kk++)
                    isum += ((int32_t)q[kk - b0] - 128) * panel[(kk / 4 * GM_NR + j) * 4 + kk % 4];
                acc[j] = fmaf((float)isum, d[0], acc[j]);
            }
            size_t G = c->w->group;
            if (b1 % G == 0 || b1 == k)   /* the end of a weight group */
                for (size_t j = 0; j < GM_NR; j++) {
                    out[j] = fmaf(acc[j], sc[(b0 / G) * GM_NR + j], out[j]);
                    acc[j] = 0.0f;
                }
        }
        memcpy(tile + r * GM_NR, out, sizeof out);
    }
    (void)cs, (void)kq4;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define GM_X86 1

/* 16 panel elements from p (element offset i) widened to fp32. */
__attribute__((target("avx512f,fma"), always_inline)) static inline __m512 ld512(const gm_dtype DT, const void *p,
                                                                                size_t i)
{
    if (DT == GM_F32)
        return _mm512_load_ps((const float *)p + i);
    __m256i h = _mm256_load_si256((const __m256i *)((const uint16_t *)p + i));
    if (DT == GM_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* AVX-512: up to 12 rows x 32 columns = 24 zmm accumulators (+2 for the
 * panel row, 1 broadcast). MR is a constant in every instantiation below,
 * so the loops over rows unroll and the accumulators live in registers. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
k512_body(const int MR, const gm_dtype DT, size_t k, const float *x, size_t ldx, const void *panel, float *tile,
          int cont)
{
    /* BF16: a panel row's 32 values as one register, the even columns
     * widened by a shift and the odd ones by a mask (no cross-lane
     * widening, which on double-pumped AVX-512 competes with the fmas for
     * a port: ~6% of the product), so a0 holds columns 0, 2, .., 30 and a1
     * columns 1, 3, .., 31, interleaved back when loaded from and stored to
     * the tile. Each column's fma chain is the same. */
    const int EO = DT == GM_BF16;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 a0[MR_MAX], a1[MR_MAX];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        a0[r] = cont ? _mm512_loadu_ps(tile + r * GM_NR) : _mm512_setzero_ps();
        a1[r] = cont ? _mm512_loadu_ps(tile + r * GM_NR + 16) : _mm512_setzero_ps();
        if (EO && cont) {
            __m512 t0 = a0[r];
            a0[r] = _mm512_permutex2var_ps(t0, even, a1[r]);
            a1[r] = _mm512_permutex2var_ps(t0, odd, a1[r]);
        }
    }
    for (size_t kk = 0; kk < k; kk++) {
        __m512 w0, w1;
        if (EO) {
            __m512i v = _mm512_loadu_si512((const uint16_t *)panel + kk * GM_NR);
            w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
            w1 = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
        } else {
            w0 = ld512(DT, panel, kk * GM_NR), w1 = ld512(DT, panel, kk * GM_NR + 16);
        }
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512 b = _mm512_set1_ps(x[r * ldx + kk]);
            a0[r] = _mm512_fmadd_ps(b, w0, a0[r]);
            a1[r] = _mm512_fmadd_ps(b, w1, a1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (EO) {
            __m512 t0 = a0[r];
            a0[r] = _mm512_permutex2var_ps(t0, lo, a1[r]);
            a1[r] = _mm512_permutex2var_ps(t0, hi, a1[r]);
        }
        _mm512_storeu_ps(tile + r * GM_NR, a0[r]);
        _mm512_storeu_ps(tile + r * GM_NR + 16, a1[r]);
    }
}

#define K512(M, DT, N)                                                                                       \
    __attribute__((target("avx512f,fma"))) static void k512_##N##_##M(size_t k, const float *x, size_t ldx,  \
                                                                      const void *panel, float *tile, int c) \
    {                                                                                                        \
        k512_body(M, DT, k, x, ldx, panel, tile, c);                                                         \
    }
#define K512_ALL(DT, N)                                                                                      \
    K512(1, DT, N) K512(2, DT, N) K512(3, DT, N) K512(4, DT, N) K512(5, DT, N) K512(6, DT, N)                \
    K512(7, DT, N) K512(8, DT, N) K512(9, DT, N) K512(10, DT, N) K512(11, DT, N) K512(12, DT, N)             \
    static void kern_avx512_##N(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile, \
                                int c)                                                                       \
    {                                                                                                        \
        static void (*const f[MR_MAX + 1])(size_t, const float *, size_t, const void *, float *, int) = {    \
            NULL, k512_##N##_1, k512_##N##_2, k512_##N##_3, k512_##N##_4, k512_##N##_5, k512_##N##_6,        \
            k512_##N##_7, k512_##N##_8, k512_##N##_9, k512_##N##_10, k512_##N##_11, k512_##N##_12};          \
        f[mr](k, x, ldx, panel, tile, c);                                                                    \
    }
K512_ALL(GM_F32, f32)
K512_ALL(GM_F16, f16)
K512_ALL(GM_BF16, bf16)

/* 8 panel elements from p (element offset i) widened to fp32. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256 ld256(const gm_dtype DT, const void *p,
                                                                                  size_t i)
{
    if (DT == GM_F32)
        return _mm256_load_ps((const float *)p + i);
    __m128i h = _mm_load_si128((const __m128i *)((const uint16_t *)p + i));
    if (DT == GM_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* AVX2: 16 ymm registers allow 6 rows x 16 columns (12 accumulators), so a
 * 32-column panel is two passes over its halves (c0: 0 or 16). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
k256_body(const int MR, const gm_dtype DT, size_t k, const float *x, size_t ldx, const void *panel, size_t c0,
          float *tile, int cont)
{
    __m256 a0[6], a1[6];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        a0[r] = cont ? _mm256_loadu_ps(tile + r * GM_NR + c0) : _mm256_setzero_ps();
        a1[r] = cont ? _mm256_loadu_ps(tile + r * GM_NR + c0 + 8) : _mm256_setzero_ps();
    }
    for (size_t kk = 0; kk < k; kk++) {
        __m256 w0 = ld256(DT, panel, kk * GM_NR + c0), w1 = ld256(DT, panel, kk * GM_NR + c0 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 b = _mm256_broadcast_ss(x + r * ldx + kk);
            a0[r] = _mm256_fmadd_ps(b, w0, a0[r]);
            a1[r] = _mm256_fmadd_ps(b, w1, a1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(tile + r * GM_NR + c0, a0[r]);
        _mm256_storeu_ps(tile + r * GM_NR + c0 + 8, a1[r]);
    }
}

#define K256(M, DT, N)                                                                                       \
    __attribute__((target("avx2,fma,f16c"))) static void k256_##N##_##M(size_t k, const float *x, size_t ldx, \
                                                                        const void *panel, float *tile, int c) \
    {                                                                                                        \
        k256_body(M, DT, k, x, ldx, panel, 0, tile, c);                                                      \
        k256_body(M, DT, k, x, ldx, panel, 16, tile, c);                                                     \
    }
#define K256_ALL(DT, N)                                                                                      \
    K256(1, DT, N) K256(2, DT, N) K256(3, DT, N) K256(4, DT, N) K256(5, DT, N) K256(6, DT, N)                \
    static void kern_avx2_##N(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile,  \
                              int c)                                                                         \
    {                                                                                                        \
        static void (*const f[7])(size_t, const float *, size_t, const void *, float *, int) = {             \
            NULL, k256_##N##_1, k256_##N##_2, k256_##N##_3, k256_##N##_4, k256_##N##_5, k256_##N##_6};       \
        f[mr](k, x, ldx, panel, tile, c);                                                                    \
    }
K256_ALL(GM_F32, f32)
K256_ALL(GM_F16, f16)
K256_ALL(GM_BF16, bf16)

/* rows per pass of the AVX2 emulation of GM_BF16DOT */
#define MRQ_AVX2 4

/* GM_BF16DOT with AVX512_BF16: vdpbf16ps, 12 rows x 32 columns. */
__attribute__((target("avx512f,avx512bf16"), always_inline)) static inline void
kbd512_body(const int MR, size_t k, const float *x, size_t ldx, const void *panel, float *tile)
{
    const uint32_t *xp = (const uint32_t *)(const void *)x;
    const __m512i *wp = panel;
    size_t kp = (k + 1) / 2;
    __m512 a0[MR_MAX], a1[MR_MAX];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        a0[r] = a1[r] = _mm512_setzero_ps();
    for (size_t i = 0; i < kp; i++) {
        __m512i w0 = _mm512_load_si512(wp + 2 * i), w1 = _mm512_load_si512(wp + 2 * i + 1);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512i xb = _mm512_set1_epi32((int)xp[r * ldx + i]);
            a0[r] = _mm512_dpbf16_ps(a0[r], (__m512bh)xb, (__m512bh)w0);
            a1[r] = _mm512_dpbf16_ps(a1[r], (__m512bh)xb, (__m512bh)w1);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tile + r * GM_NR, a0[r]);
        _mm512_storeu_ps(tile + r * GM_NR + 16, a1[r]);
    }
}

#define KBD512(M)                                                                                            \
    __attribute__((target("avx512f,avx512bf16"))) static void kbd512_##M(size_t k, const float *x, size_t ldx, \
                                                                        const void *panel, float *tile)      \
    {                                                                                                        \
        kbd512_body(M, k, x, ldx, panel, tile);                                                              \
    }
KBD512(1) KBD512(2) KBD512(3) KBD512(4) KBD512(5) KBD512(6) KBD512(7) KBD512(8) KBD512(9) KBD512(10) KBD512(11)
KBD512(12)
static void kern_avx512_bdot(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile)
{
    static void (*const f[MR_MAX + 1])(size_t, const float *, size_t, const void *, float *) = {
        NULL, kbd512_1, kbd512_2, kbd512_3, kbd512_4, kbd512_5, kbd512_6,
        kbd512_7, kbd512_8, kbd512_9, kbd512_10, kbd512_11, kbd512_12};
    f[mr](k, x, ldx, panel, tile);
}

/* GM_BF16DOT emulated with AVX2 (CPUs without AVX512_BF16): the odd and
 * even halves widened to fp32, two fmas per pair (each product is exact,
 * so fma = the rounded sum), subnormals flushed by MXCSR's FTZ and DAZ
 * for the kernel's duration. 4 rows x 16 columns per pass. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
kbd256_body(const int MR, size_t k, const float *x, size_t ldx, const void *panel, size_t c0, float *tile)
{
    const uint32_t *xp = (const uint32_t *)(const void *)x, *wp = panel;
    size_t kp = (k + 1) / 2;
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256 a0[MRQ_AVX2], a1[MRQ_AVX2];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
        a0[r] = a1[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < kp; i++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(wp + i * GM_NR + c0));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp + i * GM_NR + c0 + 8));
        __m256 w0o = _mm256_castsi256_ps(_mm256_and_si256(w0, hi)), w0e = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
        __m256 w1o = _mm256_castsi256_ps(_mm256_and_si256(w1, hi)), w1e = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            uint32_t xv = xp[r * ldx + i];
            __m256 xo = _mm256_set1_ps(bf_hi(xv)), xe = _mm256_set1_ps(bf_lo(xv));
            a0[r] = _mm256_fmadd_ps(xo, w0o, a0[r]);
            a1[r] = _mm256_fmadd_ps(xo, w1o, a1[r]);
            a0[r] = _mm256_fmadd_ps(xe, w0e, a0[r]);
            a1[r] = _mm256_fmadd_ps(xe, w1e, a1[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(tile + r * GM_NR + c0, a0[r]);
        _mm256_storeu_ps(tile + r * GM_NR + c0 + 8, a1[r]);
    }
}

#define KBD256(M)                                                                                            \
    __attribute__((target("avx2,fma"))) static void kbd256_##M(size_t k, const float *x, size_t ldx,         \
                                                               const void *panel, float *tile)               \
    {                                                                                                        \
        unsigned csr = _mm_getcsr();                                                                         \
        _mm_setcsr(csr | 0x8040u);   /* FTZ | DAZ */                                                         \
        kbd256_body(M, k, x, ldx, panel, 0, tile);                                                           \
        kbd256_body(M, k, x, ldx, panel, 16, tile);                                                          \
        _mm_setcsr(csr);                                                                                     \
    }
KBD256(1) KBD256(2) KBD256(3) KBD256(4)
static void kern_avx2_bdot(int mr, size_t k, const float *x, size_t ldx, const void *panel, float *tile)
{
    static void (*const f[MRQ_AVX2 + 1])(size_t, const float *, size_t, const void *, float *) = {
        NULL, kbd256_1, kbd256_2, kbd256_3, kbd256_4};
    f[mr](k, x, ldx, panel, tile);
}

/* GM_I8DOT with AVX512_VNNI: vpdpbusd sums four (u8 activation code x s8
 * weight code) products per lane; 6 rows x 32 columns, the block's integer
 * sums and the group's float sums in registers, the totals in the tile. */
#define MRI 6
__attribute__((target("avx512f,avx512vnni"), always_inline)) static inline void
ki512_body(const int MR, size_t k, const uint8_t *xq, size_t ldq, const float *xd, size_t ldd, const int8_t *panel,
           const float *sc, const int32_t *cs, size_t G, float *tile)
{
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tile + r * GM_NR, _mm512_setzero_ps());
        _mm512_storeu_ps(tile + r * GM_NR + 16, _mm512_setzero_ps());
    }
    for (size_t k0 = 0, gi = 0; k0 < k; k0 += G, gi++) {
        size_t k1 = k0 + G < k ? k0 + G : k;
        __m512 f0[MRI], f1[MRI];
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
            f0[r] = f1[r] = _mm512_setzero_ps();
        for (size_t b0 = k0; b0 < k1; b0 += GM_I8BLOCK) {
            size_t b1 = b0 + GM_I8BLOCK < k1 ? b0 + GM_I8BLOCK : k1, bi = b0 / GM_I8BLOCK;
            __m512i i0[MRI], i1[MRI];
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++)
                i0[r] = i1[r] = _mm512_setzero_si512();
            for (size_t q = b0 / 4; q < (b1 + 3) / 4; q++) {
                __m512i w0 = _mm512_loadu_si512(panel + q * GM_NR * 4), w1 = _mm512_loadu_si512(panel + q * GM_NR * 4 + 64);
#pragma GCC unroll 6
                for (int r = 0; r < MR; r++) {
                    int32_t xv;
                    memcpy(&xv, xq + r * ldq + q * 4, 4);
                    __m512i xb = _mm512_set1_epi32(xv);
                    i0[r] = _mm512_dpbusd_epi32(i0[r], xb, w0);
                    i1[r] = _mm512_dpbusd_epi32(i1[r], xb, w1);
                }
            }
            __m512i c0 = _mm512_slli_epi32(_mm512_loadu_si512(cs + bi * GM_NR), 7);
            __m512i c1 = _mm512_slli_epi32(_mm512_loadu_si512(cs + bi * GM_NR + 16), 7);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m512 d = _mm512_set1_ps(xd[r * ldd + bi]);
                f0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(i0[r], c0)), d, f0[r]);
                f1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(i1[r], c1)), d, f1[r]);
            }
        }
        __m512 s0 = _mm512_loadu_ps(sc + gi * GM_NR), s1 = _mm512_loadu_ps(sc + gi * GM_NR + 16);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            float *t = tile + r * GM_NR;
            _mm512_storeu_ps(t, _mm512_fmadd_ps(f0[r], s0, _mm512_loadu_ps(t)));
            _mm512_storeu_ps(t + 16, _mm512_fmadd_ps(f1[r], s1, _mm512_loadu_ps(t + 16)));
        }
    }
}

#define KI512(M)                                                                                             \
    __attribute__((target("avx512f,avx512vnni"))) static void ki512_##M(                                    \
        size_t k, const uint8_t *xq, size_t ldq, const float *xd, size_t ldd, const int8_t *panel,          \
        const float *sc, const int32_t *cs, size_t G, float *tile)                                           \
    {                                                                                                        \
        ki512_body(M, k, xq, ldq, xd, ldd, panel, sc, cs, G, tile);                                          \
    }
KI512(1) KI512(2) KI512(3) KI512(4) KI512(5) KI512(6)
static void ikern_avx512(int mr, size_t k, const uint8_t *xq, size_t ldq, const float *xd, size_t ldd,
                         const int8_t *panel, const float *sc, const int32_t *cs, size_t G, float *tile)
{
    static void (*const f[MRI + 1])(size_t, const uint8_t *, size_t, const float *, size_t, const int8_t *,
                                    const float *, const int32_t *, size_t, float *) = {
        NULL, ki512_1, ki512_2, ki512_3, ki512_4, ki512_5, ki512_6};
    f[mr](k, xq, ldq, xd, ldd, panel, sc, cs, G, tile);
}

#endif

#ifdef GM_X86
/* F16C from CPUID leaf 1 (ECX bit 29): clang 14 does not know the name
 * "f16c" for __builtin_cpu_supports, so the clang builds (fuzzing, UBSan)
 * would not compile. */
static int gm_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

int gm_isa_supported(gm_isa isa)
{
    switch (isa) {
    case GM_ISA_AUTO:
    case GM_ISA_SCALAR:
        return 1;
#ifdef GM_X86
    case GM_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && gm_has_f16c();
    case GM_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    default:
        return 0;
    }
}

int gm_bf16_native(void)
{
#ifdef GM_X86
    __builtin_cpu_init();
    return gm_isa_supported(GM_ISA_AVX512) && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

int gm_vnni_native(void)
{
#ifdef GM_X86
    __builtin_cpu_init();
    return gm_isa_supported(GM_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

gm_isa gm_isa_resolve(gm_isa isa)
{
    if (isa == GM_ISA_AUTO || !gm_isa_supported(isa))
        isa = gm_isa_supported(GM_ISA_AVX512) ? GM_ISA_AVX512
              : gm_isa_supported(GM_ISA_AVX2) ? GM_ISA_AVX2 : GM_ISA_SCALAR;
    return isa;
}

/* ---- epilogue (one scalar routine for every path: same bits) -------------- */

/* The steps are separate loops over the micro-tile, each simple enough
 * for the compiler to vectorise (bias, accumulate: plain fp32 additions,
 * the same bits vectorised or not); the switch is outside them. */
static void epilogue(const gm_call *c, float *tile, size_t row, int mr, size_t col, size_t ncols)
{
    for (int r = 0; r < mr; r++) {
        float *t = tile + r * GM_NR, *y = c->y + (row + (size_t)r) * c->ldy + col;
        if (c->bias)
            for (size_t j = 0; j < ncols; j++)
                t[j] = t[j] + c->bias[col + j];
        switch (c->act) {
        case GM_ACT_NONE:
            break;
        case GM_ACT_GELU_ERF:
            vm_gelu_erf(c->isa, t, ncols);   /* vectorised, same bits on every path */
            break;
        case GM_ACT_GELU_TANH:
            vm_gelu_tanh(c->isa, t, ncols);   /* vectorised, same bits on every path */
            break;
        case GM_ACT_RELU:
            for (size_t j = 0; j < ncols; j++)
                t[j] = t[j] > 0.0f ? t[j] : 0.0f;
            break;
        }
        if (c->accumulate)
            for (size_t j = 0; j < ncols; j++)
                y[j] = y[j] + t[j];
        else
            memcpy(y, t, ncols * sizeof *y);
    }
}

void gm_epilogue(const gm_call *c, float *tile, size_t row, int mr, size_t col, size_t ncols)
{
    epilogue(c, tile, row, mr, col, ncols);
}

/* ---- driver ----------------------------------------------------------------- */

typedef struct run_ctx {
    const gm_call *c;
    gm_kernel kern;
    gm_bkernel bkern;       /* GM_BF16DOT */
    gm_ikernel ikern;       /* GM_I8DOT */
    const uint8_t *xq;      /* GM_I8DOT: the rows' codes + 128 (ldq a row) and block scales (ldd) */
    const float *xd;
    size_t ldq, ldd;
    int i8_fallback;        /* GM_I8DOT without memory for xq: ikern_scalar_f32x */
    const float *x;         /* the rows the kernels read: c->x, or GM_BF16DOT's BF16 pairs */
    size_t ldx;
    int mr;
    size_t mc, np, ngroups;
    size_t kc;              /* > 0: k in blocks of kc, the tiles carried in acc (per worker mc x GM_GROUP x GM_NR) */
    float *acc;
} run_ctx;

/* An item of 16/32-bit panels with a long k (rc->kc > 0), BLIS-like: k
 * in blocks of kc, outermost, so that a block of the item's rows (mc x kc)
 * stays in L2 across its panels and a panel's block (kc x GM_NR) in L1
 * across the rows — with the whole k at once, a 9216-deep panel (576 KB
 * in BF16) and the rows left L2 between uses and each weight served only
 * a dozen rows per trip from memory. Each tile's chain is carried over
 * the blocks in acc (cont = 1), so the bits are those of the unblocked
 * loop. */
static void run_item_kblocked(const run_ctx *rc, size_t r0, size_t r1, size_t p0, size_t p1, float *acc)
{
    const gm_call *c = rc->c;
    const gm_weights *w = c->w;
    size_t rb = row_bytes(w->dtype);
    for (size_t k0 = 0; k0 < w->k; k0 += rc->kc) {
        size_t kn = w->k - k0 < rc->kc ? w->k - k0 : rc->kc;
        for (size_t p = p0; p < p1; p++) {
            const unsigned char *panel = (const unsigned char *)w->panels + (p * w->k + k0) * rb;
            for (size_t i = r0; i < r1; i += (size_t)rc->mr) {
                int mr = r1 - i < (size_t)rc->mr ? (int)(r1 - i) : rc->mr;
                rc->kern(mr, kn, rc->x + i * rc->ldx + k0, rc->ldx, panel, acc + ((p - p0) * rc->mc + (i - r0)) * GM_NR,
                         k0 > 0);
            }
        }
    }
    for (size_t p = p0; p < p1; p++) {
        size_t col = p * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
        for (size_t i = r0; i < r1; i += (size_t)rc->mr) {
            int mr = r1 - i < (size_t)rc->mr ? (int)(r1 - i) : rc->mr;
            epilogue(c, acc + ((p - p0) * rc->mc + (i - r0)) * GM_NR, i, mr, col, ncols);
        }
    }
}

static void run_item(void *vctx, size_t item, int worker)
{
    const run_ctx *rc = vctx;
    const gm_call *c = rc->c;
    const gm_weights *w = c->w;
    size_t r0 = item / rc->ngroups * rc->mc, p0 = item % rc->ngroups * GM_GROUP;
    size_t r1 = r0 + rc->mc < c->n ? r0 + rc->mc : c->n, p1 = p0 + GM_GROUP < rc->np ? p0 + GM_GROUP : rc->np;
    _Alignas(64) float tile[MR_MAX * GM_NR];
    if (rc->kc) {
        run_item_kblocked(rc, r0, r1, p0, p1, rc->acc + (size_t)worker * rc->mc * GM_GROUP * GM_NR);
        return;
    }
    for (size_t p = p0; p < p1; p++) {
        const void *panel = (const unsigned char *)w->panels + p * k_stored(w->dtype, w->k) * row_bytes(w->dtype);
        const float *sc = w->scales ? w->scales + p * w->ngroups * GM_NR : NULL;
        size_t col = p * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
        const int32_t *cs = w->csums ? w->csums + p * ((w->k + GM_I8BLOCK - 1) / GM_I8BLOCK) * GM_NR : NULL;
        for (size_t i = r0; i < r1; i += (size_t)rc->mr) {
            int mr = r1 - i < (size_t)rc->mr ? (int)(r1 - i) : rc->mr;
            if (rc->i8_fallback)
                ikern_scalar_f32x(c, i, mr, panel, sc, cs, tile);
            else if (rc->ikern)
                rc->ikern(mr, w->k, rc->xq + i * rc->ldq, rc->ldq, rc->xd + i * rc->ldd, rc->ldd, panel, sc, cs,
                          w->group, tile);
            else if (rc->bkern)
                rc->bkern(mr, w->k, rc->x + i * rc->ldx, rc->ldx, panel, tile);
            else
                rc->kern(mr, w->k, rc->x + i * rc->ldx, rc->ldx, panel, tile, 0);
            epilogue(c, tile, i, mr, col, ncols);
        }
    }
}

/* GM_I8DOT: rows [16 item, 16 item + 16) of x quantized. */
typedef struct i8_ctx {
    const gm_call *c;
    size_t kq4, nb;
    uint8_t *xq;
    float *xd;
} i8_ctx;

static void i8_rows(void *vctx, size_t item, int worker)
{
    (void)worker;
    const i8_ctx *q = vctx;
    size_t r1 = 16 * item + 16 < q->c->n ? 16 * item + 16 : q->c->n;
    for (size_t r = 16 * item; r < r1; r++)
        quant_row(q->c->x + r * q->c->ldx, q->c->w->k, q->kq4, q->xq + r * q->kq4, q->xd + r * q->nb);
}

/* GM_BF16DOT: rows [16 item, 16 item + 16) of x rounded to BF16 pairs. */
typedef struct bdot_ctx {
    const gm_call *c;
    uint32_t *xp;
    size_t kp;
} bdot_ctx;

static void bdot_rows(void *vctx, size_t item, int worker)
{
    (void)worker;
    const bdot_ctx *b = vctx;
    size_t r1 = 16 * item + 16 < b->c->n ? 16 * item + 16 : b->c->n, k = b->c->w->k;
    for (size_t r = 16 * item; r < r1; r++)
        for (size_t i = 0; i < b->kp; i++) {
            const float *x = b->c->x + r * b->c->ldx;
            uint32_t lo = bf16_rne_daz(x[2 * i]), hi = 2 * i + 1 < k ? bf16_rne_daz(x[2 * i + 1]) : 0;
            b->xp[r * b->kp + i] = lo | hi << 16;
        }
}

void gm_run(kn_pool *pool, const gm_call *c)
{
    const gm_weights *w = c->w;
    if (c->n == 0 || w->out == 0)
        return;
    if (w->dtype == GM_GGML_I8) {   /* gemm_ggml_i8.c */
        gm_ggml_i8_run(pool, c);
        return;
    }
    if (w->dtype == GM_GGML && (w->ggml_type == GGML_F32 || w->ggml_type == GGML_F16 || w->ggml_type == GGML_BF16)) {
        /* one element per block: the units are the fp32 or 16-bit panels */
        gm_weights pw = *w;
        gm_call c2 = *c;
        pw.dtype = w->ggml_type == GGML_F32 ? GM_F32 : w->ggml_type == GGML_F16 ? GM_F16 : GM_BF16;
        c2.w = &pw;
        gm_run(pool, &c2);
        return;
    }
    if (w->dtype == GM_GGML) {   /* quantized blocks: gemm_ggml.c */
        gg_run(pool, c, gm_isa_resolve(c->isa));
        return;
    }
    if (w->dtype == GM_Q8 || w->dtype == GM_Q4) {   /* gemm_quant.c */
        gq_run(pool, c, gm_isa_resolve(c->isa));
        return;
    }
    run_ctx rc = {.c = c, .x = c->x, .ldx = c->ldx, .mr = 4};
    uint32_t *xp = NULL;
    uint8_t *xq = NULL;
    float *xd = NULL;
    if (w->dtype == GM_I8DOT) {
        i8_ctx q8 = {c, k_stored(GM_I8DOT, w->k), (w->k + GM_I8BLOCK - 1) / GM_I8BLOCK, NULL, NULL};
        xq = q8.xq = malloc(c->n * q8.kq4 + 1), xd = q8.xd = malloc(c->n * q8.nb * sizeof *xd + 1);
        if (xq && xd) {
            if (pool)
                kn_pool_run(pool, (c->n + 15) / 16, i8_rows, &q8);
            else
                for (size_t i = 0; i < (c->n + 15) / 16; i++)
                    i8_rows(&q8, i, 0);
            rc.xq = xq, rc.xd = xd, rc.ldq = q8.kq4, rc.ldd = q8.nb;
            rc.ikern = ikern_scalar;
#ifdef GM_X86
            if (gm_isa_resolve(c->isa) == GM_ISA_AVX512 && gm_vnni_native())
                rc.ikern = ikern_avx512, rc.mr = MRI;
#endif
        } else {
            rc.i8_fallback = 1;
        }
    }
    if (w->dtype == GM_BF16DOT) {
        bdot_ctx b = {c, c->scratch, (w->k + 1) / 2};
        if (!b.xp && !(xp = b.xp = malloc(c->n * b.kp * sizeof *xp + 1))) {
            /* no memory for the rounded rows: the scalar path rounds them
             * as it reads them (same bits, slower) */
            run_ctx s1 = {.c = c, .x = c->x, .ldx = c->ldx, .mr = 4, .bkern = kern_scalar_bdot_f32x};
            s1.mc = 12, s1.np = (w->out + GM_NR - 1) / GM_NR, s1.ngroups = (s1.np + GM_GROUP - 1) / GM_GROUP;
            for (size_t i = 0; i < (c->n + 11) / 12 * s1.ngroups; i++)
                run_item(&s1, i, 0);
            return;
        }
        if (pool)
            kn_pool_run(pool, (c->n + 15) / 16, bdot_rows, &b);
        else
            for (size_t i = 0; i < (c->n + 15) / 16; i++)
                bdot_rows(&b, i, 0);
        rc.x = (const float *)(const void *)b.xp, rc.ldx = b.kp;
    }
    int dt = w->dtype == GM_F16 ? 1 : w->dtype == GM_BF16 ? 2 : 0;
    static const gm_kernel scalar[3] = {kern_scalar, kern_scalar_f16, kern_scalar_bf16};
    rc.kern = scalar[dt];
    if (w->dtype == GM_BF16DOT)
        rc.bkern = kern_scalar_bdot;
    gm_isa isa = c->isa;
#ifdef GM_X86
    static const gm_kernel k512[3] = {kern_avx512_f32, kern_avx512_f16, kern_avx512_bf16};
    static const gm_kernel k256[3] = {kern_avx2_f32, kern_avx2_f16, kern_avx2_bf16};
    isa = gm_isa_resolve(isa);
    if (w->dtype == GM_I8DOT) {
        /* the integer kernels were chosen above */
    } else if (w->dtype == GM_BF16DOT) {
        if (isa == GM_ISA_AVX512 && gm_bf16_native())
            rc.bkern = kern_avx512_bdot, rc.mr = 12;
        else if (isa != GM_ISA_SCALAR)
            rc.bkern = kern_avx2_bdot, rc.mr = MRQ_AVX2;
    } else if (isa == GM_ISA_AVX512) {
        rc.kern = k512[dt], rc.mr = 12;
    } else if (isa == GM_ISA_AVX2) {
        rc.kern = k256[dt], rc.mr = 6;
    }
#endif
    /* 16/32-bit panels under many rows with a long k: k in blocks (see
     * run_item_kblocked), as even as KC_MAX allows, with a tile buffer per
     * worker (without it, the whole k at once: the same bits) */
    float *acc = NULL;
    size_t kdepth = w->k;
    if (!rc.bkern && !rc.ikern && !rc.i8_fallback && w->dtype != GM_GGML && w->k > KC_MAX &&
        c->n > (size_t)(2 * rc.mr)) {
        size_t nb = (w->k + KC_MAX - 1) / KC_MAX, kc = ((w->k + nb - 1) / nb + 7) / 8 * 8;
        size_t per = ROWS_BYTES / (kc * sizeof(float)) / 12 * 12, mc = per < 12 ? 12 : per > 192 ? 192 : per;
        size_t nw = pool ? (size_t)kn_pool_threads(pool) : 1;
        if ((acc = kn_alloc(nw * mc * GM_GROUP * GM_NR * sizeof *acc + 64)) != NULL)
            rc.kc = kc, rc.acc = acc, kdepth = kc;
    }
    /* rows per item: a multiple of every path's mr, the item's rows (or
     * their k block) ~384 KB */
    size_t per = kdepth ? ROWS_BYTES / (kdepth * sizeof(float)) / 12 * 12 : 192;
    rc.mc = per < 12 ? 12 : per > 192 ? 192 : per;
    rc.np = (w->out + GM_NR - 1) / GM_NR;
    rc.ngroups = (rc.np + GM_GROUP - 1) / GM_GROUP;
    size_t nitems = (c->n + rc.mc - 1) / rc.mc * rc.ngroups;
    if (pool)
        kn_pool_run(pool, nitems, run_item, &rc);
    else
        for (size_t i = 0; i < nitems; i++)
            run_item(&rc, i, 0);
    free(xp);
    free(acc);
    free(xq);
    free(xd);
}
