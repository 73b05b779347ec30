/* tok_bpe.c — the BPE model (merges applied by rank, lowest first, leftmost
 * among equals), plus the small containers and the lossy UTF-8 conversion the tokenizer
 * uses. Behaviour follows the documented semantics of Hugging Face
 * tokenizers' BPE model: byte_fallback to <0xXX> pieces, unk fusing,
 * ignore_merges (a word that is itself a piece is emitted whole). */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---------------------------------------------------------------- buffers */
int tok_buf_reserve(tok_buf *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return YS_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tok_buf_put(tok_buf *b, const void *s, size_t n)
{
    if (tok_buf_reserve(b, n)) return YS_ENOMEM;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

void tok_buf_free(tok_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

int tok_ivec_push(tok_ivec *v, int32_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->v, cap * sizeof *p);
        if (!p) return YS_ENOMEM;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* ---------------------------------------------------------------- hashing */
uint32_t tok_hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h ^ (h >> 15);
}

static int smap_grow(tok_smap *m)
{
    size_t nslots = m->mask ? (m->mask + 1) * 2 : 1024;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return YS_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->ents[i].hash & (nslots - 1);
        while (slots[j]) j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    return 0;
}

int32_t tok_smap_get(const tok_smap *m, const char *k, size_t n)
{
    if (!m->slots) return -1;
    uint32_t h = tok_hash(k, n);
    size_t j = h & m->mask;
    for (;;) {
        uint32_t s = m->slots[j];
        if (!s) return -1;
        const struct tok_smap_ent *e = &m->ents[s - 1];
        if (e->hash == h && e->len == n && memcmp(m->pool.p + e->off, k, n) == 0) return e->val;
        j = (j + 1) & m->mask;
    }
}

int tok_smap_put(tok_smap *m, const char *k, size_t n, int32_t val)
{
    if (!m->slots || (m->n + 1) * 2 > m->mask + 1)
        if (smap_grow(m)) return YS_ENOMEM;
    uint32_t h = tok_hash(k, n);
    size_t j = h & m->mask;
    for (;;) {
        uint32_t s = m->slots[j];
        if (!s) break;
        struct tok_smap_ent *e = &m->ents[s - 1];
        if (e->hash == h && e->len == n && memcmp(m->pool.p + e->off, k, n) == 0) {
            e->val = val;
            return 0;
        }
        j = (j + 1) & m->mask;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        void *p = realloc(m->ents, cap * sizeof *m->ents);
        if (!p) return YS_ENOMEM;
        m->ents = p;
        m->cap = cap;
    }
    size_t off = m->pool.n;
    if (tok_buf_put(&m->pool, k, n) || tok_buf_put(&m->pool, "", 1)) return YS_ENOMEM;
    m->ents[m->n] = (struct tok_smap_ent){(uint32_t)off, (uint32_t)n, val, h};
    m->slots[j] = (uint32_t)++m->n;
    return 0;
}

void tok_smap_free(tok_smap *m)
{
    free(m->slots);
    free(m->ents);
    tok_buf_free(&m->pool);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ UTF-8 */
/* The tokenizer's one policy of its own for invalid UTF-8 (decoded bytes
 * of a byte-level model); validity and the subparts are ys_unicode's. */
int tok_utf8_lossy(tok_buf *b, const unsigned char *s, size_t n)
{
    const char *c = (const char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        if (s[i] < 0x80) { i++; continue; }
        size_t k = uni_decode(c + i, n - i, &cp);
        if (k) { i += k; continue; }
        if (tok_buf_put(b, s + run, i - run)) return YS_ENOMEM;
        if (tok_buf_put(b, "\xEF\xBF\xBD", 3)) return YS_ENOMEM;
        i += uni_invalid_subpart(c + i, n - i);
        run = i;
    }
    return tok_buf_put(b, s + run, n - run);
}

/* ---------------------------------------------------- GPT-2 byte alphabet */
uint32_t tok_byte_to_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    if (b <= 0x20) return 256 + b;
    if (b >= 0x7F && b <= 0xA0) return 256 + 33 + (b - 0x7F);
    return 256 + 67; /* 0xAD */
}

int tok_cp_to_byte(uint32_t c)
{
    if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) return (int)c;
    if (c >= 256 && c <= 256 + 32) return (int)(c - 256);
    if (c >= 256 + 33 && c <= 256 + 66) return (int)(0x7F + (c - 256 - 33));
    if (c == 256 + 67) return 0xAD;
    return -1;
}

/* -------------------------------------------------------------- pair map */
/* One 8-byte slot per merge: ((a << 20 | b) + 1) << 24 | rank, 0 = empty;
 * ids must be below 2^20 - 1 and ranks below 2^24. rank_new[rank] is the
 * merged id. A one-hash Bloom filter answers most absent pairs without
 * touching the (large) table. */
#define TOK_MAX_IDS ((1 << 20) - 1)
#define TOK_MAX_MERGES ((1 << 24) - 1)

struct tok_bpe {
    tok_bpe_opts o;
    tok_smap pieces;   /* piece string -> id */
    tok_smap keys;     /* byte-level: raw bytes -> id (else unused) */
    uint32_t *piece_off; /* id -> offset into pool, UINT32_MAX = none */
    uint32_t *piece_len;
    tok_buf pool;
    int32_t nids;
    size_t ids_cap;
    uint64_t *pairs;
    size_t pmask, npairs;
    int32_t *rank_new;
    size_t rank_cap;
    uint64_t *bloom;
    size_t bloom_mask; /* in bits */
    int32_t byte_id[256]; /* byte-level: single-byte key; else <0xXX> */
    int32_t ascii_id[128]; /* non-byte-level: piece id of each ASCII char */
};

static inline uint64_t pair_key(int32_t a, int32_t b)
{
    return (((uint64_t)(uint32_t)a << 20) | (uint32_t)b) + 1;
}

static inline uint64_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static int pairs_grow(tok_bpe *m)
{
    size_t ns = m->pmask ? (m->pmask + 1) * 2 : 4096;
    uint64_t *p = calloc(ns, sizeof *p);
    if (!p) return YS_ENOMEM;
    for (size_t i = 0; m->pairs && i <= m->pmask; i++) {
        if (!m->pairs[i]) continue;
        size_t j = pair_hash(m->pairs[i] >> 24) & (ns - 1);
        while (p[j]) j = (j + 1) & (ns - 1);
        p[j] = m->pairs[i];
    }
    free(m->pairs);
    m->pairs = p;
    m->pmask = ns - 1;
    return 0;
}

#define NO_RANK 0xFFFFFFFFu

static inline uint32_t pair_rank(const tok_bpe *m, int32_t a, int32_t b)
{
    uint64_t k = pair_key(a, b), h = pair_hash(k);
    if (m->bloom) {
        size_t bit = (size_t)(h >> 32) & m->bloom_mask;
        if (!(m->bloom[bit >> 6] & (1ULL << (bit & 63)))) return NO_RANK;
    }
    size_t j = h & m->pmask;
    for (;;) {
        uint64_t s = m->pairs[j];
        if ((s >> 24) == k) return (uint32_t)(s & 0xFFFFFF);
        if (!s) return NO_RANK;
        j = (j + 1) & m->pmask;
    }
}

tok_bpe *tok_bpe_new(const tok_bpe_opts *o)
{
    tok_bpe *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->o = *o;
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    for (int i = 0; i < 128; i++) m->ascii_id[i] = -1;
    if (pairs_grow(m)) { free(m); return NULL; }
    return m;
}

void tok_bpe_free(tok_bpe *m)
{
    if (!m) return;
    tok_smap_free(&m->pieces);
    tok_smap_free(&m->keys);
    free(m->piece_off);
    free(m->piece_len);
    tok_buf_free(&m->pool);
    free(m->pairs);
    free(m->rank_new);
    free(m->bloom);
    free(m);
}

int tok_bpe_add_piece(tok_bpe *m, const char *piece, size_t n, int32_t id, ys_error *err)
{
    if (id < 0 || id >= TOK_MAX_IDS) return ys_fail(err, YS_EINPUT, "tokenizer: vocab id %d out of range", (int)id);
    if ((size_t)id >= m->ids_cap) {
        size_t cap = m->ids_cap ? m->ids_cap : 1024;
        while (cap <= (size_t)id) cap *= 2;
        uint32_t *a = realloc(m->piece_off, cap * sizeof *a);
        if (!a) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        m->piece_off = a;
        uint32_t *b = realloc(m->piece_len, cap * sizeof *b);
        if (!b) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        m->piece_len = b;
        for (size_t i = m->ids_cap; i < cap; i++) m->piece_off[i] = UINT32_MAX, m->piece_len[i] = 0;
        m->ids_cap = cap;
    }
    if (id >= m->nids) m->nids = id + 1;
    m->piece_off[id] = (uint32_t)m->pool.n;
    m->piece_len[id] = (uint32_t)n;
    if (tok_buf_put(&m->pool, piece, n) || tok_buf_put(&m->pool, "", 1) ||
        tok_smap_put(&m->pieces, piece, n, id))
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    if (m->o.byte_level) {
        /* key = the raw bytes the piece stands for, when every character is
         * in the byte alphabet (other pieces can never come out of BPE) */
        char raw[256];
        size_t rn = 0, i = 0;
        bool ok = n <= 4 * sizeof raw;
        while (ok && i < n) {
            uint32_t cp;
            i += uni_decode_valid(piece + i, &cp);
            int b = tok_cp_to_byte(cp);
            if (b < 0 || rn == sizeof raw) ok = false;
            else raw[rn++] = (char)b;
        }
        if (ok) {
            if (tok_smap_put(&m->keys, raw, rn, id)) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
            if (rn == 1) m->byte_id[(unsigned char)raw[0]] = id;
        }
    } else if (n == 6 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' && piece[5] == '>') {
        /* byte-fallback pieces are spelled <0xAB> (upper-case hex) */
        int v = 0;
        bool ok = true;
        for (int k = 3; k < 5; k++) {
            char c = piece[k];
            if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
            else if (c >= 'A' && c <= 'F') v = v * 16 + (c - 'A' + 10);
            else ok = false;
        }
        if (ok) m->byte_id[v] = id;
    }
    return 0;
}

int32_t tok_bpe_lookup(const tok_bpe *m, const char *piece, size_t n)
{
    return tok_smap_get(&m->pieces, piece, n);
}

int tok_bpe_add_merge(tok_bpe *m, const char *a, size_t an, const char *b, size_t bn,
                      uint32_t rank, ys_error *err)
{
    int32_t ia = tok_smap_get(&m->pieces, a, an), ib = tok_smap_get(&m->pieces, b, bn);
    if (ia < 0 || ib < 0)
        return ys_fail(err, YS_EINPUT, "tokenizer: merge %u: token '%.*s' is not in the vocabulary",
                       rank, (int)(ia < 0 ? an : bn), ia < 0 ? a : b);
    char stack[512];
    char *cat = an + bn <= sizeof stack ? stack : malloc(an + bn);
    if (!cat) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    memcpy(cat, a, an);
    memcpy(cat + an, b, bn);
    int32_t inew = tok_smap_get(&m->pieces, cat, an + bn);
    if (cat != stack) free(cat);
    if (inew < 0)
        return ys_fail(err, YS_EINPUT, "tokenizer: merge %u: '%.*s%.*s' is not in the vocabulary",
                       rank, (int)an, a, (int)bn, b);
    if (ia >= TOK_MAX_IDS || ib >= TOK_MAX_IDS || rank >= TOK_MAX_MERGES)
        return ys_fail(err, YS_EINPUT, "tokenizer: more than %d ids or %d merges are not supported", TOK_MAX_IDS,
                       TOK_MAX_MERGES);
    if ((m->npairs + 1) * 2 > m->pmask + 1 && pairs_grow(m))
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    if (rank >= m->rank_cap) {
        size_t cap = m->rank_cap ? m->rank_cap * 2 : 4096;
        while (cap <= rank) cap *= 2;
        int32_t *r = realloc(m->rank_new, cap * sizeof *r);
        if (!r) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        m->rank_new = r;
        m->rank_cap = cap;
    }
    m->rank_new[rank] = inew;
    uint64_t k = pair_key(ia, ib);
    size_t j = pair_hash(k) & m->pmask;
    while (m->pairs[j] && (m->pairs[j] >> 24) != k) j = (j + 1) & m->pmask;
    if (!m->pairs[j]) m->npairs++;
    /* a repeated merge keeps the later rank (last insertion wins) */
    m->pairs[j] = (k << 24) | rank;
    return 0;
}

int tok_bpe_finish(tok_bpe *m, ys_error *err)
{
    size_t bits = 1024;
    while (bits < m->npairs * 16) bits *= 2;
    free(m->bloom);
    m->bloom = calloc(bits / 64, sizeof *m->bloom);
    if (!m->bloom) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    m->bloom_mask = bits - 1;
    for (size_t i = 0; i <= m->pmask; i++) {
        if (!m->pairs[i]) continue;
        size_t bit = (size_t)(pair_hash(m->pairs[i] >> 24) >> 32) & m->bloom_mask;
        m->bloom[bit >> 6] |= 1ULL << (bit & 63);
    }
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        m->ascii_id[c] = tok_smap_get(&m->pieces, &ch, 1);
    }
    return 0;
}
int32_t tok_bpe_n_ids(const tok_bpe *m) { return m->nids; }

const char *tok_bpe_piece(const tok_bpe *m, int32_t id, size_t *len)
{
    if (id < 0 || id >= m->nids || m->piece_off[id] == UINT32_MAX) return NULL;
    if (len) *len = m->piece_len[id];
    return m->pool.p + m->piece_off[id];
}

void tok_bpe_scratch_free(tok_bpe_scratch *s)
{
    free(s->id);
    free(s->len);
    free(s->prev);
    free(s->next);
    free(s->rank);
    free(s->nid);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

static int scratch_reserve(tok_bpe_scratch *s, size_t n)
{
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n) cap *= 2;
    int32_t *id = realloc(s->id, cap * sizeof *id);
    if (!id) return YS_ENOMEM;
    s->id = id;
    uint32_t *len = realloc(s->len, cap * sizeof *len);
    if (!len) return YS_ENOMEM;
    s->len = len;
    int32_t *pv = realloc(s->prev, cap * sizeof *pv);
    if (!pv) return YS_ENOMEM;
    s->prev = pv;
    int32_t *nx = realloc(s->next, cap * sizeof *nx);
    if (!nx) return YS_ENOMEM;
    s->next = nx;
    uint32_t *rk = realloc(s->rank, cap * sizeof *rk);
    if (!rk) return YS_ENOMEM;
    s->rank = rk;
    int32_t *ni = realloc(s->nid, cap * sizeof *ni);
    if (!ni) return YS_ENOMEM;
    s->nid = ni;
    s->cap = cap;
    return 0;
}

/* min-heap of (rank << 32 | pos) */
static void heap_push(uint64_t *h, size_t *n, uint64_t x)
{
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (h[p] <= x) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], x = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
    return top;
}

/* rank and result of the pair starting at symbol i, cached in s->rank/s->nid */
static inline void pair_at(const tok_bpe *m, tok_bpe_scratch *s, int32_t i)
{
    int32_t j = s->next[i];
    uint32_t r = j >= 0 ? pair_rank(m, s->id[i], s->id[j]) : NO_RANK;
    s->rank[i] = r;
    s->nid[i] = r != NO_RANK ? m->rank_new[r] : -1;
}

/* merge symbol j = next[i] into i */
static inline void merge_at(tok_bpe_scratch *s, int32_t i)
{
    int32_t j = s->next[i];
    s->id[i] = s->nid[i];
    s->len[i] += s->len[j];
    s->len[j] = 0;
    s->next[i] = s->next[j];
    if (s->next[j] >= 0) s->prev[s->next[j]] = i;
}

int tok_bpe_word(const tok_bpe *m, const char *w, size_t n, tok_bpe_scratch *s, tok_ivec *out)
{
    if (!n) return 0;
    if (m->o.ignore_merges) {
        int32_t id = m->o.byte_level ? tok_smap_get(&m->keys, w, n) : tok_smap_get(&m->pieces, w, n);
        if (id >= 0) return tok_ivec_push(out, id);
    }
    if (scratch_reserve(s, n + 1)) return YS_ENOMEM;
    int32_t ns = 0;
    const unsigned char *u = (const unsigned char *)w;
    if (m->o.byte_level) {
        for (size_t i = 0; i < n; i++) {
            int32_t id = m->byte_id[u[i]];
            if (id < 0) {
                if (m->o.unk_id < 0) continue;
                if (m->o.fuse_unk && ns && s->id[ns - 1] == m->o.unk_id) { s->len[ns - 1]++; continue; }
                id = m->o.unk_id;
            }
            s->id[ns] = id;
            s->len[ns] = 1;
            ns++;
        }
    } else {
        /* characters; unknown ones go to byte fallback, else to unk (a pending
         * unk is flushed only when a known character follows, as HF does) */
        int32_t unk_pending = 0;
        uint32_t unk_len = 0;
        size_t i = 0;
        while (i < n) {
            size_t k = u[i] < 0x80 ? 1 : u[i] < 0xE0 ? 2 : u[i] < 0xF0 ? 3 : 4;
            if (i + k > n) k = n - i;
            int32_t id = k == 1 ? m->ascii_id[u[i]] : tok_smap_get(&m->pieces, w + i, k);
            if (id >= 0) {
                if (unk_pending) { s->id[ns] = m->o.unk_id; s->len[ns++] = unk_len; unk_pending = 0; }
                s->id[ns] = id;
                s->len[ns++] = (uint32_t)k;
            } else {
                bool done = false;
                if (m->o.byte_fallback) {
                    bool all = true;
                    for (size_t b = 0; b < k; b++) if (m->byte_id[u[i + b]] < 0) all = false;
                    if (all) {
                        for (size_t b = 0; b < k; b++) { s->id[ns] = m->byte_id[u[i + b]]; s->len[ns++] = 1; }
                        done = true;
                    }
                }
                if (!done && m->o.unk_id >= 0) {
                    if (unk_pending && m->o.fuse_unk) unk_len += (uint32_t)k;
                    else {
                        if (unk_pending) { s->id[ns] = m->o.unk_id; s->len[ns++] = unk_len; }
                        unk_pending = 1;
                        unk_len = (uint32_t)k;
                    }
                }
            }
            i += k;
        }
        if (unk_pending) { s->id[ns] = m->o.unk_id; s->len[ns++] = unk_len; }
    }
    for (int32_t i = 0; i < ns; i++) {
        s->prev[i] = i - 1;
        s->next[i] = i + 1 < ns ? i + 1 : -1;
    }
    if (ns >= 2) {
        for (int32_t i = 0; i < ns; i++) pair_at(m, s, i);
        if (ns <= 48) {
            /* short words: linear scan of the cached ranks for the lowest */
            for (;;) {
                uint32_t best = NO_RANK;
                int32_t bi = -1;
                for (int32_t i = 0; i >= 0; i = s->next[i])
                    if (s->rank[i] < best) best = s->rank[i], bi = i;
                if (bi < 0) break;
                merge_at(s, bi);
                pair_at(m, s, bi);
                if (s->prev[bi] >= 0) pair_at(m, s, s->prev[bi]);
            }
        } else {
            /* long words: a priority queue of (rank, position); an entry is
             * stale when the pair now at that position has another rank */
            size_t hcap = (size_t)ns * 3 + 16;
            if (hcap > s->hcap) {
                uint64_t *h = realloc(s->heap, hcap * sizeof *h);
                if (!h) return YS_ENOMEM;
                s->heap = h;
                s->hcap = hcap;
            }
            size_t hn = 0;
            for (int32_t i = 0; i + 1 < ns; i++)
                if (s->rank[i] != NO_RANK) heap_push(s->heap, &hn, ((uint64_t)s->rank[i] << 32) | (uint32_t)i);
            while (hn) {
                uint64_t top = heap_pop(s->heap, &hn);
                int32_t i = (int32_t)(top & 0xFFFFFFFFu);
                uint32_t r = (uint32_t)(top >> 32);
                if (s->len[i] == 0 || s->rank[i] != r) continue;
                merge_at(s, i);
                if (hn + 2 > s->hcap) {
                    uint64_t *h = realloc(s->heap, s->hcap * 2 * sizeof *h);
                    if (!h) return YS_ENOMEM;
                    s->heap = h;
                    s->hcap *= 2;
                }
                pair_at(m, s, i);
                if (s->rank[i] != NO_RANK) heap_push(s->heap, &hn, ((uint64_t)s->rank[i] << 32) | (uint32_t)i);
                int32_t p = s->prev[i];
                if (p >= 0) {
                    pair_at(m, s, p);
                    if (s->rank[p] != NO_RANK) heap_push(s->heap, &hn, ((uint64_t)s->rank[p] << 32) | (uint32_t)p);
                }
            }
        }
    }
    for (int32_t i = 0; ns && i >= 0; i = s->next[i])
        if (tok_ivec_push(out, s->id[i])) return YS_ENOMEM;
    return 0;
}
