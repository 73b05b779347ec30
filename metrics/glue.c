#include "glue.h"

#include <string.h>

/* From the GLUE paper's table of task metrics. */
static const glue_convention table[] = {
    {"cola", "matthews_correlation"},
    {"sst2", "accuracy"},
    {"mrpc", "f1,accuracy"},
    {"qqp", "f1,accuracy"},
    {"stsb", "pearsonr,spearmanr"},
    {"mnli", "accuracy"},
    {"mnli_mismatch", "accuracy"},
    {"qnli", "accuracy"},
    {"rte", "accuracy"},
    {"wnli", "accuracy"},
};

const glue_convention *glue_lookup(const char *task)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].task, task) == 0)
            return &table[i];
    return NULL;
}

const glue_convention *glue_conventions(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

double glue_task_score(const double *values, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += values[i];
    return n ? s / (double)n : 0.0;
}

double glue_task_weight(const char *task)
{
    return !strcmp(task, "mnli") || !strcmp(task, "mnli_mismatch") ? 0.5 : 1.0;
}
