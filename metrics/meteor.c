/* meteor.c — NLTK 3.8's METEOR, see meteor.h.
 *
 * NLTK aligns in three stages (exact, stem, synonym). Each stage walks the
 * still-unmatched hypothesis words from last to first and pairs each with
 * the last still-unmatched reference word that qualifies; the stem and
 * synonym stages see stemmed words. Matched words are simply marked dead
 * here, which visits the same pairs in the same order as NLTK's list pops.
 *
 * Every string the scorer meets (a token, its lower-cased form, its stem, a
 * WordNet lemma name) is interned once in the meteor_cache and known by a
 * small integer id from then on, so equal strings have equal ids. A token's
 * entry remembers the id of its lower-cased form, a lower-cased entry the id
 * of its Porter stem, and a stem's entry its synonyms as a list of ids. The
 * per-sample work is then one hash probe per token and integer comparisons;
 * stemming and WordNet lookups happen once per distinct string (the cache
 * is kept across samples, or is a throwaway one for a single sample).
 */
#include "meteor.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "porter.h"
#include "ys_reserve.h"
#include "ys_unicode.h"

void meteor_options_default(meteor_options *opt)
{
    opt->alpha = 0.9;
    opt->beta = 3.0;
    opt->gamma = 0.5;
}

/* ---- the cache of interned strings ------------------------------------ */

/* Beyond this many strings or synonym ids the cache starts over (checked
 * between samples), which bounds its memory to a few megabytes. */
#ifndef CACHE_MAX_STRINGS
#define CACHE_MAX_STRINGS (1u << 18)
#endif
#ifndef CACHE_MAX_SYNS
#define CACHE_MAX_SYNS (1u << 20)
#endif

#define NONE UINT32_MAX

typedef struct {
    const char *s;       /* owned by the cache, or a lemma name in WordNet's mapping */
    uint32_t n, hash;
    uint32_t low;        /* id of str.lower() of s, NONE until needed */
    uint32_t stem;       /* id of porter_stem(s) (s is lower-cased), NONE until needed */
    uint32_t syn_first;  /* s's WordNet synonyms are syns[syn_first..+syn_n), */
    uint32_t syn_n;      /* syn_first NONE until looked up */
    uint32_t head;       /* alignment scratch: last free reference word with this key */
} entry;

/* Storage for the cache's own strings: blocks that never move. */
typedef struct strblock {
    struct strblock *next;
    size_t used, cap;
    char data[];
} strblock;

/* One token of a sample: ids of its lower-cased form and its stem. */
typedef struct {
    uint32_t low, stem;
} tword;

struct meteor_cache {
    const wordnet *wn;
    uint32_t *slots; /* open addressing: entry id + 1, 0 when empty */
    size_t nslots;   /* a power of two, more than twice count */
    entry *e;
    size_t count, ecap;
    uint32_t *syns; /* synonym lists: ids of lemma names */
    size_t nsyn, syncap;
    strblock *blocks;
    wordnet_names scratch;
    char *buf; /* lower-casing and stemming space */
    size_t bufcap;
    /* One sample's working arrays, kept to avoid allocating per sample. */
    tword *words; /* the hypothesis, then each reference */
    size_t nwords, wcap;
    size_t *bounds; /* reference r is words[bounds[r]..bounds[r + 1]) */
    size_t bcap;
    unsigned char *hyp_free, *ref_free;
    size_t hfcap, rfcap;
    long *ref_of_hyp; /* matched reference position per hypothesis word, or -1 */
    size_t rohcap;
    uint32_t *next_ref; /* per reference word: the previous free one with its key */
    size_t nrcap;
};

static void blocks_free(meteor_cache *c)
{
    for (strblock *b = c->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    c->blocks = NULL;
}

static const char *store(meteor_cache *c, const char *s, size_t n)
{
    strblock *b = c->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (!(b = malloc(sizeof *b + cap)))
            return NULL;
        b->next = c->blocks;
        b->used = 0;
        b->cap = cap;
        c->blocks = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    b->used += n;
    return p;
}

meteor_cache *meteor_cache_new(const wordnet *wn)
{
    meteor_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->wn = wn;
    c->nslots = 1024;
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
    free(c->e);
    free(c->syns);
    blocks_free(c);
    wordnet_names_free(&c->scratch);
    free(c->buf);
    free(c->words);
    free(c->bounds);
    free(c->hyp_free);
    free(c->ref_free);
    free(c->ref_of_hyp);
    free(c->next_ref);
    free(c);
}

static void cache_clear(meteor_cache *c)
{
    memset(c->slots, 0, c->nslots * sizeof *c->slots);
    c->count = c->nsyn = 0;
    blocks_free(c);
}

static uint64_t load32(const char *s)
{
    uint32_t w;
    memcpy(&w, s, 4);
    return w;
}

/* A fast hash of short strings (most tokens are under 8 bytes). */
static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)n;
    while (n > 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w;
    if (n >= 4)
        w = load32(s) | load32(s + n - 4) << 32;
    else if (n > 0)
        w = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
            (uint64_t)(unsigned char)s[n - 1] << 16;
    else
        w = 0;
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 32;
    return (uint32_t)h;
}

static int cache_rehash(meteor_cache *c)
{
    size_t n = c->nslots * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return YS_ENOMEM;
    for (size_t e = 0; e < c->count; e++) {
        size_t i = c->e[e].hash & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)e + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    return 0;
}

/* The id of s[0..n), added when new (copied into the cache unless `keep`:
 * then s must outlive the cache's use of it, as WordNet's mapping does). */
static int intern(meteor_cache *c, const char *s, size_t n, bool keep, uint32_t *id)
{
    uint32_t h = hash_bytes(s, n);
    size_t mask = c->nslots - 1, i = h & mask;
    for (uint32_t k; (k = c->slots[i]) != 0; i = (i + 1) & mask) {
        const entry *e = &c->e[k - 1];
        if (e->hash == h && e->n == n && memcmp(e->s, s, n) == 0) {
            *id = k - 1;
            return 0;
        }
    }
    if (n >= NONE || c->count >= NONE - 1)
        return YS_ENOMEM;
    if ((c->count + 1) * 2 > c->nslots) {
        if (cache_rehash(c))
            return YS_ENOMEM;
        mask = c->nslots - 1;
        for (i = h & mask; c->slots[i]; i = (i + 1) & mask)
            ;
    }
    if (ys_reserve((void **)&c->e, &c->ecap, c->count + 1, sizeof *c->e))
        return YS_ENOMEM;
    const char *p = n == 0 ? "" : s;
    if (!keep && n > 0 && !(p = store(c, s, n)))
        return YS_ENOMEM;
    c->e[c->count] = (entry){p, (uint32_t)n, h, NONE, NONE, NONE, 0, NONE};
    *id = (uint32_t)c->count++;
    c->slots[i] = *id + 1;
    return 0;
}

static int reserve_buf(meteor_cache *c, size_t n)
{
    return ys_reserve((void **)&c->buf, &c->bufcap, n, 1) < 0 ? YS_ENOMEM : 0;
}

/* Python's str.lower() of entry id. */
static int lower_of(meteor_cache *c, uint32_t id, uint32_t *out)
{
    const char *s = c->e[id].s;
    size_t n = c->e[id].n;
    bool ascii = true, upper = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        ascii &= ch < 0x80;
        upper |= ch >= 'A' && ch <= 'Z';
    }
    if (ascii && !upper) {
        *out = id;
        return 0;
    }
    if (ascii) {
        if (reserve_buf(c, n))
            return YS_ENOMEM;
        for (size_t i = 0; i < n; i++)
            c->buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
        return intern(c, c->buf, n, false, out);
    }
    size_t ln;
    char *tmp = uni_lower_utf8(s, n, &ln);
    if (!tmp)
        return YS_ENOMEM;
    int rc = intern(c, tmp, ln, false, out);
    free(tmp);
    return rc;
}

/* NLTK's PorterStemmer().stem() of the lower-cased entry id. */
static int stem_of(meteor_cache *c, uint32_t id, uint32_t *out)
{
    const char *s = c->e[id].s;
    size_t n = c->e[id].n;
    if (reserve_buf(c, n + 1))
        return YS_ENOMEM;
    size_t sn = porter_stem(s, n, c->buf);
    if (sn == n && memcmp(c->buf, s, n) == 0) {
        *out = id;
        return 0;
    }
    return intern(c, c->buf, sn, false, out);
}

/* Append one token to the sample's words. */
static int push_word(meteor_cache *c, const char *tok, size_t n)
{
    uint32_t id, low, stem;
    int rc;
    if (ys_reserve((void **)&c->words, &c->wcap, c->nwords + 1, sizeof *c->words))
        return YS_ENOMEM;
    if ((rc = intern(c, tok, n, false, &id)) != 0)
        return rc;
    if ((low = c->e[id].low) == NONE) {
        if ((rc = lower_of(c, id, &low)) != 0)
            return rc;
        c->e[id].low = low;
    }
    if ((stem = c->e[low].stem) == NONE) {
        if ((rc = stem_of(c, low, &stem)) != 0)
            return rc;
        c->e[low].stem = stem;
    }
    c->words[c->nwords++] = (tword){low, stem};
    return 0;
}

/* Can a lemma name equal a stem? Stems are lower-cased, so a name with an
 * ASCII capital never can; NLTK also drops names with '_'. */
static bool usable_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z'))
            return false;
    return true;
}

/* Look up the WordNet synonyms of the stem entry id once. */
static int ensure_syns(meteor_cache *c, uint32_t id, ys_error *err)
{
    if (c->e[id].syn_first != NONE)
        return 0;
    int rc = wordnet_lemma_names(c->wn, c->e[id].s, c->e[id].n, &c->scratch, err);
    if (rc)
        return rc;
    if (c->nsyn + c->scratch.count >= NONE ||
        ys_reserve((void **)&c->syns, &c->syncap, c->nsyn + c->scratch.count, sizeof *c->syns))
        return YS_ENOMEM;
    size_t first = c->nsyn;
    for (size_t i = 0; i < c->scratch.count; i++) {
        const wordnet_name *nm = &c->scratch.items[i];
        uint32_t nid;
        if (!usable_name(nm->str, nm->len))
            continue;
        if ((rc = intern(c, nm->str, nm->len, true, &nid)) != 0) {
            c->nsyn = first;
            return rc;
        }
        c->syns[c->nsyn++] = nid;
    }
    c->e[id].syn_first = (uint32_t)first;
    c->e[id].syn_n = (uint32_t)(c->nsyn - first);
    return 0;
}

/* ---- alignment -------------------------------------------------------- */

/* Is the reference stem r one of hypothesis stem h's synonyms? NLTK uses
 * the lemma names without '_' plus the word itself. */
static bool synonym_of(const meteor_cache *c, uint32_t h, uint32_t r)
{
    if (h == r)
        return true;
    if (!c->e[h].syn_n)
        return false; /* and c->syns may still be NULL: no offset from it */
    const uint32_t *s = c->syns + c->e[h].syn_first;
    for (uint32_t i = 0, n = c->e[h].syn_n; i < n; i++)
        if (s[i] == r)
            return true;
    return false;
}

/* Align hyp[0..nh) with ref[0..nr) in NLTK's three stages and score. */
static int score_one(meteor_cache *c, const meteor_options *opt, const tword *hyp, size_t nh,
                     const tword *ref, size_t nr, double *out, ys_error *err)
{
    unsigned char *hf = c->hyp_free, *rf = c->ref_free;
    long *roh = c->ref_of_hyp;
    for (size_t i = 0; i < nh; i++) {
        hf[i] = 1;
        roh[i] = -1;
    }
    for (size_t j = 0; j < nr; j++)
        rf[j] = 1;
    size_t matches = 0, left = nr;

    /* Exact (lower-cased) matches, then stems. Both keys are equivalence
     * classes, so NLTK's greedy walk pairs, key by key, the hypothesis
     * occurrences taken from the last with the free reference occurrences
     * taken from the last: each key gets a stack of its free reference
     * positions (the entry's head, linked through next_ref). */
    uint32_t *next = c->next_ref;
    entry *e = c->e;
    for (int st = 0; st < 2 && left > 0; st++) {
        for (size_t j = 0; j < nr; j++)
            if (rf[j]) {
                uint32_t k = st == 0 ? ref[j].low : ref[j].stem;
                next[j] = e[k].head;
                e[k].head = (uint32_t)j;
            }
        for (size_t i = nh; i-- > 0;) {
            if (!hf[i])
                continue;
            uint32_t k = st == 0 ? hyp[i].low : hyp[i].stem, j = e[k].head;
            if (j != NONE) {
                e[k].head = next[j];
                hf[i] = rf[j] = 0;
                roh[i] = (long)j;
                matches++;
                left--;
            }
        }
        for (size_t j = 0; j < nr; j++)
            e[st == 0 ? ref[j].low : ref[j].stem].head = NONE;
    }
    /* WordNet synonyms of the stems. */
    for (size_t i = nh; i-- > 0 && left > 0;) {
        if (!hf[i])
            continue;
        uint32_t hs = hyp[i].stem;
        int rc = ensure_syns(c, hs, err);
        if (rc)
            return rc;
        for (size_t j = nr; j-- > 0;)
            if (rf[j] && synonym_of(c, hs, ref[j].stem)) {
                hf[i] = rf[j] = 0;
                roh[i] = (long)j;
                matches++;
                left--;
                break;
            }
    }

    /* Fewest chunks of matches adjacent in both sentences, matches taken in
     * hypothesis order. NLTK's arithmetic, in its order; any division by
     * zero scores 0. */
    if (nh == 0 || nr == 0 || matches == 0) {
        *out = 0.0;
        return 0;
    }
    size_t chunks = 1;
    long prev_h = -2, prev_r = -2;
    bool first = true;
    for (size_t i = 0; i < nh; i++) {
        long r = roh[i];
        if (r < 0)
            continue;
        if (!first && !((long)i == prev_h + 1 && r == prev_r + 1))
            chunks++;
        first = false;
        prev_h = (long)i;
        prev_r = r;
    }
    double precision = (double)matches / (double)nh;
    double recall = (double)matches / (double)nr;
    double denom = opt->alpha * precision + (1 - opt->alpha) * recall;
    if (denom == 0.0) {
        *out = 0.0;
        return 0;
    }
    double fmean = (precision * recall) / denom;
    double frag = (double)chunks / (double)matches;
    double penalty = opt->gamma * pow(frag, opt->beta);
    *out = (1 - penalty) * fmean;
    return 0;
}

/* ---- entry points ----------------------------------------------------- */

/* Where the tokens come from: C strings, or space-separated fields. */
typedef struct {
    bool split; /* hyp_str and ref_strs, else hyp and refs */
    const char *const *hyp;
    size_t nhyp;
    const char *const *const *refs;
    const size_t *ref_lens;
    const char *hyp_str;
    const char *const *ref_strs;
} source;

/* Python's s.split(" "): n spaces always give n + 1 fields. */
static int push_split(meteor_cache *c, const char *s)
{
    for (;;) {
        const char *sp = strchr(s, ' ');
        size_t n = sp ? (size_t)(sp - s) : strlen(s);
        int rc = push_word(c, s, n);
        if (rc || !sp)
            return rc;
        s = sp + 1;
    }
}

static int push_tokens(meteor_cache *c, const char *const *toks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = push_word(c, toks[i], strlen(toks[i]));
        if (rc)
            return rc;
    }
    return 0;
}

static int score_sample(meteor_cache *c, const meteor_options *opt, const source *src, size_t nrefs,
                        double *score, ys_error *err)
{
    if (c->count > CACHE_MAX_STRINGS || c->nsyn > CACHE_MAX_SYNS)
        cache_clear(c);
    if (ys_reserve((void **)&c->bounds, &c->bcap, nrefs + 1, sizeof *c->bounds))
        return YS_ENOMEM;
    c->nwords = 0;
    int rc = src->split ? push_split(c, src->hyp_str) : push_tokens(c, src->hyp, src->nhyp);
    size_t nh = c->nwords, maxr = 1;
    for (size_t r = 0; rc == 0 && r < nrefs; r++) {
        c->bounds[r] = c->nwords;
        rc = src->split ? push_split(c, src->ref_strs[r])
                          : push_tokens(c, src->refs[r], src->ref_lens[r]);
        if (c->nwords - c->bounds[r] > maxr)
            maxr = c->nwords - c->bounds[r];
    }
    c->bounds[nrefs] = c->nwords;
    if (rc)
        return rc;
    if (ys_reserve((void **)&c->hyp_free, &c->hfcap, nh ? nh : 1, 1) ||
        ys_reserve((void **)&c->ref_of_hyp, &c->rohcap, nh ? nh : 1, sizeof *c->ref_of_hyp) ||
        ys_reserve((void **)&c->ref_free, &c->rfcap, maxr, 1) ||
        ys_reserve((void **)&c->next_ref, &c->nrcap, maxr, sizeof *c->next_ref))
        return YS_ENOMEM;
    double best = 0.0;
    for (size_t r = 0; r < nrefs; r++) {
        double s = 0.0;
        rc = score_one(c, opt, c->words, nh, c->words + c->bounds[r], c->bounds[r + 1] - c->bounds[r],
                       &s, err);
        if (rc)
            return rc;
        if (r == 0 || s > best)
            best = s;
    }
    *score = best;
    return 0;
}

static int meteor_run(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                      const source *src, size_t nrefs, double *score, ys_error *err)
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
    double s = 0.0;
    int rc = score_sample(cache, opt, src, nrefs, &s, err);
    meteor_cache_free(own);
    if (rc == YS_ENOMEM)
        return ys_fail(err, rc, "out of memory in METEOR");
    if (rc == 0)
        *score = s;
    return rc;
}

int meteor_sample(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                  const char *const *hyp, size_t nhyp, const char *const *const *refs,
                  const size_t *ref_lens, size_t nrefs, double *score, ys_error *err)
{
    source src = {.hyp = hyp, .nhyp = nhyp, .refs = refs, .ref_lens = ref_lens};
    return meteor_run(wn, cache, opt, &src, nrefs, score, err);
}

int meteor_sample_str(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                      const char *hyp, const char *const *refs, size_t nrefs, double *score,
                      ys_error *err)
{
    source src = {.split = true, .hyp_str = hyp, .ref_strs = refs};
    return meteor_run(wn, cache, opt, &src, nrefs, score, err);
}
