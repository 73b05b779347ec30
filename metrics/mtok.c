#include "mtok.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ys_reserve.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "ys_unicode.h"

size_t mtok_space_at(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80)
        return uni_ascii_space(c) ? 1 : 0;
    uint32_t cp;
    size_t k = uni_decode(s, n, &cp);
    return (k && uni_is_space(cp)) ? k : 0;
}

/* Length of the code point at s that is not white space (1 for a byte that
 * is not UTF-8). */
static size_t cp_len(const char *s, size_t n)
{
    if ((unsigned char)s[0] < 0x80)
        return 1;
    uint32_t cp;
    size_t k = uni_decode(s, n, &cp);
    return k ? k : 1;
}

size_t mtok_rstrip_len(const char *s, size_t n)
{
    /* Fast path: strip trailing ASCII white space from the end. */
    while (n > 0 && (unsigned char)s[n - 1] < 0x80 && uni_ascii_space((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || (unsigned char)s[n - 1] < 0x80)
        return n;
    /* The text ends in a multi-byte code point, which may be white space:
     * walk forward remembering where the last non-space code point ended
     * (UTF-8 cannot be decoded backwards without care, and this is rare). */
    size_t end = 0, i = 0;
    while (i < n) {
        size_t sp = mtok_space_at(s + i, n - i);
        if (sp) {
            i += sp;
            continue;
        }
        i += cp_len(s + i, n - i);
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
        while (i < n && !mtok_space_at(s + i, n - i))
            i += cp_len(s + i, n - i);
        if (fn)
            fn(s + start, i - start, ctx);
        count++;
    }
    return count;
}

/* ' '.join(s.split()) into o (room for n + 1 bytes); returns the length.
 * ASCII bytes are classified by table; only other bytes are decoded. */
static size_t join_split(char *o, const char *s, size_t n)
{
    size_t len = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t sp = c < 0x80 ? (size_t)uni_ascii_space(c) : mtok_space_at(s + i, n - i);
        if (sp) {
            i += sp;
            continue;
        }
        if (len)
            o[len++] = ' ';
        /* copy one token */
        while (i < n) {
            c = (unsigned char)s[i];
            if (c < 0x80) {
                if (uni_ascii_space(c))
                    break;
                o[len++] = (char)c;
                i++;
            } else {
                if (mtok_space_at(s + i, n - i))
                    break;
                size_t k = cp_len(s + i, n - i);
                memcpy(o + len, s + i, k);
                len += k;
                i += k;
            }
        }
    }
    o[len] = 0;
    return len;
}

/* Python str.replace(old, new) from s into o (room for n bytes when new is
 * not longer than old, which holds for every use here); returns the length. */
static size_t replace_all(char *o, const char *s, size_t n, const char *old, const char *new)
{
    size_t ol = strlen(old), nl = strlen(new), i = 0, len = 0;
    while (i < n) {
        if (s[i] == old[0] && i + ol <= n && memcmp(s + i, old, ol) == 0) {
            memcpy(o + len, new, nl);
            len += nl;
            i += ol;
        } else {
            o[len++] = s[i++];
        }
    }
    return len;
}

/* sacrebleu's 13a class [\{-\~\[-\` -\&\(-\+\:-\@\/] as a bit set over
 * ASCII: bit c of the two words is set for each code c in the class. */
static int is_13a_punct(unsigned char c)
{
    static const uint64_t bits[2] = {0xfc008f7f00000000ULL, 0x78000001f8000001ULL};
    return c < 128 && ((bits[c >> 6] >> (c & 63)) & 1);
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_dotcomma(unsigned char c) { return c == '.' || c == ','; }

/* Next position >= i holding '.' or ',' (n when none). */
static size_t next_dotcomma(const char *s, size_t n, size_t i)
{
#if defined(__SSE2__)
    /* sixteen bytes at a time: the marks are a few per sentence */
    const __m128i dot = _mm_set1_epi8('.'), comma = _mm_set1_epi8(',');
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, dot), _mm_cmpeq_epi8(x, comma)));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (i < n && !is_dotcomma((unsigned char)s[i]))
        i++;
    return i;
}

/* Passes 2-4 of 13a below: each is one re.sub, a left-to-right scan for
 * non-overlapping matches. Matches need a '.', ',' or '-', which are rare,
 * so each pass jumps from one candidate to the next and copies the text
 * between in bulk. Each writes s[0..n) edited into o and returns the new
 * length (o has room for 2n bytes). */

/* ([^0-9])([\.,]) -> '\1 \2 ' */
static size_t pass_nondigit_dot(const char *s, size_t n, char *o)
{
    size_t len = 0, done = 0; /* s[0..done) is consumed */
    for (size_t j = next_dotcomma(s, n, 1); j < n; j = next_dotcomma(s, n, j + 1)) {
        if (j - 1 < done || is_digit((unsigned char)s[j - 1]))
            continue;
        memcpy(o + len, s + done, j - done); /* up to and including \1 */
        len += j - done;
        o[len++] = ' ';
        o[len++] = s[j];
        o[len++] = ' ';
        done = j + 1;
    }
    memcpy(o + len, s + done, n - done);
    return len + n - done;
}

/* ([\.,])([^0-9]) -> ' \1 \2' */
static size_t pass_dot_nondigit(const char *s, size_t n, char *o)
{
    size_t len = 0, done = 0;
    for (size_t j = next_dotcomma(s, n, 0); j + 1 < n; j = next_dotcomma(s, n, j)) {
        if (is_digit((unsigned char)s[j + 1])) {
            j++;
            continue;
        }
        memcpy(o + len, s + done, j - done);
        len += j - done;
        o[len++] = ' ';
        o[len++] = s[j];
        o[len++] = ' ';
        o[len++] = s[j + 1];
        done = j += 2;
    }
    memcpy(o + len, s + done, n - done);
    return len + n - done;
}

/* ([0-9])(-) -> '\1 \2 ' */
static size_t pass_digit_dash(const char *s, size_t n, char *o)
{
    size_t len = 0, done = 0;
    const char *p;
    for (size_t j = 1; j < n && (p = memchr(s + j, '-', n - j)) != NULL; j++) {
        j = (size_t)(p - s);
        if (j - 1 < done || !is_digit((unsigned char)s[j - 1]))
            continue;
        memcpy(o + len, s + done, j - done);
        len += j - done;
        o[len++] = ' ';
        o[len++] = '-';
        o[len++] = ' ';
        done = j + 1;
    }
    memcpy(o + len, s + done, n - done);
    return len + n - done;
}

#if defined(__SSE2__)
/* Whether none of the 16 bytes at p is one pass 1 must space out or that
 * passes 2-4 look at: 13a's punctuation apart from the space, and '.', ','
 * and '-'. Together they are the four ranges below; letters, digits, the
 * space, control bytes and UTF-8 bytes (negative as int8) fall outside. */
static int chunk_plain(const char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)p);
#define IN(lo, hi) _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8((char)((lo) - 1))), \
                                 _mm_cmplt_epi8(x, _mm_set1_epi8((char)((hi) + 1))))
    __m128i m = _mm_or_si128(_mm_or_si128(IN(0x21, 0x2F), IN(0x3A, 0x40)), _mm_or_si128(IN(0x5B, 0x60), IN(0x7B, 0x7E)));
#undef IN
    return _mm_movemask_epi8(m) == 0;
}
#endif

/* The regex substitutions of sacrebleu's TokenizerRegexp. They only look
 * at ASCII bytes, and a multi-byte code point never contains one, so a byte
 * scan gives the same result as Python's code point scan. The text moves
 * between the scratch buffers a and b. This stops before the final
 * ' '.join(split()): the result is in *res (sc->a or sc->b), *out_len bytes. */
static int tok_13a_unjoined(mtok_scratch *sc, const char *line, size_t n, const char **res, size_t *out_len)
{
    /* f' {line} ' with punctuation spaced is at most 3n + 6 bytes; passes
     * 2-4 add two spaces per '.', ',' (each of two passes) or '-', so the
     * text never exceeds 7n + 6 bytes. */
    size_t big = 7 * n + 16;
    if (ys_reserve((void **)&sc->a, &sc->a_cap, big, 1) < 0 || ys_reserve((void **)&sc->b, &sc->b_cap, big, 1) < 0)
        return -1;
    char *a = sc->a, *b = sc->b, *t;
    const char *cur = line;
    size_t len = n;
    /* The plain replacements, each only when its trigger byte occurs. */
    if (memchr(cur, '<', len)) {
        len = replace_all(a, cur, len, "<skipped>", "");
        cur = a, t = a, a = b, b = t;
    }
    if (memchr(cur, '\n', len)) {
        len = replace_all(a, cur, len, "-\n", "");
        cur = a, t = a, a = b, b = t;
        len = replace_all(a, cur, len, "\n", " ");
        cur = a, t = a, a = b, b = t;
    }
    if (memchr(cur, '&', len)) {
        static const char *const ent[4][2] = {{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
        for (int e = 0; e < 4; e++) {
            len = replace_all(a, cur, len, ent[e][0], ent[e][1]);
            cur = a, t = a, a = b, b = t;
        }
    }
    /* Pass 1: ' ' + line + ' ', then punctuation gets spaces around it. The
     * surrounding spaces are themselves in the class: 3 on each side. */
    size_t m = 0;
    /* Passes 2-4 run only when their trigger bytes occur: noted in the same
     * loop (branch-free flags) rather than by more scans. */
    unsigned dotcomma = 0, dash = 0;
    a[m++] = ' ', a[m++] = ' ', a[m++] = ' ';
    for (size_t i = 0; i < len;) {
        size_t stop = len - i < 16 ? len : i + 16;
#if defined(__SSE2__)
        /* Most 16-byte runs hold only letters and spaces: copied whole.
         * Their spaces are not tripled as the byte loop does: that only
         * changes the length of runs of spaces, which the later passes
         * cannot tell (a match takes at most the one space next to its
         * '.' or ',') and the final split removes. */
        if (stop == i + 16 && chunk_plain(cur + i)) {
            memcpy(a + m, cur + i, 16);
            m += 16, i += 16;
            continue;
        }
#endif
        for (; i < stop; i++) {
            unsigned char c = (unsigned char)cur[i];
            dotcomma |= (c == '.') | (c == ',');
            dash |= c == '-';
            if (is_13a_punct(c)) {
                a[m++] = ' ';
                a[m++] = (char)c;
                a[m++] = ' ';
            } else {
                a[m++] = (char)c;
            }
        }
    }
    a[m++] = ' ', a[m++] = ' ', a[m++] = ' ';
    if (dotcomma) {
        m = pass_nondigit_dot(a, m, b);
        m = pass_dot_nondigit(b, m, a);
    }
    if (dash) {
        m = pass_digit_dash(a, m, b);
        t = a, a = b, b = t;
    }
    /* a may be sc->a or sc->b; the caller reads it before the next call. */
    *res = a;
    *out_len = m;
    return 0;
}

static int tok_13a(mtok_scratch *sc, const char *line, size_t n, size_t *out_len)
{
    const char *a;
    size_t m;
    if (tok_13a_unjoined(sc, line, n, &a, &m) < 0 || ys_reserve((void **)&sc->out, &sc->out_cap, m + 1, 1) < 0)
        return -1;
    *out_len = join_split(sc->out, a, m);
    return 0;
}

/* mteval-v14 international: three regex passes over code points. */
static int tok_intl(mtok_scratch *sc, const char *s, size_t n, size_t *out_len)
{
    /* every code point can become up to 4 (pass 2 and 3 each add spaces) */
    if (ys_reserve((void **)&sc->ca, &sc->ca_cap, 4 * n + 4, sizeof *sc->ca) < 0 ||
        ys_reserve((void **)&sc->cb, &sc->cb_cap, 4 * n + 4, sizeof *sc->cb) < 0)
        return -1;
    uint32_t *a = sc->ca, *b = sc->cb;
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = uni_decode(s + i, n - i, &cp);
        if (!k) {
            cp = (unsigned char)s[i];
            k = 1;
        }
        a[na++] = cp;
        i += k;
    }
    /* (\P{N})(\p{P}) -> '\1 \2 ' */
    for (size_t i = 0; i < na;) {
        if (i + 1 < na && !uni_is_n(a[i]) && uni_is_p(a[i + 1])) {
            b[nb++] = a[i], b[nb++] = ' ', b[nb++] = a[i + 1], b[nb++] = ' ';
            i += 2;
        } else {
            b[nb++] = a[i++];
        }
    }
    /* (\p{P})(\P{N}) -> ' \1 \2' */
    na = 0;
    for (size_t i = 0; i < nb;) {
        if (i + 1 < nb && uni_is_p(b[i]) && !uni_is_n(b[i + 1])) {
            a[na++] = ' ', a[na++] = b[i], a[na++] = ' ', a[na++] = b[i + 1];
            i += 2;
        } else {
            a[na++] = b[i++];
        }
    }
    /* (\p{S}) -> ' \1 ' */
    if (ys_reserve((void **)&sc->a, &sc->a_cap, 6 * na + 1, 1) < 0 ||
        ys_reserve((void **)&sc->out, &sc->out_cap, 6 * na + 1, 1) < 0)
        return -1;
    size_t len = 0;
    for (size_t i = 0; i < na; i++) {
        int sym = uni_is_s(a[i]);
        if (sym)
            sc->a[len++] = ' ';
        len += uni_encode(a[i], sc->a + len);
        if (sym)
            sc->a[len++] = ' ';
    }
    *out_len = join_split(sc->out, sc->a, len);
    return 0;
}

/* " ".join(line), then BLEU's split(): every code point that is not white
 * space becomes a token. */
static int tok_char(mtok_scratch *sc, const char *s, size_t n, size_t *out_len)
{
    if (ys_reserve((void **)&sc->out, &sc->out_cap, 2 * n + 1, 1) < 0)
        return -1;
    char *o = sc->out;
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t sp = mtok_space_at(s + i, n - i);
        if (sp) {
            i += sp;
            continue;
        }
        size_t k = cp_len(s + i, n - i);
        if (len)
            o[len++] = ' ';
        memcpy(o + len, s + i, k);
        len += k;
        i += k;
    }
    o[len] = 0;
    *out_len = len;
    return 0;
}

size_t mtok_apply_scratch(mtok_kind kind, const char *s, size_t n, mtok_scratch *sc)
{
    size_t len = 0;
    int rc = 0;
    switch (kind) {
    case MTOK_13A: rc = tok_13a(sc, s, n, &len); break;
    case MTOK_INTL: rc = tok_intl(sc, s, n, &len); break;
    case MTOK_CHAR: rc = tok_char(sc, s, n, &len); break;
    case MTOK_NONE:
        if ((rc = ys_reserve((void **)&sc->out, &sc->out_cap, n + 1, 1)) == 0)
            len = join_split(sc->out, s, n);
        break;
    }
    return rc < 0 ? (size_t)-1 : len;
}

const char *mtok_apply_unjoined(mtok_kind kind, const char *s, size_t n, mtok_scratch *sc, size_t *len)
{
    const char *res = NULL;
    switch (kind) {
    case MTOK_13A:
        if (tok_13a_unjoined(sc, s, n, &res, len) < 0)
            return NULL;
        return res;
    case MTOK_NONE: /* split(' '.join(s.split())) is s.split() */
        *len = n;
        return s;
    default: /* the joined text is also a valid unjoined one */
        if ((*len = mtok_apply_scratch(kind, s, n, sc)) == (size_t)-1)
            return NULL;
        return sc->out;
    }
}

void mtok_scratch_free(mtok_scratch *sc)
{
    free(sc->out);
    free(sc->a);
    free(sc->b);
    free(sc->ca);
    free(sc->cb);
    memset(sc, 0, sizeof *sc);
}

char *mtok_apply(mtok_kind kind, const char *s, size_t n, size_t *out_len)
{
    mtok_scratch sc = {0};
    size_t len = mtok_apply_scratch(kind, s, n, &sc);
    char *out = sc.out;
    sc.out = NULL;
    mtok_scratch_free(&sc);
    if (len == (size_t)-1) {
        free(out);
        return NULL;
    }
    if (out_len)
        *out_len = len;
    return out;
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
