/* f16.h — IEEE half and bfloat16 to float, exactly (every value of both
 * is a float). Shared by the checkpoint loader, which converts tensors
 * it is asked for, and the GEMM packer, which converts weights as it
 * packs them so that no float copy of a half-precision checkpoint is ever
 * made just to be copied again. */
#ifndef YS_ENGINE_F16_H
#define YS_ENGINE_F16_H

#include <stdint.h>
#include <string.h>

static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);          /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);  /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;                                       /* +-0 */
    } else {
        /* subnormal: value = man * 2^-24, exactly representable as a float */
        float f = (float)man * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#endif
