/* meteor.c — NLTK 3.8's METEOR, see meteor.h.
 *
 * NLTK aligns in three stages (exact, stem, synonym). Each stage walks the
 * still-unmatched hypothesis words from last to first and pairs each with
 * the last still-unmatched reference word that qualifies; the stem and
 * synonym stages see stemmed words. Matched words are simply marked dead
 * here, which visits the same pairs in the same order as NLTK's list pops.
 * Lower-cased forms and stems are computed once per sample and shared by all
 * references; synonym lists live in a meteor_cache (the caller's, kept
 * across samples, or a throwaway one for a single sample).
 */
#include "meteor.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "porter.h"
#include "ys_unicode.h"

void meteor_options_default(meteor_options *opt)
{
    opt->alpha = 0.9;
    opt->beta = 3.0;
    opt->gamma = 0.5;
}

/* ---- a bump allocator for one sample's strings ------------------------ */

typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block;

typedef struct {
    block *head;
} arena;

static char *arena_alloc(arena *a, size_t n)
{
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    char *p = a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void arena_free(arena *a)
{
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

/* ---- words ------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t n;
} str;

typedef struct {
    str low;            /* str.lower() of the token */
    str stem;           /* porter_stem(low) */
    bool syn_done;      /* syn_first/syn_n are set (hypothesis words only) */
    size_t syn_first, syn_n; /* the stem's synonyms in the cache's names */
} word;

static bool str_eq(str a, str b)
{
    return a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
}

/* Lower-case (Python's str.lower) and stem one token into the arena. */
static int word_init(word *w, const char *tok, size_t n, arena *a)
{
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = (unsigned char)tok[i] < 0x80;
    char *low;
    if (ascii) {
        low = arena_alloc(a, n + 1);
        if (!low)
            return YS_ENOMEM;
        for (size_t i = 0; i < n; i++)
            low[i] = (char)(tok[i] >= 'A' && tok[i] <= 'Z' ? tok[i] + ('a' - 'A') : tok[i]);
        low[n] = '\0';
    } else {
        size_t ln;
        char *tmp = uni_lower_utf8(tok, n, &ln);
        if (!tmp)
            return YS_ENOMEM;
        low = arena_alloc(a, ln + 1);
        if (low) {
            memcpy(low, tmp, ln);
            low[ln] = '\0';
        }
        free(tmp);
        if (!low)
            return YS_ENOMEM;
        n = ln;
    }
    char *stem = arena_alloc(a, n + 1);
    if (!stem)
        return YS_ENOMEM;
    w->low = (str){low, n};
    w->stem = (str){stem, porter_stem(low, n, stem)};
    w->syn_done = false;
    w->syn_first = w->syn_n = 0;
    return 0;
}

typedef struct {
    word *w;
    size_t n;
} sentence;

static int sentence_init(sentence *s, const str *toks, size_t n, arena *a)
{
    s->n = n;
    s->w = calloc(n ? n : 1, sizeof *s->w);
    if (!s->w)
        return YS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = word_init(&s->w[i], toks[i].s, toks[i].n, a);
        if (rc)
            return rc;
    }
    return 0;
}

static void sentence_free(sentence *s)
{
    free(s->w);
    s->w = NULL;
}

/* ---- the synonym cache ------------------------------------------------ */

/* Beyond this many words the cache starts over (checked between samples). */
#define CACHE_MAX_WORDS (1u << 18)

typedef struct {
    uint64_t hash;
    size_t key_off, key_len; /* in keys */
    size_t first, n;         /* in names */
} cache_entry;

struct meteor_cache {
    const wordnet *wn;
    size_t *slots; /* open addressing: entry index + 1, 0 when empty */
    size_t nslots;
    cache_entry *entries;
    size_t count, ecap;
    char *keys;
    size_t klen, kcap;
    wordnet_name *names; /* lemma names without '_' */
    size_t nlen, ncap;
    wordnet_names scratch;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return YS_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

meteor_cache *meteor_cache_new(const wordnet *wn)
{
    meteor_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->wn = wn;
    c->nslots = 256;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void meteor_cache_free(meteor_cache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c->entries);
    free(c->keys);
    free(c->names);
    wordnet_names_free(&c->scratch);
    free(c);
}

static void cache_clear(meteor_cache *c)
{
    memset(c->slots, 0, c->nslots * sizeof *c->slots);
    c->count = c->klen = c->nlen = 0;
}

static uint64_t fnv1a(str w)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < w.n; i++)
        h = (h ^ (unsigned char)w.s[i]) * 1099511628211u;
    return h;
}

static int cache_rehash(meteor_cache *c)
{
    size_t n = c->nslots * 2;
    size_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return YS_ENOMEM;
    for (size_t e = 0; e < c->count; e++) {
        size_t i = (size_t)c->entries[e].hash & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = e + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    return 0;
}

/* Look the word's synonyms up in WordNet and remember them. */
static int cache_insert(meteor_cache *c, str w, uint64_t h, size_t slot, ys_error *err)
{
    int rc = wordnet_lemma_names(c->wn, w.s, w.n, &c->scratch, err);
    if (rc)
        return rc;
    size_t keep = 0;
    for (size_t i = 0; i < c->scratch.count; i++)
        keep += !memchr(c->scratch.items[i].str, '_', c->scratch.items[i].len);
    if (grow((void **)&c->names, &c->ncap, c->nlen + keep, sizeof *c->names) ||
        grow((void **)&c->keys, &c->kcap, c->klen + w.n + 1, 1) ||
        grow((void **)&c->entries, &c->ecap, c->count + 1, sizeof *c->entries))
        return YS_ENOMEM;
    cache_entry *e = &c->entries[c->count];
    *e = (cache_entry){h, c->klen, w.n, c->nlen, keep};
    for (size_t i = 0; i < c->scratch.count; i++)
        if (!memchr(c->scratch.items[i].str, '_', c->scratch.items[i].len))
            c->names[c->nlen++] = c->scratch.items[i];
    memcpy(c->keys + c->klen, w.s, w.n);
    c->klen += w.n + 1;
    c->slots[slot] = ++c->count;
    if (c->count * 2 > c->nslots)
        return cache_rehash(c);
    return 0;
}

/* Where the synonyms of w are in c->names, looking them up when new. */
static int cache_get(meteor_cache *c, str w, size_t *first, size_t *n, ys_error *err)
{
    uint64_t h = fnv1a(w);
    size_t i = (size_t)h & (c->nslots - 1);
    for (; c->slots[i]; i = (i + 1) & (c->nslots - 1)) {
        const cache_entry *e = &c->entries[c->slots[i] - 1];
        if (e->hash == h && e->key_len == w.n && memcmp(c->keys + e->key_off, w.s, w.n) == 0) {
            *first = e->first;
            *n = e->n;
            return 0;
        }
    }
    size_t at = c->count;
    int rc = cache_insert(c, w, h, i, err);
    if (rc == 0) {
        *first = c->entries[at].first;
        *n = c->entries[at].n;
    }
    return rc;
}

/* ---- alignment -------------------------------------------------------- */

typedef enum { STAGE_EXACT, STAGE_STEM, STAGE_SYNONYM } stage;

typedef struct {
    bool *hyp_free, *ref_free;
    long *ref_of_hyp; /* matched reference position per hypothesis word, or -1 */
    size_t matches;
} alignment;

/* Is the stemmed reference word one of the hypothesis word's synonyms? NLTK
 * uses the lemma names without '_' plus the word itself. */
static bool synonym_of(const meteor_cache *c, const word *h, str r)
{
    if (str_eq(h->stem, r))
        return true;
    for (size_t i = h->syn_first; i < h->syn_first + h->syn_n; i++) {
        const wordnet_name *nm = &c->names[i];
        if (nm->len == r.n && memcmp(nm->str, r.s, r.n) == 0)
            return true;
    }
    return false;
}

static int run_stage(stage st, sentence *hyp, const sentence *ref, alignment *al, meteor_cache *cache,
                     ys_error *err)
{
    size_t refs_left = 0;
    for (size_t j = 0; j < ref->n; j++)
        refs_left += al->ref_free[j];
    for (size_t i = hyp->n; i-- > 0 && refs_left > 0;) {
        if (!al->hyp_free[i])
            continue;
        word *h = &hyp->w[i];
        if (st == STAGE_SYNONYM && !h->syn_done) {
            int rc = cache_get(cache, h->stem, &h->syn_first, &h->syn_n, err);
            if (rc)
                return rc;
            h->syn_done = true;
        }
        for (size_t j = ref->n; j-- > 0;) {
            if (!al->ref_free[j])
                continue;
            const word *r = &ref->w[j];
            bool hit = st == STAGE_EXACT  ? str_eq(h->low, r->low)
                       : st == STAGE_STEM ? str_eq(h->stem, r->stem)
                                          : synonym_of(cache, h, r->stem);
            if (hit) {
                al->hyp_free[i] = al->ref_free[j] = false;
                al->ref_of_hyp[i] = (long)j;
                al->matches++;
                refs_left--;
                break;
            }
        }
    }
    return 0;
}

/* Fewest chunks of matches adjacent in both sentences, matches taken in
 * hypothesis order. */
static size_t count_chunks(const alignment *al, size_t nhyp)
{
    size_t chunks = 1;
    long prev_h = -2, prev_r = -2;
    bool first = true;
    for (size_t i = 0; i < nhyp; i++) {
        long r = al->ref_of_hyp[i];
        if (r < 0)
            continue;
        if (!first && !((long)i == prev_h + 1 && r == prev_r + 1))
            chunks++;
        first = false;
        prev_h = (long)i;
        prev_r = r;
    }
    return chunks;
}

/* NLTK's arithmetic, in its order; any division by zero scores 0. */
static double score_from(const meteor_options *opt, size_t matches, size_t chunks, size_t tlen,
                         size_t rlen)
{
    if (tlen == 0 || rlen == 0 || matches == 0)
        return 0.0;
    double precision = (double)matches / (double)tlen;
    double recall = (double)matches / (double)rlen;
    double denom = opt->alpha * precision + (1 - opt->alpha) * recall;
    if (denom == 0.0)
        return 0.0;
    double fmean = (precision * recall) / denom;
    double frag = (double)chunks / (double)matches;
    double penalty = opt->gamma * pow(frag, opt->beta);
    return (1 - penalty) * fmean;
}

static int score_one(meteor_cache *cache, const meteor_options *opt, sentence *hyp, const sentence *ref,
                     double *out, ys_error *err)
{
    alignment al = {0};
    size_t nh = hyp->n ? hyp->n : 1, nr = ref->n ? ref->n : 1;
    al.hyp_free = malloc(nh * sizeof *al.hyp_free);
    al.ref_free = malloc(nr * sizeof *al.ref_free);
    al.ref_of_hyp = malloc(nh * sizeof *al.ref_of_hyp);
    int rc = 0;
    if (!al.hyp_free || !al.ref_free || !al.ref_of_hyp) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory in METEOR");
        goto done;
    }
    for (size_t i = 0; i < hyp->n; i++) {
        al.hyp_free[i] = true;
        al.ref_of_hyp[i] = -1;
    }
    for (size_t j = 0; j < ref->n; j++)
        al.ref_free[j] = true;
    for (stage st = STAGE_EXACT; st <= STAGE_SYNONYM && rc == 0; st++)
        rc = run_stage(st, hyp, ref, &al, cache, err);
    if (rc == 0)
        *out = score_from(opt, al.matches, count_chunks(&al, hyp->n), hyp->n, ref->n);
done:
    free(al.hyp_free);
    free(al.ref_free);
    free(al.ref_of_hyp);
    return rc;
}

/* The shared core: tokens as (pointer, length) pairs. */
static int meteor_core(const wordnet *wn, meteor_cache *cache, const meteor_options *opt, const str *hyp,
                       size_t nhyp, const str *const *refs, const size_t *ref_lens, size_t nrefs,
                       double *score, ys_error *err)
{
    if (nrefs == 0)
        return ys_fail(err, YS_EINPUT, "METEOR needs at least one reference");
    if (!wn)
        return ys_fail(err, YS_EUSAGE, "METEOR needs an open WordNet (wordnet_open)");
    if (cache && cache->wn != wn)
        return ys_fail(err, YS_EUSAGE, "METEOR cache was made for another WordNet handle");
    meteor_options def;
    if (!opt) {
        meteor_options_default(&def);
        opt = &def;
    }
    meteor_cache *own = NULL;
    if (!cache && !(cache = own = meteor_cache_new(wn)))
        return ys_fail(err, YS_ENOMEM, "out of memory in METEOR");
    if (cache->count > CACHE_MAX_WORDS)
        cache_clear(cache);
    arena a = {0};
    sentence h = {0};
    int rc = sentence_init(&h, hyp, nhyp, &a);
    double best = 0.0;
    for (size_t r = 0; rc == 0 && r < nrefs; r++) {
        sentence ref = {0};
        double s = 0.0;
        rc = sentence_init(&ref, refs[r], ref_lens[r], &a);
        if (rc == 0)
            rc = score_one(cache, opt, &h, &ref, &s, err);
        sentence_free(&ref);
        if (rc == 0 && (r == 0 || s > best))
            best = s;
    }
    sentence_free(&h);
    arena_free(&a);
    meteor_cache_free(own);
    if (rc == YS_ENOMEM)
        return ys_fail(err, rc, "out of memory in METEOR");
    if (rc == 0)
        *score = best;
    return rc;
}

static str *strs_from_tokens(const char *const *toks, size_t n)
{
    str *v = malloc((n ? n : 1) * sizeof *v);
    if (v)
        for (size_t i = 0; i < n; i++)
            v[i] = (str){toks[i], strlen(toks[i])};
    return v;
}

/* Python's s.split(" "): n spaces always give n + 1 fields. */
static str *split_space(const char *s, size_t *count)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ' ';
    str *v = malloc(n * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == ' ' || *p == '\0') {
            v[k++] = (str){start, (size_t)(p - start)};
            start = p + 1;
            if (*p == '\0')
                break;
        }
    }
    *count = n;
    return v;
}

/* Owns the converted token lists of every reference. */
static int run_with(const wordnet *wn, meteor_cache *cache, const meteor_options *opt, const str *hyp,
                    size_t nhyp, str **refs, size_t *lens, size_t nrefs, double *score, ys_error *err)
{
    for (size_t r = 0; r < nrefs; r++)
        if (!refs[r])
            return ys_fail(err, YS_ENOMEM, "out of memory in METEOR");
    return meteor_core(wn, cache, opt, hyp, nhyp, (const str *const *)refs, lens, nrefs, score, err);
}

int meteor_sample(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                  const char *const *hyp, size_t nhyp, const char *const *const *refs,
                  const size_t *ref_lens, size_t nrefs, double *score, ys_error *err)
{
    str *h = strs_from_tokens(hyp, nhyp);
    str **rs = calloc(nrefs ? nrefs : 1, sizeof *rs);
    size_t *lens = calloc(nrefs ? nrefs : 1, sizeof *lens);
    int rc;
    if (!h || !rs || !lens) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory in METEOR");
    } else {
        for (size_t r = 0; r < nrefs; r++) {
            rs[r] = strs_from_tokens(refs[r], ref_lens[r]);
            lens[r] = ref_lens[r];
        }
        rc = run_with(wn, cache, opt, h, nhyp, rs, lens, nrefs, score, err);
    }
    for (size_t r = 0; rs && r < nrefs; r++)
        free(rs[r]);
    free(rs);
    free(lens);
    free(h);
    return rc;
}

int meteor_sample_str(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                      const char *hyp, const char *const *refs, size_t nrefs, double *score,
                      ys_error *err)
{
    size_t nh = 0;
    str *h = split_space(hyp, &nh);
    str **rs = calloc(nrefs ? nrefs : 1, sizeof *rs);
    size_t *lens = calloc(nrefs ? nrefs : 1, sizeof *lens);
    int rc;
    if (!h || !rs || !lens) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory in METEOR");
    } else {
        for (size_t r = 0; r < nrefs; r++)
            rs[r] = split_space(refs[r], &lens[r]);
        rc = run_with(wn, cache, opt, h, nh, rs, lens, nrefs, score, err);
    }
    for (size_t r = 0; rs && r < nrefs; r++)
        free(rs[r]);
    free(rs);
    free(lens);
    free(h);
    return rc;
}
