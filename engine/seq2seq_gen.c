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

/* Feed tok to st and write the next token's logits. */
static int next_logits(s2s_model *m, const s2s_exe *ex, s2s_state *st, int32_t tok, float *logits, ys_error *err)
{
    float *h;
    int rc = s2s_decode(m, ex, st, &tok, 1, &h, err);
    if (rc)
        return rc;
    s2s_vocab_proj(m, ex, h, 1, logits);
    free(h);
    return 0;
}

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

/* ---- greedy ---------------------------------------------------------------- */

static int greedy(s2s_model *m, s2s_state *st, const s2s_gen_opts *o, int32_t *seq, size_t *n_out, ys_error *err)
{
    size_t V = (size_t)m->info.vocab, cur = 1;
    float *z = malloc(V * sizeof *z);
    double *s = malloc(V * sizeof *s);
    int rc = 0;
    if (!z || !s)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    while (rc == 0 && cur - 1 < o->max_new_tokens) {
        if ((rc = next_logits(m, &m->exe, st, seq[cur - 1], z, err)))
            break;
        for (size_t j = 0; j < V; j++)
            s[j] = z[j];
        process(m, o, seq, cur, s);
        size_t a = 0;
        for (size_t j = 1; j < V; j++)   /* first index wins ties, as torch.argmax */
            if (s[j] > s[a])
                a = j;
        seq[cur++] = (int32_t)a;
        if ((o->stop && o->stop(seq + 1, cur - 1, o->stop_user)) || (int32_t)a == m->info.eos_id)
            break;
    }
    *n_out = cur - 1;
    free(z);
    free(s);
    return rc;
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

static int beam_search(s2s_model *m, s2s_state *st0, const s2s_gen_opts *o, int32_t *out, size_t *n_out,
                       ys_error *err)
{
    size_t V = (size_t)m->info.vocab, nb = (size_t)o->num_beams, K = 2 * nb, max_len = o->max_new_tokens + 1;
    int32_t eos = m->info.eos_id;
    int rc = 0;
    s2s_state **st = calloc(nb, sizeof *st), **spare = calloc(nb, sizeof *spare);
    int32_t *seq = malloc(nb * max_len * sizeof *seq), *nseq = malloc(nb * max_len * sizeof *nseq);
    double *score = malloc(nb * sizeof *score), *lp = malloc(nb * V * sizeof *lp);
    float *z = malloc(nb * V * sizeof *z);
    int32_t *last = malloc(nb * sizeof *last);
    cand *top = malloc(K * sizeof *top), *nxt = malloc(nb * sizeof *nxt);
    hyps H = {0, nb, max_len, 1e9, malloc((nb + 1) * sizeof(double)), calloc(nb + 1, sizeof(int32_t *)),
              malloc((nb + 1) * sizeof(size_t))};
    int ok = st && spare && seq && nseq && score && lp && z && last && top && nxt && H.score && H.toks && H.len;
    for (size_t i = 0; ok && i <= nb; i++)
        ok = (H.toks[i] = malloc(max_len * sizeof(int32_t))) != NULL;
    if (!ok)
        rc = ys_fail(err, YS_ENOMEM, "out of memory for %zu beams", nb);
    for (size_t b = 0; rc == 0 && b < nb; b++) {
        if ((rc = s2s_state_fork(m, st0, &st[b], err)) || (rc = s2s_state_fork(m, st0, &spare[b], err)))
            break;
        seq[b * max_len] = m->info.decoder_start_id;
        score[b] = b ? -1e9 : 0.0;
    }
    size_t cur = 1;
    int done = 0;
    while (rc == 0) {
        /* every beam is the start token alone at the first step: beam 0's
         * numbers serve all */
        size_t nrun = cur == 1 ? 1 : nb;
        float *h;
        for (size_t b = 0; b < nrun; b++)
            last[b] = seq[b * max_len + cur - 1];
        if ((rc = s2s_decode_step(m, &m->exe, st, last, nrun, &h, err)))
            break;
        s2s_vocab_proj(m, &m->exe, h, nrun, z);
        free(h);
        beam_job job = {m, o, seq, max_len, cur, lp, z};
        kn_pool_run(m->pool, nrun, beam_item, &job);
        for (size_t b = 1; rc == 0 && cur == 1 && b < nb; b++) {
            memcpy(lp + b * V, lp, V * sizeof *lp);
            s2s_state_copy(m, st[b], st[0]);
        }
        if (rc)
            break;
        /* the K best of beam score + log-prob over all beams x tokens */
        size_t nt = 0;
        for (size_t b = 0; b < nb; b++)
            for (size_t j = 0; j < V; j++) {
                cand c = {score[b] + lp[b * V + j], b * V + j};
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
                    hyps_add(&H, o->length_penalty, seq + b * max_len, cur, top[r].s, cur);
                continue;
            }
            nxt[filled++] = top[r];
        }
        if (filled < nb) {
            rc = ys_fail(err, YS_EINPUT, "beam search: fewer than %zu non-EOS candidates", nb);
            break;
        }
        done = hyps_done(&H, o, top[0].s, cur + 1);
        for (size_t i = 0; i < nb; i++) {
            size_t b = nxt[i].idx / V;
            memcpy(nseq + i * max_len, seq + b * max_len, cur * sizeof *seq);
            nseq[i * max_len + cur] = (int32_t)(nxt[i].idx % V);
            s2s_state_copy(m, spare[i], st[b]);
            score[i] = nxt[i].s;
        }
        int32_t *ts = seq;
        seq = nseq, nseq = ts;
        s2s_state **tt = st;
        st = spare, spare = tt;
        cur++;
        if (done || cur >= max_len)
            break;
    }
    if (rc == 0) {
        if (!done)
            for (size_t b = 0; b < nb; b++)
                hyps_add(&H, o->length_penalty, seq + b * max_len, cur, score[b], cur - 1);
        size_t best = 0;
        for (size_t i = 1; i < H.n; i++)   /* ties: the later one, as HF's sort + pop */
            if (H.score[i] >= H.score[best])
                best = i;
        size_t len = H.len[best];
        memcpy(out, H.toks[best] + 1, (len - 1) * sizeof *out);
        *n_out = len - 1;
        if (len < max_len)
            out[(*n_out)++] = eos;
    }
    for (size_t b = 0; b < nb; b++) {
        s2s_state_free(st ? st[b] : NULL);
        s2s_state_free(spare ? spare[b] : NULL);
    }
    for (size_t i = 0; H.toks && i <= nb; i++)
        free(H.toks[i]);
    free(st), free(spare), free(seq), free(nseq), free(score), free(lp), free(z), free(top), free(nxt);
    free(last);
    free(H.score), free(H.toks), free(H.len);
    return rc;
}

int s2s_generate(s2s_model *m, const int32_t *src, size_t n_src, const s2s_gen_opts *o, int32_t **out,
                 size_t *n_out, ys_error *err)
{
    *out = NULL;
    *n_out = 0;
    s2s_gen_opts opt = o ? *o : m->gen;
    int32_t V = m->info.vocab;
    if (opt.num_beams < 1 || opt.num_beams > 256)
        return ys_fail(err, YS_EUSAGE, "num_beams %d out of range [1, 256]", opt.num_beams);
    if (opt.forced_bos_id < -1 || opt.forced_bos_id >= V || opt.forced_eos_id < -1 || opt.forced_eos_id >= V)
        return ys_fail(err, YS_EUSAGE, "forced_bos/eos id outside the vocabulary [0, %d)", (int)V);
    if (opt.no_repeat_ngram_size < 0)
        return ys_fail(err, YS_EUSAGE, "no_repeat_ngram_size %d is negative", opt.no_repeat_ngram_size);
    if (m->bad_multi)
        return ys_fail(err, YS_EUSAGE, "%s: multi-token bad_words_ids are not supported", ckpt_dir(m->ck));
    if ((size_t)opt.num_beams * 2 > (size_t)V)
        return ys_fail(err, YS_EUSAGE, "num_beams %d needs a vocabulary of at least %d", opt.num_beams,
                       2 * opt.num_beams);
    int32_t *seq = malloc((opt.max_new_tokens + 1) * sizeof *seq);
    float *enc = NULL;
    s2s_state *st = NULL;
    if (!seq)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    seq[0] = m->info.decoder_start_id;
    m->blas.set_num_threads(1);
    int rc = s2s_encode(m, &m->exe, src, n_src, &enc, err);
    if (rc == 0)
        rc = s2s_state_new(m, &m->exe, enc, n_src, opt.max_new_tokens + 1, &st, err);
    size_t n = 0;
    if (rc == 0 && opt.max_new_tokens > 0) {
        if (opt.num_beams == 1) {
            rc = greedy(m, st, &opt, seq, &n, err);
            memmove(seq, seq + 1, n * sizeof *seq);
        } else {
            rc = beam_search(m, st, &opt, seq, &n, err);
        }
    }
    free(enc);
    s2s_state_free(st);
    if (rc) {
        free(seq);
        return rc;
    }
    *out = seq;
    *n_out = n;
    return 0;
}
