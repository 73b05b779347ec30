/* enc_throughput — classify a batch of sequences with engine/encoder and
 * report throughput, for bench/bench_encoder.py.
 *
 *   enc_throughput MODEL_DIR IDS_FILE THREADS REPEAT
 *
 * IDS_FILE has one sequence per line (space-separated token ids); the whole
 * file is one enc_classify batch (type ids all zero). After one warm-up
 * call, the batch is classified REPEAT times; one JSON line reports the load
 * time, every call's seconds, the best examples/s, the least process CPU
 * time of a call (all threads) and the logits of every sequence (to compare
 * with the reference). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoder.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL_DIR IDS_FILE THREADS REPEAT\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[3]), repeat = atoi(argv[4]);
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 3;
    }
    size_t nseq = 0, cap = 0;
    int32_t **ids = NULL;
    size_t *lens = NULL;
    char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        if (nseq == cap) {
            cap = cap ? 2 * cap : 64;
            ids = realloc(ids, cap * sizeof *ids);
            lens = realloc(lens, cap * sizeof *lens);
        }
        int32_t *v = malloc(sizeof line / 2 * sizeof *v);
        size_t n = 0;
        for (char *p = strtok(line, " \n"); p; p = strtok(NULL, " \n"))
            v[n++] = (int32_t)strtol(p, NULL, 10);
        if (n == 0) {
            free(v);
            continue;
        }
        ids[nseq] = v;
        lens[nseq++] = n;
    }
    fclose(f);

    ys_error err = {0};
    enc_model *m;
    double t0 = now();
    if (enc_load(argv[1], &m, &err) || enc_set_threads(m, threads, &err)) {
        fprintf(stderr, "enc_throughput: %s\n", err.msg);
        return 1;
    }
    double load = now() - t0;
    int L = enc_get_info(m)->num_labels;
    float **logits = malloc(nseq * sizeof *logits);
    for (size_t s = 0; s < nseq; s++)
        logits[s] = malloc((size_t)L * sizeof **logits);
    double best = 1e30, cpu_best = 1e30;
    printf("{\"load_s\": %.4f, \"sequences\": %zu, \"times\": [", load, nseq);
    for (int r = -1; r < repeat; r++) {
        t0 = now();
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (enc_classify(m, (const int32_t *const *)ids, NULL, lens, nseq, logits, &err)) {
            fprintf(stderr, "enc_throughput: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (r < 0)
            continue;   /* warm-up: first touch of the weights and buffers */
        best = dt < best ? dt : best;
        cpu_best = cpu < cpu_best ? cpu : cpu_best;
        printf("%s%.4f", r ? ", " : "", dt);
        fflush(stdout);
    }
    printf("], \"best_s\": %.4f, \"examples_per_s\": %.3f, \"best_cpu_s\": %.4f, \"logits\": [", best,
           (double)nseq / best, cpu_best);
    for (size_t s = 0; s < nseq; s++) {
        printf("%s[", s ? ", " : "");
        for (int j = 0; j < L; j++)
            printf("%s%.7g", j ? ", " : "", logits[s][j]);
        printf("]");
    }
    printf("]}\n");
    for (size_t s = 0; s < nseq; s++) {
        free(ids[s]);
        free(logits[s]);
    }
    free(ids);
    free(lens);
    free(logits);
    enc_free(m);
    return 0;
}
