/* store.h — the SQLite results store: models, runs, per-task results,
 * per-sample records and the response cache, in one file anyone can query.
 *
 * rs_open creates or migrates the database (schema.sql's forward
 * migrations, PRAGMA user_version), refuses a file that is not a yardstick
 * database or was written by a newer yardstick, and sets WAL mode with a
 * busy timeout so two runs can write the same file at once. Writes of many
 * rows (results, a batch of samples) are one short transaction each, so a
 * killed process keeps everything it finished. Strings passed in are
 * copied by SQLite; strings handed out are malloc'd and freed by the
 * caller. Functions return 0 or a negative YS_E* code with a message.
 */
#ifndef YS_STORE_H
#define YS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct rs_store rs_store;

typedef struct {
    const char *name, *path, *architecture, *dtype;
    const char *weights_sha256, *tokenizer_sha256;
    int64_t n_params; /* 0: unknown */
    /* a base with a PEFT adapter merged at load (NULL: none): weights_sha256
     * is then the identity of the merged weights (base and adapter) */
    const char *base_weights_sha256, *adapter_path, *adapter_sha256;
} rs_model;

typedef struct {
    int64_t model_id;
    const char *tasks;         /* comma-separated, as asked */
    const char *version;       /* yardstick version */
    const char *settings_json; /* NULL: "{}" */
    const char *host;
    const char *status;        /* NULL: "running"; "imported" for imports */
    int64_t seed;
    int threads;
    int64_t kl_base_model_id;  /* --kl-base: the model kld_mean is measured against; 0: none */
} rs_run;

typedef struct {
    const char *task, *metric, *filter; /* filter NULL: "none" */
    double value, stderr_, ci_low, ci_high; /* NAN: NULL in the database */
    int64_t n;
    bool higher_is_better;
    const char *task_hash;
} rs_result;

typedef struct {
    const char *task;
    int64_t doc_id;
    const char *input_hash, *prompt, *prediction, *target;
    const char *metrics_json, *stats_json, *logprobs_json;
} rs_sample;

/* The schema version this build writes. */
int rs_schema_version(void);

int rs_open(const char *path, rs_store **out, ys_error *err);
/* rs_open waiting at most timeout_ms (0: not at all) for another writer's
 * lock, at open and at every later statement; past it the call fails with
 * YS_EBUSY, not YS_EINPUT: a lock is not bad data. rs_open waits
 * RS_DEFAULT_TIMEOUT_MS. */
#define RS_DEFAULT_TIMEOUT_MS 30000
int rs_open_wait(const char *path, int timeout_ms, rs_store **out, ys_error *err);
/* When the last failure of the store's connection was a lock: YS_EBUSY
 * with a message, else 0 (for modules issuing their own statements). */
int rs_busy_error(rs_store *s, ys_error *err, const char *what);
void rs_close(rs_store *s);

/* Find the model with this name and weights hash, or add it. */
int rs_model_id(rs_store *s, const rs_model *m, int64_t *id, ys_error *err);
int rs_run_begin(rs_store *s, const rs_run *r, int64_t *run_id, ys_error *err);
/* Mark a run complete or failed and stamp its end time. */
int rs_run_end(rs_store *s, int64_t run_id, const char *status, ys_error *err);
/* Delete a run with its results and samples; YS_EINPUT if no such run. */
int rs_run_delete(rs_store *s, int64_t run_id, ys_error *err);
/* Insert or replace task results (one transaction). */
int rs_results_put(rs_store *s, int64_t run_id, const rs_result *r, size_t n, ys_error *err);
/* Insert or replace a batch of samples (one transaction). */
int rs_samples_put(rs_store *s, int64_t run_id, const rs_sample *smp, size_t n, ys_error *err);
/* The first rendered prompt of a task in a run, with its token ids as a
 * JSON array (replaces an earlier one). */
int rs_prompt_put(rs_store *s, int64_t run_id, const char *task, const char *prompt, const char *token_ids_json,
                  ys_error *err);
/* Number of samples stored for (run, task), for resuming. */
int rs_samples_count(rs_store *s, int64_t run_id, const char *task, int64_t *count, ys_error *err);

/* Response cache: *response gets a malloc'd copy, or NULL when absent. */
int rs_cache_get(rs_store *s, const char *key, char **response, ys_error *err);
int rs_cache_put(rs_store *s, const char *key, const char *response, ys_error *err);
/* Many entries in one transaction (a finished batch of requests). */
int rs_cache_put_many(rs_store *s, const char *const *keys, const char *const *responses, size_t n, ys_error *err);

/* The SQLite handle, for the report and compare code in results/. */
struct sqlite3 *rs_db(rs_store *s);
/* The file name the store was opened with. */
const char *rs_path(const rs_store *s);

#endif
