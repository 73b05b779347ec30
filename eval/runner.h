/* runner.h — `yardstick run`: tasks × model → scores in the store.
 *
 * The pipeline: resolve tasks (groups expand to members) → load documents
 * (official files under the data directory, else the bundled samples) →
 * render prompts → build engine requests (lm-evaluation-harness's
 * context/continuation split: trailing spaces of the context move to the
 * continuation, the pair is encoded together and split; an empty context
 * gets the end-of-text token; over-long inputs are cut from the left) →
 * de-duplicate identical requests, sort by length, batch → engine →
 * per-sample metrics → aggregates with standard errors → results store,
 * an lm-evaluation-harness-style results JSON, optional sample logs.
 *
 * With a store, every finished batch of engine responses is written to its
 * response cache (keyed on the weights' and tokenizer's content hashes, the
 * request's token ids and the yardstick version) in one short transaction:
 * a killed run keeps what it finished, a re-run or --resume reuses it, and
 * since the engine is deterministic the final scores equal those of an
 * uninterrupted run. A different model can never be served these answers;
 * with an adapter, the weights' hash covers the base and the adapter, so
 * neither can another adapter on the same base; with --quantize, it also
 * covers the quantization, so a quantized model is another model.
 *
 * With kl_base (a decoder sharing the model's tokenizer, checked before any
 * weights load), every log-likelihood request is also scored by the base
 * and the model together, and each task gets KL(base ‖ model) over the
 * whole vocabulary at its continuation positions (kld_cli.h, the loop of
 * `yardstick kld --tasks`): the mean with llama.cpp's uncertainty and the
 * number of positions, as the metric kld_mean (lower is better) in the
 * summary, the store and the results JSON. Generation tasks have no fixed
 * continuation and get none. Nothing of the base is cached; the model's
 * own answers still come from (and go to) the cache under its identity.
 */
#ifndef YS_RUNNER_H
#define YS_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

/* Generation requests decoded together when --batch-size is not given
 * (fewer when their KV caches would not fit in half the available memory). */
#define RN_GEN_BATCH 64

typedef struct {
    const char *model_dir;
    const char *adapter_dir;  /* PEFT LoRA adapter merged at load; NULL: none */
    const char *quantize;     /* "int8", "int4", "int4-sym" (decoders); NULL: as stored */
    const char *quantize_head;/* the LM head too, as quantize; NULL: as stored */
    int group_size;           /* int4: 32 or 128 (0: 128) */
    bool compute_bf16;        /* BF16 dot products (decoders) */
    bool compute_int8;        /* int8 dot products on quantized weights (decoders) */
    const char *kl_base;      /* --kl-base: the reference decoder for kld_mean; NULL: none */
    const char *tasks;        /* comma-separated names */
    const char *data_dir;     /* NULL: bundled samples */
    const char *const *include;
    size_t ninclude;
    const char *db;           /* results store; NULL: none */
    int db_timeout_ms;        /* wait for another writer's lock (0: the store's default) */
    const char *output;       /* results JSON; NULL: none */
    bool log_samples;         /* samples_<task>_<time>.jsonl beside output */
    long limit;               /* documents per task; 0: all */
    int num_fewshot;          /* -1: each spec's own */
    int batch_size;           /* scoring: requests per engine group; generation: requests
                                 decoded together (continuous batching), capped by memory */
    bool batch_size_set;      /* given by the user: generation uses it, else RN_GEN_BATCH */
    const char *fewshot_sampler; /* "random" or "first_n" for every task; NULL: each spec's own */
    long prefix_cache_mb;     /* the scoring prefix cache's budget (model.h); 0: none; < 0: the default
                                 (model_prefix_cache_default_mb) */
    int threads;              /* 0: all cores */
    uint64_t seed;
    bool skip_bad_rows;
    bool allow_empty;         /* an eval split without documents scores n = 0 instead of failing */
    bool progress;            /* progress line on stderr */
    int64_t resume_run;       /* continue this run (its settings must match) */
    bool rescore;             /* with resume_run: no model, every response
                                 must come from the cache; filters and
                                 metrics are recomputed */
    struct rn_dist *dist;     /* the ranks sharing the run's requests (runner_dist.h); NULL: one process */
} run_options;

/* Runs everything; prints the summary table on stdout. Returns 0 or a
 * negative YS_E* code with err filled; *run_id gets the stored run (0 when
 * no store). With dist, every rank calls it: rank 0 does what one process
 * does, the other ranks compute their share of the requests and return
 * (runner_dist.h). */
int run_tasks(const run_options *o, int64_t *run_id, ys_error *err);

#endif
