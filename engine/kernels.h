/* kernels.h — the engine's numeric building blocks: a small thread pool,
 * large-buffer allocation, the weight layouts, the attention tile shared by
 * every engine, and row kernels (norms).
 *
 * Determinism contract. Projections go through gemm.h, whose every output
 * element is one fixed sequence of fused multiply-adds, so a row's bits do
 * not depend on the rows computed with it. Attention still uses OpenBLAS,
 * and OpenBLAS's sgemm does not give a row of C the same bits for every M:
 * the blocking over M, and the split of work between OpenBLAS threads,
 * change the rounding (measured on 0.3.21: row 0 of an M-row product
 * differs from the 1-row product for ~97% of M, and the same call with 1
 * and 4 OpenBLAS threads differs for ~40% of shapes). So the engine never
 * lets OpenBLAS choose: OpenBLAS always runs single-threaded
 * (openblas_set_num_threads(1)), and attention's products are cut into
 * tiles of KN_ROWS query rows of one sequence whose bounds depend only on
 * that sequence. Each tile is one sgemm call; the pool only decides which
 * thread runs which tile. A sequence's numbers are therefore a function of
 * the sequence and the weights alone: not of the batch it shares, nor of
 * the thread count. Changing KN_ROWS changes the low bits of attention: it
 * is part of the numerics, not a tuning knob.
 */
#ifndef YS_ENGINE_KERNELS_H
#define YS_ENGINE_KERNELS_H

#include <stddef.h>

#include "blas.h"

#define KN_ROWS 64     /* query rows per attention sgemm tile */

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
/* Work items split among n owners (a job, a sequence): owner i has items
 * [first[i], first[i + 1]). The owner of item (binary search). */
size_t kn_item_owner(const size_t *first, size_t n, size_t item);

/* ---- weight layouts --------------------------------------------------------
 * nn.Linear's [out, k] (KN_OUT_IN) or GPT-2 Conv1D's [k, out] (KN_IN_OUT). */
typedef enum { KN_OUT_IN, KN_IN_OUT } kn_layout;

/* ---- large buffers ---------------------------------------------------------
 * Activations, KV caches and packed weights: 64-byte aligned, and from 2 MB
 * up placed on 2 MB boundaries with transparent huge pages asked for
 * (madvise; ignored where unavailable). In the VMs this runs in a
 * first-touch 4 KB page fault costs ~15 us, so a fresh 75 MB KV cache
 * would cost ~0.3 s of faults; huge pages fault 512x less often.
 * Returns NULL when out of memory; the caller frees with free(). */
void *kn_alloc(size_t bytes);

/* ---- attention tile --------------------------------------------------------
 * One head's attention for `rows` query rows of one sequence:
 *   S = scale * Q K^T over keys [0, nk) (one OpenBLAS sgemm), + bias,
 *   softmax over each row's visible keys (the others get weight exactly 0),
 *   out = P V (one sgemm).
 * Row i's visible keys are [lo, hi): hi = nk, or pos0 + i + 1 when causal
 * (row i is the query at position pos0 + i); lo = 0, or hi - window when
 * window > 0 and hi > window (Mistral's sliding window). bias (T5's
 * relative position bias), when not NULL, adds bias[i * bias_ld + j] to
 * S[i][j] for the visible keys; bias_ld may be negative (T5's bias is
 * Toeplitz: one row of offsets, shifted by one per query row). softcap > 0
 * (Gemma 2) replaces each visible score s by softcap * tanh(s / softcap)
 * before the bias and the softmax.
 * The exp and the row sums go through vmath.h (same bits on every ISA).
 * scores is the caller's scratch of rows x nk floats. Cannot fail. */
typedef struct kn_attn {
    const float *q, *k, *v;   /* q: [rows] stride ldq; k, v: [nk] stride ldkv; one head's columns */
    float *out;               /* [rows] stride ldo */
    size_t ldq, ldkv, ldo, rows, nk, hd;
    float scale;
    float softcap;
    int causal;
    size_t pos0, window;
    const float *bias;
    long bias_ld;
} kn_attn;

void kn_attn_tile(const eng_blas *blas, const kn_attn *a, float *scores);

/* ---- row kernels (single row, single thread) ---------------------------- */
void kn_layernorm(float *out, const float *x, const float *w, const float *b, size_t n, double eps);
void kn_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps);

#endif
