#include "textbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tb_printf(textbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

void tb_xml(textbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': tb_printf(b, "&lt;"); break;
        case '>': tb_printf(b, "&gt;"); break;
        case '&': tb_printf(b, "&amp;"); break;
        case '"': tb_printf(b, "&quot;"); break;
        default: tb_printf(b, "%c", *s);
        }
    }
}

void tb_csv(textbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        tb_printf(b, "%s", s);
        return;
    }
    tb_printf(b, "\"");
    for (; *s; s++)
        tb_printf(b, *s == '"' ? "\"\"" : "%c", *s);
    tb_printf(b, "\"");
}

void tb_json_str(textbuf *b, const char *s)
{
    tb_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            tb_printf(b, "\\%c", c);
        else if (c < 0x20)
            tb_printf(b, "\\u%04x", c);
        else
            tb_printf(b, "%c", c);
    }
    tb_printf(b, "\"");
}

void tb_json_num(textbuf *b, double v)
{
    if (isnan(v) || isinf(v))
        tb_printf(b, "null");
    else
        tb_printf(b, "%.17g", v);
}

char *tb_take(textbuf *b)
{
    char *p = b->p;
    if (b->oom) {
        free(p);
        p = NULL;
    } else if (!p) {
        p = calloc(1, 1);
    }
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
