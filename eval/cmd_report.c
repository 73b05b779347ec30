/* yardstick report — the leaderboard from the results store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"
#include "store.h"

static const char report_help[] =
    "usage: yardstick report [--db FILE] [--tasks LIST] [--models LIST]\n"
    "                        [--format md|html|csv|json] [-o FILE] [--sort COLUMN] [--db-timeout S]\n"
    "\n"
    "The leaderboard: models x tasks from each model's latest finished run, with\n"
    "value ± stderr and n, the GLUE average, the best value per column marked and\n"
    "models not significantly different from it marked as tied, and a mean win\n"
    "rate. --sort takes task:metric, glue or win_rate (default). HTML is one\n"
    "self-contained file with SVG charts (per-task bars, score history).\n";

int cmd_report(int argc, char **argv)
{
    int timeout_ms = RS_DEFAULT_TIMEOUT_MS;
    const char *db = "yardstick-results.db", *format = "md", *out = NULL;
    lb_options o = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(report_help, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--db", true, &v)) > 0) {
            db = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--db-timeout", true, &v)) > 0) {
            if (cli_parse_db_timeout(v, &timeout_ms) < 0)
                return cli_usage_error("report", "--db-timeout needs seconds (0 to 86400)");
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--tasks", true, &v)) > 0) {
            o.tasks = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--models", true, &v)) > 0) {
            o.models = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--format", true, &v)) > 0) {
            format = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "-o", true, &v)) > 0) {
            out = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--sort", true, &v)) > 0) {
            o.sort = v;
        } else if (r < 0) {
            return cli_usage_error("report", "option %s needs a value", argv[i]);
        } else {
            return cli_usage_error("report", "unknown argument '%s'", argv[i]);
        }
    }
    if (strcmp(format, "md") && strcmp(format, "html") && strcmp(format, "csv") && strcmp(format, "json"))
        return cli_usage_error("report", "--format must be md, html, csv or json");
    rs_store *s;
    ys_error err = {0};
    bool was_new = cli_db_is_new(db);
    if (rs_open_wait(db, timeout_ms, &s, &err) < 0) {
        cli_db_discard(db, was_new);
        return cli_fail(&err);
    }
    leaderboard *lb = NULL;
    char *text = NULL;
    int rc = lb_build(s, &o, &lb, &err);
    if (rc == 0)
        rc = lb_render(lb, format, &text, &err);
    lb_free(lb);
    rs_close(s);
    if (rc < 0) {
        cli_db_discard(db, was_new);
        return cli_fail(&err);
    }
    if (!out) {
        fputs(text, stdout);
        free(text);
        return EXIT_OK;
    }
    /* write beside the target, then rename: never a half-written report */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.partial", out);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, out) != 0) {
        fprintf(stderr, "yardstick: %s: cannot write: %s\n", out, strerror(errno));
        remove(tmp);
        free(text);
        return EXIT_BADINPUT;
    }
    free(text);
    return EXIT_OK;
}
