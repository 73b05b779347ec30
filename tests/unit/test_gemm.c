/* test_gemm.c — engine/gemm.h: a row's result is bitwise the same whatever
 * rows it is computed with, on any thread count and any instruction set
 * path; it is exactly the documented fma sequence; it is accurate against a
 * double-precision product; both weight layouts, accumulate, bias and the
 * activations; sizes that are not multiples of the vector widths. */
#include "testsupport.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "f16.h"
#include "gemm.h"
#include "gguf.h"
#include "kernels.h"

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

#define NROWS 1000

static float *frand(size_t n, uint32_t seed)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
    return p;
}

static const gm_isa ISAS[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512};
static const char *const ISA_NAMES[] = {"scalar", "avx2", "avx512"};
#define NISAS (sizeof ISAS / sizeof ISAS[0])

/* The contract of gemm.h, written out independently: acc = 0, fma over k
 * ascending, + bias, act (NONE / RELU here), then = or +=. */
static float expect_one(const float *x, const float *w, size_t k, const float *bias, size_t j, gm_act act,
                        float prev, int accumulate)
{
    float acc = 0.0f;
    for (size_t kk = 0; kk < k; kk++)
        acc = fmaf(x[kk], w[j * k + kk], acc);
    if (bias)
        acc = acc + bias[j];
    if (act == GM_ACT_RELU)
        acc = acc > 0.0f ? acc : 0.0f;
    return accumulate ? prev + acc : acc;
}

/* Every row of x[0..NROWS) computed through every (isa, threads, n,
 * offset) combination must equal the same row computed alone (n = 1, no
 * pool, scalar path), bit for bit. */
static void check_invariance(size_t k, size_t out, gm_act act, int use_bias)
{
    float *x = frand(NROWS * k, 11), *w = frand(out * k, 12), *b = frand(out, 13);
    gm_weights pw;
    assert_int_equal(gm_pack(&pw, w, k, KN_OUT_IN, k, out), 0);
    float *ref = calloc(NROWS * out, sizeof *ref), *y = calloc(NROWS * out, sizeof *y);
    assert_non_null(ref);
    assert_non_null(y);
    for (size_t i = 0; i < NROWS; i++) {
        gm_call c = {.x = x + i * k, .ldx = k, .w = &pw, .bias = use_bias ? b : NULL, .y = ref + i * out,
                     .ldy = out, .n = 1, .act = act, .isa = GM_ISA_SCALAR};
        gm_run(NULL, &c);
    }
    /* the single-row scalar result is the documented sequence itself */
    if (act == GM_ACT_NONE || act == GM_ACT_RELU)
        for (size_t i = 0; i < NROWS; i += 37)
            for (size_t j = 0; j < out; j++) {
                float e = expect_one(x + i * k, w, k, use_bias ? b : NULL, j, act, 0.0f, 0);
                assert_memory_equal(&e, &ref[i * out + j], sizeof e);
            }
    eng_blas noblas = {0};   /* the pool only borrows it; gemm never calls BLAS */
    kn_pool *pools[2];
    assert_int_equal(kn_pool_new(1, &noblas, &pools[0]), 0);
    assert_int_equal(kn_pool_new(2, &noblas, &pools[1]), 0);
    static const size_t ns[] = {1, 7, 64, 200, 1000};
    static const size_t offs[] = {0, 1, 5, 13};
    int cases = 0;
    for (size_t is = 0; is < NISAS; is++) {
        if (!gm_isa_supported(ISAS[is])) {
            print_message("gemm: %s path not available on this CPU, not checked\n", ISA_NAMES[is]);
            continue;
        }
        for (int t = 0; t < 2; t++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (size_t oi = 0; oi < sizeof offs / sizeof offs[0]; oi++) {
                    size_t n = ns[ni], off = offs[oi];
                    if (off + n > NROWS)
                        off = NROWS - n;
                    memset(y, 0xff, NROWS * out * sizeof *y);   /* NaNs: unwritten rows would show */
                    gm_call c = {.x = x + off * k, .ldx = k, .w = &pw, .bias = use_bias ? b : NULL,
                                 .y = y + off * out, .ldy = out, .n = n, .act = act, .isa = ISAS[is]};
                    gm_run(pools[t], &c);
                    for (size_t i = off; i < off + n; i++)
                        if (memcmp(y + i * out, ref + i * out, out * sizeof *y) != 0)
                            fail_msg("row %zu differs: isa %s, %d threads, n %zu, offset %zu, k %zu, out %zu",
                                     i, ISA_NAMES[is], t + 1, n, off, k, out);
                    cases++;
                }
    }
    assert_true(cases >= 40);
    kn_pool_free(pools[0]);
    kn_pool_free(pools[1]);
    gm_free(&pw);
    free(x), free(w), free(b), free(ref), free(y);
}

static void test_invariance_odd(void **state)
{
    (void)state;
    check_invariance(77, 70, GM_ACT_NONE, 1);     /* neither a multiple of 8, 16 nor 32 */
}

static void test_invariance_gelu(void **state)
{
    (void)state;
    check_invariance(130, 45, GM_ACT_GELU_ERF, 1);
    check_invariance(33, 100, GM_ACT_GELU_TANH, 0);
    check_invariance(64, 33, GM_ACT_RELU, 1);
}

/* One shape where every path runs full micro-tiles and several items. */
static void test_invariance_wide(void **state)
{
    (void)state;
    check_invariance(256, 320, GM_ACT_NONE, 1);
}

/* A k longer than one of gm_run's k blocks (KC_MAX, 512): under many rows
 * the chain runs block by block, carried through the tile buffer, and must
 * give the bits of the single-row scalar chain. */
static void test_invariance_long_k(void **state)
{
    (void)state;
    check_invariance(600, 40, GM_ACT_NONE, 1);
}

/* |y - exact| <= k * 2^-24 * sum |x w| (the standard bound for a
 * recursive sum of k rounded products; an fma rounds once per step). */
static void test_accuracy(void **state)
{
    (void)state;
    static const size_t shapes[][3] = {{37, 1, 1}, {50, 768, 96}, {9, 3072, 40}, {20, 5, 300}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t n = shapes[s][0], k = shapes[s][1], out = shapes[s][2];
        float *x = frand(n * k, 21), *w = frand(out * k, 22), *b = frand(out, 23), *y = malloc(n * out * 4);
        assert_non_null(y);
        gm_weights pw;
        assert_int_equal(gm_pack(&pw, w, k, KN_OUT_IN, k, out), 0);
        gm_call c = {.x = x, .ldx = k, .w = &pw, .bias = b, .y = y, .ldy = out, .n = n};
        gm_run(NULL, &c);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < out; j++) {
                double exact = 0, mag = 0;
                for (size_t kk = 0; kk < k; kk++) {
                    exact += (double)x[i * k + kk] * w[j * k + kk];
                    mag += fabs((double)x[i * k + kk] * w[j * k + kk]);
                }
                double d = fabs((double)y[i * out + j] - (exact + b[j]));
                double bound = (double)k * 0x1p-24 * mag + 0x1p-24 * fabs(exact + b[j]) * 2;
                if (d > bound)
                    fail_msg("n %zu k %zu out %zu: y[%zu,%zu] off by %g (bound %g)", n, k, out, i, j, d, bound);
                if (mag > 0 && d / mag > worst)
                    worst = d / mag;
            }
        gm_free(&pw);
        free(x), free(w), free(b), free(y);
    }
    print_message("gemm: worst |error| / sum|x w| = %.3g\n", worst);
}

/* GELU against the double-precision function (fp32 erff/expf: a few ulps). */
static void test_gelu_values(void **state)
{
    (void)state;
    size_t n = 64, k = 1, out = 1;
    float x[64], w = 1.0f, y[64];
    for (size_t i = 0; i < n; i++)
        x[i] = -6.0f + 12.0f * (float)i / 63.0f;
    gm_weights pw;
    assert_int_equal(gm_pack(&pw, &w, 1, KN_OUT_IN, k, out), 0);
    gm_call c = {.x = x, .ldx = 1, .w = &pw, .y = y, .ldy = 1, .n = n, .act = GM_ACT_GELU_ERF};
    gm_run(NULL, &c);
    for (size_t i = 0; i < n; i++) {
        double v = x[i], want = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
        ts_close(y[i], want, 1e-6 + 1e-6 * fabs(want), "gelu_erf", "");
    }
    c.act = GM_ACT_GELU_TANH;
    gm_run(NULL, &c);
    for (size_t i = 0; i < n; i++) {
        double v = x[i], want = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
        ts_close(y[i], want, 1e-6 + 1e-6 * fabs(want), "gelu_tanh", "");
    }
    gm_free(&pw);
}

/* Conv1D's [k, out] layout, and nn.Linear's from inside a wider tensor
 * (ldw > k), pack to the same panels as the plain [out, k] tensor. */
static void test_layouts(void **state)
{
    (void)state;
    size_t k = 45, out = 71, ld = 60;
    float *w = frand(out * k, 31), *wt = malloc(k * out * 4), *wide = frand(out * ld, 32);
    assert_non_null(wt);
    for (size_t j = 0; j < out; j++)
        for (size_t kk = 0; kk < k; kk++) {
            wt[kk * out + j] = w[j * k + kk];
            wide[j * ld + 7 + kk] = w[j * k + kk];
        }
    gm_weights a, b2, c2, d2;
    assert_int_equal(gm_pack(&a, w, k, KN_OUT_IN, k, out), 0);
    assert_int_equal(gm_pack(&b2, wt, out, KN_IN_OUT, k, out), 0);
    assert_int_equal(gm_pack(&c2, wide + 7, ld, KN_OUT_IN, k, out), 0);
    size_t np = (out + GM_NR - 1) / GM_NR;
    assert_int_equal(a.k, k);
    assert_int_equal(a.out, out);
    assert_memory_equal(a.panels, b2.panels, np * k * GM_NR * sizeof(float));
    assert_memory_equal(a.panels, c2.panels, np * k * GM_NR * sizeof(float));
    /* packed in steps (the model packs its head so, giving back the
     * source as it goes), in reverse order: the same panels */
    assert_int_equal(gm_alloc(&d2, k, out), 0);
    assert_int_equal(gm_panels(&d2), np);
    memset(d2.panels, 0xff, np * k * GM_NR * sizeof(float));
    for (size_t p = np; p-- > 0;)
        gm_pack_panels(&d2, w, k, KN_OUT_IN, p, p + 1);
    assert_memory_equal(a.panels, d2.panels, np * k * GM_NR * sizeof(float));
    gm_free(&d2);
    /* and a product through the packed panels is W's, not W^T's */
    float x[45], y[71];
    for (size_t kk = 0; kk < k; kk++)
        x[kk] = kk == 3 ? 1.0f : 0.0f;
    gm_call c = {.x = x, .ldx = k, .w = &b2, .y = y, .ldy = out, .n = 1};
    gm_run(NULL, &c);
    for (size_t j = 0; j < out; j++)
        assert_true(y[j] == w[j * k + 3]);
    gm_free(&a), gm_free(&b2), gm_free(&c2);
    gm_free(&a);   /* idempotent */
    assert_null(a.panels);
    free(w), free(wt), free(wide);
}

/* gm_pack_all: the same panels as gm_pack for every job (both layouts,
 * strided sources, a matrix big enough to be sliced, F16 and BF16 sources
 * against gm_pack of their exact float values), on no pool and on two
 * threads; every byte a job reads is inside some released span, and no
 * span leaves the buffer the sources live in. */
#define NJOBS 6
typedef struct {
    const unsigned char *lo, *hi;    /* the buffers the sources live in */
    const unsigned char *base[NJOBS];
    size_t len[NJOBS];               /* each job's span in bytes */
    unsigned char covered[NJOBS][64000];
} rel_log;

static void log_release(void *user, const void *vsrc, size_t bytes)
{
    rel_log *r = user;
    const unsigned char *src = vsrc;
    assert_true(src >= r->lo && src + bytes <= r->hi);
    for (int b = 0; b < NJOBS; b++)
        for (size_t i = 0; i < bytes; i++)
            if (src + i >= r->base[b] && src + i < r->base[b] + r->len[b])
                __atomic_store_n(&r->covered[b][src + i - r->base[b]], 1, __ATOMIC_RELAXED);
}

static void test_pack_all(void **state)
{
    (void)state;
    /* one buffer for every source: [out, k] 3000 x 5 (94 panels = 2
     * slices), a strided [out, k] inside a wider tensor, two column ranges
     * of one Conv1D [k, 3 x 16] tensor, then F16 and BF16 halves */
    size_t big_out = 3000, big_k = 5, s_out = 40, s_k = 9, s_ld = 12, c_k = 7, c_w = 16, h_out = 70, h_k = 11;
    size_t nf = big_out * big_k + s_out * s_ld + c_k * 3 * c_w, nh = h_out * h_k;
    unsigned char *buf = malloc(nf * 4 + 2 * nh * 2);
    float *f = frand(nf, 77), *hf = frand(nh, 78), *hb = frand(nh, 79);
    assert_non_null(buf);
    memcpy(buf, f, nf * 4);
    uint16_t *h16 = (uint16_t *)(void *)(buf + nf * 4), *b16 = h16 + nh;
    for (size_t i = 0; i < nh; i++) {
        /* halves with exact float values: F16 from a 10-bit mantissa,
         * BF16 the top half of a float; the reference packs the floats */
        int e = (int)(i % 20) - 10;
        uint16_t m = (uint16_t)((i * 37) % 1024);
        h16[i] = (uint16_t)((i % 2) << 15 | (uint16_t)(e + 15) << 10 | m);
        hf[i] = (i % 2 ? -1.0f : 1.0f) * ldexpf(1.0f + (float)m / 1024.0f, e);
        uint32_t bits;
        memcpy(&bits, &hb[i], 4);
        b16[i] = (uint16_t)(bits >> 16);
        bits &= 0xffff0000u;
        memcpy(&hb[i], &bits, 4);
    }
    const float *big = (const float *)(void *)buf, *str = big + big_out * big_k + 2,
                *conv = big + big_out * big_k + s_out * s_ld;
    gm_weights got[NJOBS], want[NJOBS];
    /* the half-precision sources packed as fp32 here (test_half_panels
     * checks them kept 16-bit) */
    gm_job jobs[NJOBS] = {{&got[0], big, big_k, KN_OUT_IN, big_k, big_out, GM_F32, GM_F32, 0, 0, 0, 0},
                          {&got[1], str, s_ld, KN_OUT_IN, s_k, s_out, GM_F32, GM_F32, 0, 0, 0, 0},
                          {&got[2], conv, 3 * c_w, KN_IN_OUT, c_k, c_w, GM_F32, GM_F32, 0, 0, 0, 0},
                          {&got[3], conv + c_w, 3 * c_w, KN_IN_OUT, c_k, c_w, GM_F32, GM_F32, 0, 0, 0, 0},
                          {&got[4], h16, h_k, KN_OUT_IN, h_k, h_out, GM_F16, GM_F32, 0, 0, 0, 0},
                          {&got[5], b16, h_k, KN_OUT_IN, h_k, h_out, GM_BF16, GM_F32, 0, 0, 0, 0}};
    const float *ref[NJOBS] = {big, str, conv, conv + c_w, hf, hb};
    eng_blas noblas = {0};
    kn_pool *pool;
    assert_int_equal(kn_pool_new(2, &noblas, &pool), 0);
    static rel_log r;
    for (int round = 0; round < 2; round++) {
        memset(&r, 0, sizeof r);
        r.lo = buf, r.hi = buf + nf * 4 + 2 * nh * 2;
        for (int b = 0; b < NJOBS; b++) {
            size_t rows = jobs[b].layout == KN_OUT_IN ? jobs[b].out : jobs[b].k;
            size_t cols = jobs[b].layout == KN_OUT_IN ? jobs[b].k : jobs[b].out, es = jobs[b].dtype == GM_F32 ? 4 : 2;
            r.base[b] = jobs[b].w, r.len[b] = ((rows - 1) * jobs[b].ldw + cols) * es;
            assert_true(r.len[b] <= sizeof r.covered[b]);
        }
        assert_int_equal(gm_pack_all(round ? pool : NULL, jobs, NJOBS, log_release, &r), 0);
        for (int b = 0; b < NJOBS; b++) {
            assert_int_equal(gm_pack(&want[b], ref[b], jobs[b].ldw, jobs[b].layout, jobs[b].k, jobs[b].out), 0);
            if (memcmp(got[b].panels, want[b].panels, gm_panels(&want[b]) * jobs[b].k * GM_NR * sizeof(float)))
                fail_msg("job %d: packed panels differ from gm_pack's", b);
            size_t rows = jobs[b].layout == KN_OUT_IN ? jobs[b].out : jobs[b].k;
            size_t cols = jobs[b].layout == KN_OUT_IN ? jobs[b].k : jobs[b].out, es = jobs[b].dtype == GM_F32 ? 4 : 2;
            for (size_t i = 0; i < rows; i++)
                for (size_t c = 0; c < cols * es; c++)
                    if (!r.covered[b][i * jobs[b].ldw * es + c])
                        fail_msg("job %d: source byte (row %zu, byte %zu) never released", b, i, c);
            gm_free(&got[b]), gm_free(&want[b]);
        }
    }
    assert_int_equal(gm_pack_all(pool, jobs, 0, NULL, NULL), 0);   /* nothing to do */
    kn_pool_free(pool);
    free(buf), free(f), free(hf), free(hb);
}

/* F16 and BF16 weights kept 16-bit: the panels hold the stored bits, a
 * row reads back exactly, and every product (every ISA, row count, with
 * bias, activation and accumulation; [out, k] and Conv1D [k, out]
 * sources, k and out not multiples of the panel sizes) has the bits of the
 * product through fp32 panels of the same values. */
static void check_half_panels(size_t k)
{
    const size_t out = 45;
    uint16_t *h = malloc(k * out * 2);
    float *x = malloc(40 * k * sizeof *x), *bias = malloc(out * sizeof *bias);
    float *y16 = malloc(40 * out * sizeof *y16), *y32 = malloc(40 * out * sizeof *y32);
    float *row = malloc(k * sizeof *row);
    uint64_t s = 99;
    for (size_t i = 0; i < 40 * k; i++)
        x[i] = (float)((int)(lcg(&s) % 2001) - 1000) / 333.0f;
    for (size_t i = 0; i < out; i++)
        bias[i] = (float)((int)(lcg(&s) % 201) - 100) / 50.0f;
    const gm_dtype types[] = {GM_F16, GM_BF16};
    const kn_layout layouts[] = {KN_OUT_IN, KN_IN_OUT};
    for (int ti = 0; ti < 2; ti++)
        for (int li = 0; li < 2; li++) {
            gm_dtype t = types[ti];
            for (size_t i = 0; i < k * out; i++) {   /* finite halves, incl. subnormal F16 */
                uint16_t v = (uint16_t)lcg(&s);
                if (t == GM_F16 && ((v >> 10) & 0x1f) == 0x1f)
                    v &= 0xbfff;
                if (t == GM_BF16 && ((v >> 7) & 0xff) == 0xff)
                    v &= 0xbfff;
                h[i] = v;
            }
            size_t ldw = layouts[li] == KN_OUT_IN ? k : out;
            gm_weights w16, w32;
            gm_job j[2] = {{&w16, h, ldw, layouts[li], k, out, t, t, 0, 0, 0, 0}, {&w32, h, ldw, layouts[li], k, out, t, GM_F32, 0, 0, 0, 0}};
            assert_int_equal(gm_pack_all(NULL, j, 2, NULL, NULL), 0);
            assert_int_equal(w16.dtype, t);
            assert_int_equal(w32.dtype, GM_F32);
            for (size_t c = 0; c < out; c += 7) {
                gm_weights_row(&w16, c, row);
                for (size_t kk = 0; kk < k; kk++) {
                    uint16_t v = layouts[li] == KN_OUT_IN ? h[c * k + kk] : h[kk * out + c];
                    float want = t == GM_F16 ? f16_to_f32(v) : bf16_to_f32(v);
                    if (memcmp(&row[kk], &want, 4))
                        fail_msg("dtype %d: row %zu element %zu reads back %g, stored %g", (int)t, c, kk, row[kk], want);
                }
            }
            const gm_isa isas[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512, GM_ISA_AUTO};
            const size_t ns[] = {1, 5, 13, 40};
            for (int ii = 0; ii < 4; ii++)
                for (int ni = 0; ni < 4; ni++)
                    for (int mode = 0; mode < 2; mode++) {
                        for (size_t i = 0; i < 40 * out; i++)
                            y16[i] = y32[i] = (float)i * 0.25f;
                        gm_call c = {.x = x, .ldx = k, .w = &w16, .y = y16, .ldy = out, .n = ns[ni], .isa = isas[ii],
                                     .bias = mode ? bias : NULL, .act = mode ? GM_ACT_GELU_TANH : GM_ACT_NONE,
                                     .accumulate = mode};
                        gm_run(NULL, &c);
                        c.w = &w32, c.y = y32;
                        gm_run(NULL, &c);
                        if (memcmp(y16, y32, ns[ni] * out * sizeof *y16))
                            fail_msg("dtype %d layout %d isa %d n %zu mode %d: 16-bit panels differ from fp32 panels",
                                     (int)t, li, (int)isas[ii], ns[ni], mode);
                    }
            gm_free(&w16), gm_free(&w32);
        }
    free(h), free(x), free(bias), free(y16), free(y32), free(row);
}

static void test_half_panels(void **state)
{
    (void)state;
    check_half_panels(77);
    check_half_panels(600);   /* past one k block: 40 rows run the blocked path, the tiles carried */
}

/* Quantized panels (gemm.h, "Quantization"): every ISA, row count and
 * thread count gives the bits of the contract written out here (per group
 * the fma chain of x by the codes, folded with the scale, then the zero
 * point's term -(s z) times the row's sum over the group) — through the
 * fused kernels for few rows, widened panels and grouped fp32 kernels for
 * many; that is within fp32 rounding of the float64 product of the
 * dequantized weights, which are within half a step of the source.
 * k 77: groups of 32 or 128 end in a partial one; k 400: the one-row
 * AVX-512 kernel's groups side by side (three at a time) then a tail. */
static void quant_panels(size_t k)
{
    const size_t out = 173;   /* a work item of 4 whole panels, then 1 + 13 columns */
    float *w = malloc(k * out * sizeof *w), *x = malloc(30 * k * sizeof *x), *row = malloc(k * sizeof *row);
    float *y = malloc(30 * out * sizeof *y), *y0 = malloc(30 * out * sizeof *y0);
    uint64_t s = 7;
    for (size_t i = 0; i < 30 * k; i++)
        x[i] = (float)((int)(lcg(&s) % 2001) - 1000) / 333.0f;
    for (size_t i = 0; i < k * out; i++)
        w[i] = (float)((int)(lcg(&s) % 20001) - 10000) / 7777.0f;
    for (size_t i = 0; i < k; i++)
        w[3 * k + i] = 0.0f;                      /* a zero row: scale 0 */
    for (size_t i = 0; i < k; i++)
        w[5 * k + i] = fabsf(w[5 * k + i]) + 0.5f;   /* one sign: asymmetric range */
    struct { gm_dtype t; size_t g; int sym; float step; } sch[] = {
        {GM_Q8, 0, 0, 127}, {GM_Q4, 32, 0, 15}, {GM_Q4, 128, 0, 15}, {GM_Q4, 32, 1, 7}, {GM_Q4, 16, 1, 7}};
    for (size_t si = 0; si < sizeof sch / sizeof sch[0]; si++) {
        gm_weights q;
        gm_job j = {&q, w, k, KN_OUT_IN, k, out, GM_F32, sch[si].t, sch[si].g, sch[si].sym, 0, 0};
        assert_int_equal(gm_pack_all(NULL, &j, 1, NULL, NULL), 0);
        assert_int_equal(q.dtype, sch[si].t);
        /* dequantized weights: within half a step of the source */
        for (size_t c = 0; c < out; c++) {
            gm_weights_row(&q, c, row);
            for (size_t g0 = 0; g0 < k; g0 += q.group) {
                size_t g1 = g0 + q.group < k ? g0 + q.group : k;
                float lo = 0, hi = 0;
                for (size_t kk = g0; kk < g1; kk++)
                    lo = fminf(lo, w[c * k + kk]), hi = fmaxf(hi, w[c * k + kk]);
                float step = sch[si].t == GM_Q4 && !sch[si].sym ? (hi - lo) / 15 : fmaxf(-lo, hi) / sch[si].step;
                for (size_t kk = g0; kk < g1; kk++)
                    if (fabsf(row[kk] - w[c * k + kk]) > 0.5001f * step + 1e-7f)
                        fail_msg("k %zu scheme %zu: column %zu k %zu: %g dequantizes to %g (step %g)", k, si, c, kk,
                                 w[c * k + kk], row[kk], step);
            }
        }
        /* the contract's sequence, from the codes and scales the packer
         * stores (the panel layout: gemm_internal.h, row_bytes) */
        size_t rb = sch[si].t == GM_Q8 ? GM_NR : GM_NR / 2;
        double worst = 0;
        for (size_t r = 0; r < 30; r++)
            for (size_t c = 0; c < out; c++) {
                const unsigned char *pan = (const unsigned char *)q.panels + c / GM_NR * k * rb;
                size_t j = c % GM_NR;
                float t = 0.0f;
                for (size_t k0 = 0, gi = 0; k0 < k; k0 += q.group, gi++) {
                    size_t k1 = k0 + q.group < k ? k0 + q.group : k;
                    float a = 0.0f, sum = 0.0f;
                    for (size_t kk = k0; kk < k1; kk++) {
                        const unsigned char *pr = pan + kk * rb;
                        int code = sch[si].t == GM_Q8 ? (int8_t)pr[j] : j < 16 ? pr[j] & 15 : pr[j - 16] >> 4;
                        a = fmaf(x[r * k + kk], (float)code, a);
                        sum = sum + x[r * k + kk];
                    }
                    size_t g = (c / GM_NR * q.ngroups + gi) * GM_NR + j;
                    t = fmaf(a, q.scales[g], t);
                    if (sch[si].t == GM_Q4)
                        t = fmaf(-(q.scales[g] * (float)q.zeros[g]), sum, t);
                }
                y0[r * out + c] = t;
                gm_weights_row(&q, c, row);
                double ref = 0, mag = 0;
                for (size_t kk = 0; kk < k; kk++)
                    ref += (double)x[r * k + kk] * row[kk], mag += fabs((double)x[r * k + kk] * row[kk]);
                double e = fabs((double)t - ref) / (mag + 1e-30);
                worst = e > worst ? e : worst;
            }
        if (worst > 1e-5)
            fail_msg("scheme %zu: relative error %g against the float64 product", si, worst);
        eng_blas noblas = {0};
        kn_pool *pool;
        assert_int_equal(kn_pool_new(2, &noblas, &pool), 0);
        const gm_isa isas[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512, GM_ISA_AUTO};
        const size_t ns[] = {1, 2, 4, 7, 12, 13, 30};
        for (int ii = 0; ii < 4; ii++)
            for (int ni = 0; ni < 7; ni++)
                for (int th = 0; th < 2; th++) {
                    memset(y, 0, 30 * out * sizeof *y);
                    gm_call cl = {.x = x, .ldx = k, .w = &q, .y = y, .ldy = out, .n = ns[ni], .isa = isas[ii]};
                    gm_run(th ? pool : NULL, &cl);
                    if (memcmp(y, y0, ns[ni] * out * sizeof *y))
                        fail_msg("k %zu scheme %zu isa %d n %zu threads %d: quantized product differs from the "
                                 "contract's sequence", k, si, (int)isas[ii], ns[ni], th + 1);
                }
        kn_pool_free(pool);
        gm_free(&q);
    }
    free(w), free(x), free(row), free(y), free(y0);
}

static void test_quant_panels(void **state)
{
    (void)state;
    quant_panels(77);
    quant_panels(400);
}

/* GM_BF16DOT (gemm.h): the contract written out independently — both
 * operands rounded to BF16 (nearest even, subnormals to zero), per pair of
 * k the odd product then the even one added in fp32, subnormals flushed —
 * and every path (vdpbf16ps where the CPU has AVX512_BF16, the AVX2 and
 * scalar emulations) gives its bits, for F32, F16 and BF16 sources, odd k,
 * row counts across tiles, with the epilogue. */
static float t_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0)
        u &= 0x80000000u;
    else
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

static float t_ftz(float v) { return fabsf(v) < 1.17549435e-38f ? 0.0f * v : v; }

static void test_bf16dot(void **state)
{
    (void)state;
    const size_t k = 77, out = 45, N = 30;
    float *w = malloc(k * out * sizeof *w), *x = malloc(N * k * sizeof *x), *y = malloc(N * out * sizeof *y);
    float *y0 = malloc(N * out * sizeof *y0), *bias = malloc(out * sizeof *bias);
    uint16_t *h = malloc(k * out * 2);
    uint64_t s = 5;
    for (size_t i = 0; i < N * k; i++)
        x[i] = (float)((int)(lcg(&s) % 2000001) - 1000000) / 333333.0f;
    x[3] = 1e-39f, x[5] = -3e-40f, x[7] = 1.00390625f;   /* subnormal inputs, an exact tie */
    for (size_t i = 0; i < k * out; i++)
        w[i] = (float)((int)(lcg(&s) % 2000001) - 1000000) / 777777.0f;
    for (size_t i = 0; i < out; i++)
        bias[i] = (float)i / 7.0f;
    for (int src = 0; src < 3; src++) {
        gm_dtype t = src == 0 ? GM_F32 : src == 1 ? GM_F16 : GM_BF16;
        const void *wsrc = w;
        if (src) {   /* the half-precision values the weights round to */
            for (size_t i = 0; i < k * out; i++) {
                uint32_t u;
                memcpy(&u, &w[i], 4);
                h[i] = src == 2 ? (uint16_t)(u >> 16) : (uint16_t)((i % 2) << 15 | ((i % 20) + 5) << 10 | (i % 1024));
            }
            wsrc = h;
        }
        gm_weights q;
        gm_job j = {&q, wsrc, k, KN_OUT_IN, k, out, t, GM_BF16DOT, 0, 0, 0, 0};
        assert_int_equal(gm_pack_all(NULL, &j, 1, NULL, NULL), 0);
        for (size_t r = 0; r < N; r++)
            for (size_t c = 0; c < out; c++) {
                float acc = 0.0f;
                for (size_t kk = 0; kk < k; kk += 2) {
                    float wv[2], xv[2];
                    for (int e = 0; e < 2; e++) {
                        size_t i = kk + (size_t)e;
                        float src_v = i >= k ? 0.0f : t == GM_F32 ? w[c * k + i] : t == GM_BF16 ? bf16_to_f32(h[c * k + i])
                                                                                                 : f16_to_f32(h[c * k + i]);
                        wv[e] = t_bf16(src_v);
                        xv[e] = i < k ? t_bf16(x[r * k + i]) : 0.0f;
                    }
                    acc = t_ftz(acc + t_ftz(xv[1] * wv[1]));
                    acc = t_ftz(acc + t_ftz(xv[0] * wv[0]));
                }
                y0[r * out + c] = acc + bias[c];
            }
        const gm_isa isas[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512, GM_ISA_AUTO};
        const size_t ns[] = {1, 5, 13, 30};
        for (int ii = 0; ii < 4; ii++)
            for (int ni = 0; ni < 4; ni++) {
                memset(y, 0, N * out * sizeof *y);
                gm_call cl = {.x = x, .ldx = k, .w = &q, .bias = bias, .y = y, .ldy = out, .n = ns[ni], .isa = isas[ii]};
                gm_run(NULL, &cl);
                for (size_t e = 0; e < ns[ni] * out; e++)
                    if (memcmp(&y[e], &y0[e], 4))
                        fail_msg("source %d isa %d n %zu: element %zu is %a, the contract gives %a", src, (int)isas[ii],
                                 ns[ni], e, y[e], y0[e]);
            }
        gm_free(&q);
    }
    print_message("BF16 dot products: %s\n", gm_bf16_native() ? "vdpbf16ps checked against the contract"
                                                               : "no AVX512_BF16 here; emulations checked");
    free(w), free(x), free(y), free(y0), free(bias), free(h);
}

/* GM_I8DOT (gemm.h, "int8 dot products"): the contract written out here —
 * activations quantized per block of 32, exact integer sums per block,
 * folded with the block scale and then the group scale — equals every
 * path's bits (vpdpbusd where the CPU has AVX512_VNNI, the scalar path),
 * for int8 and int4 (zero point, symmetric) weights, k not a multiple of
 * 4 or 32, row counts across tiles. */
static void test_i8dot(void **state)
{
    (void)state;
    const size_t k = 150, out = 45, N = 30;
    float *w = malloc(k * out * sizeof *w), *x = malloc(N * k * sizeof *x), *y = malloc(N * out * sizeof *y);
    float *y0 = malloc(N * out * sizeof *y0), *row = malloc(k * sizeof *row);
    uint64_t s = 11;
    for (size_t i = 0; i < N * k; i++)
        x[i] = (float)((int)(lcg(&s) % 20001) - 10000) / 3333.0f;
    for (size_t i = 40; i < 72; i++)
        x[i] = 0.0f;   /* an all-zero block: scale 0 */
    for (size_t i = 0; i < k * out; i++)
        w[i] = (float)((int)(lcg(&s) % 20001) - 10000) / 7777.0f;
    struct { int bits; size_t g; int sym; } sch[] = {{8, 0, 0}, {4, 32, 0}, {4, 128, 1}, {4, 32, 1}};
    for (size_t si = 0; si < sizeof sch / sizeof sch[0]; si++) {
        gm_weights q;
        gm_job j = {&q, w, k, KN_OUT_IN, k, out, GM_F32, GM_I8DOT, sch[si].g, sch[si].sym, sch[si].bits, 0};
        assert_int_equal(gm_pack_all(NULL, &j, 1, NULL, NULL), 0);
        for (size_t r = 0; r < N; r++)
            for (size_t c = 0; c < out; c++) {
                gm_weights_row(&q, c, row);
                size_t p = c / GM_NR, jj = c % GM_NR;
                float total = 0.0f;
                for (size_t g0 = 0, gi = 0; g0 < k; g0 += q.group, gi++) {
                    size_t g1 = g0 + q.group < k ? g0 + q.group : k;
                    float sc = q.scales[(p * q.ngroups + gi) * GM_NR + jj], acc = 0.0f;
                    for (size_t b0 = g0; b0 < g1; b0 += 32) {
                        size_t b1 = b0 + 32 < g1 ? b0 + 32 : g1;
                        float a = 0.0f;
                        for (size_t kk = b0; kk < b1; kk++)
                            a = fmaxf(a, fabsf(x[r * k + kk]));
                        float d = a / 127.0f;
                        int32_t isum = 0;
                        for (size_t kk = b0; kk < b1; kk++) {
                            int xq = d != 0.0f ? (int)fminf(127.0f, fmaxf(-127.0f, rintf(x[r * k + kk] / d))) : 0;
                            int code = sc != 0.0f ? (int)rintf(row[kk] / sc) : 0;
                            isum += xq * code;
                        }
                        acc = fmaf((float)isum, d, acc);
                    }
                    total = fmaf(acc, sc, total);
                }
                y0[r * out + c] = total;
            }
        const gm_isa isas[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512, GM_ISA_AUTO};
        const size_t ns[] = {1, 5, 13, 30};
        for (int ii = 0; ii < 4; ii++)
            for (int ni = 0; ni < 4; ni++) {
                memset(y, 0, N * out * sizeof *y);
                gm_call cl = {.x = x, .ldx = k, .w = &q, .y = y, .ldy = out, .n = ns[ni], .isa = isas[ii]};
                gm_run(NULL, &cl);
                for (size_t e = 0; e < ns[ni] * out; e++)
                    if (memcmp(&y[e], &y0[e], 4))
                        fail_msg("scheme %zu isa %d n %zu: element %zu is %a, the contract gives %a", si, (int)isas[ii],
                                 ns[ni], e, y[e], y0[e]);
            }
        gm_free(&q);
    }
    print_message("int8 dot products: %s\n", gm_vnni_native() ? "vpdpbusd checked against the contract"
                                                              : "no AVX512_VNNI here; the scalar path checked");
    free(w), free(x), free(y), free(y0), free(row);
}

/* accumulate: y = y + (acc + bias), exactly; strided x and y; n = 0 writes
 * nothing. */
static void test_accumulate_strides(void **state)
{
    (void)state;
    size_t n = 19, k = 23, out = 40, ldx = 30, ldy = 50;
    float *x = frand(n * ldx, 41), *w = frand(out * k, 42), *b = frand(out, 43), *y0 = frand(n * ldy, 44);
    float *y = malloc(n * ldy * 4);
    assert_non_null(y);
    memcpy(y, y0, n * ldy * 4);
    gm_weights pw;
    assert_int_equal(gm_pack(&pw, w, k, KN_OUT_IN, k, out), 0);
    for (size_t is = 0; is < NISAS; is++) {
        if (!gm_isa_supported(ISAS[is]))
            continue;
        memcpy(y, y0, n * ldy * 4);
        gm_call c = {.x = x, .ldx = ldx, .w = &pw, .bias = b, .y = y, .ldy = ldy, .n = n, .accumulate = 1,
                     .isa = ISAS[is]};
        gm_run(NULL, &c);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < ldy; j++) {
                float e = j < out ? expect_one(x + i * ldx, w, k, b, j, GM_ACT_NONE, y0[i * ldy + j], 1)
                                  : y0[i * ldy + j];   /* columns past out untouched */
                assert_memory_equal(&e, &y[i * ldy + j], sizeof e);
            }
        c.n = 0;
        gm_run(NULL, &c);
    }
    /* k = 1, out = 1 */
    gm_weights one;
    float w1 = 3.0f, x1[3] = {1.0f, -2.0f, 0.5f}, y1[3];
    assert_int_equal(gm_pack(&one, &w1, 1, KN_IN_OUT, 1, 1), 0);
    gm_call c1 = {.x = x1, .ldx = 1, .w = &one, .y = y1, .ldy = 1, .n = 3, .act = GM_ACT_RELU};
    gm_run(NULL, &c1);
    assert_true(y1[0] == 3.0f && y1[1] == 0.0f && y1[2] == 1.5f);
    gm_free(&one);
    /* k = 0: the empty sum is 0, y = bias */
    gm_weights empty;
    float bias5[5] = {1, -2, 3, -4, 5}, y5[3 * 5];
    assert_int_equal(gm_pack(&empty, NULL, 0, KN_OUT_IN, 0, 5), 0);
    assert_non_null(empty.panels);
    gm_call c0 = {.x = x1, .ldx = 0, .w = &empty, .bias = bias5, .y = y5, .ldy = 5, .n = 3};
    gm_run(NULL, &c0);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(y5 + i * 5, bias5, sizeof bias5);
    gm_free(&empty);
    gm_free(&pw);
    free(x), free(w), free(b), free(y0), free(y);
}

/* ---- GGUF blocks (gemm.h, "GGUF blocks") ------------------------------------
 * The contract written out independently from the blocks as the file
 * stores them (ggml's layouts): per sub-block of 32 k (Q4_0, Q6_K: 16), a chain
 * of fmas of x by the integer codes from 0, folded into the total with the
 * sub-block's scale, then its min times the row's sum over the sub-block.
 * Every route (fused decode kernels, L1 tiles, whole panels), instruction
 * set, row count 1..40 and thread count must give its bits; and it must
 * be the dequantized weights' product within fp32 rounding (float64). */
static float t_h(const unsigned char *p) { return f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* Block b of a row: codes[k], scales per 16 k (sc[k / 16]), min per 32 k
 * (mn[k / 32]; 0 without one). */
static void t_block(int type, const unsigned char *b, int *codes, float *sc, float *mn)
{
    switch (type) {
    case GGML_Q8_0:
        for (int k = 0; k < 32; k++)
            codes[k] = (int8_t)b[2 + k];
        sc[0] = sc[1] = t_h(b), mn[0] = 0;
        break;
    case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1: {
        int m = type == GGML_Q4_1 || type == GGML_Q5_1, five = type == GGML_Q5_0 || type == GGML_Q5_1;
        const unsigned char *qs = b + 2 + 2 * m + 4 * five;
        uint32_t qh = five ? (uint32_t)b[2 + 2 * m] | (uint32_t)b[3 + 2 * m] << 8 | (uint32_t)b[4 + 2 * m] << 16 |
                                 (uint32_t)b[5 + 2 * m] << 24 : 0;
        for (int j = 0; j < 16; j++) {
            codes[j] = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            codes[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        }
        for (int k = 0; k < 32; k++)
            codes[k] -= m ? 0 : five ? 16 : 8;
        sc[0] = sc[1] = t_h(b), mn[0] = m ? t_h(b + 2) : 0.0f;
        break;
    }
    case GGML_Q4_K: case GGML_Q5_K: {
        int five = type == GGML_Q5_K;
        const unsigned char *scb = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
        for (int s = 0; s < 8; s++) {
            int a, m;
            if (s < 4)
                a = scb[s] & 63, m = scb[s + 4] & 63;
            else
                a = (scb[s + 4] & 15) | (scb[s - 4] >> 6) << 4, m = (scb[s + 4] >> 4) | (scb[s] >> 6) << 4;
            sc[2 * s] = sc[2 * s + 1] = t_h(b) * (float)a;
            mn[s] = -(t_h(b + 2) * (float)m);
            for (int l = 0; l < 32; l++)
                codes[32 * s + l] = ((qs[32 * (s / 2) + l] >> (4 * (s & 1))) & 15) | (five ? ((qh[l] >> s) & 1) << 4 : 0);
        }
        break;
    }
    case GGML_Q6_K:
        for (int i = 0; i < 256; i++) {
            int n = i / 128, g = i % 128 / 32, l = i % 32;
            int lo = (b[64 * n + l + 32 * (g & 1)] >> (4 * (g >> 1))) & 15, hi = (b[128 + 32 * n + l] >> (2 * g)) & 3;
            codes[i] = (lo | hi << 4) - 32;
        }
        for (int s = 0; s < 16; s++)
            sc[s] = t_h(b + 208) * (float)(int8_t)b[192 + s];
        for (int s = 0; s < 8; s++)
            mn[s] = 0;
        break;
    }
}

static float t_contract(int type, const unsigned char *row, size_t k, const float *x)
{
    size_t block, bytes;
    gguf_type_size(type, &block, &bytes);
    int codes[256];
    float sc[16], mn[8], t = 0.0f;
    for (size_t b0 = 0; b0 < k; b0 += block) {
        t_block(type, row + b0 / block * bytes, codes, sc, mn);
        for (size_t s = 0; s < block / 32; s++) {
            const float *xs = x + b0 + 32 * s;
            if (type == GGML_Q6_K || type == GGML_Q4_0) {
                for (size_t h = 0; h < 2; h++) {
                    float a = 0.0f;
                    for (size_t e = 16 * h; e < 16 * h + 16; e++)
                        a = fmaf(xs[e], (float)codes[32 * s + e], a);
                    t = fmaf(a, sc[2 * s + h], t);
                }
            } else {
                float a = 0.0f, sum = 0.0f;
                for (size_t e = 0; e < 32; e++)
                    a = fmaf(xs[e], (float)codes[32 * s + e], a), sum = sum + xs[e];
                t = fmaf(a, sc[2 * s], t);
                if (type == GGML_Q4_1 || type == GGML_Q5_1 || type == GGML_Q4_K || type == GGML_Q5_K)
                    t = fmaf(mn[s], sum, t);
            }
        }
    }
    return t;
}

static void test_ggml_blocks(void **state)
{
    (void)state;
    static const int types[] = {GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K};
    const size_t out = 101, k = 256, N = 40, ldx = k + 3;   /* 4 panels, the last partial */
    eng_blas noblas = {0};
    kn_pool *pool;
    assert_int_equal(kn_pool_new(2, &noblas, &pool), 0);
    float *x = frand(N * ldx, 21), *bias = frand(out, 22), *deq = malloc(out * k * sizeof *deq);
    float *y0 = malloc(N * out * sizeof *y0), *y = malloc(N * out * sizeof *y);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        int type = types[ti];
        size_t block, bytes;
        gguf_type_size(type, &block, &bytes);
        size_t rowb = k / block * bytes;
        unsigned char *blocks = malloc(out * rowb);
        uint64_t s = 99 + (uint64_t)type;
        for (size_t i = 0; i < out * rowb; i++)
            blocks[i] = (unsigned char)lcg(&s);
        /* the fp16 fields: finite scales of a plausible size (random bytes elsewhere) */
        for (size_t bi = 0; bi < out * k / block; bi++) {
            unsigned char *b = blocks + bi * bytes;
            size_t off = type == GGML_Q6_K ? 208 : 0;
            b[off] = (unsigned char)lcg(&s), b[off + 1] = (unsigned char)(0x14 + lcg(&s) % 8 + (lcg(&s) % 2) * 0x80);
            if (type == GGML_Q4_1 || type == GGML_Q5_1 || type == GGML_Q4_K || type == GGML_Q5_K)
                b[2] = (unsigned char)lcg(&s), b[3] = (unsigned char)(0x14 + lcg(&s) % 8);
        }
        for (size_t r = 0; r < out; r++)
            assert_int_equal(gguf_dequant(type, blocks + r * rowb, k, deq + r * k), 0);
        gm_weights w;
        gm_job j = {.pw = &w, .w = blocks, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_GGML,
                    .packed = GM_GGML, .ggml_type = type};
        assert_int_equal(gm_pack_all(NULL, &j, 1, NULL, NULL), 0);
        /* the contract, and its distance to the float64 product */
        double worst = 0;
        for (size_t r = 0; r < N; r++)
            for (size_t c = 0; c < out; c++) {
                float t = t_contract(type, blocks + c * rowb, k, x + r * ldx);
                double ref = 0, mag = 0;
                for (size_t kk = 0; kk < k; kk++)
                    ref += (double)x[r * ldx + kk] * deq[c * k + kk], mag += fabs((double)x[r * ldx + kk] * deq[c * k + kk]);
                double err = fabs((double)t - ref) / (mag + 1e-30);
                worst = err > worst ? err : worst;
                y0[r * out + c] = t + bias[c];
            }
        if (worst > 1e-5)
            fail_msg("%s: relative error %g against the float64 product", gguf_type_name(type), worst);
        for (size_t ii = 0; ii < NISAS + 1; ii++)
            for (size_t n = 1; n <= N; n += n < 10 ? 1 : 7)
                for (int th = 0; th < 2; th++) {
                    gm_isa isa = ii < NISAS ? ISAS[ii] : GM_ISA_AUTO;
                    memset(y, 0, N * out * sizeof *y);
                    gm_call cl = {.x = x, .ldx = ldx, .w = &w, .bias = bias, .y = y, .ldy = out, .n = n, .isa = isa};
                    gm_run(th ? pool : NULL, &cl);
                    for (size_t i = 0; i < n * out; i++)
                        if (memcmp(&y[i], &y0[i], sizeof *y))
                            fail_msg("%s isa %d n %zu threads %d: row %zu column %zu: %.9g, contract %.9g",
                                     gguf_type_name(type), (int)isa, n, th + 1, i / out, i % out, y[i], y0[i]);
                }
        gm_free(&w);
        free(blocks);
    }
    kn_pool_free(pool);
    free(x), free(bias), free(deq), free(y0), free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invariance_odd),   cmocka_unit_test(test_invariance_gelu),
        cmocka_unit_test(test_invariance_wide),
        cmocka_unit_test(test_invariance_long_k),  cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_gelu_values),      cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_half_panels),
        cmocka_unit_test(test_quant_panels),
        cmocka_unit_test(test_ggml_blocks),
        cmocka_unit_test(test_bf16dot),
        cmocka_unit_test(test_i8dot),
        cmocka_unit_test(test_accumulate_strides), cmocka_unit_test(test_pack_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
