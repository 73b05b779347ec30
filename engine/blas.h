/* blas.h — OpenBLAS, opened when a model is loaded rather than linked.
 *
 * Why: linking OpenBLAS makes every yardstick process pay its start-up —
 * loading it with libgfortran and starting its thread pool costs ~15 ms
 * here — even `yardstick score`, which scores a 3,000-line file in less.
 * So the engine dlopen()s the library pkg-config found at build time (its
 * path is compiled in, with the plain soname as a fallback) and calls
 * through this table. The table lives in each model (no global state); the
 * library stays loaded until eng_blas_close. The cblas.h prototypes are
 * still what the functions are checked against at compile time.
 */
#ifndef YS_ENGINE_BLAS_H
#define YS_ENGINE_BLAS_H

#include <cblas.h>

#include "ys_error.h"

typedef struct {
    void (*sgemm)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE, const blasint M,
                  const blasint N, const blasint K, const float alpha, const float *A, const blasint lda,
                  const float *B, const blasint ldb, const float beta, float *C, const blasint ldc);
    void (*sgemv)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const blasint M, const blasint N,
                  const float alpha, const float *A, const blasint lda, const float *X, const blasint incx,
                  const float beta, float *Y, const blasint incy);
    void (*set_num_threads)(int);
    void *handle;
} eng_blas;

/* 0, or YS_ERESOURCE naming the library when it cannot be loaded. */
int eng_blas_open(eng_blas *b, ys_error *err);
void eng_blas_close(eng_blas *b);

#endif
