/* textbuf.h — a growable text buffer for the report and compare renderers,
 * with escaping for HTML/XML, CSV and JSON. An allocation failure sets oom
 * and later appends do nothing; the text (tb.p) is malloc'd and belongs to
 * whoever takes it. */
#ifndef YS_TEXTBUF_H
#define YS_TEXTBUF_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} textbuf;

void tb_printf(textbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void tb_xml(textbuf *b, const char *s);  /* & < > " escaped */
void tb_csv(textbuf *b, const char *s);  /* quoted when needed */
void tb_json_str(textbuf *b, const char *s);
void tb_json_num(textbuf *b, double v);  /* null for NaN/inf */
/* The text, or NULL when an allocation failed (the buffer is released). */
char *tb_take(textbuf *b);

#endif
