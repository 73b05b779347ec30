/* tok_unigram.c — the Unigram model (SentencePiece; T5, XLM-R...) and the
 * SentencePiece "Precompiled" normalizer.
 *
 * Unigram: the best segmentation of a word maximises the sum of the pieces'
 * log-probabilities (Viterbi over the byte positions, as HF's
 * encode_optimized). A character no piece starts with becomes an unknown
 * piece scored min_score - 10; consecutive unknown pieces are fused into one
 * token, which is then looked up again (usually giving unk_id), or spelled
 * as <0xNN> byte pieces with byte_fallback. Ties keep the first candidate
 * found, candidates being visited by start position, then by length.
 *
 * Precompiled: precompiled_charsmap (base64) is a little-endian u32 trie
 * size in bytes, a darts-clone double-array trie of that size mapping UTF-8
 * byte strings to offsets, then the replacement strings, NUL-terminated.
 * HF walks the text by extended grapheme cluster: a cluster shorter than 6
 * bytes that starts with a key is replaced as a whole by the value of the
 * SHORTEST key that prefixes it (whatever follows that key in the cluster is
 * dropped — this is what HF does, on purpose, to match SentencePiece's
 * results); other clusters go character by character, each character being
 * replaced the same way or kept. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* --------------------------------------------------------------- charsmap */
static int b64v(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int tok_charsmap_load(tok_charsmap *m, const char *b64, ys_error *err)
{
    memset(m, 0, sizeof *m);
    size_t n = strlen(b64);
    unsigned char *raw = malloc(n / 4 * 3 + 3);
    if (!raw) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (b64[i] == '=') break;
        int v = b64v((unsigned char)b64[i]);
        if (v < 0) {
            free(raw);
            return ys_fail(err, YS_EINPUT, "tokenizer: precompiled_charsmap is not base64");
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[k++] = (unsigned char)(acc >> bits);
        }
    }
    uint32_t tsize = k >= 4 ? (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 24 : 0;
    if (k < 4 || tsize % 4 || tsize == 0 || tsize > k - 4) {
        free(raw);
        return ys_fail(err, YS_EINPUT, "tokenizer: precompiled_charsmap has a bad trie size");
    }
    m->nunits = tsize / 4;
    m->units = malloc(m->nunits * sizeof *m->units);
    m->nnorm = k - 4 - tsize;
    m->norm = malloc(m->nnorm + 1);
    if (!m->units || !m->norm) {
        free(raw);
        tok_charsmap_free(m);
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; i < m->nunits; i++) {
        const unsigned char *p = raw + 4 + 4 * i;
        m->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(m->norm, raw + 4 + tsize, m->nnorm);
    m->norm[m->nnorm] = 0;
    free(raw);
    if (uni_invalid_at(m->norm, m->nnorm) != (size_t)-1) {
        tok_charsmap_free(m);
        return ys_fail(err, YS_EINPUT, "tokenizer: precompiled_charsmap strings are not UTF-8");
    }
    return 0;
}

void tok_charsmap_free(tok_charsmap *m)
{
    free(m->units);
    free(m->norm);
    memset(m, 0, sizeof *m);
}

/* darts-clone unit fields */
static uint32_t u_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static bool u_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t u_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
static uint32_t u_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* Replacement for s[0..n): the value of the shortest key prefixing it. */
static const char *transform(const tok_charsmap *m, const char *s, size_t n, size_t *rn)
{
    size_t pos = u_offset(m->units[0]);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!c) return NULL;
        pos ^= c;
        if (pos >= m->nunits) return NULL;
        uint32_t u = m->units[pos];
        if (u_label(u) != c) return NULL;
        pos ^= u_offset(u);
        if (u_has_leaf(u)) {
            if (pos >= m->nunits) return NULL;
            uint32_t v = u_value(m->units[pos]);
            if (v > m->nnorm) return NULL;
            *rn = strlen(m->norm + v);
            return m->norm + v;
        }
    }
    return NULL;
}

int tok_charsmap_apply(const tok_charsmap *m, const char *s, size_t n, tok_buf *out)
{
    size_t i = 0;
    int rc = tok_buf_put(out, "", 0);
    while (i < n && !rc) {
        size_t g = uni_grapheme_len(s, n, i), rn;
        const char *r;
        if (g < 6 && (r = transform(m, s + i, g, &rn))) {
            rc = tok_buf_put(out, r, rn);
            i += g;
            continue;
        }
        for (size_t end = i + g; i < end && !rc;) {
            uint32_t cp;
            size_t l = uni_decode_valid(s + i, &cp);
            r = transform(m, s + i, l, &rn);
            rc = r ? tok_buf_put(out, r, rn) : tok_buf_put(out, s + i, l);
            i += l;
        }
    }
    return rc ? YS_ENOMEM : 0;
}

/* ------------------------------------------------------- JSON score value */
/* HF reads the scores with serde_json, whose default float parser is not
 * correctly rounded: it gathers the decimal digits into a u64 and applies
 * one multiplication or division by a power of ten, two roundings that can
 * leave the value 1 ulp away from strtod's. Viterbi ties between
 * segmentations then break differently, so we redo serde's arithmetic. The
 * JSON text is gone (cJSON keeps the double), but the files are written
 * with shortest round-trip numbers, so the digits are recovered from the
 * correctly rounded value; trailing zeros would not change the result. */
static double pow10_exact(int e)
{
    char buf[16];
    snprintf(buf, sizeof buf, "1e%d", e);
    return strtod(buf, NULL);
}

double tok_serde_f64(double d)
{
    if (d == 0 || !isfinite(d)) return d;
    /* fewest significant digits that round-trip (monotonic in p); with 15
     * or fewer and a power of ten of at most 22 (exact in a double), serde's
     * one rounding is the correct one: d itself */
    char buf[40];
    double ad = fabs(d);
    int lo = 1, hi = 17;
    if (ad >= 1e-7 && ad < 1e15) {
        snprintf(buf, sizeof buf, "%.*e", 14, d);
        if (strtod(buf, NULL) == d) return d;
        lo = 16;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, sizeof buf, "%.*e", mid - 1, d);
        if (strtod(buf, NULL) == d) hi = mid;
        else lo = mid + 1;
    }
    snprintf(buf, sizeof buf, "%.*e", lo - 1, d);
    uint64_t sig = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    int digits_after = 0;
    bool after = false;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') { after = true; continue; }
        sig = sig * 10 + (uint64_t)(*p - '0');
        digits_after += after;
    }
    int exp10 = atoi(p + 1) - digits_after;
    double f = (double)sig;
    if (exp10 >= 0) f *= pow10_exact(exp10);
    else {
        while (exp10 < -308 && f != 0) {
            f /= 1e308;
            exp10 += 308;
        }
        f /= pow10_exact(-exp10);
    }
    return neg ? -f : f;
}

/* ------------------------------------------------------------------ model */
struct tok_uni {
    /* piece -> id (a repeated piece maps to its last id); also every
     * character-boundary prefix of a piece that is no piece itself -> -2,
     * so the Viterbi scan stops extending a candidate at the first miss */
    tok_smap vocab;
    tok_buf pool;
    uint32_t *off, *len;
    double *score;
    size_t n, cap;
    double min_score;
    int32_t unk_id;
    bool byte_fallback;
};

tok_uni *tok_uni_new(int32_t unk_id, bool byte_fallback)
{
    tok_uni *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->unk_id = unk_id;
    m->byte_fallback = byte_fallback;
    m->min_score = HUGE_VAL;
    return m;
}

int tok_uni_add_piece(tok_uni *m, const char *piece, size_t n, double score)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *o = realloc(m->off, cap * sizeof *o);
        if (!o) return YS_ENOMEM;
        m->off = o;
        uint32_t *l = realloc(m->len, cap * sizeof *l);
        if (!l) return YS_ENOMEM;
        m->len = l;
        double *sc = realloc(m->score, cap * sizeof *sc);
        if (!sc) return YS_ENOMEM;
        m->score = sc;
        m->cap = cap;
    }
    m->off[m->n] = (uint32_t)m->pool.n;
    m->len[m->n] = (uint32_t)n;
    m->score[m->n] = score;
    if (score < m->min_score) m->min_score = score;
    if (tok_buf_put(&m->pool, piece, n) || tok_buf_put(&m->pool, "", 1)) return YS_ENOMEM;
    for (size_t k = 1; k < n; k++)
        if (((unsigned char)piece[k] & 0xC0) != 0x80 && tok_smap_get(&m->vocab, piece, k) == -1 &&
            tok_smap_put(&m->vocab, piece, k, -2))
            return YS_ENOMEM;
    if (tok_smap_put(&m->vocab, piece, n, (int32_t)m->n)) return YS_ENOMEM;
    m->n++;
    return 0;
}

int tok_uni_finish(tok_uni *m, ys_error *err)
{
    if (m->unk_id >= 0 && (size_t)m->unk_id >= m->n)
        return ys_fail(err, YS_EINPUT, "tokenizer: Unigram unk_id %d is not in the vocabulary", m->unk_id);
    if (m->unk_id >= 0 && !m->n) return ys_fail(err, YS_EINPUT, "tokenizer: Unigram vocabulary is empty");
    return 0;
}

void tok_uni_free(tok_uni *m)
{
    if (!m) return;
    tok_smap_free(&m->vocab);
    tok_buf_free(&m->pool);
    free(m->off);
    free(m->len);
    free(m->score);
    free(m);
}

int32_t tok_uni_n_ids(const tok_uni *m) { return (int32_t)m->n; }

const char *tok_uni_piece(const tok_uni *m, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= m->n) return NULL;
    if (len) *len = m->len[id];
    return m->pool.p + m->off[id];
}

int32_t tok_uni_lookup(const tok_uni *m, const char *piece, size_t n)
{
    int32_t id = tok_smap_get(&m->vocab, piece, n);
    return id >= 0 ? id : -1;
}

void tok_uni_scratch_free(tok_uni_scratch *s)
{
    free(s->score);
    free(s->id);
    free(s->from);
    free(s->seg);
    memset(s, 0, sizeof *s);
}

static int scratch_grow(tok_uni_scratch *s, size_t n)
{
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n) cap *= 2;
    double *sc = realloc(s->score, cap * sizeof *sc);
    if (!sc) return YS_ENOMEM;
    s->score = sc;
    int32_t *id = realloc(s->id, cap * sizeof *id);
    if (!id) return YS_ENOMEM;
    s->id = id;
    uint32_t *fr = realloc(s->from, cap * sizeof *fr);
    if (!fr) return YS_ENOMEM;
    s->from = fr;
    uint32_t *sg = realloc(s->seg, 3 * cap * sizeof *sg);
    if (!sg) return YS_ENOMEM;
    s->seg = sg;
    s->cap = cap;
    return 0;
}

#define NONE UINT32_MAX

static int emit(const tok_uni *m, const char *s, size_t n, tok_ivec *out)
{
    int32_t id = tok_uni_lookup(m, s, n);
    if (id >= 0) return tok_ivec_push(out, id);
    if (m->byte_fallback) {
        bool all = true;
        char name[8];
        for (size_t i = 0; i < n && all; i++) {
            snprintf(name, sizeof name, "<0x%02X>", (unsigned char)s[i]);
            all = tok_uni_lookup(m, name, 6) >= 0;
        }
        if (all) {
            for (size_t i = 0; i < n; i++) {
                snprintf(name, sizeof name, "<0x%02X>", (unsigned char)s[i]);
                if (tok_ivec_push(out, tok_uni_lookup(m, name, 6))) return YS_ENOMEM;
            }
            return 0;
        }
    }
    if (m->unk_id < 0) return YS_EINPUT;
    return tok_ivec_push(out, m->unk_id);
}

int tok_uni_word(const tok_uni *m, const char *w, size_t n, tok_uni_scratch *s, tok_ivec *out)
{
    if (!n) return 0;
    if (scratch_grow(s, n + 1)) return YS_ENOMEM;
    const double unk_score = m->min_score - 10.0;
    for (size_t i = 0; i <= n; i++) s->from[i] = NONE, s->score[i] = 0.0, s->id[i] = 0;
    for (size_t at = 0; at < n;) {
        double here = s->score[at];
        size_t mblen = 1;
        while (at + mblen < n && ((unsigned char)w[at + mblen] & 0xC0) == 0x80) mblen++;
        bool single = false;
        for (size_t end = at + mblen; end <= n;) {
            int32_t id = tok_smap_get(&m->vocab, w + at, end - at);
            if (id == -1) break;
            if (id >= 0) {
                double cand = m->score[id] + here;
                if (s->from[end] == NONE || cand > s->score[end]) {
                    s->score[end] = cand;
                    s->from[end] = (uint32_t)at;
                    s->id[end] = id;
                }
                if (end - at == mblen) single = true;
            }
            end++;
            while (end < n && ((unsigned char)w[end] & 0xC0) == 0x80) end++;
        }
        if (!single) {
            size_t end = at + mblen;
            double cand = unk_score + here;
            if (s->from[end] == NONE || cand > s->score[end]) {
                if (m->unk_id < 0) return YS_EINPUT;
                s->score[end] = cand;
                s->from[end] = (uint32_t)at;
                s->id[end] = m->unk_id;
            }
        }
        at += mblen;
    }
    /* backtrack, fusing runs of unknown pieces */
    size_t k = 0;
    for (size_t end = n; end > 0;) {
        size_t st = s->from[end];
        bool unk = s->id[end] == m->unk_id;
        if (unk && k && s->seg[3 * (k - 1) + 2]) s->seg[3 * (k - 1)] = (uint32_t)st;
        else {
            s->seg[3 * k] = (uint32_t)st;
            s->seg[3 * k + 1] = (uint32_t)end;
            s->seg[3 * k + 2] = unk;
            k++;
        }
        end = st;
    }
    while (k--) {
        int rc = emit(m, w + s->seg[3 * k], s->seg[3 * k + 1] - s->seg[3 * k], out);
        if (rc) return rc;
    }
    return 0;
}
