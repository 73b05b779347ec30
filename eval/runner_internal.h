/* runner_internal.h — what the parts of the runner share: the run's state
 * and the per-task state. runner.c builds and runs the engine requests,
 * runner_score.c turns responses into metrics, runner_store.c writes the
 * store, the results JSON, the sample logs and the summary. */
#ifndef YS_RUNNER_INTERNAL_H
#define YS_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "model.h"
#include "seq2seq.h"
#include "prompt.h"
#include "runner.h"
#include "store.h"
#include "task.h"
#include "tokenizer.h"

typedef struct {
    task_spec *spec;
    char *spec_path, *samples_dir;
    task_docs docs, pool;
    task_prompt *prompts;
    size_t n;                /* documents scored */
    char hash[65];
    /* multiple choice: ll[doc * nchoices + c], greedy likewise */
    double *ll;
    uint8_t *greedy;
    /* rolling: per document */
    double *doc_ll;
    /* generate: per document */
    char **gen;
    /* the first prompt's token ids, for the log and the BOS check */
    int32_t *first_ids;
    size_t nfirst;
    /* results */
    char *metric_names[16];
    double values[16], stderrs[16];
    bool hib[16];
    size_t nresults;
    char **sample_metrics; /* per document: JSON object text */
    char **predictions;    /* per document */
    /* classifier: per document the encoded text (pair), its type ids, and
     * the model's logits; cls_map[model label] = the task's class or -1 */
    int32_t **cls_ids, **cls_types;
    size_t *cls_lens;
    float *cls_logits;     /* n x num_labels */
    int *cls_map;
    bool cls;              /* this task runs as classification */
} task_run;

/* What kind of checkpoint the run scores: it decides how requests reach
 * the engine (see runner.c). */
typedef enum { RN_DECODER, RN_CLASSIFIER, RN_SEQ2SEQ } rn_kind;

/* One log-likelihood request: score ids[from..len) given ids[0..from). */
typedef struct {
    int32_t *ids;
    size_t len, from;
    double *ll_out;     /* where the summed log-likelihood goes (adds) */
    uint8_t *greedy_out; /* all-greedy flag (ANDed), or NULL */
    size_t rep;         /* the request computed for it (dedupe) */
    double ll;
    uint8_t greedy;
} ll_req;

typedef struct {
    const run_options *o;
    tok_tokenizer *tok;
    rn_kind kind;
    model *m;              /* exactly one of these three is loaded */
    enc_model *enc;
    s2s_model *s2s;
    s2s_gen_opts gen;      /* encoder-decoder: the folder's decoding settings */
    char gen_config_hash[65]; /* ... and the hash of the files they come from */
    int num_labels;        /* classifier */
    char **label_names;    /* classifier: id2label (from the model, or config.json when rescoring) */
    size_t max_len;
    int32_t eot;
    task_run *tasks;
    size_t ntasks;
    char **groups;       /* group names asked for, with their members */
    char ***group_members;
    size_t *group_nmembers;
    char **group_aggregate;
    size_t ngroups;
    ll_req *reqs;
    size_t nreqs, cap_reqs;
    /* the store, open for the whole run: responses are cached per batch as
     * they finish, so a killed run loses at most the batch in flight */
    rs_store *store;
    int64_t run_id;
    char weights_hash[65], tok_hash[65];
    size_t cached; /* responses served from the cache */
    double store_s; /* seconds spent in the store */
    char arch[64];
} run_state;

/* calloc that never returns NULL for n == 0 */
void *rn_calloc(size_t n, size_t size);

/* runner_score.c */
int rn_apply_filters(const task_spec *s, char **text, ys_error *err);
int rn_score_mc(const run_state *st, task_run *t, ys_error *err);
int rn_score_rolling(task_run *t, ys_error *err);
int rn_score_generate(task_run *t, uint64_t seed, ys_error *err);
int rn_score_cls(const run_state *st, task_run *t, ys_error *err);

/* runner_store.c */
double rn_group_score(const run_state *st, size_t g);
int rn_model_hashes(run_state *st, ys_error *err);
int rn_begin_run(run_state *st, ys_error *err);
int rn_store_run(const run_state *st, ys_error *err);
int rn_write_outputs(const run_state *st, int64_t run_id, ys_error *err);
void rn_print_summary(const run_state *st, double wall, double engine);

#endif
