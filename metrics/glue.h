/* glue.h — the GLUE benchmark's scoring convention per task: which metrics
 * it reports and how they fold into the task's single GLUE score (the mean
 * of its metrics, e.g. MRPC = (F1 + accuracy) / 2, STS-B = (Pearson +
 * Spearman) / 2). Metric names are scorer names. A static table; no state.
 */
#ifndef YS_GLUE_H
#define YS_GLUE_H

#include <stddef.h>

typedef struct {
    const char *task;    /* lm-evaluation-harness task name: cola, sst2, ... */
    const char *metrics; /* comma-separated scorer metric names */
} glue_convention;

/* NULL for a task GLUE does not define. */
const glue_convention *glue_lookup(const char *task);
/* The whole table (for listings); *n receives its length. */
const glue_convention *glue_conventions(size_t *n);
/* The weight of a task in the GLUE average: MNLI's matched and mismatched
 * sets are one GLUE task, so each counts half; every other task counts 1. */
double glue_task_weight(const char *task);
/* The task's GLUE score from its metric values, given in `metrics` order. */
double glue_task_score(const double *values, size_t n);

#endif
