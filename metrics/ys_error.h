/* ys_error.h — the one error record every yardstick library fills.
 *
 * Contract: a library function that can fail returns 0 on success or a
 * negative YS_E* code, and when it fails it writes a human-readable message
 * (naming file, line and field where it knows them) into a caller-provided
 * ys_error. Libraries never print and never exit; eval/ decides what to show
 * and which exit code to use. It lives in metrics/ because metrics is the
 * bottom of the dependency graph: every other module may include it.
 */
#ifndef YS_ERROR_H
#define YS_ERROR_H

#include <stdarg.h>
#include <stdio.h>

enum {
    YS_OK = 0,
    YS_EINPUT = -1,    /* bad input data: malformed, missing field, bad UTF-8 */
    YS_ENOMEM = -2,    /* allocation failed */
    YS_EIO = -3,       /* a file could not be opened or read */
    YS_EUSAGE = -4,    /* an option or argument the function cannot accept */
    YS_ERESOURCE = -5, /* a required resource (e.g. WordNet) is missing */
    YS_EBUSY = -6,     /* a resource is busy: a database locked by another writer
                          past the wait allowed; trying again later may work */
};

typedef struct ys_error {
    int code;        /* one of YS_E*, 0 when no error was recorded */
    char msg[512];
} ys_error;

/* Record an error (err may be NULL) and return code, so callers can write
 * `return ys_fail(err, YS_EINPUT, "%s:%d: ...", ...)`. */
static inline int ys_fail(ys_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline int ys_fail(ys_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

#endif
