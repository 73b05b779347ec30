/* gen_throughput.c — times batched generation (model.h's model_batch,
 * seq2seq.h's s2s_gen_batch) for bench_batch.py.
 *
 *   gen_throughput MODEL_DIR PROMPTS_FILE THREADS NEW_TOKENS B[:N] ...
 *
 * PROMPTS_FILE: one prompt per line, space-separated token ids. The model
 * (decoder-only or encoder-decoder, greedy) is loaded once; then for each
 * argument B[:N] the first N prompts (default all) are generated with a
 * batch of B, exactly NEW_TOKENS tokens each (a decoder never stops early;
 * an encoder-decoder has min_new_tokens = NEW_TOKENS so EOS cannot end it).
 * Prints one JSON object per line: {"batch": B, "requests": N, "wall": s,
 * "cpu": s, "tokens": generated, "same": true|false}, where "same" says
 * whether every request's ids equal those of the first measurement that
 * generated it (the bitwise invariance, checked on the benchmark itself).
 * With $GEN_THROUGHPUT_IDS set, the first measurement's ids are written
 * there, one request per line (bench_batch.py compares them with
 * PyTorch's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "seq2seq.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define MAXP 4096

static int never(const int32_t *g, size_t n, void *u)
{
    (void)g, (void)n, (void)u;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPTS_FILE THREADS NEW_TOKENS B[:N] ...\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[3]);
    size_t new_tokens = (size_t)atol(argv[4]);
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    static int32_t *ids[MAXP], *ref[MAXP], *out[MAXP];
    static size_t len[MAXP], nref[MAXP];
    size_t n = 0;
    static char line[1 << 20];
    while (n < MAXP && fgets(line, sizeof line, f)) {
        ids[n] = malloc(sizeof line / 2 * sizeof(int32_t));
        for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n"))
            ids[n][len[n]++] = atoi(t);
        if (len[n])
            n++;
    }
    fclose(f);
    ys_error err = {0};
    model *m = NULL;
    s2s_model *sm = NULL;
    int s2s = s2s_supports(argv[1], &err);
    if (s2s < 0 || (s2s ? s2s_load(argv[1], &sm, &err) || s2s_set_threads(sm, threads, &err)
                        : model_load(argv[1], &m, &err) || model_set_threads(m, threads, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = malloc((new_tokens + 1) * sizeof(int32_t));
    static model_request mr[MAXP];
    static s2s_request sr[MAXP];
    for (int a = 5; a < argc; a++) {
        size_t B = (size_t)atol(argv[a]), N = n;
        const char *colon = strchr(argv[a], ':');
        if (colon && (size_t)atol(colon + 1) < n)
            N = (size_t)atol(colon + 1);
        model_request *mdone[256];
        s2s_request *sdone[256];
        if (B < 1 || B > 256) {
            fprintf(stderr, "batch %zu out of range\n", B);
            return 2;
        }
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        int rc = 0;
        size_t tokens = 0;
        if (s2s) {
            s2s_gen_batch *b = NULL;
            rc = s2s_gen_batch_new(sm, B, &b, &err);
            for (size_t i = 0; rc == 0 && i < N; i++) {
                sr[i] = (s2s_request){.src = ids[i], .n_src = len[i]};
                s2s_gen_defaults(sm, &sr[i].opts);
                sr[i].opts.num_beams = 1;
                sr[i].opts.max_new_tokens = sr[i].opts.min_new_tokens = new_tokens;
                rc = s2s_gen_batch_add(b, &sr[i], &err);
            }
            while (rc == 0 && s2s_gen_batch_pending(b) > 0) {
                size_t nd;
                rc = s2s_gen_batch_step(b, sdone, &nd, &err);
            }
            for (size_t i = 0; rc == 0 && i < N; i++) {
                memcpy(out[i], sr[i].out, sr[i].n_out * sizeof(int32_t));
                free(sr[i].out);
            }
            s2s_gen_batch_free(b);
        } else {
            model_batch *b = NULL;
            rc = model_batch_new(m, B, &b, &err);
            for (size_t i = 0; rc == 0 && i < N; i++) {
                mr[i] = (model_request){.prompt = ids[i], .n_prompt = len[i], .max_new = new_tokens, .stop = never,
                                        .out = out[i]};
                rc = model_batch_add(b, &mr[i], &err);
            }
            while (rc == 0 && model_batch_pending(b) > 0) {
                size_t nd;
                rc = model_batch_step(b, mdone, &nd, &err);
            }
            model_batch_free(b);
        }
        double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (rc) {
            fprintf(stderr, "batch %zu: %s\n", B, err.msg);
            return 1;
        }
        int same = 1;
        for (size_t i = 0; i < N; i++) {
            size_t k = s2s ? sr[i].n_out : mr[i].n_out;
            tokens += k;
            if (!ref[i]) {
                ref[i] = malloc((k + 1) * sizeof(int32_t));
                memcpy(ref[i], out[i], k * sizeof(int32_t));
                nref[i] = k;
            } else if (nref[i] != k || memcmp(ref[i], out[i], k * sizeof(int32_t))) {
                same = 0;
            }
        }
        const char *dump = getenv("GEN_THROUGHPUT_IDS");
        if (dump && a == 5) {
            FILE *o = fopen(dump, "w");
            for (size_t i = 0; o && i < N; i++)
                for (size_t j = 0; j < nref[i]; j++)
                    fprintf(o, "%d%s", ref[i][j], j + 1 < nref[i] ? " " : "\n");
            if (o)
                fclose(o);
        }
        printf("{\"batch\": %zu, \"requests\": %zu, \"wall\": %.4f, \"cpu\": %.4f, \"tokens\": %zu, \"same\": %s}\n", B,
               N, wall, cpu, tokens, same ? "true" : "false");
        fflush(stdout);
    }
    model_free(m);
    s2s_free(sm);
    return 0;
}
