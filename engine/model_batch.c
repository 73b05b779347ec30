/* model_batch.c — generation (model.h, "generation" and "batched
 * generation"): sampling, and the continuous batch whose every step is
 * one forward pass (model.c's forward_many) over the rows of every active
 * request. model_generate is a batch of one. */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: a tiny, well-mixed generator; the whole stream follows from
 * the seed, and it lives on the caller's stack (no global state). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct { float z; int32_t id; } cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->z != y->z)
        return x->z > y->z ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;   /* stable: lower id first */
}

static int32_t argmax(const float *z, size_t V)
{
    size_t a = 0;
    for (size_t j = 1; j < V; j++)
        if (z[j] > z[a])
            a = j;
    return (int32_t)a;
}

/* temperature -> top-k -> top-p (the order HF's generate applies them),
 * then one uniform draw over the kept, renormalised probabilities. */
static int32_t sample(const float *z, size_t V, const model_sampling *sp, uint64_t *rng, cand *c, double *p)
{
    for (size_t j = 0; j < V; j++)
        c[j].z = z[j] / sp->temperature, c[j].id = (int32_t)j;
    qsort(c, V, sizeof *c, cand_cmp);
    size_t keep = sp->top_k > 0 && (size_t)sp->top_k < V ? (size_t)sp->top_k : V;
    double sum = 0;
    for (size_t j = 0; j < keep; j++)
        sum += p[j] = exp((double)c[j].z - (double)c[0].z);
    if (sp->top_p > 0 && sp->top_p < 1) {
        double acc = 0;
        size_t j = 0;
        while (j < keep && acc < sp->top_p * sum)
            acc += p[j++];
        keep = j ? j : 1;
        sum = acc > 0 ? acc : p[0];
    }
    double u = (double)(rng_next(rng) >> 11) * 0x1p-53 * sum, acc = 0;
    for (size_t j = 0; j < keep; j++) {
        acc += p[j];
        if (u < acc)
            return c[j].id;
    }
    return c[keep - 1].id;
}

/* ---- batched generation (model.h, "batched generation") -------------------
 * A slot holds one admitted request: its KV cache, the rows it feeds the
 * next pass (its prompt, its last token, or — Phi-3 at the longrope switch
 * — its whole sequence), its random stream. Every step feeds each slot's
 * rows exactly as a request decoded alone is fed, in one forward_many, so
 * the bits are the alone ones (forward_many, gemm.h).
 *
 * A step is a plan (admission, and each active slot's rows: model_plan)
 * and a pass over it. On a whole model the two follow each other
 * (model_batch_step); through pipeline stages the batch on the last stage
 * (the one with the head, which chooses the tokens) makes the plan and
 * every stage runs the same plan on its layers, the stages before the last
 * keeping only KV caches: a slot's cache is made when the plan says the
 * slot is fresh, cut back to the plan's pos0 (Phi-3's recomputation), and
 * freed when the slot no longer appears (every active slot feeds rows at
 * every step). So a stage's slot s holds the same positions of the same
 * request as the last stage's slot s, and the rows it hands on are the
 * residual stream of exactly the rows the whole model would compute. */

/* Prompt rows admitted per step (at least one prompt): bounds a pass's
 * activations (rows x (4 H + F) floats, 13 MB for GPT-2 at 1024). */
#define PREFILL_ROWS 1024

typedef struct gen_slot {
    model_request *r;          /* NULL: free (a stage before the last: kv NULL) */
    model_kv *kv;
    size_t cap;                /* positions the request may reach */
    int32_t *all;              /* Phi-3 (rope_reset): the whole sequence so far */
    uint64_t rng;
    const int32_t *feed;       /* the rows of the next pass */
    size_t nfeed;
    int32_t tok;               /* the last chosen token (a decoding step's feed) */
    int prefilling;            /* the next pass feeds the prompt (its blocks then go to the prefix cache) */
    uint64_t seen;             /* a stage before the last: the last pass whose plan had the slot */
} gen_slot;

struct model_batch {
    model *m;
    int decides;               /* the model has the head: this batch chooses tokens and plans */
    size_t max_active, cap_active;
    gen_slot *slots;           /* [max_active] */
    model_request **queue;     /* waiting, FIFO: [qhead, qlen) */
    size_t qhead, qlen, qcap;
    fwd_ws ws;
    fwd_item *items;           /* [max_active] */
    size_t *item_slot;
    float *hid, *logits;       /* [max_active, H], [max_active, V] */
    int32_t *chosen;
    cand *cbuf;                /* sampling: per worker V candidates and V probabilities */
    double *pbuf;
    size_t nbuf;               /* workers the two are sized for */
    model_prefix_cache *pc;    /* the caller's, or NULL */
    model_plan_item *pitems;   /* the plan made last: [max_active] */
    int32_t *pids;             /* its ids, [pcap] */
    size_t pcap;
    int planned;               /* a plan waits for its pass */
    uint64_t npass;
};

int model_batch_new(model *m, size_t max_active, model_batch **out, ys_error *err)
{
    *out = NULL;
    if (max_active < 1)
        return ys_fail(err, YS_EUSAGE, "a batch needs room for at least one request");
    model_batch *b = calloc(1, sizeof *b);
    size_t H = (size_t)m->info.hidden, V = (size_t)m->info.vocab;
    int decides = !m->no_head;
    if (b) {
        b->m = m, b->decides = decides, b->max_active = b->cap_active = max_active;
        b->slots = calloc(max_active, sizeof *b->slots);
        b->items = malloc(max_active * sizeof *b->items);
        b->item_slot = malloc(max_active * sizeof *b->item_slot);
        b->pitems = malloc(max_active * sizeof *b->pitems);
        if (decides) {   /* (a stage before the last has no head and chooses nothing) */
            b->hid = kn_alloc(max_active * H * sizeof(float));
            b->logits = kn_alloc(max_active * V * sizeof(float));
            b->chosen = malloc(max_active * sizeof *b->chosen);
        }
    }
    if (!b || !b->slots || !b->items || !b->item_slot || !b->pitems ||
        (decides && (!b->hid || !b->logits || !b->chosen))) {
        model_batch_free(b);
        return ys_fail(err, YS_ENOMEM, "out of memory for a batch of %zu requests", max_active);
    }
    *out = b;
    return 0;
}

static void slot_release(gen_slot *s)
{
    model_kv_free(s->kv);
    free(s->all);
    memset(s, 0, sizeof *s);
}

void model_batch_free(model_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->slots && i < b->max_active; i++)
        slot_release(&b->slots[i]);
    ws_free(&b->ws);
    free(b->slots), free(b->queue), free(b->items), free(b->item_slot), free(b->hid), free(b->logits);
    free(b->chosen), free(b->cbuf), free(b->pbuf), free(b->pitems), free(b->pids);
    free(b);
}

int model_batch_add(model_batch *b, model_request *r, ys_error *err)
{
    const model_info *mi = &b->m->info;
    r->n_out = 0, r->done = 0;
    if (!b->decides)
        return ys_fail(err, YS_EUSAGE, "requests join the batch of the last pipeline stage (the one that chooses "
                                       "the tokens)");
    if (r->n_prompt == 0)
        return ys_fail(err, YS_EINPUT, "generation needs a prompt of at least one token");
    for (size_t t = 0; t < r->n_prompt; t++)
        if (r->prompt[t] < 0 || r->prompt[t] >= mi->vocab)
            return ys_fail(err, YS_EINPUT, "token %zu: id %d outside the vocabulary [0, %d)", t, (int)r->prompt[t],
                           mi->vocab);
    if (mi->max_positions && r->n_prompt > (size_t)mi->max_positions)
        return ys_fail(err, YS_EINPUT, "sequence of %zu tokens exceeds the model's %d positions", r->n_prompt,
                       mi->max_positions);
    if (b->qlen == b->qcap) {
        if (b->qhead > 0) {   /* reuse the space of admitted requests first */
            memmove(b->queue, b->queue + b->qhead, (b->qlen - b->qhead) * sizeof *b->queue);
            b->qlen -= b->qhead, b->qhead = 0;
        }
        if (b->qlen == b->qcap) {
            size_t nc = b->qcap ? 2 * b->qcap : 16;
            model_request **q = realloc(b->queue, nc * sizeof *q);
            if (!q)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            b->queue = q, b->qcap = nc;
        }
    }
    b->queue[b->qlen++] = r;
    return 0;
}

size_t model_batch_pending(const model_batch *b)
{
    size_t n = b->qlen - b->qhead;
    for (size_t i = 0; i < b->max_active; i++)
        n += b->slots[i].r != NULL;
    return n;
}

size_t model_batch_capacity(const model_batch *b) { return b->cap_active; }

void model_batch_set_prefix_cache(model_batch *b, model_prefix_cache *pc) { b->pc = pc; }

/* The tokens r's prompt has in whole blocks in common with a prompt that
 * joined in this step: computed by this pass, in the prefix cache only
 * after it. */
static size_t shared_with_joining(const model_batch *b, const model_request *r)
{
    size_t block = pc_storing_block(b->pc), best = 0;
    for (size_t i = 0; block && i < b->max_active; i++) {
        const gen_slot *s = &b->slots[i];
        if (!s->r || !s->prefilling)
            continue;
        size_t n = s->r->n_prompt < r->n_prompt ? s->r->n_prompt : r->n_prompt, c = 0;
        while (c < n && s->r->prompt[c] == r->prompt[c])
            c++;
        c = c / block * block;
        best = c > best ? c : best;
    }
    return best;
}

/* Slot s takes request r: its cache (prompt + max_new, GPT-2 stopping at
 * n_positions, as model_generate always had it) and its first feed, the
 * prompt — after the longest run of whole blocks the prefix cache holds
 * (copied in: the bits computing them gives, model.h "prefix cache"). 1
 * when the memory is not there (nothing changed). */
static int slot_admit(const model *m, model_prefix_cache *pc, gen_slot *s, model_request *r)
{
    size_t cap = r->n_prompt + r->max_new;
    if (m->info.max_positions && cap > (size_t)m->info.max_positions)
        cap = (size_t)m->info.max_positions;   /* >= n_prompt (model_batch_add) */
    ys_error e = {0};
    model_kv *kv = NULL;
    int32_t *all = NULL;
    if (model_kv_new(m, cap, &kv, &e) || (m->rope_reset && !(all = malloc(cap * sizeof *all)))) {
        model_kv_free(kv);
        return 1;
    }
    if (all)
        memcpy(all, r->prompt, r->n_prompt * sizeof *all);
    size_t got = model_prefix_cache_attach(pc, r->prompt, r->n_prompt, kv);
    model_prefix_cache_count(pc, r->n_prompt, r->n_prompt - got);   /* pc NULL: nothing */
    *s = (gen_slot){.r = r, .kv = kv, .cap = cap, .all = all, .rng = r->sampling.seed, .feed = r->prompt + got,
                    .nfeed = r->n_prompt - got, .prefilling = 1};
    return 0;
}

typedef struct choose_ctx {
    model_batch *b;
    size_t V;
} choose_ctx;

/* Row i's token: the soft-cap (Gemma 2), then argmax or a draw from its
 * request's own stream; per worker candidate buffers. */
static void choose_row(void *vctx, size_t i, int worker)
{
    const choose_ctx *c = vctx;
    model_batch *b = c->b;
    gen_slot *s = &b->slots[b->item_slot[i]];
    float *z = b->logits + i * c->V;
    softcap_row(b->m, z);
    const model_sampling *sp = &s->r->sampling;
    b->chosen[i] = sp->temperature > 0 ? sample(z, c->V, sp, &s->rng, b->cbuf + (size_t)worker * c->V,
                                                b->pbuf + (size_t)worker * c->V)
                                       : argmax(z, c->V);
}

int model_batch_plan(model_batch *b, model_plan *plan, model_request **done, size_t *n_done, ys_error *err)
{
    model *m = b->m;
    size_t nd = 0, active = 0, prefill = 0;
    *n_done = 0;
    memset(plan, 0, sizeof *plan);
    if (!b->decides)
        return ys_fail(err, YS_EUSAGE, "a pipeline stage before the last runs the last stage's plans");
    for (size_t i = 0; i < b->max_active; i++)
        active += b->slots[i].r != NULL;
    /* admission: waiting requests into free slots, first come first served
     * (nd + active stays <= max_active: done's room) */
    for (size_t i = 0; b->qhead < b->qlen && active < b->cap_active && nd + active < b->max_active;) {
        model_request *r = b->queue[b->qhead];
        if (r->max_new == 0) {   /* nothing to generate: done without a pass */
            r->done = 1, done[nd++] = r, b->qhead++;
            continue;
        }
        while (b->slots[i].r)   /* a free one exists: active < cap_active <= max_active */
            i++;
        if (prefill > 0 && prefill + r->n_prompt > PREFILL_ROWS)
            break;
        /* a prompt sharing whole blocks beyond the cache's with one that
         * joins now waits a step: then those blocks are cached and computed
         * once (a task's few-shot examples, admitted together) */
        if (prefill > 0 && shared_with_joining(b, r) > pc_peek(b->pc, r->prompt, r->n_prompt - 1))
            break;
        if (slot_admit(m, b->pc, &b->slots[i], r)) {
            if (active == 0)
                return ys_fail(err, YS_ENOMEM, "out of memory for the KV cache of a request of %zu + %zu tokens",
                               r->n_prompt, r->max_new);
            b->cap_active = active;   /* what fits: the others wait for these to finish */
            break;
        }
        b->qhead++, active++, prefill += b->slots[i].nfeed;
    }
    *n_done = nd;
    /* the plan: every active slot's rows, in slot order */
    size_t n = 0, R = 0;
    for (size_t i = 0; i < b->max_active; i++)
        if (b->slots[i].r)
            R += b->slots[i].nfeed;
    if (R > b->pcap) {
        int32_t *p = realloc(b->pids, R * sizeof *p);
        if (!p)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        b->pids = p, b->pcap = R;
    }
    R = 0;
    for (size_t i = 0; i < b->max_active; i++) {
        const gen_slot *s = &b->slots[i];
        if (!s->r)
            continue;
        b->pitems[n++] = (model_plan_item){.slot = (uint32_t)i, .fresh = (uint32_t)s->prefilling,
                                           .pos0 = s->kv->len, .rows = s->nfeed, .cap = s->cap};
        memcpy(b->pids + R, s->feed, s->nfeed * sizeof *b->pids);
        R += s->nfeed;
    }
    *plan = (model_plan){.n = n, .rows = R, .items = b->pitems, .ids = b->pids};
    b->planned = n > 0;
    return 0;
}

/* A stage before the last: its slots as the plan has them (see the
 * section's comment), and room for the plan's slots. */
static int follow_plan(model_batch *b, const model_plan *p, ys_error *err)
{
    size_t need = 0;
    for (size_t i = 0; i < p->n; i++)
        need = p->items[i].slot >= need ? (size_t)p->items[i].slot + 1 : need;
    if (need > b->max_active) {   /* the last stage's batch may be wider than this one's */
        gen_slot *s = realloc(b->slots, need * sizeof *s);
        if (s)
            memset(s + b->max_active, 0, (need - b->max_active) * sizeof *s), b->slots = s;
        fwd_item *it = realloc(b->items, need * sizeof *it);
        if (it)
            b->items = it;
        if (!s || !it)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        b->max_active = b->cap_active = need;
    }
    b->npass++;
    for (size_t i = 0; i < p->n; i++) {
        gen_slot *s = &b->slots[p->items[i].slot];
        if (s->seen == b->npass)
            return ys_fail(err, YS_EINPUT, "the plan names slot %u twice", (unsigned)p->items[i].slot);
        s->seen = b->npass;
    }
    for (size_t i = 0; i < b->max_active; i++)   /* requests that left: their memory first */
        if (b->slots[i].kv && b->slots[i].seen != b->npass)
            slot_release(&b->slots[i]);
    for (size_t i = 0; i < p->n; i++) {
        const model_plan_item *pi = &p->items[i];
        gen_slot *s = &b->slots[pi->slot];
        if (pi->fresh) {
            model_kv_free(s->kv), s->kv = NULL;
            if (pi->pos0 != 0)   /* (no prefix cache on stages) */
                return ys_fail(err, YS_EINPUT, "a joining request's rows begin at position %llu",
                               (unsigned long long)pi->pos0);
            int rc = model_kv_new(b->m, (size_t)pi->cap, &s->kv, err);
            if (rc)
                return rc;
        } else if (!s->kv || pi->pos0 > s->kv->len) {
            return ys_fail(err, YS_EINPUT, "the plan continues slot %u at position %llu, which it does not hold",
                           (unsigned)pi->slot, (unsigned long long)pi->pos0);
        }
        model_kv_truncate(s->kv, (size_t)pi->pos0);
    }
    return 0;
}

int model_batch_pass(model_batch *b, const model_plan *p, const float *in, size_t nin, float *out,
                     model_request **done, size_t *n_done, ys_error *err)
{
    model *m = b->m;
    size_t V = (size_t)m->info.vocab, H = (size_t)m->info.hidden, nd = 0, n = p->n, R = 0, ctx = 1;
    *n_done = 0;
    if (b->decides && (!b->planned || p->items != b->pitems))
        return ys_fail(err, YS_EUSAGE, "the last stage's batch runs the plan it made last");
    if ((in != NULL) != (m->no_embed != 0) || (out != NULL) != (m->no_head != 0))
        return ys_fail(err, YS_EUSAGE, "stage [%d, %d) of %d layers: rows in %s, rows out %s", m->layer0,
                       m->layer0 + m->info.layers, m->layers_all, m->no_embed ? "needed" : "not taken",
                       m->no_head ? "needed" : "not made");
    b->planned = 0;
    int rc = b->decides ? 0 : follow_plan(b, p, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const model_plan_item *pi = &p->items[i];
        model_kv *kv = b->slots[pi->slot].kv;
        if (pi->pos0 + pi->rows > kv->cap || pi->rows == 0)
            return ys_fail(err, YS_EINPUT, "the plan gives slot %u %llu rows at position %llu of %zu",
                           (unsigned)pi->slot, (unsigned long long)pi->rows, (unsigned long long)pi->pos0, kv->cap);
        b->items[i] = (fwd_item){.ids = p->ids + R, .T = (size_t)pi->rows, .pos0 = (size_t)pi->pos0, .row0 = R,
                                 .k = kv->k, .v = kv->v, .lstride = kv->cap * kv->kvdim};
        R += (size_t)pi->rows;
        ctx = (size_t)(pi->pos0 + pi->rows) > ctx ? (size_t)(pi->pos0 + pi->rows) : ctx;
    }
    if (R != p->rows || (in && nin != R))
        return ys_fail(err, YS_EINPUT, "the plan's %zu rows (%zu given by the stage before) do not add up to %zu",
                       p->rows, nin, R);
    if (n == 0)
        return 0;
    int sampling = 0;
    for (size_t i = 0; b->decides && i < n; i++) {
        b->item_slot[i] = p->items[i].slot;
        sampling |= b->slots[p->items[i].slot].r->sampling.temperature > 0;
    }
    size_t nthr = (size_t)kn_pool_threads(m->pool);
    if (sampling && b->nbuf < nthr) {
        free(b->cbuf), free(b->pbuf);
        b->cbuf = malloc(nthr * V * sizeof *b->cbuf), b->pbuf = malloc(nthr * V * sizeof *b->pbuf);
        b->nbuf = b->cbuf && b->pbuf ? nthr : 0;
        if (!b->nbuf)
            return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    const float *hidden;
    rc = ws_reserve(m, &b->ws, R, ctx, 0, err);
    if (rc == 0)
        rc = forward_many(m, &b->ws, b->items, n, in, &hidden, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        b->slots[p->items[i].slot].kv->len += b->items[i].T;
    if (!b->decides) {   /* the residual stream of every row, to the next stage */
        memcpy(out, hidden, R * H * sizeof *out);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {   /* each request's last row to the vocabulary */
        gen_slot *s = &b->slots[b->item_slot[i]];
        if (s->prefilling) {   /* the prompt's whole blocks, for the requests after it */
            model_prefix_cache_store_kv(b->pc, s->r->prompt, s->kv);
            s->prefilling = 0;
        }
        memcpy(b->hid + i * H, hidden + (b->items[i].row0 + b->items[i].T - 1) * H, H * sizeof(float));
    }
    vocab_proj(m, b->hid, n, b->logits);
    choose_ctx cc = {b, V};
    kn_pool_run(m->pool, n, choose_row, &cc);
    /* the tokens in slot order, on this thread (stop callbacks) */
    for (size_t i = 0; i < n; i++) {
        gen_slot *s = &b->slots[b->item_slot[i]];
        model_request *r = s->r;
        int32_t tok = b->chosen[i];
        if (r->logits)
            memcpy(r->logits + r->n_out * V, b->logits + i * V, V * sizeof(float));
        r->out[r->n_out++] = tok;
        size_t len = s->kv->len;
        if ((r->stop && r->stop(r->out, r->n_out, r->user)) || r->n_out == r->max_new || len == s->cap) {
            r->done = 1;
            done[nd++] = r;
            slot_release(s);
            continue;
        }
        s->tok = tok, s->feed = &s->tok, s->nfeed = 1;
        if (s->all)
            s->all[len] = tok;
        /* Phi-3's longrope switches from the short to the long factors when
         * the sequence grows past the pretrained length; HF's generate then
         * drops the cache and recomputes the whole sequence in one call
         * (Phi3ForCausalLM.prepare_inputs_for_generation), so no key keeps
         * its short-factor rotation */
        if (m->rope_reset && len <= m->rope_reset && len + 1 > m->rope_reset) {
            model_kv_truncate(s->kv, 0);
            s->feed = s->all, s->nfeed = len + 1;
        }
    }
    *n_done = nd;
    return 0;
}

int model_batch_step(model_batch *b, model_request **done, size_t *n_done, ys_error *err)
{
    *n_done = 0;
    if (b->m->no_embed || b->m->no_head)
        return ys_fail(err, YS_EUSAGE, "a pipeline stage's batch steps through model_batch_plan and "
                                       "model_batch_pass");
    model_plan p;
    size_t n0 = 0, n1 = 0;
    int rc = model_batch_plan(b, &p, done, &n0, err);
    if (rc == 0 && p.n)
        rc = model_batch_pass(b, &p, NULL, 0, NULL, done + n0, &n1, err);
    *n_done = n0 + n1;
    return rc;
}

/* One request alone: a batch of one (the same code path as any batch). */
int model_generate(model *m, const int32_t *prompt, size_t n_prompt, size_t max_new,
                   const model_sampling *sp, model_stop_fn stop, void *user, int32_t *out,
                   size_t *n_out, ys_error *err)
{
    *n_out = 0;
    model_request r = {.prompt = prompt, .n_prompt = n_prompt, .max_new = max_new, .stop = stop, .user = user,
                       .out = out};
    if (sp)
        r.sampling = *sp;
    model_batch *b = NULL;
    int rc = model_batch_new(m, 1, &b, err);
    if (rc == 0)
        rc = model_batch_add(b, &r, err);
    while (rc == 0 && !r.done) {
        model_request *d;
        size_t nd;
        rc = model_batch_step(b, &d, &nd, err);
    }
    *n_out = r.n_out;
    model_batch_free(b);
    return rc;
}
