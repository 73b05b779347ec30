#include "jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(jsonw *w, const char *s, size_t n)
{
    if (!w || w->oom)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = 0;
}

static void comma(jsonw *w)
{
    if (!w)
        return;
    if (w->need_comma)
        put(w, ", ", 2);
    w->need_comma = 1;
}

void jw_raw(jsonw *w, const char *s) { put(w, s, strlen(s)); }

void jw_begin(jsonw *w, char brace)
{
    if (!w)
        return;
    comma(w);
    put(w, &brace, 1);
    w->need_comma = 0;
}

void jw_end(jsonw *w, char brace)
{
    if (!w)
        return;
    put(w, &brace, 1);
    w->need_comma = 1;
}

void jw_key(jsonw *w, const char *k)
{
    if (!w)
        return;
    jw_str(w, k);
    put(w, ": ", 2);
    w->need_comma = 0;
}

void jw_format_double(double v, char *buf, size_t cap)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.1f", v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void jw_num(jsonw *w, double v)
{
    if (!w)
        return;
    comma(w);
    if (!isfinite(v)) {
        put(w, "null", 4);
        return;
    }
    char buf[40];
    jw_format_double(v, buf, sizeof buf);
    put(w, buf, strlen(buf));
}

void jw_int(jsonw *w, long long v)
{
    if (!w)
        return;
    comma(w);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    put(w, buf, strlen(buf));
}

void jw_null(jsonw *w)
{
    comma(w);
    put(w, "null", 4);
}

void jw_str(jsonw *w, const char *s)
{
    if (!w)
        return;
    comma(w);
    put(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(w, esc, 2);
        } else if (c == '\n') {
            put(w, "\\n", 2);
        } else if (c == '\t') {
            put(w, "\\t", 2);
        } else if (c == '\r') {
            put(w, "\\r", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(w, esc, 6);
        } else {
            put(w, (const char *)&c, 1);
        }
    }
    put(w, "\"", 1);
}

char *jw_take(jsonw *w)
{
    char *p = w->oom ? NULL : w->p;
    if (w->oom)
        free(w->p);
    if (p == NULL && !w->oom)
        p = calloc(1, 1);
    memset(w, 0, sizeof *w);
    return p;
}
