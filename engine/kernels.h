/* kernels.h — the engine's numeric building blocks: a small thread pool,
 * large-buffer allocation, the weight layouts, the attention tile shared by
 * every engine, and row kernels (norms).
 *
 * Determinism contract. Projections go through gemm.h, whose every output
 * element is one fixed sequence of fused multiply-adds, so a row's bits do
 * not depend on the rows computed with it. Attention (kn_attn_tile, attn.c)
 * is likewise a fixed sequence of fp32 operations per query row, over that
 * row's visible keys only: a row's result depends on its query, its keys
 * and values and the tile's parameters, not on the other rows of the tile,
 * the number of keys the tile has, how a sequence was split into calls,
 * the thread count or the instruction set. (It used OpenBLAS sgemm before,
 * whose blocking over M and K made a row's bits depend on all of those.)
 * KN_ROWS only sets how many rows share key and value loads: it is a
 * tuning knob, not part of the numerics. OpenBLAS is still loaded (blas.h)
 * and kept single-threaded by the engines.
 */
#ifndef YS_ENGINE_KERNELS_H
#define YS_ENGINE_KERNELS_H

#include <stddef.h>

#include "blas.h"

#define KN_ROWS 64     /* query rows per attention tile (work item) */

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
 * One head's attention for `rows` query rows of one sequence. Row i's
 * visible keys are [lo, hi): hi = nk, or pos0 + i + 1 when causal (row i is
 * the query at position pos0 + i); lo = 0, or hi - window when window > 0
 * and hi > window (Mistral's sliding window). For each row, in fp32:
 *   s[j] = (sum over d ascending of fma(q[d], k_j[d], .) from 0) * scale
 *   softcap > 0 (Gemma 2): s[j] = softcap * tanhf(s[j] / softcap)
 *   bias (T5's relative position bias), when not NULL: s[j] += bias[i * bias_ld + j]
 *   (bias_ld may be negative: T5's bias is Toeplitz, one row of offsets
 *   shifted by one per query row)
 *   mx = max s[j]; e[j] = exp(s[j] - mx) and their sum as vmath.h's
 *   vm_exp_sum; inv = (float)(1 / sum)
 *   out[d] = (sum over j ascending of fma(e[j], v_j[d], .) from 0) * inv
 * all over j in [lo, hi) only (softmax's division applied once per output
 * instead of once per key: one rounding fewer). Every instruction set computes that same
 * sequence (isa as gemm.h's gm_isa, 0 = the best the CPU has).
 * scores is the caller's scratch of rows x nk floats (row i of it is
 * undefined afterwards). Cannot fail. blas is unused (kept so that callers
 * need not change). */
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
    int isa;                  /* gm_isa; 0: auto */
} kn_attn;

void kn_attn_tile(const eng_blas *blas, const kn_attn *a, float *scores);

/* ---- row kernels (single row, single thread) ---------------------------- */
void kn_layernorm(float *out, const float *x, const float *w, const float *b, size_t n, double eps);
void kn_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps);

#endif
