#include "cli.h"

#include "ys_unicode.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const ys_error *err)
{
    fprintf(stderr, "yardstick: %s\n", err->msg[0] ? err->msg : "unknown error");
    return err->code == YS_EUSAGE ? EXIT_USAGE : err->code == YS_EBUSY ? EXIT_BUSY : EXIT_BADINPUT;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "yardstick %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'yardstick %s --help')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_opt(int argc, char **argv, int *i, const char *name, bool takes_value, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == 0) {
        if (!takes_value) {
            *val = NULL;
            return 1;
        }
        if (*i + 1 >= argc)
            return -1;
        *val = argv[++*i];
        return 1;
    }
    if (a[n] == '=' && takes_value) {
        *val = a + n + 1;
        return 1;
    }
    return 0;
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* strtod reads "nan" and "inf": no option of ours means either, and a
     * NaN passes every range check written as "x < 0" */
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cli_parse_db_timeout(const char *s, int *ms)
{
    double v;
    if (cli_parse_double(s, &v) < 0 || v < 0 || v > 86400)
        return -1;
    *ms = (int)(v * 1000 + 0.5);
    return 0;
}

/* The whole file, NUL-terminated, checked to be UTF-8 (the error names the
 * line of the first bad byte). */
char *cli_read_file(const char *path, size_t *len, ys_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ys_fail(err, YS_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p)
                free(buf);
            buf = p;
        }
    }
    fclose(f);
    if (!buf) {
        ys_fail(err, YS_ENOMEM, "out of memory reading %s", path);
        return NULL;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    size_t bad = uni_invalid_at(buf, n);
    if (bad != (size_t)-1) {
        long line = 1;
        for (size_t i = 0; i < bad; i++)
            line += buf[i] == '\n';
        free(buf);
        ys_fail(err, YS_EINPUT, "%s:%ld: invalid UTF-8", path, line);
        return NULL;
    }
    return buf;
}

bool cli_db_is_new(const char *path)
{
    struct stat st;
    return strcmp(path, ":memory:") && stat(path, &st) != 0 && errno == ENOENT;
}

void cli_db_discard(const char *path, bool was_new)
{
    if (!was_new)
        return;
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", path, tails[i]);
        unlink(p);
    }
}
