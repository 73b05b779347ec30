/* jsonw.h — a tiny JSON text builder for metric results (no parsing).
 * Numbers are written in the shortest form that reads back to the same
 * double (like Python's repr); NaN and infinities become null. The buffer
 * is malloc'd and owned by the jsonw until jw_take hands it to the caller.
 * Any allocation failure sets `oom` and later calls do nothing. Every
 * function accepts a NULL writer and then does nothing, so a caller can
 * build output only when someone asked for it.
 */
#ifndef YS_JSONW_H
#define YS_JSONW_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
    int need_comma;
} jsonw;

void jw_raw(jsonw *w, const char *s);
void jw_begin(jsonw *w, char brace);  /* '{' or '[' */
void jw_end(jsonw *w, char brace);    /* '}' or ']' */
void jw_key(jsonw *w, const char *k); /* inside an object */
void jw_num(jsonw *w, double v);
void jw_int(jsonw *w, long long v);
void jw_str(jsonw *w, const char *s);
void jw_null(jsonw *w);
/* Returns the text (caller frees) or NULL on OOM; resets the writer. */
char *jw_take(jsonw *w);
/* Shortest round-trip formatting of v into buf (at least 32 bytes). */
void jw_format_double(double v, char *buf, size_t cap);

#endif
