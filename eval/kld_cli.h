/* kld_cli.h — what `yardstick kld` (cmd_kld.c) shares with its --tasks
 * path (runner_kld.c): the two loaded models and the scoring of one
 * batch of sequences into per-position KL divergence statistics.
 *
 * Memory: one call holds the logits of the scored positions of its
 * sequences for both models (2 x positions x vocab floats), never more;
 * callers pass a window (--text), a line (--ids) or one context's
 * requests (--tasks) at a time. Only eval/ prints.
 */
#ifndef YS_KLD_CLI_H
#define YS_KLD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kld.h"
#include "model.h"
#include "tokenizer.h"
#include "ys_error.h"

/* Every position's values, in scoring order (for the order statistics). */
typedef struct {
    kld_acc acc;
    double *kv, *dv;  /* kld and p_diff per position */
    size_t n, cap;
} kld_set;

int kld_set_add(kld_set *s, const kld_pos *p, ys_error *err);
void kld_set_free(kld_set *s);

typedef struct {
    model *base, *model;
    size_t vocab;
    float *lb, *lm;   /* logits buffers, cap_rows x vocab each */
    double *lpb, *lpm;
    uint8_t *grb, *grm;
    size_t cap_rows;
    kld_set total;
    /* --per-token: every position's record (sequence, position, token) */
    bool keep;
    kld_pos *pos;
    int32_t (*where)[3];
    size_t npos, cap_pos;
} kld_run;

/* Score nseq sequences (seqs[s][from[s]..lens[s]) given what precedes)
 * with both models; every position goes into r->total and, when extra is
 * given, into extra[s] too. ll_base/ll_model (may be NULL) get each
 * sequence's summed log-likelihood of the scored tokens, greedy_base /
 * greedy_model (may be NULL) whether every scored token was its model's
 * argmax; both from the engine's own log-probabilities, as `run` scores. */
int kld_score(kld_run *r, const int32_t *const *seqs, const size_t *lens, const size_t *from, size_t nseq,
              int32_t seq_index, kld_set *const *extra, double *ll_base, double *ll_model, uint8_t *greedy_base,
              uint8_t *greedy_model, ys_error *err);

/* The checks both commands make before any weights load (cmd_kld.c).
 * Decoders only (a classifier or an encoder-decoder has no next-token
 * distribution to compare): YS_EUSAGE naming `role` and the folder. */
int kld_check_decoder(const char *dir, const char *role, ys_error *err);
/* A tokenizer.json or vocab.json in the folder. */
bool kld_has_tokenizer(const char *dir);
/* One tokenizer: the same vocabulary piece for piece and the same BOS/EOS;
 * otherwise YS_EINPUT "the models do not share a tokenizer: ..." naming
 * both folders. */
int kld_same_vocabulary(const tok_tokenizer *a, const tok_tokenizer *b, const char *da, const char *db,
                        ys_error *err);

/* --tasks (runner_kld.c): the requests `yardstick run` builds for the
 * tasks, scored through kld_score (each task's positions also in its own
 * set), and every task's metrics for both models with the compare
 * command's paired tests (McNemar for 0/1 per-sample metrics, else a
 * paired bootstrap of the mean, 1000 resamples, seed 12345; Holm across
 * all rows). The result owns its memory (kld_tasks_free). */
typedef struct {
    const char *base_dir, *tasks, *data_dir;
    const char *const *include;
    size_t ninclude;
    long limit;
    int num_fewshot;
    uint64_t seed;
    int threads;
    bool allow_empty; /* an eval split without documents is n = 0, not bad data (run's --allow-empty) */
} kld_tasks_options;

typedef struct {
    char *task, *metric;
    bool higher_is_better;
    double base, model, delta, p, p_holm; /* p: NAN when not tested */
    const char *test;                     /* "mcnemar", "paired-bootstrap", "none" */
    int64_t n_paired;
} kld_metric_row;

typedef struct {
    char *task;
    kld_set set;
} kld_task_stats;

typedef struct {
    kld_task_stats *tasks;
    size_t ntasks;
    kld_metric_row *rows;
    size_t nrows;
    size_t skipped_generation; /* generation tasks: no log-likelihood positions */
} kld_tasks_result;

int kld_run_tasks(kld_run *r, const kld_tasks_options *o, kld_tasks_result *out, ys_error *err);
void kld_tasks_free(kld_tasks_result *t);

#endif
