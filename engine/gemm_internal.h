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

#endif
