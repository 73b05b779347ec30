/* tok_decode.c — the decode pipeline (ids to text through the
 * tokenizer.json decoder steps) and the accessors. Split from tokenizer.c,
 * which encodes; see tokenizer.h for the contract. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "tokenizer.h"

static const char *model_piece_str(const tok_tokenizer *t, int32_t id, size_t *len)
{
    if (t->model == M_WORDPIECE) return tok_wp_piece(t->wp, id, len);
    if (t->model == M_UNIGRAM) return tok_uni_piece(t->uni, id, len);
    return tok_bpe_piece(t->bpe, id, len);
}

typedef struct {
    tok_buf *t;
    size_t n, cap;
} toks;

static int toks_add(toks *v, const char *s, size_t n)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        tok_buf *p = realloc(v->t, cap * sizeof *p);
        if (!p) return YS_ENOMEM;
        v->t = p;
        v->cap = cap;
    }
    memset(&v->t[v->n], 0, sizeof v->t[v->n]);
    if (tok_buf_put(&v->t[v->n], s, n)) return YS_ENOMEM;
    v->n++;
    return 0;
}

static void toks_free(toks *v)
{
    for (size_t i = 0; i < v->n; i++) tok_buf_free(&v->t[i]);
    free(v->t);
    memset(v, 0, sizeof *v);
}

static int replace_all(tok_buf *out, const char *s, size_t n, const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, run = 0;
    if (tok_buf_put(out, "", 0)) return YS_ENOMEM;
    if (an)
        while (i + an <= n) {
            if (memcmp(s + i, a, an) == 0) {
                if (tok_buf_put(out, s + run, i - run) || tok_buf_put(out, b, bn)) return YS_ENOMEM;
                i += an;
                run = i;
            } else {
                i++;
            }
        }
    return tok_buf_put(out, s + run, n - run);
}

static int byte_token(const tok_buf *b)
{
    if (b->n != 6 || memcmp(b->p, "<0x", 3) != 0 || b->p[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = b->p[k];
        if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = v * 16 + (c - 'A' + 10);
        else return -1;
    }
    return v;
}

static int flush_bytes(toks *out, tok_buf *bytes)
{
    if (!bytes->n) return 0;
    int rc = 0;
    if (uni_invalid_at(bytes->p, bytes->n) == (size_t)-1) rc = toks_add(out, bytes->p, bytes->n);
    else
        for (size_t i = 0; i < bytes->n && !rc; i++) rc = toks_add(out, "\xEF\xBF\xBD", 3);
    bytes->n = 0;
    return rc;
}

static int decode_step(const dec_op *op, toks *in, toks *out)
{
    int rc = 0;
    switch (op->kind) {
    case D_BYTELEVEL: {
        tok_buf raw = {0}, s = {0};
        rc = tok_buf_put(&raw, "", 0);
        for (size_t i = 0; i < in->n && !rc; i++) {
            const unsigned char *u = (const unsigned char *)in->t[i].p;
            size_t n = in->t[i].n, j = 0, mark = raw.n;
            bool ok = true;
            while (j < n && !rc) {
                uint32_t cp;
                j += uni_decode_valid((const char *)u + j, &cp);
                int b = tok_cp_to_byte(cp);
                if (b < 0) { ok = false; break; }
                unsigned char ch = (unsigned char)b;
                rc = tok_buf_put(&raw, &ch, 1);
            }
            if (!ok) {
                raw.n = mark;
                rc = tok_buf_put(&raw, in->t[i].p, n);
            }
        }
        if (!rc) rc = tok_buf_put(&s, "", 0) || tok_utf8_lossy(&s, (const unsigned char *)raw.p, raw.n);
        if (!rc) rc = toks_add(out, s.p, s.n);
        tok_buf_free(&raw);
        tok_buf_free(&s);
        return rc;
    }
    case D_REPLACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            tok_buf b = {0};
            rc = replace_all(&b, in->t[i].p, in->t[i].n, op->a, op->an, op->b, op->bn);
            if (!rc) rc = toks_add(out, b.p, b.n);
            tok_buf_free(&b);
        }
        return rc;
    case D_BYTEFALLBACK: {
        tok_buf bytes = {0};
        for (size_t i = 0; i < in->n && !rc; i++) {
            int v = byte_token(&in->t[i]);
            if (v >= 0) {
                unsigned char ch = (unsigned char)v;
                rc = tok_buf_put(&bytes, &ch, 1);
            } else {
                rc = flush_bytes(out, &bytes);
                if (!rc) rc = toks_add(out, in->t[i].p, in->t[i].n);
            }
        }
        if (!rc) rc = flush_bytes(out, &bytes);
        tok_buf_free(&bytes);
        return rc;
    }
    case D_FUSE: {
        tok_buf b = {0};
        rc = tok_buf_put(&b, "", 0);
        for (size_t i = 0; i < in->n && !rc; i++) rc = tok_buf_put(&b, in->t[i].p, in->t[i].n);
        if (!rc) rc = toks_add(out, b.p, b.n);
        tok_buf_free(&b);
        return rc;
    }
    case D_STRIP:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *p = in->t[i].p;
            size_t a = 0, b = in->t[i].n;
            for (int k = 0; k < op->start && b - a >= op->chn && memcmp(p + a, op->ch, op->chn) == 0; k++) a += op->chn;
            for (int k = 0; k < op->stop && b - a >= op->chn && memcmp(p + b - op->chn, op->ch, op->chn) == 0; k++) b -= op->chn;
            rc = toks_add(out, p + a, b - a);
        }
        return rc;
    case D_WORDPIECE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            tok_buf x = {0}, y = {0};
            const char *p = in->t[i].p;
            size_t len = in->t[i].n;
            if (i && len >= op->an && memcmp(p, op->a, op->an) == 0) rc = tok_buf_put(&x, p + op->an, len - op->an);
            else rc = tok_buf_put(&x, i ? " " : "", i ? 1 : 0) || tok_buf_put(&x, p, len);
            if (!rc && op->cleanup) {
                /* HF's cleanup, the same replacements in the same order */
                static const char *const rep[][2] = {{" .", "."},     {" ?", "?"},   {" !", "!"},     {" ,", ","},
                                                     {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},
                                                     {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"},
                                                     {" 're", "'re"}};
                for (size_t r = 0; r < sizeof rep / sizeof rep[0] && !rc; r++) {
                    y.n = 0;
                    rc = replace_all(&y, x.p, x.n, rep[r][0], strlen(rep[r][0]), rep[r][1], strlen(rep[r][1]));
                    tok_buf tmp = x;
                    x = y;
                    y = tmp;
                }
            }
            if (!rc) rc = toks_add(out, x.p, x.n);
            tok_buf_free(&x);
            tok_buf_free(&y);
        }
        return rc;
    case D_METASPACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            tok_buf b = {0};
            /* as HF: every replacement character becomes a space, except
             * in the first token where (unless prepend_scheme is never)
             * they are all dropped */
            bool drop = i == 0 && op->prepend != PS_NEVER;
            rc = replace_all(&b, in->t[i].p, in->t[i].n, op->ch, op->chn, " ", drop ? 0 : 1);
            if (!rc) rc = toks_add(out, b.p, b.n);
            tok_buf_free(&b);
        }
        return rc;
    }
    return 0;
}

int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **text, ys_error *err)
{
    size_t len;
    return tok_decode_len(t, ids, n, skip_special, text, &len, err);
}

int tok_decode_len(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **text, size_t *len,
                   ys_error *err)
{
    *text = NULL;
    *len = 0;
    toks a = {0}, b = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->nids) continue;
        int32_t k = t->added_of_id[id];
        if (k >= 0) {
            if (skip_special && t->added[k].special) continue;
            rc = toks_add(&a, t->added[k].content, t->added[k].len);
        } else {
            size_t len;
            const char *p = model_piece_str(t, id, &len);
            if (p) rc = toks_add(&a, p, len);
        }
    }
    if (!rc && t->has_decoder) {
        for (size_t k = 0; k < t->ndec && !rc; k++) {
            rc = decode_step(&t->decs[k], &a, &b);
            toks tmp = a;
            a = b;
            b = tmp;
            toks_free(&b);
        }
    }
    tok_buf out = {0};
    if (!rc) rc = tok_buf_put(&out, "", 0);
    for (size_t i = 0; i < a.n && !rc; i++) {
        if (!t->has_decoder && i) rc = tok_buf_put(&out, " ", 1);
        if (!rc) rc = tok_buf_put(&out, a.t[i].p, a.t[i].n);
    }
    toks_free(&a);
    toks_free(&b);
    if (rc) {
        tok_buf_free(&out);
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    *text = out.p;
    *len = out.n;
    return 0;
}

/* ------------------------------------------------------------- accessors */
const char *tok_piece(const tok_tokenizer *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->nids) return NULL;
    if (t->added_of_id[id] >= 0) return t->added[t->added_of_id[id]].content;
    return model_piece_str(t, id, NULL);
}

int32_t tok_token_id(const tok_tokenizer *t, const char *piece)
{
    size_t n = strlen(piece);
    for (size_t i = 0; i < t->nadded; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, piece, n) == 0) return t->added[i].id;
    if (t->model == M_WORDPIECE) return tok_wp_lookup(t->wp, piece, n);
    if (t->model == M_UNIGRAM) return tok_uni_lookup(t->uni, piece, n);
    return tok_bpe_lookup(t->bpe, piece, n);
}

size_t tok_vocab_size(const tok_tokenizer *t) { return t->nids; }
int32_t tok_bos_id(const tok_tokenizer *t) { return t->bos; }
int32_t tok_eos_id(const tok_tokenizer *t) { return t->eos; }
int32_t tok_pad_id(const tok_tokenizer *t) { return t->pad; }

bool tok_is_special(const tok_tokenizer *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->nids || t->added_of_id[id] < 0) return false;
    return t->added[t->added_of_id[id]].special;
}

