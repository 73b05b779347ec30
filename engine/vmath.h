/* vmath.h — the engine's exp-based row functions (softmax sums, GELU,
 * SiLU, soft-cap), vectorised, with the same bits on every instruction set.
 *
 * Why: attention's softmax, the vocabulary log-softmax and the MLP
 * activations call exp ~130 million times per 1024-token GPT-2 window;
 * libm's scalar expf/exp made them a fifth of the forward pass. Why not
 * a vector libm: the engine promises that a sequence's numbers do not
 * depend on the machine's vector width (gemm.h), so every element here
 * goes through one fixed sequence of fp32 operations (vm_expf: range
 * reduction by ln 2 in two fused steps, a degree-7 polynomial, exponent
 * add), which the AVX-512, AVX2 and scalar paths spell identically; and a
 * sum is taken in double in 16 fixed lanes (element j into lane j mod 16,
 * then lanes folded 8, 4, 2, 1 apart) whatever the register width.
 *
 * vm_expf's error against the exact value is below 2 ulp on [-86, 88.37];
 * below -86 it returns 0 and above 88.37 +inf (e^-86 is 4e-38: nothing
 * these functions compute can tell); NaN gives NaN.
 * All functions cannot fail and allocate nothing; isa as in gemm.h
 * (GM_ISA_AUTO: the best the CPU has). */
#ifndef YS_ENGINE_VMATH_H
#define YS_ENGINE_VMATH_H

#include <stddef.h>

#include "gemm.h"

float vm_expf(float x);

/* sum over j < n of exp(x[j] - shift), with out[j] = exp(x[j] - shift)
 * when out is not NULL (out may be x). */
double vm_exp_sum(gm_isa isa, float *out, const float *x, size_t n, float shift);

/* x[j] = GELU's tanh approximation of x[j], as x * sigmoid(2u) with
 * u = sqrt(2/pi) (x + 0.044715 x^3). */
void vm_gelu_tanh(gm_isa isa, float *x, size_t n);

/* x[j] = the exact GELU, x * (1 + erf(x / sqrt 2)) / 2 (BERT, GPT-NeoX),
 * with Phi from erfc where it is small, so negative x keep their relative
 * accuracy (torch's fp32 formula loses it in 1 + erf): within 6 ulp of
 * the double function on |x| <= 40 (4.8 measured, test_vmath). */
void vm_gelu_erf(gm_isa isa, float *x, size_t n);
/* g[j] = silu(g[j]) * u[j] = g / (1 + exp(-g)) * u: Llama's gated MLP. */
void vm_silu_mul(gm_isa isa, float *g, const float *u, size_t n);
/* z[j] = cap * tanh(z[j] / cap): Gemma 2's soft-cap (cap > 0), with
 * tanh y as an odd polynomial on |y| < 0.5 and (1 - e) / (1 + e),
 * e = vm_expf(-2|y|), beyond (sign restored): within 3 ulp of cap * tanh
 * of the fp32 quotient z / cap (HF computes that quotient in fp32 too). */
void vm_softcap(gm_isa isa, float *z, size_t n, float cap);

#endif
