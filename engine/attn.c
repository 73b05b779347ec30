/* attn.c — the attention tile (kernels.h), with a fixed sequence of fp32
 * operations per query row.
 *
 * Why not sgemm: OpenBLAS gives a row of a product different bits for
 * different M, K blockings and CPUs, so a query row's attention depended
 * on the tile it fell in, on how many keys that tile had (i.e. on where a
 * sequence was split into calls) and on the machine. Here every number a
 * row produces is a function of that row's query, its visible keys and
 * values, and the tile's parameters (scale, soft-cap, bias) only:
 *
 *   s[j] = fl(acc_j * scale), acc_j = 0; for d ascending: acc_j = fma(q[d], k_j[d], acc_j)
 *   (soft-cap, bias, max and the exps e[j] and their sum as kernels.h says)
 *   out[d] = 0; for j ascending over the visible keys: out[d] = fma(e[j], v_j[d], out[d]);
 *   out[d] = out[d] * (float)(1 / sum)
 *
 * The vector paths compute exactly that: scores with 16 (AVX-512) or 8
 * (AVX2) keys per register, each lane one key's fma chain over d (a block
 * of keys is transposed once per tile into a small stack buffer and
 * shared by all rows of the tile); P.V with 16 or 8 output dims per
 * register, each lane one d's chain over j, several rows sharing the loads
 * of a value row over the key range they have in common. Blocking only
 * decides which chains run side by side, never the order inside one, so
 * the scalar path below gives the same bits. */
#include "kernels.h"

#include <math.h>
#include <string.h>

#include "gemm.h"
#include "vmath.h"

#define KB 32        /* keys per transposed block of the score kernels */
#define HD_MAX 256   /* head dims the block buffer holds (KB * HD_MAX floats on the stack); larger: scalar scores */

/* Row i's visible keys [lo, hi) (kernels.h). */
static void row_range(const kn_attn *a, size_t i, size_t *lo, size_t *hi)
{
    size_t h = a->causal ? a->pos0 + i + 1 : a->nk;
    *hi = h;
    *lo = a->window && h > a->window ? h - a->window : 0;
}

/* ---- scalar: the definition ---------------------------------------------- */

static void scores_scalar(const kn_attn *a, float *S)
{
    for (size_t i = 0; i < a->rows; i++) {
        size_t lo, hi;
        row_range(a, i, &lo, &hi);
        const float *q = a->q + i * a->ldq;
        for (size_t j = lo; j < hi; j++) {
            const float *k = a->k + j * a->ldkv;
            float acc = 0.0f;
            for (size_t d = 0; d < a->hd; d++)
                acc = fmaf(q[d], k[d], acc);
            S[i * a->nk + j] = acc * a->scale;
        }
    }
}

/* out rows o[r] (hd floats, holding the chains so far) += p[r][j] v_j over
 * j in [j0, j1), j ascending, for nr rows. */
static void pv_scalar(size_t nr, const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1,
                      size_t hd, float *const *o)
{
    for (size_t r = 0; r < nr; r++)
        for (size_t j = j0; j < j1; j++) {
            float pj = p[r][j];
            const float *vj = v + j * ldv;
            for (size_t d = 0; d < hd; d++)
                o[r][d] = fmaf(pj, vj[d], o[r][d]);
        }
}

/* Keys [b, b + KB) transposed into kt[d * KB + jj] (zero past kend). */
static void pack_keys(const kn_attn *a, size_t b, size_t kend, float *kt)
{
    size_t n = kend - b < KB ? kend - b : KB;
    for (size_t jj = 0; jj < n; jj++) {
        const float *k = a->k + (b + jj) * a->ldkv;
        for (size_t d = 0; d < a->hd; d++)
            kt[d * KB + jj] = k[d];
    }
    for (size_t jj = n; jj < KB; jj++)
        for (size_t d = 0; d < a->hd; d++)
            kt[d * KB + jj] = 0.0f;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define AT_X86 1
#include <immintrin.h>

/* ---- AVX-512 ----------------------------------------------------------------
 * Scores: 4 rows x 32 keys (8 zmm accumulators) per step of d. P.V: 4 rows
 * x 64 dims (16 zmm). */
#define T512 __attribute__((target("avx512f,fma")))

T512 static inline __mmask16 mask16(size_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* S[r][b .. b+KB) (columns < nk) for the nr <= 4 rows at q (stride ldq) */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
sc512_body(const int NR, const float *q, size_t ldq, const float *kt, size_t hd, float scale, float *S, size_t lds,
           size_t b, size_t nk)
{
    __m512 a0[4], a1[4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
        a0[r] = a1[r] = _mm512_setzero_ps();
    for (size_t d = 0; d < hd; d++) {
        __m512 k0 = _mm512_loadu_ps(kt + d * KB), k1 = _mm512_loadu_ps(kt + d * KB + 16);
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            __m512 x = _mm512_set1_ps(q[r * ldq + d]);
            a0[r] = _mm512_fmadd_ps(x, k0, a0[r]);
            a1[r] = _mm512_fmadd_ps(x, k1, a1[r]);
        }
    }
    __m512 sc = _mm512_set1_ps(scale);
    __mmask16 m0 = mask16(nk - b), m1 = nk - b > 16 ? mask16(nk - b - 16) : 0;
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
        _mm512_mask_storeu_ps(S + r * lds + b, m0, _mm512_mul_ps(a0[r], sc));
        _mm512_mask_storeu_ps(S + r * lds + b + 16, m1, _mm512_mul_ps(a1[r], sc));
    }
}
T512 static void sc512_4(const float *q, size_t ldq, const float *kt, size_t hd, float scale, float *S, size_t lds,
                         size_t b, size_t nk)
{
    sc512_body(4, q, ldq, kt, hd, scale, S, lds, b, nk);
}
T512 static void sc512_1(const float *q, size_t ldq, const float *kt, size_t hd, float scale, float *S, size_t lds,
                         size_t b, size_t nk)
{
    sc512_body(1, q, ldq, kt, hd, scale, S, lds, b, nk);
}

__attribute__((target("avx512f,fma"), always_inline)) static inline void
pv512_body(const int NR, const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1, size_t hd,
           float *const *o)
{
    for (size_t d0 = 0; d0 < hd; d0 += 64) {
        __mmask16 m[4];
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            m[t] = d0 + 16 * t < hd ? mask16(hd - d0 - 16 * t) : 0;
        __m512 acc[4][4];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                acc[r][t] = _mm512_maskz_loadu_ps(m[t], o[r] + d0 + 16 * t);
        for (size_t j = j0; j < j1; j++) {
            const float *vj = v + j * ldv + d0;
            __m512 w[4];
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                w[t] = _mm512_maskz_loadu_ps(m[t], vj + 16 * t);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) {
                __m512 x = _mm512_set1_ps(p[r][j]);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++)
                    acc[r][t] = _mm512_fmadd_ps(x, w[t], acc[r][t]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                _mm512_mask_storeu_ps(o[r] + d0 + 16 * t, m[t], acc[r][t]);
    }
}
T512 static void pv512_4(const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1, size_t hd,
                         float *const *o)
{
    pv512_body(4, p, v, ldv, j0, j1, hd, o);
}
T512 static void pv512_1(const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1, size_t hd,
                         float *const *o)
{
    pv512_body(1, p, v, ldv, j0, j1, hd, o);
}

/* Keys [b, b + KB) transposed as pack_keys does, 16 keys x 16 dims at a
 * time in registers: decoding scores one query row against every key, so
 * the transpose, not the fmas, was the cost of its attention (the scalar
 * loop moved each float alone; ~5x the score kernel's time on GPT-2). */
T512 static void pack512(const kn_attn *a, size_t b, size_t kend, float *kt)
{
    size_t n = kend - b < KB ? kend - b : KB;
    for (size_t j0 = 0; j0 < KB; j0 += 16)
        for (size_t d0 = 0; d0 < a->hd; d0 += 16) {
            __mmask16 md = mask16(a->hd - d0);
            __m512 r[16], t[16];
            for (size_t i = 0; i < 16; i++)
                r[i] = j0 + i < n ? _mm512_maskz_loadu_ps(md, a->k + (b + j0 + i) * a->ldkv + d0) : _mm512_setzero_ps();
            /* pairs of rows interleaved, then quads (each 128-bit lane L
             * holding rows 4i..4i+3 of dim 4L + c in r[4i + c]), then the
             * lanes gathered across the four quads */
            for (int i = 0; i < 8; i++) {
                t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            for (int i = 0; i < 4; i++) {
                r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
                r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
            }
            for (int c = 0; c < 4; c++) {
                __m512 x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
                __m512 y0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
                __m512 y1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
                t[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
                t[4 + c] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
                t[8 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);
                t[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
            }
            for (size_t i = 0; i < 16 && d0 + i < a->hd; i++)
                _mm512_storeu_ps(kt + (d0 + i) * KB + j0, t[i]);
        }
}

/* ---- AVX2 -------------------------------------------------------------------
 * Scores: 2 rows x 32 keys (8 ymm). P.V: 2 rows x 32 dims (8 ymm). */
#define T256 __attribute__((target("avx2,fma")))

T256 static inline __m256i mask8(size_t n)
{
    int k = n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
sc256_body(const int NR, const float *q, size_t ldq, const float *kt, size_t hd, float scale, float *S, size_t lds,
           size_t b, size_t nk)
{
    __m256 a[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            a[r][t] = _mm256_setzero_ps();
    for (size_t d = 0; d < hd; d++) {
        __m256 k[4];
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            k[t] = _mm256_loadu_ps(kt + d * KB + 8 * t);
#pragma GCC unroll 2
        for (int r = 0; r < NR; r++) {
            __m256 x = _mm256_set1_ps(q[r * ldq + d]);
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                a[r][t] = _mm256_fmadd_ps(x, k[t], a[r][t]);
        }
    }
    __m256 sc = _mm256_set1_ps(scale);
#pragma GCC unroll 2
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (b + 8 * t < nk)
                _mm256_maskstore_ps(S + r * lds + b + 8 * t, mask8(nk - b - 8 * t), _mm256_mul_ps(a[r][t], sc));
}
T256 static void sc256_2(const float *q, size_t ldq, const float *kt, size_t hd, float scale, float *S, size_t lds,
                         size_t b, size_t nk)
{
    sc256_body(2, q, ldq, kt, hd, scale, S, lds, b, nk);
}
T256 static void sc256_1(const float *q, size_t ldq, const float *kt, size_t hd, float scale, float *S, size_t lds,
                         size_t b, size_t nk)
{
    sc256_body(1, q, ldq, kt, hd, scale, S, lds, b, nk);
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
pv256_body(const int NR, const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1, size_t hd,
           float *const *o)
{
    for (size_t d0 = 0; d0 < hd; d0 += 32) {
        __m256i m[4];
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            m[t] = d0 + 8 * t < hd ? mask8(hd - d0 - 8 * t) : _mm256_setzero_si256();
        __m256 acc[2][4];
#pragma GCC unroll 2
        for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                acc[r][t] = _mm256_maskload_ps(o[r] + d0 + 8 * t, m[t]);
        for (size_t j = j0; j < j1; j++) {
            const float *vj = v + j * ldv + d0;
            __m256 w[4];
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                w[t] = _mm256_maskload_ps(vj + 8 * t, m[t]);
#pragma GCC unroll 2
            for (int r = 0; r < NR; r++) {
                __m256 x = _mm256_set1_ps(p[r][j]);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++)
                    acc[r][t] = _mm256_fmadd_ps(x, w[t], acc[r][t]);
            }
        }
#pragma GCC unroll 2
        for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                _mm256_maskstore_ps(o[r] + d0 + 8 * t, m[t], acc[r][t]);
    }
}
T256 static void pv256_2(const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1, size_t hd,
                         float *const *o)
{
    pv256_body(2, p, v, ldv, j0, j1, hd, o);
}
T256 static void pv256_1(const float *const *p, const float *v, size_t ldv, size_t j0, size_t j1, size_t hd,
                         float *const *o)
{
    pv256_body(1, p, v, ldv, j0, j1, hd, o);
}
#endif

/* ---- dispatch -------------------------------------------------------------- */

typedef void (*sc_fn)(const float *, size_t, const float *, size_t, float, float *, size_t, size_t, size_t);
typedef void (*pv_fn)(const float *const *, const float *, size_t, size_t, size_t, size_t, float *const *);
typedef void (*pk_fn)(const kn_attn *, size_t, size_t, float *);

typedef struct at_kernels {
    int nr;              /* rows per wide kernel call */
    sc_fn sc_wide, sc_one;
    pv_fn pv_wide, pv_one;
    pk_fn pack;          /* pack_keys or a faster one with the same output */
} at_kernels;

static int pick(gm_isa isa, at_kernels *k)
{
#ifdef AT_X86
    switch (gm_isa_resolve(isa)) {
    case GM_ISA_AVX512:
        *k = (at_kernels){4, sc512_4, sc512_1, pv512_4, pv512_1, pack512};
        return 1;
    case GM_ISA_AVX2:
        *k = (at_kernels){2, sc256_2, sc256_1, pv256_2, pv256_1, pack_keys};
        return 1;
    default:
        break;
    }
#endif
    (void)isa;
    (void)k;
    return 0;
}

/* Scores of every row's visible keys with the vector kernels: per block of
 * KB keys, transposed once, the rows that see any of it (a contiguous run:
 * lo and hi never decrease with the row). */
static void scores_vec(const at_kernels *kn, const kn_attn *a, float *S)
{
    float kt[KB * HD_MAX];
    size_t lo0, hi0, loN, hiN;
    row_range(a, 0, &lo0, &hi0);
    row_range(a, a->rows - 1, &loN, &hiN);
    size_t r0 = 0, r1 = 0;   /* rows [r0, r1) see the block */
    for (size_t b = lo0 / KB * KB; b < hiN; b += KB) {
        kn->pack(a, b, hiN, kt);
        for (size_t lo, hi; r0 < a->rows; r0++) {   /* drop rows whose keys all lie before b */
            row_range(a, r0, &lo, &hi);
            if (hi > b)
                break;
        }
        for (size_t lo, hi; r1 < a->rows; r1++) {   /* add rows whose window starts before b + KB */
            row_range(a, r1, &lo, &hi);
            if (lo >= b + KB)
                break;
        }
        size_t r = r0;
        for (; r + (size_t)kn->nr <= r1; r += (size_t)kn->nr)
            kn->sc_wide(a->q + r * a->ldq, a->ldq, kt, a->hd, a->scale, S + r * a->nk, a->nk, b, a->nk);
        for (; r < r1; r++)
            kn->sc_one(a->q + r * a->ldq, a->ldq, kt, a->hd, a->scale, S + r * a->nk, a->nk, b, a->nk);
    }
}

/* P.V of rows [r0, r0 + nr) whose probabilities are in S: each row's chain
 * runs over its own keys in ascending order; the rows share the loads of
 * the keys they all see ([L, M)), before and after which each row goes
 * alone. */
static void pv_rows(const at_kernels *kn, const kn_attn *a, const float *S, size_t r0, size_t nr)
{
    const float *p[4] = {0};
    float *o[4] = {0};
    size_t lo[4], hi[4], L = 0, M = SIZE_MAX;
    for (size_t r = 0; r < nr; r++) {
        row_range(a, r0 + r, &lo[r], &hi[r]);
        p[r] = S + (r0 + r) * a->nk;
        o[r] = a->out + (r0 + r) * a->ldo;
        memset(o[r], 0, a->hd * sizeof(float));
        L = lo[r] > L ? lo[r] : L;
        M = hi[r] < M ? hi[r] : M;
    }
    pv_fn one = kn ? kn->pv_one : NULL;
    if (L >= M || !kn) {   /* nothing in common: each alone */
        for (size_t r = 0; r < nr; r++) {
            if (one)
                one(&p[r], a->v, a->ldkv, lo[r], hi[r], a->hd, &o[r]);
            else
                pv_scalar(1, &p[r], a->v, a->ldkv, lo[r], hi[r], a->hd, &o[r]);
        }
        return;
    }
    for (size_t r = 0; r < nr; r++)
        if (lo[r] < L)
            one(&p[r], a->v, a->ldkv, lo[r], L, a->hd, &o[r]);
    if (nr == (size_t)kn->nr)
        kn->pv_wide(p, a->v, a->ldkv, L, M, a->hd, o);
    else
        for (size_t r = 0; r < nr; r++)
            one(&p[r], a->v, a->ldkv, L, M, a->hd, &o[r]);
    for (size_t r = 0; r < nr; r++)
        if (M < hi[r])
            one(&p[r], a->v, a->ldkv, M, hi[r], a->hd, &o[r]);
}

/* Row i's softmax numerators in place: e[j] = exp(s[j] - max) over its
 * visible keys; returns (float)(1 / their sum). */
static float softmax_row(const kn_attn *a, size_t i, float *s)
{
    size_t lo, hi;
    row_range(a, i, &lo, &hi);
    if (a->softcap > 0)
        for (size_t j = lo; j < hi; j++)
            s[j] = a->softcap * tanhf(s[j] / a->softcap);
    if (a->bias) {
        const float *b = a->bias + (long)i * a->bias_ld;
        for (size_t j = lo; j < hi; j++)
            s[j] += b[j];
    }
    float mx = s[lo];
    for (size_t j = lo + 1; j < hi; j++)
        mx = s[j] > mx ? s[j] : mx;
    return (float)(1.0 / vm_exp_sum((gm_isa)a->isa, s + lo, s + lo, hi - lo, mx));
}

void kn_attn_tile(const eng_blas *blas, const kn_attn *a, float *S)
{
    (void)blas;
    if (a->rows == 0)
        return;
    at_kernels kn;
    int vec = pick((gm_isa)a->isa, &kn);
    if (vec && a->hd <= HD_MAX)
        scores_vec(&kn, a, S);
    else
        scores_scalar(a, S);
    size_t nr = vec ? (size_t)kn.nr : 1;
    for (size_t r = 0; r < a->rows; r += nr) {
        size_t n = a->rows - r < nr ? a->rows - r : nr;
        float inv[4];
        for (size_t i = 0; i < n; i++)
            inv[i] = softmax_row(a, r + i, S + (r + i) * a->nk);
        pv_rows(vec ? &kn : NULL, a, S, r, n);
        for (size_t i = 0; i < n; i++) {
            float *o = a->out + (r + i) * a->ldo;
            for (size_t d = 0; d < a->hd; d++)
                o[d] *= inv[i];
        }
    }
}
