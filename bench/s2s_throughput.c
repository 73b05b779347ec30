/* s2s_throughput.c — times engine/seq2seq.h for bench_seq2seq.py.
 *
 *   s2s_throughput MODEL_DIR PAIRS_FILE THREADS REPEAT NEW_TOKENS
 *
 * PAIRS_FILE: one pair per line, "src ids | decoder ids". Prints one JSON
 * object: load seconds, the best of REPEAT wall times for scoring every pair
 * as one s2s_logprobs batch (and the least process CPU time, all threads,
 * of those calls), the best for greedy generation of exactly
 * NEW_TOKENS tokens (min_new_tokens = NEW_TOKENS, so EOS cannot end it) from
 * the first pair's source, the first pair's log-probabilities and the
 * generated ids (for bench_seq2seq.py's same-model check). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seq2seq.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* CPU seconds of the whole process (all threads): foreign load on the
 * shared machine stretches wall time much more than this. */
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

#define MAXPAIRS 1024

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL_DIR PAIRS_FILE THREADS REPEAT NEW_TOKENS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[3]), repeat = atoi(argv[4]);
    size_t new_tokens = (size_t)atol(argv[5]);
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    static int32_t *src[MAXPAIRS], *dec[MAXPAIRS];
    static size_t ns[MAXPAIRS], nd[MAXPAIRS];
    static double *lp[MAXPAIRS];
    size_t n = 0;
    char line[1 << 16];
    while (n < MAXPAIRS && fgets(line, sizeof line, f)) {
        src[n] = malloc(sizeof line / 2 * sizeof(int32_t));
        dec[n] = malloc(sizeof line / 2 * sizeof(int32_t));
        int side = 0;
        for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n")) {
            if (!strcmp(t, "|"))
                side = 1;
            else if (side)
                dec[n][nd[n]++] = atoi(t);
            else
                src[n][ns[n]++] = atoi(t);
        }
        lp[n] = calloc(nd[n] + 1, sizeof(double));
        n++;
    }
    fclose(f);

    ys_error err = {0};
    s2s_model *m;
    double t0 = now();
    if (s2s_load(argv[1], &m, &err) || s2s_set_threads(m, threads, &err)) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    double load = now() - t0, best_score = 1e30, best_gen = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeat; r++) {
        double c0 = cpu();
        t0 = now();
        if (s2s_logprobs(m, (const int32_t *const *)src, ns, (const int32_t *const *)dec, nd, n, lp, NULL, &err)) {
            fprintf(stderr, "logprobs: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0, dc = cpu() - c0;
        best_score = dt < best_score ? dt : best_score;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    s2s_gen_opts o;
    s2s_gen_defaults(m, &o);
    o.num_beams = 1;
    o.max_new_tokens = o.min_new_tokens = new_tokens;
    o.no_repeat_ngram_size = 0;
    o.forced_bos_id = o.forced_eos_id = -1;
    int32_t *out = NULL;
    size_t nout = 0;
    for (int r = 0; r < repeat + 1; r++) {   /* one warm-up */
        free(out);
        t0 = now();
        if (s2s_generate(m, src[0], ns[0], &o, &out, &nout, &err)) {
            fprintf(stderr, "generate: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (r > 0)
            best_gen = dt < best_gen ? dt : best_gen;
    }
    printf("{\"load_s\": %.4f, \"score_s\": %.4f, \"score_cpu_s\": %.4f, \"pairs\": %zu, \"generate_s\": %.4f, "
           "\"new_tokens\": %zu,\n", load, best_score, best_cpu, n, best_gen, nout);
    printf(" \"logprobs0\": [");
    for (size_t i = 0; i + 1 < nd[0]; i++)
        printf("%s%.9g", i ? ", " : "", lp[0][i]);
    printf("],\n \"generated\": [");
    for (size_t i = 0; i < nout; i++)
        printf("%s%d", i ? ", " : "", (int)out[i]);
    printf("]}\n");
    free(out);
    s2s_free(m);
    for (size_t i = 0; i < n; i++)
        free(src[i]), free(dec[i]), free(lp[i]);
    return 0;
}
