#include "bleu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram.h"
#include "ys_reserve.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "ys_unicode.h"

/* The fast path (see count_fast): hypothesis words get small integer ids
 * in `vocab`, and an n-gram is its ids packed 16 bits each into one 64-bit
 * key in `grams`. */
typedef struct {
    const char *key;  /* the word, in the hypothesis's tokenized text */
    uint64_t head;    /* its first 8 bytes, zero-padded */
    uint32_t len, id;
} vocab_slot;

typedef struct {
    uint64_t key;     /* packed ids; 0 when the slot is empty */
    int32_t hyp;      /* count in the hypothesis */
    int32_t ref_max;  /* max count over references so far */
    int32_t ref_cur;  /* count in the reference being scanned */
    uint32_t stamp;   /* which reference ref_cur belongs to */
} gram_slot;

/* Scratch memory reused from sample to sample. The hypothesis's tokenized
 * text must outlive the reference passes (the n-gram table's keys point
 * into it), so it has its own tokenizer scratch. */
struct bleu_ctx {
    ng_table table;
    vocab_slot *vocab;
    uint32_t *vocab_tag;   /* per vocab slot: 0 empty, else hash bits | top bit */
    size_t vocab_cap;
    gram_slot *grams;
    size_t grams_cap;
    uint32_t *live;        /* used slots of vocab (first) and grams, to clear them */
    size_t live_cap;
    uint32_t *ids;         /* word ids of the text being counted */
    size_t ids_cap;
    size_t vocab_live, grams_live; /* live[0..vocab_live) vocab, then grams */
    mtok_scratch hyp_tok, ref_tok;
    char *low, *low_ref;  /* lower-cased text (hypothesis, reference) */
    size_t low_cap, low_ref_cap;
    const char **tok;     /* start of each token of the text being counted */
    uint32_t *len;        /* its length */
    uint64_t *hash;       /* its hash */
    uint64_t *head;       /* its first 8 bytes (fewer: zero-padded) */
    size_t cap;
};

void bleu_options_default(bleu_options *o)
{
    o->tokenize = MTOK_13A;
    o->smooth = BLEU_SMOOTH_EXP;
    o->smooth_value = NAN;
    o->lowercase = false;
    o->effective_order = false;
}

bleu_ctx *bleu_ctx_new(void) { return calloc(1, sizeof(bleu_ctx)); }

void bleu_ctx_free(bleu_ctx *c)
{
    if (!c)
        return;
    ng_free(&c->table);
    free(c->vocab);
    free(c->vocab_tag);
    free(c->grams);
    free(c->live);
    free(c->ids);
    mtok_scratch_free(&c->hyp_tok);
    mtok_scratch_free(&c->ref_tok);
    free(c->low);
    free(c->low_ref);
    free(c->tok);
    free(c->len);
    free(c->hash);
    free(c->head);
    free(c);
}

/* Make room for `need` tokens in c->tok/len/hash; -1 on OOM. */
static int reserve_tokens(bleu_ctx *c, size_t need)
{
    if (c->cap >= need)
        return 0;
    size_t cap = need > 64 ? need : 64;
    const char **t = realloc(c->tok, cap * sizeof *t);
    if (t)
        c->tok = t;
    uint32_t *l = realloc(c->len, cap * sizeof *l);
    if (l)
        c->len = l;
    uint64_t *h = realloc(c->hash, cap * sizeof *h);
    if (h)
        c->hash = h;
    uint64_t *hd = realloc(c->head, cap * sizeof *hd);
    if (hd)
        c->head = hd;
    if (!t || !l || !h || !hd)
        return -1;
    c->cap = cap;
    return 0;
}

/* The first byte in [p, end) that may end a token: one at or below ' '
 * (ASCII white space is among them) or a UTF-8 byte; end when none. Words
 * are short, so sixteen bytes at a time usually find it in one step, with
 * no branch per byte to mispredict at the word's end. */
static const char *next_unusual(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i lim = _mm_set1_epi8(0x21);
    while (end - p >= 16) {
        /* signed compare: bytes >= 0x80 are negative, so below 0x21 too */
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)p), lim));
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end && (unsigned char)*p > ' ' && (unsigned char)*p < 0x80)
        p++;
    return p;
}

/* The hash of the n > 0 bytes at s (any function of them will do: the
 * n-gram tables are only ever probed with hashes made here), and in *head
 * its first 8 bytes, zero-padded. When 8 bytes can be read (up to `end`),
 * the last step loads them whole and masks off what follows the word:
 * byte by byte, the loop's end would be mispredicted on every word. */
static uint64_t word_hash(const char *s, size_t n, const char *end, uint64_t *head)
{
    uint64_t h = 0x243F6A8885A308D3ULL ^ (uint64_t)n, w = 0;
    const char *first = s;
    while (n > 8) {
        memcpy(&w, s, 8);
        h = ng_hash_step(h, w);
        s += 8;
        n -= 8;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - s >= 8) {
        memcpy(&w, s, 8);
        w &= ~0ULL >> (64 - 8 * n);
    } else
#endif
    {
        w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    }
    if (s == first) {
        *head = w;
    } else {
        memcpy(head, first, 8);
    }
    return ng_hash_step(h, w);
}

/* Lower-case, rstrip and tokenize one segment (sacrebleu's
 * _preprocess_segment), then split it into tokens in c->tok/len/hash.
 * `joined`: tokenize into sc->out joined by single spaces, as the general
 * path needs (its n-gram keys are spans of that text); otherwise split the
 * tokenizer's text before the join, which gives the same tokens without
 * copying the text once more. `low` is the lower-casing buffer: the
 * hypothesis and the references need their own when the tokens point into
 * it. Returns the token count, or -1 on OOM. */
static long preprocess(bleu_ctx *c, const bleu_options *o, const char *s, mtok_scratch *sc, bool joined,
                       char **low, size_t *low_cap)
{
    size_t n = strlen(s);
    if (o->lowercase) {
        if ((n = uni_lower_utf8_into(s, n, low, low_cap)) == (size_t)-1)
            return -1;
        s = *low;
    }
    n = mtok_rstrip_len(s, n);
    const char *p, *end;
    size_t len;
    if (joined) {
        if ((len = mtok_apply_scratch(o->tokenize, s, n, sc)) == (size_t)-1)
            return -1;
        p = sc->out;
    } else if (!(p = mtok_apply_unjoined(o->tokenize, s, n, sc, &len))) {
        return -1;
    }
    end = p + len;
    /* at most one token per two bytes (a token and its separator) */
    if (reserve_tokens(c, len / 2 + 2) < 0)
        return -1;
    size_t k = 0;
    while (p < end) {
        /* Python's split(): ASCII white space is all at or below ' ';
         * other bytes start a multi-byte code point to decode. */
        unsigned char b = (unsigned char)*p;
        if (b == ' ') {
            p++;
            continue;
        }
        size_t sp = b > ' ' && b < 0x80 ? 0 : b < 0x80 ? (size_t)uni_ascii_space(b) : mtok_space_at(p, (size_t)(end - p));
        if (sp) {
            p += sp;
            continue;
        }
        const char *t = p++;
        for (;;) {
            p = next_unusual(p, end);
            if (p == end)
                break;
            b = (unsigned char)*p;
            if (b < 0x80) {
                if (uni_ascii_space(b))
                    break;
                p++;
                continue;
            }
            uint32_t cp;
            size_t m = uni_decode(p, (size_t)(end - p), &cp);
            if (m && uni_is_space(cp))
                break;
            p += m ? m : 1;
        }
        c->tok[k] = t;
        c->len[k] = (uint32_t)(p - t);
        c->hash[k] = word_hash(t, (size_t)(p - t), end, &c->head[k]);
        k++;
    }
    return (long)k;
}

/* The n-gram of order k at token i is the text from the start of token i
 * to the end of token i+k-1 (tokens are single-space separated): a key
 * taken in place. Its hash is built from the tokens' hashes, one step per
 * order, so no n-gram's text is hashed. */
static const char *ngram_end(const bleu_ctx *c, size_t i, size_t k)
{
    return c->tok[i + k - 1] + c->len[i + k - 1];
}

/* The fast path. A hypothesis of fewer than 2^16 words numbers its distinct
 * words 1, 2, ... in `vocab`; an n-gram of order k <= 4 is then the 64-bit
 * integer of its k ids, 16 bits each, so every n-gram lookup is one
 * multiply and integer compares, and only words are ever compared as text.
 * A reference word the hypothesis lacks gets id 0, which no n-gram of the
 * hypothesis contains. Both tables are sized for the hypothesis at load
 * 1/2 at most and cleared through `live` (the slots used), not by memset.
 * Returns 0, 1 when the hypothesis is too long for 16-bit ids (the caller
 * takes the general path), or -1 when out of memory. */
static int fast_tables(bleu_ctx *c, size_t nh)
{
    for (size_t k = 0; k < c->vocab_live; k++)
        c->vocab_tag[c->live[k]] = 0;
    for (size_t k = 0; k < c->grams_live; k++)
        c->grams[c->live[c->vocab_live + k]].key = 0;
    c->vocab_live = c->grams_live = 0;
    size_t vcap = 16, gcap = 16;
    while (vcap < 2 * nh)
        vcap *= 2;
    while (gcap < 2 * BLEU_ORDER * nh)
        gcap *= 2;
    if (vcap > c->vocab_cap) {
        free(c->vocab);
        free(c->vocab_tag);
        c->vocab = malloc(vcap * sizeof *c->vocab);
        c->vocab_tag = calloc(vcap, sizeof *c->vocab_tag);
        c->vocab_cap = c->vocab && c->vocab_tag ? vcap : 0;
        if (!c->vocab_cap)
            return -1;
    }
    if (gcap > c->grams_cap) {
        free(c->grams);
        c->grams = calloc(gcap, sizeof *c->grams);
        c->grams_cap = c->grams ? gcap : 0;
        if (!c->grams)
            return -1;
    }
    return ys_reserve((void **)&c->live, &c->live_cap, nh + BLEU_ORDER * nh + 1, sizeof *c->live);
}

/* The id of token i of the text in c->tok/len/hash: inserted when `add`,
 * else 0 when the hypothesis does not have it. */
static uint32_t word_id(bleu_ctx *c, size_t i, int add)
{
    uint64_t h = c->hash[i];
    uint32_t tag = (uint32_t)(h >> 32) | 0x80000000u;
    size_t mask = c->vocab_cap - 1, j = (size_t)h & mask;
    const char *key = c->tok[i];
    uint32_t len = c->len[i];
    uint64_t head = c->head[i];
    for (uint32_t g; (g = c->vocab_tag[j]) != 0; j = (j + 1) & mask) {
        const vocab_slot *v = &c->vocab[j];
        /* words of up to 8 bytes are equal when their heads are */
        if (g == tag && v->len == len && v->head == head && (len <= 8 || memcmp(v->key, key, len) == 0))
            return v->id;
    }
    if (!add)
        return 0;
    c->vocab_tag[j] = tag;
    c->vocab[j] = (vocab_slot){key, head, len, (uint32_t)c->vocab_live + 1};
    c->live[c->vocab_live++] = (uint32_t)j;
    return (uint32_t)c->vocab_live;
}

static size_t gram_slot_of(const bleu_ctx *c, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & (c->grams_cap - 1);
}

static int gram_order(uint64_t key) { return key >> 48 ? 4 : key >> 32 ? 3 : key >> 16 ? 2 : 1; }

static int count_fast(bleu_ctx *c, const bleu_options *o, size_t nh, const char *const *refs,
                      size_t nrefs, bleu_stats *out)
{
    if (nh >= 0xFFFF)
        return 1;
    if (fast_tables(c, nh) < 0 || ys_reserve((void **)&c->ids, &c->ids_cap, nh + 1, sizeof *c->ids) < 0)
        return -1;
    uint32_t *ids = c->ids;
    for (size_t i = 0; i < nh; i++)
        ids[i] = word_id(c, i, 1);
    size_t mask = c->grams_cap - 1;
    uint32_t *glive = c->live + c->vocab_live;
    for (size_t i = 0; i < nh; i++) {
        uint64_t key = 0;
        for (size_t k = 0; k < BLEU_ORDER && i + k < nh; k++) {
            key |= (uint64_t)ids[i + k] << (16 * k);
            size_t j = gram_slot_of(c, key);
            while (c->grams[j].key && c->grams[j].key != key)
                j = (j + 1) & mask;
            gram_slot *g = &c->grams[j];
            if (!g->key) {
                *g = (gram_slot){key, 0, 0, 0, 0};
                glive[c->grams_live++] = (uint32_t)j;
            }
            g->hyp++;
        }
    }
    int64_t best_diff = -1, best_len = -1;
    for (size_t r = 0; r < nrefs; r++) {
        long nr_ = preprocess(c, o, refs[r], &c->ref_tok, false, &c->low_ref, &c->low_ref_cap);
        if (nr_ < 0 || ys_reserve((void **)&c->ids, &c->ids_cap, (size_t)nr_ + 1, sizeof *c->ids) < 0)
            return -1;
        size_t nr = (size_t)nr_;
        int64_t diff = llabs(out->sys_len - (int64_t)nr);
        if (best_diff < 0 || diff < best_diff || (diff == best_diff && (int64_t)nr < best_len)) {
            best_diff = diff;
            best_len = (int64_t)nr;
        }
        ids = c->ids;
        for (size_t i = 0; i < nr; i++)
            ids[i] = word_id(c, i, 0);
        uint32_t stamp = (uint32_t)r + 1;
        for (size_t i = 0; i < nr; i++) {
            uint64_t key = 0;
            for (size_t k = 0; k < BLEU_ORDER && i + k < nr && ids[i + k]; k++) {
                key |= (uint64_t)ids[i + k] << (16 * k);
                size_t j = gram_slot_of(c, key);
                while (c->grams[j].key && c->grams[j].key != key)
                    j = (j + 1) & mask;
                gram_slot *g = &c->grams[j];
                if (!g->key)
                    break; /* not in the hypothesis: nor is any longer n-gram here */
                if (g->stamp != stamp) {
                    g->stamp = stamp;
                    g->ref_cur = 0;
                }
                if (++g->ref_cur > g->ref_max)
                    g->ref_max = g->ref_cur;
            }
        }
    }
    out->ref_len = best_len < 0 ? 0 : best_len;
    for (size_t k = 0; k < c->grams_live; k++) {
        const gram_slot *g = &c->grams[glive[k]];
        out->correct[gram_order(g->key) - 1] += g->hyp < g->ref_max ? g->hyp : g->ref_max;
    }
    return 0;
}

int bleu_sample_stats(bleu_ctx *c, const bleu_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, bleu_stats *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    long nh_ = preprocess(c, o, hyp, &c->hyp_tok, false, &c->low, &c->low_cap);
    if (nh_ < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    size_t nh = (size_t)nh_;
    out->sys_len = (int64_t)nh;
    for (size_t k = 1; k <= BLEU_ORDER; k++)
        out->total[k - 1] = nh >= k ? (int64_t)(nh - k + 1) : 0;
    int fast = count_fast(c, o, nh, refs, nrefs, out);
    if (fast < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    if (fast == 0)
        return 0;
    /* The general path: n-grams as spans of the tokenized text, joined. */
    if (preprocess(c, o, hyp, &c->hyp_tok, true, &c->low, &c->low_cap) != nh_)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    if (ng_reset(&c->table, nh * BLEU_ORDER) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    for (size_t i = 0; i < nh; i++) {
        uint64_t h = 0;
        for (size_t k = 1; k <= BLEU_ORDER && i + k <= nh; k++) {
            h = ng_hash_step(h, c->hash[i + k - 1]);
            const char *s = c->tok[i];
            ng_entry *en = ng_get_h(&c->table, s, (size_t)(ngram_end(c, i, k) - s), h, 1);
            if (!en)
                return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
            en->order = (int)k;
            en->hyp++;
        }
    }
    int64_t best_diff = -1, best_len = -1;
    for (size_t r = 0; r < nrefs; r++) {
        long nr_ = preprocess(c, o, refs[r], &c->ref_tok, true, &c->low_ref, &c->low_ref_cap);
        if (nr_ < 0)
            return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
        size_t nr = (size_t)nr_;
        /* closest reference length; ties go to the shorter one */
        int64_t diff = llabs(out->sys_len - (int64_t)nr);
        if (best_diff < 0 || diff < best_diff) {
            best_diff = diff;
            best_len = (int64_t)nr;
        } else if (diff == best_diff && (int64_t)nr < best_len) {
            best_len = (int64_t)nr;
        }
        for (size_t i = 0; i < nr; i++) {
            uint64_t h = 0;
            for (size_t k = 1; k <= BLEU_ORDER && i + k <= nr; k++) {
                h = ng_hash_step(h, c->hash[i + k - 1]);
                const char *s = c->tok[i];
                ng_entry *en = ng_get_h(&c->table, s, (size_t)(ngram_end(c, i, k) - s), h, 0);
                if (!en)
                    break; /* not in the hypothesis: nor is any longer n-gram here */
                if (en->stamp != r + 1) {
                    en->stamp = (uint32_t)(r + 1);
                    en->ref_cur = 0;
                }
                if (++en->ref_cur > en->ref_max)
                    en->ref_max = en->ref_cur;
            }
        }
    }
    out->ref_len = best_len < 0 ? 0 : best_len;
    for (size_t i = 0; i < c->table.used; i++) {
        ng_entry *en = &c->table.slots[c->table.live[i]];
        out->correct[en->order - 1] += en->hyp < en->ref_max ? en->hyp : en->ref_max;
    }
    return 0;
}

void bleu_stats_add(bleu_stats *acc, const bleu_stats *s)
{
    acc->sys_len += s->sys_len;
    acc->ref_len += s->ref_len;
    for (int k = 0; k < BLEU_ORDER; k++) {
        acc->correct[k] += s->correct[k];
        acc->total[k] += s->total[k];
    }
}

static double default_smooth_value(bleu_smooth m)
{
    return m == BLEU_SMOOTH_FLOOR ? 0.1 : m == BLEU_SMOOTH_ADDK ? 1.0 : NAN;
}

/* sacrebleu's my_log: log floored at -9999999999 for zero. */
static double floored_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

void bleu_score_from(const bleu_stats *s, const bleu_options *o, bool effective_order,
                     bleu_score *out)
{
    memset(out, 0, sizeof *out);
    double sv = isnan(o->smooth_value) ? default_smooth_value(o->smooth) : o->smooth_value;
    double correct[BLEU_ORDER], total[BLEU_ORDER];
    int any = 0;
    for (int k = 0; k < BLEU_ORDER; k++) {
        correct[k] = (double)s->correct[k];
        total[k] = (double)s->total[k];
        any |= s->correct[k] != 0;
    }
    out->sys_len = s->sys_len;
    out->ref_len = s->ref_len;
    out->ratio = s->ref_len ? (double)s->sys_len / (double)s->ref_len : 0.0;
    out->bp = 1.0;
    if (s->sys_len < s->ref_len)
        out->bp = s->sys_len > 0 ? exp(1.0 - (double)s->ref_len / (double)s->sys_len) : 0.0;
    if (any) {
        double smooth_mteval = 1.0;
        int eff = BLEU_ORDER;
        for (int n = 1; n <= BLEU_ORDER; n++) {
            if (o->smooth == BLEU_SMOOTH_ADDK && n > 1) {
                correct[n - 1] += sv;
                total[n - 1] += sv;
            }
            if (total[n - 1] == 0)
                break;
            if (effective_order)
                eff = n;
            if (correct[n - 1] == 0) {
                if (o->smooth == BLEU_SMOOTH_EXP) {
                    smooth_mteval *= 2;
                    out->precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
                } else if (o->smooth == BLEU_SMOOTH_FLOOR) {
                    out->precisions[n - 1] = 100.0 * sv / total[n - 1];
                }
            } else {
                out->precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
            }
        }
        double sum = 0.0;
        for (int n = 0; n < eff; n++)
            sum += floored_log(out->precisions[n]);
        out->score = out->bp * exp(sum / eff);
    }
    for (int k = 0; k < BLEU_ORDER; k++) {
        out->counts[k] = correct[k];
        out->totals[k] = total[k];
    }
}

void bleu_signature(const bleu_options *o, bool effective_order, int nrefs, char *buf, size_t cap)
{
    static const char *smooth_names[] = {"exp", "floor", "add-k", "none"};
    char refs[16], smooth[32];
    if (nrefs < 0)
        snprintf(refs, sizeof refs, "var");
    else
        snprintf(refs, sizeof refs, "%d", nrefs);
    double sv = isnan(o->smooth_value) ? default_smooth_value(o->smooth) : o->smooth_value;
    if (o->smooth == BLEU_SMOOTH_FLOOR || o->smooth == BLEU_SMOOTH_ADDK)
        snprintf(smooth, sizeof smooth, "%s[%.2f]", smooth_names[o->smooth], sv);
    else
        snprintf(smooth, sizeof smooth, "%s", smooth_names[o->smooth]);
    snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|tok:%s|smooth:%s|version:%s", refs,
             o->lowercase ? "lc" : "mixed", effective_order ? "yes" : "no", mtok_name(o->tokenize),
             smooth, BLEU_SACREBLEU_VERSION);
}

int bleu_parse_smooth(const char *name, bleu_smooth *out)
{
    static const char *names[] = {"exp", "floor", "add-k", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (bleu_smooth)i;
            return 0;
        }
    return -1;
}
