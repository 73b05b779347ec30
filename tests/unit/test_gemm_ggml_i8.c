/* test_gemm_ggml_i8.c — int8 dot products on GGUF blocks (engine/gemm.h,
 * "int8 dot products on GGUF blocks", GM_GGML_I8).
 *
 * The reference here reads the blocks in the file's own layout (ggml's
 * block structs, not the interleaved panels), computes the integer sums
 * exactly in int64 and then the documented fp32 sequence; its factors are
 * first checked against gguf_dequant (w = D (u - o), or D u + E, must be
 * the dequantized weight bit for bit), so that it reads the format as the
 * default path does. Matrices: random bytes for every type with f16
 * scales of every exponent (subnormals, 65504, zero) and zero blocks;
 * activations with zero blocks, all-equal blocks, subnormals and large
 * values. Every output must equal the reference bit for bit on every
 * path (scalar and AVX512_VNNI), for n = 1 .. 40, with 1 and 2 threads. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "f16.h"
#include "gemm.h"
#include "gemm_ggml_i8.h"
#include "gguf.h"
#include "kernels.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* A finite f16 of any exponent (subnormals and 0 included), random sign. */
static uint16_t rnd_f16(void)
{
    uint32_t r = rnd();
    uint16_t e = (uint16_t)(r % 31), m = (uint16_t)((r >> 5) & 0x3ff), s = (uint16_t)((r >> 15) & 1);
    if (r % 7 == 0)   /* mostly ordinary scales, as files have */
        return (uint16_t)(s << 15 | e << 10 | m);
    return (uint16_t)((r >> 20 & 1) << 15 | (uint16_t)(6 + r % 12) << 10 | m);
}

static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Random block of type at p (bytes of the type); zero: all bytes 0. */
static void rnd_block(int type, unsigned char *p, size_t bytes, int zero)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = zero ? 0 : (unsigned char)rnd();
    if (zero)
        return;
    switch (type) {
    case GGML_Q8_0: case GGML_Q4_0: case GGML_Q5_0: put16(p, rnd_f16()); break;
    case GGML_Q4_1: case GGML_Q5_1: put16(p, rnd_f16()), put16(p + 2, rnd_f16()); break;
    case GGML_Q4_K: case GGML_Q5_K: put16(p, rnd_f16()), put16(p + 2, rnd_f16()); break;
    case GGML_Q6_K: put16(p + 208, rnd_f16()); break;
    default: break;
    }
}

/* The reference's reading of sub-block s of a block in the file's layout
 * (ggml-quants' block structs): unsigned codes u[32], offset o, factors
 * D, E (E only for the min types; Q6_K: D, E the halves' scales). */
static void ref_sub(int type, const unsigned char *b, size_t s, int u[32], int *o, float *D, float *E, int *kind)
{
    float d = f16_to_f32(get16(b));
    *E = 0.0f, *kind = 0, *o = 0;
    switch (type) {
    case GGML_Q8_0:
        for (int j = 0; j < 32; j++)
            u[j] = (int)(int8_t)b[2 + j] + 128;
        *o = 128, *D = d;
        break;
    case GGML_Q4_0: case GGML_Q4_1: {
        const unsigned char *qs = b + (type == GGML_Q4_0 ? 2 : 4);
        for (int j = 0; j < 16; j++)
            u[j] = qs[j] & 15, u[j + 16] = qs[j] >> 4;
        *D = d;
        if (type == GGML_Q4_0)
            *o = 8;
        else
            *E = f16_to_f32(get16(b + 2)), *kind = 1;
        break;
    }
    case GGML_Q5_0: case GGML_Q5_1: {
        int one = type == GGML_Q5_1;
        uint32_t qh;
        memcpy(&qh, b + (one ? 4 : 2), 4);
        const unsigned char *qs = b + (one ? 8 : 6);
        for (int j = 0; j < 16; j++)
            u[j] = (qs[j] & 15) | (int)((qh >> j) & 1) << 4, u[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        *D = d;
        if (one)
            *E = f16_to_f32(get16(b + 2)), *kind = 1;
        else
            *o = 16;
        break;
    }
    case GGML_Q4_K: case GGML_Q5_K: {
        const unsigned char *sc = b + 4;
        int a, m;
        if (s < 4)
            a = sc[s] & 63, m = sc[s + 4] & 63;
        else
            a = (sc[s + 4] & 15) | (sc[s - 4] >> 6) << 4, m = (sc[s + 4] >> 4) | (sc[s] >> 6) << 4;
        int five = type == GGML_Q5_K;
        const unsigned char *qs = b + (five ? 48 : 16) + s / 2 * 32, *qh = b + 16;
        for (int j = 0; j < 32; j++) {
            u[j] = (qs[j] >> (4 * (s & 1))) & 15;
            if (five)
                u[j] |= ((qh[j] >> s) & 1) << 4;
        }
        *D = d * (float)a, *E = -(f16_to_f32(get16(b + 2)) * (float)m), *kind = 1;
        break;
    }
    case GGML_Q6_K: {
        size_t half = s / 4, t = s % 4;
        const unsigned char *ql = b + 64 * half + 32 * (t & 1), *qh = b + 128 + 32 * half;
        const int8_t *sc = (const int8_t *)(b + 192);
        float dd = f16_to_f32(get16(b + 208));
        for (int j = 0; j < 32; j++)
            u[j] = ((ql[j] >> (t >= 2 ? 4 : 0)) & 15) | ((qh[j] >> (2 * t)) & 3) << 4;
        *o = 32, *D = dd * (float)sc[2 * s], *E = dd * (float)sc[2 * s + 1], *kind = 2;
        break;
    }
    }
}

/* The activations' quantization (gemm.h), for the reference. */
static void ref_quant(const float *x, size_t k, int *xq, float *dx)
{
    for (size_t b = 0; b < k / 32; b++) {
        float a = 0.0f;
        for (size_t j = 0; j < 32; j++)
            a = fabsf(x[32 * b + j]) > a ? fabsf(x[32 * b + j]) : a;
        float d = a / 127.0f;
        dx[b] = d;
        for (size_t j = 0; j < 32; j++) {
            float r = d != 0.0f ? rintf(x[32 * b + j] / d) : 0.0f;
            xq[32 * b + j] = (int)(r < -127.0f ? -127.0f : r > 127.0f ? 127.0f : r);
        }
    }
}

/* The reference product: y[n][out] (no bias), and a float64 evaluation
 * of the same sums (yd) for the sanity check. */
static void ref_product(int type, const unsigned char *w, size_t rowb, size_t out, size_t k, const float *x,
                        size_t n, float *y, double *yd)
{
    size_t block, bytes;
    gguf_type_size(type, &block, &bytes);
    int *xq = malloc(k * sizeof *xq);
    float *dx = malloc(k / 32 * sizeof *dx);
    for (size_t i = 0; i < n; i++) {
        ref_quant(x + i * k, k, xq, dx);
        for (size_t j = 0; j < out; j++) {
            float total = 0.0f;
            double td = 0.0;
            for (size_t b = 0; b < k / 32; b++) {
                const unsigned char *blk = w + j * rowb + (32 * b) / block * bytes;
                int u[32], o, kind;
                float D, E;
                ref_sub(type, blk, (32 * b) % block / 32, u, &o, &D, &E, &kind);
                int64_t I0 = 0, I1 = 0, X0 = 0, X1 = 0;
                for (int e = 0; e < 16; e++)
                    I0 += (int64_t)xq[32 * b + e] * u[e], X0 += xq[32 * b + e];
                for (int e = 16; e < 32; e++)
                    I1 += (int64_t)xq[32 * b + e] * u[e], X1 += xq[32 * b + e];
                float t;
                if (kind == 2) {
                    t = (float)(I0 - o * X0) * D;
                    t = fmaf((float)(I1 - o * X1), E, t);
                    td += (double)dx[b] * ((double)(I0 - o * X0) * D + (double)(I1 - o * X1) * E);
                } else {
                    t = (float)(I0 + I1 - o * (X0 + X1)) * D;
                    if (kind == 1)
                        t = fmaf((float)(X0 + X1), E, t);
                    td += (double)dx[b] * ((double)(I0 + I1 - o * (X0 + X1)) * D + (double)(X0 + X1) * E);
                }
                total = fmaf(t, dx[b], total);
            }
            y[i * out + j] = total;
            yd[i * out + j] = td;
        }
    }
    free(xq), free(dx);
}

static const int types[] = {GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0,
                            GGML_Q5_1, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K};
#define NT (sizeof types / sizeof types[0])

/* The reference's reading equals gguf_dequant's weights, bit for bit. */
static void check_reading(int type, const unsigned char *w, size_t rows, size_t rowb, size_t k)
{
    size_t block, bytes;
    gguf_type_size(type, &block, &bytes);
    float *deq = malloc(k * sizeof *deq);
    for (size_t r = 0; r < rows; r++) {
        assert_int_equal(gguf_dequant(type, w + r * rowb, k, deq), 0);
        for (size_t b = 0; b < k / 32; b++) {
            int u[32], o, kind;
            float D, E;
            ref_sub(type, w + r * rowb + (32 * b) / block * bytes, (32 * b) % block / 32, u, &o, &D, &E, &kind);
            for (int e = 0; e < 32; e++) {
                float v = kind == 1 ? D * (float)u[e] + E : (kind == 2 && e >= 16 ? E : D) * (float)(u[e] - o);
                if (memcmp(&v, &deq[32 * b + e], 4) && !(isnan(v) && isnan(deq[32 * b + e])))
                    fail_msg("%s row %zu k %zu: reference reads %g, gguf_dequant %g", gguf_type_name(type), r,
                             32 * b + e, (double)v, (double)deq[32 * b + e]);
            }
        }
    }
    free(deq);
}

/* Random activations with the awkward cases in some blocks. */
static void fill_x(float *x, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < k / 32; b++) {
            float *p = x + i * k + 32 * b;
            int kind = (int)((i * 7 + b * 3) % 9);
            for (size_t j = 0; j < 32; j++) {
                float v = ((float)(rnd() % 20001) - 10000.0f) / 5000.0f;
                switch (kind) {
                case 0: v = 0.0f; break;                               /* a zero block */
                case 1: v = 0.75f; break;                              /* all equal */
                case 2: v = -3.5f; break;
                case 3: v *= 1e-40f; break;                            /* subnormals */
                case 4: v *= 1e30f; break;                             /* large */
                case 5: if (j == 7) v = 1e-3f; else v *= 1e-6f; break; /* one dominant value */
                default: break;
                }
                p[j] = v;
            }
        }
}

/* Unpacking: the scalar and the VNNI path give the same codes and factors
 * for every sub-block, and they are the reference's. */
static void check_unpack(int type, const gm_weights *pw, const unsigned char *w, size_t rowb)
{
    size_t block, bytes;
    gguf_type_size(type, &block, &bytes);
    for (size_t p = 0; p < (pw->out + GM_NR - 1) / GM_NR; p++)
        for (size_t b = 0; b < pw->k / 32; b++) {
            const unsigned char *u = (const unsigned char *)pw->panels + p * GM_NR * pw->rowb + (32 * b) / block * GM_NR * bytes;
            size_t s = (32 * b) % block / 32;
            uint8_t c1[1024], c2[1024];
            float D1[32], E1[32], D2[32], E2[32];
            gm_ggml_i8_unpack(type, u, s, GM_ISA_SCALAR, c1, D1, E1);
            gm_ggml_i8_unpack(type, u, s, GM_ISA_AUTO, c2, D2, E2);
            assert_memory_equal(c1, c2, sizeof c1);
            assert_memory_equal(D1, D2, sizeof D1);
            assert_memory_equal(E1, E2, sizeof E1);
            for (size_t c = 0; c < GM_NR && p * GM_NR + c < pw->out; c++) {
                int ur[32], o, kind;
                float D, E;
                ref_sub(type, w + (p * GM_NR + c) * rowb + (32 * b) / block * bytes, s, ur, &o, &D, &E, &kind);
                for (size_t j = 0; j < 32; j++)
                    if (c1[((j / 4) * GM_NR + c) * 4 + j % 4] != ur[j])
                        fail_msg("%s panel %zu block %zu column %zu k %zu: code %d, reference %d", gguf_type_name(type),
                                 p, b, c, j, c1[((j / 4) * GM_NR + c) * 4 + j % 4], ur[j]);
                assert_memory_equal(&D1[c], &D, 4);
                if (kind)
                    assert_memory_equal(&E1[c], &E, 4);
            }
        }
}

static void test_products(void **state)
{
    (void)state;
    eng_blas noblas = {0};
    kn_pool *pool2;
    assert_int_equal(kn_pool_new(2, &noblas, &pool2), 0);
    const size_t out = 70, k = 512, nmax = 40;
    float *x = malloc(nmax * k * sizeof *x), *bias = malloc(out * sizeof *bias);
    float *yr = malloc(nmax * out * sizeof *yr), *y = malloc(nmax * out * sizeof *y);
    double *yd = malloc(nmax * out * sizeof *yd);
    fill_x(x, nmax, k);
    for (size_t j = 0; j < out; j++)
        bias[j] = (float)j * 0.125f - 2.0f;
    for (size_t ti = 0; ti < NT; ti++) {
        int type = types[ti];
        size_t block, bytes;
        gguf_type_size(type, &block, &bytes);
        size_t rowb = k / block * bytes;
        unsigned char *w = malloc(out * rowb);
        for (size_t r = 0; r < out; r++)
            for (size_t b = 0; b < k / block; b++)
                rnd_block(type, w + r * rowb + b * bytes, bytes, r % 11 == 3 || (r * 5 + b) % 13 == 0);
        check_reading(type, w, out, rowb, k);
        gm_weights qi, qg;
        gm_job jobs[2] = {
            {.pw = &qi, .w = w, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_GGML,
             .packed = GM_GGML_I8, .ggml_type = type},
            {.pw = &qg, .w = w, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_GGML,
             .packed = GM_GGML, .ggml_type = type},
        };
        assert_int_equal(gm_pack_all(NULL, jobs, 2, NULL, NULL), 0);
        assert_int_equal(qi.dtype, GM_GGML_I8);
        /* the same panels as the default product's */
        assert_int_equal(qi.rowb, qg.rowb);
        assert_memory_equal(qi.panels, qg.panels, (out + GM_NR - 1) / GM_NR * GM_NR * qi.rowb);
        float row[512], rowg[512];
        gm_weights_row(&qi, 69, row);
        gm_weights_row(&qg, 69, rowg);
        assert_memory_equal(row, rowg, sizeof row);
        check_unpack(type, &qi, w, rowb);
        ref_product(type, w, rowb, out, k, x, nmax, yr, yd);
        for (size_t n = 1; n <= nmax; n++)
            for (int isa = GM_ISA_AUTO; isa <= GM_ISA_AVX512; isa++)
                for (int th = 1; th <= 2; th++) {
                    int acc = (int)(n % 2);
                    for (size_t i = 0; i < n * out; i++)
                        y[i] = acc ? (float)i : -1.0f;
                    gm_call c = {.x = x, .ldx = k, .w = &qi, .bias = n % 3 ? bias : NULL, .y = y, .ldy = out,
                                 .n = n, .accumulate = acc, .isa = (gm_isa)isa};
                    gm_run(th == 2 ? pool2 : NULL, &c);
                    for (size_t i = 0; i < n; i++)
                        for (size_t j = 0; j < out; j++) {
                            float want = yr[i * out + j];
                            if (c.bias)
                                want = want + bias[j];
                            if (acc)
                                want = (float)(i * out + j) + want;
                            float got = y[i * out + j];
                            if (memcmp(&got, &want, 4) && !(isnan(got) && isnan(want)))
                                fail_msg("%s n %zu isa %d threads %d: y[%zu][%zu] = %.9g, reference %.9g",
                                         gguf_type_name(type), n, isa, th, i, j, (double)got, (double)want);
                        }
                }
        gm_free(&qi), gm_free(&qg);
        free(w);
    }
    free(x), free(bias), free(yr), free(y), free(yd);
    kn_pool_free(pool2);
}

/* The fp32 sequence against the float64 evaluation of the same integer
 * sums, on ordinary data: relative error ~1e-6 (it is the activation and
 * weight quantization, not the sequence, that costs accuracy). */
static void test_sequence_accuracy(void **state)
{
    (void)state;
    const size_t out = 64, k = 1024, n = 4;
    float *x = malloc(n * k * sizeof *x), *y = malloc(n * out * sizeof *y);
    double *yd = malloc(n * out * sizeof *yd);
    for (size_t i = 0; i < n * k; i++)
        x[i] = ((float)(rnd() % 20001) - 10000.0f) / 5000.0f;
    for (size_t ti = 0; ti < NT; ti++) {
        int type = types[ti];
        size_t block, bytes;
        gguf_type_size(type, &block, &bytes);
        size_t rowb = k / block * bytes;
        unsigned char *w = malloc(out * rowb);
        for (size_t r = 0; r < out; r++)
            for (size_t b = 0; b < k / block; b++) {
                unsigned char *p = w + r * rowb + b * bytes;
                rnd_block(type, p, bytes, 0);
                uint16_t d = (uint16_t)(0x2000 + rnd() % 0x400);   /* ~0.008: an ordinary scale */
                if (type == GGML_Q6_K)
                    put16(p + 208, d);
                else
                    put16(p, d);
                if (type == GGML_Q4_1 || type == GGML_Q5_1 || type == GGML_Q4_K || type == GGML_Q5_K)
                    put16(p + 2, (uint16_t)(0x2000 + rnd() % 0x400));
            }
        ref_product(type, w, rowb, out, k, x, n, y, yd);
        double worst = 0.0, scale = 0.0;
        for (size_t i = 0; i < n * out; i++) {
            worst = fmax(worst, fabs((double)y[i] - yd[i]));
            scale = fmax(scale, fabs(yd[i]));
        }
        if (worst > 1e-5 * scale)
            fail_msg("%s: fp32 sequence off the float64 sums by %g (scale %g)", gguf_type_name(type), worst, scale);
        free(w);
    }
    free(x), free(y), free(yd);
}

/* The activations' quantization, vector and scalar, against the
 * reference: codes, scales and half sums, on rows with every awkward
 * block (zeros, all equal, subnormals, huge, exact halves: x / d = n + 0.5
 * must round to even). */
static void test_quantization(void **state)
{
    (void)state;
    const size_t n = 64, k = 256;
    float *x = malloc(n * k * sizeof *x);
    fill_x(x, n, k);
    for (size_t b = 0; b < 8; b++)   /* row 0: ties, d = 1 (max 127) */
        for (size_t j = 0; j < 32; j++)
            x[32 * b + j] = j == 0 ? 127.0f : (float)((int)(rnd() % 254) - 127) + 0.5f;
    int xq[256];
    float dr[8];
    for (size_t i = 0; i < n; i++) {
        ref_quant(x + i * k, k, xq, dr);
        for (int isa = GM_ISA_AUTO; isa <= GM_ISA_SCALAR; isa++) {
            int8_t q[256];
            float d[8];
            int32_t lo[8], hi[8];
            gm_ggml_i8_quant(x + i * k, k, (gm_isa)isa, q, d, lo, hi);
            assert_memory_equal(d, dr, sizeof d);
            for (size_t b = 0; b < k / 32; b++) {
                int32_t s0 = 0, s1 = 0;
                for (size_t j = 0; j < 32; j++) {
                    if (q[32 * b + j] != xq[32 * b + j])
                        fail_msg("row %zu k %zu isa %d: code %d, reference %d", i, 32 * b + j, isa, q[32 * b + j],
                                 xq[32 * b + j]);
                    *(j < 16 ? &s0 : &s1) += xq[32 * b + j];
                }
                assert_int_equal(lo[b], s0);
                assert_int_equal(hi[b], s1);
            }
        }
    }
    free(x);
}

/* What cannot be packed as GM_GGML_I8: a float type, a folder's weights. */
static void test_refusals(void **state)
{
    (void)state;
    uint16_t h[64 * 32] = {0};
    float f[64 * 32] = {0};
    gm_weights pw;
    gm_job j = {.pw = &pw, .w = h, .ldw = 64, .layout = KN_OUT_IN, .k = 64, .out = 32, .dtype = GM_GGML,
                .packed = GM_GGML_I8, .ggml_type = GGML_F16};
    assert_int_equal(gm_pack_all(NULL, &j, 1, NULL, NULL), YS_EUSAGE);
    j.w = f, j.dtype = GM_F32, j.ggml_type = GGML_Q8_0;
    assert_int_equal(gm_pack_all(NULL, &j, 1, NULL, NULL), YS_EUSAGE);
    for (size_t i = 0; i < NT; i++)
        assert_true(gm_ggml_i8_supported(types[i]));
    assert_false(gm_ggml_i8_supported(GGML_F16));
    assert_false(gm_ggml_i8_supported(GGML_F32));
    assert_false(gm_ggml_i8_supported(GGML_Q2_K));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_sequence_accuracy),
        cmocka_unit_test(test_quantization),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
