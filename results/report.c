#include "report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "runs.h"
#include "textbuf.h"

/* ---- building ----------------------------------------------------------- */

static bool in_list(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static int find_col(const leaderboard *lb, const char *task, const char *metric, const char *filter)
{
    for (size_t c = 0; c < lb->ncols; c++)
        if (!strcmp(lb->cols[c].task, task) && !strcmp(lb->cols[c].metric, metric) &&
            !strcmp(lb->cols[c].filter, filter))
            return (int)c;
    return -1;
}

/* kld_mean (run --kl-base): a distance from another model, not a score */
static bool against_a_model(const lb_column *c)
{
    return !strncmp(c->metric, "kld_", 4);
}

static bool any_against_a_model(const leaderboard *lb)
{
    for (size_t c = 0; c < lb->ncols; c++)
        if (against_a_model(&lb->cols[c]))
            return true;
    return false;
}

static int cmp_col(const void *a, const void *b)
{
    const lb_column *x = a, *y = b;
    int c = strcmp(x->task, y->task);
    if (!c)
        c = strcmp(x->metric, y->metric);
    return c ? c : strcmp(x->filter, y->filter);
}

/* lm-evaluation-harness and scorer names for the same GLUE metric. */
static bool metric_is(const char *have, const char *want)
{
    static const char *alias[][2] = {{"accuracy", "acc"}, {"matthews_correlation", "mcc"}, {"pearsonr", "pearson"}};
    if (!strcmp(have, want))
        return true;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(want, alias[i][0]) && !strcmp(have, alias[i][1]))
            return true;
    return false;
}

/* A model's GLUE average: mean over GLUE tasks present in the columns of
 * each task's convention score; NAN unless every such task has all its
 * metrics for this model. */
static double glue_average(const leaderboard *lb, size_t r, bool *any)
{
    size_t nconv;
    const glue_convention *conv = glue_conventions(&nconv);
    double sum = 0, weight = 0;
    *any = false;
    for (size_t t = 0; t < nconv; t++) {
        double vals[4];
        size_t nv = 0, want = 0;
        bool task_present = false;
        for (const char *p = conv[t].metrics; *p;) {
            size_t len = strcspn(p, ",");
            char metric[64];
            snprintf(metric, sizeof metric, "%.*s", (int)len, p);
            want++;
            for (size_t c = 0; c < lb->ncols; c++) {
                if (strcmp(lb->cols[c].task, conv[t].task) || !metric_is(lb->cols[c].metric, metric))
                    continue;
                task_present = true;
                const lb_cell *cell = &lb->cells[r * lb->ncols + c];
                if (cell->present && !isnan(cell->value) && nv < 4) {
                    vals[nv++] = cell->value;
                    break;
                }
            }
            p += len + (p[len] == ',');
        }
        if (!task_present)
            continue;
        *any = true;
        if (nv != want)
            return NAN;
        double w = glue_task_weight(conv[t].task);
        sum += w * glue_task_score(vals, nv);
        weight += w;
    }
    return weight > 0 ? sum / weight : NAN;
}

static int add_history(rs_store *s, leaderboard *lb, ys_error *err)
{
    const char *sql = "SELECT r.id, r.started_at, m.id, tr.task, tr.metric, tr.filter, tr.value FROM runs r "
                      "JOIN models m ON m.id = r.model_id JOIN task_results tr ON tr.run = r.id "
                      "WHERE r.status IN ('complete', 'imported') ORDER BY r.id";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rs_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return ys_fail(err, YS_EINPUT, "%s: %s", rs_path(s), sqlite3_errmsg(rs_db(s)));
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 6) == SQLITE_NULL)
            continue;
        int64_t model_id = sqlite3_column_int64(st, 2);
        int col = find_col(lb, (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4),
                           (const char *)sqlite3_column_text(st, 5));
        if (col < 0)
            continue;
        /* rows are keyed by the model behind their latest run */
        size_t row = lb->nrows;
        for (size_t r = 0; r < lb->nrows; r++)
            if (lb->rows[r].model_id == model_id)
                row = r;
        if (row == lb->nrows)
            continue;
        if (lb->nhistory == cap) {
            cap = cap ? cap * 2 : 64;
            lb_point *p = realloc(lb->history, cap * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                return ys_fail(err, YS_ENOMEM, "out of memory");
            }
            lb->history = p;
        }
        const unsigned char *date = sqlite3_column_text(st, 1);
        lb->history[lb->nhistory++] = (lb_point){row, (size_t)col, sqlite3_column_int64(st, 0),
                                                 strdup(date ? (const char *)date : ""), sqlite3_column_double(st, 6)};
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : ys_fail(err, YS_EINPUT, "%s: %s", rs_path(s), sqlite3_errmsg(rs_db(s)));
}

/* The sort key of row r: sort_col -1 win rate, -2 GLUE, else a column
 * (negated when lower is better, so larger always sorts first). */
static double sort_key(const leaderboard *lb, size_t r, int sort_col)
{
    if (sort_col == -1)
        return lb->rows[r].win_rate;
    if (sort_col == -2)
        return lb->rows[r].glue;
    const lb_cell *c = &lb->cells[r * lb->ncols + (size_t)sort_col];
    double v = c->present ? c->value : NAN;
    return lb->cols[sort_col].higher_is_better ? v : -v;
}

static void swap_rows(leaderboard *lb, size_t i, size_t j)
{
    lb_row t = lb->rows[i];
    lb->rows[i] = lb->rows[j];
    lb->rows[j] = t;
    for (size_t c = 0; c < lb->ncols; c++) {
        lb_cell tc = lb->cells[i * lb->ncols + c];
        lb->cells[i * lb->ncols + c] = lb->cells[j * lb->ncols + c];
        lb->cells[j * lb->ncols + c] = tc;
    }
    for (size_t h = 0; h < lb->nhistory; h++) {
        if (lb->history[h].row == i)
            lb->history[h].row = j;
        else if (lb->history[h].row == j)
            lb->history[h].row = i;
    }
}

int lb_build(rs_store *s, const lb_options *o, leaderboard **out, ys_error *err)
{
    *out = NULL;
    leaderboard *lb = calloc(1, sizeof *lb);
    if (!lb)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    /* latest finished run of every model */
    const char *sql = "SELECT m.name, max(r.id), m.id FROM runs r JOIN models m ON m.id = r.model_id "
                      "WHERE r.status IN ('complete', 'imported') GROUP BY m.id ORDER BY m.name, m.id";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rs_db(s), sql, -1, &st, NULL) != SQLITE_OK) {
        lb_free(lb);
        return ys_fail(err, YS_EINPUT, "%s: %s", rs_path(s), sqlite3_errmsg(rs_db(s)));
    }
    size_t cap = 0;
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!in_list(o->models, name))
            continue;
        if (lb->nrows == cap) {
            cap = cap ? cap * 2 : 16;
            lb_row *p = realloc(lb->rows, cap * sizeof *p);
            if (!p) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
            lb->rows = p;
        }
        lb->rows[lb->nrows++] = (lb_row){strdup(name), sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 1), NAN, NAN,
                                         NULL};
    }
    sqlite3_finalize(st);
    for (size_t r = 0; r < lb->nrows && rc == 0; r++) {
        rs_run_info info;
        if ((rc = rs_run_get(s, lb->rows[r].run, &info, err)) < 0)
            break;
        if (info.kl_base)
            lb->rows[r].kl_base = strdup(info.kl_base);
        rs_run_info_free(&info, 1);
    }
    /* every (task, metric, filter) of those runs becomes a column */
    rs_result_row **res = calloc(lb->nrows + 1, sizeof *res);
    size_t *nres = calloc(lb->nrows + 1, sizeof *nres);
    size_t colcap = 0;
    if (!res || !nres)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t r = 0; r < lb->nrows && rc == 0; r++) {
        if ((rc = rs_results_get(s, lb->rows[r].run, &res[r], &nres[r], err)) < 0)
            break;
        for (size_t k = 0; k < nres[r]; k++) {
            const rs_result_row *x = &res[r][k];
            if (!in_list(o->tasks, x->task) || find_col(lb, x->task, x->metric, x->filter) >= 0)
                continue;
            if (lb->ncols == colcap) {
                colcap = colcap ? colcap * 2 : 16;
                lb_column *p = realloc(lb->cols, colcap * sizeof *p);
                if (!p) {
                    rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    break;
                }
                lb->cols = p;
            }
            lb->cols[lb->ncols++] = (lb_column){strdup(x->task), strdup(x->metric), strdup(x->filter), x->higher_is_better};
        }
    }
    if (rc == 0 && lb->ncols)
        qsort(lb->cols, lb->ncols, sizeof *lb->cols, cmp_col);
    if (rc == 0 && !(lb->cells = calloc(lb->nrows * lb->ncols + 1, sizeof *lb->cells)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t r = 0; r < lb->nrows && rc == 0; r++)
        for (size_t k = 0; k < nres[r]; k++) {
            const rs_result_row *x = &res[r][k];
            int c = find_col(lb, x->task, x->metric, x->filter);
            if (c >= 0)
                lb->cells[r * lb->ncols + (size_t)c] = (lb_cell){true, x->value, x->stderr_, x->n, false, false};
        }
    for (size_t r = 0; r < lb->nrows && res; r++)
        rs_result_rows_free(res[r], nres[r]);
    free(res);
    free(nres);
    if (rc < 0) {
        lb_free(lb);
        return rc;
    }
    /* best and statistically tied per column */
    for (size_t c = 0; c < lb->ncols; c++) {
        int best = -1;
        for (size_t r = 0; r < lb->nrows; r++) {
            const lb_cell *x = &lb->cells[r * lb->ncols + c];
            if (!x->present || isnan(x->value))
                continue;
            const lb_cell *b = best >= 0 ? &lb->cells[(size_t)best * lb->ncols + c] : NULL;
            if (!b || (lb->cols[c].higher_is_better ? x->value > b->value : x->value < b->value))
                best = (int)r;
        }
        if (best < 0)
            continue;
        lb_cell *b = &lb->cells[(size_t)best * lb->ncols + c];
        for (size_t r = 0; r < lb->nrows; r++) {
            lb_cell *x = &lb->cells[r * lb->ncols + c];
            if (!x->present || isnan(x->value))
                continue;
            if (x->value == b->value) {
                x->best = true;
            } else if (!isnan(x->stderr_) && !isnan(b->stderr_)) {
                double se = sqrt(x->stderr_ * x->stderr_ + b->stderr_ * b->stderr_);
                x->tied = fabs(b->value - x->value) < 1.959963984540054 * se;
            }
        }
    }
    /* mean win rate: per column, the share of other models beaten (ties
     * count half), averaged over the columns the model has */
    for (size_t r = 0; r < lb->nrows; r++) {
        double sum = 0;
        size_t ncol = 0;
        for (size_t c = 0; c < lb->ncols; c++) {
            const lb_cell *x = &lb->cells[r * lb->ncols + c];
            if (!x->present || isnan(x->value) || against_a_model(&lb->cols[c]))
                continue;
            double wins = 0;
            size_t others = 0;
            for (size_t q = 0; q < lb->nrows; q++) {
                const lb_cell *y = &lb->cells[q * lb->ncols + c];
                if (q == r || !y->present || isnan(y->value))
                    continue;
                others++;
                bool better = lb->cols[c].higher_is_better ? x->value > y->value : x->value < y->value;
                wins += better ? 1.0 : x->value == y->value ? 0.5 : 0.0;
            }
            if (others) {
                sum += wins / (double)others;
                ncol++;
            }
        }
        lb->rows[r].win_rate = ncol ? sum / (double)ncol : NAN;
        bool any;
        lb->rows[r].glue = glue_average(lb, r, &any);
        lb->has_glue |= any;
    }
    if ((rc = add_history(s, lb, err)) < 0) {
        lb_free(lb);
        return rc;
    }
    /* sort rows (cells move with them), best first, unknown keys last */
    int sort_col = -1;
    if (o->sort && !strcmp(o->sort, "glue"))
        sort_col = -2;
    else if (o->sort && strcmp(o->sort, "win_rate")) {
        char task[256];
        const char *colon = strchr(o->sort, ':');
        snprintf(task, sizeof task, "%.*s", colon ? (int)(colon - o->sort) : (int)strlen(o->sort), o->sort);
        sort_col = -3;
        for (size_t c = 0; c < lb->ncols && sort_col == -3; c++)
            if (!strcmp(lb->cols[c].task, task) && (!colon || !strcmp(lb->cols[c].metric, colon + 1)))
                sort_col = (int)c;
        if (sort_col == -3) {
            lb_free(lb);
            return ys_fail(err, YS_EUSAGE, "--sort: no column '%s' (use task:metric, glue or win_rate)", o->sort);
        }
    }
    /* insertion sort by adjacent swaps: stable (ties keep the query's name
     * order), and leaderboards have tens of rows */
    for (size_t i = 1; i < lb->nrows; i++)
        for (size_t j = i; j > 0; j--) {
            double kj = sort_key(lb, j, sort_col), kp = sort_key(lb, j - 1, sort_col);
            if (isnan(kj) || (!isnan(kp) && kj <= kp))
                break;
            swap_rows(lb, j, j - 1);
        }
    *out = lb;
    return 0;
}

void lb_free(leaderboard *lb)
{
    if (!lb)
        return;
    for (size_t r = 0; r < lb->nrows; r++)
        free(lb->rows[r].model), free(lb->rows[r].kl_base);
    for (size_t c = 0; c < lb->ncols; c++)
        free(lb->cols[c].task), free(lb->cols[c].metric), free(lb->cols[c].filter);
    for (size_t h = 0; h < lb->nhistory; h++)
        free(lb->history[h].date);
    free(lb->rows), free(lb->cols), free(lb->cells), free(lb->history);
    free(lb);
}

/* ---- rendering ---------------------------------------------------------- */

static void col_name(const lb_column *c, char *buf, size_t cap)
{
    if (strcmp(c->filter, "none"))
        snprintf(buf, cap, "%s:%s,%s", c->task, c->metric, c->filter);
    else
        snprintf(buf, cap, "%s:%s", c->task, c->metric);
}

static void fmt_value(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "–");
    else
        snprintf(buf, cap, "%.4f", v);
}

static void render_md(const leaderboard *lb, textbuf *b)
{
    tb_printf(b, "| model | run | mean win rate |%s", lb->has_glue ? " GLUE |" : "");
    for (size_t c = 0; c < lb->ncols; c++) {
        char name[300];
        col_name(&lb->cols[c], name, sizeof name);
        tb_printf(b, " %s %s |", name, lb->cols[c].higher_is_better ? "↑" : "↓");
    }
    tb_printf(b, "\n|---|---|---|%s", lb->has_glue ? "---|" : "");
    for (size_t c = 0; c < lb->ncols; c++)
        tb_printf(b, "---|");
    tb_printf(b, "\n");
    for (size_t r = 0; r < lb->nrows; r++) {
        char v[32];
        fmt_value(v, sizeof v, lb->rows[r].win_rate);
        tb_printf(b, "| %s | %lld | %s |", lb->rows[r].model, (long long)lb->rows[r].run, v);
        if (lb->has_glue) {
            fmt_value(v, sizeof v, lb->rows[r].glue);
            tb_printf(b, " %s |", v);
        }
        for (size_t c = 0; c < lb->ncols; c++) {
            const lb_cell *x = &lb->cells[r * lb->ncols + c];
            if (!x->present) {
                tb_printf(b, " |");
                continue;
            }
            fmt_value(v, sizeof v, x->value);
            const char *mark = x->best ? "**" : x->tied ? "*" : "";
            tb_printf(b, " %s%s%s", mark, v, mark);
            if (!isnan(x->stderr_))
                tb_printf(b, " ± %.4f", x->stderr_);
            tb_printf(b, " (n=%lld) |", (long long)x->n);
        }
        tb_printf(b, "\n");
    }
    tb_printf(b, "\n**bold**: best in the column; *italic*: not significantly different from the best "
                 "(|Δ| < 1.96·√(se₁² + se₂²)). Latest run per model.\n");
    if (any_against_a_model(lb)) {
        tb_printf(b, "\nkld_mean: mean KL(base ‖ model) per continuation token (n = positions), not in the win "
                     "rate; measured against:");
        for (size_t r = 0; r < lb->nrows; r++)
            if (lb->rows[r].kl_base)
                tb_printf(b, " %s → %s;", lb->rows[r].model, lb->rows[r].kl_base);
        tb_printf(b, "\n");
    }
}

static void render_csv(const leaderboard *lb, textbuf *b)
{
    tb_printf(b, "model,run,mean_win_rate,glue");
    for (size_t c = 0; c < lb->ncols; c++) {
        char name[300];
        col_name(&lb->cols[c], name, sizeof name);
        for (int k = 0; k < 3; k++) {
            char full[340];
            snprintf(full, sizeof full, "%s%s", name, k == 0 ? "" : k == 1 ? " stderr" : " n");
            tb_printf(b, ",");
            tb_csv(b, full);
        }
    }
    tb_printf(b, "\n");
    for (size_t r = 0; r < lb->nrows; r++) {
        tb_csv(b, lb->rows[r].model);
        tb_printf(b, ",%lld,", (long long)lb->rows[r].run);
        if (!isnan(lb->rows[r].win_rate))
            tb_printf(b, "%.17g", lb->rows[r].win_rate);
        tb_printf(b, ",");
        if (!isnan(lb->rows[r].glue))
            tb_printf(b, "%.17g", lb->rows[r].glue);
        for (size_t c = 0; c < lb->ncols; c++) {
            const lb_cell *x = &lb->cells[r * lb->ncols + c];
            tb_printf(b, ",");
            if (x->present && !isnan(x->value))
                tb_printf(b, "%.17g", x->value);
            tb_printf(b, ",");
            if (x->present && !isnan(x->stderr_))
                tb_printf(b, "%.17g", x->stderr_);
            tb_printf(b, ",");
            if (x->present)
                tb_printf(b, "%lld", (long long)x->n);
        }
        tb_printf(b, "\n");
    }
}

static void render_json(const leaderboard *lb, textbuf *b)
{
    tb_printf(b, "{\"columns\": [");
    for (size_t c = 0; c < lb->ncols; c++) {
        const lb_column *x = &lb->cols[c];
        tb_printf(b, "%s{\"task\": ", c ? ", " : "");
        tb_json_str(b, x->task);
        tb_printf(b, ", \"metric\": ");
        tb_json_str(b, x->metric);
        tb_printf(b, ", \"filter\": ");
        tb_json_str(b, x->filter);
        tb_printf(b, ", \"higher_is_better\": %s}", x->higher_is_better ? "true" : "false");
    }
    tb_printf(b, "], \"rows\": [");
    for (size_t r = 0; r < lb->nrows; r++) {
        tb_printf(b, "%s{\"model\": ", r ? ", " : "");
        tb_json_str(b, lb->rows[r].model);
        tb_printf(b, ", \"run\": %lld, \"mean_win_rate\": ", (long long)lb->rows[r].run);
        tb_json_num(b, lb->rows[r].win_rate);
        tb_printf(b, ", \"glue\": ");
        tb_json_num(b, lb->rows[r].glue);
        tb_printf(b, ", \"kl_base\": ");
        if (lb->rows[r].kl_base)
            tb_json_str(b, lb->rows[r].kl_base);
        else
            tb_printf(b, "null");
        tb_printf(b, ", \"cells\": [");
        for (size_t c = 0; c < lb->ncols; c++) {
            const lb_cell *x = &lb->cells[r * lb->ncols + c];
            tb_printf(b, "%s", c ? ", " : "");
            if (!x->present) {
                tb_printf(b, "null");
                continue;
            }
            tb_printf(b, "{\"value\": ");
            tb_json_num(b, x->value);
            tb_printf(b, ", \"stderr\": ");
            tb_json_num(b, x->stderr_);
            tb_printf(b, ", \"n\": %lld, \"best\": %s, \"tied\": %s}", (long long)x->n, x->best ? "true" : "false",
                      x->tied ? "true" : "false");
        }
        tb_printf(b, "]}");
    }
    tb_printf(b, "]}\n");
}

/* A fixed palette that reads on white and prints in grey. */
static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* Per-column bar chart across models with 95% error bars. */
static void svg_bars(const leaderboard *lb, size_t c, textbuf *b)
{
    const double W = 360, H = 220, L = 48, B = 40, T = 28;
    double lo = 0, hi = 0;
    for (size_t r = 0; r < lb->nrows; r++) {
        const lb_cell *x = &lb->cells[r * lb->ncols + c];
        if (!x->present || isnan(x->value))
            continue;
        double e = isnan(x->stderr_) ? 0 : 1.96 * x->stderr_;
        lo = fmin(lo, x->value - e);
        hi = fmax(hi, x->value + e);
    }
    if (hi - lo <= 0)
        hi = lo + 1;
    char name[300];
    col_name(&lb->cols[c], name, sizeof name);
    tb_printf(b, "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", W, H, W, H);
    tb_printf(b, "<text x=\"%.0f\" y=\"16\" class=\"title\">", W / 2);
    tb_xml(b, name);
    tb_printf(b, "</text>");
    double plot_h = H - T - B, plot_w = W - L - 10;
    double y0 = T + plot_h * (hi / (hi - lo)); /* the zero line */
    for (int g = 0; g <= 4; g++) {
        double v = lo + (hi - lo) * g / 4.0, y = T + plot_h * (1 - (v - lo) / (hi - lo));
        tb_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", L, W - 10, y, y);
        tb_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\">%.3g</text>", L - 4, y + 4, v);
    }
    size_t n = lb->nrows ? lb->nrows : 1;
    double slot = plot_w / (double)n, bw = slot * 0.6;
    for (size_t r = 0; r < lb->nrows; r++) {
        const lb_cell *x = &lb->cells[r * lb->ncols + c];
        double cx = L + slot * ((double)r + 0.5);
        if (x->present && !isnan(x->value)) {
            double y = T + plot_h * (1 - (x->value - lo) / (hi - lo));
            tb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", cx - bw / 2,
                      fmin(y, y0), bw, fabs(y0 - y), palette[r % 10]);
            tb_xml(b, lb->rows[r].model);
            tb_printf(b, ": %.4f</title></rect>", x->value);
            if (!isnan(x->stderr_) && x->stderr_ > 0) {
                double e = 1.96 * x->stderr_;
                double ya = T + plot_h * (1 - (x->value + e - lo) / (hi - lo));
                double yb = T + plot_h * (1 - (x->value - e - lo) / (hi - lo));
                tb_printf(b, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" class=\"err\"/>", cx, ya, yb,
                          cx - 5, ya, cx + 5, cx - 5, yb, cx + 5);
            }
        }
        tb_printf(b, "<text x=\"%.1f\" y=\"%.0f\" class=\"label\">", cx, H - B + 14);
        tb_xml(b, lb->rows[r].model);
        tb_printf(b, "</text>");
    }
    tb_printf(b, "</svg>\n");
}

/* A model's score history in one column: one line per model over its runs. */
static bool svg_history(const leaderboard *lb, size_t c, textbuf *b)
{
    size_t points = 0, lines = 0;
    double lo = INFINITY, hi = -INFINITY;
    int64_t rmin = INT64_MAX, rmax = INT64_MIN;
    for (size_t r = 0; r < lb->nrows; r++) {
        size_t k = 0;
        for (size_t h = 0; h < lb->nhistory; h++) {
            const lb_point *p = &lb->history[h];
            if (p->row != r || p->col != c)
                continue;
            k++;
            lo = fmin(lo, p->value), hi = fmax(hi, p->value);
            rmin = p->run < rmin ? p->run : rmin, rmax = p->run > rmax ? p->run : rmax;
        }
        points += k;
        lines += k >= 2;
    }
    if (!lines)
        return false;
    if (hi - lo <= 0)
        hi = lo + 1, lo -= 1;
    if (rmax == rmin)
        rmax = rmin + 1;
    const double W = 360, H = 200, L = 48, B = 30, T = 28;
    double plot_h = H - T - B, plot_w = W - L - 14;
    char name[300];
    col_name(&lb->cols[c], name, sizeof name);
    tb_printf(b, "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", W, H, W, H);
    tb_printf(b, "<text x=\"%.0f\" y=\"16\" class=\"title\">", W / 2);
    tb_xml(b, name);
    tb_printf(b, " across runs</text>");
    for (int g = 0; g <= 4; g++) {
        double v = lo + (hi - lo) * g / 4.0, y = T + plot_h * (1 - (v - lo) / (hi - lo));
        tb_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", L, W - 14, y, y);
        tb_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\">%.3g</text>", L - 4, y + 4, v);
    }
    for (size_t r = 0; r < lb->nrows; r++) {
        bool first = true;
        tb_printf(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", palette[r % 10]);
        for (size_t h = 0; h < lb->nhistory; h++) {
            const lb_point *p = &lb->history[h];
            if (p->row != r || p->col != c)
                continue;
            double x = L + plot_w * (double)(p->run - rmin) / (double)(rmax - rmin);
            double y = T + plot_h * (1 - (p->value - lo) / (hi - lo));
            tb_printf(b, "%s%.1f %.1f", first ? "M" : "L", x, y);
            first = false;
        }
        tb_printf(b, "\"/>");
        for (size_t h = 0; h < lb->nhistory; h++) {
            const lb_point *p = &lb->history[h];
            if (p->row != r || p->col != c)
                continue;
            double x = L + plot_w * (double)(p->run - rmin) / (double)(rmax - rmin);
            double y = T + plot_h * (1 - (p->value - lo) / (hi - lo));
            tb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", x, y, palette[r % 10]);
            tb_xml(b, lb->rows[r].model);
            tb_printf(b, " run %lld (%s): %.4f</title></circle>", (long long)p->run, p->date, p->value);
        }
    }
    tb_printf(b, "<text x=\"%.0f\" y=\"%.0f\" class=\"tick\">run %lld … %lld</text>", W / 2 + 40, H - 8,
              (long long)rmin, (long long)rmax);
    tb_printf(b, "</svg>\n");
    (void)points;
    return true;
}

static void render_html(const leaderboard *lb, textbuf *b)
{
    tb_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>yardstick leaderboard</title>\n<style>\n"
                 "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222}\n"
                 "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}\n"
                 "table{border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
                 "th,td{padding:5px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}\n"
                 "th:first-child,td:first-child{text-align:left}th{background:#f4f4f4;position:sticky;top:0}\n"
                 "td.best{font-weight:700;background:#e8f5e9}td.tied{background:#f1f8e9}\n"
                 ".se{color:#777;font-size:12px}.n{color:#999;font-size:11px}\n"
                 ".charts{display:flex;flex-wrap:wrap;gap:12px}.scroll{overflow-x:auto}\n"
                 ".chart{border:1px solid #eee;border-radius:4px;background:#fff}\n"
                 ".title{font-size:13px;font-weight:600;text-anchor:middle}\n"
                 ".tick{font-size:10px;fill:#666;text-anchor:end}.label{font-size:11px;text-anchor:middle}\n"
                 ".grid{stroke:#eee}.err{stroke:#222;stroke-width:1.2}\n"
                 "p.legend{color:#555;font-size:12px}\n</style></head><body>\n");
    tb_printf(b, "<h1>yardstick leaderboard</h1>\n<p class=\"legend\">Latest run per model. Bold: best in the "
                 "column; shaded: not significantly different from the best (|Δ| &lt; 1.96·√(se₁² + se₂²)). "
                 "± is the standard error; n the number of samples.</p>\n");
    tb_printf(b, "<div class=\"scroll\"><table>\n<thead><tr><th>model</th><th>run</th><th>mean win rate</th>%s",
              lb->has_glue ? "<th>GLUE</th>" : "");
    for (size_t c = 0; c < lb->ncols; c++) {
        char name[300];
        col_name(&lb->cols[c], name, sizeof name);
        tb_printf(b, "<th>");
        tb_xml(b, name);
        tb_printf(b, " %s</th>", lb->cols[c].higher_is_better ? "↑" : "↓");
    }
    tb_printf(b, "</tr></thead>\n<tbody>\n");
    for (size_t r = 0; r < lb->nrows; r++) {
        char v[32];
        tb_printf(b, "<tr><td>");
        tb_xml(b, lb->rows[r].model);
        fmt_value(v, sizeof v, lb->rows[r].win_rate);
        tb_printf(b, "</td><td>%lld</td><td>%s</td>", (long long)lb->rows[r].run, v);
        if (lb->has_glue) {
            fmt_value(v, sizeof v, lb->rows[r].glue);
            tb_printf(b, "<td>%s</td>", v);
        }
        for (size_t c = 0; c < lb->ncols; c++) {
            const lb_cell *x = &lb->cells[r * lb->ncols + c];
            if (!x->present) {
                tb_printf(b, "<td></td>");
                continue;
            }
            fmt_value(v, sizeof v, x->value);
            tb_printf(b, "<td%s>%s", x->best ? " class=\"best\"" : x->tied ? " class=\"tied\"" : "", v);
            if (!isnan(x->stderr_))
                tb_printf(b, " <span class=\"se\">± %.4f</span>", x->stderr_);
            tb_printf(b, " <span class=\"n\">n=%lld</span></td>", (long long)x->n);
        }
        tb_printf(b, "</tr>\n");
    }
    tb_printf(b, "</tbody></table></div>\n");
    if (any_against_a_model(lb)) {
        tb_printf(b, "<p class=\"legend\">kld_mean: mean KL(base ‖ model) per continuation token (n = positions), "
                     "not in the win rate; measured against:");
        for (size_t r = 0; r < lb->nrows; r++)
            if (lb->rows[r].kl_base) {
                tb_printf(b, " ");
                tb_xml(b, lb->rows[r].model);
                tb_printf(b, " → ");
                tb_xml(b, lb->rows[r].kl_base);
                tb_printf(b, ";");
            }
        tb_printf(b, "</p>\n");
    }
    tb_printf(b, "<h2>Per task</h2>\n<div class=\"charts\">\n");
    for (size_t c = 0; c < lb->ncols; c++)
        svg_bars(lb, c, b);
    tb_printf(b, "</div>\n<h2>History</h2>\n<div class=\"charts\">\n");
    bool any = false;
    for (size_t c = 0; c < lb->ncols; c++)
        any |= svg_history(lb, c, b);
    if (!any)
        tb_printf(b, "<p class=\"legend\">Each model has one run so far.</p>\n");
    tb_printf(b, "</div>\n<p class=\"legend\">Models: ");
    for (size_t r = 0; r < lb->nrows; r++) {
        tb_printf(b, "<span style=\"color:%s\">■</span> ", palette[r % 10]);
        tb_xml(b, lb->rows[r].model);
        tb_printf(b, "%s", r + 1 < lb->nrows ? " &nbsp; " : "");
    }
    tb_printf(b, "</p>\n</body></html>\n");
}

int lb_render(const leaderboard *lb, const char *format, char **text, ys_error *err)
{
    textbuf b = {0};
    if (!strcmp(format, "md"))
        render_md(lb, &b);
    else if (!strcmp(format, "csv"))
        render_csv(lb, &b);
    else if (!strcmp(format, "json"))
        render_json(lb, &b);
    else if (!strcmp(format, "html"))
        render_html(lb, &b);
    else
        return ys_fail(err, YS_EUSAGE, "unknown report format '%s' (md, html, csv, json)", format);
    *text = tb_take(&b);
    return *text ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
}
