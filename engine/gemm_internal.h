/* gemm_internal.h — what gemm_pack.c (packing, quantization) and gemm.c
 * (kernels, driver) share: the panels' row sizes and the element
 * conversions both sides must agree on. Not a public API. */
#ifndef YS_ENGINE_GEMM_INTERNAL_H
#define YS_ENGINE_GEMM_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "f16.h"
#include "gemm.h"

/* Bytes of one panel row (GM_NR weights of one k). */
static inline size_t row_bytes(gm_dtype t)
{
    return t == GM_F32 ? GM_NR * 4 : t == GM_Q8 || t == GM_I8DOT ? GM_NR : t == GM_Q4 ? GM_NR / 2 : GM_NR * 2;
}

/* k rows stored per panel: GM_BF16DOT pads k to pairs, GM_I8DOT to quads
 * (vpdpbusd sums 4 k per lane). */
static inline size_t k_stored(gm_dtype t, size_t k)
{
    return t == GM_BF16DOT ? (k + 1) & ~(size_t)1 : t == GM_I8DOT ? (k + 3) & ~(size_t)3 : k;
}

#define GM_I8BLOCK 32   /* k per activation block of GM_I8DOT */

/* fp32 -> bf16, round to nearest even, subnormals to (signed) zero, NaN
 * kept quiet: the rounding of GM_BF16DOT's weights and activations. */
static inline uint16_t bf16_rne_daz(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0)
        return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7f800000u) == 0x7f800000u)
        return (uint16_t)((u >> 16) | ((u & 0x7fffffu) ? 0x40u : 0));
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Element i of a source of dtype t (or of a 16-bit panel), as a float
 * (exact). always_inline: the loops that use it are instantiated per
 * constant dtype. */
__attribute__((always_inline)) static inline float src_at(const void *w, gm_dtype t, size_t i)
{
    if (t == GM_F32)
        return ((const float *)w)[i];
    uint16_t h;
    memcpy(&h, (const unsigned char *)w + 2 * i, 2);
    return t == GM_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

/* GM_GGML panels (gemm.h, "GGUF blocks"): a panel holds its 32 rows' k
 * in units of one block of the type (32 k, or 256 for the K types), and a
 * unit holds the 32 rows' blocks field by field, each field's elements
 * interleaved across the rows: a field of n elements of w bytes at byte o
 * of the block is stored at byte 32 * o of the unit, element i of row c at
 * 32 * o + (i * 32 + c) * w. The bytes are the file's, rearranged (a
 * unit is 32 blocks' bytes), so the kernels can dequantize 16 or 32 rows'
 * weights of one k with the same vector operations: the d of 32 rows is
 * one load, their codes of one k another. F32/F16/BF16 (one element per
 * block) give the fp32 and 16-bit panel layouts. */
typedef struct gg_field {
    uint8_t off, n, w;
} gg_field;

/* The fields of a block of type (gguf.h codes), in block order; returns
 * their count (0: not a type GM_GGML stores). */
static inline int gg_fields(int type, gg_field f[5])
{
    static const gg_field q8_0[] = {{0, 1, 2}, {2, 32, 1}}, q4_0[] = {{0, 1, 2}, {2, 16, 1}},
                          q4_1[] = {{0, 1, 2}, {2, 1, 2}, {4, 16, 1}}, q5_0[] = {{0, 1, 2}, {2, 1, 4}, {6, 16, 1}},
                          q5_1[] = {{0, 1, 2}, {2, 1, 2}, {4, 1, 4}, {8, 16, 1}},
                          q4_k[] = {{0, 1, 2}, {2, 1, 2}, {4, 12, 1}, {16, 128, 1}},
                          q5_k[] = {{0, 1, 2}, {2, 1, 2}, {4, 12, 1}, {16, 32, 1}, {48, 128, 1}},
                          q6_k[] = {{0, 128, 1}, {128, 64, 1}, {192, 16, 1}, {208, 1, 2}}, f32[] = {{0, 1, 4}},
                          f16[] = {{0, 1, 2}};
    const gg_field *t;
    int n;
#define GG_T(a) (t = a, n = (int)(sizeof a / sizeof a[0]))
    switch (type) {
    case 8: GG_T(q8_0); break;   /* GGML_Q8_0 */
    case 2: GG_T(q4_0); break;   /* GGML_Q4_0 */
    case 3: GG_T(q4_1); break;   /* GGML_Q4_1 */
    case 6: GG_T(q5_0); break;   /* GGML_Q5_0 */
    case 7: GG_T(q5_1); break;   /* GGML_Q5_1 */
    case 12: GG_T(q4_k); break;  /* GGML_Q4_K */
    case 13: GG_T(q5_k); break;  /* GGML_Q5_K */
    case 14: GG_T(q6_k); break;  /* GGML_Q6_K */
    case 0: GG_T(f32); break;    /* GGML_F32 */
    case 1: case 30: GG_T(f16); break;   /* GGML_F16, GGML_BF16 */
    default: return 0;
    }
#undef GG_T
    memcpy(f, t, (size_t)n * sizeof *t);
    return n;
}

/* Block c of a unit from the block as stored in the file (gg_put), and
 * back (gg_get). */
static inline void gg_put(int type, unsigned char *unit, size_t c, const unsigned char *blk)
{
    gg_field f[5];
    int nf = gg_fields(type, f);
    for (int i = 0; i < nf; i++)
        for (size_t e = 0; e < f[i].n; e++)
            memcpy(unit + 32 * (size_t)f[i].off + (e * 32 + c) * f[i].w, blk + f[i].off + e * f[i].w, f[i].w);
}
static inline void gg_get(int type, const unsigned char *unit, size_t c, unsigned char *blk)
{
    gg_field f[5];
    int nf = gg_fields(type, f);
    for (int i = 0; i < nf; i++)
        for (size_t e = 0; e < f[i].n; e++)
            memcpy(blk + f[i].off + e * f[i].w, unit + 32 * (size_t)f[i].off + (e * 32 + c) * f[i].w, f[i].w);
}

/* ---- between gemm.c and gemm_ggml.c ---- */

/* gemm.c's epilogue (bias, activation, = or +=) of rows [row, row + mr)
 * of columns [col, col + ncols) from tile[r * GM_NR + j]: one routine for
 * every path. */
void gm_epilogue(const gm_call *c, float *tile, size_t row, int mr, size_t col, size_t ncols);

/* gm_run on quantized GM_GGML panels (gemm_ggml.c), isa resolved. */
void gg_run(kn_pool *pool, const gm_call *c, gm_isa isa);
/* gm_run on GM_Q8 and GM_Q4 panels (gemm_quant.c), isa resolved. */
void gq_run(kn_pool *pool, const gm_call *c, gm_isa isa);

#endif
