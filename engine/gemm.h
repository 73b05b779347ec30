/* gemm.h — y[n, out] (=|+=) act(x[n, k] W^T + bias) with W packed once.
 *
 * Determinism by construction. Every output element is the same fixed
 * sequence of fp32 operations whatever n, whatever the other rows, the
 * thread count, the blocking or the instruction set:
 *     acc = 0; for kk = 0 .. k-1: acc = fma(x[i,kk], W[j,kk], acc);
 *     t = acc + bias[j] (if bias); t = act(t); y[i,j] = accumulate ? y[i,j] + t : t
 * The vector kernels broadcast x[i,kk] and FMA it into accumulators that
 * each hold 16 (AVX-512) or 8 (AVX2) columns j, which is that sequence per
 * lane; the scalar fallback spells it with fmaf(); the epilogue (bias,
 * activation, accumulate) is one scalar routine shared by all paths. So a
 * row's bits depend only on that row and W: rows of many sequences can go
 * through one call without changing any sequence's numbers (unlike
 * OpenBLAS, kernels.h). There is no split-k and no reassociation.
 * Quantized panels compute another fixed sequence, each block's or
 * group's scale factored out of its k loop ("Quantization", "GGUF
 * blocks"), with the same guarantees.
 *
 * Ownership: gm_pack allocates the packed copy (about k * out * 4 bytes,
 * `out` rounded up to GM_NR) into *pw; the caller owns it (typically its
 * model) and releases it with gm_free. The source weight is only read
 * during gm_pack. gm_run borrows everything it is given.
 * Errors: gm_pack returns 0 or YS_ENOMEM (gm_pack_all also YS_EUSAGE for
 * a GM_GGML job it cannot take, see "GGUF blocks"); gm_run cannot fail.
 */
#ifndef YS_ENGINE_GEMM_H
#define YS_ENGINE_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#define GM_NR 32    /* output columns per packed panel */

/* A weight's element type: a source's as stored, or the packed panels'. */
typedef enum { GM_F32, GM_F16, GM_BF16, GM_Q8, GM_Q4, GM_BF16DOT, GM_I8DOT, GM_GGML, GM_GGML_I8 } gm_dtype;

/* W packed as ceil(out / GM_NR) column panels; panel p holds, for kk
 * ascending, the GM_NR weights W[p*GM_NR + j, kk] (zero past `out`), as
 * fp32 (dtype GM_F32) or as the 16-bit values a half-precision checkpoint
 * stores (GM_F16, GM_BF16: half the memory and half the bytes streamed per
 * product). The kernels widen a 16-bit panel row to fp32 in registers
 * before the same fused multiply-adds, and the widening is exact, so a
 * product through 16-bit panels has the bits of the product through fp32
 * panels of the same values. */
typedef struct gm_weights {
    void *panels;
    size_t k, out;
    gm_dtype dtype;
    /* quantized panels (GM_Q8, GM_Q4; see "Quantization" below): the
     * scale and zero point of each group of `group` consecutive k of each
     * column, [panel][group][GM_NR] */
    size_t group, ngroups;
    float *scales;
    uint8_t *zeros;
    int32_t *csums;       /* GM_I8DOT: each column's sum of codes per block of 32 k, [panel][block][GM_NR] */
    int ggml_type;        /* GM_GGML: the blocks' type (gguf.h), and the bytes of one column's k values */
    size_t rowb;
} gm_weights;

/* W[j, 0..k) as floats (exact): a tied embedding's row read back from the
 * packed head. */
void gm_weights_row(const gm_weights *pw, size_t j, float *out);

/* w is nn.Linear's [out, k] (KN_OUT_IN) or Conv1D's [k, out] (KN_IN_OUT),
 * row stride ldw. */
int gm_pack(gm_weights *pw, const float *w, size_t ldw, kn_layout layout, size_t k, size_t out);
void gm_free(gm_weights *pw);   /* idempotent; leaves *pw zeroed */

/* gm_pack in steps, for a caller that gives back the source as it goes
 * (a [out, k] source's panels p0..p1 read only its rows p0*GM_NR ..
 * p1*GM_NR): gm_alloc allocates the panels (contents undefined, 0 or
 * YS_ENOMEM); gm_pack_panels fills panels [p0, p1) from w, the whole
 * source as gm_pack takes it. Every panel must be filled once before use. */
int gm_alloc(gm_weights *pw, size_t k, size_t out);
int gm_alloc_dtype(gm_weights *pw, size_t k, size_t out, gm_dtype dtype);
size_t gm_panels(const gm_weights *pw);   /* ceil(out / GM_NR) */
void gm_pack_panels(gm_weights *pw, const float *w, size_t ldw, kn_layout layout, size_t p0, size_t p1);

/* Many tensors packed at once on pool's threads (NULL: the caller's),
 * e.g. a whole model at load. Every job's panels are allocated first (on
 * failure nothing stays allocated and YS_ENOMEM is returned, else 0); then
 * the work is shared out, an [out, k] source in slices of GM_SLICE panels.
 * When release is not NULL it is called, from any thread, with each span of
 * a source that has been read for the last time (a slice's rows, or a
 * whole source; in bytes), and once more for every whole source at the end
 * (spans of strided sources may overlap) — so a caller that packs from a
 * memory map can give the pages back as it goes and the peak holds little
 * twice. Half-precision sources are packed as they are stored (`packed`
 * equal to `dtype`) or converted to fp32 as they are packed (`packed`
 * GM_F32): no float copy of them is ever made. */
typedef struct gm_job {
    gm_weights *pw;
    const void *w;        /* elements of `dtype` */
    size_t ldw;
    kn_layout layout;
    size_t k, out;
    gm_dtype dtype;
    gm_dtype packed;      /* the panels' type: GM_F32, dtype itself, or quantized (GM_Q8, GM_Q4) */
    size_t qgroup;        /* GM_Q4: k per group (GM_Q8: the whole k) */
    int qsym;             /* GM_Q4: symmetric (no zero point; z = 8) */
    int qbits;            /* GM_I8DOT: the weights' scheme, 8 (as GM_Q8) or 4 (as GM_Q4) */
    int ggml_type;        /* dtype GM_GGML: the source's block type (gguf.h) */
} gm_job;
#define GM_SLICE 64
typedef void (*gm_release_fn)(void *user, const void *src, size_t bytes);
int gm_pack_all(kn_pool *pool, const gm_job *jobs, size_t n, gm_release_fn release, void *user);

/* ---- Quantization ---------------------------------------------------------
 * Round-to-nearest weight quantization, applied when a job is packed as
 * GM_Q8 or GM_Q4 (the source is read as fp32, half precision widened
 * exactly). Column j of W (an output channel, W[j, 0..k)) in groups of G
 * consecutive k, [g*G, min((g+1)*G, k)) (GM_Q8: one group, G = k); all
 * arithmetic in fp32, divisions rounded to nearest, rint() halves to even:
 *   GM_Q8 (symmetric): a = max |W|, s = a / 127; q = clamp(rint(W / s),
 *          -127, 127) (all 0 when s == 0); the weight is q * s.
 *   GM_Q4 (zero point): lo = min(0, min W), hi = max(0, max W),
 *          s = (hi - lo) / 15; z = clamp(rint(-lo / s), 0, 15),
 *          q = clamp(rint(W / s) + z, 0, 15) (z = q = 0 when s == 0); the
 *          weight is (q - z) * s.
 *   GM_Q4, qsym: a = max |W|, s = a / 7; q = clamp(rint(W / s), -8, 7) + 8,
 *          z = 8 (q = 8 when s == 0).
 * The product keeps activations fp32 and factors each group's scale out
 * of its k loop (as for GGUF blocks below). Per output, over the column's
 * groups g in k order from t = 0 (gemm_quant.c):
 *     a = 0; for k in g ascending: a = fma(x[k], (float) q[k], a)
 *     t = fma(a, s_g, t)
 *     GM_Q4 only: t = fma(-(s_g * (float) z_g), xsum_g, t)
 * with q the stored code (GM_Q8: the int8 q; GM_Q4: the 4-bit q, 0..15,
 * the zero point folded in by the last line, its product s z rounded to
 * fp32 once) and xsum_g the row's fp32 sum over g, t = 0; t = t + x[k]
 * for k ascending. Since a weight is (q - z) s, this is the dequantized
 * weights' product up to fp32 rounding, with one multiply per group where
 * widening each weight cost one per weight. Routes: up to 12 rows with
 * AVX-512 (decoding), kernels read the codes (a table permute for 4-bit
 * ones) straight into the chains — one row of 4-bit codes runs three
 * groups' chains side by side, folded in group order; otherwise a panel's codes are widened
 * to fp32 once per work item for grouped fp32 kernels; every ISA, route
 * and thread count gives the same bits. gm_weights_row reads back the
 * dequantized weights (q - z) * s. */

/* ---- GGUF blocks (GM_GGML) -----------------------------------------------
 * Weights quantized by llama.cpp, kept in their stored blocks: a GM_GGML
 * job's source is an nn.Linear [out, k] whose rows are ggml blocks of
 * ggml_type (gguf.h: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, or
 * F32/F16/BF16), k a whole number of blocks, ldw == k, layout KN_OUT_IN
 * (row ranges of a fused tensor: off a multiple of k). Packing keeps the
 * file's bytes (the same size, `rowb` per row) but interleaves a panel's
 * 32 rows block by block and field by field (gemm_internal.h, gg_fields:
 * the scales of 32 rows side by side, then their codes of each k), so
 * that 16 rows' weights of one k dequantize with one vector operation;
 * gm_weights_row gathers a row back (the values gguf_dequant gives).
 * The product keeps activations fp32 and factors each sub-block's scale
 * out of its k loop. A row's k is cut into sub-blocks of 32 consecutive k
 * (a Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 block; 1/8 of a K block), and per output,
 * over the sub-blocks in k order from t = 0:
 *     a = 0; for k in the sub-block ascending: a = fma(x[k], (float) c[k], a)
 *     t = fma(a, s, t);  then, types with a min: t = fma(m, xsum, t)
 * Q4_0 and Q6_K split each sub-block in two halves of 16 k (Q4_0: the
 * low nibbles, then the high ones), each with its own a (from 0) and
 * scale, folded in that order. c, s and m per type (d, dmin
 * the block's fp16 fields widened exactly; sc, mn the sub-block's 6-bit
 * scale and min, Q6_K's 8-bit scale of the 16 k; q the stored code):
 *     Q8_0  c = q,       s = d
 *     Q4_0  c = q - 8,   s = d          Q5_0  c = q - 16,  s = d
 *     Q4_1  c = q,       s = d, m = the block's fp16 min     (Q5_1 alike)
 *     Q4_K  c = q,       s = d * sc, m = -(dmin * mn)        (Q5_K alike)
 *     Q6_K  c = q - 32,  s = d * sc
 * (each product of an fp16 by a small integer is exact in fp32), and
 * xsum is the row's sum over the sub-block in fp32, t = 0; t = t + x[k]
 * for k ascending. Since a weight is s c + m exactly, this is the
 * dequantized weights' product up to fp32 rounding; it spends one multiply
 * per sub-block where the exact weights cost one per weight. The bits
 * depend on nothing but x's row and the blocks: every route, ISA and
 * thread count computes this sequence. Routes (gemm_ggml.c): up to 8 rows
 * (decoding) with AVX-512, fused kernels for Q8_0, Q4_0, Q4_K, Q5_K and
 * Q6_K turn 16 columns' codes into floats in registers and fold each
 * sub-block into the totals (two panels per pass); up to 24 rows (and the
 * other types or ISAs), each sub-block's codes are widened into an L1
 * tile and the totals carried from one sub-block to the next; more rows
 * (scoring), a panel's codes, scales and mins are widened once per item.
 * F32/F16/BF16 units are the fp32/16-bit panels and run their kernels
 * (the fp32 function above, unchanged). */

/* ---- BF16 dot products (GM_BF16DOT) -------------------------------------
 * Opt-in faster arithmetic, as GPU evaluation in bfloat16 does: weights
 * packed as BF16 (rounded to nearest even from F32 or F16 sources, BF16
 * kept), activations rounded the same way when the product starts, and
 * per output element, for each pair of k (2i, 2i+1) ascending:
 *     acc = acc + x[2i+1] * w[2i+1];  acc = acc + x[2i] * w[2i]
 * in fp32 with subnormal inputs and results flushed to zero (the products
 * of two BF16 values are exact). That is the AVX512_BF16 instruction
 * vdpbf16ps, which runs it where the CPU has it; elsewhere the same
 * function is computed with fp32 arithmetic (same bits). An odd k gets a
 * zero last weight. */

/* ---- int8 dot products (GM_I8DOT) ---------------------------------------
 * Opt-in faster arithmetic on quantized weights, as llama.cpp computes:
 * the weights quantized as GM_Q8 or GM_Q4 ("Quantization"; their codes
 * c = q - z kept as int8, 4-bit ones included), and each row of
 * activations quantized when the product starts, in blocks of 32 k:
 * d = max |x| / 127, xq = clamp(rint(x / d), -127, 127) (0 when d = 0).
 * Per output element:
 *     total = 0; for each weight group g ascending:
 *         acc = 0; for each block b of g ascending (g is whole blocks):
 *             acc = fma((float) sum over k in b of xq[k] * c[k], d_b, acc)
 *         total = fma(acc, s_g, total)
 * The integer sums are exact (and so independent of how they are added);
 * AVX512_VNNI's vpdpbusd computes them where the CPU has it, a scalar path
 * elsewhere (same bits, slower). Groups must be multiples of 32 k. */

typedef enum { GM_ACT_NONE, GM_ACT_GELU_ERF, GM_ACT_GELU_TANH, GM_ACT_RELU } gm_act;

/* Which kernel runs. GM_ISA_AUTO (0) picks the best the CPU has; the
 * others force a path (tests, benchmarks); a path the CPU lacks
 * (!gm_isa_supported) falls back to AUTO. All give the same bits. */
typedef enum { GM_ISA_AUTO, GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512 } gm_isa;
int gm_isa_supported(gm_isa isa);
/* The CPU has AVX512_BF16 (vdpbf16ps): GM_BF16DOT products run at about
 * twice the fp32 rate. Without it they are emulated, slower, same bits. */
int gm_bf16_native(void);
/* The CPU has AVX512_VNNI (vpdpbusd) for GM_I8DOT products. */
int gm_vnni_native(void);
/* The path that runs for isa: itself when the CPU has it, else AUTO's
 * choice (never an illegal instruction). vmath.h uses the same rule. */
gm_isa gm_isa_resolve(gm_isa isa);

typedef struct gm_call {
    const float *x; size_t ldx;     /* [n, w->k], row stride ldx */
    const gm_weights *w;
    const float *bias;              /* [w->out] or NULL */
    float *y; size_t ldy;           /* [n, w->out], row stride ldy; must not overlap x */
    size_t n;
    int accumulate;                 /* 1: y += result (a residual stream) */
    gm_act act;
    gm_isa isa;
    uint32_t *scratch;              /* GM_BF16DOT weights: n * ceil(k / 2) dwords for the rounded
                                       rows, or NULL (gm_run allocates, or works in small chunks) */
} gm_call;

/* Runs the product, sharing (row block, column block) items over pool's
 * threads; pool NULL runs it all on the calling thread. */
void gm_run(kn_pool *pool, const gm_call *c);

/* ---- int8 dot products on GGUF blocks (GM_GGML_I8) -----------------------
 * `--compute int8` on a GGUF file, as llama.cpp computes: a GM_GGML job
 * packed as GM_GGML_I8 keeps the GM_GGML panels byte for byte (the file's
 * blocks, interleaved as "GGUF blocks" says; gm_weights_row still gives
 * the exact dequantized row) and runs another function. Block types: Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (gm_ggml_i8_supported); F32,
 * F16 and BF16 tensors stay GM_GGML (the default arithmetic), and
 * gm_pack_all refuses (YS_EUSAGE) any other type packed as GM_GGML_I8.
 *   Activations: each row quantized per 32 k exactly as GM_I8DOT does,
 * d_b = max |x| / 127, xq = clamp(rint(x / d_b), -127, 127) (0 when d_b
 * = 0); X_b = sum of xq over block b (X_lo, X_hi: over its two halves of
 * 16 k).
 *   Weights: in each 32-k sub-block b of a column, the block's unsigned
 * codes u (Q8_0: its int8 code + 128; 4/5/6-bit types: the stored code,
 * high bits included) and, per sub-block, the fp32 factors D and E, each
 * computed as the dequantization (gguf_dequant, "GGUF blocks") computes
 * it, with o the code's offset:
 *   Q8_0, Q4_0, Q5_0:  D = d, o = 128, 8, 16        (w = D (u - o))
 *   Q4_1, Q5_1:        D = d, E = m, o = 0          (w = D u + E)
 *   Q4_K, Q5_K:        D = d * sc, E = -(dmin * m), o = 0 (sc, m: the
 *                      sub-block's 6-bit scale and min; w = D u + E)
 *   Q6_K:              D = d * sc_lo, E = d * sc_hi, o = 32 (the two
 *                      16-k halves' scales; w = D (u - o) or E (u - o))
 * Integer sums, exact: I = sum over the sub-block of xq * u - o * X_b
 * (Q6_K: I_lo, I_hi over each half, minus o X_lo, o X_hi). Per output,
 * total = 0, then for each sub-block b ascending, in fp32:
 *     t = (float) I * D;                              all but Q6_K
 *     t = fma((float) X_b, E, t);                     Q4_1, Q5_1, Q4_K, Q5_K
 *     t = (float) I_lo * D; t = fma((float) I_hi, E, t);   Q6_K
 *     total = fma(t, d_b, total)
 * then the epilogue. Every integer is below 2^24, so each conversion is
 * exact. AVX512_VNNI's vpdpbusd (with AVX512_VBMI to unpack the codes)
 * computes it where the CPU has both; a scalar path elsewhere (same bits).
 * Each output depends only on its row and W: not on n, the other rows,
 * threads or ISA. */

/* 1: the block type (gguf.h) has a GM_GGML_I8 product. */
int gm_ggml_i8_supported(int ggml_type);

#endif
