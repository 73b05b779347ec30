#include "jsonl_line.h"

#include <stdint.h>
#include <string.h>

/* The scan of one line: p moves through [p, end); decoded strings are
 * appended at out. Every function returns 1 when it consumed what it
 * expected and 0 when the line is not one this reader handles. */
typedef struct {
    const char *p, *end;
    char *out;
} scan;

static void skip_ws(scan *s)
{
    /* JSON's four white-space bytes only: cJSON takes every byte up to
     * ' ' as white space, so anything else goes to it. */
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int expect(scan *s, char c)
{
    if (s->p >= s->end || *s->p != c)
        return 0;
    s->p++;
    return 1;
}

static int hex4(const char *p, const char *end, uint32_t *v)
{
    if (end - p < 4)
        return 0;
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        x = x << 4 | (uint32_t)d;
    }
    *v = x;
    return 1;
}

/* A string at s->p. With `keep`, decoded into s->out and NUL-terminated,
 * *res pointing at it; otherwise only checked. Escapes decode to fewer
 * bytes than they take, so the decoded strings of a line fit in len + 1
 * bytes. \u0000 and unpaired surrogates are left to cJSON. */
static int string(scan *s, int keep, const char **res)
{
    if (!expect(s, '"'))
        return 0;
    char *o = s->out;
    for (;;) {
        const char *q = s->p;
        while (q < s->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
            q++;
        if (keep) {
            memcpy(o, s->p, (size_t)(q - s->p));
            o += q - s->p;
        }
        s->p = q;
        if (q >= s->end || (unsigned char)*q < 0x20)
            return 0;
        if (*q == '"') {
            s->p++;
            break;
        }
        if (q + 1 >= s->end)
            return 0;
        char e = q[1], c;
        s->p = q + 2;
        switch (e) {
        case '"': case '\\': case '/': c = e; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (!hex4(s->p, s->end, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return 0;
            s->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || !hex4(s->p + 2, s->end, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return 0;
                s->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (keep) {
                if (cp < 0x80) {
                    *o++ = (char)cp;
                } else if (cp < 0x800) {
                    *o++ = (char)(0xC0 | cp >> 6);
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *o++ = (char)(0xE0 | cp >> 12);
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *o++ = (char)(0xF0 | cp >> 18);
                    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                }
            }
            continue;
        }
        default:
            return 0;
        }
        if (keep)
            *o++ = c;
    }
    if (keep) {
        *o++ = 0;
        *res = s->out;
        s->out = o;
    }
    return 1;
}

static int digits(scan *s)
{
    const char *q = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > q;
}

/* A field we do not use: a string, a number in JSON's grammar, true,
 * false or null. Arrays and objects are left to cJSON. */
static int skip_value(scan *s)
{
    if (s->p >= s->end)
        return 0;
    char c = *s->p;
    if (c == '"')
        return string(s, 0, NULL);
    if (c == '-' || (c >= '0' && c <= '9')) {
        expect(s, '-');
        if (!digits(s))
            return 0;
        if (expect(s, '.') && !digits(s))
            return 0;
        if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
            s->p++;
            if (!expect(s, '+'))
                expect(s, '-');
            if (!digits(s))
                return 0;
        }
        return 1;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
            s->p += n;
            return 1;
        }
    }
    return 0;
}

static int key_is(const char *k, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

int jl_scan(const char *line, size_t len, const char *pred_field, const char *refs_field,
            const char *ref_field, char *buf, jl_sample *out)
{
    scan s = {line, line + len, buf};
    const char *pred = NULL, *ref1 = NULL;
    int have_refs = 0;
    out->nrefs = 0;
    skip_ws(&s);
    if (!expect(&s, '{'))
        return 0;
    for (;;) {
        skip_ws(&s);
        /* a key without escapes: compared as it is written */
        if (!expect(&s, '"'))
            return 0;
        const char *k = s.p;
        while (s.p < s.end && *s.p != '"' && *s.p != '\\' && (unsigned char)*s.p >= 0x20)
            s.p++;
        if (!expect(&s, '"'))
            return 0;
        size_t kn = (size_t)(s.p - 1 - k);
        skip_ws(&s);
        if (!expect(&s, ':'))
            return 0;
        skip_ws(&s);
        if (key_is(k, kn, pred_field)) {
            if (pred || !string(&s, 1, &pred))
                return 0;
        } else if (key_is(k, kn, refs_field)) {
            if (have_refs || !expect(&s, '['))
                return 0;
            have_refs = 1;
            for (;;) {
                skip_ws(&s);
                if (out->nrefs == JL_MAX_REFS || !string(&s, 1, &out->refs[out->nrefs]))
                    return 0; /* also an empty array: cJSON's path reports it */
                out->nrefs++;
                skip_ws(&s);
                if (expect(&s, ']'))
                    break;
                if (!expect(&s, ','))
                    return 0;
            }
        } else if (key_is(k, kn, ref_field)) {
            if (ref1 || !string(&s, 1, &ref1))
                return 0;
        } else if (!skip_value(&s)) {
            return 0;
        }
        skip_ws(&s);
        if (expect(&s, '}'))
            break;
        if (!expect(&s, ','))
            return 0;
    }
    skip_ws(&s);
    if (s.p != s.end || !pred)
        return 0;
    if (!have_refs) {
        if (!ref1)
            return 0;
        out->refs[0] = ref1;
        out->nrefs = 1;
    }
    out->pred = pred;
    return 1;
}
