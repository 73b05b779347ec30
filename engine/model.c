/* model.c — GPT-2 and Llama-family decoders in fp32, meant to be read top
 * to bottom: the KV cache, attention, one forward pass shared by scoring
 * and generation (several sequences at once), then log-probabilities,
 * then model_step. Batched generation and sampling are in model_batch.c,
 * loading (configuration, binding, packing) in model_load.c, the shared
 * structures in model_internal.h.
 * The arithmetic building blocks are the packed GEMM (gemm.h: every
 * projection, packed at load), the attention tile, norms, the thread pool
 * and large buffers (kernels.h) and the vectorised exp (vmath.h).
 *
 * Shapes: T = tokens in this call, H = hidden, nh/nkv = query/key-value
 * heads, hd = head dim, qdim = nh*hd, kvdim = nkv*hd, F = MLP width,
 * V = vocabulary. Activations are row-major [T, width]. */
#include "model_internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "f16.h"
#include "vmath.h"

/* ---- KV cache ------------------------------------------------------------ */

int model_kv_new(const model *m, size_t capacity, model_kv **out, ys_error *err)
{
    *out = NULL;
    model_kv *kv = calloc(1, sizeof *kv);
    if (!kv)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    kv->cap = capacity ? capacity : 1;
    kv->layers = m->info.layers;
    kv->kvdim = (size_t)m->info.kv_heads * (size_t)m->info.head_dim;
    size_t n = (size_t)kv->layers * kv->cap * kv->kvdim;
    if (n / kv->cap / kv->kvdim != (size_t)kv->layers || !(kv->k = kn_alloc(n * sizeof(float))) ||
        !(kv->v = kn_alloc(n * sizeof(float)))) {
        model_kv_free(kv);
        return ys_fail(err, YS_ENOMEM, "out of memory for a KV cache of %zu positions", capacity);
    }
    *out = kv;
    return 0;
}

void model_kv_free(model_kv *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

size_t model_kv_len(const model_kv *kv) { return kv->len; }

void model_kv_truncate(model_kv *kv, size_t n)
{
    if (n < kv->len)
        kv->len = n;
}

/* ---- attention ------------------------------------------------------------
 * One work item = one query head x one tile of KN_ROWS query rows
 * (kn_attn_tile, kernels.h). The tile attends to keys [0, pos0 + r1), the
 * last of which is its last row's own position; causal, with the layer's
 * sliding window and soft-cap. Grouped-query heads share their key/value
 * head. */

typedef struct attn_ctx {
    const model *m;
    const fwd_item *it;
    size_t n, layer;
    const size_t *first;   /* item i owns work items [first[i], first[i + 1]) */
    const float *q;        /* [rows, qdim], RoPE applied */
    float *out;            /* [rows, qdim] */
    size_t kvdim, qdim;
    float scale;
    float *scores;         /* per thread (worker w at w * sstride): KN_ROWS x max positions */
    size_t sstride;
} attn_ctx;

static void attn_tile(void *vctx, size_t item, int worker)
{
    const attn_ctx *c = vctx;
    size_t lo = kn_item_owner(c->first, c->n, item);   /* the sequence owning item */
    const fwd_item *it = &c->it[lo];
    item -= c->first[lo];
    size_t nrt = (it->T + KN_ROWS - 1) / KN_ROWS, hd = (size_t)c->m->info.head_dim, h = item / nrt;
    size_t kvh = h / (size_t)(c->m->info.heads / c->m->info.kv_heads);
    size_t r0 = (item % nrt) * KN_ROWS, r1 = r0 + KN_ROWS < it->T ? r0 + KN_ROWS : it->T;
    const float *kc = it->k + c->layer * it->lstride, *vc = it->v + c->layer * it->lstride;
    kn_attn a = {.q = c->q + (it->row0 + r0) * c->qdim + h * hd, .k = kc + kvh * hd, .v = vc + kvh * hd,
                 .out = c->out + (it->row0 + r0) * c->qdim + h * hd, .ldq = c->qdim, .ldkv = c->kvdim,
                 .ldo = c->qdim, .rows = r1 - r0, .nk = it->pos0 + r1, .hd = hd, .scale = c->scale,
                 .softcap = c->m->attn_softcap, .causal = 1, .pos0 = it->pos0 + r0,
                 .window = (size_t)c->m->layers[c->layer].window};
    kn_attn_tile(&c->m->blas, &a, c->scores + (size_t)worker * c->sstride);
}

/* RoPE, HF layout: of each head's first `dim` dimensions, i pairs with
 * i + dim/2, angle pos * inv_freq[i]; cos and sin times the type's
 * attention factor (yarn, longrope); the rest pass through. Angles in
 * double: the reference is float64. */
static void rope_rows(float *x, size_t T, size_t ld, int nheads, int hd, int dim, size_t pos0,
                      const double *inv_freq, double factor)
{
    int half = dim / 2;
    for (size_t t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double a = (double)(pos0 + t) * inv_freq[i];
            float cs = (float)(cos(a) * factor), sn = (float)(sin(a) * factor);
            for (int h = 0; h < nheads; h++) {
                float *v = x + t * ld + (size_t)h * hd;
                float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * cs - x1 * sn;
                v[i + half] = x1 * cs + x0 * sn;
            }
        }
}

/* The embedding of token id into x[H]. An untied embedding's row is read
 * as stored (F16/BF16 converted exactly): a whole fp32 copy of a 128k x
 * 4096 table would cost 2 GB, most of it never read. A tied embedding's
 * mapped pages were released after packing (pack_weights), so its row is
 * gathered from the packed head (gm_weights_row). Gemma multiplies it by
 * sqrt(hidden) (in fp32, as HF does in fp32). */
static void embed_row(const model *m, int32_t id, float *x)
{
    size_t H = (size_t)m->info.hidden, off = (size_t)id * H;
    if (m->tied) {
        gm_weights_row(&m->phead, (size_t)id, x);
    } else if (m->wte.dtype == CKPT_F32) {
        memcpy(x, (const float *)m->wte.p + off, H * sizeof *x);
    } else if (m->wte.dtype == CKPT_GGML) {   /* a GGUF file's blocks: this row dequantized */
        size_t block, bytes;
        gguf_type_size(m->wte.ggml_type, &block, &bytes);
        gguf_dequant(m->wte.ggml_type, (const unsigned char *)m->wte.p + (size_t)id * (H / block) * bytes, H, x);
    } else {
        const unsigned char *h = (const unsigned char *)m->wte.p + 2 * off;   /* the mapping: any alignment */
        for (size_t i = 0; i < H; i++) {
            uint16_t v;
            memcpy(&v, h + 2 * i, 2);
            x[i] = m->wte.dtype == CKPT_F16 ? f16_to_f32(v) : bf16_to_f32(v);
        }
    }
    if (m->embed_scale > 0)
        for (size_t i = 0; i < H; i++)
            x[i] *= m->embed_scale;
}

static void norm_rows(const model *m, float *out, const float *x, size_t rows, size_t n, const float *w,
                      const float *b)
{
    for (size_t t = 0; t < rows; t++) {
        if (m->norm == NORM_LAYER)
            kn_layernorm(out + t * n, x + t * n, w, b, n, m->eps);
        else
            kn_rmsnorm(out + t * n, x + t * n, w, n, m->eps);
    }
}

/* Qwen3's and Gemma 3's RMSNorm of every head of rows [T, ld], in place. */
static void head_norm(const model *m, float *x, size_t T, size_t ld, int nheads, const float *w)
{
    size_t hd = (size_t)m->info.head_dim;
    for (size_t t = 0; t < T; t++)
        for (int h = 0; h < nheads; h++) {
            float *v = x + t * ld + (size_t)h * hd;
            kn_rmsnorm(v, v, w, hd, m->eps);
        }
}

/* ---- forward ---------------------------------------------------------------
 * (fwd_ws, the scratch of forward passes, is in model_internal.h.) */

void ws_free(fwd_ws *w)
{
    free(w->x), free(w->xb), free(w->xb2), free(w->tmp), free(w->q), free(w->qkv), free(w->att), free(w->hb);
    free(w->hu), free(w->kt), free(w->vt), free(w->scores), free(w->ks), free(w->vs);
    memset(w, 0, sizeof *w);
}

int ws_reserve(const model *m, fwd_ws *w, size_t T, size_t ctx, size_t scratch, ys_error *err)
{
    size_t nthr = (size_t)kn_pool_threads(m->pool);
    if (T <= w->T && ctx <= w->ctx && scratch <= w->scratch && nthr <= w->nthr)
        return 0;
    T = T > w->T ? T : w->T, ctx = ctx > w->ctx ? ctx : w->ctx;
    scratch = scratch > w->scratch ? scratch : w->scratch, nthr = nthr > w->nthr ? nthr : w->nthr;
    ws_free(w);
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn, qdim = (size_t)mi->heads * (size_t)mi->head_dim;
    size_t kvdim = (size_t)mi->kv_heads * (size_t)mi->head_dim;
    w->T = T, w->ctx = ctx, w->scratch = scratch, w->nthr = nthr;
    w->x = kn_alloc(T * H * sizeof(float)), w->xb = kn_alloc(T * H * sizeof(float));
    w->q = kn_alloc(T * qdim * sizeof(float)), w->att = kn_alloc(T * qdim * sizeof(float));
    w->hb = kn_alloc(T * F * sizeof(float));
    w->kt = kn_alloc(T * kvdim * sizeof(float)), w->vt = kn_alloc(T * kvdim * sizeof(float));
    w->scores = kn_alloc(nthr * KN_ROWS * ctx * sizeof(float));
    int ok = w->x && w->xb && w->q && w->att && w->hb && w->kt && w->vt && w->scores;
    if (m->gated)   /* the gated MLP's up half */
        ok = ok && (w->hu = kn_alloc(T * F * sizeof(float)));
    if (m->res == RES_PARALLEL)   /* the MLP's norm of the same x */
        ok = ok && (w->xb2 = kn_alloc(T * H * sizeof(float)));
    if (m->res == RES_SANDWICH)   /* a block's output before its norm */
        ok = ok && (w->tmp = kn_alloc(T * H * sizeof(float)));
    if (m->qkv == QKV_HEADS)
        ok = ok && (w->qkv = kn_alloc(T * 3 * qdim * sizeof(float)));
    if (scratch)
        ok = ok && (w->ks = kn_alloc(scratch * kvdim * sizeof(float))) && (w->vs = kn_alloc(scratch * kvdim * sizeof(float)));
    if (!ok) {
        ws_free(w);
        return ys_fail(err, YS_ENOMEM, "out of memory for a forward pass over %zu tokens", T);
    }
    return 0;
}

/* y[rows, H] (the output of a projection) normed with w and added to x
 * (Gemma 2/3's post-attention and post-MLP norms). */
static void add_normed(const model *m, float *x, float *y, size_t rows, const float *w)
{
    size_t H = (size_t)m->info.hidden;
    for (size_t t = 0; t < rows; t++) {
        kn_rmsnorm(y + t * H, y + t * H, w, H, m->eps);
        for (size_t e = 0; e < H; e++)
            x[t * H + e] += y[t * H + e];
    }
}

/* The forward pass of n sequences at once (it[i].row0 must be the running
 * sum of the T's), leaving the final-norm hidden states of all rows
 * ([rows, H], in item order) in *hidden, which points into ws (valid until
 * ws's next use). Every projection runs once over the rows of all
 * sequences — a short sequence alone would stream all the weights for a
 * few rows — while attention stays within each sequence. gemm.h gives a
 * row the same bits whatever rows share the call, and attention's tiles
 * depend only on the sequence, so a sequence's numbers are the same
 * batched or alone. ws must be reserved (ws_reserve) for the rows, each
 * sequence's pos0 + T positions and the scratch the items point into.
 * A pipeline stage (model_internal.h) after the first starts from the rows
 * in ([rows, H], the residual stream the stage before left) instead of the
 * embeddings, and one before the last leaves its residual rows in *hidden
 * instead of their final norm. */
int forward_many(model *m, fwd_ws *ws, const fwd_item *it, size_t n, const float *in, const float **hidden,
                        ys_error *err)
{
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn, hd = (size_t)mi->head_dim;
    size_t qdim = (size_t)mi->heads * hd, kvdim = (size_t)mi->kv_heads * hd, R = 0;
    *hidden = NULL;
    if (m->no_embed && !in)
        return ys_fail(err, YS_EUSAGE, "a pipeline stage after the first needs the rows of the stage before");
    for (size_t i = 0; i < n; i++) {
        if (it[i].T == 0)
            return ys_fail(err, YS_EINPUT, "empty token sequence");
        if (mi->max_positions && it[i].pos0 + it[i].T > (size_t)mi->max_positions)
            return ys_fail(err, YS_EINPUT, "sequence of %zu tokens exceeds the model's %d positions",
                           it[i].pos0 + it[i].T, mi->max_positions);
        for (size_t t = 0; t < it[i].T; t++)
            if (it[i].ids[t] < 0 || it[i].ids[t] >= mi->vocab)
                return ys_fail(err, YS_EINPUT, "token %zu: id %d outside the vocabulary [0, %d)", t,
                               (int)it[i].ids[t], mi->vocab);
        R += it[i].T;
    }
    /* every item's RoPE frequencies and factor, per RoPE set */
    size_t half = (size_t)m->rope[0].dim / 2, nsets = m->rope[1].inv_freq ? 2 : 1;
    size_t *first = malloc((n + 1) * sizeof *first);
    double *freq = malloc((n * nsets * (half + 1) + 1) * sizeof *freq);
    if (!first || !freq) {
        free(first), free(freq);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    first[0] = 0;
    for (size_t i = 0; i < n; i++) {
        first[i + 1] = first[i] + (size_t)mi->heads * ((it[i].T + KN_ROWS - 1) / KN_ROWS);
        for (size_t s = 0; half && s < nsets; s++) {
            double *f = freq + (i * nsets + s) * (half + 1);
            rope_freqs(&m->rope[s], it[i].rope_len ? it[i].rope_len : it[i].pos0 + it[i].T, f + 1, f);
        }
    }
    m->blas.set_num_threads(1);

    float *x = ws->x, *xb = ws->xb, *q = ws->q, *att = ws->att, *hb = ws->hb, *hu = ws->hu;
    if (m->no_embed)
        memcpy(x, in, R * H * sizeof *x);
    for (size_t i = 0; !m->no_embed && i < n; i++)
        for (size_t t = 0; t < it[i].T; t++) {
            float *xr = x + (it[i].row0 + t) * H;
            embed_row(m, it[i].ids[t], xr);
            if (m->pos_embed)
                for (size_t e = 0; e < H; e++)
                    xr[e] += m->pos_embed[(it[i].pos0 + t) * H + e];
        }

    for (int l = 0; l < mi->layers; l++) {
        const layer *L = &m->layers[l];
        for (size_t i = 0; i < n; i++)
            if (it[i].from_k && it[i].pos0) {   /* a cached prefix, copied in front of the scratch rows */
                memcpy(it[i].k, it[i].from_k + (size_t)l * it[i].from_lstride, it[i].pos0 * kvdim * sizeof(float));
                memcpy(it[i].v, it[i].from_v + (size_t)l * it[i].from_lstride, it[i].pos0 * kvdim * sizeof(float));
            }
        float scale = m->attn_scale;
        if (m->scale_attn_by_layer)   /* the layer's index in the whole model */
            scale /= (float)(m->layer0 + l + 1);

        /* attention block: x += Wo attention(norm1(x)) (see res_kind) */
        norm_rows(m, xb, x, R, H, L->n1_w, L->n1_b);
        if (m->res == RES_PARALLEL)
            norm_rows(m, ws->xb2, x, R, H, L->n2_w, L->n2_b);
        gm_call g = {.x = xb, .ldx = H, .n = R};
        if (m->qkv == QKV_HEADS) {   /* one product, then each head's q|k|v to its place */
            g.w = &L->pq, g.bias = L->bqkv, g.y = ws->qkv, g.ldy = 3 * qdim;
            gm_run(m->pool, &g);
            for (size_t t = 0; t < R; t++)
                for (size_t h = 0; h < (size_t)mi->heads; h++) {
                    const float *src = ws->qkv + t * 3 * qdim + h * 3 * hd;
                    memcpy(q + t * qdim + h * hd, src, hd * sizeof(float));
                    memcpy(ws->kt + t * kvdim + h * hd, src + hd, hd * sizeof(float));
                    memcpy(ws->vt + t * kvdim + h * hd, src + 2 * hd, hd * sizeof(float));
                }
        } else {
            g.w = &L->pq, g.bias = L->bq, g.y = q, g.ldy = qdim;
            gm_run(m->pool, &g);
            g.w = &L->pk, g.bias = L->bk, g.y = ws->kt, g.ldy = kvdim;
            gm_run(m->pool, &g);
            g.w = &L->pv, g.bias = L->bv, g.y = ws->vt;
            gm_run(m->pool, &g);
        }
        if (L->qn_w) {
            head_norm(m, q, R, qdim, mi->heads, L->qn_w);
            head_norm(m, ws->kt, R, kvdim, mi->kv_heads, L->kn_w);
        }
        /* k and v to each sequence's key/value rows pos0.., RoPE on q and k */
        size_t set = L->rope == &m->rope[1];
        for (size_t i = 0; i < n; i++) {
            float *kc = it[i].k + (size_t)l * it[i].lstride + it[i].pos0 * kvdim;
            float *vc = it[i].v + (size_t)l * it[i].lstride + it[i].pos0 * kvdim;
            memcpy(kc, ws->kt + it[i].row0 * kvdim, it[i].T * kvdim * sizeof(float));
            memcpy(vc, ws->vt + it[i].row0 * kvdim, it[i].T * kvdim * sizeof(float));
            if (half) {
                const double *f = freq + (i * nsets + set) * (half + 1);
                rope_rows(q + it[i].row0 * qdim, it[i].T, qdim, mi->heads, (int)hd, L->rope->dim, it[i].pos0, f + 1, f[0]);
                rope_rows(kc, it[i].T, kvdim, mi->kv_heads, (int)hd, L->rope->dim, it[i].pos0, f + 1, f[0]);
            }
        }
        attn_ctx ac = {m, it, n, (size_t)l, first, q, att, kvdim, qdim, scale, ws->scores, KN_ROWS * ws->ctx};
        kn_pool_run(m->pool, first[n], attn_tile, &ac);
        int sandwich = m->res == RES_SANDWICH;
        g = (gm_call){.x = att, .ldx = qdim, .w = &L->po, .bias = L->bo, .y = sandwich ? ws->tmp : x, .ldy = H,
                      .n = R, .accumulate = !sandwich};
        gm_run(m->pool, &g);
        if (sandwich)
            add_normed(m, x, ws->tmp, R, L->ao_w);

        /* MLP block: x += down(act(up(norm2(x)))), gated: down(act(gate) * up) */
        const float *xm = xb;
        if (m->res == RES_PARALLEL)
            xm = ws->xb2;
        else
            norm_rows(m, xb, x, R, H, L->n2_w, L->n2_b);
        g = (gm_call){.x = xm, .ldx = H, .w = &L->pgate, .bias = m->gated ? NULL : L->b_up, .y = hb, .ldy = F,
                      .n = R, .act = m->silu ? GM_ACT_NONE : m->mlp_act};
        gm_run(m->pool, &g);
        if (m->gated) {
            g = (gm_call){.x = xm, .ldx = H, .w = &L->pup, .y = hu, .ldy = F, .n = R};
            gm_run(m->pool, &g);
            if (m->silu)
                vm_silu_mul(GM_ISA_AUTO, hb, hu, R * F);
            else
                for (size_t e = 0; e < R * F; e++)
                    hb[e] *= hu[e];
        }
        g = (gm_call){.x = hb, .ldx = F, .w = &L->pdown, .bias = L->b_down, .y = sandwich ? ws->tmp : x, .ldy = H,
                      .n = R, .accumulate = !sandwich};
        gm_run(m->pool, &g);
        if (sandwich)
            add_normed(m, x, ws->tmp, R, L->mo_w);
    }
    if (!m->no_head)
        norm_rows(m, xb, x, R, H, m->final_w, m->final_b);
    free(first);
    free(freq);
    *hidden = m->no_head ? x : xb;
    return 0;
}

/* One sequence: append ids[0..T) to kv at positions kv->len.. (keep = 1,
 * generation and prefixes), or compute them against kv's rows without
 * storing them (keep = 0: the scored part of a sequence, which no later
 * call attends to; its keys go to ws scratch behind a copy of kv's rows, so
 * the cache only ever holds prefixes: a 1024-token GPT-2 window needs 6 MB
 * of scratch instead of a 75 MB cache). Same bits either way. */
static int forward(model *m, model_kv *kv, fwd_ws *ws, const int32_t *ids, size_t T, int keep,
                   const float **hidden, ys_error *err)
{
    size_t pos0 = kv->len;   /* (forward_many checks the tokens) */
    if (keep && T > kv->cap - pos0)
        return ys_fail(err, YS_EINPUT, "%zu tokens do not fit the KV cache (%zu of %zu used)", T, pos0, kv->cap);
    int rc = ws_reserve(m, ws, T, pos0 + T, keep ? 0 : pos0 + T, err);
    if (rc)
        return rc;
    fwd_item it = {.ids = ids, .T = T, .pos0 = pos0, .k = kv->k, .v = kv->v, .lstride = kv->cap * kv->kvdim};
    if (!keep)
        it = (fwd_item){.ids = ids, .T = T, .pos0 = pos0, .k = ws->ks, .v = ws->vs, .from_k = kv->k,
                        .from_v = kv->v, .from_lstride = kv->cap * kv->kvdim};
    rc = forward_many(m, ws, &it, 1, NULL, hidden, err);
    if (rc == 0 && keep)
        kv->len = pos0 + T;
    return rc;
}

/* logits[rows, V] = hidden[rows, H] lm_head^T (gemm.h). */
void vocab_proj(model *m, const float *hidden, size_t rows, float *logits)
{
    size_t H = (size_t)m->info.hidden, V = (size_t)m->info.vocab;
    gm_call g = {.x = hidden, .ldx = H, .w = &m->phead, .y = logits, .ldy = V, .n = rows};
    gm_run(m->pool, &g);
}

/* Gemma 2's final soft-cap of one row of logits, cap * tanh(z / cap) in
 * fp32 as HF computes it (vmath.h: within 3 ulp of the exact function, the same bits on
 * every ISA; libm's scalar tanhf was 5% of scoring). Per row, so that
 * scoring runs it on the pool with the log-softmax. */
void softcap_row(const model *m, float *z)
{
    if (m->final_softcap > 0)
        vm_softcap(GM_ISA_AUTO, z, (size_t)m->info.vocab, m->final_softcap);
}

/* ---- scoring ---------------------------------------------------------------
 * Per sequence scored from f (f > 1): the prefix [0, f-1) and then the rest
 * [f-1, n-1) (the last token is only predicted, never input: a sequence
 * may have max_positions + 1 tokens, as lm-evaluation-harness's rolling
 * windows do). Neither the packed GEMM nor the exact attention tile cares
 * about the split, so the bits are those of one pass over the whole
 * sequence. f == 1 has no prefix.
 *
 * Sequences go through in groups (consecutive, up to GROUP_ROWS scored
 * rows): first one forward pass over the group's distinct prefixes, whose
 * keys and values are kept (the choices of a multiple-choice question
 * share theirs: same f and same prefix tokens, sorted together by the
 * runner), then one over all the rests against them, then the vocabulary
 * projection LOGIT_ROWS rows at a time across the group, and log-softmax
 * per row. Batched or alone, a sequence's numbers are the same
 * (forward_many). With a prefix cache (model_prefix_cache_*, prefix_cache.c)
 * a prefix's first whole blocks are copied from it into the kept rows and
 * only the rest of the prefix is computed; every distinct prefix's whole
 * blocks are then stored. */

/* Rows of logits computed at a time: each pass streams the whole packed
 * head (V x H floats) once, so more rows per pass means less memory
 * traffic, at LOGIT_ROWS x V floats of buffer (25 MB for GPT-2). */
#define LOGIT_ROWS 128
/* Scored rows per group: short sequences share the weight traffic of one
 * pass; activations cost rows x (4 H + F) floats (13 MB for GPT-2 at 1024) */
#define GROUP_ROWS 1024
/* and the group's kept prefix rows (keys and values of every layer: 75 MB
 * for GPT-2 at 1024) and scratch rows (one layer: 25 MB at 4096) */
#define GROUP_PREFIX_ROWS 1024
#define GROUP_SCRATCH_ROWS 4096

typedef struct lsm_ctx {
    const model *m;
    float *logits;          /* [rows, V]: group rows r0.. */
    size_t r0, V;
    const size_t *seq, *pos;  /* per group row: its sequence and position t (predicts t + 1) */
    const int32_t *const *seqs;
    const size_t *from;
    double *const *lp;
    uint8_t *const *greedy;
    float *const *out_logits;
} lsm_ctx;

static void logsoftmax_row(void *vctx, size_t item, int worker)
{
    (void)worker;
    const lsm_ctx *c = vctx;
    size_t r = c->r0 + item, s = c->seq[r], t = c->pos[r];
    float *z = c->logits + item * c->V;
    softcap_row(c->m, z);
    size_t arg = 0;
    for (size_t j = 1; j < c->V; j++)
        if (z[j] > z[arg])
            arg = j;
    double sum = vm_exp_sum(GM_ISA_AUTO, NULL, z, c->V, z[arg]);
    size_t f = c->from && c->from[s] > 1 ? c->from[s] : 1;
    size_t o = t + 1 - f;                     /* output index */
    int32_t next = c->seqs[s][t + 1];
    c->lp[s][o] = (double)z[next] - (double)z[arg] - log(sum);
    if (c->greedy && c->greedy[s])
        c->greedy[s][o] = (size_t)next == arg;
    if (c->out_logits && c->out_logits[s])
        memcpy(c->out_logits[s] + o * c->V, z, c->V * sizeof *z);
}

static size_t prefix_of(const size_t *from, size_t s) { return from && from[s] > 1 ? from[s] - 1 : 0; }

/* Sequence s has the same prefix as sequence o (same f, same tokens), and
 * the prefix's keys are the same: with a RoPE that depends on the
 * sequence's length (dynamic, longrope), a sequence is rotated as one call
 * of all its input tokens would be, so the lengths must give the same
 * frequencies. */
static bool same_prefix(const model *m, const int32_t *const *seqs, const size_t *lens, const size_t *from,
                        size_t s, size_t o)
{
    size_t p = prefix_of(from, s);
    if (m->rope_by_len)
        for (int r = 0; r < 2; r++)
            if (m->rope[r].inv_freq && !rope_same(&m->rope[r], lens[s] - 1, lens[o] - 1))
                return false;
    return p > 0 && prefix_of(from, o) == p && !memcmp(seqs[s], seqs[o], p * sizeof *seqs[s]);
}

int model_logprobs(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq,
                   const size_t *from, double *const *logprobs, uint8_t *const *greedy,
                   float *const *logits, ys_error *err)
{
    return model_logprobs_cached(m, NULL, seqs, lens, nseq, from, logprobs, greedy, logits, err);
}

int model_logprobs_cached(model *m, model_prefix_cache *pc, const int32_t *const *seqs, const size_t *lens,
                          size_t nseq, const size_t *from, double *const *logprobs, uint8_t *const *greedy,
                          float *const *logits, ys_error *err)
{
    if (m->no_embed || m->no_head)
        return ys_fail(err, YS_EUSAGE, "a pipeline stage scores through model_stage_logprobs");
    return model_logprobs_io(m, pc, seqs, lens, nseq, from, logprobs, greedy, logits, NULL, err);
}

int model_logprobs_io(model *m, model_prefix_cache *pc, const int32_t *const *seqs, const size_t *lens, size_t nseq,
                      const size_t *from, double *const *logprobs, uint8_t *const *greedy, float *const *logits,
                      stage_io *io, ys_error *err)
{
    size_t V = (size_t)m->info.vocab, H = (size_t)m->info.hidden, kvdim = (size_t)m->info.kv_heads * (size_t)m->info.head_dim;
    size_t maxrows = GROUP_ROWS;   /* a group's scored rows: the budget, or one longer sequence */
    for (size_t s = 0; s < nseq; s++) {
        size_t n = lens[s], f = from && from[s] > 1 ? from[s] : 1;
        maxrows = n > maxrows ? n : maxrows;
        if (n == 0 || f > n)
            return ys_fail(err, YS_EINPUT, "sequence %zu: length %zu, scoring from %zu", s, n, f);
        for (size_t t = 0; t < n; t++)   /* targets too: forward sees all but the last */
            if (seqs[s][t] < 0 || seqs[s][t] >= m->info.vocab)
                return ys_fail(err, YS_EINPUT, "sequence %zu: token %zu: id %d outside the vocabulary [0, %d)", s, t,
                               (int)seqs[s][t], m->info.vocab);
        if (m->info.max_positions && n - 1 > (size_t)m->info.max_positions)
            return ys_fail(err, YS_EINPUT, "sequence %zu: sequence of %zu tokens exceeds the model's %d positions",
                           s, n - 1, m->info.max_positions);
    }
    /* (a stage before the last has no head) */
    float *buf = m->no_head ? NULL : kn_alloc(LOGIT_ROWS * V * sizeof *buf);
    fwd_item *items = malloc((nseq + 1) * sizeof *items), *pre = malloc((nseq + 1) * sizeof *pre);
    fwd_item *pcall = malloc((nseq + 1) * sizeof *pcall);
    unsigned char *pdefer = malloc(nseq + 1);
    size_t *owner = malloc((nseq + 1) * sizeof *owner), *pidx = malloc((nseq + 1) * sizeof *pidx);
    size_t *rseq = malloc(maxrows * sizeof *rseq), *rpos = malloc(maxrows * sizeof *rpos);
    fwd_ws ws = {0};
    model_kv *kv = NULL;
    int rc = 0;
    if ((!buf && !m->no_head) || !items || !pre || !pcall || !pdefer || !owner || !pidx || !rseq || !rpos)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t g0 = 0; g0 < nseq && rc == 0;) {
        /* the group: sequences g0..g1 with something to score, within the
         * row budgets (at least one sequence) */
        size_t g1 = g0, rows = 0, prows = 0, scratch = 0, ctx = 1, npre = 0, nit = 0;
        for (; g1 < nseq; g1++) {
            size_t p = prefix_of(from, g1), r = lens[g1] - 1 - p;
            if (lens[g1] - 1 <= p)
                continue;   /* nothing to score (f == n, e.g. a one-token sequence) */
            /* the previous scored sequence's prefix, if it is the same */
            bool shared = p > 0 && nit > 0 && same_prefix(m, seqs, lens, from, g1, owner[nit - 1]);
            size_t newp = p > 0 && !shared ? p : 0;
            /* the whole sequence's RoPE, as lm-evaluation-harness's one call over it has it */
            size_t rope_len = m->rope_by_len ? lens[g1] - 1 : 0;
            if (nit > 0 && (rows + r > GROUP_ROWS || prows + newp > GROUP_PREFIX_ROWS ||
                            scratch + p + r > GROUP_SCRATCH_ROWS))
                break;
            if (newp) {
                pre[npre] = (fwd_item){.ids = seqs[g1], .T = p, .row0 = prows, .rope_len = rope_len};
                prows += p, npre++;
            }
            owner[nit] = g1;
            pidx[nit] = p > 0 ? npre - 1 : SIZE_MAX;
            items[nit] = (fwd_item){.ids = seqs[g1] + p, .T = r, .pos0 = p, .row0 = rows, .rope_len = rope_len};
            rows += r, scratch += p + r, nit++;
            ctx = p + r > ctx ? p + r : ctx;
        }
        if (nit == 0)
            break;
        if (io && io->count) {   /* without a prefix cache every distinct prefix is computed */
            io->rows += prows + rows;
            g0 = g1;
            continue;
        }
        size_t need = rows > prows ? rows : prows;
        if (!kv || kv->cap < (prows ? prows : 1)) {
            model_kv_free(kv);
            kv = NULL;
            rc = model_kv_new(m, prows ? prows : 1, &kv, err);
        }
        if (rc == 0)
            rc = ws_reserve(m, &ws, need, ctx, scratch, err);
        const float *hidden = NULL;
        /* the distinct prefixes, kept in kv: prefix i at rows row0..; their
         * first blocks from the prefix cache where it has them (copied in
         * front), the rest computed (pcall: the items that have a rest,
         * their rows renumbered) and stored in the cache. A prefix that
         * shares more whole blocks with an earlier prefix of this group
         * than the cache gave it (questions of one task behind the same
         * few-shot examples) waits for a second pass, after the first
         * pass's blocks are stored. */
        size_t lstride = kv ? kv->cap * kvdim : 0, crow = 0, B = pc_storing_block(pc);
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
            size_t npc = 0, ndefer = 0, crow0 = crow;
            for (size_t i = 0; i < npre; i++) {
                if (pass == 0) {
                    pre[i].k = kv->k + pre[i].row0 * kvdim, pre[i].v = kv->v + pre[i].row0 * kvdim;
                    pre[i].lstride = lstride;
                    pdefer[i] = 0;
                } else if (!pdefer[i]) {
                    continue;
                }
                size_t have = pass == 0 && B ? pc_peek(pc, pre[i].ids, pre[i].T) : 0;
                for (size_t j = 0; pass == 0 && B && j < i && !pdefer[i]; j++) {
                    size_t n = pre[j].T < pre[i].T ? pre[j].T : pre[i].T, l = 0;
                    while (l < n && pre[j].ids[l] == pre[i].ids[l])
                        l++;
                    if (!pdefer[j] && l / B * B > have)
                        pdefer[i] = 1, ndefer++;
                }
                if (pdefer[i] && pass == 0)
                    continue;
                size_t c = model_prefix_cache_lookup(pc, pre[i].ids, pre[i].T, pre[i].k, pre[i].v, lstride);
                if (c < pre[i].T) {
                    pcall[npc] = pre[i];
                    pcall[npc].ids += c, pcall[npc].pos0 = c, pcall[npc].T -= c, pcall[npc].row0 = 0;
                    for (size_t j = 0; j < npc; j++)
                        pcall[npc].row0 += pcall[j].T;
                    crow += pcall[npc++].T;
                }
            }
            const float *in = NULL;
            if (npc && (rc = stage_in(m, io, crow - crow0, &in, err)) == 0 &&
                (rc = forward_many(m, &ws, pcall, npc, in, &hidden, err)) == 0)
                stage_out(m, io, hidden, crow - crow0);
            for (size_t i = 0; rc == 0 && i < npre; i++)
                if (pdefer[i] == (pass == 1))
                    model_prefix_cache_store(pc, pre[i].ids, pre[i].T, pre[i].k, pre[i].v, lstride);
            if (pass == 0 && ndefer == 0)
                break;
        }
        model_prefix_cache_count(pc, 0, crow);
        /* the rests, each in its own scratch rows behind a copy of its prefix */
        size_t off = 0;
        for (size_t i = 0; rc == 0 && i < nit; i++) {
            fwd_item *it = &items[i];
            it->k = ws.ks + off * kvdim, it->v = ws.vs + off * kvdim, it->lstride = 0;
            if (pidx[i] != SIZE_MAX)
                it->from_k = pre[pidx[i]].k, it->from_v = pre[pidx[i]].v, it->from_lstride = lstride;
            off += it->pos0 + it->T;
            for (size_t t = 0; t < it->T; t++)
                rseq[it->row0 + t] = owner[i], rpos[it->row0 + t] = it->pos0 + t;
        }
        const float *in = NULL;
        if (rc == 0 && (rc = stage_in(m, io, rows, &in, err)) == 0 &&
            (rc = forward_many(m, &ws, items, nit, in, &hidden, err)) == 0)
            stage_out(m, io, hidden, rows);
        if (rc == 0) {
            size_t input = 0;
            for (size_t i = 0; i < nit; i++)
                input += items[i].pos0 + items[i].T;
            model_prefix_cache_count(pc, input, rows);
        }
        if (rc) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            rc = ys_fail(err, rc, "sequences %zu-%zu: %s", g0, g1 - 1, msg);
            break;
        }
        for (size_t r0 = 0; !m->no_head && r0 < rows; r0 += LOGIT_ROWS) {
            size_t r1 = r0 + LOGIT_ROWS < rows ? r0 + LOGIT_ROWS : rows;
            vocab_proj(m, hidden + r0 * H, r1 - r0, buf);
            lsm_ctx lc = {m, buf, r0, V, rseq, rpos, seqs, from, logprobs, greedy, logits};
            kn_pool_run(m->pool, r1 - r0, logsoftmax_row, &lc);
        }
        g0 = g1;
    }
    ws_free(&ws);
    model_kv_free(kv);
    free(buf), free(items), free(pre), free(pcall), free(pdefer), free(owner), free(pidx), free(rseq), free(rpos);
    return rc;
}

/* ---- generation ---------------------------------------------------------- */

static int step(model *m, model_kv *kv, fwd_ws *ws, const int32_t *ids, size_t n, float *logits, ys_error *err)
{
    const float *hidden;
    int rc = forward(m, kv, ws, ids, n, 1, &hidden, err);
    if (rc == 0 && logits) {
        vocab_proj(m, hidden + (n - 1) * (size_t)m->info.hidden, 1, logits);
        softcap_row(m, logits);
    }
    return rc;
}

int model_step(model *m, model_kv *kv, const int32_t *ids, size_t n, float *logits, ys_error *err)
{
    if (m->no_embed || m->no_head)
        return ys_fail(err, YS_EUSAGE, "generation through pipeline stages is not supported");
    fwd_ws ws = {0};
    int rc = step(m, kv, &ws, ids, n, logits, err);
    ws_free(&ws);
    return rc;
}
