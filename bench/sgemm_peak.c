/* sgemm_peak — the machine's ceilings, for bench/bench_engine.py.
 *
 *   sgemm_peak sgemm THREADS   OpenBLAS SGEMM GFLOP/s with THREADS OpenBLAS
 *                              threads: the best of several shapes (square
 *                              1024..3072 and the GPT-2-small projection
 *                              shapes at M = 1024), best of REPEAT calls each;
 *                              also the single call the engine issues per tile
 *                              (M 64, N 256, K 768 and K 3072, one thread).
 *   sgemm_peak bw THREADS      memory bandwidth in GB/s (1e9 bytes/s) over
 *                              buffers of 1 GiB, far beyond any cache:
 *                              "read" sums every 64-bit word (what streaming
 *                              the weights through the cores costs), "copy"
 *                              is memcpy counted as read + write bytes (the
 *                              STREAM convention). THREADS threads each take
 *                              a contiguous slice. Best of REPEAT passes.
 *
 * Prints one JSON object. Links OpenBLAS directly (unlike the engine, which
 * opens it at model load: engine/blas.h); the engine also calls it
 * single-threaded per tile, so "threads" here is OpenBLAS's own pool. */
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);

enum { REPEAT = 5 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *frand(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

/* Best GFLOP/s of C[M,N] = A[M,K] B[K,N] (row-major, B not transposed, as
 * the engine's GPT-2 Conv1D weights), timed over enough calls to last
 * >= 0.2 s, best of REPEAT. */
static double gemm_gflops(int M, int N, int K)
{
    float *a = frand((size_t)M * K), *b = frand((size_t)K * N), *c = frand((size_t)M * N);
    double flop = 2.0 * M * N * K, best = 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N); /* warm */
    int calls = 1;
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    double one = now() - t0;
    if (one < 0.2)
        calls = (int)(0.2 / (one > 1e-7 ? one : 1e-7)) + 1;
    for (int r = 0; r < REPEAT; r++) {
        t0 = now();
        for (int i = 0; i < calls; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double g = flop * calls / (now() - t0) / 1e9;
        if (g > best)
            best = g;
    }
    free(a), free(b), free(c);
    return best;
}

/* ---- bandwidth ----------------------------------------------------------- */

typedef struct {
    const uint64_t *src;
    uint64_t *dst;
    size_t n;       /* 64-bit words */
    uint64_t sum;
    int copy;
} bw_job;

static void *bw_worker(void *arg)
{
    bw_job *j = arg;
    if (j->copy) {
        memcpy(j->dst, j->src, j->n * sizeof *j->src);
    } else {
        /* four independent accumulators: the compiler vectorises this */
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t i = 0;
        for (; i + 4 <= j->n; i += 4) {
            s0 += j->src[i];
            s1 += j->src[i + 1];
            s2 += j->src[i + 2];
            s3 += j->src[i + 3];
        }
        for (; i < j->n; i++)
            s0 += j->src[i];
        j->sum = s0 + s1 + s2 + s3;
    }
    return NULL;
}

static double bw_pass(const uint64_t *src, uint64_t *dst, size_t n, int threads, int copy, uint64_t *check)
{
    pthread_t tid[64];
    bw_job jobs[64];
    size_t per = n / (size_t)threads;
    double t0 = now();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (bw_job){src + per * t, dst ? dst + per * t : NULL, t == threads - 1 ? n - per * t : per, 0, copy};
        if (t > 0)
            pthread_create(&tid[t], NULL, bw_worker, &jobs[t]);
    }
    bw_worker(&jobs[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
    double dt = now() - t0;
    for (int t = 0; t < threads; t++)
        *check += jobs[t].sum;
    return dt;
}

static int bandwidth(int threads)
{
    size_t bytes = (size_t)1 << 30, n = bytes / sizeof(uint64_t);
    uint64_t *src = aligned_alloc(64, bytes), *dst = aligned_alloc(64, bytes);
    if (!src || !dst) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)   /* touch every page */
        src[i] = i * 2654435761u;
    memset(dst, 1, bytes);
    uint64_t check = 0;
    double rd = 1e30, cp = 1e30;
    for (int r = 0; r < REPEAT; r++) {
        double t = bw_pass(src, NULL, n, threads, 0, &check);
        if (t < rd)
            rd = t;
        t = bw_pass(src, dst, n, threads, 1, &check);
        if (t < cp)
            cp = t;
    }
    printf("{\"threads\": %d, \"bytes\": %zu, \"read_gbs\": %.2f, \"copy_gbs\": %.2f, \"check\": %llu}\n", threads,
           bytes, bytes / rd / 1e9, 2.0 * bytes / cp / 1e9, (unsigned long long)(check & 0xff));
    free(src), free(dst);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "sgemm") && strcmp(argv[1], "bw"))) {
        fprintf(stderr, "usage: %s sgemm|bw THREADS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]);
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "THREADS must be 1..64\n");
        return 2;
    }
    if (!strcmp(argv[1], "bw"))
        return bandwidth(threads);

    openblas_set_num_threads(threads);
    /* square, then GPT-2 small's projections over a 1024-token window:
     * c_attn 768x2304, c_proj 768x768, c_fc 768x3072, mlp proj 3072x768,
     * and the vocabulary projection (N = 50257 is big: time N = 8192) */
    static const int shapes[][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {3072, 3072, 3072},
                                    {1024, 2304, 768},  {1024, 768, 768},   {1024, 3072, 768},
                                    {1024, 768, 3072},  {1024, 8192, 768}};
    double best = 0;
    printf("{\"threads\": %d, \"shapes\": [", threads);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double g = gemm_gflops(shapes[i][0], shapes[i][1], shapes[i][2]);
        printf("%s{\"m\": %d, \"n\": %d, \"k\": %d, \"gflops\": %.2f}", i ? ", " : "", shapes[i][0], shapes[i][1],
               shapes[i][2], g);
        fflush(stdout);
        if (g > best)
            best = g;
    }
    /* the engine's former projection tile (64 x 256, before gemm.h), always one thread */
    openblas_set_num_threads(1);
    double t768 = gemm_gflops(64, 256, 768), t3072 = gemm_gflops(64, 256, 3072);
    printf("], \"peak_gflops\": %.2f, \"tile_64x256x768_gflops_1t\": %.2f, \"tile_64x256x3072_gflops_1t\": %.2f}\n",
           best, t768, t3072);
    return 0;
}
