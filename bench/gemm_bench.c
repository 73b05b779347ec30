/* gemm_bench — engine/gemm.h against OpenBLAS, in the same run.
 *
 *   gemm_bench [THREADS [REPEAT [ROWS [SHAPES [f32|bf16]]]]]
 *                                    defaults 2, 3, 4096, BERT-base, f32
 *
 * For each shape (ROWS x out x k; default the BERT-base projections 768 x
 * 768, 3072 x 768, 768 x 3072; SHAPES as "OUTxK,OUTxK,..." — e.g. Gemma 2
 * 2B's "2048x2304,2304x2048,9216x2304,2304x9216"; W as nn.Linear's
 * [out, k]; bf16: the engine's panels BF16 as a BF16 checkpoint's, the
 * OpenBLAS rows the same values in fp32) it times, best of REPEAT:
 *   gm_avx512 / gm_avx2  gm_run over all rows on a THREADS-thread kn_pool
 *                        (each path the CPU supports)
 *   blas_full            one cblas_sgemm of the whole shape (through the
 *                        engine's eng_blas), THREADS OpenBLAS threads: the
 *                        call PyTorch makes
 *   blas_tiles           64 x 256 single-threaded sgemm tiles on the same
 *                        pool, plus the bias: what the engine's projections
 *                        did before gemm.h (kernels.h's old kn_proj_run)
 * and prints, as one JSON object per line, GFLOP/s (wall clock, best
 * call) and GFLOP per CPU-second (process CPU time of all threads, best
 * call: what load from other processes on shared cores distorts least —
 * the pool's idle threads sleep, OpenBLAS's spin a little). Packing is done
 * once, outside the timing (it happens at model load). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "gemm.h"
#include "kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *frand(size_t n, uint32_t seed)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

typedef struct shape { size_t out, k; } shape;

/* The old tiled projection, for comparison: one pool item = one tile of
 * TILE_ROWS rows x TILE_COLS output columns, one single-threaded sgemm,
 * then the bias. */
#define TILE_ROWS 64
#define TILE_COLS 256

typedef struct {
    const eng_blas *blas;
    const float *x, *w, *b;
    float *y;
    size_t rows, k, out, ncol;
} tiles;

static void tile_item(void *vctx, size_t item, int worker)
{
    (void)worker;
    const tiles *t = vctx;
    size_t r0 = item / t->ncol * TILE_ROWS, c0 = item % t->ncol * TILE_COLS;
    size_t r1 = r0 + TILE_ROWS < t->rows ? r0 + TILE_ROWS : t->rows;
    size_t c1 = c0 + TILE_COLS < t->out ? c0 + TILE_COLS : t->out;
    t->blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)(c1 - c0), (int)t->k, 1.0f,
                   t->x + r0 * t->k, (int)t->k, t->w + c0 * t->k, (int)t->k, 0.0f, t->y + r0 * t->out + c0,
                   (int)t->out);
    for (size_t r = r0; r < r1; r++)
        for (size_t c = c0; c < c1; c++)
            t->y[r * t->out + c] += t->b[c];
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, repeat = argc > 2 ? atoi(argv[2]) : 3;
    size_t rows = argc > 3 ? (size_t)atol(argv[3]) : 4096;
    const char *spec = argc > 4 ? argv[4] : "768x768,3072x768,768x3072";
    int bf16 = argc > 5 && strcmp(argv[5], "bf16") == 0;
    shape shapes[16];
    size_t nshapes = 0;
    for (const char *p = spec; *p && nshapes < 16;) {
        char *end;
        shapes[nshapes].out = strtoul(p, &end, 10);
        if (*end != 'x')
            break;
        shapes[nshapes].k = strtoul(end + 1, &end, 10);
        if (shapes[nshapes].out && shapes[nshapes].k)
            nshapes++;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',')
            break;
    }
    if (threads < 1 || repeat < 1 || rows < 1 || !nshapes || (argc > 5 && !bf16 && strcmp(argv[5], "f32"))) {
        fprintf(stderr, "usage: gemm_bench [THREADS [REPEAT [ROWS [OUTxK,... [f32|bf16]]]]]\n");
        return 2;
    }
    ys_error err = {0};
    eng_blas blas;
    if (eng_blas_open(&blas, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    kn_pool *pool;
    if (kn_pool_new(threads, &blas, &pool)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t si = 0; si < nshapes; si++) {
        size_t out = shapes[si].out, k = shapes[si].k;
        float *x = frand(rows * k, 1), *w = frand(out * k, 2), *b = frand(out, 3), *y = frand(rows * out, 4);
        gm_weights pw;
        int rc;
        if (bf16) {   /* the weights rounded to BF16 (truncated: any BF16 values do), both sides the same values */
            uint16_t *h = malloc(out * k * sizeof *h);
            if (!h) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            for (size_t i = 0; i < out * k; i++) {
                uint32_t u;
                memcpy(&u, &w[i], 4);
                h[i] = (uint16_t)(u >> 16);
                u = (uint32_t)h[i] << 16;
                memcpy(&w[i], &u, 4);
            }
            gm_job job = {.pw = &pw, .w = h, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out,
                          .dtype = GM_BF16, .packed = GM_BF16};
            rc = gm_pack_all(pool, &job, 1, NULL, NULL);
            free(h);
        } else {
            rc = gm_pack(&pw, w, k, KN_OUT_IN, k, out);
        }
        if (rc) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        double flop = 2.0 * (double)rows * (double)out * (double)k;
        printf("{\"rows\": %zu, \"out\": %zu, \"k\": %zu, \"threads\": %d, \"weights\": \"%s\"", rows, out, k,
               threads, bf16 ? "bf16" : "f32");
        const struct { const char *name; gm_isa isa; } paths[] = {{"gm_avx512", GM_ISA_AVX512},
                                                                  {"gm_avx2", GM_ISA_AVX2}};
        for (int method = 0; method < 4; method++) {
            if (method < 2 && !gm_isa_supported(paths[method].isa))
                continue;
            double best = 1e30, best_cpu = 1e30;
            for (int r = 0; r < repeat; r++) {
                double t0 = now(), c0 = cpu_now();
                if (method < 2) {
                    gm_call c = {.x = x, .ldx = k, .w = &pw, .bias = b, .y = y, .ldy = out, .n = rows,
                                 .isa = paths[method].isa};
                    gm_run(pool, &c);
                } else if (method == 2) {
                    blas.set_num_threads(threads);
                    blas.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)k, 1.0f, x,
                               (int)k, w, (int)k, 0.0f, y, (int)out);
                } else {
                    blas.set_num_threads(1);
                    tiles t = {&blas, x, w, b, y, rows, k, out, (out + TILE_COLS - 1) / TILE_COLS};
                    kn_pool_run(pool, (rows + TILE_ROWS - 1) / TILE_ROWS * t.ncol, tile_item, &t);
                }
                double t = now() - t0, ct = cpu_now() - c0;
                best = t < best ? t : best;
                best_cpu = ct < best_cpu ? ct : best_cpu;
            }
            static const char *names[] = {"gm_avx512", "gm_avx2", "blas_full", "blas_tiles"};
            printf(", \"%s_gflops\": %.1f, \"%s_gflop_per_cpu_s\": %.1f", names[method], flop / best * 1e-9,
                   names[method], flop / best_cpu * 1e-9);
        }
        printf("}\n");
        fflush(stdout);
        gm_free(&pw);
        free(x), free(w), free(b), free(y);
    }
    kn_pool_free(pool);
    eng_blas_close(&blas);
    return 0;
}
