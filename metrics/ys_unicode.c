/* ys_unicode.c — see ys_unicode.h for the contract and how one set of
 * Unicode 15.0 tables answers for older versions. */
#include "ys_unicode.h"

#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"

/* ------------------------------------------------------------------ UTF-8 */
size_t uni_decode(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, c = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, c = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

size_t uni_decode_valid(const char *str, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xE0) { *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu); return 2; }
    if (c < 0xF0) { *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu); return 3; }
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

size_t uni_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t uni_invalid_at(const char *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = uni_decode(s + i, n - i, &cp);
        if (!k)
            return i;
        i += k;
    }
    return (size_t)-1;
}

size_t uni_invalid_subpart(const char *str, size_t n)
{
    /* the lead byte, then continuation bytes as long as they could still
     * end in a valid sequence (the second byte's range depends on the lead) */
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c < 0xE0) {
        need = 2;
    } else if (c >= 0xE0 && c < 0xF0) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c < 0xF5) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    size_t i = 1;
    if (i < n && s[i] >= lo && s[i] <= hi) {
        i++;
        while (i < need && i < n && (s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* ------------------------------------------------------- the run table */
/* Bits of a run's props (gen_unicode.py writes them) */
#define P_GC(p) ((p) & 31u)
#define P_AGE(p) (((p) >> 5) & 3u) /* uni_version of the version that assigned it */
#define P_GCB(p) (((p) >> 7) & 15u)
#define P_WS 0x800u
#define P_NUM 0x1000u
#define P_CASED 0x2000u
#define P_CI 0x4000u
#define P_NFCU 0x8000u
#define P_CCC(p) ((p) >> 16)

static uint32_t props(uint32_t cp)
{
    /* the last run starting at or before cp (the first starts at 0) */
    size_t lo = 0, hi = uni_runs_len;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (uni_runs[mid].lo <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return uni_runs[lo].props;
}

static const uni_fix *find_fix(const uni_fix *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].cp)
            hi = mid;
        else if (cp > t[mid].cp)
            lo = mid + 1;
        else
            return &t[mid];
    }
    return NULL;
}

static const uni_map *find_map(const uni_map *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].cp)
            hi = mid;
        else if (cp > t[mid].cp)
            lo = mid + 1;
        else
            return &t[mid];
    }
    return NULL;
}

int uni_category(uint32_t cp, uni_version v)
{
    uint32_t p = props(cp);
    if (P_AGE(p) > (uint32_t)v)
        return UNI_CN;
    const uni_fix *f = v == UNI_V8_0   ? find_fix(uni_gc8_fix, uni_gc8_fix_len, cp)
                       : v == UNI_V9_0 ? find_fix(uni_gc9_fix, uni_gc9_fix_len, cp)
                                       : NULL;
    return f ? (int)f->value : (int)P_GC(p);
}

bool uni_is_white_space(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 9 && cp <= 13) || cp == ' ';
    if (cp > 0x3000) /* the last one (IDEOGRAPHIC SPACE) */
        return false;
    return props(cp) & P_WS;
}

static int copy_map(const uni_map *m, uint32_t out[3])
{
    memcpy(out, uni_pool + m->off, m->len * sizeof out[0]);
    return m->len;
}

int uni_to_lower(uint32_t cp, uint32_t out[3])
{
    const uni_map *m = cp >= 'A' ? find_map(uni_lower_map, uni_lower_map_len, cp) : NULL;
    if (m)
        return copy_map(m, out);
    out[0] = cp;
    return 1;
}

/* ---------------------------------------------------- grapheme clusters */
enum { G_OTHER, G_CR, G_LF, G_CONTROL, G_EXTEND, G_ZWJ, G_RI, G_PREPEND, G_SPACINGMARK, G_L, G_V, G_T, G_LV, G_LVT,
       G_PICT };

static int gcb(uint32_t c)
{
    if (c >= 0x20 && c < 0x7F)
        return G_OTHER;
    return (int)P_GCB(props(c));
}

size_t uni_grapheme_len(const char *s, size_t n, size_t i)
{
    uint32_t c;
    size_t j = i + uni_decode_valid(s + i, &c);
    int prev = gcb(c);
    /* GB11 state: saw ExtPict Extend* (ZWJ pending in prev) */
    bool pict = prev == G_PICT;
    int ri = prev == G_RI; /* regional indicators in the current run */
    while (j < n) {
        size_t l = uni_decode_valid(s + j, &c);
        int cur = gcb(c);
        bool join;
        if (prev == G_CR && cur == G_LF) join = true;                                        /* GB3 */
        else if (prev == G_CR || prev == G_LF || prev == G_CONTROL) join = false;             /* GB4 */
        else if (cur == G_CR || cur == G_LF || cur == G_CONTROL) join = false;                /* GB5 */
        else if (prev == G_L && (cur == G_L || cur == G_V || cur == G_LV || cur == G_LVT)) join = true; /* GB6 */
        else if ((prev == G_LV || prev == G_V) && (cur == G_V || cur == G_T)) join = true;    /* GB7 */
        else if ((prev == G_LVT || prev == G_T) && cur == G_T) join = true;                   /* GB8 */
        else if (cur == G_EXTEND || cur == G_ZWJ || cur == G_SPACINGMARK) join = true;        /* GB9, 9a */
        else if (prev == G_PREPEND) join = true;                                             /* GB9b */
        else if (prev == G_ZWJ && cur == G_PICT && pict) join = true;                        /* GB11 */
        else if (prev == G_RI && cur == G_RI && ri % 2 == 1) join = true;                    /* GB12, 13 */
        else join = false;
        if (!join) break;
        /* GB11 tracking: is the run so far ExtPict Extend* (ZWJ)? */
        if (cur == G_PICT) pict = true;
        else if (cur == G_EXTEND || cur == G_ZWJ) pict = pict && prev != G_ZWJ;
        else pict = false;
        ri = cur == G_RI ? ri + 1 : 0;
        prev = cur;
        j += l;
    }
    return j - i;
}

/* ------------------------------------------------ normalization, 9.0 */
int uni_ccc9(uint32_t cp)
{
    if (cp < 0x300) /* nothing before the combining diacritics */
        return 0;
    uint32_t p = props(cp);
    return P_AGE(p) <= UNI_V9_0 ? (int)P_CCC(p) : 0;
}

const uint32_t *uni_decomposition9(uint32_t cp, size_t *len)
{
    const uni_map *m = cp >= 0xC0 ? find_map(uni_decomp9, uni_decomp9_len, cp) : NULL;
    if (!m)
        return NULL;
    *len = m->len;
    return uni_pool + m->off;
}

uint32_t uni_compose9(uint32_t a, uint32_t b)
{
    size_t lo = 0, hi = uni_comp9_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uni_comp *p = &uni_comp9[mid];
        if (a < p->a || (a == p->a && b < p->b))
            hi = mid;
        else if (a > p->a || b > p->b)
            lo = mid + 1;
        else
            return p->c;
    }
    return 0;
}

bool uni_nfc9_maybe(uint32_t cp)
{
    return (props(cp) & P_NFCU) != 0;
}

/* ------------------------------------------------------------- Python */
/* Python's answers: the Unicode 15.0 properties under the rule below, with
 * the generated corrections (uni_py_fix). gen_unicode.py applies the same
 * rule to list them. */
enum { PY_SPACE = 1, PY_WORD = 2, PY_N = 4, PY_P = 8, PY_S = 16, PY_CASED = 32, PY_CI = 64 };

static unsigned py_flags(uint32_t cp)
{
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    uint32_t p = props(cp);
    int g = (int)P_GC(p);
    bool old = P_AGE(p) <= UNI_V14_0; /* str and re: Unicode 14.0 */
    unsigned f = 0;
    if (old && (p & P_WS))
        f |= PY_SPACE;
    if (old && ((g >= UNI_LU && g <= UNI_LO) || (p & P_NUM) || cp == '_'))
        f |= PY_WORD;
    /* the regex module: Unicode 15.0 */
    if (g >= UNI_ND && g <= UNI_NO)
        f |= PY_N;
    if (g >= UNI_PC && g <= UNI_PO)
        f |= PY_P;
    if (g >= UNI_SM && g <= UNI_SO)
        f |= PY_S;
    /* the final-sigma rule skips case-ignorable code points before it asks
     * whether one is cased, so one that is both counts as ignorable */
    if (old && (p & P_CI))
        f |= PY_CI;
    else if (old && (p & P_CASED))
        f |= PY_CASED;
    const uni_fix *x = find_fix(uni_py_fix, uni_py_fix_len, cp);
    return x ? f ^ x->value : f;
}

int uni_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return uni_ascii_flags[cp] & PY_SPACE;
    if (cp > 0x3000) /* the last white space code point (CJK space) */
        return 0;
    return (py_flags(cp) & PY_SPACE) != 0;
}

int uni_is_word(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & PY_WORD : (py_flags(cp) & PY_WORD) != 0; }
int uni_is_n(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & PY_N : (py_flags(cp) & PY_N) != 0; }
int uni_is_p(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & PY_P : (py_flags(cp) & PY_P) != 0; }
int uni_is_s(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & PY_S : (py_flags(cp) & PY_S) != 0; }

int uni_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    const uni_map *m = find_map(uni_py_lower_fix, uni_py_lower_fix_len, cp);
    if (m)
        return copy_map(m, out);
    if (P_AGE(props(cp)) > UNI_V14_0) { /* unassigned in Python's Unicode */
        out[0] = cp;
        return 1;
    }
    return uni_to_lower(cp, out);
}

static int case_ignorable(uint32_t cp) { return (py_flags(cp) & PY_CI) != 0; }
static int cased(uint32_t cp) { return (py_flags(cp) & PY_CASED) != 0; }

/* Python lower-cases capital sigma to final sigma when a cased letter comes
 * before it and none comes after it, skipping case-ignorable code points
 * both ways (Unicode's Final_Sigma context). */
static int final_sigma(int cased_before, const char *s, size_t n)
{
    if (!cased_before)
        return 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = uni_decode(s + i, n - i, &cp);
        if (!k)
            return 1; /* invalid byte: not cased, not ignorable */
        if (!case_ignorable(cp))
            return !cased(cp);
        i += k;
    }
    return 1;
}

size_t uni_lower_utf8_into(const char *s, size_t n, char **buf, size_t *cap)
{
    /* A lower-cased code point needs at most 3 code points of 4 bytes, but
     * in practice the length barely changes: grow only when needed. */
    size_t len = 0;
    if (*cap < n + 16) {
        char *nb = realloc(*buf, n + 16);
        if (!nb)
            return (size_t)-1;
        *buf = nb;
        *cap = n + 16;
    }
    char *out = *buf;
    size_t i = 0;
    int cased_before = 0; /* was the last non-ignorable code point cased? */
    while (i < n) {
        /* Room for one code point lowered to three of four bytes each. */
        if (*cap - len < 13) {
            size_t nc = *cap * 2 + 16;
            char *nb = realloc(*buf, nc);
            if (!nb)
                return (size_t)-1;
            *buf = out = nb;
            *cap = nc;
        }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            int letter = (c | 32) >= 'a' && (c | 32) <= 'z';
            out[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            if (c != '\'' && c != '.' && c != ':' && c != '^' && c != '`')
                cased_before = letter;
            i++;
            continue;
        }
        uint32_t cp, low[3];
        size_t k = uni_decode(s + i, n - i, &cp);
        if (!k) {
            out[len++] = s[i++];
            cased_before = 0;
            continue;
        }
        int m;
        if (cp == 0x3A3) {
            low[0] = final_sigma(cased_before, s + i + k, n - i - k) ? 0x3C2 : 0x3C3;
            m = 1;
        } else {
            m = uni_lower(cp, low);
        }
        if (!case_ignorable(cp))
            cased_before = cased(cp);
        for (int j = 0; j < m; j++)
            len += uni_encode(low[j], out + len);
        i += k;
    }
    out[len] = 0;
    return len;
}

char *uni_lower_utf8(const char *s, size_t n, size_t *out_len)
{
    char *buf = NULL;
    size_t cap = 0, len = uni_lower_utf8_into(s, n, &buf, &cap);
    if (len == (size_t)-1) {
        free(buf);
        return NULL;
    }
    if (out_len)
        *out_len = len;
    return buf;
}
