/* gemm_ggml_i8.h — internal to the GEMM: what gemm.c and gemm_ggml_i8.c
 * (gemm.h, "int8 dot products on GGUF blocks") share. Not a public API. */
#ifndef YS_ENGINE_GEMM_GGML_I8_H
#define YS_ENGINE_GEMM_GGML_I8_H

#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

/* gemm.c: GM_I8DOT's row quantization (codes + 128, k padded to kq4 with
 * 128; a scale per 32 k), one definition so that the two int8 products
 * quantize alike. (gm_run's epilogue, gm_epilogue, is in gemm_internal.h.) */
void gm_quant_row(const float *x, size_t k, size_t kq4, uint8_t *q, float *d);

/* gemm_ggml_i8.c: gm_run for a GM_GGML_I8 weight. */
void gm_ggml_i8_run(kn_pool *pool, const gm_call *c);

/* For the tests: sub-block s of a panel's unit u (gemm_internal.h,
 * gg_fields) as the kernels read it: codes[q][GM_NR][4] (the unsigned
 * codes of k 4q .. 4q + 3 of each column) and the factors D[GM_NR],
 * E[GM_NR] (gemm.h), by the path isa would run. */
void gm_ggml_i8_unpack(int type, const unsigned char *u, size_t s, gm_isa isa, uint8_t codes[1024], float D[32],
                       float E[32]);

/* For the tests: a row of k (a multiple of 32) quantized as the path isa
 * would run does it (gemm.h): int8 codes, block scales, half sums. */
void gm_ggml_i8_quant(const float *x, size_t k, gm_isa isa, int8_t *q, float *d, int32_t *lo, int32_t *hi);

#endif
