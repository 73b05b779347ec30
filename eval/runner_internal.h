/* runner_internal.h — what the parts of the runner share: the run's state,
 * the per-task state, and each part's entry points. Who owns what:
 *   runner.c           the run loop: tasks and groups resolved, the passes
 *                      called in order, the state freed; shared helpers
 *                      (rn_calloc, the clock, the progress line)
 *   runner_requests.c  documents → prompts → token ids → log-likelihood
 *                      requests (context/continuation split, rolling
 *                      windows), and their engine order and de-duplication
 *   runner_engine.c    which engine the checkpoint needs, loading it (or its
 *                      limits when rescoring), the response cache key, the
 *                      batched log-likelihood calls
 *   runner_classify.c  the encoder classifier: label mapping, inputs, logits
 *   runner_generate.c  generations with their stop rules
 *   runner_score.c     answer filters and metrics from the responses
 *   runner_store.c     the store, the results JSON, sample logs, summary
 *   runner_kld.c       the same requests scored by two models (kld_cli.h):
 *                      `yardstick kld --tasks`, and `run --kl-base`'s
 *                      divergence pass (rn_kld_requests is their one loop)
 *   runner_dist.c      the passes' requests shared by MPI ranks: agreeing on
 *                      failures, the work list, balanced ranges, messages
 *                      (runner_dist.h); runner_mpi.c its MPI transport
 *   runner_pipe.c      --pipeline: what stages can compute, loading this
 *                      rank's stage, its part of a log-likelihood batch
 *                      and of a generation step
 */
#ifndef YS_RUNNER_INTERNAL_H
#define YS_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "kld_cli.h"
#include "model.h"
#include "seq2seq.h"
#include "prompt.h"
#include "runner.h"
#include "runner_dist.h"
#include "store.h"
#include "task.h"
#include "tokenizer.h"

typedef struct {
    task_spec *spec;
    char *spec_path, *samples_dir;
    task_docs docs, pool;
    int num_fewshot;         /* set by a group (leaderboard_v1), or -1 */
    task_prompt *prompts;
    size_t n;                /* documents scored */
    char hash[65];
    /* multiple choice and loglikelihood: ll[off[doc] + c], greedy likewise
     * (documents may have different numbers of choices); nll in all */
    size_t *off, nll;
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
    /* --kl-base: KL(base ‖ model) at every continuation position of the
     * task's log-likelihood requests (none for generation tasks) */
    kld_set kld;
} task_run;

/* What kind of checkpoint the run scores: it decides how requests reach
 * the engine (see runner_engine.c). */
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
    char ***group_agg_metrics; /* "weighted": the metrics averaged */
    size_t *group_nagg;
    size_t ngroups;
    ll_req *reqs;
    size_t nreqs, cap_reqs;
    /* the store, open for the whole run: responses are cached per batch as
     * they finish, so a killed run loses at most the batch in flight */
    rs_store *store;
    int64_t run_id;
    char weights_hash[65], tok_hash[65];
    /* --model FILE.gguf: the file's SHA-256 and its tensor types ("Q4_K x193, F32 x65") */
    char gguf_hash[65], gguf_types[256];
    /* with an adapter: weights_hash = SHA-256(base_hash, adapter_hash) */
    char base_hash[65], adapter_hash[65];
    char compute[64];         /* what the engine computes in: "float32", "int4-g128", ... */
    size_t cached; /* responses served from the cache */
    double store_s; /* seconds spent in the store */
    char arch[64];
    /* --kl-base: the base, loaded beside the model for the divergence pass
     * and freed after it; its identity (never the model's: nothing of the
     * base is cached) and its row in the store's models */
    model *kl_base;
    model_prefix_cache *pc;  /* the decoder's prefix cache (always made with m; budget 0: it only counts) */
    char kl_base_hash[65], kl_base_tok_hash[65], kl_base_arch[64];
    bool kld_measured;        /* the pass ran (not when rescoring) */
} run_state;

/* runner.c */
/* The tasks of st->o->tasks (groups expanded) into st->tasks. */
int rn_load_tasks(run_state *st, ys_error *err);
/* Everything st owns (the model too: a borrowed one must be set to NULL
 * first). */
void rn_free_state(run_state *st);
/* calloc that never returns NULL for n == 0 */
void *rn_calloc(size_t n, size_t size);
/* seconds on the monotonic clock */
double rn_now_s(void);
/* the progress line on stderr (with --progress), t0 the pass's start */
void rn_progress(const run_state *st, const char *what, size_t done, size_t total, double t0);

/* Time spent in the store (cache look-ups and writes, samples, results):
 * the run summary reports its share of the wall time. */
#define RN_STORE_CALL(st, rc, call)                                                                                    \
    do {                                                                                                               \
        double t0_ = rn_now_s();                                                                                       \
        (rc) = (call);                                                                                                 \
        (st)->store_s += rn_now_s() - t0_;                                                                             \
    } while (0)

/* runner_requests.c */
int rn_encode_prompt(const run_state *st, const char *s, int32_t **ids, size_t *n, ys_error *err);
int rn_prepare_task(run_state *st, task_run *t, ys_error *err);
size_t rn_order_requests(run_state *st, size_t *idx, size_t *tmp);
bool rn_same_context(const ll_req *x, const ll_req *y);

/* runner_engine.c */
int rn_model_kind(run_state *st, ys_error *err);
int rn_check_task_fits(const run_state *st, const task_spec *s, ys_error *err);
int rn_load_engine(run_state *st, ys_error *err);
int rn_read_limits(run_state *st, ys_error *err);
void rn_cache_key(const run_state *st, const char *kind, const int32_t *ids, size_t n, size_t a, size_t b,
                  char hex[65]);
int rn_run_loglikelihoods(run_state *st, double *engine_s, ys_error *err);

/* runner_kld.c */
/* Every log-likelihood request of st scored by both models of r, in the
 * runner's engine order with a context's requests in one call; each
 * position goes into r->total and into sets[i] for the request's task i
 * (sets has st->ntasks entries); llb/llm/grb/grm (each may be NULL) get
 * every request's summed log-likelihood and all-greedy flag per model. */
int rn_kld_requests(run_state *st, kld_run *r, kld_set *const *sets, double *llb, double *llm, uint8_t *grb,
                    uint8_t *grm, ys_error *err);
/* --kl-base before any weights load: both decoders, one tokenizer. */
int rn_kl_base_check(run_state *st, ys_error *err);
/* --kl-base: load the base (after the model), its window checked against
 * the requests once they are built (rn_kl_base_fits). */
int rn_kl_base_load(run_state *st, ys_error *err);
int rn_kl_base_fits(const run_state *st, ys_error *err);
/* --kl-base: the divergence pass over every task's log-likelihood requests
 * (into each task's kld set); the base is freed afterwards. */
int rn_run_kl_base(run_state *st, double *engine_s, ys_error *err);

/* runner_pipe.c: with --pipeline K > 1 (else check does nothing). check
 * refuses what stages do not compute (YS_EUSAGE); load loads this rank's
 * stage into st->m; logprobs is this rank's stage of the batch at item
 * `at` of the pass (lp, gr written on the last stage only). */
int rn_pipe_check(const run_state *st, ys_error *err);
int rn_pipe_load(run_state *st, const model_opts *mo, ys_error *err);
int rn_pipe_logprobs(run_state *st, uint64_t at, const int32_t *const *seqs, const size_t *lens, size_t nb,
                     const size_t *froms, double *const *lp, uint8_t *const *gr, ys_error *err);
/* Generation through the stages of a group (the same documents on every
 * stage). The last stage decodes with an rn_pipe_gen, a model_batch's
 * calls (model.h) over K micro-batches: gen_new with B requests at once
 * in all, add, pending, capacity, and step, which finishes up to
 * gen_room requests into done; gen_end ends the pass for the stages
 * before. Every other stage runs gen_follow until then, calling
 * between(ctx) after each step when it is not NULL (rank 0 collects
 * results meanwhile). */
typedef struct rn_pipe_gen rn_pipe_gen;
int rn_pipe_gen_new(run_state *st, size_t B, rn_pipe_gen **out, ys_error *err);
void rn_pipe_gen_free(rn_pipe_gen *g);
int rn_pipe_gen_add(rn_pipe_gen *g, model_request *r, ys_error *err);
size_t rn_pipe_gen_pending(const rn_pipe_gen *g);
size_t rn_pipe_gen_capacity(const rn_pipe_gen *g);
size_t rn_pipe_gen_room(const rn_pipe_gen *g);
int rn_pipe_gen_step(rn_pipe_gen *g, model_request **done, size_t *n_done, ys_error *err);
int rn_pipe_gen_end(rn_pipe_gen *g, ys_error *err);
int rn_pipe_gen_follow(run_state *st, int (*between)(void *ctx, ys_error *err), void *ctx, ys_error *err);

/* runner_classify.c */
int rn_prepare_cls(run_state *st, task_run *t, ys_error *err);
int rn_run_classifications(run_state *st, double *engine_s, ys_error *err);

/* runner_generate.c */
int rn_run_generations(run_state *st, double *engine_s, ys_error *err);

/* runner_score.c */
int rn_apply_filters(const task_spec *s, char **text, ys_error *err);
int rn_score_mc(const run_state *st, task_run *t, ys_error *err);
int rn_score_rolling(task_run *t, ys_error *err);
int rn_score_ll(const run_state *st, task_run *t, ys_error *err);
int rn_score_generate(task_run *t, uint64_t seed, ys_error *err);
int rn_score_cls(const run_state *st, task_run *t, ys_error *err);

/* runner_store.c */
double rn_group_score(const run_state *st, size_t g);
bool rn_group_weighted(const run_state *st, const char *group, const char *metric, double *value, double *se,
                       double *size);
int rn_model_hashes(run_state *st, ys_error *err);
/* The model's name in the store: the folder's last component, with an
 * adapter "BASE+ADAPTER" (reports and compares tell them apart). */
void rn_model_name(const run_options *o, char *buf, size_t cap);
/* "float32", "int8", "int4-g128", "int4-sym-g32": what the weights are computed as. */
void rn_compute_name(const run_options *o, char *buf, size_t cap);
int rn_begin_run(run_state *st, ys_error *err);
int rn_store_run(const run_state *st, ys_error *err);
int rn_write_outputs(const run_state *st, int64_t run_id, ys_error *err);
void rn_print_summary(const run_state *st, double wall, double engine);

#endif
