#include "ys_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One object's keys live on a shared stack: an object pushes its keys as it
 * reads them and, when it closes, sorts its own slice and looks for equal
 * neighbours, then pops it. Nested objects sit above their parent's slice,
 * so the stack discipline holds. Sorting keeps a 150,000-entry vocabulary
 * at n log n. Keys without escapes point into the text; decoded ones are
 * owned. */
typedef struct {
    const char *p;
    size_t n;
    size_t at;  /* offset of the key in the text, for the message */
    char *own;
} jkey;

typedef struct {
    const char *s;
    size_t len, i;
    const char *where;
    long line0;
    int depth;
    jkey *keys;
    size_t nkeys, cap;
    bool dups;  /* some object repeats a key */
    ys_error *err;
} jcheck;

/* Grammar errors read "malformed JSON near column C (what)"; the rules of
 * our own (NUL, UTF-8, depth) "column C: what". */
static int jfail(jcheck *c, size_t at, const char *what)
{
    long line = c->line0;
    size_t col = 1;
    for (size_t k = 0; k < at && k < c->len; k++) {
        if (c->s[k] == '\n')
            line++, col = 1;
        else
            col++;
    }
    /* a control byte where a token should be is named as such, whatever
     * token was expected: it is what cJSON would have skipped silently */
    if (at < c->len && (unsigned char)c->s[at] < 0x20 && (!strncmp(what, "expected", 8) || !strncmp(what, "invalid value", 13)))
        what = "control character outside a string";
    if (strstr(what, "NUL") || strstr(what, "UTF-8") || strstr(what, "nested"))
        return ys_fail(c->err, YS_EINPUT, "%s:%ld: column %zu: %s", c->where, line, col, what);
    return ys_fail(c->err, YS_EINPUT, "%s:%ld: malformed JSON near column %zu (%s)", c->where, line, col, what);
}

static void ws(jcheck *c)
{
    while (c->i < c->len && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80)
        return 1;
    size_t k;
    uint32_t cp, min;
    if (b >= 0xC2 && b <= 0xDF)
        k = 2, cp = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF)
        k = 3, cp = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4)
        k = 4, cp = b & 0x07, min = 0x10000;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

static int hex4(jcheck *c, size_t at, uint32_t *out)
{
    if (c->len - at < 4)
        return -1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
        char h = c->s[at + k];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* A string at c->i (the opening quote). With `key`, push it on the key
 * stack (decoded when it has escapes). */
static int string(jcheck *c, bool key)
{
    size_t start = ++c->i;
    bool escaped = false;
    for (;;) {
        if (c->i >= c->len)
            return jfail(c, start - 1, "unterminated string");
        unsigned char b = (unsigned char)c->s[c->i];
        if (b == '"')
            break;
        if (b < 0x20)
            return jfail(c, c->i, b == '\n' ? "line break inside a string" : "unescaped control character inside a string");
        if (b == '\\') {
            escaped = true;
            if (c->i + 1 >= c->len)
                return jfail(c, c->i, "unterminated string");
            char e = c->s[c->i + 1];
            if (e && strchr("\"\\/bfnrt", e)) {
                c->i += 2;
                continue;
            }
            if (e != 'u')
                return jfail(c, c->i, "invalid escape in a string");
            uint32_t u;
            if (hex4(c, c->i + 2, &u) < 0)
                return jfail(c, c->i, "\\u needs four hex digits");
            if (u == 0)
                return jfail(c, c->i, "\\u0000 (NUL) is not supported");
            if (u >= 0xDC00 && u <= 0xDFFF)
                return jfail(c, c->i, "lone low surrogate escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo;
                if (c->i + 7 >= c->len || c->s[c->i + 6] != '\\' || c->s[c->i + 7] != 'u' ||
                    hex4(c, c->i + 8, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return jfail(c, c->i, "lone high surrogate escape");
                c->i += 12;
            } else {
                c->i += 6;
            }
            continue;
        }
        size_t k = utf8_len((const unsigned char *)c->s + c->i, c->len - c->i);
        if (!k)
            return jfail(c, c->i, "invalid UTF-8 inside a string");
        c->i += k;
    }
    size_t end = c->i++;
    if (!key)
        return 0;
    if (c->nkeys == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        jkey *k = realloc(c->keys, cap * sizeof *k);
        if (!k)
            return ys_fail(c->err, YS_ENOMEM, "out of memory");
        c->keys = k, c->cap = cap;
    }
    jkey *k = &c->keys[c->nkeys];
    *k = (jkey){c->s + start, end - start, start - 1, NULL};
    if (escaped) {
        /* decode, so "a" and "\u0061" are the same key */
        char *d = malloc(end - start + 1);
        if (!d)
            return ys_fail(c->err, YS_ENOMEM, "out of memory");
        size_t n = 0;
        for (size_t i = start; i < end;) {
            if (c->s[i] != '\\') {
                d[n++] = c->s[i++];
                continue;
            }
            char e = c->s[i + 1];
            if (e != 'u') {
                d[n++] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
                i += 2;
                continue;
            }
            uint32_t u = 0, lo = 0;   /* set by hex4: the key was validated when it was scanned */
            hex4(c, i + 2, &u);
            i += 6;
            if (u >= 0xD800 && u <= 0xDBFF) {
                hex4(c, i + 2, &lo);
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            if (u < 0x80) {
                d[n++] = (char)u;
            } else if (u < 0x800) {
                d[n++] = (char)(0xC0 | u >> 6), d[n++] = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                d[n++] = (char)(0xE0 | u >> 12), d[n++] = (char)(0x80 | (u >> 6 & 0x3F));
                d[n++] = (char)(0x80 | (u & 0x3F));
            } else {
                d[n++] = (char)(0xF0 | u >> 18), d[n++] = (char)(0x80 | (u >> 12 & 0x3F));
                d[n++] = (char)(0x80 | (u >> 6 & 0x3F)), d[n++] = (char)(0x80 | (u & 0x3F));
            }
        }
        k->p = k->own = d, k->n = n;
    }
    c->nkeys++;
    return 0;
}

static int number(jcheck *c)
{
    size_t at = c->i;
    const char *s = c->s;
    if (c->i < c->len && s[c->i] == '-')
        c->i++;
    if (c->i >= c->len || s[c->i] < '0' || s[c->i] > '9')
        return jfail(c, at, "invalid number");
    if (s[c->i] == '0') {
        c->i++;
        if (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9')
            return jfail(c, at, "invalid number (leading zero)");
    } else {
        while (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9')
            c->i++;
    }
    if (c->i < c->len && s[c->i] == '.') {
        c->i++;
        if (c->i >= c->len || s[c->i] < '0' || s[c->i] > '9')
            return jfail(c, at, "invalid number (no digit after '.')");
        while (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9')
            c->i++;
    }
    if (c->i < c->len && (s[c->i] == 'e' || s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->len && (s[c->i] == '+' || s[c->i] == '-'))
            c->i++;
        if (c->i >= c->len || s[c->i] < '0' || s[c->i] > '9')
            return jfail(c, at, "invalid number (no exponent digits)");
        while (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9')
            c->i++;
    }
    /* cJSON reads a number through a 64-byte buffer: a longer one would be
     * cut, so it is refused here rather than parsed differently */
    if (c->i - at > 63)
        return jfail(c, at, "number longer than 63 characters");
    return 0;
}

static int keycmp(const void *a, const void *b)
{
    const jkey *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->p, y->p, n);
    if (r)
        return r;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void pop_keys(jcheck *c, size_t base)
{
    for (size_t k = base; k < c->nkeys; k++)
        free(c->keys[k].own);
    c->nkeys = base;
}

static int value(jcheck *c);

static int object(jcheck *c)
{
    size_t base = c->nkeys;
    c->i++;
    ws(c);
    int rc = 0;
    if (c->i < c->len && c->s[c->i] == '}') {
        c->i++;
        return 0;
    }
    for (;;) {
        if (c->i >= c->len || c->s[c->i] != '"') {
            rc = jfail(c, c->i, "expected a string key");
            break;
        }
        if ((rc = string(c, true)) < 0)
            break;
        ws(c);
        if (c->i >= c->len || c->s[c->i] != ':') {
            rc = jfail(c, c->i, "expected ':'");
            break;
        }
        c->i++;
        if ((rc = value(c)) < 0)
            break;
        ws(c);
        if (c->i < c->len && c->s[c->i] == ',') {
            c->i++;
            ws(c);
            continue;
        }
        if (c->i < c->len && c->s[c->i] == '}') {
            c->i++;
            break;
        }
        rc = jfail(c, c->i, "expected ',' or '}'");
        break;
    }
    if (rc == 0 && c->nkeys - base > 1 && !c->dups) {
        qsort(c->keys + base, c->nkeys - base, sizeof *c->keys, keycmp);
        for (size_t k = base + 1; k < c->nkeys && !c->dups; k++)
            c->dups = c->keys[k].n == c->keys[k - 1].n && !memcmp(c->keys[k].p, c->keys[k - 1].p, c->keys[k].n);
    }
    pop_keys(c, base);
    return rc;
}

static int array(jcheck *c)
{
    c->i++;
    ws(c);
    if (c->i < c->len && c->s[c->i] == ']') {
        c->i++;
        return 0;
    }
    for (;;) {
        int rc = value(c);
        if (rc < 0)
            return rc;
        ws(c);
        if (c->i < c->len && c->s[c->i] == ',') {
            c->i++;
            continue;
        }
        if (c->i < c->len && c->s[c->i] == ']') {
            c->i++;
            return 0;
        }
        return jfail(c, c->i, "expected ',' or ']'");
    }
}

static int literal(jcheck *c, const char *word)
{
    size_t n = strlen(word);
    if (c->len - c->i < n || memcmp(c->s + c->i, word, n))
        return jfail(c, c->i, "invalid value");
    c->i += n;
    return 0;
}

static int value(jcheck *c)
{
    ws(c);
    if (c->i >= c->len)
        return jfail(c, c->i, "unexpected end of JSON");
    char b = c->s[c->i];
    if (b == '{' || b == '[') {
        if (++c->depth > YS_JSON_MAX_DEPTH)
            return jfail(c, c->i, "JSON nested too deeply");
        int rc = b == '{' ? object(c) : array(c);
        c->depth--;
        return rc;
    }
    if (b == '"')
        return string(c, false);
    if (b == '-' || (b >= '0' && b <= '9'))
        return number(c);
    if (b == 't')
        return literal(c, "true");
    if (b == 'f')
        return literal(c, "false");
    if (b == 'n')
        return literal(c, "null");
    if ((unsigned char)b < 0x20)
        return jfail(c, c->i, "control character outside a string");
    return jfail(c, c->i, "invalid value");
}

static int check(const char *text, size_t len, const char *where, long first_line, bool *dups, ys_error *err)
{
    jcheck c = {.s = text, .len = len, .where = where ? where : "JSON", .line0 = first_line, .err = err};
    int rc = value(&c);
    if (rc == 0) {
        ws(&c);
        if (c.i < c.len)
            rc = jfail(&c, c.i,
                       (unsigned char)text[c.i] < 0x20 ? "control character outside a string" : "text after the JSON value");
    }
    pop_keys(&c, 0);
    free(c.keys);
    if (dups)
        *dups = c.dups;
    return rc;
}

int ys_json_check(const char *text, size_t len, const char *where, long first_line, ys_error *err)
{
    return check(text, len, where, first_line, NULL, err);
}

/* One member of an object and its place in the document. */
typedef struct {
    cJSON *item;
    size_t at;
} member_pos;

/* Key order, equal keys in document order. */
static int pos_cmp(const void *a, const void *b)
{
    const member_pos *x = a, *y = b;
    int r = strcmp(x->item->string, y->item->string);
    if (r)
        return r;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Python's json keeps the last of equal keys: drop every earlier copy, in
 * every object of the tree. Only called when the check saw a repeat. */
static int keep_last(cJSON *v)
{
    for (cJSON *c = v ? v->child : NULL; c; c = c->next)
        if (keep_last(c) < 0)
            return -1;
    if (!cJSON_IsObject(v) || !v->child)
        return 0;
    size_t n = 0;
    for (cJSON *c = v->child; c; c = c->next)
        n++;
    member_pos *p = malloc(n * sizeof *p);
    if (!p)
        return -1;
    size_t i = 0;
    for (cJSON *c = v->child; c; c = c->next, i++)
        p[i] = (member_pos){c, i};
    /* sorted by (key, position), so n log n on a vocabulary */
    qsort(p, n, sizeof *p, pos_cmp);
    for (i = 0; i + 1 < n; i++)
        if (!strcmp(p[i].item->string, p[i + 1].item->string))
            cJSON_Delete(cJSON_DetachItemViaPointer(v, p[i].item));
    free(p);
    return 0;
}

int ys_json_parse(const char *text, size_t len, const char *where, long first_line, cJSON **out,
                  ys_error *err)
{
    *out = NULL;
    bool dups = false;
    int rc = check(text, len, where, first_line, &dups, err);
    if (rc < 0)
        return rc;
    *out = cJSON_ParseWithLength(text, len);
    if (!*out || (dups && keep_last(*out) < 0)) {
        cJSON_Delete(*out);
        *out = NULL;
        return ys_fail(err, YS_ENOMEM, "%s: out of memory parsing JSON", where ? where : "JSON");
    }
    return 0;
}

const char *ys_json_kind(const cJSON *v)
{
    if (!v)
        return "nothing";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    return "an invalid value";
}

int ys_json_int(const cJSON *v, long long lo, long long hi, const char *where, const char *field,
                long long *out, ys_error *err)
{
    if (!cJSON_IsNumber(v))
        return ys_fail(err, YS_EINPUT, "%s: field '%s' must be an integer, found %s", where, field, ys_json_kind(v));
    double d = v->valuedouble;
    /* compare as doubles before converting: the conversion of a value
     * outside long long is undefined behaviour */
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return ys_fail(err, YS_EINPUT, "%s: field '%s' must be an integer in [%lld, %lld], found %.15g", where,
                       field, lo, hi, d);
    *out = (long long)d;
    return 0;
}
