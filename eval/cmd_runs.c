/* yardstick runs list|show|delete, and yardstick import — the store from
 * the command line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runs.h"
#include "store.h"

#define DEFAULT_DB "yardstick-results.db"

static const char runs_help[] =
    "usage: yardstick runs list [--db FILE]\n"
    "       yardstick runs show RUN [--format text|json] [--db FILE]\n"
    "       yardstick runs delete RUN [--db FILE] [--db-timeout S]\n"
    "\n"
    "List, show or delete runs in the results store (default " DEFAULT_DB ").\n"
    "`show --format json` prints the run in lm-evaluation-harness's results layout.\n";

static const char import_help[] =
    "usage: yardstick import RESULTS.json [--model NAME] [--db FILE] [--db-timeout S]\n"
    "\n"
    "Import an lm-evaluation-harness results file as a run (status 'imported'),\n"
    "so existing numbers sit in the same leaderboard. The model name comes from\n"
    "the file (model_name, or pretrained= in config.model_args) unless --model is given.\n";

static void print_value(double v)
{
    if (isnan(v))
        printf("%10s", "-");
    else
        printf("%10.4f", v);
}

static int runs_list(rs_store *s)
{
    ys_error err = {0};
    rs_run_info *runs;
    size_t n;
    if (rs_runs_list(s, &runs, &n, &err) < 0)
        return cli_fail(&err);
    printf("%-6s %-10s %-20s %-24s %8s  %s\n", "run", "status", "started", "model", "samples", "tasks");
    for (size_t i = 0; i < n; i++)
        printf("%-6lld %-10s %-20s %-24s %8lld  %s\n", (long long)runs[i].id, runs[i].status, runs[i].started_at,
               runs[i].model, (long long)runs[i].samples, runs[i].tasks);
    rs_run_info_free(runs, n);
    free(runs);
    return EXIT_OK;
}

static int runs_show(rs_store *s, int64_t id, bool json)
{
    ys_error err = {0};
    if (json) {
        char *text;
        if (rs_run_to_lmeval(s, id, &text, &err) < 0)
            return cli_fail(&err);
        printf("%s\n", text);
        free(text);
        return EXIT_OK;
    }
    rs_run_info run;
    if (rs_run_get(s, id, &run, &err) < 0)
        return cli_fail(&err);
    printf("run %lld  model %s  status %s\nstarted %s  finished %s  yardstick %s\ntasks %s\nsettings %s\n\n",
           (long long)run.id, run.model, run.status, run.started_at, run.finished_at ? run.finished_at : "-",
           run.version, run.tasks, run.settings);
    rs_run_info_free(&run, 1);
    rs_result_row *rows;
    size_t n;
    if (rs_results_get(s, id, &rows, &n, &err) < 0)
        return cli_fail(&err);
    printf("%-20s %-24s %-8s %10s %10s %8s\n", "task", "metric", "filter", "value", "stderr", "n");
    for (size_t i = 0; i < n; i++) {
        printf("%-20s %-24s %-8s ", rows[i].task, rows[i].metric, rows[i].filter);
        print_value(rows[i].value);
        printf(" ");
        print_value(rows[i].stderr_);
        printf(" %8lld\n", (long long)rows[i].n);
    }
    rs_result_rows_free(rows, n);
    return EXIT_OK;
}

static int parse_run_id(const char *s, int64_t *id)
{
    long v;
    if (cli_parse_int(s, 1, 1L << 62, &v) < 0)
        return -1;
    *id = v;
    return 0;
}

int cmd_runs(int argc, char **argv)
{
    const char *db = DEFAULT_DB, *verb = NULL, *run = NULL, *format = "text";
    int timeout_ms = RS_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(runs_help, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--db", true, &v)) != 0) {
            if (r < 0)
                return cli_usage_error("runs", "--db needs a file");
            db = v;
        } else if ((r = cli_opt(argc, argv, &i, "--db-timeout", true, &v)) != 0) {
            if (r < 0 || cli_parse_db_timeout(v, &timeout_ms) < 0)
                return cli_usage_error("runs", "--db-timeout needs seconds (0 to 86400)");
        } else if ((r = cli_opt(argc, argv, &i, "--format", true, &v)) != 0) {
            if (r < 0 || (strcmp(v, "text") && strcmp(v, "json")))
                return cli_usage_error("runs", "--format must be text or json");
            format = v;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("runs", "unknown option '%s'", argv[i]);
        } else if (!verb) {
            verb = argv[i];
        } else if (!run) {
            run = argv[i];
        } else {
            return cli_usage_error("runs", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!verb || (strcmp(verb, "list") && strcmp(verb, "show") && strcmp(verb, "delete")))
        return cli_usage_error("runs", "expected list, show RUN or delete RUN");
    int64_t id = 0;
    if (strcmp(verb, "list") != 0 && (!run || parse_run_id(run, &id) < 0))
        return cli_usage_error("runs", "%s needs a run id (see 'yardstick runs list')", verb);
    rs_store *s;
    ys_error err = {0};
    if (rs_open_wait(db, timeout_ms, &s, &err) < 0)
        return cli_fail(&err);
    int rc;
    if (strcmp(verb, "list") == 0) {
        rc = runs_list(s);
    } else if (strcmp(verb, "show") == 0) {
        rc = runs_show(s, id, strcmp(format, "json") == 0);
    } else {
        rc = rs_run_delete(s, id, &err) < 0 ? cli_fail(&err) : EXIT_OK;
        if (rc == EXIT_OK)
            printf("deleted run %lld\n", (long long)id);
    }
    rs_close(s);
    return rc;
}

int cmd_import(int argc, char **argv)
{
    const char *db = DEFAULT_DB, *file = NULL, *model = NULL;
    int timeout_ms = RS_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(import_help, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--db", true, &v)) != 0) {
            if (r < 0)
                return cli_usage_error("import", "--db needs a file");
            db = v;
        } else if ((r = cli_opt(argc, argv, &i, "--model", true, &v)) != 0) {
            if (r < 0)
                return cli_usage_error("import", "--model needs a name");
            model = v;
        } else if ((r = cli_opt(argc, argv, &i, "--db-timeout", true, &v)) != 0) {
            if (r < 0 || cli_parse_db_timeout(v, &timeout_ms) < 0)
                return cli_usage_error("import", "--db-timeout needs seconds (0 to 86400)");
        } else if (argv[i][0] == '-') {
            return cli_usage_error("import", "unknown option '%s'", argv[i]);
        } else if (!file) {
            file = argv[i];
        } else {
            return cli_usage_error("import", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!file)
        return cli_usage_error("import", "expected an lm-evaluation-harness results file");
    ys_error err = {0};
    char *text = cli_read_file(file, NULL, &err);
    if (!text)
        return cli_fail(&err);
    rs_store *s;
    int64_t run;
    bool was_new = cli_db_is_new(db);
    int rc = rs_open_wait(db, timeout_ms, &s, &err);
    if (rc == 0) {
        rc = rs_import_lmeval(s, text, file, model, YS_VERSION, &run, &err);
        rs_close(s);
    }
    free(text);
    if (rc < 0) {
        cli_db_discard(db, was_new);
        return cli_fail(&err);
    }
    printf("imported %s as run %lld into %s\n", file, (long long)run, db);
    return EXIT_OK;
}
