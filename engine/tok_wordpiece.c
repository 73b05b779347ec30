/* tok_wordpiece.c — the WordPiece model (BERT): greedy longest-match-first
 * over the vocabulary, continuation pieces carrying a prefix ("##"); a word
 * with an unmatchable rest, or longer than max_input_chars_per_word
 * characters, becomes the single unk token, as in HF tokenizers. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct tok_wp {
    tok_smap vocab;
    tok_buf pool;          /* piece strings, id order of insertion */
    uint32_t *off, *len;   /* id -> piece in pool (len UINT32_MAX: none) */
    size_t nids, cap;
    char *prefix;
    size_t prefix_n, max_chars;
    size_t longest; /* bytes of the longest piece: longer candidates are not looked up */
    int32_t unk;
};

tok_wp *tok_wp_new(const char *prefix, size_t max_chars)
{
    tok_wp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->prefix = strdup(prefix ? prefix : "");
    if (!m->prefix) {
        free(m);
        return NULL;
    }
    m->prefix_n = strlen(m->prefix);
    m->max_chars = max_chars;
    m->unk = -1;
    return m;
}

int tok_wp_add_piece(tok_wp *m, const char *piece, size_t n, int32_t id)
{
    if (id < 0) return YS_EINPUT;
    if ((size_t)id >= m->nids) {
        size_t nn = (size_t)id + 1;
        if (nn > m->cap) {
            size_t c2 = m->cap ? m->cap : 1024;
            while (c2 < nn) c2 *= 2;
            uint32_t *o = realloc(m->off, c2 * sizeof *o);
            if (!o) return YS_ENOMEM;
            m->off = o;
            uint32_t *l = realloc(m->len, c2 * sizeof *l);
            if (!l) return YS_ENOMEM;
            m->len = l;
            for (size_t i = m->cap; i < c2; i++) m->len[i] = UINT32_MAX;
            m->cap = c2;
        }
        m->nids = nn;
    }
    if (n > m->longest) m->longest = n;
    m->off[id] = (uint32_t)m->pool.n;
    m->len[id] = (uint32_t)n;
    if (tok_buf_put(&m->pool, piece, n) || tok_buf_put(&m->pool, "", 1)) return YS_ENOMEM;
    return tok_smap_put(&m->vocab, piece, n, id) ? YS_ENOMEM : 0;
}

int tok_wp_finish(tok_wp *m, const char *unk, ys_error *err)
{
    m->unk = tok_smap_get(&m->vocab, unk, strlen(unk));
    if (m->unk < 0) return ys_fail(err, YS_EINPUT, "tokenizer: WordPiece unk_token '%s' is not in the vocabulary", unk);
    return 0;
}

void tok_wp_free(tok_wp *m)
{
    if (!m) return;
    tok_smap_free(&m->vocab);
    tok_buf_free(&m->pool);
    free(m->off);
    free(m->len);
    free(m->prefix);
    free(m);
}

int32_t tok_wp_n_ids(const tok_wp *m) { return (int32_t)m->nids; }

const char *tok_wp_piece(const tok_wp *m, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= m->nids || m->len[id] == UINT32_MAX) return NULL;
    if (len) *len = m->len[id];
    return m->pool.p + m->off[id];
}

int32_t tok_wp_lookup(const tok_wp *m, const char *piece, size_t n) { return tok_smap_get(&m->vocab, piece, n); }

int tok_wp_word(const tok_wp *m, const char *w, size_t n, tok_buf *scratch, tok_ivec *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)w[i] & 0xC0) != 0x80;
    if (chars > m->max_chars) return tok_ivec_push(out, m->unk) ? YS_ENOMEM : 0;
    size_t mark = out->n, start = 0;
    while (start < n) {
        /* a continuation candidate is prefix + w[start..end): keep
         * prefix + w[start..n) in scratch, each candidate is a head of it */
        const char *cand = w;
        size_t extra = 0;
        if (start > 0) {
            scratch->n = 0;
            if (tok_buf_put(scratch, m->prefix, m->prefix_n) || tok_buf_put(scratch, w + start, n - start))
                return YS_ENOMEM;
            cand = scratch->p;
            extra = m->prefix_n;
        }
        size_t end = n;
        int32_t id = -1;
        if (extra + end - start > m->longest) {
            end = start + (m->longest > extra ? m->longest - extra : 0);
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
        }
        while (start < end) {
            id = tok_smap_get(&m->vocab, cand, extra + end - start);
            if (id >= 0) break;
            do end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            out->n = mark;
            return tok_ivec_push(out, m->unk) ? YS_ENOMEM : 0;
        }
        if (tok_ivec_push(out, id)) return YS_ENOMEM;
        start = end;
    }
    return 0;
}
