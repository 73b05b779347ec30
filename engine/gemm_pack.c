/* gemm_pack.c — packing weights into gemm.h's panels: fp32, 16-bit kept
 * as stored, round-to-nearest quantized (gemm.h, "Quantization"), and
 * BF16 pairs for dot products; many tensors at once on the pool, giving
 * the source back as it goes. The kernels and the driver are in gemm.c. */
#include "gemm_internal.h"

#include <math.h>
#include <stdlib.h>

#include "gguf.h"
#include "ys_error.h"

/* ---- packing -------------------------------------------------------------- */

static size_t elem_size(gm_dtype t) { return t == GM_F32 ? 4 : 2; }   /* a source's element */

int gm_alloc(gm_weights *pw, size_t k, size_t out) { return gm_alloc_dtype(pw, k, out, GM_F32); }

int gm_alloc_dtype(gm_weights *pw, size_t k, size_t out, gm_dtype dtype)
{
    memset(pw, 0, sizeof *pw);
    size_t np = (out + GM_NR - 1) / GM_NR;
    /* 64-byte aligned (the AVX-512 kernel loads whole panel rows), huge
     * pages for large copies (kn_alloc: fewer first-touch faults, and the
     * kernels stream whole panels, fewer TLB misses). k = 0 or out = 0
     * still gets a buffer: panels is never NULL. */
    if (!(pw->panels = kn_alloc(np * k_stored(dtype, k) * row_bytes(dtype))))
        return YS_ENOMEM;
    pw->k = k;
    pw->out = out;
    pw->dtype = dtype;
    return 0;
}

/* Quantized panels: the weights plus each group's scale (and zero point). */
static int alloc_q(gm_weights *pw, size_t k, size_t out, gm_dtype dtype, size_t group, int bits)
{
    if (gm_alloc_dtype(pw, k, out, dtype) != 0)
        return YS_ENOMEM;
    size_t np = gm_panels(pw);
    int whole = dtype == GM_Q8 || (dtype == GM_I8DOT && bits == 8);
    pw->group = whole || group == 0 || group > k ? (k ? k : 1) : group;
    pw->ngroups = k ? (k + pw->group - 1) / pw->group : 1;
    pw->scales = malloc(np * pw->ngroups * GM_NR * sizeof *pw->scales);
    pw->zeros = malloc(np * pw->ngroups * GM_NR);
    if (dtype == GM_I8DOT)
        pw->csums = malloc(np * ((k + GM_I8BLOCK - 1) / GM_I8BLOCK + 1) * GM_NR * sizeof *pw->csums);
    if (!pw->scales || !pw->zeros || (dtype == GM_I8DOT && !pw->csums)) {
        gm_free(pw);
        return YS_ENOMEM;
    }
    return 0;
}

size_t gm_panels(const gm_weights *pw) { return (pw->out + GM_NR - 1) / GM_NR; }

/* GM_GGML: the rows' blocks, panel by panel, interleaved unit by unit
 * (gemm_internal.h, gg_fields); the rows past `out` zero blocks (every
 * type dequantizes all-zero bytes to 0.0f). */
static int alloc_ggml(gm_weights *pw, size_t k, size_t out, int type)
{
    size_t block, bytes;
    gg_field f[5];
    memset(pw, 0, sizeof *pw);
    if (gguf_type_size(type, &block, &bytes) || !gguf_dequant_supported(type) || k % block || !gg_fields(type, f))
        return YS_EUSAGE;
    size_t np = (out + GM_NR - 1) / GM_NR, rowb = k / block * bytes;
    if (!(pw->panels = kn_alloc(np * GM_NR * rowb + 1)))
        return YS_ENOMEM;
    if (out % GM_NR)   /* the last panel, whose missing rows stay zero */
        memset((unsigned char *)pw->panels + (np - 1) * GM_NR * rowb, 0, GM_NR * rowb);
    pw->k = k, pw->out = out, pw->dtype = GM_GGML, pw->ggml_type = type, pw->rowb = rowb;
    return 0;
}

/* The source's bytes per row of a GM_GGML job. */
static size_t ggml_rowb(const gm_job *j)
{
    size_t block, bytes;
    gguf_type_size(j->ggml_type, &block, &bytes);
    return block ? j->k / block * bytes : 0;
}

__attribute__((always_inline)) static inline void pack_range(gm_weights *pw, const void *w, gm_dtype t, size_t ldw,
                                                             kn_layout layout, size_t p0, size_t p1)
{
    size_t k = pw->k, out = pw->out;
    /* [out, k] is transposed in blocks of 32 columns x 16 k (a few cache
     * lines each way) */
    for (size_t p = p0; p < p1; p++) {
        float *d = (float *)pw->panels + p * k * GM_NR;
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

/* The same for 16-bit panels of a 16-bit source: the stored bits, moved. */
static void pack_range16(gm_weights *pw, const uint16_t *w, size_t ldw, kn_layout layout, size_t p0, size_t p1)
{
    size_t k = pw->k, out = pw->out;
    for (size_t p = p0; p < p1; p++) {
        uint16_t *d = (uint16_t *)pw->panels + p * k * GM_NR;
        if (layout == KN_OUT_IN)
            for (size_t k0 = 0; k0 < k; k0 += 32)
                for (size_t j = 0; j < GM_NR; j++) {
                    size_t col = p * GM_NR + j, k1 = k0 + 32 < k ? k0 + 32 : k;
                    for (size_t kk = k0; kk < k1; kk++)
                        d[kk * GM_NR + j] = col < out ? w[col * ldw + kk] : 0;
                }
        else
            for (size_t kk = 0; kk < k; kk++)
                for (size_t j = 0; j < GM_NR; j++)
                    d[kk * GM_NR + j] = p * GM_NR + j < out ? w[kk * ldw + p * GM_NR + j] : 0;
    }
}

/* A source value: column col (an output channel), input kk. */
__attribute__((always_inline)) static inline float src_v(const void *w, gm_dtype t, size_t ldw, kn_layout layout,
                                                         size_t col, size_t kk)
{
    return src_at(w, t, layout == KN_OUT_IN ? col * ldw + kk : kk * ldw + col);
}

/* The scale and zero point of column col's group [k0, k1) (gemm.h,
 * "Quantization"); a column past `out` gets scale 0. */
static void group_scale(const void *w, gm_dtype t, size_t ldw, kn_layout layout, size_t col, size_t out, size_t k0,
                        size_t k1, int bits, int qsym, float *s_out, int *z_out)
{
    float lo = 0.0f, hi = 0.0f;
    int z = bits == 4 && qsym ? 8 : 0;
    for (size_t kk = k0; col < out && kk < k1; kk++) {
        float v = src_v(w, t, ldw, layout, col, kk);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    float a = -lo > hi ? -lo : hi;
    float s = bits == 8 ? a / 127.0f : qsym ? a / 7.0f : (hi - lo) / 15.0f;
    if (bits == 4 && !qsym && s != 0.0f) {
        float zf = rintf(-lo / s);
        z = zf < 0.0f ? 0 : zf > 15.0f ? 15 : (int)zf;
    }
    *s_out = s, *z_out = z;
}

/* The code of value v in a group of scale s != 0 and zero point z: 0..15
 * for 4 bits (z included), -127..127 for 8. */
static int quant_code(float v, float s, int z, int bits, int qsym)
{
    float r = rintf(v / s);
    if (bits == 8)
        return (int)(r < -127.0f ? -127.0f : r > 127.0f ? 127.0f : r);
    if (qsym)
        return (r < -8.0f ? -8 : r > 7.0f ? 7 : (int)r) + 8;
    return (int)(r + (float)z < 0.0f ? 0.0f : r + (float)z > 15.0f ? 15.0f : r + (float)z);
}

/* Round-to-nearest quantization of panels [p0, p1) (gemm.h,
 * "Quantization"): per column and group, the scale (and zero point) from
 * the group's values, then each value's code (every code z where the
 * scale is 0: weight 0). Two passes over the source per group, no buffer. */
static void pack_q(gm_weights *pw, const void *w, gm_dtype t, size_t ldw, kn_layout layout, int qsym, size_t p0,
                   size_t p1)
{
    size_t k = pw->k, out = pw->out, G = pw->group, ng = pw->ngroups, rb = row_bytes(pw->dtype);
    int bits = pw->dtype == GM_Q8 ? 8 : 4;
    for (size_t p = p0; p < p1; p++) {
        unsigned char *d = (unsigned char *)pw->panels + p * k * rb;
        memset(d, 0, k * rb);
        for (size_t j = 0; j < GM_NR; j++) {
            size_t col = p * GM_NR + j;
            for (size_t g = 0; g < ng; g++) {
                size_t k0 = g * G, k1 = k0 + G < k ? k0 + G : k;
                float s;
                int z;
                group_scale(w, t, ldw, layout, col, out, k0, k1, bits, qsym, &s, &z);
                pw->scales[(p * ng + g) * GM_NR + j] = s;
                pw->zeros[(p * ng + g) * GM_NR + j] = (uint8_t)z;
                for (size_t kk = k0; kk < k1; kk++) {
                    int q = col < out && s != 0.0f ? quant_code(src_v(w, t, ldw, layout, col, kk), s, z, bits, qsym) : z;
                    if (bits == 8)
                        d[kk * rb + j] = (unsigned char)(int8_t)q;
                    else   /* byte b holds column b (low nibble) and column b + 16 (high) */
                        d[kk * rb + (j & 15)] |= (unsigned char)(j < 16 ? q : q << 4);
                }
            }
        }
    }
}

/* GM_I8DOT panels: the codes c = q - z as int8, for each quad of k GM_NR
 * dwords holding column j's four codes (vpdpbusd's operand layout), and
 * each column's sum of codes per block of 32 k. */
static void pack_i8dot(gm_weights *pw, const void *w, gm_dtype t, size_t ldw, kn_layout layout, int bits, int qsym,
                       size_t p0, size_t p1)
{
    size_t k = pw->k, out = pw->out, G = pw->group, ng = pw->ngroups, kq = k_stored(GM_I8DOT, k) / 4;
    size_t nb = (k + GM_I8BLOCK - 1) / GM_I8BLOCK;
    for (size_t p = p0; p < p1; p++) {
        int8_t *d = (int8_t *)pw->panels + p * kq * 4 * GM_NR;
        memset(d, 0, kq * 4 * GM_NR);
        for (size_t j = 0; j < GM_NR; j++) {
            size_t col = p * GM_NR + j;
            for (size_t b = 0; b < nb; b++)
                pw->csums[(p * nb + b) * GM_NR + j] = 0;
            for (size_t g = 0; g < ng; g++) {
                size_t k0 = g * G, k1 = k0 + G < k ? k0 + G : k;
                float s;
                int z;
                group_scale(w, t, ldw, layout, col, out, k0, k1, bits, qsym, &s, &z);
                pw->scales[(p * ng + g) * GM_NR + j] = s;
                for (size_t kk = k0; kk < k1; kk++) {
                    int q = col < out && s != 0.0f ? quant_code(src_v(w, t, ldw, layout, col, kk), s, z, bits, qsym) : z;
                    d[(kk / 4 * GM_NR + j) * 4 + kk % 4] = (int8_t)(q - z);
                    pw->csums[(p * nb + kk / GM_I8BLOCK) * GM_NR + j] += q - z;
                }
            }
        }
    }
}

/* GM_BF16DOT panels: for each pair of k, GM_NR dwords holding the BF16 of
 * k = 2i in the low half and of 2i + 1 in the high half (vdpbf16ps's
 * operand layout). */
static void pack_bf16dot(gm_weights *pw, const void *w, gm_dtype t, size_t ldw, kn_layout layout, size_t p0,
                         size_t p1)
{
    size_t k = pw->k, out = pw->out, kp = k_stored(GM_BF16DOT, k) / 2;
    for (size_t p = p0; p < p1; p++) {
        uint32_t *d = (uint32_t *)pw->panels + p * kp * GM_NR;
        for (size_t i = 0; i < kp; i++)
            for (size_t j = 0; j < GM_NR; j++) {
                size_t col = p * GM_NR + j;
                uint32_t v = 0;
                for (size_t h = 0; h < 2; h++) {
                    size_t kk = 2 * i + h;
                    if (col < out && kk < k)
                        v |= (uint32_t)bf16_rne_daz(src_at(w, t, layout == KN_OUT_IN ? col * ldw + kk : kk * ldw + col))
                             << (16 * h);
                }
                d[i * GM_NR + j] = v;
            }
    }
}

/* Panels [p0, p1) of pw (of its dtype) from a source of type t: 16-bit
 * panels only from a source of the same type (gm_pack_all checks). */
static void pack_any(gm_weights *pw, const void *w, gm_dtype t, size_t ldw, kn_layout layout, int qsym, int qbits,
                     size_t p0, size_t p1)
{
    if (pw->dtype == GM_I8DOT) {
        pack_i8dot(pw, w, t, ldw, layout, qbits, qsym, p0, p1);
        return;
    }
    if (pw->dtype == GM_BF16DOT) {
        pack_bf16dot(pw, w, t, ldw, layout, p0, p1);
        return;
    }
    if (pw->dtype == GM_Q8 || pw->dtype == GM_Q4) {
        pack_q(pw, w, t, ldw, layout, qsym, p0, p1);
        return;
    }
    if (pw->dtype != GM_F32) {
        pack_range16(pw, w, ldw, layout, p0, p1);
        return;
    }
    switch (t) {
    case GM_F16: pack_range(pw, w, GM_F16, ldw, layout, p0, p1); break;
    case GM_BF16: pack_range(pw, w, GM_BF16, ldw, layout, p0, p1); break;
    default: pack_range(pw, w, GM_F32, ldw, layout, p0, p1); break;
    }
}

/* A quantized weight (q - z) * s, column j, k index kk. */
static float q_weight(const gm_weights *pw, size_t j, size_t kk)
{
    size_t p = j / GM_NR, c = j % GM_NR, rb = row_bytes(pw->dtype);
    const unsigned char *d = (const unsigned char *)pw->panels + p * pw->k * rb + kk * rb;
    size_t gi = (p * pw->ngroups + kk / pw->group) * GM_NR + c;
    int q = pw->dtype == GM_Q8 ? (int)(int8_t)d[c] : c < 16 ? d[c] & 15 : d[c - 16] >> 4;
    return (float)(q - (int)pw->zeros[gi]) * pw->scales[gi];
}

void gm_weights_row(const gm_weights *pw, size_t j, float *out)
{
    size_t off = j / GM_NR * pw->k * GM_NR + j % GM_NR;
    if (pw->dtype == GM_GGML || pw->dtype == GM_GGML_I8) {   /* the row's blocks gathered from their units, then dequantized */
        size_t block, bytes;
        gguf_type_size(pw->ggml_type, &block, &bytes);
        unsigned char blk[256];
        const unsigned char *panel = (const unsigned char *)pw->panels + j / GM_NR * GM_NR * pw->rowb;
        for (size_t u = 0; u < pw->k / block; u++) {
            gg_get(pw->ggml_type, panel + u * GM_NR * bytes, j % GM_NR, blk);
            gguf_dequant(pw->ggml_type, blk, block, out + u * block);
        }
        return;
    }
    if (pw->dtype == GM_I8DOT) {
        size_t p = j / GM_NR, c = j % GM_NR, kq = k_stored(GM_I8DOT, pw->k) / 4;
        const int8_t *d = (const int8_t *)pw->panels + p * kq * 4 * GM_NR;
        for (size_t kk = 0; kk < pw->k; kk++)
            out[kk] = (float)d[(kk / 4 * GM_NR + c) * 4 + kk % 4] * pw->scales[(p * pw->ngroups + kk / pw->group) * GM_NR + c];
        return;
    }
    if (pw->dtype == GM_BF16DOT) {
        const uint32_t *d = (const uint32_t *)pw->panels + j / GM_NR * (k_stored(GM_BF16DOT, pw->k) / 2) * GM_NR;
        for (size_t kk = 0; kk < pw->k; kk++)
            out[kk] = bf16_to_f32((uint16_t)(d[kk / 2 * GM_NR + j % GM_NR] >> (16 * (kk & 1))));
        return;
    }
    for (size_t kk = 0; kk < pw->k; kk++)
        out[kk] = pw->dtype == GM_Q8 || pw->dtype == GM_Q4 ? q_weight(pw, j, kk)
                  : pw->dtype == GM_F32 ? ((const float *)pw->panels)[off + kk * GM_NR]
                                        : src_at(pw->panels, pw->dtype, off + kk * GM_NR);
}

void gm_pack_panels(gm_weights *pw, const float *w, size_t ldw, kn_layout layout, size_t p0, size_t p1)
{
    pack_any(pw, w, GM_F32, ldw, layout, 0, 0, p0, p1);
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

static size_t job_span(const gm_job *j)   /* in bytes */
{
    if (j->dtype == GM_GGML)
        return j->out * ggml_rowb(j);
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
    size_t lo = kn_item_owner(c->first, c->n, item);   /* the job owning item */
    const gm_job *j = &c->jobs[lo];
    size_t np = gm_panels(j->pw);
    if (j->layout != KN_OUT_IN) {
        pack_any(j->pw, j->w, j->dtype, j->ldw, j->layout, j->qsym, j->qbits, 0, np);
        if (c->release)
            c->release(c->user, j->w, job_span(j));
        return;
    }
    size_t p0 = (item - c->first[lo]) * GM_SLICE, p1 = p0 + GM_SLICE < np ? p0 + GM_SLICE : np;
    size_t r1 = p1 * GM_NR < j->out ? p1 * GM_NR : j->out, es = elem_size(j->dtype);
    if (j->dtype == GM_GGML) {   /* the blocks as stored, interleaved unit by unit */
        size_t rb = j->pw->rowb, block, bytes;
        gguf_type_size(j->ggml_type, &block, &bytes);
        const unsigned char *src = (const unsigned char *)j->w + p0 * GM_NR * rb;
        if (r1 > p0 * GM_NR) {
            for (size_t r = p0 * GM_NR; r < r1; r++) {
                unsigned char *panel = (unsigned char *)j->pw->panels + r / GM_NR * GM_NR * rb;
                for (size_t u = 0; u < j->k / block; u++)
                    gg_put(j->ggml_type, panel + u * GM_NR * bytes, r % GM_NR,
                           (const unsigned char *)j->w + r * rb + u * bytes);
            }
            if (c->release)
                c->release(c->user, src, (r1 - p0 * GM_NR) * rb);
        }
        return;
    }
    pack_any(j->pw, j->w, j->dtype, j->ldw, j->layout, j->qsym, j->qbits, p0, p1);
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
    int fail = 0;
    for (; done < n; done++) {
        const gm_job *j = &jobs[done];
        gm_dtype pt = j->packed == j->dtype || j->packed == GM_BF16DOT ? j->packed : GM_F32;
        int i8 = j->packed == GM_GGML_I8;   /* the GM_GGML panels, another product (gemm_ggml_i8.c) */
        int rc = j->dtype == GM_GGML || j->packed == GM_GGML || i8
                     ? (j->dtype == GM_GGML && (j->packed == GM_GGML || (i8 && gm_ggml_i8_supported(j->ggml_type))) &&
                                j->layout == KN_OUT_IN && j->ldw == j->k
                            ? alloc_ggml(j->pw, j->k, j->out, j->ggml_type) : YS_EUSAGE)
                 : j->packed == GM_Q8 || j->packed == GM_Q4 || j->packed == GM_I8DOT
                     ? alloc_q(j->pw, j->k, j->out, j->packed, j->qgroup, j->qbits)
                                                           : gm_alloc_dtype(j->pw, j->k, j->out, pt);
        if (rc != 0) {
            fail = rc;
            break;
        }
        if (i8)
            j->pw->dtype = GM_GGML_I8;
    }
    if (done < n) {
        for (size_t i = 0; i < done; i++)
            gm_free(jobs[i].pw);
        free(first);
        return fail;
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
    free(pw->scales);
    free(pw->zeros);
    free(pw->csums);
    memset(pw, 0, sizeof *pw);
}
