#include "ys_unicode.h"

#include <stdlib.h>
#include <string.h>

/* Bits of uni_ascii_flags, generated with the range tables. */
enum { A_SPACE = 1, A_WORD = 2, A_N = 4, A_P = 8, A_S = 16 };
extern const unsigned char uni_ascii_flags[128];
extern const uni_range uni_word_ranges[];
extern const size_t uni_word_ranges_len;
extern const uni_range uni_space_ranges[], uni_n_ranges[], uni_p_ranges[], uni_s_ranges[];
extern const size_t uni_space_ranges_len, uni_n_ranges_len, uni_p_ranges_len, uni_s_ranges_len;
extern const uni_range uni_caseignorable_ranges[], uni_cased_ranges[];
extern const size_t uni_caseignorable_ranges_len, uni_cased_ranges_len;
extern const uni_caserun uni_lower_runs[];
extern const size_t uni_lower_runs_len;
extern const uni_multimap uni_lower_multi[];
extern const size_t uni_lower_multi_len;

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

static int in_ranges(const uni_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int uni_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return uni_ascii_flags[cp] & A_SPACE;
    if (cp > 0x3000) /* the last white space code point (CJK space) */
        return 0;
    return in_ranges(uni_space_ranges, uni_space_ranges_len, cp);
}

int uni_is_word(uint32_t cp)
{
    return cp < 128 ? uni_ascii_flags[cp] & A_WORD : in_ranges(uni_word_ranges, uni_word_ranges_len, cp);
}
int uni_is_n(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & A_N : in_ranges(uni_n_ranges, uni_n_ranges_len, cp); }
int uni_is_p(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & A_P : in_ranges(uni_p_ranges, uni_p_ranges_len, cp); }
int uni_is_s(uint32_t cp) { return cp < 128 ? uni_ascii_flags[cp] & A_S : in_ranges(uni_s_ranges, uni_s_ranges_len, cp); }

int uni_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    for (size_t i = 0; i < uni_lower_multi_len; i++) {
        if (uni_lower_multi[i].from == cp) {
            memcpy(out, uni_lower_multi[i].to, sizeof(uint32_t) * uni_lower_multi[i].n);
            return (int)uni_lower_multi[i].n;
        }
    }
    size_t lo = 0, hi = uni_lower_runs_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uni_caserun *r = &uni_lower_runs[mid];
        if (cp < r->lo) {
            hi = mid;
        } else if (cp > r->hi) {
            lo = mid + 1;
        } else {
            out[0] = (cp - r->lo) % r->step == 0 ? (uint32_t)((int32_t)cp + r->delta) : cp;
            return 1;
        }
    }
    out[0] = cp;
    return 1;
}

static int case_ignorable(uint32_t cp)
{
    return in_ranges(uni_caseignorable_ranges, uni_caseignorable_ranges_len, cp);
}

static int cased(uint32_t cp) { return in_ranges(uni_cased_ranges, uni_cased_ranges_len, cp); }

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
