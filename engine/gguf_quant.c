/* gguf_quant.c — GGUF tensor types to fp32 (gguf.h "dequantization").
 *
 * Written from the block layouts (ggml-common.h's structs, read for the
 * facts) and checked bit for bit against gguf-py's numpy dequantization
 * (tests/parity/gen/gen_gguf.py). Each value is computed with separate
 * fp32 operations in the order the format's reference gives them; the
 * project builds as ISO C11, where GCC does not contract a * b + c into
 * an FMA, so the roundings are the reference's. */
#include "gguf.h"

#include <string.h>

#include "f16.h"

static float h(const uint8_t *p) { return f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* Q4_0 / Q4_1 / Q5_0 / Q5_1: value i of a 32-block takes the low nibble of
 * qs[i] for i < 16 and the high nibble of qs[i - 16] after (the loops below
 * write both halves in one pass, which the compiler vectorises). */

static void q8_0(const uint8_t *b, float *y)
{
    float d = h(b);
    for (int i = 0; i < 32; i++)
        y[i] = (float)(int8_t)b[2 + i] * d;
}

static void q4_0(const uint8_t *b, float *y)
{
    float d = h(b);
    for (int i = 0; i < 16; i++) {
        y[i] = d * (float)((b[2 + i] & 15) - 8);
        y[i + 16] = d * (float)((b[2 + i] >> 4) - 8);
    }
}

static void q4_1(const uint8_t *b, float *y)
{
    float d = h(b), m = h(b + 2);
    for (int i = 0; i < 16; i++) {
        float lo = d * (float)(b[4 + i] & 15), hi = d * (float)(b[4 + i] >> 4);
        y[i] = lo + m;
        y[i + 16] = hi + m;
    }
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void q5_0(const uint8_t *b, float *y)
{
    float d = h(b);
    uint32_t qh = le32(b + 2);
    for (int i = 0; i < 16; i++) {
        y[i] = d * (float)(((b[6 + i] & 15) | (int)((qh >> i) & 1) << 4) - 16);
        y[i + 16] = d * (float)(((b[6 + i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4) - 16);
    }
}

static void q5_1(const uint8_t *b, float *y)
{
    float d = h(b), m = h(b + 2);
    uint32_t qh = le32(b + 4);
    for (int i = 0; i < 16; i++) {
        float lo = d * (float)((b[8 + i] & 15) | (int)((qh >> i) & 1) << 4);
        float hi = d * (float)((b[8 + i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4);
        y[i] = lo + m;
        y[i + 16] = hi + m;
    }
}

/* The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K super-block, packed in
 * 12 bytes: pairs 0-3 in the low six bits of bytes 0-3 (scales) and 4-7
 * (mins); pairs 4-7 take their low four bits from bytes 8-11 (scale low
 * nibble, min high nibble) and their top two from the spare top bits of
 * bytes 0-3 (scales) and 4-7 (mins). */
static void scale_min_k4(const uint8_t *s, int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void q4_k(const uint8_t *b, float *y)
{
    float d = h(b), dmin = h(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    for (int s = 0; s < 8; s++) {
        int a, m;
        scale_min_k4(sc, s, &a, &m);
        float d1 = d * (float)a, m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (s / 2);
        for (int j = 0; j < 32; j++) {
            float t = d1 * (float)((s & 1) ? q[j] >> 4 : q[j] & 15);
            y[32 * s + j] = t - m1;
        }
    }
}

static void q5_k(const uint8_t *b, float *y)
{
    float d = h(b), dmin = h(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    for (int s = 0; s < 8; s++) {
        int a, m;
        scale_min_k4(sc, s, &a, &m);
        float d1 = d * (float)a, m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (s / 2);
        for (int j = 0; j < 32; j++) {
            int v = ((s & 1) ? q[j] >> 4 : q[j] & 15) | ((qh[j] >> s) & 1) << 4;
            float t = d1 * (float)v;
            y[32 * s + j] = t - m1;
        }
    }
}

static void q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = h(b + 208);
    for (int half = 0; half < 2; half++)
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < 32; j++) {
                int e = 128 * half + 32 * t + j;
                uint8_t l = ql[64 * half + 32 * (t & 1) + j];
                int lo = t >= 2 ? l >> 4 : l & 15;
                int hi = (qh[32 * half + j] >> (2 * t)) & 3;
                float ds = d * (float)scales[e / 16];
                y[e] = ds * (float)((lo | hi << 4) - 32);
            }
}

int gguf_dequant_supported(int type)
{
    switch (type) {
    case GGML_F32: case GGML_F16: case GGML_BF16: case GGML_Q8_0: case GGML_Q4_0: case GGML_Q4_1:
    case GGML_Q5_0: case GGML_Q5_1: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K:
        return 1;
    default:
        return 0;
    }
}

int gguf_dequant(int type, const void *src, size_t n, float *dst)
{
    size_t block, bytes;
    if (!gguf_dequant_supported(type) || gguf_type_size(type, &block, &bytes) || n % block)
        return YS_EUSAGE;
    const uint8_t *s = src;
    switch (type) {
    case GGML_F32:
        memcpy(dst, s, n * 4);
        return 0;
    case GGML_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = f16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        return 0;
    case GGML_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        return 0;
    default:
        break;
    }
    void (*fn)(const uint8_t *, float *) = type == GGML_Q8_0 ? q8_0 : type == GGML_Q4_0 ? q4_0
                                         : type == GGML_Q4_1 ? q4_1 : type == GGML_Q5_0 ? q5_0
                                         : type == GGML_Q5_1 ? q5_1 : type == GGML_Q4_K ? q4_k
                                         : type == GGML_Q5_K ? q5_k : q6_k;
    for (size_t b = 0; b < n / block; b++)
        fn(s + b * bytes, dst + b * block);
    return 0;
}
