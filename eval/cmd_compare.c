/* yardstick compare — the regression gate for CI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "store.h"

static const char compare_help[] =
    "usage: yardstick compare --baseline RUN|MODEL|results.json --candidate RUN|MODEL\n"
    "                         [--max-drop METRIC=DELTA]... [--alpha 0.05] [--db FILE]\n"
    "                         [--junit out.xml] [--markdown out.md] [--bootstrap N] [--seed S]\n"
    "                         [--db-timeout S]\n"
    "\n"
    "Per task and metric: both values, the delta, a paired test on the samples both\n"
    "runs scored (exact McNemar for 0/1 metrics, paired bootstrap otherwise; a z-test\n"
    "from the standard errors when there are no per-sample records), Holm-corrected\n"
    "across everything compared, and a verdict. METRIC is `metric` or `task:metric`;\n"
    "DELTA is the drop allowed before a significant decrease fails (default 0).\n"
    "kld_mean (run --kl-base: distance from a base model, lower is better) is listed\n"
    "but gates only when --max-drop names it (Holm-corrected on its own); it compares\n"
    "only between runs measured against the same base weights.\n"
    "Exit 0 when nothing regressed, 1 when something did.\n";

static int write_file(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "yardstick: %s: cannot write: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int cmd_compare(int argc, char **argv)
{
    int timeout_ms = RS_DEFAULT_TIMEOUT_MS;
    const char *db = "yardstick-results.db", *junit = NULL, *markdown = NULL;
    cmp_options o;
    cmp_options_default(&o);
    const char *names[64];
    double values[64];
    char keep[64][256];
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r = 0;
        long n;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(compare_help, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--db", true, &v)) > 0) {
            db = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--db-timeout", true, &v)) > 0) {
            if (cli_parse_db_timeout(v, &timeout_ms) < 0)
                return cli_usage_error("compare", "--db-timeout needs seconds (0 to 86400)");
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--baseline", true, &v)) > 0) {
            o.baseline = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--candidate", true, &v)) > 0) {
            o.candidate = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--junit", true, &v)) > 0) {
            junit = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--markdown", true, &v)) > 0) {
            markdown = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--alpha", true, &v)) > 0) {
            if (cli_parse_double(v, &o.alpha) < 0 || o.alpha <= 0 || o.alpha >= 1)
                return cli_usage_error("compare", "--alpha needs a number between 0 and 1");
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--bootstrap", true, &v)) > 0) {
            if (cli_parse_int(v, 2, 1000000, &n) < 0)
                return cli_usage_error("compare", "--bootstrap needs a number of resamples (>= 2)");
            o.bootstrap = (int)n;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--seed", true, &v)) > 0) {
            if (cli_parse_int(v, 0, 1L << 62, &n) < 0)
                return cli_usage_error("compare", "--seed needs a non-negative integer");
            o.seed = (uint64_t)n;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--max-drop", true, &v)) > 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || o.ndrops == 64 || (size_t)(eq - v) >= sizeof keep[0])
                return cli_usage_error("compare", "--max-drop takes METRIC=DELTA, e.g. acc=0.01");
            snprintf(keep[o.ndrops], sizeof keep[0], "%.*s", (int)(eq - v), v);
            if (cli_parse_double(eq + 1, &values[o.ndrops]) < 0 || values[o.ndrops] < 0)
                return cli_usage_error("compare", "--max-drop %s: DELTA must be a non-negative number", v);
            names[o.ndrops] = keep[o.ndrops];
            o.ndrops++;
        } else if (r < 0) {
            return cli_usage_error("compare", "option %s needs a value", argv[i]);
        } else {
            return cli_usage_error("compare", "unknown argument '%s'", argv[i]);
        }
    }
    if (!o.baseline || !o.candidate)
        return cli_usage_error("compare", "--baseline and --candidate are required");
    o.drop_names = names;
    o.drop_values = values;
    rs_store *s;
    ys_error err = {0};
    bool was_new = cli_db_is_new(db);
    if (rs_open_wait(db, timeout_ms, &s, &err) < 0) {
        cli_db_discard(db, was_new);
        return cli_fail(&err);
    }
    cmp_report *rep;
    int rc = cmp_run(s, &o, &rep, &err);
    rs_close(s);
    if (rc < 0) {
        cli_db_discard(db, was_new);
        return cli_fail(&err);
    }
    char *text = cmp_render_text(rep);
    if (text)
        fputs(text, stdout);
    free(text);
    int bad = 0;
    if (junit) {
        char *x = cmp_render_junit(rep);
        bad |= !x || write_file(junit, x) < 0;
        free(x);
    }
    if (markdown) {
        char *x = cmp_render_markdown(rep);
        bad |= !x || write_file(markdown, x) < 0;
        free(x);
    }
    int regressed = rep->regressed;
    cmp_free(rep);
    if (bad)
        return EXIT_BADINPUT;
    return regressed ? EXIT_CHECK : EXIT_OK;
}
