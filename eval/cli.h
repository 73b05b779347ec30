/* cli.h — what the subcommands of `yardstick` share: exit codes, the table
 * entry type, and small option-parsing helpers. Only eval/ prints. */
#ifndef YS_CLI_H
#define YS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ys_error.h"

/* Exit codes (documented in README.md). */
enum {
    EXIT_OK = 0,        /* success */
    EXIT_CHECK = 1,     /* a check failed (compare found a regression) */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_BADINPUT = 3,  /* bad input data: nothing was scored */
    EXIT_BUSY = 4,      /* a resource is busy: the database is locked by another writer */
};

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;  /* one line for `yardstick --help` */
} cli_command;

/* Print "yardstick: <msg>" to stderr and return the exit code that goes with
 * an error record's code (input → 3, usage → 2, busy → 4, anything else → 3). */
int cli_fail(const ys_error *err);
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Match "--name" or "--name=value"; *i advances past a separate value. Sets
 * *val (NULL for flags when takes_value is false). Returns 1 on a match, 0 if
 * argv[*i] is another option, -1 when a required value is missing. */
int cli_opt(int argc, char **argv, int *i, const char *name, bool takes_value, const char **val);
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double *out);
/* --db-timeout SECONDS (0 to 86400, fractions allowed) as milliseconds. */
int cli_parse_db_timeout(const char *s, int *ms);
/* A whole UTF-8 text file (malloc'd, NUL-terminated; *len may be NULL), or
 * NULL with err naming the file (and the line of invalid UTF-8). */
char *cli_read_file(const char *path, size_t *len, ys_error *err);
/* A failed command leaves no file behind: cli_db_is_new says whether the
 * store at path exists yet (call before opening it), and
 * cli_db_discard(path, was_new) removes the store and its -wal/-shm/-journal
 * files when this command created it. */
bool cli_db_is_new(const char *path);
void cli_db_discard(const char *path, bool was_new);

int cmd_score(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_rescore(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logprobs(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_kld(int argc, char **argv);

#endif
