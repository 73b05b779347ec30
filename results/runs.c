#include "runs.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "ys_json.h"

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* Make room for one more element in a growing array; -1 when out of memory. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int fail_db(rs_store *s, ys_error *err, const char *what)
{
    int busy = rs_busy_error(s, err, what);
    if (busy)
        return busy;
    return ys_fail(err, YS_EINPUT, "%s: %s: %s", rs_path(s), what, sqlite3_errmsg(rs_db(s)));
}

#define RUN_COLUMNS                                                                                      \
    "SELECT r.id, coalesce(m.name, '-'), r.tasks, r.started_at, r.finished_at, r.status, r.version, "   \
    "r.settings, (SELECT count(*) FROM samples s WHERE s.run = r.id), b.name, b.weights_sha256 "        \
    "FROM runs r LEFT JOIN models m ON m.id = r.model_id LEFT JOIN models b ON b.id = r.kl_base_model_id "

static void read_run(sqlite3_stmt *st, rs_run_info *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->model = col_text(st, 1);
    r->tasks = col_text(st, 2);
    r->started_at = col_text(st, 3);
    r->finished_at = col_text(st, 4);
    r->status = col_text(st, 5);
    r->version = col_text(st, 6);
    r->settings = col_text(st, 7);
    r->samples = sqlite3_column_int64(st, 8);
    r->kl_base = col_text(st, 9);
    r->kl_base_sha256 = col_text(st, 10);
}

int rs_runs_list(rs_store *s, rs_run_info **runs, size_t *n, ys_error *err)
{
    *runs = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rs_db(s), RUN_COLUMNS "ORDER BY r.id DESC", -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, err, "listing runs");
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow((void **)runs, &cap, *n, sizeof **runs) < 0) {
            sqlite3_finalize(st);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        read_run(st, &(*runs)[(*n)++]);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail_db(s, err, "listing runs");
}

int rs_run_get(rs_store *s, int64_t id, rs_run_info *run, ys_error *err)
{
    memset(run, 0, sizeof *run);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rs_db(s), RUN_COLUMNS "WHERE r.id = ?1", -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, err, "reading a run");
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_run(st, run);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return ys_fail(err, YS_EINPUT, "%s: no run %lld", rs_path(s), (long long)id);
    return rc == SQLITE_ROW ? 0 : fail_db(s, err, "reading a run");
}

void rs_run_info_free(rs_run_info *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++) {
        rs_run_info *r = &runs[i];
        free(r->model), free(r->tasks), free(r->started_at), free(r->finished_at);
        free(r->status), free(r->version), free(r->settings);
        free(r->kl_base), free(r->kl_base_sha256);
    }
}

int rs_results_get(rs_store *s, int64_t run_id, rs_result_row **rows, size_t *n, ys_error *err)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st;
    const char *sql = "SELECT task, metric, filter, value, stderr, ci_low, ci_high, n, higher_is_better, task_hash "
                      "FROM task_results WHERE run = ?1 ORDER BY task, metric, filter";
    if (sqlite3_prepare_v2(rs_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, err, "reading results");
    sqlite3_bind_int64(st, 1, run_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow((void **)rows, &cap, *n, sizeof **rows) < 0) {
            sqlite3_finalize(st);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        rs_result_row *r = &(*rows)[(*n)++];
        r->task = col_text(st, 0);
        r->metric = col_text(st, 1);
        r->filter = col_text(st, 2);
        r->value = col_real(st, 3);
        r->stderr_ = col_real(st, 4);
        r->ci_low = col_real(st, 5);
        r->ci_high = col_real(st, 6);
        r->n = sqlite3_column_int64(st, 7);
        r->higher_is_better = sqlite3_column_int(st, 8) != 0;
        r->task_hash = col_text(st, 9);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail_db(s, err, "reading results");
}

void rs_result_rows_free(rs_result_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].task), free(rows[i].metric), free(rows[i].filter), free(rows[i].task_hash);
    free(rows);
}

static cJSON *child(cJSON *parent, const char *name)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, name);
    return c ? c : cJSON_AddObjectToObject(parent, name);
}

static void add_number(cJSON *obj, const char *key, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(obj, key);
    else
        cJSON_AddNumberToObject(obj, key, v);
}

int rs_run_to_lmeval(rs_store *s, int64_t run_id, char **json, ys_error *err)
{
    *json = NULL;
    rs_run_info run;
    int rc = rs_run_get(s, run_id, &run, err);
    if (rc < 0)
        return rc;
    rs_result_row *rows;
    size_t n;
    if ((rc = rs_results_get(s, run_id, &rows, &n, err)) < 0) {
        rs_run_info_free(&run, 1);
        return rc;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *results = cJSON_AddObjectToObject(root, "results");
    cJSON *hib = cJSON_AddObjectToObject(root, "higher_is_better");
    cJSON *ns = cJSON_AddObjectToObject(root, "n-samples");
    for (size_t i = 0; i < n; i++) {
        const rs_result_row *r = &rows[i];
        cJSON *t = child(results, r->task);
        if (!cJSON_GetObjectItem(t, "alias"))
            cJSON_AddStringToObject(t, "alias", r->task);
        char key[256];
        snprintf(key, sizeof key, "%s,%s", r->metric, r->filter);
        add_number(t, key, r->value);
        snprintf(key, sizeof key, "%s_stderr,%s", r->metric, r->filter);
        add_number(t, key, r->stderr_);
        cJSON *h = child(hib, r->task);
        if (!cJSON_GetObjectItem(h, r->metric))
            cJSON_AddBoolToObject(h, r->metric, r->higher_is_better);
        cJSON *c = child(ns, r->task);
        if (!cJSON_GetObjectItem(c, "effective")) {
            cJSON_AddNumberToObject(c, "original", (double)r->n);
            cJSON_AddNumberToObject(c, "effective", (double)r->n);
        }
    }
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(cfg, "model", run.model ? run.model : "");
    cJSON *settings = run.settings ? cJSON_Parse(run.settings) : NULL;
    if (settings)
        cJSON_AddItemToObject(cfg, "settings", settings);
    cJSON_AddStringToObject(root, "model_name", run.model ? run.model : "");
    cJSON_AddNumberToObject(root, "run_id", (double)run.id);
    cJSON_AddStringToObject(root, "status", run.status ? run.status : "");
    cJSON_AddStringToObject(root, "yardstick_version", run.version ? run.version : "");
    cJSON_AddStringToObject(root, "date", run.started_at ? run.started_at : "");
    *json = cJSON_Print(root);
    cJSON_Delete(root);
    rs_result_rows_free(rows, n);
    rs_run_info_free(&run, 1);
    return *json ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
}

/* "pretrained=org/model,dtype=..." → "org/model" */
static void model_from_args(const char *args, char *out, size_t cap)
{
    const char *p = strstr(args, "pretrained=");
    if (!p) {
        snprintf(out, cap, "%s", args);
        return;
    }
    p += strlen("pretrained=");
    size_t len = strcspn(p, ",");
    snprintf(out, cap, "%.*s", (int)len, p);
}

int rs_import_lmeval(rs_store *s, const char *json_text, const char *source, const char *model_name,
                     const char *version, int64_t *run_id, ys_error *err)
{
    cJSON *root = NULL;
    int rc = ys_json_parse(json_text, strlen(json_text), source, 1, &root, err);
    if (rc < 0)
        return rc;
    const cJSON *results = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "results") : NULL;
    if (!cJSON_IsObject(results)) {
        rc = ys_fail(err, YS_EINPUT, "%s: missing object 'results' (not an lm-evaluation-harness results file?)", source);
        goto out;
    }
    /* every value the rows are read from has its type checked first: a task
     * that is not an object has no "metric,filter" members to walk */
    if (!results->child) {
        rc = ys_fail(err, YS_EINPUT, "%s: 'results' holds no tasks: nothing to import", source);
        goto out;
    }
    const cJSON *task0;
    cJSON_ArrayForEach(task0, results) {
        if (!cJSON_IsObject(task0)) {
            rc = ys_fail(err, YS_EINPUT, "%s: results.%s: expected an object of \"metric,filter\" numbers, found %s",
                         source, task0->string, ys_json_kind(task0));
            goto out;
        }
        const cJSON *kv;
        cJSON_ArrayForEach(kv, task0)
            if (strchr(kv->string, ',') && !strstr(kv->string, "_stderr,") && !cJSON_IsNumber(kv) &&
                !cJSON_IsNull(kv) && !cJSON_IsString(kv)) {
                rc = ys_fail(err, YS_EINPUT, "%s: results.%s.%s: expected a number, found %s", source,
                             task0->string, kv->string, ys_json_kind(kv));
                goto out;
            } else if (cJSON_IsNumber(kv) && !isfinite(kv->valuedouble)) {
                /* 1e999 reads as infinity: not a score */
                rc = ys_fail(err, YS_EINPUT, "%s: results.%s.%s: %s is not a finite number", source, task0->string,
                             kv->string, kv->valuedouble > 0 ? "+inf" : "-inf");
                goto out;
            }
    }
    /* the other members read below, when present, must have their types */
    static const char *const objects[] = {"config", "n-samples", "higher_is_better"};
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, objects[i]);
        if (o && !cJSON_IsObject(o) && !cJSON_IsNull(o)) {
            rc = ys_fail(err, YS_EINPUT, "%s: '%s': expected an object, found %s", source, objects[i], ys_json_kind(o));
            goto out;
        }
    }
    const cJSON *nsamp0 = cJSON_GetObjectItemCaseSensitive(root, "n-samples");
    if (!cJSON_IsObject(nsamp0))
        nsamp0 = NULL;
    const cJSON *ns0;
    cJSON_ArrayForEach(ns0, nsamp0) {
        if (!cJSON_IsObject(ns0)) {
            rc = ys_fail(err, YS_EINPUT, "%s: n-samples.%s: expected an object, found %s", source, ns0->string,
                         ys_json_kind(ns0));
            goto out;
        }
        const cJSON *eff = cJSON_GetObjectItemCaseSensitive(ns0, "effective");
        long long nn;
        char where[600];
        snprintf(where, sizeof where, "%s: n-samples.%s", source, ns0->string);
        if (eff && (rc = ys_json_int(eff, 0, (1LL << 52), where, "effective", &nn, err)) < 0)
            goto out;
    }
    char name[512] = "";
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(root, "model_name");
    const cJSON *ma = cJSON_GetObjectItemCaseSensitive(cfg, "model_args");
    if (model_name)
        snprintf(name, sizeof name, "%s", model_name);
    else if (cJSON_IsString(mn) && mn->valuestring[0])
        snprintf(name, sizeof name, "%s", mn->valuestring);
    else if (cJSON_IsString(ma))
        model_from_args(ma->valuestring, name, sizeof name);
    if (!name[0]) {
        rc = ys_fail(err, YS_EINPUT, "%s: no model name in the file; pass --model NAME", source);
        goto out;
    }
    /* the task list, and the rows: "metric,filter" keys with numbers */
    size_t cap = 64, nrows = 0;
    rs_result *rows = malloc(cap * sizeof *rows);
    char **owned = malloc(cap * 2 * sizeof *owned);
    char tasks[4096] = "";
    if (!rows || !owned) {
        free(rows), free(owned);
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
        goto out;
    }
    const cJSON *hib = cJSON_GetObjectItemCaseSensitive(root, "higher_is_better");
    const cJSON *nsamp = cJSON_GetObjectItemCaseSensitive(root, "n-samples");
    const cJSON *task;
    cJSON_ArrayForEach(task, results) {
        if (strlen(tasks) + strlen(task->string) + 2 < sizeof tasks) {
            if (tasks[0])
                strcat(tasks, ",");
            strcat(tasks, task->string);
        }
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(nsamp, task->string), "effective");
        const cJSON *kv;
        cJSON_ArrayForEach(kv, task) {
            const char *comma = strchr(kv->string, ',');
            if (!comma || (!cJSON_IsNumber(kv) && !cJSON_IsNull(kv)) || strstr(kv->string, "_stderr,"))
                continue;
            if (nrows == cap) {
                cap *= 2;
                rs_result *r2 = realloc(rows, cap * sizeof *rows);
                char **o2 = realloc(owned, cap * 2 * sizeof *owned);
                if (!r2 || !o2) {
                    free(r2 ? r2 : rows), free(o2 ? o2 : owned);
                    rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    goto out;
                }
                rows = r2, owned = o2;
            }
            char *metric = strndup(kv->string, (size_t)(comma - kv->string));
            char stderr_key[512];
            snprintf(stderr_key, sizeof stderr_key, "%s_stderr%s", metric ? metric : "", comma);
            const cJSON *se = cJSON_GetObjectItemCaseSensitive(task, stderr_key);
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(hib, task->string), metric);
            owned[2 * nrows] = metric;
            owned[2 * nrows + 1] = NULL;
            rows[nrows++] = (rs_result){
                .task = task->string,
                .metric = metric,
                .filter = comma + 1,
                .value = cJSON_IsNumber(kv) ? kv->valuedouble : NAN,
                .stderr_ = cJSON_IsNumber(se) ? se->valuedouble : NAN,
                .ci_low = NAN,
                .ci_high = NAN,
                .n = cJSON_IsNumber(ns) ? (int64_t)ns->valuedouble : 0,
                .higher_is_better = h ? cJSON_IsTrue(h) : true,
            };
        }
    }
    rs_model m = {.name = name, .path = cJSON_IsString(ma) ? ma->valuestring : NULL};
    rs_run run = {.tasks = tasks, .version = version, .status = "imported", .settings_json = NULL};
    char *settings = cfg ? cJSON_PrintUnformatted(cfg) : NULL;
    run.settings_json = settings;
    if ((rc = rs_model_id(s, &m, &run.model_id, err)) == 0 && (rc = rs_run_begin(s, &run, run_id, err)) == 0 &&
        (rc = rs_results_put(s, *run_id, rows, nrows, err)) < 0)
        rs_run_delete(s, *run_id, NULL);
    free(settings);
    for (size_t i = 0; i < nrows; i++)
        free(owned[2 * i]);
    free(owned);
    free(rows);
out:
    cJSON_Delete(root);
    return rc;
}
