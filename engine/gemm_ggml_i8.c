/* gemm_ggml_i8.c — GM_GGML_I8: int8 dot products on the GM_GGML panels
 * (gemm.h, "int8 dot products on GGUF blocks", defines the function).
 *
 * Structure. The rows are quantized once per call (codes as int8, the
 * block scales d_b and the halves' code sums X_lo, X_hi). Work items are
 * (up to GI8_MC rows) x (one panel of GM_NR columns); an item walks its
 * panel one 32-k sub-block at a time: the sub-block's codes are unpacked
 * from the interleaved units into a 1 KB tile laid out for vpdpbusd
 * (each dword lane one column's codes of four consecutive k) with its 32
 * columns' factors D, E, and then every row of the item takes its integer
 * sums over that tile and folds them into its running totals (kept in
 * the item's buffer). Unpacking costs a few operations per 64 codes and
 * is shared by all the item's rows; the tile and the rows' 32 bytes of
 * the sub-block stay in L1. An item of one row (decoding) would pay the
 * tile alone: Q8_0, Q4_0, Q4_K, Q5_K and Q6_K then go through fused
 * kernels (row1_*) that take the codes from the panel into vpdpbusd in
 * registers. Nothing here depends on how rows are grouped: each total is
 * the documented sequence over its own row's sums. */
#include "gemm_ggml_i8.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "f16.h"
#include "gemm_internal.h"
#include "gguf.h"

#define GI8_MC 128      /* rows per work item */
#define GI8_MR 6        /* rows per register tile (VNNI) */

/* How a type's sub-block sums combine (gemm.h): the offset o of its codes
 * and which second term it has. */
enum { GI8_OFF, GI8_MIN, GI8_HALVES };

static int gi8_kind(int type, int *o)
{
    switch (type) {
    case GGML_Q8_0: *o = 128; return GI8_OFF;
    case GGML_Q4_0: *o = 8; return GI8_OFF;
    case GGML_Q5_0: *o = 16; return GI8_OFF;
    case GGML_Q6_K: *o = 32; return GI8_HALVES;
    case GGML_Q4_1: case GGML_Q5_1: case GGML_Q4_K: case GGML_Q5_K: *o = 0; return GI8_MIN;
    default: *o = 0; return -1;
    }
}

int gm_ggml_i8_supported(int ggml_type)
{
    int o;
    return gi8_kind(ggml_type, &o) >= 0;
}

/* ---- unpacking a sub-block -------------------------------------------------
 * Offsets are those of gemm_internal.h's units: a field at byte o of the
 * block starts at byte 32 o of the unit, element i of column c at
 * 32 o + (32 i + c) w. */

static inline uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* The unsigned code of k j (0..31) of sub-block s, column c. */
static int gi8_code(int type, const unsigned char *u, size_t s, size_t j, size_t c)
{
    size_t i = j % 16, sh = j >= 16 ? 4 : 0;
    switch (type) {
    case GGML_Q8_0: return u[64 + j * 32 + c] ^ 0x80;
    case GGML_Q4_0: return (u[64 + i * 32 + c] >> sh) & 15;
    case GGML_Q4_1: return (u[128 + i * 32 + c] >> sh) & 15;
    case GGML_Q5_0:
    case GGML_Q5_1: {
        size_t h = type == GGML_Q5_0 ? 64 : 128, q = type == GGML_Q5_0 ? 192 : 256;
        uint32_t qh = (uint32_t)u[h + 4 * c] | (uint32_t)u[h + 4 * c + 1] << 8 | (uint32_t)u[h + 4 * c + 2] << 16 |
                      (uint32_t)u[h + 4 * c + 3] << 24;
        return ((u[q + i * 32 + c] >> sh) & 15) | (int)((qh >> j) & 1) << 4;
    }
    case GGML_Q4_K: return (u[512 + (s / 2 * 32 + j) * 32 + c] >> (4 * (s & 1))) & 15;
    case GGML_Q5_K:
        return ((u[1536 + (s / 2 * 32 + j) * 32 + c] >> (4 * (s & 1))) & 15) | ((u[512 + j * 32 + c] >> s) & 1) << 4;
    case GGML_Q6_K: {
        size_t half = s / 4, t = s % 4;
        int lo = (u[(64 * half + 32 * (t & 1) + j) * 32 + c] >> (t >= 2 ? 4 : 0)) & 15;
        int hi = (u[4096 + (32 * half + j) * 32 + c] >> (2 * t)) & 3;
        return lo | hi << 4;
    }
    default: return 0;
    }
}

/* The factors D, E of sub-block s (gemm.h), from the 32 columns' d (and
 * Q4_1/Q5_1's m, the K types' dmin) already widened; each as gg_deq
 * computes the matching dequantization factor. The loops are over the
 * columns, for the vectoriser (the same IEEE operations either way). */
__attribute__((always_inline)) static inline void gi8_factors(int type, const unsigned char *u, size_t s,
                                                              const float *d, const float *m, float *D, float *E)
{
    switch (type) {
    case GGML_Q4_1:
    case GGML_Q5_1:
        for (size_t c = 0; c < GM_NR; c++)
            D[c] = d[c], E[c] = m[c];
        break;
    case GGML_Q4_K:
    case GGML_Q5_K: {
        const unsigned char *sc = u + 128;   /* scale_min_k4 (gguf_quant.c) on each column's 12 bytes */
        for (size_t c = 0; c < GM_NR; c++) {
            int a, mn;
            if (s < 4) {
                a = sc[s * GM_NR + c] & 63;
                mn = sc[(s + 4) * GM_NR + c] & 63;
            } else {
                a = (sc[(s + 4) * GM_NR + c] & 15) | (sc[(s - 4) * GM_NR + c] >> 6) << 4;
                mn = (sc[(s + 4) * GM_NR + c] >> 4) | (sc[s * GM_NR + c] >> 6) << 4;
            }
            D[c] = d[c] * (float)a;
            E[c] = -(m[c] * (float)mn);
        }
        break;
    }
    case GGML_Q6_K: {
        const int8_t *sc = (const int8_t *)(u + 32 * 192);
        for (size_t c = 0; c < GM_NR; c++) {
            D[c] = d[c] * (float)sc[(2 * s) * GM_NR + c];
            E[c] = d[c] * (float)sc[(2 * s + 1) * GM_NR + c];
        }
        break;
    }
    default:
        for (size_t c = 0; c < GM_NR; c++)
            D[c] = d[c], E[c] = 0.0f;
        break;
    }
}

/* Byte offset in the unit of the 32 columns' f16 d, and of the second
 * f16 (m or dmin; 0: none). */
static size_t gi8_doff(int type) { return type == GGML_Q6_K ? 32 * 208 : 0; }
static size_t gi8_moff(int type)
{
    return type == GGML_Q4_1 || type == GGML_Q5_1 || type == GGML_Q4_K || type == GGML_Q5_K ? 64 : 0;
}

static void unpack_scalar(int type, const unsigned char *u, size_t s, uint8_t *codes, float *D, float *E)
{
    for (size_t j = 0; j < 32; j++)
        for (size_t c = 0; c < GM_NR; c++)
            codes[((j / 4) * GM_NR + c) * 4 + j % 4] = (uint8_t)gi8_code(type, u, s, j, c);
    float d[GM_NR], m[GM_NR] = {0};
    size_t mo = gi8_moff(type);
    for (size_t c = 0; c < GM_NR; c++) {
        d[c] = f16_to_f32(le16(u + gi8_doff(type) + 2 * c));
        if (mo)
            m[c] = f16_to_f32(le16(u + mo + 2 * c));
    }
    gi8_factors(type, u, s, d, m, D, E);
}

/* ---- integer sums and the combine, scalar ------------------------------
 * rows rows of the item, from row 0's codes xs (ldq a row) and per-block
 * values dx, xlo, xhi (lda a row) at this sub-block; tot[r][GM_NR]. */
static void kern_scalar(int kind, int o, size_t rows, const int8_t *xs, size_t ldq, const float *dx,
                        const int32_t *xlo, const int32_t *xhi, size_t lda, const uint8_t *codes, const float *D,
                        const float *E, float *tot)
{
    for (size_t r = 0; r < rows; r++) {
        const int8_t *x = xs + r * ldq;
        int32_t lo = xlo[r * lda], hi = xhi[r * lda];
        for (size_t c = 0; c < GM_NR; c++) {
            int32_t s0 = 0, s1 = 0;
            for (size_t j = 0; j < 16; j++)
                s0 += x[j] * codes[((j / 4) * GM_NR + c) * 4 + j % 4];
            for (size_t j = 16; j < 32; j++)
                s1 += x[j] * codes[((j / 4) * GM_NR + c) * 4 + j % 4];
            float t;
            if (kind == GI8_HALVES) {
                t = (float)(s0 - o * lo) * D[c];
                t = fmaf((float)(s1 - o * hi), E[c], t);
            } else {
                t = (float)(s0 + s1 - o * (lo + hi)) * D[c];
                if (kind == GI8_MIN)
                    t = fmaf((float)(lo + hi), E[c], t);
            }
            tot[r * GM_NR + c] = fmaf(t, dx[r * lda], tot[r * GM_NR + c]);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define GI8_X86 1

/* ---- unpacking with AVX-512 (BW, VBMI) ----------------------------------
 * Four consecutive k of a field's rows are 128 contiguous bytes (k-major,
 * 32 columns each); per-byte operations give the codes, and one vpermt2b
 * per 16 columns turns them column-major: byte 4c + e of the result is
 * k 4q + e of column c. */
#define GI8_VBMI "avx512f,avx512bw,avx512vbmi,avx512vnni"

static const uint8_t gi8_idx[2][64] = {
#define I4(c, h) (uint8_t)((c) + 16 * (h)), (uint8_t)(32 + (c) + 16 * (h)), (uint8_t)(64 + (c) + 16 * (h)), \
                 (uint8_t)(96 + (c) + 16 * (h))
#define I16(h) I4(0, h), I4(1, h), I4(2, h), I4(3, h), I4(4, h), I4(5, h), I4(6, h), I4(7, h), I4(8, h), I4(9, h), \
               I4(10, h), I4(11, h), I4(12, h), I4(13, h), I4(14, h), I4(15, h)
    {I16(0)}, {I16(1)}
#undef I16
#undef I4
};

__attribute__((target(GI8_VBMI))) static void unpack_avx512(int type, const unsigned char *u, size_t s,
                                                            uint8_t *codes, float *D, float *E)
{
    const __m512i ix0 = _mm512_loadu_si512(gi8_idx[0]), ix1 = _mm512_loadu_si512(gi8_idx[1]);
    const __m512i n15 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1), three = _mm512_set1_epi8(3);
    __m512i qh0 = _mm512_setzero_si512(), qh1 = qh0;
    if (type == GGML_Q5_0 || type == GGML_Q5_1) {   /* each column's 32 high bits, a dword per lane */
        size_t h = type == GGML_Q5_0 ? 64 : 128;
        qh0 = _mm512_loadu_si512(u + h), qh1 = _mm512_loadu_si512(u + h + 64);
    }
    for (size_t q = 0; q < 8; q++) {
        size_t j = 4 * q, i = j % 16, sh = j >= 16 ? 4 : 0;
        const unsigned char *src, *hb = NULL;
        int hsh = 0;
        switch (type) {
        case GGML_Q8_0: src = u + 64 + j * 32; break;
        case GGML_Q4_0: src = u + 64 + i * 32; break;
        case GGML_Q4_1: src = u + 128 + i * 32; break;
        case GGML_Q5_0: src = u + 192 + i * 32; break;
        case GGML_Q5_1: src = u + 256 + i * 32; break;
        case GGML_Q4_K: src = u + 512 + (s / 2 * 32 + j) * 32, sh = 4 * (s & 1); break;
        case GGML_Q5_K:
            src = u + 1536 + (s / 2 * 32 + j) * 32, sh = 4 * (s & 1), hb = u + 512 + j * 32, hsh = (int)s;
            break;
        default: {   /* Q6_K */
            size_t half = s / 4, t = s % 4;
            src = u + (64 * half + 32 * (t & 1) + j) * 32, sh = t >= 2 ? 4 : 0;
            hb = u + 4096 + (32 * half + j) * 32, hsh = (int)(2 * t);
            break;
        }
        }
        __m512i a = _mm512_loadu_si512(src), b = _mm512_loadu_si512(src + 64);
        if (type == GGML_Q8_0) {
            a = _mm512_xor_si512(a, _mm512_set1_epi8((char)0x80));
            b = _mm512_xor_si512(b, _mm512_set1_epi8((char)0x80));
        } else {
            a = _mm512_and_si512(_mm512_srl_epi16(a, _mm_cvtsi32_si128((int)sh)), n15);
            b = _mm512_and_si512(_mm512_srl_epi16(b, _mm_cvtsi32_si128((int)sh)), n15);
        }
        if (hb) {   /* the high bits, per byte, into bit 4 (Q5_K: 1 bit; Q6_K: 2) */
            __m512i m = type == GGML_Q5_K ? one : three;
            __m512i ha = _mm512_loadu_si512(hb), hc = _mm512_loadu_si512(hb + 64);
            ha = _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(ha, _mm_cvtsi32_si128(hsh)), m), 4);
            hc = _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(hc, _mm_cvtsi32_si128(hsh)), m), 4);
            a = _mm512_or_si512(a, ha), b = _mm512_or_si512(b, hc);
        }
        __m512i c0 = _mm512_permutex2var_epi8(a, ix0, b), c1 = _mm512_permutex2var_epi8(a, ix1, b);
        if (type == GGML_Q5_0 || type == GGML_Q5_1) {
            /* bits j .. j + 3 of each lane's qh, spread to bit 4 of its
             * four bytes (x * 0x204081 puts bit e at bit 8e, no carries) */
            const __m512i mul = _mm512_set1_epi32(0x204081), lsb = _mm512_set1_epi32(0x01010101);
            __m512i x0 = _mm512_and_si512(_mm512_srl_epi32(qh0, _mm_cvtsi32_si128((int)j)), _mm512_set1_epi32(15));
            __m512i x1 = _mm512_and_si512(_mm512_srl_epi32(qh1, _mm_cvtsi32_si128((int)j)), _mm512_set1_epi32(15));
            x0 = _mm512_slli_epi32(_mm512_and_si512(_mm512_mullo_epi32(x0, mul), lsb), 4);
            x1 = _mm512_slli_epi32(_mm512_and_si512(_mm512_mullo_epi32(x1, mul), lsb), 4);
            c0 = _mm512_or_si512(c0, x0), c1 = _mm512_or_si512(c1, x1);
        }
        _mm512_storeu_si512(codes + q * 128, c0);
        _mm512_storeu_si512(codes + q * 128 + 64, c1);
    }
    _Alignas(64) float d[GM_NR], m[GM_NR];
    size_t doff = gi8_doff(type), mo = gi8_moff(type);
    _mm512_store_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(u + doff))));
    _mm512_store_ps(d + 16, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(u + doff + 32))));
    if (mo) {
        _mm512_store_ps(m, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(u + mo))));
        _mm512_store_ps(m + 16, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(u + mo + 32))));
    } else {
        memset(m, 0, sizeof m);
    }
    gi8_factors(type, u, s, d, m, D, E);
}

/* ---- integer sums with AVX512_VNNI ---------------------------------------
 * MR rows x 32 columns: vpdpbusd adds four (unsigned code x signed
 * activation) products per lane into int32 sums started at -o X; the
 * combine is the scalar one, lane by lane. */
__attribute__((target(GI8_VBMI), always_inline)) static inline void
k512_body(const int KIND, const int MR, int o, const int8_t *xs, size_t ldq, const float *dx, const int32_t *xlo,
          const int32_t *xhi, size_t lda, const uint8_t *codes, const float *D, const float *E, float *tot)
{
    __m512i i0[GI8_MR], i1[GI8_MR];
    __m512 t0[GI8_MR], t1[GI8_MR];
    const __m512 d0 = _mm512_loadu_ps(D), d1 = _mm512_loadu_ps(D + 16);
    int nq = KIND == GI8_HALVES ? 4 : 8;
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        int32_t lo = xlo[(size_t)r * lda], hi = xhi[(size_t)r * lda];
        i0[r] = i1[r] = _mm512_set1_epi32(KIND == GI8_HALVES ? -o * lo : -o * (lo + hi));
        t0[r] = t1[r] = _mm512_setzero_ps();
    }
    for (int pass = 0; pass < (KIND == GI8_HALVES ? 2 : 1); pass++) {
        for (int q = pass * nq; q < (pass + 1) * nq; q++) {
            __m512i w0 = _mm512_loadu_si512(codes + q * 128), w1 = _mm512_loadu_si512(codes + q * 128 + 64);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                int32_t xv;
                memcpy(&xv, xs + (size_t)r * ldq + 4 * q, 4);
                __m512i xb = _mm512_set1_epi32(xv);
                i0[r] = _mm512_dpbusd_epi32(i0[r], w0, xb);
                i1[r] = _mm512_dpbusd_epi32(i1[r], w1, xb);
            }
        }
        if (KIND == GI8_HALVES && pass == 0) {
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                t0[r] = _mm512_mul_ps(_mm512_cvtepi32_ps(i0[r]), d0);
                t1[r] = _mm512_mul_ps(_mm512_cvtepi32_ps(i1[r]), d1);
                i0[r] = i1[r] = _mm512_set1_epi32(-o * xhi[(size_t)r * lda]);
            }
        }
    }
    const __m512 e0 = _mm512_loadu_ps(E), e1 = _mm512_loadu_ps(E + 16);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        if (KIND == GI8_HALVES) {
            t0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[r]), e0, t0[r]);
            t1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[r]), e1, t1[r]);
        } else {
            t0[r] = _mm512_mul_ps(_mm512_cvtepi32_ps(i0[r]), d0);
            t1[r] = _mm512_mul_ps(_mm512_cvtepi32_ps(i1[r]), d1);
            if (KIND == GI8_MIN) {
                __m512 xf = _mm512_set1_ps((float)(xlo[(size_t)r * lda] + xhi[(size_t)r * lda]));
                t0[r] = _mm512_fmadd_ps(xf, e0, t0[r]);
                t1[r] = _mm512_fmadd_ps(xf, e1, t1[r]);
            }
        }
        __m512 db = _mm512_set1_ps(dx[(size_t)r * lda]);
        float *t = tot + (size_t)r * GM_NR;
        _mm512_storeu_ps(t, _mm512_fmadd_ps(t0[r], db, _mm512_loadu_ps(t)));
        _mm512_storeu_ps(t + 16, _mm512_fmadd_ps(t1[r], db, _mm512_loadu_ps(t + 16)));
    }
}

/* A one-row kernel: body BODY specialised on block type T. */
#define ROW1(N, BODY, T)                                                                                           \
    __attribute__((target(GI8_VBMI))) static void row1_##N(size_t nb, const unsigned char *panel, size_t ub,    \
                                                           const int8_t *xs, const float *dx, const int32_t *xlo, \
                                                           const int32_t *xhi, float *tot)                        \
    {                                                                                                              \
        BODY(T, nb, panel, ub, xs, dx, xlo, xhi, tot);                                                             \
    }

/* The next stretch of span bytes at pf, a share per step j (0, 4, .. 28)
 * of a sub-block's k loop: the fields of a K unit lie kilobytes apart,
 * more streams than the hardware prefetcher follows. */
__attribute__((always_inline)) static inline void row1_prefetch(const unsigned char *pf, size_t span, int j)
{
    size_t lines = (span + 511) / 512;   /* lines per step, 8 steps */
    for (size_t l = 0; l < lines; l++)
        _mm_prefetch((const char *)(pf + ((size_t)(j / 4) * lines + l) * 64), _MM_HINT_T0);
}

/* One row (decoding) of Q8_0 or Q4_0 blocks: the codes go from the
 * unit's bytes through unpack_avx512's per-byte operations and vpermt2b
 * straight into vpdpbusd, without the L1 tile that an item's rows share
 * (with one row, storing and reloading the tile and the generic
 * unpacking's per-k choices cost ~4x the integer sums: 58% of a Q4_0
 * decode against 13%). The same integer sums started at -o X, the same
 * combine as k512_body's GI8_OFF: the same bits. Both types are one unit
 * per 32 k, their d at the unit's start (D = d, gi8_factors). */
__attribute__((target(GI8_VBMI), always_inline)) static inline void
row1_body(const int T, size_t nb, const unsigned char *panel, size_t ub, const int8_t *xs, const float *dx,
          const int32_t *xlo, const int32_t *xhi, float *tot)
{
    const __m512i ix0 = _mm512_loadu_si512(gi8_idx[0]), ix1 = _mm512_loadu_si512(gi8_idx[1]);
    const __m512i n15 = _mm512_set1_epi8(15), flip = _mm512_set1_epi8((char)0x80);
    const int o = T == GGML_Q8_0 ? 128 : 8;
    __m512 t0 = _mm512_setzero_ps(), t1 = t0;
    for (size_t b = 0; b < nb; b++) {
        const unsigned char *u = panel + b * ub;
        const int8_t *x = xs + 32 * b;
        __m512i i0 = _mm512_set1_epi32(-o * (xlo[b] + xhi[b])), i1 = i0;
        int32_t xv;
        if (T == GGML_Q8_0) {
#pragma GCC unroll 8
            for (int j = 0; j < 32; j += 4) {
                __m512i a = _mm512_xor_si512(_mm512_loadu_si512(u + 64 + j * 32), flip);
                __m512i c = _mm512_xor_si512(_mm512_loadu_si512(u + 64 + j * 32 + 64), flip);
                memcpy(&xv, x + j, 4);
                __m512i xb = _mm512_set1_epi32(xv);
                i0 = _mm512_dpbusd_epi32(i0, _mm512_permutex2var_epi8(a, ix0, c), xb);
                i1 = _mm512_dpbusd_epi32(i1, _mm512_permutex2var_epi8(a, ix1, c), xb);
            }
        } else {   /* Q4_0: byte i of a column holds k i (low nibble) and k 16 + i (high) */
#pragma GCC unroll 4
            for (int i = 0; i < 16; i += 4) {
                __m512i a = _mm512_loadu_si512(u + 64 + i * 32), c = _mm512_loadu_si512(u + 64 + i * 32 + 64);
                __m512i al = _mm512_and_si512(a, n15), cl = _mm512_and_si512(c, n15);
                __m512i ah = _mm512_and_si512(_mm512_srli_epi16(a, 4), n15);
                __m512i ch = _mm512_and_si512(_mm512_srli_epi16(c, 4), n15);
                memcpy(&xv, x + i, 4);
                __m512i xl = _mm512_set1_epi32(xv);
                memcpy(&xv, x + 16 + i, 4);
                __m512i xh = _mm512_set1_epi32(xv);
                i0 = _mm512_dpbusd_epi32(i0, _mm512_permutex2var_epi8(al, ix0, cl), xl);
                i1 = _mm512_dpbusd_epi32(i1, _mm512_permutex2var_epi8(al, ix1, cl), xl);
                i0 = _mm512_dpbusd_epi32(i0, _mm512_permutex2var_epi8(ah, ix0, ch), xh);
                i1 = _mm512_dpbusd_epi32(i1, _mm512_permutex2var_epi8(ah, ix1, ch), xh);
            }
        }
        __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)u));
        __m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + 32)));
        __m512 db = _mm512_set1_ps(dx[b]);
        t0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i0), d0), db, t0);
        t1 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i1), d1), db, t1);
    }
    _mm512_storeu_ps(tot, t0);
    _mm512_storeu_ps(tot + 16, t1);
}

ROW1(q8_0, row1_body, GGML_Q8_0)

ROW1(q4_0, row1_body, GGML_Q4_0)

/* One row of Q6_K blocks (the vocabulary head of llama-quantize's Q4
 * files), fused as row1_body. The four sub-blocks of a half block share
 * their bytes — sub-blocks t and t + 2 the low and high nibbles of one
 * field, all four the 2-bit fields of one byte of the high bits — so the
 * four are read once and their sums kept apart: codes assembled as
 * unpack_avx512 assembles them (here (nibble & 15) | (high bits moved to
 * bits 4-5, masked)), the two 16-k halves of each summed apart and
 * combined as k512_body's GI8_HALVES with D, E as gi8_factors computes
 * them (d times the halves' int8 scales), in sub-block order. */
__attribute__((target(GI8_VBMI), always_inline)) static inline __m512
row1_q6_scale(__m512 d, const int8_t *sc)
{
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)sc))));
}

__attribute__((target(GI8_VBMI))) static void row1_q6_k(size_t nb, const unsigned char *panel, size_t ub,
                                                        const int8_t *xs, const float *dx, const int32_t *xlo,
                                                        const int32_t *xhi, float *tot)
{
    const __m512i ix0 = _mm512_loadu_si512(gi8_idx[0]), ix1 = _mm512_loadu_si512(gi8_idx[1]);
    const __m512i n15 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    __m512 t0 = _mm512_setzero_ps(), t1 = t0;
    for (size_t b = 0; b + 3 < nb; b += 4) {   /* Q6_K blocks: 8 sub-blocks, two halves of four */
        const unsigned char *u = panel + b / 8 * ub;
        size_t half = b % 8 / 4;
        const unsigned char *q0 = u + 64 * half * 32, *q1 = q0 + 32 * 32, *hb = u + 4096 + 32 * half * 32;
        const int8_t *x = xs + 32 * b;
        const int8_t *sc = (const int8_t *)(u + 32 * 192);
        const __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + 32 * 208)));
        const __m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + 32 * 208 + 32)));
        __m512i i0[4], i1[4];
        __m512 u0[4], u1[4];
        for (int t = 0; t < 4; t++)
            i0[t] = i1[t] = _mm512_set1_epi32(-32 * xlo[b + t]);
        /* the next half unit (the next unit, or the next panel's first,
         * which follows): its fields lie kilobytes apart, more streams
         * than the hardware prefetcher follows (loads of the head's
         * weights were half of this kernel's time without it) */
        const unsigned char *pf = u + ub / 2 * (half + 1);
        for (int j = 0; j < 32; j += 4) {
            row1_prefetch(pf, ub / 2, j);
            __m512i qa0 = _mm512_loadu_si512(q0 + j * 32), qc0 = _mm512_loadu_si512(q0 + j * 32 + 64);
            __m512i qa1 = _mm512_loadu_si512(q1 + j * 32), qc1 = _mm512_loadu_si512(q1 + j * 32 + 64);
            __m512i ha = _mm512_loadu_si512(hb + j * 32), hc = _mm512_loadu_si512(hb + j * 32 + 64);
            __m512i ca[4], cc[4];   /* (nibble & 15) | high bits at 4-5: 0xEA is (A & B) | C */
            ca[0] = _mm512_ternarylogic_epi32(qa0, n15, _mm512_and_si512(_mm512_slli_epi16(ha, 4), m30), 0xEA);
            cc[0] = _mm512_ternarylogic_epi32(qc0, n15, _mm512_and_si512(_mm512_slli_epi16(hc, 4), m30), 0xEA);
            ca[1] = _mm512_ternarylogic_epi32(qa1, n15, _mm512_and_si512(_mm512_slli_epi16(ha, 2), m30), 0xEA);
            cc[1] = _mm512_ternarylogic_epi32(qc1, n15, _mm512_and_si512(_mm512_slli_epi16(hc, 2), m30), 0xEA);
            ca[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(qa0, 4), n15, _mm512_and_si512(ha, m30), 0xEA);
            cc[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(qc0, 4), n15, _mm512_and_si512(hc, m30), 0xEA);
            ca[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(qa1, 4), n15,
                                              _mm512_and_si512(_mm512_srli_epi16(ha, 2), m30), 0xEA);
            cc[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(qc1, 4), n15,
                                              _mm512_and_si512(_mm512_srli_epi16(hc, 2), m30), 0xEA);
            for (int t = 0; t < 4; t++) {
                int32_t xv;
                memcpy(&xv, x + 32 * t + j, 4);
                __m512i xb = _mm512_set1_epi32(xv);
                i0[t] = _mm512_dpbusd_epi32(i0[t], _mm512_permutex2var_epi8(ca[t], ix0, cc[t]), xb);
                i1[t] = _mm512_dpbusd_epi32(i1[t], _mm512_permutex2var_epi8(ca[t], ix1, cc[t]), xb);
            }
            if (j == 12)   /* the first halves: I_lo * D, then the second halves' sums from -o X_hi */
                for (int t = 0; t < 4; t++) {
                    size_t s = 4 * half + (size_t)t;
                    u0[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(i0[t]), row1_q6_scale(d0, sc + 2 * s * GM_NR));
                    u1[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(i1[t]), row1_q6_scale(d1, sc + 2 * s * GM_NR + 16));
                    i0[t] = i1[t] = _mm512_set1_epi32(-32 * xhi[b + t]);
                }
        }
        for (int t = 0; t < 4; t++) {
            size_t s = 4 * half + (size_t)t;
            u0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[t]), row1_q6_scale(d0, sc + (2 * s + 1) * GM_NR), u0[t]);
            u1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[t]), row1_q6_scale(d1, sc + (2 * s + 1) * GM_NR + 16), u1[t]);
            __m512 db = _mm512_set1_ps(dx[b + t]);
            t0 = _mm512_fmadd_ps(u0[t], db, t0);
            t1 = _mm512_fmadd_ps(u1[t], db, t1);
        }
    }
    _mm512_storeu_ps(tot, t0);
    _mm512_storeu_ps(tot + 16, t1);
}

/* One row of Q4_K or Q5_K blocks (Q4_K_M files), fused as row1_body.
 * Sub-blocks 2i and 2i + 1 are the low and high nibbles of the same
 * bytes, so a pair is read once, their sums kept apart (and Q5_K's high
 * bits added as unpack_avx512 does); each sub-block's 6-bit scale and
 * min are unpacked per column as gi8_factors does (D = d a, E = -(dmin
 * m), the negation exact), and the two are combined in order as
 * k512_body's GI8_MIN (o = 0). */
__attribute__((target(GI8_VBMI), always_inline)) static inline void
row1_k_fold(const unsigned char *u, size_t s, __m512i i0, __m512i i1, int32_t xsum, float dxb, __m512 *t0, __m512 *t1)
{
    const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const unsigned char *scp = u + 128;
    __m512 xf = _mm512_set1_ps((float)xsum), db = _mm512_set1_ps(dxb);
    for (int h = 0; h < 2; h++) {
        __m512i a, mn;
        const unsigned char *c0 = scp + 16 * h;
        if (s < 4) {
            a = _mm512_and_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c0 + s * GM_NR))), m63);
            mn = _mm512_and_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c0 + (s + 4) * GM_NR))), m63);
        } else {
            __m512i b4 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c0 + (s + 4) * GM_NR)));
            __m512i bl = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c0 + (s - 4) * GM_NR)));
            __m512i bs = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c0 + s * GM_NR)));
            a = _mm512_or_si512(_mm512_and_si512(b4, m15), _mm512_slli_epi32(_mm512_srli_epi32(bl, 6), 4));
            mn = _mm512_or_si512(_mm512_srli_epi32(b4, 4), _mm512_slli_epi32(_mm512_srli_epi32(bs, 6), 4));
        }
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + 32 * h)));
        __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + 64 + 32 * h)));
        __m512 D = _mm512_mul_ps(d, _mm512_cvtepi32_ps(a));
        __m512 E = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_mul_ps(dm, _mm512_cvtepi32_ps(mn))), sign));
        __m512 t = _mm512_fmadd_ps(xf, E, _mm512_mul_ps(_mm512_cvtepi32_ps(h ? i1 : i0), D));
        if (h)
            *t1 = _mm512_fmadd_ps(t, db, *t1);
        else
            *t0 = _mm512_fmadd_ps(t, db, *t0);
    }
}

__attribute__((target(GI8_VBMI), always_inline)) static inline void
row1_k_body(const int T, size_t nb, const unsigned char *panel, size_t ub, const int8_t *xs, const float *dx,
            const int32_t *xlo, const int32_t *xhi, float *tot)
{
    const __m512i ix0 = _mm512_loadu_si512(gi8_idx[0]), ix1 = _mm512_loadu_si512(gi8_idx[1]);
    const __m512i n15 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
    __m512 t0 = _mm512_setzero_ps(), t1 = t0;
    for (size_t b = 0; b + 1 < nb; b += 2) {   /* K blocks: 8 sub-blocks, so nb is even */
        const unsigned char *u = panel + b / 8 * ub;
        size_t s = b % 8;
        const unsigned char *src = u + (T == GGML_Q5_K ? 1536 : 512) + s / 2 * 32 * 32, *hb = u + 512;
        const __m128i hs0 = _mm_cvtsi32_si128((int)s), hs1 = _mm_cvtsi32_si128((int)s + 1);
        const int8_t *x = xs + 32 * b;
        __m512i i0 = _mm512_setzero_si512(), i1 = i0, j0 = i0, j1 = i0;
        /* the next quarter unit, as row1_q6_k does */
        const unsigned char *pf = u + ub / 4 * (s / 2 + 1);
        for (int j = 0; j < 32; j += 4) {
            row1_prefetch(pf, ub / 4, j);
            __m512i a = _mm512_loadu_si512(src + j * 32), c = _mm512_loadu_si512(src + j * 32 + 64);
            __m512i al = _mm512_and_si512(a, n15), cl = _mm512_and_si512(c, n15);
            __m512i ah = _mm512_and_si512(_mm512_srli_epi16(a, 4), n15), ch = _mm512_and_si512(_mm512_srli_epi16(c, 4), n15);
            if (T == GGML_Q5_K) {
                __m512i ha = _mm512_loadu_si512(hb + j * 32), hc = _mm512_loadu_si512(hb + j * 32 + 64);
                al = _mm512_or_si512(al, _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(ha, hs0), one), 4));
                cl = _mm512_or_si512(cl, _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(hc, hs0), one), 4));
                ah = _mm512_or_si512(ah, _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(ha, hs1), one), 4));
                ch = _mm512_or_si512(ch, _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(hc, hs1), one), 4));
            }
            int32_t xv;
            memcpy(&xv, x + j, 4);
            __m512i xl = _mm512_set1_epi32(xv);
            memcpy(&xv, x + 32 + j, 4);
            __m512i xh = _mm512_set1_epi32(xv);
            i0 = _mm512_dpbusd_epi32(i0, _mm512_permutex2var_epi8(al, ix0, cl), xl);
            i1 = _mm512_dpbusd_epi32(i1, _mm512_permutex2var_epi8(al, ix1, cl), xl);
            j0 = _mm512_dpbusd_epi32(j0, _mm512_permutex2var_epi8(ah, ix0, ch), xh);
            j1 = _mm512_dpbusd_epi32(j1, _mm512_permutex2var_epi8(ah, ix1, ch), xh);
        }
        row1_k_fold(u, s, i0, i1, xlo[b] + xhi[b], dx[b], &t0, &t1);
        row1_k_fold(u, s + 1, j0, j1, xlo[b + 1] + xhi[b + 1], dx[b + 1], &t0, &t1);
    }
    _mm512_storeu_ps(tot, t0);
    _mm512_storeu_ps(tot + 16, t1);
}

ROW1(q4_k, row1_k_body, GGML_Q4_K)

ROW1(q5_k, row1_k_body, GGML_Q5_K)

typedef void (*k512_fn)(int, const int8_t *, size_t, const float *, const int32_t *, const int32_t *, size_t,
                        const uint8_t *, const float *, const float *, float *);
#define K512(KN, K, M)                                                                                          \
    __attribute__((target(GI8_VBMI))) static void k512_##KN##_##M(                                             \
        int o, const int8_t *xs, size_t ldq, const float *dx, const int32_t *xlo, const int32_t *xhi,           \
        size_t lda, const uint8_t *codes, const float *D, const float *E, float *tot)                            \
    {                                                                                                           \
        k512_body(K, M, o, xs, ldq, dx, xlo, xhi, lda, codes, D, E, tot);                                       \
    }
#define K512_ALL(KN, K) K512(KN, K, 1) K512(KN, K, 2) K512(KN, K, 3) K512(KN, K, 4) K512(KN, K, 5) K512(KN, K, 6)
K512_ALL(off, GI8_OFF)
K512_ALL(min, GI8_MIN)
K512_ALL(halves, GI8_HALVES)
#define K512_ROW(KN) {NULL, k512_##KN##_1, k512_##KN##_2, k512_##KN##_3, k512_##KN##_4, k512_##KN##_5, k512_##KN##_6}
static const k512_fn k512[3][GI8_MR + 1] = {K512_ROW(off), K512_ROW(min), K512_ROW(halves)};

typedef void (*row1_fn)(size_t, const unsigned char *, size_t, const int8_t *, const float *, const int32_t *,
                        const int32_t *, float *);
/* The fused one-row kernel of a block type, or NULL (the tile path). */
static row1_fn row1_of(int type)
{
    switch (type) {
    case GGML_Q8_0: return row1_q8_0;
    case GGML_Q4_0: return row1_q4_0;
    case GGML_Q4_K: return row1_q4_k;
    case GGML_Q5_K: return row1_q5_k;
    case GGML_Q6_K: return row1_q6_k;
    default: return NULL;
    }
}

static void kern_avx512(int kind, int o, size_t rows, const int8_t *xs, size_t ldq, const float *dx,
                        const int32_t *xlo, const int32_t *xhi, size_t lda, const uint8_t *codes, const float *D,
                        const float *E, float *tot)
{
    for (size_t r = 0; r < rows; r += GI8_MR) {
        int mr = rows - r < GI8_MR ? (int)(rows - r) : GI8_MR;
        k512[kind][mr](o, xs + r * ldq, ldq, dx + r * lda, xlo + r * lda, xhi + r * lda, lda, codes, D, E,
                       tot + r * GM_NR);
    }
}

/* A row quantized as gm_quant_row does (gemm.h), with the codes as int8
 * and each block's half sums: the same IEEE operations per element (the
 * block's max |x|, one division for d, x / d rounded to nearest even,
 * the clamp), in vectors. Equal bits for finite activations (the tests
 * compare it with gm_quant_row); gm_quant_row is scalar, and calls
 * rintf, and cost as much as a tenth of a scoring run. */
__attribute__((target(GI8_VBMI))) static void quant_avx512(const float *x, size_t k, int8_t *q, float *d,
                                                           int32_t *lo, int32_t *hi)
{
    const __m512 lim = _mm512_set1_ps(127.0f), nlim = _mm512_set1_ps(-127.0f);
    for (size_t b = 0; b < k / 32; b++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        float a = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
        float db = a / 127.0f;
        d[b] = db;
        __m512i c0 = _mm512_setzero_si512(), c1 = c0;
        if (db != 0.0f) {
            __m512 vd = _mm512_set1_ps(db);
            __m512 r0 = _mm512_roundscale_ps(_mm512_div_ps(x0, vd), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512 r1 = _mm512_roundscale_ps(_mm512_div_ps(x1, vd), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            c0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r0, nlim), lim));
            c1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r1, nlim), lim));
        }
        _mm_storeu_si128((__m128i *)(void *)(q + 32 * b), _mm512_cvtepi32_epi8(c0));
        _mm_storeu_si128((__m128i *)(void *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(c1));
        lo[b] = _mm512_reduce_add_epi32(c0), hi[b] = _mm512_reduce_add_epi32(c1);
    }
}

static int gi8_vnni(gm_isa isa)
{
    return gm_isa_resolve(isa) == GM_ISA_AVX512 && gm_vnni_native() && __builtin_cpu_supports("avx512vbmi");
}
#else
static int gi8_vnni(gm_isa isa) { (void)isa; return 0; }
#endif

void gm_ggml_i8_unpack(int type, const unsigned char *u, size_t s, gm_isa isa, uint8_t codes[1024], float D[32],
                       float E[32])
{
#ifdef GI8_X86
    if (gi8_vnni(isa)) {
        unpack_avx512(type, u, s, codes, D, E);
        return;
    }
#endif
    (void)isa;
    unpack_scalar(type, u, s, codes, D, E);
}

/* A row's codes, scales and half sums, by the path that runs. */
static void quant_any(int vnni, const float *x, size_t k, int8_t *q, float *d, int32_t *lo, int32_t *hi)
{
#ifdef GI8_X86
    if (vnni) {
        quant_avx512(x, k, q, d, lo, hi);
        return;
    }
#endif
    (void)vnni;
    gm_quant_row(x, k, k, (uint8_t *)q, d);
    for (size_t b = 0; b < k / 32; b++) {
        int32_t s0 = 0, s1 = 0;
        for (size_t j = 0; j < 32; j++) {
            q[32 * b + j] = (int8_t)(((uint8_t *)q)[32 * b + j] ^ 0x80);   /* code + 128 -> the code */
            if (j < 16)
                s0 += q[32 * b + j];
            else
                s1 += q[32 * b + j];
        }
        lo[b] = s0, hi[b] = s1;
    }
}

void gm_ggml_i8_quant(const float *x, size_t k, gm_isa isa, int8_t *q, float *d, int32_t *lo, int32_t *hi)
{
    quant_any(gi8_vnni(isa), x, k, q, d, lo, hi);
}

/* ---- driver ------------------------------------------------------------------ */

typedef struct gi8_ctx {
    const gm_call *c;
    int type, kind, o, vnni;
    size_t r0, n;                 /* rows [r0, r0 + n) of the call, quantized below */
    int8_t *xs;                   /* [n][k] codes */
    float *dx;                    /* [n][nb] block scales */
    int32_t *xlo, *xhi;           /* [n][nb] sums of the codes of each block's halves */
    size_t nb, np, nrb;
    size_t grp;                   /* panels per item */
} gi8_ctx;

/* Rows [16 item, 16 item + 16) of the context's rows quantized. */
static void gi8_rows(void *vctx, size_t item, int worker)
{
    (void)worker;
    const gi8_ctx *g = vctx;
    const gm_call *c = g->c;
    size_t k = c->w->k, r1 = 16 * item + 16 < g->n ? 16 * item + 16 : g->n;
    for (size_t r = 16 * item; r < r1; r++)
        quant_any(g->vnni, c->x + (g->r0 + r) * c->ldx, k, g->xs + r * k, g->dx + r * g->nb, g->xlo + r * g->nb,
                  g->xhi + r * g->nb);
}

/* Row block rb of the context's rows against panel p. */
static void gi8_panel(const gi8_ctx *g, size_t rb, size_t p)
{
    const gm_call *c = g->c;
    const gm_weights *w = c->w;
    size_t i0 = rb * GI8_MC, rows = g->n - i0 < GI8_MC ? g->n - i0 : GI8_MC, k = w->k;
    size_t block, bytes;
    gguf_type_size(w->ggml_type, &block, &bytes);
    const unsigned char *panel = (const unsigned char *)w->panels + p * GM_NR * w->rowb;
    size_t ub = GM_NR * bytes;
    _Alignas(64) float tot[GI8_MC * GM_NR];
    _Alignas(64) uint8_t codes[32 * GM_NR];
    _Alignas(64) float D[GM_NR], E[GM_NR];
    size_t col = p * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
#ifdef GI8_X86
    row1_fn row1 = g->vnni && rows == 1 ? row1_of(w->ggml_type) : NULL;
    if (row1) {
        row1(g->nb, panel, ub, g->xs + i0 * k, g->dx + i0 * g->nb, g->xlo + i0 * g->nb, g->xhi + i0 * g->nb, tot);
        gm_epilogue(c, tot, g->r0 + i0, 1, col, ncols);
        return;
    }
#endif
    memset(tot, 0, rows * GM_NR * sizeof *tot);
    for (size_t b = 0; b < g->nb; b++) {
        const unsigned char *u = panel + (32 * b) / block * ub;
        size_t s = (32 * b) % block / 32;
        const int8_t *xs = g->xs + i0 * k + 32 * b;
        const float *dx = g->dx + i0 * g->nb + b;
        const int32_t *lo = g->xlo + i0 * g->nb + b, *hi = g->xhi + i0 * g->nb + b;
#ifdef GI8_X86
        if (g->vnni) {
            unpack_avx512(w->ggml_type, u, s, codes, D, E);
            kern_avx512(g->kind, g->o, rows, xs, k, dx, lo, hi, g->nb, codes, D, E, tot);
            continue;
        }
#endif
        unpack_scalar(w->ggml_type, u, s, codes, D, E);
        kern_scalar(g->kind, g->o, rows, xs, k, dx, lo, hi, g->nb, codes, D, E, tot);
    }
    gm_epilogue(c, tot, g->r0 + i0, (int)rows, col, ncols);
}

/* Items: a row block against g->grp consecutive panels. One row runs
 * GI8_ROW1_PANELS panels an item so that each thread streams a stretch
 * of the weights: with a panel an item, two threads took alternate panels
 * and each one's prefetch of the next unit fetched the other's (2 threads
 * decoded no faster than 1). */
#define GI8_ROW1_PANELS 8
static void gi8_item(void *vctx, size_t item, int worker)
{
    (void)worker;
    const gi8_ctx *g = vctx;
    size_t ng = (g->np + g->grp - 1) / g->grp, rb = item / ng, p0 = item % ng * g->grp;
    size_t p1 = p0 + g->grp < g->np ? p0 + g->grp : g->np;
    for (size_t p = p0; p < p1; p++)
        gi8_panel(g, rb, p);
}

/* Rows [r0, r0 + n) of the call, with their quantized copies in buf. */
static void gi8_run_rows(kn_pool *pool, gi8_ctx *g, size_t r0, size_t n, void *buf)
{
    size_t k = g->c->w->k;
    g->r0 = r0, g->n = n;
    g->xs = buf;
    g->dx = (float *)(void *)((unsigned char *)buf + n * k);
    g->xlo = (int32_t *)(void *)(g->dx + n * g->nb);
    g->xhi = g->xlo + n * g->nb;
    g->nrb = (n + GI8_MC - 1) / GI8_MC;
    g->grp = n == 1 ? GI8_ROW1_PANELS : 1;
    size_t nitems = g->nrb * ((g->np + g->grp - 1) / g->grp);
    if (pool) {
        kn_pool_run(pool, (n + 15) / 16, gi8_rows, g);
        kn_pool_run(pool, nitems, gi8_item, g);
    } else {
        for (size_t i = 0; i < (n + 15) / 16; i++)
            gi8_rows(g, i, 0);
        for (size_t i = 0; i < nitems; i++)
            gi8_item(g, i, 0);
    }
}

void gm_ggml_i8_run(kn_pool *pool, const gm_call *c)
{
    const gm_weights *w = c->w;
    if (c->n == 0 || w->out == 0)
        return;
    gi8_ctx g = {.c = c, .type = w->ggml_type, .vnni = gi8_vnni(c->isa)};
    g.kind = gi8_kind(w->ggml_type, &g.o);
    g.nb = w->k / 32, g.np = (w->out + GM_NR - 1) / GM_NR;
    size_t per = w->k + g.nb * 12;   /* a row's codes, d, X_lo, X_hi */
    void *buf = malloc(c->n * per + 64);
    if (buf) {
        gi8_run_rows(pool, &g, 0, c->n, buf);
        free(buf);
        return;
    }
    /* no memory for the quantized rows: a few rows at a time on the
     * stack (the same bits: every row is computed on its own) */
    _Alignas(64) unsigned char small[1 << 15];
    size_t chunk = sizeof small / per ? sizeof small / per : 1;
    if (per > sizeof small)   /* k beyond ~23k (no model has it): a row at a time from the heap */
        chunk = 1;
    for (size_t r0 = 0; r0 < c->n; r0 += chunk) {
        size_t n = c->n - r0 < chunk ? c->n - r0 : chunk;
        void *b = per <= sizeof small ? (void *)small : malloc(per + 64);
        if (!b)
            return;
        gi8_run_rows(pool, &g, r0, n, b);
        if (b != small)
            free(b);
    }
}
