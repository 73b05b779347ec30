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
 * needed) and chosen at run time with __builtin_cpu_supports. */
#include "gemm.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "f16.h"
#include "vmath.h"
#include "ys_error.h"

#define GM_GROUP 4          /* panels per work item: 128 columns */
#define MR_MAX 12           /* rows per micro-tile, widest path (AVX-512) */
#define ROWS_BYTES (384u << 10)

/* ---- packing -------------------------------------------------------------- */

int gm_alloc(gm_weights *pw, size_t k, size_t out)
{
    memset(pw, 0, sizeof *pw);
    size_t np = (out + GM_NR - 1) / GM_NR;
    /* 64-byte aligned (the AVX-512 kernel loads whole panel rows), huge
     * pages for large copies (kn_alloc: fewer first-touch faults, and the
     * kernels stream whole panels, fewer TLB misses). k = 0 or out = 0
     * still gets a buffer: panels is never NULL. */
    if (!(pw->panels = kn_alloc(np * k * GM_NR * sizeof(float))))
        return YS_ENOMEM;
    pw->k = k;
    pw->out = out;
    return 0;
}

size_t gm_panels(const gm_weights *pw) { return (pw->out + GM_NR - 1) / GM_NR; }

/* Element i of a source of dtype t, as a float (exact). always_inline: the
 * packing loops below are instantiated per constant dtype. */
__attribute__((always_inline)) static inline float src_at(const void *w, gm_dtype t, size_t i)
{
    if (t == GM_F32)
        return ((const float *)w)[i];
    uint16_t h;
    memcpy(&h, (const unsigned char *)w + 2 * i, 2);
    return t == GM_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

__attribute__((always_inline)) static inline void pack_range(gm_weights *pw, const void *w, gm_dtype t, size_t ldw,
                                                             kn_layout layout, size_t p0, size_t p1)
{
    size_t k = pw->k, out = pw->out;
    /* [out, k] is transposed in blocks of 32 columns x 16 k (a few cache
     * lines each way) */
    for (size_t p = p0; p < p1; p++) {
        float *d = pw->panels + p * k * GM_NR;
        if (layout == KN_OUT_IN)
            for (size_t k0 = 0; k0 < k; k0 += 16)
                for (size_t j = 0; j < GM_NR; j++) {
                    size_t col = p * GM_NR + j, k1 = k0 + 16 < k ? k0 + 16 : k;
                    for (size_t kk = k0; kk < k1; kk++)
                        d[kk * GM_NR + j] = col < out ? src_at(w, t, col * ldw + kk) : 0.0f;
                }
        else
            for (size_t kk = 0; kk < k; kk++)
                for (size_t j = 0; j < GM_NR; j++)
                    d[kk * GM_NR + j] = p * GM_NR + j < out ? src_at(w, t, kk * ldw + p * GM_NR + j) : 0.0f;
    }
}

static void pack_any(gm_weights *pw, const void *w, gm_dtype t, size_t ldw, kn_layout layout, size_t p0, size_t p1)
{
    switch (t) {
    case GM_F16: pack_range(pw, w, GM_F16, ldw, layout, p0, p1); break;
    case GM_BF16: pack_range(pw, w, GM_BF16, ldw, layout, p0, p1); break;
    default: pack_range(pw, w, GM_F32, ldw, layout, p0, p1); break;
    }
}

void gm_pack_panels(gm_weights *pw, const float *w, size_t ldw, kn_layout layout, size_t p0, size_t p1)
{
    pack_any(pw, w, GM_F32, ldw, layout, p0, p1);
}

int gm_pack(gm_weights *pw, const float *w, size_t ldw, kn_layout layout, size_t k, size_t out)
{
    if (gm_alloc(pw, k, out) != 0)
        return YS_ENOMEM;
    gm_pack_panels(pw, w, ldw, layout, 0, gm_panels(pw));
    return 0;
}

/* Elements from w[0] to the last element a job reads (its rows may be
 * strided: GPT-2's q, k and v are column ranges of one [k, 3H] tensor). */
static size_t elem_size(gm_dtype t) { return t == GM_F32 ? 4 : 2; }

static size_t job_span(const gm_job *j)   /* in bytes */
{
    size_t rows = j->layout == KN_OUT_IN ? j->out : j->k, cols = j->layout == KN_OUT_IN ? j->k : j->out;
    return (rows ? (rows - 1) * j->ldw + cols : 0) * elem_size(j->dtype);
}

static size_t job_items(const gm_job *j)
{
    return j->layout == KN_OUT_IN ? (gm_panels(j->pw) + GM_SLICE - 1) / GM_SLICE : 1;
}

typedef struct pack_ctx {
    const gm_job *jobs;
    size_t n, *first;            /* job i owns items [first[i], first[i + 1]) */
    gm_release_fn release;
    void *user;
} pack_ctx;

static void pack_item(void *vctx, size_t item, int worker)
{
    (void)worker;
    const pack_ctx *c = vctx;
    size_t lo = 0, hi = c->n;    /* the job owning item: first[lo] <= item < first[lo + 1] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->first[mid] <= item)
            lo = mid;
        else
            hi = mid;
    }
    const gm_job *j = &c->jobs[lo];
    size_t np = gm_panels(j->pw);
    if (j->layout != KN_OUT_IN) {
        pack_any(j->pw, j->w, j->dtype, j->ldw, j->layout, 0, np);
        if (c->release)
            c->release(c->user, j->w, job_span(j));
        return;
    }
    size_t p0 = (item - c->first[lo]) * GM_SLICE, p1 = p0 + GM_SLICE < np ? p0 + GM_SLICE : np;
    size_t r1 = p1 * GM_NR < j->out ? p1 * GM_NR : j->out, es = elem_size(j->dtype);
    pack_any(j->pw, j->w, j->dtype, j->ldw, j->layout, p0, p1);
    if (c->release && r1 > p0 * GM_NR)   /* rows p0*GM_NR .. r1 of the source */
        c->release(c->user, (const unsigned char *)j->w + p0 * GM_NR * j->ldw * es,
                   ((r1 - p0 * GM_NR - 1) * j->ldw + j->k) * es);
}

int gm_pack_all(kn_pool *pool, const gm_job *jobs, size_t n, gm_release_fn release, void *user)
{
    size_t *first = malloc((n + 1) * sizeof *first);
    if (!first)
        return YS_ENOMEM;
    size_t done = 0;
    for (; done < n; done++)
        if (gm_alloc(jobs[done].pw, jobs[done].k, jobs[done].out) != 0)
            break;
    if (done < n) {
        for (size_t i = 0; i < done; i++)
            gm_free(jobs[i].pw);
        free(first);
        return YS_ENOMEM;
    }
    first[0] = 0;
    for (size_t i = 0; i < n; i++)
        first[i + 1] = first[i] + job_items(&jobs[i]);
    pack_ctx c = {jobs, n, first, release, user};
    if (pool)
        kn_pool_run(pool, first[n], pack_item, &c);
    else
        for (size_t i = 0; i < first[n]; i++)
            pack_item(&c, i, 0);
    for (size_t i = 0; release && i < n; i++)
        release(user, jobs[i].w, job_span(&jobs[i]));
    free(first);
    return 0;
}

void gm_free(gm_weights *pw)
{
    free(pw->panels);
    memset(pw, 0, sizeof *pw);
}

/* ---- micro-kernels -------------------------------------------------------
 * kern(mr, k, x, ldx, panel, tile): tile[r * GM_NR + j] = sum over kk
 * ascending of fma(x[r * ldx + kk], panel[kk * GM_NR + j], .) from 0, for
 * r < mr, j < GM_NR. */
typedef void (*gm_kernel)(int mr, size_t k, const float *x, size_t ldx, const float *panel, float *tile);

static void kern_scalar(int mr, size_t k, const float *x, size_t ldx, const float *panel, float *tile)
{
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < GM_NR; j++) {
            float acc = 0.0f;
            for (size_t kk = 0; kk < k; kk++)
                acc = fmaf(x[r * ldx + kk], panel[kk * GM_NR + j], acc);
            tile[r * GM_NR + j] = acc;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define GM_X86 1

/* AVX-512: up to 12 rows x 32 columns = 24 zmm accumulators (+2 for the
 * panel row, 1 broadcast). MR is a constant in every instantiation below,
 * so the loops over rows unroll and the accumulators live in registers. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
k512_body(const int MR, size_t k, const float *x, size_t ldx, const float *panel, float *tile)
{
    __m512 a0[MR_MAX], a1[MR_MAX];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        a0[r] = a1[r] = _mm512_setzero_ps();
    for (size_t kk = 0; kk < k; kk++) {
        __m512 w0 = _mm512_load_ps(panel + kk * GM_NR), w1 = _mm512_load_ps(panel + kk * GM_NR + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512 b = _mm512_set1_ps(x[r * ldx + kk]);
            a0[r] = _mm512_fmadd_ps(b, w0, a0[r]);
            a1[r] = _mm512_fmadd_ps(b, w1, a1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tile + r * GM_NR, a0[r]);
        _mm512_storeu_ps(tile + r * GM_NR + 16, a1[r]);
    }
}

#define K512(M)                                                                                              \
    __attribute__((target("avx512f,fma"))) static void k512_##M(size_t k, const float *x, size_t ldx,        \
                                                                const float *panel, float *tile)             \
    {                                                                                                        \
        k512_body(M, k, x, ldx, panel, tile);                                                                \
    }
K512(1) K512(2) K512(3) K512(4) K512(5) K512(6) K512(7) K512(8) K512(9) K512(10) K512(11) K512(12)

static void kern_avx512(int mr, size_t k, const float *x, size_t ldx, const float *panel, float *tile)
{
    static void (*const f[MR_MAX + 1])(size_t, const float *, size_t, const float *, float *) = {
        NULL, k512_1, k512_2, k512_3, k512_4, k512_5, k512_6, k512_7, k512_8, k512_9, k512_10, k512_11, k512_12};
    f[mr](k, x, ldx, panel, tile);
}

/* AVX2: 16 ymm registers allow 6 rows x 16 columns (12 accumulators), so a
 * 32-column panel is two passes over its halves. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
k256_body(const int MR, size_t k, const float *x, size_t ldx, const float *panel, float *tile)
{
    __m256 a0[6], a1[6];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        a0[r] = a1[r] = _mm256_setzero_ps();
    for (size_t kk = 0; kk < k; kk++) {
        __m256 w0 = _mm256_load_ps(panel + kk * GM_NR), w1 = _mm256_load_ps(panel + kk * GM_NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 b = _mm256_broadcast_ss(x + r * ldx + kk);
            a0[r] = _mm256_fmadd_ps(b, w0, a0[r]);
            a1[r] = _mm256_fmadd_ps(b, w1, a1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(tile + r * GM_NR, a0[r]);
        _mm256_storeu_ps(tile + r * GM_NR + 8, a1[r]);
    }
}

#define K256(M)                                                                                              \
    __attribute__((target("avx2,fma"))) static void k256_##M(size_t k, const float *x, size_t ldx,           \
                                                             const float *panel, float *tile)                \
    {                                                                                                        \
        k256_body(M, k, x, ldx, panel, tile);                                                                \
        k256_body(M, k, x, ldx, panel + 16, tile + 16);                                                      \
    }
K256(1) K256(2) K256(3) K256(4) K256(5) K256(6)

static void kern_avx2(int mr, size_t k, const float *x, size_t ldx, const float *panel, float *tile)
{
    static void (*const f[7])(size_t, const float *, size_t, const float *, float *) = {
        NULL, k256_1, k256_2, k256_3, k256_4, k256_5, k256_6};
    f[mr](k, x, ldx, panel, tile);
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
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GM_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    default:
        return 0;
    }
}

gm_isa gm_isa_resolve(gm_isa isa)
{
    if (isa == GM_ISA_AUTO || !gm_isa_supported(isa))
        isa = gm_isa_supported(GM_ISA_AVX512) ? GM_ISA_AVX512
              : gm_isa_supported(GM_ISA_AVX2) ? GM_ISA_AVX2 : GM_ISA_SCALAR;
    return isa;
}

/* ---- epilogue (one scalar routine for every path: same bits) -------------- */

static float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

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
            for (size_t j = 0; j < ncols; j++)
                t[j] = gelu_erf(t[j]);
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

/* ---- driver ----------------------------------------------------------------- */

typedef struct run_ctx {
    const gm_call *c;
    gm_kernel kern;
    int mr;
    size_t mc, np, ngroups;
} run_ctx;

static void run_item(void *vctx, size_t item, int worker)
{
    (void)worker;
    const run_ctx *rc = vctx;
    const gm_call *c = rc->c;
    const gm_weights *w = c->w;
    size_t r0 = item / rc->ngroups * rc->mc, p0 = item % rc->ngroups * GM_GROUP;
    size_t r1 = r0 + rc->mc < c->n ? r0 + rc->mc : c->n, p1 = p0 + GM_GROUP < rc->np ? p0 + GM_GROUP : rc->np;
    _Alignas(64) float tile[MR_MAX * GM_NR];
    for (size_t p = p0; p < p1; p++) {
        const float *panel = w->panels + p * w->k * GM_NR;
        size_t col = p * GM_NR, ncols = w->out - col < GM_NR ? w->out - col : GM_NR;
        for (size_t i = r0; i < r1; i += (size_t)rc->mr) {
            int mr = r1 - i < (size_t)rc->mr ? (int)(r1 - i) : rc->mr;
            rc->kern(mr, w->k, c->x + i * c->ldx, c->ldx, panel, tile);
            epilogue(c, tile, i, mr, col, ncols);
        }
    }
}

void gm_run(kn_pool *pool, const gm_call *c)
{
    const gm_weights *w = c->w;
    if (c->n == 0 || w->out == 0)
        return;
    run_ctx rc = {.c = c, .kern = kern_scalar, .mr = 4};
    gm_isa isa = c->isa;
#ifdef GM_X86
    isa = gm_isa_resolve(isa);
    if (isa == GM_ISA_AVX512)
        rc.kern = kern_avx512, rc.mr = 12;
    else if (isa == GM_ISA_AVX2)
        rc.kern = kern_avx2, rc.mr = 6;
#endif
    /* rows per item: a multiple of every path's mr, the item's rows ~384 KB */
    size_t per = w->k ? ROWS_BYTES / (w->k * sizeof(float)) / 12 * 12 : 192;
    rc.mc = per < 12 ? 12 : per > 192 ? 192 : per;
    rc.np = (w->out + GM_NR - 1) / GM_NR;
    rc.ngroups = (rc.np + GM_GROUP - 1) / GM_GROUP;
    size_t nitems = (c->n + rc.mc - 1) / rc.mc * rc.ngroups;
    if (pool)
        kn_pool_run(pool, nitems, run_item, &rc);
    else
        for (size_t i = 0; i < nitems; i++)
            run_item(&rc, i, 0);
}
