#include "mtok.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ys_unicode.h"

/* A growable byte buffer; every mtok pass writes into one. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void buf_reserve(buf *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void buf_put(buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_ch(buf *b, char c) { buf_put(b, &c, 1); }

size_t mtok_space_at(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80)
        return (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) ? 1 : 0;
    uint32_t cp;
    size_t k = uni_decode(s, n, &cp);
    return (k && uni_is_space(cp)) ? k : 0;
}

size_t mtok_rstrip_len(const char *s, size_t n)
{
    /* Walk forward remembering where the last non-space code point ended:
     * UTF-8 cannot be decoded backwards without care, and lines are short. */
    size_t end = 0, i = 0;
    while (i < n) {
        size_t sp = mtok_space_at(s + i, n - i);
        if (sp) {
            i += sp;
            continue;
        }
        uint32_t cp;
        size_t k = uni_decode(s + i, n - i, &cp);
        i += k ? k : 1;
        end = i;
    }
    return end;
}

size_t mtok_split(const char *s, size_t n, void (*fn)(const char *, size_t, void *), void *ctx)
{
    size_t i = 0, count = 0;
    while (i < n) {
        size_t sp;
        while (i < n && (sp = mtok_space_at(s + i, n - i)))
            i += sp;
        if (i >= n)
            break;
        size_t start = i;
        while (i < n && !mtok_space_at(s + i, n - i)) {
            uint32_t cp;
            size_t k = uni_decode(s + i, n - i, &cp);
            i += k ? k : 1;
        }
        if (fn)
            fn(s + start, i - start, ctx);
        count++;
    }
    return count;
}

/* ' '.join(s.split()) */
static void join_split(buf *out, const char *s, size_t n)
{
    size_t i = 0;
    int first = 1;
    while (i < n) {
        size_t sp;
        while (i < n && (sp = mtok_space_at(s + i, n - i)))
            i += sp;
        if (i >= n)
            break;
        size_t start = i;
        while (i < n && !mtok_space_at(s + i, n - i)) {
            uint32_t cp;
            size_t k = uni_decode(s + i, n - i, &cp);
            i += k ? k : 1;
        }
        if (!first)
            buf_ch(out, ' ');
        buf_put(out, s + start, i - start);
        first = 0;
    }
}

/* Python str.replace(old, new) on a buffer, producing a new buffer. */
static void replace_all(buf *dst, const char *s, size_t n, const char *old, const char *new)
{
    size_t ol = strlen(old), nl = strlen(new), i = 0;
    dst->len = 0;
    buf_reserve(dst, n);
    while (i < n) {
        if (i + ol <= n && memcmp(s + i, old, ol) == 0) {
            buf_put(dst, new, nl);
            i += ol;
        } else {
            buf_ch(dst, s[i++]);
        }
    }
}

static int is_13a_punct(unsigned char c)
{
    /* sacrebleu's class [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII only. */
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_dotcomma(unsigned char c) { return c == '.' || c == ','; }

/* The four regex substitutions of sacrebleu's TokenizerRegexp, each a
 * left-to-right scan with re.sub's non-overlapping semantics. They only look
 * at ASCII bytes, and a multi-byte code point never contains one, so a byte
 * scan gives the same result as Python's code point scan. */
static void tok_13a(buf *out, const char *line, size_t n)
{
    buf a = {0}, b = {0};
    replace_all(&a, line, n, "<skipped>", "");
    replace_all(&b, a.p ? a.p : "", a.len, "-\n", "");
    replace_all(&a, b.p ? b.p : "", b.len, "\n", " ");
    if (a.len && memchr(a.p, '&', a.len)) {
        replace_all(&b, a.p, a.len, "&quot;", "\"");
        replace_all(&a, b.p, b.len, "&amp;", "&");
        replace_all(&b, a.p, a.len, "&lt;", "<");
        replace_all(&a, b.p, b.len, "&gt;", ">");
    }
    /* f' {line} ' then pass 1: punctuation gets spaces around it. */
    b.len = 0;
    buf_put(&b, "   ", 3); /* the leading ' ' is itself in the class */
    for (size_t i = 0; i < a.len; i++) {
        unsigned char c = (unsigned char)a.p[i];
        if (is_13a_punct(c)) {
            buf_ch(&b, ' ');
            buf_ch(&b, (char)c);
            buf_ch(&b, ' ');
        } else {
            buf_ch(&b, (char)c);
        }
    }
    buf_put(&b, "   ", 3);
    /* pass 2: ([^0-9])([\.,]) -> '\1 \2 ' */
    a.len = 0;
    for (size_t i = 0; i < b.len;) {
        if (i + 1 < b.len && !is_digit((unsigned char)b.p[i]) && is_dotcomma((unsigned char)b.p[i + 1])) {
            buf_ch(&a, b.p[i]);
            buf_ch(&a, ' ');
            buf_ch(&a, b.p[i + 1]);
            buf_ch(&a, ' ');
            i += 2;
        } else {
            buf_ch(&a, b.p[i++]);
        }
    }
    /* pass 3: ([\.,])([^0-9]) -> ' \1 \2' */
    b.len = 0;
    for (size_t i = 0; i < a.len;) {
        if (i + 1 < a.len && is_dotcomma((unsigned char)a.p[i]) && !is_digit((unsigned char)a.p[i + 1])) {
            buf_ch(&b, ' ');
            buf_ch(&b, a.p[i]);
            buf_ch(&b, ' ');
            buf_ch(&b, a.p[i + 1]);
            i += 2;
        } else {
            buf_ch(&b, a.p[i++]);
        }
    }
    /* pass 4: ([0-9])(-) -> '\1 \2 ' */
    a.len = 0;
    for (size_t i = 0; i < b.len;) {
        if (i + 1 < b.len && is_digit((unsigned char)b.p[i]) && b.p[i + 1] == '-') {
            buf_ch(&a, b.p[i]);
            buf_ch(&a, ' ');
            buf_ch(&a, '-');
            buf_ch(&a, ' ');
            i += 2;
        } else {
            buf_ch(&a, b.p[i++]);
        }
    }
    if (a.oom || b.oom)
        out->oom = 1;
    else
        join_split(out, a.p, a.len);
    free(a.p);
    free(b.p);
}

/* mteval-v14 international: three regex passes over code points. */
typedef struct {
    uint32_t *cp;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *c, uint32_t v)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint32_t *np = realloc(c->cp, cap * sizeof *np);
        if (!np)
            return -1;
        c->cp = np;
        c->cap = cap;
    }
    c->cp[c->n++] = v;
    return 0;
}

static void tok_intl(buf *out, const char *s, size_t n)
{
    cpbuf a = {0}, b = {0};
    int oom = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = uni_decode(s + i, n - i, &cp);
        if (!k) {
            cp = (unsigned char)s[i];
            k = 1;
        }
        oom |= cp_push(&a, cp);
        i += k;
    }
    /* (\P{N})(\p{P}) -> '\1 \2 ' */
    for (size_t i = 0; i < a.n;) {
        if (i + 1 < a.n && !uni_is_n(a.cp[i]) && uni_is_p(a.cp[i + 1])) {
            oom |= cp_push(&b, a.cp[i]) | cp_push(&b, ' ') | cp_push(&b, a.cp[i + 1]) | cp_push(&b, ' ');
            i += 2;
        } else {
            oom |= cp_push(&b, a.cp[i++]);
        }
    }
    /* (\p{P})(\P{N}) -> ' \1 \2' */
    a.n = 0;
    for (size_t i = 0; i < b.n;) {
        if (i + 1 < b.n && uni_is_p(b.cp[i]) && !uni_is_n(b.cp[i + 1])) {
            oom |= cp_push(&a, ' ') | cp_push(&a, b.cp[i]) | cp_push(&a, ' ') | cp_push(&a, b.cp[i + 1]);
            i += 2;
        } else {
            oom |= cp_push(&a, b.cp[i++]);
        }
    }
    /* (\p{S}) -> ' \1 ' */
    buf t = {0};
    char enc[4];
    for (size_t i = 0; i < a.n; i++) {
        int sym = uni_is_s(a.cp[i]);
        if (sym)
            buf_ch(&t, ' ');
        buf_put(&t, enc, uni_encode(a.cp[i], enc));
        if (sym)
            buf_ch(&t, ' ');
    }
    if (oom || t.oom)
        out->oom = 1;
    else
        join_split(out, t.p ? t.p : "", t.len);
    free(a.cp);
    free(b.cp);
    free(t.p);
}

/* " ".join(line), then BLEU's split(): every code point that is not white
 * space becomes a token. */
static void tok_char(buf *out, const char *s, size_t n)
{
    int first = 1;
    for (size_t i = 0; i < n;) {
        size_t sp = mtok_space_at(s + i, n - i);
        if (sp) {
            i += sp;
            continue;
        }
        uint32_t cp;
        size_t k = uni_decode(s + i, n - i, &cp);
        if (!k)
            k = 1;
        if (!first)
            buf_ch(out, ' ');
        buf_put(out, s + i, k);
        first = 0;
        i += k;
    }
}

char *mtok_apply(mtok_kind kind, const char *s, size_t n, size_t *out_len)
{
    buf out = {0};
    buf_reserve(&out, n + n / 2 + 8);
    switch (kind) {
    case MTOK_13A: tok_13a(&out, s, n); break;
    case MTOK_INTL: tok_intl(&out, s, n); break;
    case MTOK_CHAR: tok_char(&out, s, n); break;
    case MTOK_NONE: join_split(&out, s, n); break;
    }
    if (out.oom) {
        free(out.p);
        return NULL;
    }
    if (!out.p) {
        out.p = malloc(1);
        if (!out.p)
            return NULL;
        out.p[0] = 0;
    }
    out.p[out.len] = 0;
    if (out_len)
        *out_len = out.len;
    return out.p;
}

int mtok_parse(const char *name, mtok_kind *kind)
{
    static const char *names[] = {"13a", "intl", "char", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *kind = (mtok_kind)i;
            return 0;
        }
    return -1;
}

const char *mtok_name(mtok_kind kind)
{
    static const char *names[] = {"13a", "intl", "char", "none"};
    return names[kind];
}
