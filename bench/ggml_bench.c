/* ggml_bench — engine/gemm.h's products on GGUF blocks (GM_GGML) against
 * the same weights as fp32 and BF16 panels, in the same run.
 *
 *   ggml_bench [THREADS [REPEAT [ROWS [OUTxK,... [TYPES]]]]]
 *        defaults 1, 5, 1, GPT-2 small's 2304x768,768x768,3072x768,768x3072,
 *        Q8_0,Q4_0,Q4_K,Q5_K,Q6_K
 *
 * For each type and shape: random blocks (random bytes, the fp16 scales
 * set to small normal values), the same weights dequantized into fp32
 * panels, and rounded to BF16 (the 16-bit route's cost; other values);
 * then ROWS rows through gm_run on a THREADS-thread pool, each call
 * repeated for about 0.2 s, best of REPEAT. Prints one JSON object per
 * line: microseconds per call (wall and process CPU) for the blocks, fp32
 * and BF16, the blocks' bytes, and the ratios blocks/fp32 within the run
 * (what to read on a shared machine). ROWS 1 is a decoding step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"
#include "gguf.h"
#include "kernels.h"

static double now(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t lcg(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* The byte offsets of a block's fp16 scale fields (set to ~0.002 and
 * ~0.001: finite weights of a plausible size). */
static void fix_scales(int type, unsigned char *b)
{
    static const unsigned char d[2] = {0x18, 0x18}, dm[2] = {0x18, 0x14};
    switch (type) {
    case GGML_Q6_K: memcpy(b + 208, d, 2); break;
    case GGML_Q4_K: case GGML_Q5_K: case GGML_Q4_1: case GGML_Q5_1: memcpy(b, d, 2), memcpy(b + 2, dm, 2); break;
    default: memcpy(b, d, 2); break;
    }
}

static int type_of(const char *n)
{
    for (int t = 0; t < 40; t++)
        if (strcmp(gguf_type_name(t), n) == 0)
            return t;
    return -1;
}

/* Best of repeat: seconds (wall, cpu) per call. */
static void timeit(kn_pool *pool, const gm_call *c, int repeat, double *wall, double *cpu)
{
    gm_run(pool, c);   /* warm */
    size_t calls = 1;
    double t0 = now(CLOCK_MONOTONIC);
    gm_run(pool, c);
    double one = now(CLOCK_MONOTONIC) - t0;
    calls = one > 0 ? (size_t)(0.2 / one) + 1 : 1000;
    *wall = *cpu = 1e30;
    for (int r = 0; r < repeat; r++) {
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        for (size_t i = 0; i < calls; i++)
            gm_run(pool, c);
        double w = (now(CLOCK_MONOTONIC) - w0) / (double)calls, ct = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)calls;
        *wall = w < *wall ? w : *wall;
        *cpu = ct < *cpu ? ct : *cpu;
    }
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, repeat = argc > 2 ? atoi(argv[2]) : 5;
    size_t rows = argc > 3 ? (size_t)atol(argv[3]) : 1;
    const char *spec = argc > 4 ? argv[4] : "2304x768,768x768,3072x768,768x3072";
    char types[256];
    snprintf(types, sizeof types, "%s", argc > 5 ? argv[5] : "Q8_0,Q4_0,Q4_K,Q5_K,Q6_K");
    if (threads < 1 || repeat < 1 || rows < 1) {
        fprintf(stderr, "usage: ggml_bench [THREADS [REPEAT [ROWS [OUTxK,... [TYPES]]]]]\n");
        return 2;
    }
    kn_pool *pool;
    if (kn_pool_new(threads, NULL, &pool)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (char *tn = strtok(types, ","); tn; tn = strtok(NULL, ",")) {
        int type = type_of(tn);
        size_t block, bytes;
        if (type < 0 || gguf_type_size(type, &block, &bytes) || !gguf_dequant_supported(type)) {
            fprintf(stderr, "ggml_bench: unknown type %s\n", tn);
            return 2;
        }
        for (const char *p = spec; *p;) {
            char *end;
            size_t out = strtoul(p, &end, 10), k = *end == 'x' ? strtoul(end + 1, &end, 10) : 0;
            p = *end == ',' ? end + 1 : end;
            if (!out || !k || k % block)
                continue;
            uint32_t seed = 7;
            size_t rowb = k / block * bytes;
            unsigned char *blk = xmalloc(out * rowb);
            for (size_t i = 0; i < out * rowb; i++)
                blk[i] = (unsigned char)(lcg(&seed) >> 24);
            for (size_t b = 0; b < out * k / block; b++)
                fix_scales(type, blk + b * bytes);
            float *w = xmalloc(out * k * sizeof *w), *x = xmalloc(rows * k * sizeof *x), *y = xmalloc(rows * out * 4);
            uint16_t *h = xmalloc(out * k * sizeof *h);
            gguf_dequant(type, blk, out * k, w);
            for (size_t i = 0; i < out * k; i++) {
                uint32_t u;
                memcpy(&u, &w[i], 4);
                h[i] = (uint16_t)(u >> 16);
            }
            for (size_t i = 0; i < rows * k; i++)
                x[i] = (float)(lcg(&seed) >> 8) / 16777216.0f - 0.5f;
            gm_weights pg, pf, pb;
            gm_job jobs[3] = {
                {.pw = &pg, .w = blk, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_GGML,
                 .packed = GM_GGML, .ggml_type = type},
                {.pw = &pf, .w = w, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_F32, .packed = GM_F32},
                {.pw = &pb, .w = h, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_BF16,
                 .packed = GM_BF16},
            };
            if (gm_pack_all(pool, jobs, 3, NULL, NULL)) {
                fprintf(stderr, "ggml_bench: packing failed\n");
                return 1;
            }
            double wg, cg, wf, cf, wb, cb;
            gm_call c = {.x = x, .ldx = k, .w = &pg, .y = y, .ldy = out, .n = rows};
            timeit(pool, &c, repeat, &wg, &cg);
            c.w = &pf;
            timeit(pool, &c, repeat, &wf, &cf);
            c.w = &pb;
            timeit(pool, &c, repeat, &wb, &cb);
            printf("{\"type\": \"%s\", \"rows\": %zu, \"out\": %zu, \"k\": %zu, \"threads\": %d, \"bytes\": %zu, "
                   "\"blocks_us\": %.1f, \"blocks_cpu_us\": %.1f, \"f32_us\": %.1f, \"f32_cpu_us\": %.1f, "
                   "\"bf16_us\": %.1f, \"bf16_cpu_us\": %.1f, \"blocks_GBps\": %.2f, \"speed_vs_f32\": %.2f, "
                   "\"speed_vs_f32_cpu\": %.2f, \"speed_vs_bf16\": %.2f}\n",
                   tn, rows, out, k, threads, out * rowb, wg * 1e6, cg * 1e6, wf * 1e6, cf * 1e6, wb * 1e6, cb * 1e6,
                   (double)(out * rowb) / wg * 1e-9, wf / wg, cf / cg, wb / wg);
            fflush(stdout);
            gm_free(&pg), gm_free(&pf), gm_free(&pb);
            free(blk), free(w), free(x), free(y), free(h);
        }
    }
    kn_pool_free(pool);
    return 0;
}
