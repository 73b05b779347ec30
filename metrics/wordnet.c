/* wordnet.c — WordNet 3.0 lookups matching NLTK's wordnet.synsets(), see
 * wordnet.h.
 *
 * The database files are memory-mapped and never parsed up front. The index
 * and exception files are sorted byte-wise on their first field, so a lookup
 * is a binary search over lines; a synset is read at the byte offset the
 * index gives into data.<pos>. Files are ASCII, so any word that is not
 * ASCII after lower-casing cannot be in WordNet.
 */
#define _POSIX_C_SOURCE 200809L
#include "wordnet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ys_unicode.h"

#ifndef YS_WORDNET_DIR
#define YS_WORDNET_DIR "/usr/share/wordnet"
#endif

enum { POS_NOUN, POS_VERB, POS_ADJ, POS_ADV, POS_COUNT };

/* NLTK's order of parts of speech for synsets(word) with no pos. */
static const char *const pos_file[POS_COUNT] = {"noun", "verb", "adj", "adv"};

typedef struct {
    const char *p;
    size_t n;
} span;

struct wordnet {
    span index[POS_COUNT], data[POS_COUNT], exc[POS_COUNT];
};

/* ---- opening ---------------------------------------------------------- */

const char *wordnet_default_dir(void)
{
    return YS_WORDNET_DIR;
}

static int map_file(const char *dir, const char *name, span *out, ys_error *err)
{
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= sizeof path)
        return ys_fail(err, YS_EUSAGE, "WordNet directory path too long: '%s'", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ys_fail(err, YS_ERESOURCE,
                       "WordNet directory '%s' is missing %s (%s): install Debian's wordnet-base "
                       "(apt-get install wordnet-base) or pass --wordnet-dir DIR",
                       dir, name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return ys_fail(err, YS_ERESOURCE,
                       "WordNet directory '%s' is incomplete: %s is empty or unreadable; install "
                       "Debian's wordnet-base (apt-get install wordnet-base) or pass --wordnet-dir DIR",
                       dir, name);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return ys_fail(err, YS_EIO, "cannot map WordNet file %s: %s", path, strerror(errno));
    out->p = p;
    out->n = (size_t)st.st_size;
    return 0;
}

static void unmap(span *s)
{
    if (s->p)
        munmap((void *)s->p, s->n);
    s->p = NULL;
}

void wordnet_close(wordnet *wn)
{
    if (!wn)
        return;
    for (int i = 0; i < POS_COUNT; i++) {
        unmap(&wn->index[i]);
        unmap(&wn->data[i]);
        unmap(&wn->exc[i]);
    }
    free(wn);
}

int wordnet_open(const char *dir, wordnet **out, ys_error *err)
{
    *out = NULL;
    if (!dir)
        dir = wordnet_default_dir();
    wordnet *wn = calloc(1, sizeof *wn);
    if (!wn)
        return ys_fail(err, YS_ENOMEM, "out of memory opening WordNet");
    for (int i = 0; i < POS_COUNT; i++) {
        char name[32];
        int rc;
        snprintf(name, sizeof name, "index.%s", pos_file[i]);
        if ((rc = map_file(dir, name, &wn->index[i], err)) != 0)
            goto fail;
        snprintf(name, sizeof name, "data.%s", pos_file[i]);
        if ((rc = map_file(dir, name, &wn->data[i], err)) != 0)
            goto fail;
        snprintf(name, sizeof name, "%s.exc", pos_file[i]);
        if ((rc = map_file(dir, name, &wn->exc[i], err)) != 0)
            goto fail;
        continue;
    fail:
        wordnet_close(wn);
        return rc;
    }
    *out = wn;
    return 0;
}

/* ---- sorted-file search ----------------------------------------------- */

static size_t line_end(span f, size_t at)
{
    const char *nl = memchr(f.p + at, '\n', f.n - at);
    return nl ? (size_t)(nl - f.p) : f.n;
}

/* Compare key with the first field (up to the first space) of the line at
 * `at`. The licence header lines start with a space: their empty first
 * field sorts before every word, as in the files. */
static int cmp_field(span f, size_t at, const char *key, size_t klen)
{
    size_t i = 0;
    for (; i < klen; i++) {
        if (at + i >= f.n || f.p[at + i] == ' ' || f.p[at + i] == '\n')
            return 1; /* field is a proper prefix of key */
        unsigned char a = (unsigned char)key[i], b = (unsigned char)f.p[at + i];
        if (a != b)
            return a < b ? -1 : 1;
    }
    bool field_ends = at + i >= f.n || f.p[at + i] == ' ' || f.p[at + i] == '\n';
    return field_ends ? 0 : -1;
}

/* Byte offset of a line whose first field is key, or (size_t)-1. Probes
 * the first line starting at or after the middle of [lo, hi), found with a
 * forward memchr (fast) rather than by walking backwards. */
static size_t find_line(span f, const char *key, size_t klen)
{
    if (klen == 0)
        return (size_t)-1;
    size_t lo = 0, hi = f.n; /* both always at line starts */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, s = lo;
        if (mid > lo) {
            const char *nl = memchr(f.p + mid - 1, '\n', hi - (mid - 1));
            s = nl ? (size_t)(nl - f.p) + 1 : hi;
            if (s >= hi)
                s = lo;
        }
        int c = cmp_field(f, s, key, klen);
        if (c == 0)
            return s;
        if (c < 0)
            hi = s;
        else
            lo = line_end(f, s) + 1;
    }
    return (size_t)-1;
}

/* ---- whitespace-separated fields -------------------------------------- */

/* Fields of one line, read lazily: data lines can run to several kilobytes
 * of pointers and only the first few fields are wanted. */
typedef struct {
    span f;
    size_t at;
} fields;

static fields fields_at(span f, size_t at)
{
    return (fields){f, at};
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool next_field(fields *it, span *out)
{
    const char *p = it->f.p;
    size_t n = it->f.n;
    while (it->at < n && is_blank(p[it->at]))
        it->at++;
    if (it->at >= n || p[it->at] == '\n')
        return false;
    size_t s = it->at;
    while (it->at < n && !is_blank(p[it->at]) && p[it->at] != '\n')
        it->at++;
    *out = (span){p + s, it->at - s};
    return true;
}

/* A decimal or hexadecimal field; false when absent or not a number. */
static bool field_number(fields *it, int base, unsigned long *v)
{
    span t;
    if (!next_field(it, &t) || t.n == 0 || t.n > 12)
        return false;
    unsigned long x = 0;
    for (size_t i = 0; i < t.n; i++) {
        unsigned char c = (unsigned char)t.p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return false;
        x = x * (unsigned long)base + d;
    }
    *v = x;
    return true;
}

/* ---- a small list of candidate forms ---------------------------------- */

typedef struct {
    char *buf;          /* all forms, each NUL-terminated */
    size_t used, cap;
    size_t *off;        /* start of each form in buf */
    size_t count, ocap;
} forms;

static void forms_clear(forms *fl)
{
    fl->used = 0;
    fl->count = 0;
}

static void forms_free(forms *fl)
{
    free(fl->buf);
    free(fl->off);
    *fl = (forms){0};
}

static const char *form_at(const forms *fl, size_t i)
{
    return fl->buf + fl->off[i];
}

static bool forms_has(const forms *fl, const char *s, size_t n)
{
    for (size_t i = 0; i < fl->count; i++) {
        const char *f = form_at(fl, i);
        if (strlen(f) == n && memcmp(f, s, n) == 0)
            return true;
    }
    return false;
}

/* Append head[0..hn) + tail unless already present (order of first
 * occurrence is what NLTK's filter keeps). */
static int forms_add(forms *fl, const char *head, size_t hn, const char *tail)
{
    size_t tn = strlen(tail), n = hn + tn;
    if (fl->used + n + 1 > fl->cap) {
        size_t cap = fl->cap ? fl->cap * 2 : 256;
        while (cap < fl->used + n + 1)
            cap *= 2;
        char *b = realloc(fl->buf, cap);
        if (!b)
            return YS_ENOMEM;
        fl->buf = b;
        fl->cap = cap;
    }
    char *dst = fl->buf + fl->used;
    memcpy(dst, head, hn);
    memcpy(dst + hn, tail, tn);
    dst[n] = '\0';
    if (forms_has(fl, dst, n))
        return 0;
    if (fl->count == fl->ocap) {
        size_t oc = fl->ocap ? fl->ocap * 2 : 16;
        size_t *o = realloc(fl->off, oc * sizeof *o);
        if (!o)
            return YS_ENOMEM;
        fl->off = o;
        fl->ocap = oc;
    }
    fl->off[fl->count++] = fl->used;
    fl->used += n + 1;
    return 0;
}

/* ---- morphy ----------------------------------------------------------- */

typedef struct {
    const char *old, *rep;
} subst;

/* WordNet's detachment rules in NLTK's order (adverbs have none). */
static const subst noun_rules[] = {{"s", ""},     {"ses", "s"},   {"ves", "f"},
                                   {"xes", "x"},  {"zes", "z"},   {"ches", "ch"},
                                   {"shes", "sh"}, {"men", "man"}, {"ies", "y"}};
static const subst verb_rules[] = {{"s", ""},   {"ies", "y"}, {"es", "e"},  {"es", ""},
                                   {"ed", "e"}, {"ed", ""},   {"ing", "e"}, {"ing", ""}};
static const subst adj_rules[] = {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}};

static const subst *rules_for(int pos, size_t *n)
{
    switch (pos) {
    case POS_NOUN:
        *n = sizeof noun_rules / sizeof noun_rules[0];
        return noun_rules;
    case POS_VERB:
        *n = sizeof verb_rules / sizeof verb_rules[0];
        return verb_rules;
    case POS_ADJ:
        *n = sizeof adj_rules / sizeof adj_rules[0];
        return adj_rules;
    default:
        *n = 0;
        return NULL;
    }
}

/* out = every rule applied once to every form of in (duplicates dropped,
 * which changes neither the set nor the first-occurrence order). */
static int apply_rules(int pos, const forms *in, forms *out)
{
    size_t nr;
    const subst *r = rules_for(pos, &nr);
    forms_clear(out);
    for (size_t i = 0; i < in->count; i++) {
        const char *f = form_at(in, i);
        size_t fn = strlen(f);
        for (size_t k = 0; k < nr; k++) {
            size_t on = strlen(r[k].old);
            if (fn >= on && memcmp(f + fn - on, r[k].old, on) == 0) {
                int rc = forms_add(out, f, fn - on, r[k].rep);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* Work space for one lookup. */
typedef struct {
    forms a, b, hits;
    size_t *hit_at; /* the index line of each of hits, so it is searched once */
    size_t hacap;
} scratch;

/* Keep the forms of `in` that the index lists for pos (appended to hits,
 * with the line found in hit_at). */
static int filter_forms(const wordnet *wn, int pos, const forms *in, scratch *s)
{
    for (size_t i = 0; i < in->count; i++) {
        const char *f = form_at(in, i);
        size_t at = find_line(wn->index[pos], f, strlen(f)), had = s->hits.count;
        if (at == (size_t)-1)
            continue;
        int rc = forms_add(&s->hits, f, strlen(f), "");
        if (rc)
            return rc;
        if (s->hits.count > had) {
            if (s->hits.count > s->hacap) {
                size_t cap = s->hacap ? s->hacap * 2 : 16;
                size_t *h = realloc(s->hit_at, cap * sizeof *h);
                if (!h)
                    return YS_ENOMEM;
                s->hit_at = h;
                s->hacap = cap;
            }
            s->hit_at[had] = at;
        }
    }
    return 0;
}

/* NLTK's _morphy: the exception list wins outright; otherwise the word and
 * its one-step detachments, and failing that further detachment rounds
 * until some round yields a word in the index. Results go to s->hits. */
static int morphy(const wordnet *wn, int pos, const char *word, size_t len, scratch *s)
{
    int rc;
    forms_clear(&s->hits);
    forms_clear(&s->a);
    if ((rc = forms_add(&s->a, word, len, "")) != 0)
        return rc;

    span exc = wn->exc[pos];
    size_t at = find_line(exc, word, len);
    if (at != (size_t)-1) {
        /* A repeated key: the last line wins, as in a Python dict. */
        for (;;) {
            size_t next = line_end(exc, at) + 1;
            if (next >= exc.n || cmp_field(exc, next, word, len) != 0)
                break;
            at = next;
        }
        fields it = fields_at(exc, at);
        span t;
        next_field(&it, &t); /* the inflected form itself */
        while (next_field(&it, &t))
            if ((rc = forms_add(&s->a, t.p, t.n, "")) != 0)
                return rc;
        return filter_forms(wn, pos, &s->a, s);
    }

    if ((rc = apply_rules(pos, &s->a, &s->b)) != 0)
        return rc;
    /* Round one also checks the word itself. */
    for (size_t i = 0; i < s->b.count; i++)
        if ((rc = forms_add(&s->a, form_at(&s->b, i), strlen(form_at(&s->b, i)), "")) != 0)
            return rc;
    if ((rc = filter_forms(wn, pos, &s->a, s)) != 0 || s->hits.count)
        return rc;
    forms *cur = &s->b, *nxt = &s->a;
    while (cur->count) {
        if ((rc = apply_rules(pos, cur, nxt)) != 0)
            return rc;
        if ((rc = filter_forms(wn, pos, nxt, s)) != 0 || s->hits.count)
            return rc;
        forms *t = cur;
        cur = nxt;
        nxt = t;
    }
    return 0;
}

/* ---- synsets ---------------------------------------------------------- */

static int names_push(wordnet_names *names, const char *p, size_t n)
{
    for (size_t i = 0; i < names->count; i++)
        if (names->items[i].len == n && memcmp(names->items[i].str, p, n) == 0)
            return 0;
    if (names->count == names->cap) {
        size_t cap = names->cap ? names->cap * 2 : 32;
        wordnet_name *it = realloc(names->items, cap * sizeof *it);
        if (!it)
            return YS_ENOMEM;
        names->items = it;
        names->cap = cap;
    }
    names->items[names->count++] = (wordnet_name){p, n};
    return 0;
}

/* NLTK drops a trailing syntactic marker such as "(a)" or "(ip)": when the
 * name ends in ')', everything from its first '(' goes. */
static size_t strip_marker(const char *p, size_t n)
{
    if (n == 0 || p[n - 1] != ')')
        return n;
    const char *open = memchr(p, '(', n);
    return open ? (size_t)(open - p) : n;
}

/* Lemma names of the synset at byte offset `off` of data.<pos>. Lines that
 * do not parse are skipped (the files are the published database). */
static int synset_names(const wordnet *wn, int pos, unsigned long off, wordnet_names *names)
{
    span d = wn->data[pos];
    if (off >= d.n)
        return 0;
    fields it = fields_at(d, off);
    unsigned long v, count;
    span t;
    if (!field_number(&it, 10, &v) || v != off || !next_field(&it, &t) || !next_field(&it, &t) ||
        !field_number(&it, 16, &count))
        return 0;
    for (unsigned long i = 0; i < count; i++) {
        span name, lexid;
        if (!next_field(&it, &name) || !next_field(&it, &lexid))
            return 0;
        int rc = names_push(names, name.p, strip_marker(name.p, name.n));
        if (rc)
            return rc;
    }
    return 0;
}

/* Every synset the index line at `at` lists, in order. */
static int form_synsets(const wordnet *wn, int pos, size_t at, wordnet_names *names)
{
    span ix = wn->index[pos];
    fields it = fields_at(ix, at);
    span t;
    unsigned long nsyn, nptr, v;
    if (!next_field(&it, &t) || !next_field(&it, &t) || !field_number(&it, 10, &nsyn) ||
        !field_number(&it, 10, &nptr))
        return 0;
    for (unsigned long i = 0; i < nptr; i++)
        if (!next_field(&it, &t))
            return 0;
    if (!field_number(&it, 10, &v) || !field_number(&it, 10, &v)) /* sense_cnt, tagsense_cnt */
        return 0;
    for (unsigned long i = 0; i < nsyn; i++) {
        if (!field_number(&it, 10, &v))
            return 0;
        int rc = synset_names(wn, pos, v, names);
        if (rc)
            return rc;
    }
    return 0;
}

static bool needs_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80 || (s[i] >= 'A' && s[i] <= 'Z'))
            return true;
    return false;
}

static bool is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

int wordnet_lemma_names(const wordnet *wn, const char *word, size_t len, wordnet_names *names,
                        ys_error *err)
{
    names->count = 0;
    char *lowered = NULL;
    if (needs_lower(word, len)) {
        lowered = uni_lower_utf8(word, len, &len);
        if (!lowered)
            return ys_fail(err, YS_ENOMEM, "out of memory in WordNet lookup");
        word = lowered;
    }
    int rc = 0;
    if (len > 0 && is_ascii(word, len)) {
        scratch s = {0};
        for (int pos = 0; pos < POS_COUNT && rc == 0; pos++) {
            rc = morphy(wn, pos, word, len, &s);
            for (size_t i = 0; rc == 0 && i < s.hits.count; i++)
                rc = form_synsets(wn, pos, s.hit_at[i], names);
        }
        forms_free(&s.a);
        forms_free(&s.b);
        forms_free(&s.hits);
        free(s.hit_at);
    }
    free(lowered);
    return rc ? ys_fail(err, rc, "out of memory in WordNet lookup") : 0;
}

void wordnet_names_free(wordnet_names *names)
{
    free(names->items);
    *names = (wordnet_names){0};
}
