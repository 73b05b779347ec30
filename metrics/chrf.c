#include "chrf.h"

#include <stdlib.h>
#include <string.h>

#include "bleu.h" /* BLEU_SACREBLEU_VERSION */
#include "ngram.h"
#include "ys_reserve.h"
#include "ys_unicode.h"

/* How n-grams are counted.
 *
 * A text becomes a sequence of units: its code points (white space dropped
 * unless kept) for the character n-grams, and word ids for chrF++'s word
 * n-grams. The hypothesis's n-grams are stored as a trie: the n-gram
 * u[i..i+k) is the child of u[i..i+k-1) by the unit u[i+k-1]. Children are
 * found through one open-addressing table keyed by (parent node, unit)
 * packed into 64 bits, so a lookup is a multiply and an integer compare:
 * no text is hashed or compared. Each node keeps its counts.
 *
 * A reference walks the same trie from each position and stops at the
 * first n-gram the hypothesis does not have (no longer n-gram starting
 * there can be in it), counting min(hypothesis, reference) matches as it
 * goes. Everything lives in the chrf_ctx and is reused between samples;
 * clearing touches only the slots used. */

/* Node 0 means "none"; the two roots are the empty n-grams. */
enum { NO_NODE = 0, ROOT_CHARS = 1, ROOT_WORDS = 2, FIRST_NODE = 3 };

typedef struct {
    uint32_t slot;   /* where the node's key sits (to clear it) */
    uint32_t stamp;  /* which reference `ref` counts */
    int32_t hyp, ref;
} tnode;

typedef struct {
    uint64_t *keys;  /* per slot: parent << 32 | unit; 0 when empty */
    uint32_t *child; /* per slot: the node id */
    size_t cap;      /* a power of two */
    unsigned shift;  /* 64 - log2(cap) */
    tnode *nodes;
    size_t n, ncap;
} trie;

/* One side (the hypothesis or a reference) as unit sequences. */
typedef struct {
    uint32_t *chars; /* code points; a byte that is not UTF-8 is 0x80000000 | byte */
    size_t nchars, chars_cap;
    uint32_t *words; /* word ids (0: a word the hypothesis does not have) */
    size_t nwords, words_cap;
    char *low;       /* the lower-cased text; the hypothesis's words point into it */
    size_t low_cap;
} side;

struct chrf_ctx {
    trie t;
    uint32_t *at;    /* per position: its current trie node */
    size_t at_cap;
    ng_table vocab;  /* hypothesis word -> id (in ng_entry.hyp) */
    side hyp, ref;
};

void chrf_options_default(chrf_options *o)
{
    o->char_order = 6;
    o->word_order = 0;
    o->beta = 2;
    o->lowercase = false;
    o->whitespace = false;
    o->eps_smoothing = false;
}

size_t chrf_nstats(const chrf_options *o) { return 3 * (size_t)(o->char_order + o->word_order); }

chrf_ctx *chrf_ctx_new(void) { return calloc(1, sizeof(chrf_ctx)); }

static void free_side(side *s)
{
    free(s->chars);
    free(s->words);
    free(s->low);
}

void chrf_ctx_free(chrf_ctx *c)
{
    if (!c)
        return;
    free(c->t.keys);
    free(c->t.child);
    free(c->t.nodes);
    free(c->at);
    ng_free(&c->vocab);
    free_side(&c->hyp);
    free_side(&c->ref);
    free(c);
}

/* Empty the trie and make room for `nodes` nodes (roots included). */
static int trie_reset(trie *t, size_t nodes)
{
    for (size_t i = FIRST_NODE; i < t->n; i++)
        t->keys[t->nodes[i].slot] = 0;
    t->n = FIRST_NODE;
    if (ys_reserve((void **)&t->nodes, &t->ncap, nodes, sizeof *t->nodes) < 0)
        return -1;
    size_t cap = 16;
    unsigned bits = 4;
    while (cap < 4 * nodes) /* load factor at most 1/4: fewer collisions to mispredict */
        cap *= 2, bits++;
    if (cap > t->cap) {
        free(t->keys);
        free(t->child);
        t->keys = calloc(cap, sizeof *t->keys);
        t->child = malloc(cap * sizeof *t->child);
        if (!t->keys || !t->child) {
            free(t->keys);
            free(t->child);
            t->keys = NULL, t->child = NULL, t->cap = 0;
            return -1;
        }
        t->cap = cap;
        t->shift = 64 - bits;
    }
    return 0;
}

/* Fibonacci hashing: the top bits of key * 2^64/phi. */
static size_t trie_slot(const trie *t, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> t->shift);
}

/* The child of `parent` by `unit`, created when absent; trie_reset sized
 * the trie for every node the hypothesis can create. */
static uint32_t trie_add(trie *t, uint32_t parent, uint32_t unit)
{
    uint64_t key = (uint64_t)parent << 32 | unit;
    size_t mask = t->cap - 1, i = trie_slot(t, key);
    for (; t->keys[i]; i = (i + 1) & mask)
        if (t->keys[i] == key)
            return t->child[i];
    uint32_t id = (uint32_t)t->n++;
    t->keys[i] = key;
    t->child[i] = id;
    t->nodes[id] = (tnode){(uint32_t)i, 0, 0, 0};
    return id;
}

/* The child of `parent` by `unit`, or NO_NODE when the hypothesis has no
 * such n-gram. */
static uint32_t trie_find(const trie *t, uint32_t parent, uint32_t unit)
{
    uint64_t key = (uint64_t)parent << 32 | unit;
    size_t mask = t->cap - 1, i = trie_slot(t, key);
    for (; t->keys[i]; i = (i + 1) & mask)
        if (t->keys[i] == key)
            return t->child[i];
    return NO_NODE;
}

static int is_punct(uint32_t cp) { return cp < 128 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)cp) && cp; }

/* Code point at s as a unit, and its length in bytes. */
static size_t unit_at(const char *s, size_t n, uint32_t *u)
{
    unsigned char b = (unsigned char)*s;
    if (b < 0x80) {
        *u = b;
        return 1;
    }
    size_t k = uni_decode(s, n, u);
    if (!k) /* not UTF-8: one byte, kept apart from every code point */
        *u = 0x80000000u | b, k = 1;
    return k;
}

/* One chrF++ word: its id in the hypothesis vocabulary (created there when
 * `add`), or 0 when a reference word is not in it. */
static int add_word(chrf_ctx *c, side *sd, const char *s, size_t n, bool add)
{
    ng_entry *e = ng_get(&c->vocab, s, n, add);
    if (!e && add)
        return -1;
    if (e && !e->hyp)
        e->hyp = (int64_t)c->vocab.used; /* ids from 1 */
    sd->words[sd->nwords++] = e ? (uint32_t)e->hyp : 0;
    return 0;
}

/* sacrebleu's _remove_punctuation: a word longer than one character loses
 * one trailing punctuation mark into its own token, or failing that one
 * leading mark. */
static int on_word(chrf_ctx *c, side *sd, const char *s, size_t n, bool add)
{
    uint32_t first, last;
    size_t k = unit_at(s, n, &first), lastlen = k, count = 1;
    last = first;
    for (size_t i = k; i < n; count++) {
        lastlen = unit_at(s + i, n - i, &last);
        i += lastlen;
    }
    if (count > 1 && is_punct(last))
        return add_word(c, sd, s, n - lastlen, add) | add_word(c, sd, s + n - lastlen, lastlen, add);
    if (count > 1 && is_punct(first))
        return add_word(c, sd, s, k, add) | add_word(c, sd, s + k, n - k, add);
    return add_word(c, sd, s, n, add);
}

/* Fill sd from one text in one pass over its bytes (ASCII inline): the
 * lower-cased text's code points (white space dropped unless kept) and,
 * for chrF++, its words split on white space. The hypothesis (`add`)
 * creates word ids; a reference only looks them up. */
static int prepare(chrf_ctx *c, const chrf_options *o, const char *text, side *sd, bool add)
{
    size_t n = strlen(text);
    if (o->lowercase) {
        if ((n = uni_lower_utf8_into(text, n, &sd->low, &sd->low_cap)) == (size_t)-1)
            return -1;
        text = sd->low;
    }
    bool words = o->word_order > 0;
    if (ys_reserve((void **)&c->at, &c->at_cap, n + 1, sizeof *c->at) < 0 ||
        ys_reserve((void **)&sd->chars, &sd->chars_cap, n + 1, sizeof *sd->chars) < 0 ||
        (words && ys_reserve((void **)&sd->words, &sd->words_cap, n + 1, sizeof *sd->words) < 0))
        return -1;
    if (words && add && ng_reset(&c->vocab, n / 2 + 1) < 0)
        return -1;
    size_t k = 0, word_start = 0;
    bool in_word = false;
    int rc = 0;
    sd->nwords = 0;
    if (!words) {
        /* chrF without word n-grams (the default): only the code points
         * matter, and an ASCII byte is stored and then kept or dropped
         * without a branch to mispredict at every space. */
        for (size_t i = 0; i < n;) {
            unsigned char b = (unsigned char)text[i];
            if (b < 0x80) {
                sd->chars[k] = b;
                k += o->whitespace || !uni_ascii_space(b);
                i++;
                continue;
            }
            uint32_t u;
            i += unit_at(text + i, n - i, &u);
            if (o->whitespace || !(u < 0x80000000u && uni_is_space(u)))
                sd->chars[k++] = u;
        }
        sd->nchars = k;
        return 0;
    }
    for (size_t i = 0; i < n;) {
        uint32_t u;
        size_t m = unit_at(text + i, n - i, &u);
        bool space = u < 0x80 ? uni_ascii_space((unsigned char)u) : u < 0x80000000u && uni_is_space(u);
        if (space) {
            if (in_word && words)
                rc |= on_word(c, sd, text + word_start, i - word_start, add);
            in_word = false;
            if (o->whitespace)
                sd->chars[k++] = u;
        } else {
            if (!in_word)
                word_start = i, in_word = true;
            sd->chars[k++] = u;
        }
        i += m;
    }
    if (in_word && words)
        rc |= on_word(c, sd, text + word_start, n - word_start, add);
    sd->nchars = k;
    return rc;
}

/* Number of n-grams of order k in a sequence of n units. */
static int64_t ngrams(size_t n, size_t k) { return n >= k ? (int64_t)(n - k + 1) : 0; }

/* Insert every n-gram of the hypothesis, orders 1..max, into the trie.
 * The loop runs order by order over all positions, keeping each
 * position's current node in `at`: lookups at different positions do not
 * depend on each other, so the CPU overlaps them (position by position,
 * each lookup would wait for the one before). */
static void add_seq(trie *t, uint32_t *at, uint32_t root, const uint32_t *u, size_t n, size_t max)
{
    for (size_t i = 0; i < n; i++)
        at[i] = root;
    for (size_t k = 1; k <= max && k <= n; k++) {
        for (size_t i = 0; i + k <= n; i++) {
            uint32_t node = trie_add(t, at[i], u[i + k - 1]);
            t->nodes[node].hyp++;
            at[i] = node;
        }
    }
}

/* Walk a reference's n-grams through the trie, order by order as above,
 * counting matches of each order into match[0..max): min(hypothesis,
 * reference) per n-gram, incrementally.
 * A position whose n-gram is missing drops out (at[i] = NO_NODE): no longer
 * n-gram starting there can be in the hypothesis. */
static void match_seq(trie *t, uint32_t *at, uint32_t root, const uint32_t *u, size_t n, size_t max,
                      uint32_t stamp, int64_t *match)
{
    for (size_t i = 0; i < n; i++)
        at[i] = root;
    for (size_t k = 1; k <= max && k <= n; k++) {
        int64_t hits = 0; /* a local sum: match[] in memory would chain the iterations */
        for (size_t i = 0; i + k <= n; i++) {
            if (at[i] == NO_NODE)
                continue;
            uint32_t node = trie_find(t, at[i], u[i + k - 1]);
            at[i] = node;
            if (node == NO_NODE)
                continue;
            tnode *d = &t->nodes[node];
            if (d->stamp != stamp) { /* first sight in this reference */
                d->stamp = stamp;
                d->ref = 0;
            }
            hits += d->ref < d->hyp;
            d->ref++;
        }
        match[k - 1] += hits;
    }
}

int chrf_sample_stats(chrf_ctx *c, const chrf_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, int64_t *stats, ys_error *err)
{
    int order = o->char_order + o->word_order;
    size_t ns = chrf_nstats(o);
    memset(stats, 0, ns * sizeof *stats);
    if (order <= 0 || order > CHRF_MAX_ORDER)
        return ys_fail(err, YS_EUSAGE, "chrF orders must add up to 1..%d", CHRF_MAX_ORDER);
    size_t K = (size_t)o->char_order, W = (size_t)o->word_order;
    side *h = &c->hyp;
    if (prepare(c, o, hyp, h, true) < 0 || trie_reset(&c->t, FIRST_NODE + h->nchars * K + h->nwords * W) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in chrF");
    add_seq(&c->t, c->at, ROOT_CHARS, h->chars, h->nchars, K);
    add_seq(&c->t, c->at, ROOT_WORDS, h->words, h->nwords, W);
    int64_t hyp_tot[CHRF_MAX_ORDER];
    for (size_t k = 1; k <= K; k++)
        hyp_tot[k - 1] = ngrams(h->nchars, k);
    for (size_t k = 1; k <= W; k++)
        hyp_tot[K + k - 1] = ngrams(h->nwords, k);
    double best = -1.0;
    int64_t cur[3 * CHRF_MAX_ORDER];
    for (size_t r = 0; r < nrefs; r++) {
        side *rs = &c->ref;
        if (prepare(c, o, refs[r], rs, false) < 0)
            return ys_fail(err, YS_ENOMEM, "out of memory in chrF");
        int64_t ref_tot[CHRF_MAX_ORDER], match[CHRF_MAX_ORDER] = {0};
        uint32_t stamp = (uint32_t)(r + 1);
        match_seq(&c->t, c->at, ROOT_CHARS, rs->chars, rs->nchars, K, stamp, match);
        match_seq(&c->t, c->at, ROOT_WORDS, rs->words, rs->nwords, W, stamp, match + K);
        for (size_t k = 1; k <= K; k++)
            ref_tot[k - 1] = ngrams(rs->nchars, k);
        for (size_t k = 1; k <= W; k++)
            ref_tot[K + k - 1] = ngrams(rs->nwords, k);
        for (int i = 0; i < order; i++) {
            /* sacrebleu counts hypothesis n-grams only against a reference
             * that has n-grams of that order. */
            cur[3 * i] = ref_tot[i] ? hyp_tot[i] : 0;
            cur[3 * i + 1] = ref_tot[i];
            cur[3 * i + 2] = match[i];
        }
        double f = chrf_score_from(cur, o);
        if (f > best) {
            best = f;
            memcpy(stats, cur, ns * sizeof *stats);
        }
    }
    return 0;
}

double chrf_score_from(const int64_t *st, const chrf_options *o)
{
    const double eps = 1e-16;
    int order = o->char_order + o->word_order;
    double factor = (double)(o->beta * o->beta);
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int eff = 0;
    for (int i = 0; i < order; i++) {
        double n_hyp = (double)st[3 * i], n_ref = (double)st[3 * i + 1], n_match = (double)st[3 * i + 2];
        double prec = n_hyp > 0 ? n_match / n_hyp : eps;
        double rec = n_ref > 0 ? n_match / n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (n_hyp > 0 && n_ref > 0) {
            avg_prec += prec;
            avg_rec += rec;
            eff++;
        }
    }
    if (o->eps_smoothing)
        return 100 * score / order;
    if (eff == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= eff;
        avg_rec /= eff;
    }
    if (avg_prec + avg_rec != 0) {
        double s = (1 + factor) * avg_prec * avg_rec;
        s /= factor * avg_prec + avg_rec;
        return 100 * s;
    }
    return 0.0;
}

void chrf_name(const chrf_options *o, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "chrF%d", o->beta);
    for (int i = 0; i < o->word_order && n > 0 && (size_t)n + 1 < cap; i++)
        buf[n++] = '+', buf[n] = 0;
}

void chrf_signature(const chrf_options *o, int nrefs, char *buf, size_t cap)
{
    char refs[16];
    if (nrefs < 0)
        snprintf(refs, sizeof refs, "var");
    else
        snprintf(refs, sizeof refs, "%d", nrefs);
    snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|nc:%d|nw:%d|space:%s|version:%s", refs,
             o->lowercase ? "lc" : "mixed", o->eps_smoothing ? "no" : "yes", o->char_order,
             o->word_order, o->whitespace ? "yes" : "no", BLEU_SACREBLEU_VERSION);
}
