#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

void ts_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

const char *ts_vector(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", YS_VECTORS_DIR, name);
    return path;
}

cJSON *ts_load_jsonl(const char *path)
{
    char *text = ts_read_file(path, NULL);
    if (!text)
        fail_msg("cannot read vector file %s", path);
    cJSON *arr = cJSON_CreateArray();
    char *line = text;
    int lineno = 0;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (*line) {
            cJSON *obj = cJSON_Parse(line);
            if (!obj)
                fail_msg("%s:%d: bad JSON", path, lineno);
            cJSON_AddItemToArray(arr, obj);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
    return arr;
}

double ts_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        fail_msg("vector field '%s' missing", key);
    if (cJSON_IsNull(v))
        return NAN;
    if (!cJSON_IsNumber(v))
        fail_msg("vector field '%s' is not a number", key);
    return v->valuedouble;
}

void ts_close(double got, double want, double tol, const char *what, const char *ctx)
{
    if (isnan(want) && isnan(got))
        return;
    if (isnan(want) || isnan(got) || fabs(got - want) > tol)
        fail_msg("%s: %s = %.17g, reference %.17g (|diff| %.3g > %.3g)", ctx ? ctx : "", what, got,
                 want, fabs(got - want), tol);
}

int ts_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int ys_run(const char *args, const char *redirect, char **out, char **err)
{
    const char *dir = ts_scratch();
    size_t n = strlen(dir) * 2 + strlen(YS_BINARY) + strlen(args) + 64;
    char *cmd = malloc(n);
    assert_non_null(cmd);
    snprintf(cmd, n, "cd %s && %s %s %s%s/stderr.txt", dir, YS_BINARY, args, redirect, dir);
    int rc = ts_run(cmd, out);
    free(cmd);
    if (err) {
        *err = ts_read_file(ts_path("stderr.txt"), NULL);
        assert_non_null(*err);
    }
    return rc;
}

int ts_ys(const char *args, char **out, char **err) { return ys_run(args, "2>", out, err); }
int ts_ys_log(const char *args, char **out) { return ys_run(args, "2>>", out, NULL); }

static void dump_query(sqlite3 *db, const char *sql, char **acc, size_t *len)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            char cell[64];
            const char *v = cell;
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_NULL:
                v = "NULL";
                break;
            case SQLITE_FLOAT: {
                double x = sqlite3_column_double(st, c);
                unsigned long long bits;
                memcpy(&bits, &x, sizeof bits);
                snprintf(cell, sizeof cell, "R%016llx", bits);
                break;
            }
            default:
                v = (const char *)sqlite3_column_text(st, c);
            }
            size_t k = strlen(v);
            *acc = realloc(*acc, *len + k + 2);
            assert_non_null(*acc);
            memcpy(*acc + *len, v, k);
            *len += k;
            (*acc)[(*len)++] = c + 1 < sqlite3_column_count(st) ? '|' : '\n';
            (*acc)[*len] = 0;
        }
    }
    sqlite3_finalize(st);
}

char *ts_dump_store(const char *path)
{
    static const char *const q[] = {
        "SELECT key, response FROM responses ORDER BY key",
        "SELECT * FROM samples ORDER BY run, task, doc_id",
        "SELECT * FROM task_results ORDER BY run, task, metric, filter",
        "SELECT * FROM task_prompts ORDER BY run, task",
        "SELECT * FROM models ORDER BY id",
        "SELECT id, model_id, tasks, status, version, seed, threads, host, kl_base_model_id FROM runs ORDER BY id",
    };
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char *acc = calloc(1, 1);
    size_t len = 0;
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        dump_query(db, q[i], &acc, &len);
    sqlite3_close(db);
    return acc;
}

/* The path of a task's samples log in scratch folder sub (malloc'd). */
static char *samples_path(const char *sub, const char *task)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls %s/%s/samples_%s_*.jsonl", ts_scratch(), sub, task);
    assert_int_equal(ts_run(cmd, &out), 0);
    out[strcspn(out, "\n")] = 0;
    return out;
}

char *ts_samples_log(const char *sub, const char *task)
{
    char *path = samples_path(sub, task), *text = ts_read_file(path, NULL);
    assert_non_null(text);
    free(path);
    return text;
}

cJSON *ts_samples_jsonl(const char *sub, const char *task)
{
    char *path = samples_path(sub, task);
    cJSON *s = ts_load_jsonl(path);
    free(path);
    return s;
}

int ts_have_shared(void)
{
    struct stat st;
    return stat(YS_SHARED_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The one piece of mutable state in the test support: the scratch path,
 * set once per test program. */
static char scratch_dir[256];

int ts_scratch_setup(void **state)
{
    (void)state;
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/ys_test_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", scratch_dir, scratch_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int ts_scratch_teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *ts_scratch(void) { return scratch_dir; }

const char *ts_path(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", scratch_dir, name);
    return buf[k];
}

cJSON *ts_load_json(const char *path)
{
    char *text = ts_read_file(path, NULL);
    if (!text)
        fail_msg("%s: cannot read", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        fail_msg("%s: malformed JSON", path);
    return j;
}

void ts_swapped_tokenizer_copy(const char *src, const char *dir)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -sf %s/config.json %s/model.safetensors %s/ && "
             "cp %s/tokenizer_config.json %s/", dir, src, src, dir, src, dir);
    assert_int_equal(ts_run(cmd, NULL), 0);
    char path[2048];
    snprintf(path, sizeof path, "%s/tokenizer.json", src);
    cJSON *t = ts_load_json(path);
    cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "model"), "vocab");
    cJSON *a = NULL, *b = NULL, *x;
    cJSON_ArrayForEach(x, vocab) {
        if (x->valueint == 300)
            a = x;
        if (x->valueint == 301)
            b = x;
    }
    assert_true(a && b);
    cJSON_SetNumberValue(a, 301);
    cJSON_SetNumberValue(b, 300);
    char *text = cJSON_Print(t);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    ts_write_file(path, text);
    free(text);
    cJSON_Delete(t);
}
