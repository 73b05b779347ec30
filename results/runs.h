/* runs.h — reading runs back out of the store, and moving them in and out
 * in lm-evaluation-harness's results layout:
 *   {"results": {task: {"acc,none": v, "acc_stderr,none": se, ...}},
 *    "n-samples": {task: {"original": n, "effective": n}},
 *    "higher_is_better": {task: {metric: bool}}, "config": {...}}
 * Everything returned is malloc'd; free rows with the matching *_free.
 */
#ifndef YS_RUNS_H
#define YS_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct {
    int64_t id;
    char *model, *tasks, *started_at, *finished_at, *status, *version, *settings;
    int64_t samples; /* per-sample records stored */
    /* run --kl-base: the base's model name and weights hash (NULL: none) */
    char *kl_base, *kl_base_sha256;
} rs_run_info;

typedef struct {
    char *task, *metric, *filter, *task_hash;
    double value, stderr_, ci_low, ci_high; /* NAN where NULL */
    int64_t n;
    bool higher_is_better;
} rs_result_row;

/* All runs, newest first. */
int rs_runs_list(rs_store *s, rs_run_info **runs, size_t *n, ys_error *err);
/* One run; YS_EINPUT when there is no such run. */
int rs_run_get(rs_store *s, int64_t id, rs_run_info *run, ys_error *err);
void rs_run_info_free(rs_run_info *runs, size_t n);
int rs_results_get(rs_store *s, int64_t run_id, rs_result_row **rows, size_t *n, ys_error *err);
void rs_result_rows_free(rs_result_row *rows, size_t n);

/* The run in lm-evaluation-harness's results layout (malloc'd JSON text). */
int rs_run_to_lmeval(rs_store *s, int64_t run_id, char **json, ys_error *err);
/* Import an lm-evaluation-harness results file's text as a run with
 * status "imported"; model_name overrides the name found in the file.
 * `source` names the file in error messages. */
int rs_import_lmeval(rs_store *s, const char *json_text, const char *source, const char *model_name,
                     const char *version, int64_t *run_id, ys_error *err);

#endif
