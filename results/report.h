/* report.h — the leaderboard: models × (task, metric) columns from each
 * model's latest run (or every run, for history), with value ± stderr and n,
 * the GLUE average where GLUE tasks are present, the best value per column
 * marked, models not significantly different from the best marked as tied
 * (|Δ| < 1.96·sqrt(se₁² + se₂²)), and HELM's mean win rate. Columns of
 * metrics measured against another model (kld_mean from `run --kl-base`,
 * lower is better) are shown, with each row's base named, but left out of
 * the win rate: they say how far a model is from its base, not how well it
 * answers, and two rows may have different bases. Rendered as
 * Markdown, CSV, JSON or one self-contained HTML page with SVG charts.
 * lb_build allocates a leaderboard the caller frees with lb_free; rendered
 * text is malloc'd and freed by the caller.
 */
#ifndef YS_REPORT_H
#define YS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct {
    const char *tasks;  /* comma-separated filter, NULL: all */
    const char *models; /* comma-separated filter, NULL: all */
    const char *sort;   /* column "task:metric", "glue", "win_rate" (default) */
} lb_options;

typedef struct {
    char *task, *metric, *filter;
    bool higher_is_better;
} lb_column;

typedef struct {
    bool present;
    double value, stderr_; /* NAN when unknown */
    int64_t n;
    bool best, tied;
} lb_cell;

typedef struct {
    char *model;
    int64_t model_id;
    int64_t run;
    double win_rate, glue; /* NAN when not applicable */
    char *kl_base;         /* the run's --kl-base model name; NULL: none */
} lb_row;

/* One point of a model's history: a run's value in one column. */
typedef struct {
    size_t row, col;
    int64_t run;
    char *date;
    double value;
} lb_point;

typedef struct {
    lb_row *rows;
    size_t nrows;
    lb_column *cols;
    size_t ncols;
    lb_cell *cells; /* nrows × ncols, row-major */
    bool has_glue;
    lb_point *history;
    size_t nhistory;
} leaderboard;

int lb_build(rs_store *s, const lb_options *o, leaderboard **out, ys_error *err);
void lb_free(leaderboard *lb);
/* format: "md", "csv", "json" or "html". */
int lb_render(const leaderboard *lb, const char *format, char **text, ys_error *err);

#endif
