/* kernels.h — the engine's numeric building blocks: a small thread pool and
 * tiled projections through OpenBLAS.
 *
 * Determinism contract (why the tiles exist). OpenBLAS's sgemm does not give
 * a row of C the same bits for every M: the blocking over M, and the split
 * of work between OpenBLAS threads, change the rounding (measured on 0.3.21:
 * row 0 of an M-row product differs from the 1-row product for ~97% of M,
 * and the same call with 1 and 4 OpenBLAS threads differs for ~40% of
 * shapes). So the engine never lets OpenBLAS choose: OpenBLAS always runs
 * single-threaded (openblas_set_num_threads(1)), and every product is cut
 * into fixed tiles — rows [KN_ROWS*i, KN_ROWS*(i+1)) of one sequence times
 * columns [KN_COLS*j, ...) of one weight — whose bounds depend only on the
 * sequence's own length and the weight's shape. Each tile is one sgemm
 * call; the pool only decides which thread runs which tile. A sequence's
 * numbers are therefore a function of the sequence and the weights alone:
 * not of the batch it shares, nor of the thread count. (The same single-
 * threaded call with the same operands gives the same bits wherever the
 * operands sit in memory — checked, since packing copies them first.)
 * Changing KN_ROWS / KN_COLS changes the low bits of every result: they are
 * part of the numerics, not tuning knobs.
 */
#ifndef YS_ENGINE_KERNELS_H
#define YS_ENGINE_KERNELS_H

#include <stddef.h>

#include "blas.h"

#define KN_ROWS 64     /* rows of activations per sgemm tile */
#define KN_COLS 256    /* output columns per sgemm tile */

/* ---- thread pool ---------------------------------------------------------
 * nthreads - 1 workers plus the calling thread. pool_run calls
 * fn(ctx, item, worker) once for every item in [0, nitems), worker in
 * [0, nthreads), and returns when all are done. One pool_run at a time. */
typedef struct kn_pool kn_pool;
typedef void (*kn_fn)(void *ctx, size_t item, int worker);

/* blas is borrowed: it must outlive the pool. */
int kn_pool_new(int nthreads, const eng_blas *blas, kn_pool **out);    /* 0 or YS_ENOMEM */
void kn_pool_free(kn_pool *p);
int kn_pool_threads(const kn_pool *p);
void kn_pool_run(kn_pool *p, size_t nitems, kn_fn fn, void *ctx);

/* ---- projections ----------------------------------------------------------
 * y[n, out] (=|+=) act(x[n, k] W + bias). W is either nn.Linear's [out, k]
 * (KN_OUT_IN) or GPT-2 Conv1D's [k, out] (KN_IN_OUT), row stride ldw (so a
 * column range of a fused weight can be addressed). With KN_SWIGLU the
 * result is silu(x Wg) * (x Wu), w = Wg, w_up = Wu, no bias. */
typedef enum { KN_OUT_IN, KN_IN_OUT } kn_layout;
typedef enum { KN_ACT_NONE, KN_ACT_GELU_TANH, KN_ACT_GELU_ERF, KN_SWIGLU } kn_act;

typedef struct kn_proj {
    const float *x; size_t ldx;
    const float *w; size_t ldw; kn_layout layout;
    const float *w_up;          /* KN_SWIGLU only */
    const float *bias;          /* [out] or NULL */
    float *y; size_t ldy;
    size_t n, k, out;
    int accumulate;             /* 1: y += result (the residual stream) */
    kn_act act;
} kn_proj;

/* Scratch: the pool's threads each need KN_ROWS*KN_COLS floats for SwiGLU;
 * scratch[worker] must point at that many floats. */
void kn_proj_run(kn_pool *pool, const kn_proj *p, float *const *scratch);

/* ---- row kernels (single row, single thread) ---------------------------- */
void kn_layernorm(float *out, const float *x, const float *w, const float *b, size_t n, double eps);
void kn_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps);

#endif
