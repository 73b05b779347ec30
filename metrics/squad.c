#include "squad.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtok.h"
#include "ngram.h"
#include "ys_unicode.h"

/* Answers are short, so everything here works in buffers on the stack and
 * moves to the heap only for long texts: no allocation per answer in the
 * common case. */
enum { STACK_BYTES = 1024, STACK_SLOTS = 256 };

typedef struct {
    char *p;
    size_t cap;
    bool heap;
} sbuf;

/* Make b hold n bytes; its contents are not kept. -1 on OOM. */
static int sbuf_reserve(sbuf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    char *np = malloc(n);
    if (!np)
        return -1;
    if (b->heap)
        free(b->p);
    b->p = np;
    b->cap = n;
    b->heap = true;
    return 0;
}

static void sbuf_free(sbuf *b)
{
    if (b->heap)
        free(b->p);
}

/* string.punctuation as a bit set over ASCII. */
static int ascii_punct(unsigned char c)
{
    static const uint64_t bits[2] = {0xfc00fffe00000000ULL, 0x78000001f8000001ULL};
    return c < 128 && ((bits[c >> 6] >> (c & 63)) & 1);
}

/* Is the code point that starts at s[i] a \w? (0 at the end.) */
static int word_at(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80)
        return uni_ascii_word(c);
    uint32_t cp;
    size_t k = uni_decode(s + i, n - i, &cp);
    return k && uni_is_word(cp);
}

/* Is the code point that ends just before s[i] a \w? */
static int word_before(const char *s, size_t i)
{
    if (i == 0)
        return 0;
    size_t j = i - 1;
    if ((unsigned char)s[j] < 0x80)
        return uni_ascii_word((unsigned char)s[j]);
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    return word_at(s, i, j);
}

/* The length of the article (a, an, the) at s[i] when it is a whole word
 * there, else 0. re.sub(r'\b(a|an|the)\b') tries a, an, the in that order,
 * but only one of them can end at a boundary. */
static size_t article_at(const char *s, size_t n, size_t i)
{
    char c = s[i];
    if ((c != 'a' && c != 't') || word_before(s, i))
        return 0;
    static const char *const arts[] = {"a", "an", "the"};
    for (int a = 0; a < 3; a++) {
        size_t al = a == 2 ? 3 : (size_t)a + 1;
        if (i + al <= n && memcmp(s + i, arts[a], al) == 0 && !word_at(s, n, i + al))
            return al;
    }
    return 0;
}

/* SQuAD's normalize_answer into out (NUL-terminated); returns the length,
 * or (size_t)-1 on OOM. Python lower-casing and string.punctuation removal
 * come first (one pass for ASCII text); then articles become white space
 * and white space runs collapse to single spaces, in one pass. */
static size_t normalize(const char *text, sbuf *out, sbuf *tmp)
{
    size_t n = strlen(text), m = 0;
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = (unsigned char)text[i] < 0x80;
    char *low;
    if (ascii) {
        if (sbuf_reserve(tmp, n + 1) < 0)
            return (size_t)-1;
        low = tmp->p;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)text[i];
            if (!ascii_punct(c))
                low[m++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    } else {
        size_t ln;
        char *l = uni_lower_utf8(text, n, &ln);
        if (!l || sbuf_reserve(tmp, ln + 1) < 0) {
            free(l);
            return (size_t)-1;
        }
        low = tmp->p;
        for (size_t i = 0; i < ln; i++)
            if (!ascii_punct((unsigned char)l[i]))
                low[m++] = l[i];
        free(l);
    }
    low[m] = 0;
    if (sbuf_reserve(out, m + 1) < 0)
        return (size_t)-1;
    char *o = out->p;
    size_t len = 0;
    bool space = false; /* white space (or an article) since the last token byte */
    for (size_t i = 0; i < m;) {
        unsigned char c = (unsigned char)low[i];
        size_t k;
        if (c < 0x80) {
            if (uni_ascii_space(c)) {
                space = true, i++;
                continue;
            }
        } else if ((k = mtok_space_at(low + i, m - i)) != 0) {
            space = true, i += k;
            continue;
        }
        if ((k = article_at(low, m, i)) != 0) {
            space = true, i += k;
            continue;
        }
        if (space && len)
            o[len++] = ' ';
        space = false;
        c = (unsigned char)low[i];
        o[len++] = low[i++];
        /* After an ASCII word character, copy the rest of the run of them
         * at once: no article can start inside a word. */
        if (c < 0x80 && uni_ascii_word(c))
            while (i < m && (unsigned char)low[i] < 0x80 && uni_ascii_word((unsigned char)low[i]))
                o[len++] = low[i++];
    }
    o[len] = 0;
    return len;
}

char *squad_normalize(const char *s)
{
    char a[STACK_BYTES], b[STACK_BYTES];
    sbuf out = {a, sizeof a, false}, tmp = {b, sizeof b, false};
    size_t len = normalize(s, &out, &tmp);
    char *r = len == (size_t)-1 ? NULL : malloc(len + 1);
    if (r)
        memcpy(r, out.p, len + 1);
    sbuf_free(&out);
    sbuf_free(&tmp);
    return r;
}

/* The prediction's tokens with their counts, in an open-addressing table
 * (on the stack for short answers); `used` counts matches with one gold. */
typedef struct {
    const char *tok;
    uint32_t len, hash;
    int32_t count, used;
} slot;

typedef struct {
    slot *s;
    size_t mask, ntok;
    uint32_t *order; /* occupied slots, to reset `used` */
    size_t nused;
} tokset;

static slot *find(tokset *t, const char *tok, size_t len, uint32_t h)
{
    size_t i = h & t->mask;
    for (; t->s[i].tok; i = (i + 1) & t->mask)
        if (t->s[i].hash == h && t->s[i].len == len && memcmp(t->s[i].tok, tok, len) == 0)
            break;
    return &t->s[i];
}

static uint32_t hash32(const char *s, size_t n) { return (uint32_t)(ng_hash(s, n) >> 32); }

/* Overlap of a gold answer's tokens with the prediction's: the multiset
 * intersection size, counted incrementally. */
static size_t overlap(tokset *t, const char *gold, size_t n, size_t *ngold)
{
    size_t same = 0, count = 0;
    for (size_t i = 0; i < n;) {
        const char *sp = memchr(gold + i, ' ', n - i);
        size_t e = sp ? (size_t)(sp - gold) : n;
        slot *s = find(t, gold + i, e - i, hash32(gold + i, e - i));
        if (s->tok && s->used < s->count) {
            s->used++;
            same++;
        }
        count++;
        i = e + 1;
    }
    for (size_t k = 0; k < t->nused; k++)
        t->s[t->order[k]].used = 0;
    *ngold = count;
    return same;
}

int squad_sample(const char *prediction, const char *const *golds, size_t ngolds, double *em,
                 double *f1, ys_error *err)
{
    *em = 0.0;
    *f1 = 0.0;
    char pa[STACK_BYTES], qa[STACK_BYTES], ta[STACK_BYTES];
    sbuf pb = {pa, sizeof pa, false}, qb = {qa, sizeof qa, false}, tb = {ta, sizeof ta, false};
    slot stack_slots[STACK_SLOTS];
    uint32_t stack_order[STACK_SLOTS / 2];
    tokset t = {stack_slots, STACK_SLOTS - 1, 0, stack_order, 0};
    int rc = 0;
    size_t plen = normalize(prediction, &pb, &tb);
    if (plen == (size_t)-1) {
        rc = -1;
        goto done;
    }
    /* Count the prediction's tokens once (the normalized text is single-
     * space separated), with room for twice as many slots as tokens. */
    size_t ntok = 0;
    for (size_t i = 0; i < plen; i++)
        ntok += pb.p[i] == ' ';
    ntok += plen > 0;
    if (ntok > STACK_SLOTS / 2) {
        size_t cap = 1;
        while (cap < 2 * ntok)
            cap *= 2;
        t.s = malloc(cap * sizeof *t.s);
        t.order = malloc(ntok * sizeof *t.order);
        t.mask = cap - 1;
        if (!t.s || !t.order) {
            rc = -1;
            goto done;
        }
    }
    memset(t.s, 0, (t.mask + 1) * sizeof *t.s);
    for (size_t i = 0; i < plen;) {
        const char *sp = memchr(pb.p + i, ' ', plen - i);
        size_t e = sp ? (size_t)(sp - pb.p) : plen;
        uint32_t h = hash32(pb.p + i, e - i);
        slot *s = find(&t, pb.p + i, e - i, h);
        if (!s->tok) {
            *s = (slot){pb.p + i, (uint32_t)(e - i), h, 0, 0};
            t.order[t.nused++] = (uint32_t)(s - t.s);
        }
        s->count++;
        t.ntok++;
        i = e + 1;
    }
    for (size_t g = 0; g < ngolds; g++) {
        size_t qlen = normalize(golds[g], &qb, &tb);
        if (qlen == (size_t)-1) {
            rc = -1;
            goto done;
        }
        if (qlen == plen && memcmp(pb.p, qb.p, plen) == 0)
            *em = 1.0;
        size_t ngold, same = overlap(&t, qb.p, qlen, &ngold);
        if (same == 0)
            continue;
        double precision = 1.0 * (double)same / (double)t.ntok;
        double recall = 1.0 * (double)same / (double)ngold;
        double f = (2 * precision * recall) / (precision + recall);
        if (f > *f1)
            *f1 = f;
    }
done:
    if (t.s != stack_slots) {
        free(t.s);
        free(t.order);
    }
    sbuf_free(&pb);
    sbuf_free(&qb);
    sbuf_free(&tb);
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory in SQuAD metric") : 0;
}
