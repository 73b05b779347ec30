/* seq2seq.c — T5, BART and Marian encoder-decoders in fp32: the encoder
 * and the decoder of one sequence for generation (a self-attention KV
 * cache, the cross-attention K/V of the source computed once), then
 * scoring, which runs the same layers over the rows of many pairs at once.
 * Loading (configuration, weight binding, packing for gemm.h) is in
 * seq2seq_load.c, the decoding strategies (greedy, beam search, logits
 * processors) in seq2seq_gen.c, the shared internals in
 * seq2seq_internal.h.
 *
 * Shapes: S = source tokens, T = decoder tokens in this call, d = d_model,
 * nh heads of hd dims, inner = nh*hd (T5's d_kv may make inner != d),
 * F = MLP width, V = vocabulary. Activations are row-major [rows, width].
 * What the three families share is one block structure; they differ in
 * where the norm sits (T5 before each sub-layer, BART/Marian after the
 * residual add), in the embedding (positions, scaling) and in T5's
 * relative position bias. */
#include "seq2seq_internal.h"
#include "vmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building blocks ----------------------------------------------------- */

/* y[n, w->out] (+)= act(x[n, w->k] W^T + b) through gemm.h: each element is
 * a fixed fma sequence whatever n and the pool, so a row's numbers do not
 * depend on how many rows (tokens, sequences, beams) share the call. */
static void linear(const s2s_exe *ex, const float *x, size_t n, const gm_weights *w, const float *b, float *y,
                   int acc, gm_act act)
{
    gm_call g = {.x = x, .ldx = w->k, .w = w, .bias = b, .y = y, .ldy = w->out, .n = n, .accumulate = acc,
                 .act = act};
    gm_run(ex->pool, &g);
}

/* T5's norm (RMS, no bias) or BART's LayerNorm, row by row; out may be x.
 * The RMS norm rounds x * inv * w once (kn_rmsnorm rounds x * inv, then
 * the product with w): one rounding fewer on the input of every T5
 * projection. */
static void norm_rows(const s2s_model *m, float *out, const float *x, size_t T, const norm_w *w)
{
    size_t d = (size_t)m->info.d_model;
    for (size_t t = 0; t < T; t++) {
        if (m->arch == ARCH_T5) {
            const float *r = x + t * d;
            double ss = 0;
            for (size_t i = 0; i < d; i++)
                ss += (double)r[i] * r[i];
            double inv = 1.0 / sqrt(ss / (double)d + m->eps);
            for (size_t i = 0; i < d; i++)
                out[t * d + i] = (float)((double)r[i] * inv * w->w[i]);
        } else
            kn_layernorm(out + t * d, x + t * d, w->w, w->b, d, m->eps);
    }
}

/* norm_rows over many rows, shared over the pool in blocks of NORM_ROWS
 * (each row's result is the same whoever computes it). */
#define NORM_ROWS 64

typedef struct norm_ctx {
    const s2s_model *m;
    float *out;
    const float *x;
    size_t T;
    const norm_w *w;
} norm_ctx;

static void norm_item(void *vctx, size_t item, int worker)
{
    (void)worker;
    const norm_ctx *c = vctx;
    size_t d = (size_t)c->m->info.d_model, r0 = item * NORM_ROWS;
    size_t r1 = r0 + NORM_ROWS < c->T ? r0 + NORM_ROWS : c->T;
    norm_rows(c->m, c->out + r0 * d, c->x + r0 * d, r1 - r0, c->w);
}

static void norm_pool(const s2s_model *m, const s2s_exe *ex, float *out, const float *x, size_t T, const norm_w *w)
{
    norm_ctx c = {m, out, x, T, w};
    kn_pool_run(ex->pool, (T + NORM_ROWS - 1) / NORM_ROWS, norm_item, &c);
}

/* HF's _relative_position_bucket for rel = key - query, in float32 where HF
 * is (its bucket boundaries follow that rounding). */
static int t5_bucket(long rel, int bidirectional, int nb, int maxdist)
{
    int ret = 0;
    long n;
    if (bidirectional) {
        nb /= 2;
        if (rel > 0)
            ret = nb;
        n = rel < 0 ? -rel : rel;
    } else {
        n = rel < 0 ? -rel : 0;
    }
    int exact = nb / 2;
    if (n < exact)
        return ret + (int)n;
    float f = logf((float)n / (float)exact) / (float)log((double)maxdist / exact) * (float)(nb - exact);
    long large = exact + (long)f;
    return ret + (int)(large < nb - 1 ? large : nb - 1);
}

/* The bias table for queries at positions [q0, q0 + Tq) against keys
 * [0, Tk): pb[h * len + (key - query + off)], off = q0 + Tq - 1. */
static float *t5_bias_table(const s2s_model *m, const float *rel_w, int bidirectional, size_t q0, size_t Tq,
                            size_t Tk, size_t *len, long *off)
{
    int nh = m->info.heads;
    *off = (long)(q0 + Tq - 1);
    *len = (size_t)*off + Tk;
    float *pb = malloc((size_t)nh * *len * sizeof *pb);
    for (size_t i = 0; pb && i < *len; i++) {
        int b = t5_bucket((long)i - *off, bidirectional, m->nbuckets, m->maxdist);
        for (int h = 0; h < nh; h++)
            pb[(size_t)h * *len + i] = rel_w[(size_t)b * nh + h];
    }
    return pb;
}

/* ---- attention --------------------------------------------------------------
 * One work item = one sequence x one head x one tile of KN_ROWS query rows:
 * scores = scale * Q K^T (one sgemm), plus T5's position bias, causal mask,
 * softmax (masked weights exactly 0), out = P V (one sgemm). The items of
 * several sequences (the pairs of a scoring group) share one pool run; a
 * sequence's items are the same calls whatever else runs with them. */

typedef struct attn_seq {
    const float *q, *k, *v;   /* q [Tq, inner]; k, v [Tk, inner] */
    float *out;               /* [Tq, inner] */
    size_t Tq, Tk, q0;        /* query i sits at position q0 + i */
    const float *pb;          /* T5 bias table or NULL */
    size_t pb_len;
    long pb_off;
} attn_seq;

typedef struct attn_ctx {
    s2s_model *m;
    const attn_seq *seq;
    const size_t *first;      /* [nseq + 1]: sequence i owns items [first[i], first[i + 1]) */
    size_t nseq;
    int causal;
    float scale;
    float **scores;           /* per worker: KN_ROWS * max Tk */
} attn_ctx;

static void attn_tile(void *vctx, size_t item, int worker)
{
    const attn_ctx *c = vctx;
    size_t lo = kn_item_owner(c->first, c->nseq, item);   /* the sequence owning item */
    const attn_seq *a = &c->seq[lo];
    item -= c->first[lo];
    size_t nrt = (a->Tq + KN_ROWS - 1) / KN_ROWS;
    size_t hd = (size_t)c->m->hd, inner = (size_t)c->m->inner, h = item / nrt;
    size_t r0 = (item % nrt) * KN_ROWS, r1 = r0 + KN_ROWS < a->Tq ? r0 + KN_ROWS : a->Tq;
    kn_attn t = {.q = a->q + r0 * inner + h * hd, .k = a->k + h * hd, .v = a->v + h * hd,
                 .out = a->out + r0 * inner + h * hd, .ldq = inner, .ldkv = inner, .ldo = inner,
                 .rows = r1 - r0, .nk = c->causal ? a->q0 + r1 : a->Tk, .hd = hd, .scale = c->scale,
                 .causal = c->causal, .pos0 = a->q0 + r0};
    if (a->pb) {   /* T5: row i (position q0 + r0 + i) reads the bias row at offset pb_off - position */
        t.bias = a->pb + h * a->pb_len + (a->pb_off - (long)(a->q0 + r0));
        t.bias_ld = -1;
    }
    kn_attn_tile(&c->m->blas, &t, c->scores[worker]);
}

/* The attention of n sequences in one pool run. */
static int attend_many(s2s_model *m, const s2s_exe *ex, const attn_seq *seq, size_t n, int causal)
{
    size_t nthr = (size_t)kn_pool_threads(ex->pool), maxk = 1;
    size_t *first = malloc((n + 1) * sizeof *first);
    if (!first)
        return YS_ENOMEM;
    first[0] = 0;
    for (size_t i = 0; i < n; i++) {
        first[i + 1] = first[i] + (size_t)m->info.heads * ((seq[i].Tq + KN_ROWS - 1) / KN_ROWS);
        maxk = seq[i].Tk > maxk ? seq[i].Tk : maxk;
    }
    float *buf = malloc(nthr * KN_ROWS * maxk * sizeof *buf), **scores = malloc(nthr * sizeof *scores);
    if (!buf || !scores) {
        free(first), free(buf), free(scores);
        return YS_ENOMEM;
    }
    for (size_t i = 0; i < nthr; i++)
        scores[i] = buf + i * KN_ROWS * maxk;
    /* T5 folds the 1/sqrt(d) scaling into its weights; BART scales q */
    float scale = m->arch == ARCH_T5 ? 1.0f : (float)(1.0 / sqrt((double)m->hd));
    attn_ctx c = {m, seq, first, n, causal, scale, scores};
    kn_pool_run(ex->pool, first[n], attn_tile, &c);
    free(first), free(buf), free(scores);
    return 0;
}

static int attend(s2s_model *m, const s2s_exe *ex, const float *q, const float *k, const float *v, float *out,
                  size_t Tq, size_t Tk, size_t q0, int causal, const float *pb, size_t pb_len, long pb_off)
{
    attn_seq a = {q, k, v, out, Tq, Tk, q0, pb, pb_len, pb_off};
    return attend_many(m, ex, &a, 1, causal);
}

/* The MLP of block B on xin [T, d], added into x: x += W2 act(W1 xin + b1) + b2
 * (T5 v1.1: x += Wo (gelu_new(Wi0 xin) * Wi1 xin)). hb, hb2: [T, F]. */
static void ffn(s2s_model *m, const s2s_exe *ex, const block *B, const float *xin, size_t T, float *x, float *hb, float *hb2)
{
    size_t F = (size_t)m->info.ffn;
    gm_act ga = m->act == ACT_GELU_TANH ? GM_ACT_GELU_TANH : m->act == ACT_GELU_ERF ? GM_ACT_GELU_ERF
              : m->act == ACT_RELU ? GM_ACT_RELU : GM_ACT_NONE;
    linear(ex, xin, T, &B->p1, B->fc1_b, hb, 0, ga);
    if (m->act == ACT_SILU)   /* not among gemm.h's activations */
        for (size_t i = 0; i < T * F; i++)
            hb[i] = hb[i] / (1.0f + expf(-hb[i]));
    if (m->gated) {
        linear(ex, xin, T, &B->pgate, NULL, hb2, 0, GM_ACT_NONE);
        for (size_t i = 0; i < T * F; i++)
            hb[i] *= hb2[i];
    }
    linear(ex, hb, T, &B->p2, B->fc2_b, x, 1, GM_ACT_NONE);
}

/* x [T, d] = embed(ids) * scale + positions [p0, p0 + T), then BART's
 * layernorm_embedding. */
static int embed(s2s_model *m, const int32_t *ids, size_t T, size_t p0, const float *pos, const norm_w *ln,
                 float *x, const char *what, ys_error *err)
{
    size_t d = (size_t)m->info.d_model;
    for (size_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->info.vocab)
            return ys_fail(err, YS_EINPUT, "%s token %zu: id %d outside the vocabulary [0, %d)", what, p0 + t,
                           (int)ids[t], m->info.vocab);
    if (m->info.max_source_positions && p0 + T > (size_t)m->info.max_source_positions)
        return ys_fail(err, YS_EINPUT, "%s of %zu tokens exceeds the model's %d positions", what, p0 + T,
                       m->info.max_source_positions);
    for (size_t t = 0; t < T; t++) {
        const float *e = m->embed + (size_t)ids[t] * d;
        for (size_t i = 0; i < d; i++)
            x[t * d + i] = e[i] * m->embed_scale;
        if (pos)
            for (size_t i = 0; i < d; i++)
                x[t * d + i] += pos[(p0 + t + (size_t)m->pos_offset) * d + i];
    }
    if (ln && ln->w)
        norm_rows(m, x, x, T, ln);
    return 0;
}

/* ---- encoder --------------------------------------------------------------- */

int s2s_encode(s2s_model *m, const s2s_exe *ex, const int32_t *src, size_t S, float **enc_out, ys_error *err)
{
    size_t d = (size_t)m->info.d_model, in = (size_t)m->inner, F = (size_t)m->info.ffn;
    *enc_out = NULL;
    if (S == 0)
        return ys_fail(err, YS_EINPUT, "empty source sequence");
    float *x = malloc(S * d * sizeof *x), *xb = malloc(S * d * sizeof *xb);
    float *q = malloc(S * in * sizeof *q), *k = malloc(S * in * sizeof *k), *v = malloc(S * in * sizeof *v);
    float *att = malloc(S * in * sizeof *att), *hb = malloc(S * F * sizeof *hb);
    float *hb2 = m->gated ? malloc(S * F * sizeof *hb2) : NULL, *pb = NULL;
    size_t pb_len = 0;
    long pb_off = 0;
    int rc = 0;
    if (m->arch == ARCH_T5 && !(pb = t5_bias_table(m, m->enc_rel, 1, 0, S, S, &pb_len, &pb_off)))
        rc = YS_ENOMEM;
    if (!x || !xb || !q || !k || !v || !att || !hb || (m->gated && !hb2) || rc)
        rc = ys_fail(err, YS_ENOMEM, "out of memory encoding %zu tokens", S);
    if (rc == 0)
        rc = embed(m, src, S, 0, m->enc_pos, &m->enc_ln_emb, x, "source", err);
    for (int l = 0; rc == 0 && l < m->info.enc_layers; l++) {
        const block *B = &m->enc[l];
        const float *h = x;
        if (m->arch == ARCH_T5) {
            norm_rows(m, xb, x, S, &B->ln_self);
            h = xb;
        }
        linear(ex, h, S, &B->self.pq, B->self.bq, q, 0, GM_ACT_NONE);
        linear(ex, h, S, &B->self.pk, B->self.bk, k, 0, GM_ACT_NONE);
        linear(ex, h, S, &B->self.pv, B->self.bv, v, 0, GM_ACT_NONE);
        if (attend(m, ex, q, k, v, att, S, S, 0, 0, pb, pb_len, pb_off)) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        linear(ex, att, S, &B->self.po, B->self.bo, x, 1, GM_ACT_NONE);
        if (m->arch == ARCH_T5) {
            norm_rows(m, xb, x, S, &B->ln_ff);
            ffn(m, ex, B, xb, S, x, hb, hb2);
        } else {
            norm_rows(m, x, x, S, &B->ln_self);
            ffn(m, ex, B, x, S, x, hb, hb2);
            norm_rows(m, x, x, S, &B->ln_ff);
        }
    }
    if (rc == 0 && m->arch == ARCH_T5)
        norm_rows(m, x, x, S, &m->enc_final);
    free(xb), free(q), free(k), free(v), free(att), free(hb), free(hb2), free(pb);
    if (rc) {
        free(x);
        return rc;
    }
    *enc_out = x;
    return 0;
}

/* ---- decoder ----------------------------------------------------------------- */

int s2s_state_new(s2s_model *m, const s2s_exe *ex, const float *enc, size_t S, size_t cap, s2s_state **out, ys_error *err)
{
    size_t L = (size_t)m->info.dec_layers, in = (size_t)m->inner;
    *out = NULL;
    s2s_state *st = calloc(1, sizeof *st);
    if (!st)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    st->S = S;
    st->cap = cap ? cap : 1;
    st->ck = malloc(L * S * in * sizeof(float));
    st->cv = malloc(L * S * in * sizeof(float));
    st->sk = malloc(L * st->cap * in * sizeof(float));
    st->sv = malloc(L * st->cap * in * sizeof(float));
    st->owns_cross = 1;
    if (!st->ck || !st->cv || !st->sk || !st->sv) {
        s2s_state_free(st);
        return ys_fail(err, YS_ENOMEM, "out of memory for a decoder cache of %zu positions", cap);
    }
    for (size_t l = 0; l < L; l++) {
        const block *B = &m->dec[l];
        linear(ex, enc, S, &B->cross.pk, B->cross.bk, st->ck + l * S * in, 0, GM_ACT_NONE);
        linear(ex, enc, S, &B->cross.pv, B->cross.bv, st->cv + l * S * in, 0, GM_ACT_NONE);
    }
    *out = st;
    return 0;
}

int s2s_state_fork(const s2s_model *m, const s2s_state *src, s2s_state **out, ys_error *err)
{
    size_t L = (size_t)m->info.dec_layers, in = (size_t)m->inner;
    *out = NULL;
    s2s_state *st = calloc(1, sizeof *st);
    if (!st)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    *st = *src;
    st->owns_cross = 0;
    st->sk = malloc(L * st->cap * in * sizeof(float));
    st->sv = malloc(L * st->cap * in * sizeof(float));
    if (!st->sk || !st->sv) {
        s2s_state_free(st);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    s2s_state_copy(m, st, src);
    *out = st;
    return 0;
}

void s2s_state_copy(const s2s_model *m, s2s_state *dst, const s2s_state *src)
{
    size_t L = (size_t)m->info.dec_layers, in = (size_t)m->inner;
    for (size_t l = 0; l < L; l++) {
        memcpy(dst->sk + l * dst->cap * in, src->sk + l * src->cap * in, src->len * in * sizeof(float));
        memcpy(dst->sv + l * dst->cap * in, src->sv + l * src->cap * in, src->len * in * sizeof(float));
    }
    dst->len = src->len;
}

void s2s_state_free(s2s_state *st)
{
    if (!st)
        return;
    if (st->owns_cross) {
        free(st->ck);
        free(st->cv);
    }
    free(st->sk);
    free(st->sv);
    free(st);
}

int s2s_decode(s2s_model *m, const s2s_exe *ex, s2s_state *st, const int32_t *ids, size_t T, float **hidden, ys_error *err)
{
    size_t d = (size_t)m->info.d_model, in = (size_t)m->inner, F = (size_t)m->info.ffn;
    size_t p0 = st->len, S = st->S, cap = st->cap;
    *hidden = NULL;
    if (T == 0)
        return ys_fail(err, YS_EINPUT, "empty decoder sequence");
    if (T > cap - p0)
        return ys_fail(err, YS_EINPUT, "%zu tokens do not fit the decoder cache (%zu of %zu used)", T, p0, cap);
    float *x = malloc(T * d * sizeof *x), *xb = malloc(T * d * sizeof *xb);
    float *q = malloc(T * in * sizeof *q), *att = malloc(T * in * sizeof *att);
    float *hb = malloc(T * F * sizeof *hb), *hb2 = m->gated ? malloc(T * F * sizeof *hb2) : NULL, *pb = NULL;
    size_t pb_len = 0;
    long pb_off = 0;
    int rc = 0;
    if (m->arch == ARCH_T5 && !(pb = t5_bias_table(m, m->dec_rel, 0, p0, T, p0 + T, &pb_len, &pb_off)))
        rc = YS_ENOMEM;
    if (!x || !xb || !q || !att || !hb || (m->gated && !hb2) || rc)
        rc = ys_fail(err, YS_ENOMEM, "out of memory decoding %zu tokens", T);
    if (rc == 0)
        rc = embed(m, ids, T, p0, m->dec_pos, &m->dec_ln_emb, x, "decoder", err);
    for (int l = 0; rc == 0 && l < m->info.dec_layers; l++) {
        const block *B = &m->dec[l];
        float *kc = st->sk + (size_t)l * cap * in, *vc = st->sv + (size_t)l * cap * in;
        int t5 = m->arch == ARCH_T5;
        /* self-attention; k and v go straight into the cache rows p0.. */
        const float *h = x;
        if (t5) {
            norm_rows(m, xb, x, T, &B->ln_self);
            h = xb;
        }
        linear(ex, h, T, &B->self.pq, B->self.bq, q, 0, GM_ACT_NONE);
        linear(ex, h, T, &B->self.pk, B->self.bk, kc + p0 * in, 0, GM_ACT_NONE);
        linear(ex, h, T, &B->self.pv, B->self.bv, vc + p0 * in, 0, GM_ACT_NONE);
        if (attend(m, ex, q, kc, vc, att, T, p0 + T, p0, 1, pb, pb_len, pb_off)) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        linear(ex, att, T, &B->self.po, B->self.bo, x, 1, GM_ACT_NONE);
        if (!t5)
            norm_rows(m, x, x, T, &B->ln_self);
        /* cross-attention over the source's precomputed K/V */
        h = x;
        if (t5) {
            norm_rows(m, xb, x, T, &B->ln_cross);
            h = xb;
        }
        linear(ex, h, T, &B->cross.pq, B->cross.bq, q, 0, GM_ACT_NONE);
        if (attend(m, ex, q, st->ck + (size_t)l * S * in, st->cv + (size_t)l * S * in, att, T, S, 0, 0, NULL, 0, 0)) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        linear(ex, att, T, &B->cross.po, B->cross.bo, x, 1, GM_ACT_NONE);
        if (t5) {
            norm_rows(m, xb, x, T, &B->ln_ff);
            ffn(m, ex, B, xb, T, x, hb, hb2);
        } else {
            norm_rows(m, x, x, T, &B->ln_cross);
            ffn(m, ex, B, x, T, x, hb, hb2);
            norm_rows(m, x, x, T, &B->ln_ff);
        }
    }
    if (rc == 0 && m->arch == ARCH_T5) {
        norm_rows(m, x, x, T, &m->dec_final);
        if (m->out_scale != 1.0f)   /* tied T5 head: d_model^-0.5 before lm_head */
            for (size_t i = 0; i < T * d; i++)
                x[i] *= m->out_scale;
    }
    free(xb), free(q), free(att), free(hb), free(hb2), free(pb);
    if (rc) {
        free(x);
        return rc;
    }
    st->len = p0 + T;
    *hidden = x;
    return 0;
}

/* One token for each of n states (beams): s2s_decode with T = 1, but the
 * n rows share every projection (one gm_run each); attention and the cache
 * stay per state. Each state's numbers are those s2s_decode gives it alone
 * (gm_run rows are independent; the attention calls are the same). */
int s2s_decode_step(s2s_model *m, const s2s_exe *ex, s2s_state *const *st, const int32_t *ids, size_t n,
                    float **hidden, ys_error *err)
{
    size_t d = (size_t)m->info.d_model, in = (size_t)m->inner, F = (size_t)m->info.ffn;
    int t5 = m->arch == ARCH_T5;
    *hidden = NULL;
    for (size_t i = 0; i < n; i++)
        if (st[i]->len >= st[i]->cap)
            return ys_fail(err, YS_EINPUT, "1 token does not fit the decoder cache (%zu of %zu used)", st[i]->len,
                           st[i]->cap);
    float *x = malloc(n * d * sizeof *x), *xb = malloc(n * d * sizeof *xb);
    float *q = malloc(n * in * sizeof *q), *k = malloc(n * in * sizeof *k), *v = malloc(n * in * sizeof *v);
    float *att = malloc(n * in * sizeof *att), *hb = malloc(n * F * sizeof *hb);
    float *hb2 = m->gated ? malloc(n * F * sizeof *hb2) : NULL;
    float **pb = calloc(n, sizeof *pb);
    size_t *pb_len = calloc(n, sizeof *pb_len);
    long *pb_off = calloc(n, sizeof *pb_off);
    attn_seq *as = malloc(n * sizeof *as);
    int rc = 0;
    if (!x || !xb || !q || !k || !v || !att || !hb || (m->gated && !hb2) || !pb || !pb_len || !pb_off || !as)
        rc = YS_ENOMEM;
    for (size_t i = 0; rc == 0 && t5 && i < n; i++)
        if (!(pb[i] = t5_bias_table(m, m->dec_rel, 0, st[i]->len, 1, st[i]->len + 1, &pb_len[i], &pb_off[i])))
            rc = YS_ENOMEM;
    if (rc)
        rc = ys_fail(err, YS_ENOMEM, "out of memory decoding %zu beams", n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = embed(m, &ids[i], 1, st[i]->len, m->dec_pos, &m->dec_ln_emb, x + i * d, "decoder", err);
    for (int l = 0; rc == 0 && l < m->info.dec_layers; l++) {
        const block *B = &m->dec[l];
        const float *h = x;
        if (t5) {
            norm_rows(m, xb, x, n, &B->ln_self);
            h = xb;
        }
        linear(ex, h, n, &B->self.pq, B->self.bq, q, 0, GM_ACT_NONE);
        linear(ex, h, n, &B->self.pk, B->self.bk, k, 0, GM_ACT_NONE);
        linear(ex, h, n, &B->self.pv, B->self.bv, v, 0, GM_ACT_NONE);
        for (size_t i = 0; i < n; i++) {
            size_t p0 = st[i]->len, cap = st[i]->cap;
            float *kc = st[i]->sk + (size_t)l * cap * in, *vc = st[i]->sv + (size_t)l * cap * in;
            memcpy(kc + p0 * in, k + i * in, in * sizeof *k);
            memcpy(vc + p0 * in, v + i * in, in * sizeof *v);
            as[i] = (attn_seq){q + i * in, kc, vc, att + i * in, 1, p0 + 1, p0, pb[i], pb_len[i], pb_off[i]};
        }
        if (attend_many(m, ex, as, n, 1)) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        linear(ex, att, n, &B->self.po, B->self.bo, x, 1, GM_ACT_NONE);
        if (!t5)
            norm_rows(m, x, x, n, &B->ln_self);
        h = x;
        if (t5) {
            norm_rows(m, xb, x, n, &B->ln_cross);
            h = xb;
        }
        linear(ex, h, n, &B->cross.pq, B->cross.bq, q, 0, GM_ACT_NONE);
        for (size_t i = 0; i < n; i++) {
            size_t S = st[i]->S;
            as[i] = (attn_seq){q + i * in, st[i]->ck + (size_t)l * S * in, st[i]->cv + (size_t)l * S * in,
                               att + i * in, 1, S, 0, NULL, 0, 0};
        }
        if (attend_many(m, ex, as, n, 0)) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        linear(ex, att, n, &B->cross.po, B->cross.bo, x, 1, GM_ACT_NONE);
        if (t5) {
            norm_rows(m, xb, x, n, &B->ln_ff);
            ffn(m, ex, B, xb, n, x, hb, hb2);
        } else {
            norm_rows(m, x, x, n, &B->ln_cross);
            ffn(m, ex, B, x, n, x, hb, hb2);
            norm_rows(m, x, x, n, &B->ln_ff);
        }
    }
    if (rc == 0 && t5) {
        norm_rows(m, x, x, n, &m->dec_final);
        if (m->out_scale != 1.0f)
            for (size_t i = 0; i < n * d; i++)
                x[i] *= m->out_scale;
    }
    for (size_t i = 0; pb && i < n; i++)
        free(pb[i]);
    free(xb), free(q), free(k), free(v), free(att), free(hb), free(hb2), free(pb), free(pb_len), free(pb_off);
    free(as);
    if (rc) {
        free(x);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        st[i]->len++;
    *hidden = x;
    return 0;
}

/* logits[rows, V] = hidden[rows, d] lm_head^T + final_logits_bias. */
void s2s_vocab_proj(s2s_model *m, const s2s_exe *ex, const float *hidden, size_t rows, float *logits)
{
    linear(ex, hidden, rows, &m->phead, m->logits_bias, logits, 0, GM_ACT_NONE);
}

/* ---- scoring ------------------------------------------------------------------
 * Pairs go in groups of up to SCORE_ROWS source (and target) tokens. The
 * rows of all the group's sources pass through each encoder projection as
 * one gm_run, the rows of all its targets through each decoder one (whole
 * targets at once, causal mask, no cache: the products s2s_decode makes
 * over a fresh state), so each weight is streamed once per group instead
 * of once per pair.
 * Attention stays per pair (its own sgemm calls, as s2s_encode/s2s_decode).
 * Then the vocabulary projection over HEAD_ROWS wanted rows at a time and a
 * log-softmax per row. gm_run computes a row from that row alone and a
 * pair's attention calls do not depend on the group or on which thread
 * runs them, so a pair's numbers are the same in any batch, with any thread
 * count (seq2seq.h). */

#define SCORE_ROWS 4096
#define HEAD_ROWS 256

typedef struct lsm_ctx {
    const float *logits;
    size_t V;
    const size_t *pair, *pos;       /* row i: pair, decoder position t (predicts dec[t + 1]) */
    const int32_t *const *dec;
    double *const *lp;
    uint8_t *const *greedy;
} lsm_ctx;

static void logsoftmax_row(void *vctx, size_t item, int worker)
{
    (void)worker;
    const lsm_ctx *c = vctx;
    size_t s = c->pair[item], t = c->pos[item];
    const float *z = c->logits + item * c->V;
    size_t arg = 0;
    for (size_t j = 1; j < c->V; j++)
        if (z[j] > z[arg])
            arg = j;
    double sum = vm_exp_sum(GM_ISA_AUTO, NULL, z, c->V, z[arg]);
    int32_t next = c->dec[s][t + 1];
    c->lp[s][t] = (double)z[next] - (double)z[arg] - log(sum);
    if (c->greedy && c->greedy[s])
        c->greedy[s][t] = (size_t)next == arg;
}

/* Scratch of one group: R source rows, RT target rows, n pairs. */
typedef struct group {
    size_t n, R, RT, *so, *to;      /* row offsets [n + 1] */
    float *e, *y, *xb, *q, *k, *v, *att, *hb, *hb2;
    float **pbe, **pbd;             /* T5 bias tables per pair (encoder, decoder) */
    size_t *pble, *pbld;
    long *pboe, *pbod;
    attn_seq *as;                   /* [n]: one attention's sequences */
} group;

static void group_free(group *g)
{
    for (size_t i = 0; g->pbe && g->pbd && i < g->n; i++)
        free(g->pbe[i]), free(g->pbd[i]);
    free(g->so), free(g->pbe), free(g->pbd), free(g->pble), free(g->pboe), free(g->as);
}

/* n floats of the model's scoring workspace, which is kept between calls:
 * fresh buffers would have their pages faulted in and zeroed by the kernel
 * on every call (~100 MB for 32 T5-small pairs, several percent of the
 * time). NULL when out of memory. */
static float *workspace(s2s_model *m, size_t n)
{
    if (n > m->ws_cap) {
        free(m->ws);
        m->ws_cap = (m->ws = malloc(n * sizeof *m->ws)) ? n : 0;
    }
    return m->ws;
}

/* The group's offsets, bias tables and activation buffers; the latter and
 * *head (HEAD_ROWS * (d + V) floats) come from the model's workspace. */
static int group_alloc(s2s_model *m, group *g, const size_t *S, const size_t *T, size_t n, float **head)
{
    size_t d = (size_t)m->info.d_model, in = (size_t)m->inner, F = (size_t)m->info.ffn;
    memset(g, 0, sizeof *g);
    g->n = n;
    if (!(g->so = calloc(2 * (n + 1), sizeof *g->so)))
        return YS_ENOMEM;
    g->to = g->so + n + 1;
    for (size_t i = 0; i < n; i++)
        g->so[i + 1] = g->so[i] + S[i], g->to[i + 1] = g->to[i] + T[i];
    g->R = g->so[n], g->RT = g->to[n];
    size_t RM = g->R > g->RT ? g->R : g->RT, nf = m->gated ? 2 : 1;
    float *w = workspace(m, (g->R + g->RT) * d + RM * (d + 4 * in + nf * F) + HEAD_ROWS * (d + (size_t)m->info.vocab));
    if (!w)
        return YS_ENOMEM;
    g->e = w, w += g->R * d;
    g->y = w, w += g->RT * d;
    g->xb = w, w += RM * d;
    g->q = w, w += RM * in;
    g->k = w, w += RM * in;
    g->v = w, w += RM * in;
    g->att = w, w += RM * in;
    g->hb = w, w += RM * F;
    if (m->gated)
        g->hb2 = w, w += RM * F;
    *head = w;
    g->pbe = calloc(n, sizeof *g->pbe), g->pbd = calloc(n, sizeof *g->pbd);
    g->pble = calloc(2 * n, sizeof *g->pble), g->pboe = calloc(2 * n, sizeof *g->pboe);
    g->as = malloc(n * sizeof *g->as);
    if (!g->pbe || !g->pbd || !g->pble || !g->pboe || !g->as)
        return YS_ENOMEM;
    g->pbld = g->pble + n, g->pbod = g->pboe + n;
    for (size_t i = 0; m->arch == ARCH_T5 && i < n; i++)
        if (!(g->pbe[i] = t5_bias_table(m, m->enc_rel, 1, 0, S[i], S[i], &g->pble[i], &g->pboe[i])) ||
            !(g->pbd[i] = t5_bias_table(m, m->dec_rel, 0, 0, T[i], T[i], &g->pbld[i], &g->pbod[i])))
            return YS_ENOMEM;
    return 0;
}

/* g->e := the encoder output of every source (embedded there already). */
static int group_encode(s2s_model *m, const s2s_exe *ex, group *g, const size_t *S)
{
    size_t in = (size_t)m->inner, R = g->R;
    float *x = g->e;
    for (int l = 0; l < m->info.enc_layers; l++) {
        const block *B = &m->enc[l];
        const float *h = x;
        if (m->arch == ARCH_T5) {
            norm_pool(m, ex, g->xb, x, R, &B->ln_self);
            h = g->xb;
        }
        linear(ex, h, R, &B->self.pq, B->self.bq, g->q, 0, GM_ACT_NONE);
        linear(ex, h, R, &B->self.pk, B->self.bk, g->k, 0, GM_ACT_NONE);
        linear(ex, h, R, &B->self.pv, B->self.bv, g->v, 0, GM_ACT_NONE);
        for (size_t i = 0; i < g->n; i++) {
            size_t o = g->so[i] * in;
            g->as[i] = (attn_seq){g->q + o, g->k + o, g->v + o, g->att + o, S[i], S[i], 0, g->pbe[i], g->pble[i],
                                  g->pboe[i]};
        }
        if (attend_many(m, ex, g->as, g->n, 0))
            return YS_ENOMEM;
        linear(ex, g->att, R, &B->self.po, B->self.bo, x, 1, GM_ACT_NONE);
        if (m->arch == ARCH_T5) {
            norm_pool(m, ex, g->xb, x, R, &B->ln_ff);
            ffn(m, ex, B, g->xb, R, x, g->hb, g->hb2);
        } else {
            norm_pool(m, ex, x, x, R, &B->ln_self);
            ffn(m, ex, B, x, R, x, g->hb, g->hb2);
            norm_pool(m, ex, x, x, R, &B->ln_ff);
        }
    }
    if (m->arch == ARCH_T5)
        norm_pool(m, ex, x, x, R, &m->enc_final);
    return 0;
}

/* g->y := the final decoder hidden states of every target (embedded there
 * already) against the encoder output g->e. */
static int group_decode(s2s_model *m, const s2s_exe *ex, group *g, const size_t *S, const size_t *T)
{
    size_t in = (size_t)m->inner, d = (size_t)m->info.d_model, R = g->R, RT = g->RT;
    float *x = g->y;
    int t5 = m->arch == ARCH_T5;
    for (int l = 0; l < m->info.dec_layers; l++) {
        const block *B = &m->dec[l];
        const float *h = x;
        if (t5) {
            norm_pool(m, ex, g->xb, x, RT, &B->ln_self);
            h = g->xb;
        }
        linear(ex, h, RT, &B->self.pq, B->self.bq, g->q, 0, GM_ACT_NONE);
        linear(ex, h, RT, &B->self.pk, B->self.bk, g->k, 0, GM_ACT_NONE);
        linear(ex, h, RT, &B->self.pv, B->self.bv, g->v, 0, GM_ACT_NONE);
        for (size_t i = 0; i < g->n; i++) {
            size_t o = g->to[i] * in;
            g->as[i] = (attn_seq){g->q + o, g->k + o, g->v + o, g->att + o, T[i], T[i], 0, g->pbd[i], g->pbld[i],
                                  g->pbod[i]};
        }
        if (attend_many(m, ex, g->as, g->n, 1))
            return YS_ENOMEM;
        linear(ex, g->att, RT, &B->self.po, B->self.bo, x, 1, GM_ACT_NONE);
        if (!t5)
            norm_pool(m, ex, x, x, RT, &B->ln_self);
        h = x;
        if (t5) {
            norm_pool(m, ex, g->xb, x, RT, &B->ln_cross);
            h = g->xb;
        }
        /* cross-attention: this layer's K/V of every source, then per pair */
        linear(ex, h, RT, &B->cross.pq, B->cross.bq, g->q, 0, GM_ACT_NONE);
        linear(ex, g->e, R, &B->cross.pk, B->cross.bk, g->k, 0, GM_ACT_NONE);
        linear(ex, g->e, R, &B->cross.pv, B->cross.bv, g->v, 0, GM_ACT_NONE);
        for (size_t i = 0; i < g->n; i++) {
            size_t o = g->to[i] * in, os = g->so[i] * in;
            g->as[i] = (attn_seq){g->q + o, g->k + os, g->v + os, g->att + o, T[i], S[i], 0, NULL, 0, 0};
        }
        if (attend_many(m, ex, g->as, g->n, 0))
            return YS_ENOMEM;
        linear(ex, g->att, RT, &B->cross.po, B->cross.bo, x, 1, GM_ACT_NONE);
        if (t5) {
            norm_pool(m, ex, g->xb, x, RT, &B->ln_ff);
            ffn(m, ex, B, g->xb, RT, x, g->hb, g->hb2);
        } else {
            norm_pool(m, ex, x, x, RT, &B->ln_cross);
            ffn(m, ex, B, x, RT, x, g->hb, g->hb2);
            norm_pool(m, ex, x, x, RT, &B->ln_ff);
        }
    }
    if (t5) {
        norm_pool(m, ex, x, x, RT, &m->dec_final);
        if (m->out_scale != 1.0f)   /* tied T5 head: d_model^-0.5 before lm_head */
            for (size_t i = 0; i < RT * d; i++)
                x[i] *= m->out_scale;
    }
    return 0;
}

/* Pairs [first, first + n) as one group; errors name the pair. */
static int score_group(s2s_model *m, size_t first, const int32_t *const *src, const size_t *S,
                       const int32_t *const *dec, const size_t *T, size_t n, double *const *lp,
                       uint8_t *const *greedy, ys_error *err)
{
    const s2s_exe *ex = &m->exe;
    size_t d = (size_t)m->info.d_model, V = (size_t)m->info.vocab;
    group g = {0};
    ys_error e = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (T[i] == 0 || S[i] == 0)
            rc = ys_fail(err, YS_EINPUT, "pair %zu: empty %s sequence", first + i, T[i] ? "source" : "decoder");
    if (rc)
        return rc;
    float *hrows = NULL;
    size_t *pair = malloc(2 * HEAD_ROWS * sizeof *pair);
    if (!pair || group_alloc(m, &g, S, T, n, &hrows)) {
        free(pair);
        group_free(&g);
        return ys_fail(err, YS_ENOMEM, "out of memory scoring pairs %zu-%zu", first, first + n - 1);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if ((rc = embed(m, src[i], S[i], 0, m->enc_pos, &m->enc_ln_emb, g.e + g.so[i] * d, "source", &e)) ||
            (rc = embed(m, dec[i], T[i], 0, m->dec_pos, &m->dec_ln_emb, g.y + g.to[i] * d, "decoder", &e)))
            rc = ys_fail(err, rc, "pair %zu: %s", first + i, e.msg);
    if (rc == 0 && (group_encode(m, ex, &g, S) || group_decode(m, ex, &g, S, T)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    /* the wanted rows (every target position but the last), HEAD_ROWS at a time */
    float *logits = hrows + HEAD_ROWS * d;
    size_t *pos = pair + HEAD_ROWS, nr = 0, left = g.RT - n;
    for (size_t i = 0; rc == 0 && i < n; i++)
        for (size_t t = 0; t + 1 < T[i]; t++) {
            memcpy(hrows + nr * d, g.y + (g.to[i] + t) * d, d * sizeof *hrows);
            pair[nr] = i, pos[nr] = t;
            left--;
            if (++nr < HEAD_ROWS && left > 0)
                continue;
            s2s_vocab_proj(m, ex, hrows, nr, logits);
            lsm_ctx c = {logits, V, pair, pos, dec, lp, greedy};
            kn_pool_run(ex->pool, nr, logsoftmax_row, &c);
            nr = 0;
        }
    free(pair);
    group_free(&g);
    return rc;
}

int s2s_logprobs(s2s_model *m, const int32_t *const *src, const size_t *src_lens, const int32_t *const *dec,
                 const size_t *dec_lens, size_t n, double *const *logprobs, uint8_t *const *greedy, ys_error *err)
{
    m->blas.set_num_threads(1);
    int rc = 0;
    for (size_t s = 0; s < n && rc == 0;) {
        size_t e = s + 1, rows = src_lens[s], trows = dec_lens[s];
        while (e < n && rows + src_lens[e] <= SCORE_ROWS && trows + dec_lens[e] <= SCORE_ROWS)
            rows += src_lens[e], trows += dec_lens[e++];
        rc = score_group(m, s, src + s, src_lens + s, dec + s, dec_lens + s, e - s, logprobs + s,
                         greedy ? greedy + s : NULL, err);
        s = e;
    }
    return rc;
}

/* ---- batched generation: many sources at once ---------------------------------
 * The encoder passes of the requests joining a batch (seq2seq_gen.c): their
 * sources' rows go through each encoder projection together (group_encode,
 * as scoring does), then through each layer's cross K/V projection, whose
 * rows are copied into each request's decoder state. Per source the bits
 * are those of s2s_encode + s2s_state_new on it alone: gm_run rows are
 * independent and attention is per source with the same calls. */
int s2s_state_alloc(const s2s_model *m, size_t S, size_t cap, s2s_state **out, ys_error *err)
{
    size_t L = (size_t)m->info.dec_layers, in = (size_t)m->inner;
    s2s_state *st = calloc(1, sizeof *st);
    *out = NULL;
    if (st) {
        st->S = S, st->cap = cap ? cap : 1, st->owns_cross = 1;
        st->ck = malloc(L * S * in * sizeof(float)), st->cv = malloc(L * S * in * sizeof(float));
        st->sk = malloc(L * st->cap * in * sizeof(float)), st->sv = malloc(L * st->cap * in * sizeof(float));
    }
    if (!st || !st->ck || !st->cv || !st->sk || !st->sv) {
        s2s_state_free(st);
        return ys_fail(err, YS_ENOMEM, "out of memory for a decoder cache of %zu positions", cap);
    }
    *out = st;
    return 0;
}

int s2s_start_many(s2s_model *m, const s2s_exe *ex, const int32_t *const *src, s2s_state *const *st, size_t n,
                   ys_error *err)
{
    size_t d = (size_t)m->info.d_model, in = (size_t)m->inner, L = (size_t)m->info.dec_layers;
    group g = {0};
    float *head = NULL;
    size_t *S = calloc(2 * n + 1, sizeof *S), *ones = S ? S + n : NULL;
    ys_error e = {0};
    int rc = 0;
    for (size_t i = 0; S && i < n; i++)
        S[i] = st[i]->S, ones[i] = 1;   /* no decoder rows here: group_alloc's decoder side stays one row each */
    if (!S || group_alloc(m, &g, S, ones, n, &head))
        rc = ys_fail(err, YS_ENOMEM, "out of memory encoding %zu sources", n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = embed(m, src[i], S[i], 0, m->enc_pos, &m->enc_ln_emb, g.e + g.so[i] * d, "source", &e)))
            rc = ys_fail(err, rc, "source %zu: %s", i, e.msg);
    if (rc == 0 && group_encode(m, ex, &g, S))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t l = 0; rc == 0 && l < L; l++) {
        const block *B = &m->dec[l];
        linear(ex, g.e, g.R, &B->cross.pk, B->cross.bk, g.k, 0, GM_ACT_NONE);
        linear(ex, g.e, g.R, &B->cross.pv, B->cross.bv, g.v, 0, GM_ACT_NONE);
        for (size_t i = 0; i < n; i++) {
            memcpy(st[i]->ck + l * S[i] * in, g.k + g.so[i] * in, S[i] * in * sizeof(float));
            memcpy(st[i]->cv + l * S[i] * in, g.v + g.so[i] * in, S[i] * in * sizeof(float));
        }
    }
    free(S);
    group_free(&g);
    return rc;
}
