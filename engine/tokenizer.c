/* tokenizer.c — the encode pipeline (added tokens, normalizers,
 * pre-tokenizers, model, post-processor) and long texts. Decoding and the
 * accessors are in tok_decode.c, loading in tok_load.c, the BPE model in
 * tok_bpe.c, NFC in tok_nfc.c. See tokenizer.h for the contract. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "tokenizer.h"

/* longest token starting at s[0..n), or -1; *len gets its length */
static int32_t trie_longest(const trie *t, const char *s, size_t n, size_t *len)
{
    int32_t best = -1, cur = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int32_t ch = t->nodes[cur].child;
        while (ch >= 0 && t->nodes[ch].byte != c) ch = t->nodes[ch].sibling;
        if (ch < 0) break;
        cur = ch;
        if (t->nodes[cur].tok >= 0) {
            best = t->nodes[cur].tok;
            *len = i + 1;
        }
    }
    return best;
}

/* ------------------------------------------------------ per-call context */
typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    char data[];
} arena_blk;

typedef struct {
    const char *p;
    size_t n;
    bool at_start;
} word;

typedef struct {
    word *v;
    size_t n, cap;
} words;

typedef struct {
    arena_blk *arena;
    words w[2];
    pcre2_match_data *md;
    tok_bpe_scratch bpe;
    tok_ivec ids;
    size_t *parts; /* split scratch: start, end, is_match triples */
    size_t nparts, cparts;
    tok_buf wp;          /* WordPiece scratch */
    tok_uni_scratch uni; /* Unigram scratch */
    /* HF's early stop under truncation (tokenize_with_limit): once a word
     * brings the sequence (ids from seq_start on) to limit tokens, the
     * remaining words and added tokens are dropped. Only words run through
     * the model trigger it; added tokens just count. */
    size_t limit, seq_start;
    bool stopped;
} ctx;

static char *arena_alloc(ctx *c, size_t n)
{
    if (!c->arena || c->arena->cap - c->arena->used < n) {
        /* blocks start small (most calls encode a short text) and double */
        size_t cap = c->arena ? 2 * c->arena->cap : 1024;
        if (cap > (1u << 20)) cap = 1u << 20;
        if (cap < n) cap = n;
        arena_blk *b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = c->arena;
        b->used = 0;
        b->cap = cap;
        c->arena = b;
    }
    char *p = c->arena->data + c->arena->used;
    c->arena->used += n;
    return p;
}

static void ctx_free(ctx *c)
{
    while (c->arena) {
        arena_blk *n = c->arena->next;
        free(c->arena);
        c->arena = n;
    }
    free(c->w[0].v);
    free(c->w[1].v);
    if (c->md) pcre2_match_data_free(c->md);
    tok_bpe_scratch_free(&c->bpe);
    tok_buf_free(&c->wp);
    tok_uni_scratch_free(&c->uni);
    free(c->ids.v);
    free(c->parts);
}

static int words_push(words *w, const char *p, size_t n, bool at_start)
{
    if (!n) return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        word *v = realloc(w->v, cap * sizeof *v);
        if (!v) return YS_ENOMEM;
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = (word){p, n, at_start};
    return 0;
}

static int parts_push(ctx *c, size_t s, size_t e, size_t m)
{
    if (c->nparts + 3 > c->cparts) {
        size_t cap = c->cparts ? c->cparts * 2 : 192;
        size_t *p = realloc(c->parts, cap * sizeof *p);
        if (!p) return YS_ENOMEM;
        c->parts = p;
        c->cparts = cap;
    }
    c->parts[c->nparts++] = s;
    c->parts[c->nparts++] = e;
    c->parts[c->nparts++] = m;
    return 0;
}

/* Split one word by a regex with HF's SplitDelimiterBehavior. */
static int split_word(const pre_op *op, ctx *c, const word *w, int behavior, bool invert, words *out,
                      ys_error *err)
{
    c->nparts = 0;
    size_t prev = 0, pos = 0;
    PCRE2_SPTR subj = (PCRE2_SPTR)w->p;
    while (pos <= w->n) {
        int rc;
        if (op->jit) {
            rc = pcre2_jit_match(op->re, subj, w->n, pos, 0, c->md, NULL);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                rc = pcre2_match(op->re, subj, w->n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, c->md, NULL);
        } else {
            rc = pcre2_match(op->re, subj, w->n, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return ys_fail(err, YS_EINPUT, "tokenizer: regex match failed (PCRE2 error %d)", rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t s = ov[0], e = ov[1];
        if (prev != s && parts_push(c, prev, s, 0)) return YS_ENOMEM;
        if (parts_push(c, s, e, 1)) return YS_ENOMEM;
        prev = e;
        if (e == s) {
            /* empty match: step over one character */
            if (e >= w->n) break;
            pos = e + 1;
            while (pos < w->n && ((unsigned char)w->p[pos] & 0xC0) == 0x80) pos++;
        } else {
            pos = e;
        }
    }
    if (prev != w->n && parts_push(c, prev, w->n, 0)) return YS_ENOMEM;
    size_t np = c->nparts / 3;
    size_t *P = c->parts;
    if (invert)
        for (size_t i = 0; i < np; i++) P[3 * i + 2] = !P[3 * i + 2];
    /* fold into pieces (in place: pieces never outnumber parts) */
    size_t k = 0;
    switch (behavior) {
    case B_REMOVED:
        for (size_t i = 0; i < np; i++)
            if (!P[3 * i + 2]) P[3 * k] = P[3 * i], P[3 * k + 1] = P[3 * i + 1], k++;
        break;
    case B_ISOLATED:
        for (size_t i = 0; i < np; i++) P[3 * k] = P[3 * i], P[3 * k + 1] = P[3 * i + 1], k++;
        break;
    case B_CONTIGUOUS: {
        bool prev_match = false;
        for (size_t i = 0; i < np; i++) {
            bool m = P[3 * i + 2];
            if (m && prev_match && k) P[3 * (k - 1) + 1] = P[3 * i + 1];
            else P[3 * k] = P[3 * i], P[3 * k + 1] = P[3 * i + 1], k++;
            prev_match = m;
        }
        break;
    }
    case B_MERGED_PREV: {
        bool prev_match = false;
        for (size_t i = 0; i < np; i++) {
            bool m = P[3 * i + 2];
            if (m && !prev_match && k) P[3 * (k - 1) + 1] = P[3 * i + 1];
            else P[3 * k] = P[3 * i], P[3 * k + 1] = P[3 * i + 1], k++;
            prev_match = m;
        }
        break;
    }
    case B_MERGED_NEXT: {
        /* fold from the right: a match is glued to the piece after it */
        bool prev_match = false;
        size_t top = np; /* pieces stored at the end, growing down */
        for (size_t ii = np; ii-- > 0;) {
            bool m = P[3 * ii + 2];
            size_t s = P[3 * ii], e = P[3 * ii + 1];
            if (m && !prev_match && top < np) P[3 * top] = s;
            else {
                top--;
                P[3 * top] = s;
                P[3 * top + 1] = e;
            }
            prev_match = m;
        }
        for (size_t i = top; i < np; i++) P[3 * k] = P[3 * i], P[3 * k + 1] = P[3 * i + 1], k++;
        break;
    }
    }
    for (size_t i = 0; i < k; i++) {
        size_t s = P[3 * i], e = P[3 * i + 1];
        if (words_push(out, w->p + s, e - s, w->at_start && s == 0)) return YS_ENOMEM;
    }
    return 0;
}

/* WhitespaceSplit (whitespace removed) and BertPreTokenizer (whitespace
 * removed, then every punctuation character a word of its own) */
static int split_ws_punct(const word *w, bool punct, words *out)
{
    const unsigned char *u = (const unsigned char *)w->p;
    size_t start = 0, i = 0;
    while (i < w->n) {
        uint32_t cp;
        size_t l = uni_decode_valid((const char *)u + i, &cp);
        bool ws = uni_is_white_space(cp), pu = !ws && punct && tok_is_bert_punct(cp);
        if (ws || pu) {
            if (i > start && words_push(out, w->p + start, i - start, w->at_start && start == 0)) return YS_ENOMEM;
            if (pu && words_push(out, w->p + i, l, w->at_start && i == 0)) return YS_ENOMEM;
            start = i + l;
        }
        i += l;
    }
    if (w->n > start && words_push(out, w->p + start, w->n - start, w->at_start && start == 0)) return YS_ENOMEM;
    return 0;
}

static int apply_pre(const tok_tokenizer *t, ctx *c, const pre_op *op, const word *w, words *out, ys_error *err)
{
    switch (op->kind) {
    case P_BERT:
        return split_ws_punct(w, true, out);
    case P_WSSPLIT:
        return split_ws_punct(w, false, out);
    case P_SPLIT:
        return split_word(op, c, w, op->behavior, op->invert, out, err);
    case P_BYTELEVEL: {
        word x = *w;
        if (op->add_prefix_space && x.p[0] != ' ') {
            char *p = arena_alloc(c, x.n + 1);
            if (!p) return YS_ENOMEM;
            p[0] = ' ';
            memcpy(p + 1, x.p, x.n);
            x.p = p;
            x.n++;
        }
        if (op->use_regex) return split_word(op, c, &x, B_ISOLATED, false, out, err);
        return words_push(out, x.p, x.n, x.at_start);
    }
    case P_METASPACE: {
        size_t spaces = 0;
        for (size_t i = 0; i < w->n; i++) spaces += w->p[i] == ' ';
        bool starts = false;
        size_t rn = op->repl_n;
        if (w->p[0] == ' ') starts = true;
        else if (w->n >= rn && memcmp(w->p, op->repl, rn) == 0) starts = true;
        bool pre = !starts && (op->prepend == PS_ALWAYS || (op->prepend == PS_FIRST && w->at_start));
        size_t n = w->n + spaces * (rn - 1) + (pre ? rn : 0);
        char *p = arena_alloc(c, n);
        if (!p) return YS_ENOMEM;
        size_t k = 0;
        if (pre) memcpy(p, op->repl, rn), k = rn;
        for (size_t i = 0; i < w->n; i++) {
            if (w->p[i] == ' ') memcpy(p + k, op->repl, rn), k += rn;
            else p[k++] = w->p[i];
        }
        if (!op->split) return words_push(out, p, n, w->at_start);
        /* MergedWithNext on the replacement string */
        size_t start = 0;
        for (size_t i = 0; i + rn <= n;) {
            if (memcmp(p + i, op->repl, rn) == 0) {
                if (i > start && words_push(out, p + start, i - start, w->at_start && start == 0)) return YS_ENOMEM;
                start = i;
                i += rn;
            } else {
                i++;
            }
        }
        return words_push(out, p + start, n - start, w->at_start && start == 0);
    }
    }
    (void)t;
    return 0;
}

/* pre-tokenize a normalized piece and run the model on every word */
static int model_piece(const tok_tokenizer *t, ctx *c, const char *s, size_t n, bool at_start, ys_error *err)
{
    if (!n) return 0;
    c->w[0].n = 0;
    if (words_push(&c->w[0], s, n, at_start)) return YS_ENOMEM;
    int cur = 0;
    for (size_t k = 0; k < t->npre; k++) {
        words *out = &c->w[!cur];
        out->n = 0;
        for (size_t i = 0; i < c->w[cur].n; i++) {
            word w = c->w[cur].v[i];
            int rc = apply_pre(t, c, &t->pres[k], &w, out, err);
            if (rc) return rc;
        }
        cur = !cur;
    }
    for (size_t i = 0; i < c->w[cur].n; i++) {
        const word *w = &c->w[cur].v[i];
        if (c->stopped) return 0;
        int rc;
        if (t->model == M_WORDPIECE) rc = tok_wp_word(t->wp, w->p, w->n, &c->wp, &c->ids);
        else if (t->model == M_UNIGRAM) rc = tok_uni_word(t->uni, w->p, w->n, &c->uni, &c->ids);
        else rc = tok_bpe_word(t->bpe, w->p, w->n, &c->bpe, &c->ids);
        if (rc == YS_EINPUT) return ys_fail(err, YS_EINPUT, "tokenizer: unknown piece and the Unigram model has no unk_id");
        if (rc) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        if (c->ids.n - c->seq_start >= c->limit) c->stopped = true;
    }
    return 0;
}

int tok_normalize_buf(const tok_tokenizer *t, const char *s, size_t n, tok_buf *out, size_t *lead_cut)
{
    size_t cut = 0;
    tok_buf cur = *out, nxt = {0};
    cur.n = 0;
    int rc = tok_buf_put(&cur, s, n);
    for (size_t k = 0; !rc && k < t->nnorm; k++) {
        const norm_op *op = &t->norms[k];
        nxt.n = 0;
        switch (op->kind) {
        case N_PREPEND:
            if (cur.n) rc = tok_buf_put(&nxt, op->a, op->an) || tok_buf_put(&nxt, cur.p, cur.n);
            else rc = tok_buf_put(&nxt, "", 0);
            break;
        case N_REPLACE: {
            size_t i = 0, run = 0;
            rc = tok_buf_put(&nxt, "", 0);
            if (!op->an) { rc = tok_buf_put(&nxt, cur.p, cur.n); break; }
            while (!rc && i + op->an <= cur.n) {
                if (memcmp(cur.p + i, op->a, op->an) == 0) {
                    rc = tok_buf_put(&nxt, cur.p + run, i - run) || tok_buf_put(&nxt, op->b, op->bn);
                    i += op->an;
                    run = i;
                } else {
                    i++;
                }
            }
            if (!rc) rc = tok_buf_put(&nxt, cur.p + run, cur.n - run);
            break;
        }
        case N_NFC:
            rc = tok_buf_put(&nxt, "", 0) || tok_nfc_append(&nxt, cur.p, cur.n);
            break;
        case N_NFD:
            rc = tok_buf_put(&nxt, "", 0) || tok_nfd_append(&nxt, cur.p, cur.n);
            break;
        case N_BERT:
            rc = tok_bert_normalize(&op->bert, cur.p, cur.n, &nxt);
            break;
        case N_LOWERCASE: {
            tok_bert_norm lc = {false, false, false, true};
            rc = tok_bert_normalize(&lc, cur.p, cur.n, &nxt);
            break;
        }
        case N_STRIP_ACCENTS: /* drops every combining mark (M*); no NFD of its own */
            rc = tok_buf_put(&nxt, "", 0);
            for (size_t i = 0; i < cur.n && !rc;) {
                uint32_t cp;
                size_t l = uni_decode_valid(cur.p + i, &cp);
                if (!tok_is_mark(cp)) rc = tok_buf_put(&nxt, cur.p + i, l);
                i += l;
            }
            break;
        case N_PRECOMPILED:
            rc = tok_charsmap_apply(op->cmap, cur.p, cur.n, &nxt);
            break;
        case N_STRIP: {
            size_t a = 0, b = cur.n;
            const unsigned char *u = (const unsigned char *)cur.p;
            if (op->left)
                while (a < b) {
                    uint32_t cp;
                    size_t l = uni_decode_valid((const char *)u + a, &cp);
                    if (!uni_is_white_space(cp)) break;
                    a += l;
                }
            if (op->right)
                while (b > a) {
                    size_t j = b - 1;
                    while (j > a && (u[j] & 0xC0) == 0x80) j--;
                    uint32_t cp;
                    uni_decode_valid((const char *)u + j, &cp);
                    if (!uni_is_white_space(cp)) break;
                    b = j;
                }
            rc = tok_buf_put(&nxt, cur.p + a, b - a);
            cut += a;
            break;
        }
        }
        tok_buf tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    *out = cur;
    if (lead_cut) *lead_cut = cut;
    tok_buf_free(&nxt);
    return rc ? YS_ENOMEM : 0;
}

/* *cut: bytes Strip removed from the front (the normalized text then no
 * longer starts at the piece's original offset) */
static int normalize(const tok_tokenizer *t, ctx *c, const char *s, size_t n, const char **out, size_t *on,
                     size_t *cut)
{
    *out = s;
    *on = n;
    *cut = 0;
    if (!t->nnorm) return 0;
    tok_buf b = {0};
    int rc = tok_normalize_buf(t, s, n, &b, cut);
    if (!rc) {
        char *p = arena_alloc(c, b.n + 1);
        if (!p) rc = YS_ENOMEM;
        else {
            if (b.n) memcpy(p, b.p, b.n);
            *out = p;
            *on = b.n;
        }
    }
    tok_buf_free(&b);
    return rc ? YS_ENOMEM : 0;
}

static bool is_word_char_before(const char *s, size_t i)
{
    if (!i) return false;
    size_t j = i - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    unsigned char c = (unsigned char)s[j];
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_word_char_at(const char *s, size_t n, size_t i)
{
    if (i >= n) return false;
    unsigned char c = (unsigned char)s[i];
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Split s by the added tokens of trie tr; text pieces go to fn. */
typedef int (*piece_fn)(const tok_tokenizer *t, ctx *c, const char *s, size_t n, size_t off, ys_error *err);

static int split_added(const tok_tokenizer *t, ctx *c, const trie *tr, const char *s, size_t n, size_t base,
                       piece_fn fn, ys_error *err)
{
    size_t start_off = 0, i = 0;
    int rc;
    if (tr->nodes && tr->n > 1) {
        while (i < n) {
            unsigned char b = (unsigned char)s[i];
            if (!(tr->first[b >> 3] & (1u << (b & 7)))) { i++; continue; }
            size_t len = 0;
            int32_t k = trie_longest(tr, s + i, n - i, &len);
            if (k < 0) { i++; continue; }
            const added_tok *a = &t->added[k];
            size_t start = i, stop = i + len;
            if (a->single_word && (is_word_char_before(s, start) || is_word_char_at(s, n, stop))) { i++; continue; }
            if (a->lstrip) {
                size_t ns = start;
                while (ns > start_off) {
                    size_t j = ns - 1;
                    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
                    uint32_t cp;
                    uni_decode_valid(s + j, &cp);
                    if (!uni_is_white_space(cp)) break;
                    ns = j;
                }
                start = ns;
            }
            size_t next = stop;
            if (a->rstrip)
                while (stop < n) {
                    uint32_t cp;
                    size_t l = uni_decode_valid(s + stop, &cp);
                    if (!uni_is_white_space(cp)) break;
                    stop += l;
                }
            if (start > start_off && (rc = fn(t, c, s + start_off, start - start_off, base + start_off, err))) return rc;
            if (c->stopped) return 0;
            if (tok_ivec_push(&c->ids, a->id)) return YS_ENOMEM;
            start_off = stop;
            i = next > stop ? next : stop;
        }
    }
    if (start_off < n || n == 0) return fn(t, c, s + start_off, n - start_off, base + start_off, err);
    return 0;
}

static int normed_piece(const tok_tokenizer *t, ctx *c, const char *s, size_t n, size_t off, ys_error *err)
{
    return model_piece(t, c, s, n, off == 0, err);
}

static int raw_piece(const tok_tokenizer *t, ctx *c, const char *s, size_t n, size_t off, ys_error *err)
{
    const char *ns;
    size_t nn, cut;
    if (normalize(t, c, s, n, &ns, &nn, &cut)) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    /* offsets are only compared with 0 (Metaspace prepend_scheme "first":
     * does the piece start at the start of the original text?) */
    return split_added(t, c, &t->normed, ns, nn, off + cut, normed_piece, err);
}

/* HF's TruncationStrategy::LongestFirst for a pair, m tokens in all: the
 * shorter side keeps what it can up to half, the longer one the rest */
static void longest_first(size_t *na, size_t *nb, size_t m)
{
    size_t n1 = *na, n2 = *nb;
    bool swap = n1 > n2;
    if (swap) n1 = *nb, n2 = *na;
    n2 = n1 > m ? n1 : (n1 > m - n1 ? n1 : m - n1);
    if (n1 + n2 > m) {
        n1 = m / 2;
        n2 = n1 + m % 2;
    }
    if (swap) {
        size_t x = n1;
        n1 = n2;
        n2 = x;
    }
    if (*na > n1) *na = n1;
    if (*nb > n2) *nb = n2;
}

static int check_text(const char *s, size_t len, const char *what, ys_error *err)
{
    if (!s && len) return ys_fail(err, YS_EUSAGE, "tok_encode: %s is NULL", what);
    size_t bad = uni_invalid_at(s ? s : "", len);
    if (bad != (size_t)-1) return ys_fail(err, YS_EINPUT, "tok_encode: invalid UTF-8 in %s at byte %zu", what, bad);
    return 0;
}

int tok_encode_pair(const tok_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                    bool add_special_tokens, size_t max_length, int32_t **ids, int32_t **type_ids, size_t *n,
                    ys_error *err)
{
    *ids = NULL;
    if (type_ids) *type_ids = NULL;
    *n = 0;
    int rc = check_text(a, alen, "text", err);
    if (!rc && b) rc = check_text(b, blen, "second text", err);
    if (rc) return rc;
    ctx c;
    memset(&c, 0, sizeof c);
    c.limit = max_length ? max_length : SIZE_MAX;
    c.md = pcre2_match_data_create(2, NULL);
    rc = c.md ? 0 : ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    if (!rc) rc = split_added(t, &c, &t->raw, a ? a : "", alen, 0, raw_piece, err);
    size_t na = c.ids.n, nb = 0;
    if (!rc && b) {
        c.seq_start = na;
        c.stopped = false;
        rc = split_added(t, &c, &t->raw, blen ? b : "", blen, 0, raw_piece, err);
        nb = c.ids.n - na;
    }
    const tmpl *tp = b ? &t->pair : &t->single;
    if (!rc && max_length) {
        /* room left for the sequences once the special tokens are counted;
         * when the specials alone exceed max_length HF's unsigned
         * subtraction wraps around and nothing more is cut (the early stop
         * above still applied), which we reproduce */
        size_t added = add_special_tokens ? tp->nspecial : 0;
        if (added <= max_length) {
            size_t m = max_length - added;
            if (m == 0) na = nb = 0;
            else if (na + nb > m) {
                if (b) longest_first(&na, &nb, m);
                else na = m;
            }
        }
    }
    int32_t *out = NULL, *ty = NULL;
    size_t k = 0;
    if (!rc) {
        /* what the template writes: a template may name a sequence more
         * than once (a TemplateProcessing "single": [A, A] is valid JSON
         * and HF repeats the text), so count its pieces, not na + nb */
        size_t cap = 1;
        for (size_t i = 0; i < tp->n; i++)
            cap += tp->v[i].seq < 0 ? 1 : tp->v[i].seq ? nb : na;
        out = malloc(cap * sizeof *out);
        ty = malloc(cap * sizeof *ty);
        if (!out || !ty) rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; !rc && i < tp->n; i++) {
        const tmpl_piece *p = &tp->v[i];
        if (p->seq < 0) {
            if (!add_special_tokens) continue;
            out[k] = p->id;
            ty[k++] = p->type_id;
            continue;
        }
        size_t len = p->seq ? nb : na;
        if (!len)
            continue; /* an empty text has no id array to offset */
        const int32_t *src = c.ids.v + (p->seq ? c.seq_start : 0);
        for (size_t j = 0; j < len; j++) {
            out[k] = src[j];
            ty[k++] = p->type_id;
        }
    }
    if (rc) {
        if (rc == YS_ENOMEM) ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        free(out);
        free(ty);
        ctx_free(&c);
        return rc;
    }
    ctx_free(&c);
    *ids = out;
    *n = k;
    if (type_ids) *type_ids = ty;
    else free(ty);
    return 0;
}

int tok_encode(const tok_tokenizer *t, const char *text, size_t len, bool add_special_tokens, int32_t **ids,
               size_t *n, ys_error *err)
{
    return tok_encode_pair(t, text, len, NULL, 0, add_special_tokens, 0, ids, NULL, n, err);
}

/* ---- long texts (tokenizer.h) ----------------------------------------- */

/* The ids of text[0, n), a piece of a longer text at byte offset `base` (so
 * Metaspace's prepend "first" sees it as the start of the text only when
 * base is 0), appended to v; no special tokens. */
static int encode_piece(const tok_tokenizer *t, const char *s, size_t n, size_t base, tok_ivec *v, ys_error *err)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.limit = SIZE_MAX;
    c.md = pcre2_match_data_create(2, NULL);
    int rc = c.md ? 0 : ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    if (!rc) rc = split_added(t, &c, &t->raw, n ? s : "", n, base, raw_piece, err);
    for (size_t i = 0; !rc && i < c.ids.n; i++)
        if (tok_ivec_push(v, c.ids.v[i])) rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    if (rc == YS_ENOMEM) ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    ctx_free(&c);
    return rc;
}

/* 1 when b is a token boundary of text by the check of tokenizer.h, 0 when
 * not, <0 on error. */
static int boundary_ok(const tok_tokenizer *t, const char *s, size_t n, size_t b, ys_error *err)
{
    size_t lo = b > TOK_CUT_MARGIN ? b - TOK_CUT_MARGIN : 0, hi = n - b > TOK_CUT_MARGIN ? b + TOK_CUT_MARGIN : n;
    while (lo > 0 && ((unsigned char)s[lo] & 0xC0) == 0x80) lo--;
    while (hi < n && ((unsigned char)s[hi] & 0xC0) == 0x80) hi++;
    tok_ivec whole = {0}, left = {0};
    int rc = encode_piece(t, s + lo, hi - lo, lo, &whole, err);
    if (!rc) rc = encode_piece(t, s + lo, b - lo, lo, &left, err);
    if (!rc) rc = encode_piece(t, s + b, hi - b, b, &left, err);
    int ok = !rc && whole.n == left.n && (!whole.n || !memcmp(whole.v, left.v, whole.n * sizeof *whole.v));
    free(whole.v);
    free(left.v);
    return rc ? rc : ok;
}

/* A cut at or before `want` (and after `floor`) that boundary_ok accepts:
 * after a newline, else after a space, else at a character boundary; a
 * few tries of each. 0 when none is found. */
static int find_cut(const tok_tokenizer *t, const char *s, size_t n, size_t floor, size_t want, size_t *cut,
                    ys_error *err)
{
    *cut = 0;
    for (int kind = 0; kind < 3; kind++) {
        size_t b = want;
        for (int tries = 0; tries < 4 && b > floor; tries++) {
            while (b > floor && !(kind == 0 ? s[b - 1] == '\n'
                                  : kind == 1 ? s[b - 1] == ' '
                                              : ((unsigned char)s[b] & 0xC0) != 0x80))
                b--;
            if (b <= floor) break;
            int ok = boundary_ok(t, s, n, b, err);
            if (ok < 0) return ok;
            if (ok) {
                *cut = b;
                return 0;
            }
            b--;
        }
    }
    return 0;
}

int tok_encode_long(const tok_tokenizer *t, const char *text, size_t len, bool add_special_tokens, int32_t **ids,
                    size_t *n, ys_error *err)
{
    if (len <= 2 * (size_t)TOK_CHUNK) return tok_encode(t, text, len, add_special_tokens, ids, n, err);
    *ids = NULL;
    *n = 0;
    int rc = check_text(text, len, "text", err);
    if (rc) return rc;
    tok_ivec v = {0};
    const tmpl *tp = &t->single;
    for (size_t i = 0; add_special_tokens && !rc && i < tp->n && tp->v[i].seq < 0; i++)
        if (tok_ivec_push(&v, tp->v[i].id)) rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    size_t at = 0;
    while (!rc && at < len) {
        size_t end = len;
        if (len - at > 2 * (size_t)TOK_CHUNK) {
            rc = find_cut(t, text, len, at + TOK_CHUNK / 2, at + TOK_CHUNK, &end, err);
            if (!rc && !end) {
                /* no accepted cut near here: try further on, before giving up
                 * on cutting (the rest is then one piece) */
                rc = find_cut(t, text, len, at + TOK_CHUNK, at + 2 * TOK_CHUNK, &end, err);
                if (!rc && !end) end = len;
            }
        }
        if (!rc) rc = encode_piece(t, text + at, end - at, at, &v, err);
        at = end;
    }
    bool after = false;
    for (size_t i = 0; add_special_tokens && !rc && i < tp->n; i++) {
        if (tp->v[i].seq >= 0) after = true;
        else if (after && tok_ivec_push(&v, tp->v[i].id)) rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    if (rc) {
        free(v.v);
        return rc;
    }
    if (!v.v && !(v.v = malloc(sizeof *v.v))) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    *ids = v.v;
    *n = v.n;
    return 0;
}

int tok_encode_from(const tok_tokenizer *t, const char *text, size_t len, size_t start, int32_t **ids, size_t *n,
                    ys_error *err)
{
    *ids = NULL;
    *n = 0;
    if (start > len) return ys_fail(err, YS_EUSAGE, "tok_encode_from: start %zu beyond the text", start);
    /* a cut inside a character is declined before the tail is checked as
     * UTF-8 text: the tail alone starts with a continuation byte */
    if (start > 0 && start < len && ((unsigned char)text[start] & 0xC0) == 0x80) return 0;
    int rc = check_text(text + start, len - start, "text", err);
    if (rc) return rc;
    if (start > 0) {
        int ok = boundary_ok(t, text, len, start, err);
        if (ok <= 0) return ok;
    }
    tok_ivec v = {0};
    rc = encode_piece(t, text + start, len - start, start, &v, err);
    if (rc) {
        free(v.v);
        return rc;
    }
    if (!v.v && !(v.v = malloc(sizeof *v.v))) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    *ids = v.v;
    *n = v.n;
    return 1;
}
