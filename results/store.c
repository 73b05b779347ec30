#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 'YSTK': PRAGMA application_id marks a file as a yardstick store. */
#define YS_APPLICATION_ID 0x5953544B

extern const char ys_schema_sql[];

struct rs_store {
    sqlite3 *db;
    char *path;
    int timeout_ms;
};

/* A lock held by another writer past the wait is not bad data: it is
 * YS_EBUSY (exit 4), and the message says how long was waited. */
static int busy_fail(rs_store *s, ys_error *err, const char *what)
{
    return ys_fail(err, YS_EBUSY, "%s: %s: the database is locked by another writer (waited %.3g s; see --db-timeout)",
                   s->path, what, s->timeout_ms / 1000.0);
}

static bool is_busy(int code)
{
    return (code & 0xFF) == SQLITE_BUSY || (code & 0xFF) == SQLITE_LOCKED;
}

static int db_fail(rs_store *s, ys_error *err, const char *what)
{
    int code = sqlite3_errcode(s->db);
    if (is_busy(code))
        return busy_fail(s, err, what);
    int kind = (code == SQLITE_CANTOPEN || code == SQLITE_READONLY || code == SQLITE_FULL ||
                code == SQLITE_IOERR)
                   ? YS_EIO
                   : YS_EINPUT;
    return ys_fail(err, kind, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int rs_busy_error(rs_store *s, ys_error *err, const char *what)
{
    return is_busy(sqlite3_errcode(s->db)) ? busy_fail(s, err, what) : 0;
}

/* The schema text splits into sections at lines "-- version: N". Calls fn
 * for each with its number and SQL; returns the highest version. */
static int each_section(int (*fn)(int version, const char *sql, size_t len, void *ctx), void *ctx)
{
    const char *p = ys_schema_sql, *marker = "-- version: ";
    int last = 0;
    while ((p = strstr(p, marker))) {
        int v = atoi(p + strlen(marker));
        const char *body = strchr(p, '\n');
        body = body ? body + 1 : p + strlen(p);
        const char *next = strstr(body, marker);
        size_t len = next ? (size_t)(next - body) : strlen(body);
        if (fn && fn(v, body, len, ctx) < 0)
            return -1;
        last = v;
        p = body;
    }
    return last;
}

int rs_schema_version(void) { return each_section(NULL, NULL); }

static int exec(rs_store *s, const char *sql, ys_error *err)
{
    char *msg = NULL;
    int step = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (step != SQLITE_OK && is_busy(step)) {
        sqlite3_free(msg);
        return busy_fail(s, err, "writing");
    }
    if (step != SQLITE_OK) {
        int rc = ys_fail(err, YS_EINPUT, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int pragma_int(rs_store *s, const char *sql, int *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

typedef struct {
    rs_store *s;
    int from;
    ys_error *err;
} migrate_ctx;

static int apply_section(int version, const char *sql, size_t len, void *vctx)
{
    migrate_ctx *m = vctx;
    if (version <= m->from)
        return 0;
    char *text = malloc(len + 64);
    if (!text)
        return ys_fail(m->err, YS_ENOMEM, "out of memory");
    memcpy(text, sql, len);
    snprintf(text + len, 64, "\nPRAGMA user_version = %d;", version);
    int rc = exec(m->s, text, m->err);
    free(text);
    return rc;
}

/* Bring the schema up to date. BEGIN IMMEDIATE takes the write lock first,
 * so two processes opening a new file at once cannot both migrate it. */
static int migrate(rs_store *s, ys_error *err)
{
    int rc = exec(s, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    int version = 0, app = 0, tables = 0;
    if (pragma_int(s, "PRAGMA user_version", &version) < 0 || pragma_int(s, "PRAGMA application_id", &app) < 0 ||
        pragma_int(s, "SELECT count(*) FROM sqlite_master", &tables) < 0) {
        rc = db_fail(s, err, "cannot read the database (is it a SQLite file?)");
        goto rollback;
    }
    if (tables > 0 && app != YS_APPLICATION_ID) {
        rc = ys_fail(err, YS_EINPUT, "%s is a SQLite database but not a yardstick results store", s->path);
        goto rollback;
    }
    int latest = rs_schema_version();
    if (version > latest) {
        rc = ys_fail(err, YS_EINPUT,
                     "%s has schema version %d, newer than this yardstick understands (%d): upgrade yardstick",
                     s->path, version, latest);
        goto rollback;
    }
    if (tables == 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d", YS_APPLICATION_ID);
        if ((rc = exec(s, sql, err)) < 0)
            goto rollback;
    }
    migrate_ctx m = {s, version, err};
    if (each_section(apply_section, &m) < 0) {
        rc = err ? err->code : YS_EINPUT;
        goto rollback;
    }
    return exec(s, "COMMIT", err);
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int rs_open(const char *path, rs_store **out, ys_error *err)
{
    return rs_open_wait(path, RS_DEFAULT_TIMEOUT_MS, out, err);
}

int rs_open_wait(const char *path, int timeout_ms, rs_store **out, ys_error *err)
{
    *out = NULL;
    rs_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    int rc;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "cannot open");
        rs_close(s);
        return rc;
    }
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    sqlite3_busy_timeout(s->db, s->timeout_ms);
    /* WAL lets readers and a writer proceed together; NORMAL sync is safe
     * with WAL (a power cut may lose the last commits, never corrupt).
     * Switching a new file to WAL needs an exclusive lock, and SQLite can
     * answer BUSY without waiting when another process is doing the same,
     * so retry for up to the busy timeout. */
    int jm_ok = 0;
    int step = SQLITE_OK;
    for (int attempt = 0; attempt <= s->timeout_ms / 10 && !jm_ok; attempt++) {
        sqlite3_stmt *st;
        step = SQLITE_ERROR;
        if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK) {
            step = sqlite3_step(st);
            sqlite3_finalize(st);
        }
        jm_ok = step == SQLITE_ROW;
        if (step != SQLITE_BUSY && step != SQLITE_LOCKED)
            break;
        sqlite3_sleep(10);
    }
    if (!jm_ok && is_busy(step)) {
        rc = busy_fail(s, err, "opening");
        rs_close(s);
        return rc;
    }
    if (!jm_ok) {
        rc = db_fail(s, err, "cannot use the database (not a SQLite file, corrupt, or unreadable)");
        rs_close(s);
        return rc;
    }
    if ((rc = exec(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", err)) < 0 ||
        (rc = migrate(s, err)) < 0) {
        rs_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void rs_close(rs_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

struct sqlite3 *rs_db(rs_store *s) { return s->db; }
const char *rs_path(const rs_store *s) { return s->path; }

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static void now_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int rs_model_id(rs_store *s, const rs_model *m, int64_t *id, ys_error *err)
{
    sqlite3_stmt *st;
    const char *find = "SELECT id FROM models WHERE name = ?1 AND weights_sha256 IS ?2";
    if (sqlite3_prepare_v2(s->db, find, -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "looking up a model");
    bind_text(st, 1, m->name);
    bind_text(st, 2, m->weights_sha256);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    const char *ins = "INSERT INTO models (name, path, architecture, n_params, dtype, weights_sha256, "
                      "tokenizer_sha256, base_weights_sha256, adapter_path, adapter_sha256) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    if (sqlite3_prepare_v2(s->db, ins, -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "adding a model");
    bind_text(st, 1, m->name);
    bind_text(st, 2, m->path);
    bind_text(st, 3, m->architecture);
    if (m->n_params > 0)
        sqlite3_bind_int64(st, 4, m->n_params);
    else
        sqlite3_bind_null(st, 4);
    bind_text(st, 5, m->dtype);
    bind_text(st, 6, m->weights_sha256);
    bind_text(st, 7, m->tokenizer_sha256);
    bind_text(st, 8, m->base_weights_sha256);
    bind_text(st, 9, m->adapter_path);
    bind_text(st, 10, m->adapter_sha256);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "adding a model");
    *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int rs_run_begin(rs_store *s, const rs_run *r, int64_t *run_id, ys_error *err)
{
    sqlite3_stmt *st;
    const char *sql = "INSERT INTO runs (model_id, tasks, started_at, status, version, settings, seed, threads, host, "
                      "kl_base_model_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "starting a run");
    char now[32];
    now_iso(now, sizeof now);
    if (r->model_id > 0)
        sqlite3_bind_int64(st, 1, r->model_id);
    else
        sqlite3_bind_null(st, 1);
    bind_text(st, 2, r->tasks ? r->tasks : "");
    bind_text(st, 3, now);
    bind_text(st, 4, r->status ? r->status : "running");
    bind_text(st, 5, r->version ? r->version : "unknown");
    bind_text(st, 6, r->settings_json ? r->settings_json : "{}");
    sqlite3_bind_int64(st, 7, r->seed);
    sqlite3_bind_int(st, 8, r->threads);
    bind_text(st, 9, r->host);
    if (r->kl_base_model_id > 0)
        sqlite3_bind_int64(st, 10, r->kl_base_model_id);
    else
        sqlite3_bind_null(st, 10);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "starting a run");
    *run_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int rs_run_end(rs_store *s, int64_t run_id, const char *status, ys_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "UPDATE runs SET status = ?1, finished_at = ?2 WHERE id = ?3", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(s, err, "finishing a run");
    char now[32];
    now_iso(now, sizeof now);
    bind_text(st, 1, status);
    bind_text(st, 2, now);
    sqlite3_bind_int64(st, 3, run_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, "finishing a run");
}

int rs_run_delete(rs_store *s, int64_t run_id, ys_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "deleting a run");
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "deleting a run");
    if (sqlite3_changes(s->db) == 0)
        return ys_fail(err, YS_EINPUT, "%s: no run %lld", s->path, (long long)run_id);
    return 0;
}

/* Binds row i of `rows` (and the run id) to the insert statement. */
typedef void (*bind_row_fn)(sqlite3_stmt *st, const void *rows, size_t i, int64_t run_id);

/* Insert n rows with one prepared statement in one short transaction: a
 * batch is all there or not at all, and other writers wait only briefly. */
static int insert_rows(rs_store *s, const char *sql, const char *what, const void *rows, size_t n, int64_t run_id,
                       bind_row_fn bind, ys_error *err)
{
    int rc = exec(s, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, what);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_reset(st);
        bind(st, rows, i, run_id);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(s, err, what);
    }
    sqlite3_finalize(st);
    if (rc == 0)
        return exec(s, "COMMIT", err);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void bind_result(sqlite3_stmt *st, const void *rows, size_t i, int64_t run_id)
{
    const rs_result *r = (const rs_result *)rows + i;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, r->task);
    bind_text(st, 3, r->metric);
    bind_text(st, 4, r->filter ? r->filter : "none");
    bind_real(st, 5, r->value);
    sqlite3_bind_int64(st, 6, r->n);
    bind_real(st, 7, r->stderr_);
    bind_real(st, 8, r->ci_low);
    bind_real(st, 9, r->ci_high);
    sqlite3_bind_int(st, 10, r->higher_is_better);
    bind_text(st, 11, r->task_hash);
}

int rs_results_put(rs_store *s, int64_t run_id, const rs_result *r, size_t n, ys_error *err)
{
    return insert_rows(s,
                       "INSERT OR REPLACE INTO task_results (run, task, metric, filter, value, n, stderr, ci_low, "
                       "ci_high, higher_is_better, task_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                       "storing results", r, n, run_id, bind_result, err);
}

static void bind_sample(sqlite3_stmt *st, const void *rows, size_t i, int64_t run_id)
{
    const rs_sample *x = (const rs_sample *)rows + i;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, x->task);
    sqlite3_bind_int64(st, 3, x->doc_id);
    bind_text(st, 4, x->input_hash);
    bind_text(st, 5, x->prompt);
    bind_text(st, 6, x->prediction);
    bind_text(st, 7, x->target);
    bind_text(st, 8, x->metrics_json);
    bind_text(st, 9, x->stats_json);
    bind_text(st, 10, x->logprobs_json);
}

int rs_samples_put(rs_store *s, int64_t run_id, const rs_sample *smp, size_t n, ys_error *err)
{
    return insert_rows(s,
                       "INSERT OR REPLACE INTO samples (run, task, doc_id, input_hash, prompt, prediction, target, "
                       "metrics, stats, logprobs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                       "storing samples", smp, n, run_id, bind_sample, err);
}

typedef struct {
    const char *const *keys, *const *values;
    const char *now;
} cache_rows;

static void bind_cache(sqlite3_stmt *st, const void *rows, size_t i, int64_t run_id)
{
    (void)run_id;
    const cache_rows *c = rows;
    bind_text(st, 1, c->keys[i]);
    bind_text(st, 2, c->values[i]);
    bind_text(st, 3, c->now);
}

int rs_cache_put_many(rs_store *s, const char *const *keys, const char *const *responses, size_t n, ys_error *err)
{
    char now[32];
    now_iso(now, sizeof now);
    cache_rows rows = {keys, responses, now};
    /* insert_rows indexes rows by i through the bind function; pass the
     * struct itself and let bind_cache index the arrays */
    return insert_rows(s, "INSERT OR REPLACE INTO responses (key, response, created_at) VALUES (?1, ?2, ?3)",
                       "writing the response cache", &rows, n, 0, bind_cache, err);
}

int rs_prompt_put(rs_store *s, int64_t run_id, const char *task, const char *prompt, const char *token_ids_json,
                  ys_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO task_prompts (run, task, prompt, token_ids) VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "storing a prompt");
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, task);
    bind_text(st, 3, prompt);
    bind_text(st, 4, token_ids_json);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, "storing a prompt");
}

int rs_samples_count(rs_store *s, int64_t run_id, const char *task, int64_t *count, ys_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM samples WHERE run = ?1 AND task = ?2", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(s, err, "counting samples");
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, task);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(s, err, "counting samples");
}

int rs_cache_get(rs_store *s, const char *key, char **response, ys_error *err)
{
    *response = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT response FROM responses WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "reading the response cache");
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *response = strdup(v ? v : "");
        rc = *response ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    } else {
        rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "reading the response cache");
    }
    sqlite3_finalize(st);
    return rc;
}

int rs_cache_put(rs_store *s, const char *key, const char *response, ys_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO responses (key, response, created_at) VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "writing the response cache");
    char now[32];
    now_iso(now, sizeof now);
    bind_text(st, 1, key);
    bind_text(st, 2, response);
    bind_text(st, 3, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, "writing the response cache");
}
