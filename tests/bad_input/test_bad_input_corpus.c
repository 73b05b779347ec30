/* The bad-input corpus (issue 15): every case under tests/bad_input/cases
 * is one malformed input to one command, and must be refused the way the
 * README promises — the documented exit code, one message naming the file
 * and the place (checked as substrings), nothing on stdout, and no output
 * file left behind.
 *
 * A case is a folder (tests/bad_input/README.md has more):
 *   args    the command line after `yardstick`, one argument per line;
 *           @TINY@ is the bundled tiny model, @MODELS@ tests/data/models,
 *           @SRC@ the source tree
 *   expect  the exit code on the first line, then substrings of stderr
 *   *       the input files, copied into a fresh working folder where the
 *           command runs; a folder with a file `fill-from` naming a fixture
 *           of tests/data/models gets that fixture's other files (so a
 *           broken model is stored as only the file that breaks it)
 * After the run the working folder must hold exactly the files copied in. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"

#define CASES_DIR YS_SOURCE_DIR "/tests/bad_input/cases"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir (not . and ..), sorted; *n set. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (*n == cap)
            v = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, by_name);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *text = ts_read_file(from, &len);
    if (!text)
        fail_msg("cannot read %s", from);
    FILE *f = fopen(to, "wb");
    if (!f || (len && fwrite(text, 1, len, f) != len) || fclose(f))
        fail_msg("cannot write %s", to);
    free(text);
}

/* Copy the case folder src into dst (without args and expect), filling
 * folders that have a fill-from file. */
static void copy_tree(const char *src, const char *dst, int top)
{
    mkdir(dst, 0700);
    size_t n;
    char **names = list_dir(src, &n);
    for (size_t i = 0; i < n; i++) {
        if (top && (!strcmp(names[i], "args") || !strcmp(names[i], "expect")))
            continue;
        char a[2048], b[2048];
        snprintf(a, sizeof a, "%s/%s", src, names[i]);
        snprintf(b, sizeof b, "%s/%s", dst, names[i]);
        if (is_dir(a))
            copy_tree(a, b, 0);
        else if (strcmp(names[i], "fill-from"))
            copy_file(a, b);
    }
    char ff[2048];
    snprintf(ff, sizeof ff, "%s/fill-from", src);
    char *fixture = ts_read_file(ff, NULL);
    if (fixture) {
        fixture[strcspn(fixture, "\n")] = 0;
        char fx[2048];
        snprintf(fx, sizeof fx, "%s/tests/data/models/%s", YS_SOURCE_DIR, fixture);
        size_t m;
        char **files = list_dir(fx, &m);
        for (size_t i = 0; i < m; i++) {
            char a[4096], b[2048];
            snprintf(a, sizeof a, "%s/%s", fx, files[i]);
            snprintf(b, sizeof b, "%s/%s", dst, files[i]);
            if (access(b, F_OK) != 0 && strcmp(files[i], "expected.json"))
                copy_file(a, b);
        }
        free_list(files, m);
        free(fixture);
    }
    free_list(names, n);
}

/* Every path under dir, relative, one per line, sorted (a snapshot). */
static void snapshot(const char *dir, const char *rel, char *buf, size_t cap)
{
    size_t n;
    char **names = list_dir(dir, &n);
    for (size_t i = 0; i < n; i++) {
        char p[2048], r[2048];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        snprintf(r, sizeof r, "%s%s", rel, names[i]);
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s\n", r);
        if (is_dir(p)) {
            strncat(r, "/", sizeof r - strlen(r) - 1);
            snapshot(p, r, buf, cap);
        }
    }
    free_list(names, n);
}

/* @TINY@ and friends replaced, in a malloc'd copy. */
static char *expand(const char *arg)
{
    static const char *const keys[] = {"@TINY@", "@MODELS@", "@SRC@"};
    const char *vals[] = {YS_SOURCE_DIR "/tests/data/models/tiny", YS_SOURCE_DIR "/tests/data/models", YS_SOURCE_DIR};
    char out[4096] = "";
    for (const char *p = arg; *p;) {
        int hit = 0;
        for (int k = 0; k < 3 && !hit; k++)
            if (!strncmp(p, keys[k], strlen(keys[k]))) {
                strncat(out, vals[k], sizeof out - strlen(out) - 1);
                p += strlen(keys[k]);
                hit = 1;
            }
        if (!hit) {
            size_t l = strlen(out);
            if (l + 1 < sizeof out)
                out[l] = *p, out[l + 1] = 0;
            p++;
        }
    }
    return strdup(out);
}

/* Run one case; 0 when it behaved, else 1 with the reason printed. */
static int run_case(const char *name)
{
    char src[2048], work[2048], path[4096];
    snprintf(src, sizeof src, "%s/%s", CASES_DIR, name);
    snprintf(work, sizeof work, "%s/%s", ts_scratch(), name);
    copy_tree(src, work, 1);

    snprintf(path, sizeof path, "%s/args", src);
    char *args = ts_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/expect", src);
    char *expect = ts_read_file(path, NULL);
    if (!args || !expect) {
        print_error("case %s: args or expect missing\n", name);
        free(args), free(expect);
        return 1;
    }
    char *argv[64];
    int argc = 0;
    argv[argc++] = strdup(YS_BINARY);
    for (char *line = strtok(args, "\n"); line && argc < 63; line = strtok(NULL, "\n"))
        argv[argc++] = expand(line);
    argv[argc] = NULL;

    char *before = calloc(1, 1 << 16), *after = calloc(1, 1 << 16);
    snapshot(work, "", before, 1 << 16);
    char outp[2048], errp[2048];
    snprintf(outp, sizeof outp, "%s/%s.stdout", ts_scratch(), name);
    snprintf(errp, sizeof errp, "%s/%s.stderr", ts_scratch(), name);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || chdir(work) != 0)
            _exit(127);
        dup2(o, 1), dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    snapshot(work, "", after, 1 << 16);
    char *out = ts_read_file(outp, NULL), *err = ts_read_file(errp, NULL);

    int bad = 0;
    char *save = NULL;
    char *line = strtok_r(expect, "\n", &save);
    int want = line ? atoi(line) : -1;
    if (code != want) {
        print_error("case %s: exit %d, want %d\nstderr: %s\n", name, code, want, err ? err : "");
        bad = 1;
    }
    if (out && out[0]) {
        print_error("case %s: stdout should be empty, got: %.300s\n", name, out);
        bad = 1;
    }
    if (!err || strncmp(err, "yardstick", 9)) {
        print_error("case %s: stderr should be yardstick's message, got: %.300s\n", name, err ? err : "");
        bad = 1;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *needle = expand(line);
        if (!err || !strstr(err, needle)) {
            print_error("case %s: stderr lacks \"%s\":\n%s\n", name, needle, err ? err : "");
            bad = 1;
        }
        free(needle);
    }
    if (strcmp(before, after)) {
        print_error("case %s: files changed in the working folder:\nbefore:\n%safter:\n%s", name, before, after);
        bad = 1;
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(args), free(expect), free(before), free(after), free(out), free(err);
    return bad;
}

static void test_corpus(void **state)
{
    (void)state;
    size_t n;
    char **cases = list_dir(CASES_DIR, &n);
    /* the corpus is the point: a lost folder must not pass quietly */
    assert_true(n >= 150);
    const char *only = getenv("YS_BAD_INPUT_CASE");
    size_t failed = 0, ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, cases[i]))
            continue;
        ran++;
        failed += (size_t)run_case(cases[i]);
    }
    print_message("%zu cases, %zu failed\n", ran, failed);
    free_list(cases, n);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
