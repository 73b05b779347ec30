/* seq2seq_gen.c — greedy decoding and beam search for seq2seq.h, with HF
 * generate()'s semantics (transformers 4.40-4.47, where beam search is
 * BeamSearchScorer + BeamHypotheses with decoder_prompt_len):
 *
 *  - the logits processors run on the raw logits for greedy and on the
 *    log-softmax for beams (HF normalises first, then masks: a masked
 *    token's probability mass is not redistributed);
 *  - each step keeps the 2*num_beams best (beam score + log-prob)
 *    candidates, best first, ties to the lower beam*V+token index; an EOS
 *    candidate ranked num_beams or worse is dropped, a better one becomes a
 *    finished hypothesis (without the EOS; it is appended to the output),
 *    the rest fill the next beams in rank order;
 *  - a hypothesis scores sum_logprobs / generated_len^length_penalty,
 *    generated_len counting the EOS; the list keeps the num_beams best;
 *  - after each step the search is done when num_beams hypotheses exist
 *    and: early_stopping True — always; False — the best candidate score
 *    of this step, length-normalised at the current length, cannot beat
 *    the worst kept one; "never" — the same at max length when
 *    length_penalty > 0;
 *  - at max length, if not done, every open beam is offered to the list;
 *    the best hypothesis wins (ties: the one added last).
 * Decoding starts from decoder_start_id; every beam starts with it, beam 0
 * scoring 0 and the others -1e9 (so the first step expands beam 0 only). */
#include "seq2seq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* HF's processors in generate's order: no_repeat_ngram, bad_words, min
 * length, forced BOS, forced EOS. seq[0..cur) = decoder ids so far
 * (decoder start included, as HF's input_ids). */
static void process(const s2s_model *m, const s2s_gen_opts *o, const int32_t *seq, size_t cur, double *s)
{
    size_t V = (size_t)m->info.vocab, n = o->no_repeat_ngram_size > 0 ? (size_t)o->no_repeat_ngram_size : 0;
    if (n > 0 && cur + 1 >= n)
        for (size_t i = 0; i + n <= cur; i++)   /* every n-gram seen whose first n-1 match the last n-1 */
            if (memcmp(seq + i, seq + cur - (n - 1), (n - 1) * sizeof *seq) == 0)
                s[seq[i + n - 1]] = -INFINITY;
    for (size_t i = 0; i < m->nbad; i++)
        s[m->bad[i]] = -INFINITY;
    if (cur - 1 < o->min_new_tokens)
        s[m->info.eos_id] = -INFINITY;
    if (o->forced_bos_id >= 0 && cur == 1) {
        for (size_t j = 0; j < V; j++)
            s[j] = -INFINITY;
        s[o->forced_bos_id] = 0;
    }
    if (o->forced_eos_id >= 0 && cur == o->max_new_tokens) {   /* HF: cur_len == max_length - 1 */
        for (size_t j = 0; j < V; j++)
            s[j] = -INFINITY;
        s[o->forced_eos_id] = 0;
    }
}

/* ---- beam search ----------------------------------------------------------- */

typedef struct { double s; size_t idx; } cand;   /* idx = beam * V + token */

typedef struct hyps {
    size_t n, nb, max_len;
    double worst;
    double *score;
    int32_t **toks;       /* nb + 1 slots of max_len ids */
    size_t *len;
} hyps;

static void hyps_add(hyps *H, double lpen, const int32_t *toks, size_t len, double sum, size_t gen_len)
{
    double score = sum / pow((double)gen_len, lpen);
    if (!(H->n < H->nb || score > H->worst))
        return;
    memcpy(H->toks[H->n], toks, len * sizeof *toks);
    H->len[H->n] = len;
    H->score[H->n++] = score;
    if (H->n <= H->nb) {
        H->worst = score < H->worst ? score : H->worst;
        return;
    }
    /* over capacity: drop the lowest (ties: the earliest), the next lowest
     * becomes the worst */
    size_t lo = 0;
    for (size_t i = 1; i < H->n; i++)
        if (H->score[i] < H->score[lo])
            lo = i;
    int32_t *spare = H->toks[lo];
    for (size_t i = lo; i + 1 < H->n; i++) {
        H->score[i] = H->score[i + 1];
        H->toks[i] = H->toks[i + 1];
        H->len[i] = H->len[i + 1];
    }
    H->toks[--H->n] = spare;
    H->worst = H->score[0];
    for (size_t i = 1; i < H->n; i++)
        H->worst = H->score[i] < H->worst ? H->score[i] : H->worst;
}

/* cur_len as HF's process() has it: the decoder length including the token
 * being chosen. */
static int hyps_done(const hyps *H, const s2s_gen_opts *o, double best_sum, size_t cur_len)
{
    if (H->n < H->nb)
        return 0;
    if (o->early_stopping == 1)
        return 1;
    double den = o->early_stopping == 2 && o->length_penalty > 0 ? (double)o->max_new_tokens : (double)(cur_len - 1);
    return H->worst >= best_sum / pow(den, o->length_penalty);
}

/* Beam b's log-probabilities from its logits z, then processed (HF
 * normalises first, then masks). */
typedef struct beam_job {
    const s2s_model *m;
    const s2s_gen_opts *o;
    const int32_t *seq;
    size_t max_len, cur;
    double *lp;
    const float *z;
} beam_job;

static void beam_item(void *vctx, size_t b, int worker)
{
    (void)worker;
    const beam_job *j = vctx;
    size_t V = (size_t)j->m->info.vocab;
    const float *z = j->z + b * V;
    double *l = j->lp + b * V;
    size_t a = 0;
    for (size_t i = 1; i < V; i++)
        a = z[i] > z[a] ? i : a;
    double sum = 0;
    for (size_t i = 0; i < V; i++)
        sum += exp((double)z[i] - (double)z[a]);
    double lse = (double)z[a] + log(sum);
    for (size_t i = 0; i < V; i++)
        l[i] = (double)z[i] - lse;
    process(j->m, j->o, j->seq + b * j->max_len, j->cur, l);
}

static int better(const cand *a, const cand *b) { return a->s > b->s || (a->s == b->s && a->idx < b->idx); }

/* ---- requests ----------------------------------------------------------------
 * A job is one admitted request: its own state (greedy decodes in it, the
 * beams fork from it and share its cross K/V), its ids so far and, for
 * beams, the search's bookkeeping. Each batch step feeds it the rows it
 * would get alone (greedy: its last token; beams: every beam's, or beam
 * 0's alone at the first step, when all beams are the start token), then
 * runs its own processors and search on its logits. */
typedef struct job {
    s2s_request *r;
    s2s_gen_opts o;
    s2s_state *st0;
    int32_t *seq;             /* greedy [max_new + 1]; beams [nb][max_len], swapped with nseq */
    size_t cur;               /* decoder ids so far (the start token included) */
    double *s;                /* greedy: V processed scores */
    size_t nb, max_len;
    s2s_state **st, **spare;  /* beams: the live beams' states, and next step's */
    int32_t *nseq;
    double *score, *lp;       /* [nb]; [nb, V] */
    cand *top, *nxt;          /* [2 nb]; [nb] */
    hyps H;
    size_t row0, nrows;       /* its rows in this step's pass */
} job;

static void job_free(job *j)
{
    for (size_t b = 0; b < j->nb; b++) {
        s2s_state_free(j->st ? j->st[b] : NULL);
        s2s_state_free(j->spare ? j->spare[b] : NULL);
    }
    for (size_t i = 0; j->H.toks && i <= j->nb; i++)
        free(j->H.toks[i]);
    s2s_state_free(j->st0);
    free(j->st), free(j->spare), free(j->seq), free(j->nseq), free(j->s), free(j->score), free(j->lp);
    free(j->top), free(j->nxt), free(j->H.score), free(j->H.toks), free(j->H.len);
    memset(j, 0, sizeof *j);
}

/* Everything request r needs (its state's cross K/V still to compute):
 * 0, or 1 when the memory is not there (j left empty). */
static int job_admit(const s2s_model *m, job *j, s2s_request *r)
{
    size_t V = (size_t)m->info.vocab, mx = r->opts.max_new_tokens;
    ys_error e = {0};
    memset(j, 0, sizeof *j);
    j->r = r, j->o = r->opts, j->cur = 1, j->max_len = mx + 1;
    int ok = s2s_state_alloc(m, r->n_src, mx + 1, &j->st0, &e) == 0;
    if (ok && r->opts.num_beams == 1) {
        ok = (j->seq = malloc((mx + 1) * sizeof *j->seq)) && (j->s = malloc(V * sizeof *j->s));
        if (ok)
            j->seq[0] = m->info.decoder_start_id;
    } else if (ok) {
        size_t nb = j->nb = (size_t)r->opts.num_beams;
        j->st = calloc(nb, sizeof *j->st), j->spare = calloc(nb, sizeof *j->spare);
        j->seq = malloc(nb * j->max_len * sizeof *j->seq), j->nseq = malloc(nb * j->max_len * sizeof *j->nseq);
        j->score = malloc(nb * sizeof *j->score), j->lp = malloc(nb * V * sizeof *j->lp);
        j->top = malloc(2 * nb * sizeof *j->top), j->nxt = malloc(nb * sizeof *j->nxt);
        j->H = (hyps){0, nb, j->max_len, 1e9, malloc((nb + 1) * sizeof(double)), calloc(nb + 1, sizeof(int32_t *)),
                      malloc((nb + 1) * sizeof(size_t))};
        ok = j->st && j->spare && j->seq && j->nseq && j->score && j->lp && j->top && j->nxt && j->H.score &&
             j->H.toks && j->H.len;
        for (size_t i = 0; ok && i <= nb; i++)
            ok = (j->H.toks[i] = malloc(j->max_len * sizeof(int32_t))) != NULL;
        for (size_t b = 0; ok && b < nb; b++) {
            ok = !s2s_state_fork(m, j->st0, &j->st[b], &e) && !s2s_state_fork(m, j->st0, &j->spare[b], &e);
            j->seq[b * j->max_len] = m->info.decoder_start_id;
            j->score[b] = b ? -1e9 : 0.0;
        }
    }
    if (!ok)
        job_free(j);
    return !ok;
}

/* Greedy: the next token from this step's logits z; 1 when the request is
 * done (its output handed to r). */
static int greedy_next(const s2s_model *m, job *j, const float *z)
{
    size_t V = (size_t)m->info.vocab;
    s2s_request *r = j->r;
    if (r->logits)
        memcpy(r->logits + (j->cur - 1) * V, z, V * sizeof *z);
    for (size_t i = 0; i < V; i++)
        j->s[i] = z[i];
    process(m, &j->o, j->seq, j->cur, j->s);
    size_t a = 0;
    for (size_t i = 1; i < V; i++)   /* first index wins ties, as torch.argmax */
        if (j->s[i] > j->s[a])
            a = i;
    j->seq[j->cur++] = (int32_t)a;
    if (!(j->o.stop && j->o.stop(j->seq + 1, j->cur - 1, j->o.stop_user)) && (int32_t)a != m->info.eos_id &&
        j->cur - 1 < j->o.max_new_tokens)
        return 0;
    r->n_out = j->cur - 1;
    memmove(j->seq, j->seq + 1, r->n_out * sizeof *j->seq);
    r->out = j->seq, j->seq = NULL;
    return 1;
}

/* Beams: one step of the search from this step's log-probabilities (j->lp,
 * processed); 1 when done (the output handed to r), < 0 on error. */
static int beam_next(const s2s_model *m, job *j, ys_error *err)
{
    size_t V = (size_t)m->info.vocab, nb = j->nb, K = 2 * nb, max_len = j->max_len, cur = j->cur;
    const s2s_gen_opts *o = &j->o;
    int32_t eos = m->info.eos_id;
    for (size_t b = 1; cur == 1 && b < nb; b++) {   /* beam 0's numbers serve all at the first step */
        memcpy(j->lp + b * V, j->lp, V * sizeof *j->lp);
        s2s_state_copy(m, j->st[b], j->st[0]);
    }
    /* the K best of beam score + log-prob over all beams x tokens */
    cand *top = j->top;
    size_t nt = 0;
    for (size_t b = 0; b < nb; b++)
        for (size_t t = 0; t < V; t++) {
            cand c = {j->score[b] + j->lp[b * V + t], b * V + t};
            if (nt == K && !better(&c, &top[K - 1]))
                continue;
            size_t i = nt < K ? nt++ : K - 1;
            while (i > 0 && better(&c, &top[i - 1])) {
                top[i] = top[i - 1];
                i--;
            }
            top[i] = c;
        }
    size_t filled = 0;
    for (size_t r = 0; r < nt && filled < nb; r++) {
        size_t b = top[r].idx / V;
        int32_t t = (int32_t)(top[r].idx % V);
        if (t == eos) {
            if (r < nb)   /* generated_len = cur: the tokens so far after the start, plus the EOS */
                hyps_add(&j->H, o->length_penalty, j->seq + b * max_len, cur, top[r].s, cur);
            continue;
        }
        j->nxt[filled++] = top[r];
    }
    if (filled < nb)
        return ys_fail(err, YS_EINPUT, "beam search: fewer than %zu non-EOS candidates", nb);
    int done = hyps_done(&j->H, o, top[0].s, cur + 1);
    for (size_t i = 0; i < nb; i++) {
        size_t b = j->nxt[i].idx / V;
        memcpy(j->nseq + i * max_len, j->seq + b * max_len, cur * sizeof *j->seq);
        j->nseq[i * max_len + cur] = (int32_t)(j->nxt[i].idx % V);
        s2s_state_copy(m, j->spare[i], j->st[b]);
        j->score[i] = j->nxt[i].s;
    }
    int32_t *ts = j->seq;
    j->seq = j->nseq, j->nseq = ts;
    s2s_state **tt = j->st;
    j->st = j->spare, j->spare = tt;
    cur = ++j->cur;
    if (!done && cur < max_len)
        return 0;
    hyps *H = &j->H;
    if (!done)
        for (size_t b = 0; b < nb; b++)
            hyps_add(H, o->length_penalty, j->seq + b * max_len, cur, j->score[b], cur - 1);
    size_t best = 0;
    for (size_t i = 1; i < H->n; i++)   /* ties: the later one, as HF's sort + pop */
        if (H->score[i] >= H->score[best])
            best = i;
    size_t len = H->len[best];
    s2s_request *r = j->r;
    if (!(r->out = malloc(max_len * sizeof *r->out)))
        return ys_fail(err, YS_ENOMEM, "out of memory");
    memcpy(r->out, H->toks[best] + 1, (len - 1) * sizeof *r->out);
    r->n_out = len - 1;
    if (len < max_len)
        r->out[r->n_out++] = eos;
    r->score = H->score[best];
    return 1;
}

/* ---- the batch ------------------------------------------------------------------ */

/* Source rows encoded per step (at least one request): bounds the
 * encoder's activations, as scoring's groups. */
#define START_ROWS 4096

struct s2s_gen_batch {
    s2s_model *m;
    size_t max_active, cap_active;
    job *jobs;                  /* [max_active]; r NULL: free */
    s2s_request **queue;        /* waiting, FIFO [qhead, qlen) */
    size_t qhead, qlen, qcap;
    size_t rcap;                /* rows the buffers below hold */
    s2s_state **rst;            /* [rcap] each row's state */
    int32_t *rid;               /* [rcap] each row's token */
    float *z;                   /* [rcap, V] */
    const int32_t **nsrc;       /* [max_active] joining requests' sources... */
    s2s_state **nst;            /* ...and states */
};

int s2s_gen_batch_new(s2s_model *m, size_t max_active, s2s_gen_batch **out, ys_error *err)
{
    *out = NULL;
    if (max_active < 1)
        return ys_fail(err, YS_EUSAGE, "a batch needs room for at least one request");
    s2s_gen_batch *b = calloc(1, sizeof *b);
    if (b) {
        b->m = m, b->max_active = b->cap_active = max_active;
        b->jobs = calloc(max_active, sizeof *b->jobs);
        b->nsrc = malloc(max_active * sizeof *b->nsrc), b->nst = malloc(max_active * sizeof *b->nst);
    }
    if (!b || !b->jobs || !b->nsrc || !b->nst) {
        s2s_gen_batch_free(b);
        return ys_fail(err, YS_ENOMEM, "out of memory for a batch of %zu requests", max_active);
    }
    *out = b;
    return 0;
}

void s2s_gen_batch_free(s2s_gen_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->jobs && i < b->max_active; i++)
        job_free(&b->jobs[i]);
    free(b->jobs), free(b->queue), free(b->rst), free(b->rid), free(b->z), free(b->nsrc), free(b->nst);
    free(b);
}

int s2s_gen_batch_add(s2s_gen_batch *b, s2s_request *r, ys_error *err)
{
    const s2s_model *m = b->m;
    const s2s_gen_opts *o = &r->opts;
    int32_t V = m->info.vocab;
    r->out = NULL, r->n_out = 0, r->score = 0, r->done = 0;
    if (o->num_beams < 1 || o->num_beams > 256)
        return ys_fail(err, YS_EUSAGE, "num_beams %d out of range [1, 256]", o->num_beams);
    if (o->forced_bos_id < -1 || o->forced_bos_id >= V || o->forced_eos_id < -1 || o->forced_eos_id >= V)
        return ys_fail(err, YS_EUSAGE, "forced_bos/eos id outside the vocabulary [0, %d)", (int)V);
    if (o->no_repeat_ngram_size < 0)
        return ys_fail(err, YS_EUSAGE, "no_repeat_ngram_size %d is negative", o->no_repeat_ngram_size);
    if (m->bad_multi)
        return ys_fail(err, YS_EUSAGE, "%s: multi-token bad_words_ids are not supported", ckpt_dir(m->ck));
    if ((size_t)o->num_beams * 2 > (size_t)V)
        return ys_fail(err, YS_EUSAGE, "num_beams %d needs a vocabulary of at least %d", o->num_beams,
                       2 * o->num_beams);
    if (r->n_src == 0)
        return ys_fail(err, YS_EINPUT, "empty source sequence");
    for (size_t t = 0; t < r->n_src; t++)
        if (r->src[t] < 0 || r->src[t] >= V)
            return ys_fail(err, YS_EINPUT, "source token %zu: id %d outside the vocabulary [0, %d)", t,
                           (int)r->src[t], (int)V);
    if (m->info.max_source_positions && r->n_src > (size_t)m->info.max_source_positions)
        return ys_fail(err, YS_EINPUT, "source of %zu tokens exceeds the model's %d positions", r->n_src,
                       m->info.max_source_positions);
    if (b->qlen == b->qcap) {
        if (b->qhead > 0) {
            memmove(b->queue, b->queue + b->qhead, (b->qlen - b->qhead) * sizeof *b->queue);
            b->qlen -= b->qhead, b->qhead = 0;
        }
        if (b->qlen == b->qcap) {
            size_t nc = b->qcap ? 2 * b->qcap : 16;
            s2s_request **q = realloc(b->queue, nc * sizeof *q);
            if (!q)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            b->queue = q, b->qcap = nc;
        }
    }
    b->queue[b->qlen++] = r;
    return 0;
}

size_t s2s_gen_batch_pending(const s2s_gen_batch *b)
{
    size_t n = b->qlen - b->qhead;
    for (size_t i = 0; i < b->max_active; i++)
        n += b->jobs[i].r != NULL;
    return n;
}

size_t s2s_gen_batch_capacity(const s2s_gen_batch *b) { return b->cap_active; }

typedef struct beams_ctx {
    s2s_gen_batch *b;
    const size_t *first;   /* job i (of the active ones, in order) owns rows [first[i], first[i + 1]) */
    const size_t *jidx;
    size_t n;
} beams_ctx;

/* One beam row's log-softmax and processors (beam_item of its job). */
static void beams_row(void *vctx, size_t row, int worker)
{
    const beams_ctx *c = vctx;
    size_t i = kn_item_owner(c->first, c->n, row);
    job *j = &c->b->jobs[c->jidx[i]];
    size_t V = (size_t)c->b->m->info.vocab;
    beam_job bj = {c->b->m, &j->o, j->seq, j->max_len, j->cur, j->lp, c->b->z + j->row0 * V};
    beam_item(&bj, row - c->first[i], worker);
}

int s2s_gen_batch_step(s2s_gen_batch *b, s2s_request **done, size_t *n_done, ys_error *err)
{
    s2s_model *m = b->m;
    size_t V = (size_t)m->info.vocab, nd = 0, active = 0, srows = 0, nnew = 0;
    *n_done = 0;
    m->blas.set_num_threads(1);
    for (size_t i = 0; i < b->max_active; i++)
        active += b->jobs[i].r != NULL;
    for (size_t i = 0; b->qhead < b->qlen && active < b->cap_active && nd + active < b->max_active;) {
        s2s_request *r = b->queue[b->qhead];
        if (r->opts.max_new_tokens == 0) {   /* nothing to generate (s2s_generate's empty output) */
            if (!(r->out = malloc(sizeof *r->out)))
                return ys_fail(err, YS_ENOMEM, "out of memory");
            r->done = 1, done[nd++] = r, b->qhead++;
            continue;
        }
        while (b->jobs[i].r)   /* a free one exists: active < cap_active <= max_active */
            i++;
        if (srows > 0 && srows + r->n_src > START_ROWS)
            break;
        if (job_admit(m, &b->jobs[i], r)) {
            if (active == 0)
                return ys_fail(err, YS_ENOMEM, "out of memory for the decoder caches of a request of %zu tokens",
                               r->n_src);
            b->cap_active = active;   /* what fits: the others wait for these to finish */
            break;
        }
        b->nsrc[nnew] = r->src, b->nst[nnew++] = b->jobs[i].st0;
        b->qhead++, active++, srows += r->n_src;
    }
    int rc = nnew ? s2s_start_many(m, &m->exe, b->nsrc, b->nst, nnew, err) : 0;
    /* the rows of this step: each job's states and last tokens */
    size_t R = 0, n = 0;
    for (size_t i = 0; i < b->max_active; i++) {
        job *j = &b->jobs[i];
        if (j->r)
            j->row0 = R, j->nrows = j->nb == 0 ? 1 : j->cur == 1 ? 1 : j->nb, R += j->nrows, n++;
    }
    *n_done = nd;
    if (rc || n == 0)
        return rc;
    if (R > b->rcap) {
        free(b->rst), free(b->rid), free(b->z);
        b->rst = malloc(R * sizeof *b->rst), b->rid = malloc(R * sizeof *b->rid), b->z = malloc(R * V * sizeof *b->z);
        b->rcap = b->rst && b->rid && b->z ? R : 0;
        if (!b->rcap)
            return ys_fail(err, YS_ENOMEM, "out of memory for a step of %zu rows", R);
    }
    size_t *first = malloc((n + 1) * sizeof *first), *jidx = malloc(n * sizeof *jidx), nbj = 0;
    if (!first || !jidx) {
        free(first), free(jidx);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    first[0] = 0;
    for (size_t i = 0; i < b->max_active; i++) {
        job *j = &b->jobs[i];
        if (!j->r)
            continue;
        for (size_t k = 0; k < j->nrows; k++) {
            b->rst[j->row0 + k] = j->nb ? j->st[k] : j->st0;
            b->rid[j->row0 + k] = j->nb ? j->seq[k * j->max_len + j->cur - 1] : j->seq[j->cur - 1];
        }
        if (j->nb)   /* the beam jobs' rows, for one pool run of their log-softmax */
            jidx[nbj] = i, first[nbj + 1] = first[nbj] + j->nrows, nbj++;
    }
    float *h = NULL;
    rc = s2s_decode_step(m, &m->exe, b->rst, b->rid, R, &h, err);
    if (rc == 0) {
        s2s_vocab_proj(m, &m->exe, h, R, b->z);
        beams_ctx bc = {b, first, jidx, nbj};
        kn_pool_run(m->pool, first[nbj], beams_row, &bc);
    }
    free(h), free(first), free(jidx);
    /* each job's search on its rows, in slot order, on this thread (stop callbacks) */
    for (size_t i = 0; rc == 0 && i < b->max_active; i++) {
        job *j = &b->jobs[i];
        if (!j->r)
            continue;
        int fin = j->nb ? beam_next(m, j, err) : greedy_next(m, j, b->z + j->row0 * V);
        if (fin < 0)
            rc = fin;
        if (fin == 1) {
            j->r->done = 1;
            done[nd++] = j->r;
            job_free(j);
        }
    }
    *n_done = nd;
    return rc;
}

int s2s_generate(s2s_model *m, const int32_t *src, size_t n_src, const s2s_gen_opts *o, int32_t **out,
                 size_t *n_out, ys_error *err)
{
    *out = NULL;
    *n_out = 0;
    s2s_request r = {.src = src, .n_src = n_src, .opts = o ? *o : m->gen};
    s2s_gen_batch *b = NULL;
    int rc = s2s_gen_batch_new(m, 1, &b, err);
    if (rc == 0)
        rc = s2s_gen_batch_add(b, &r, err);
    while (rc == 0 && !r.done) {
        s2s_request *d;
        size_t nd;
        rc = s2s_gen_batch_step(b, &d, &nd, err);
    }
    s2s_gen_batch_free(b);
    if (rc) {
        free(r.out);
        return rc;
    }
    *out = r.out;
    *n_out = r.n_out;
    return 0;
}
