/* The runner's pipeline stages (--pipeline K; runner_dist.h says how the
 * ranks of a group share a pass): what a run must be for stages to compute
 * it, loading this rank's stage, this rank's part of one batch of the
 * log-likelihood pass, and of one step of a generation pass. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runner_internal.h"

int rn_pipe_check(const run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    int K = rn_dist_stages(o->dist);
    if (K == 1)
        return 0;
    /* what stages compute today: a decoder's log-likelihoods and
     * generations; anything else is refused up front rather than computed
     * otherwise */
    static const char supported[] = "--pipeline runs decoder-only language models (safetensors folders)";
    struct stat sb;
    if (st->kind != RN_DECODER)
        return ys_fail(err, YS_EUSAGE, "%s; %s is %s", supported, o->model_dir,
                       st->kind == RN_CLASSIFIER ? "an encoder classifier" : "an encoder-decoder");
    if (stat(o->model_dir, &sb) == 0 && S_ISREG(sb.st_mode))
        return ys_fail(err, YS_EUSAGE, "%s; %s is a GGUF file", supported, o->model_dir);
    if (o->adapter_dir)
        return ys_fail(err, YS_EUSAGE, "%s, without --adapter (merge the adapter into the checkpoint first)",
                       supported);
    if (o->kl_base)
        return ys_fail(err, YS_EUSAGE, "%s, without --kl-base", supported);
    return 0;
}

int rn_pipe_load(run_state *st, const model_opts *mo, ys_error *err)
{
    const rn_dist *d = st->o->dist;
    return model_load_stage(st->o->model_dir, mo, rn_dist_stage(d), rn_dist_stages(d), &st->m, err);
}

/* This rank's stage of the batch that begins at item `at` of the pass: the
 * rows of the stage before (but on the first), this stage's layers, and
 * the rows to the next stage, or (the last) lp and gr as
 * model_logprobs_cached gives them. */
int rn_pipe_logprobs(run_state *st, uint64_t at, const int32_t *const *seqs, const size_t *lens, size_t nb,
                     const size_t *froms, double *const *lp, uint8_t *const *gr, ys_error *err)
{
    rn_dist *d = st->o->dist;
    int stage = rn_dist_stage(d), K = rn_dist_stages(d);
    size_t H = (size_t)model_get_info(st->m)->hidden, rows = 0, nin = 0, n = 0;
    void *in = NULL, *out = NULL;
    int rc = 0;
    if (d->stage_t0 == 0)   /* the pass begins for this stage (a later stage's wait for rows counts) */
        d->stage_t0 = rn_now_s();
    if (stage > 0 && (rc = rn_dist_take_on(d, at, &in, &n, err)) == 0) {
        nin = (n - RN_PIPE_HEAD) / (H * sizeof(float));
        if (nin * H * sizeof(float) != n - RN_PIPE_HEAD)
            rc = ys_fail(err, YS_EINPUT, "rank %d (the stage before) sent %zu bytes of rows, not whole rows",
                         d->rank - 1, n - RN_PIPE_HEAD);
    }
    double t0 = rn_now_s();
    if (rc == 0 && stage < K - 1) {
        /* the next stage's rows: as many as this stage takes, or (the
         * first) as the batch makes */
        if (stage == 0)
            rc = model_stage_rows(st->m, seqs, lens, nb, froms, &rows, err);
        else
            rows = nin;
        if (rc == 0 && !(out = malloc(RN_PIPE_HEAD + rows * H * sizeof(float))))
            rc = ys_fail(err, YS_ENOMEM, "out of memory for %zu rows", rows);
    }
    /* (the rows follow a 16-byte head: malloc's alignment holds for them) */
    const float *rin = in ? (const float *)((char *)in + RN_PIPE_HEAD) : NULL;
    float *rout = out ? (float *)((char *)out + RN_PIPE_HEAD) : NULL;
    if (rc == 0)
        rc = model_stage_logprobs(st->m, seqs, lens, nb, froms, rin, nin, rout, stage == K - 1 ? lp : NULL,
                                  stage == K - 1 ? gr : NULL, err);
    double t1 = rn_now_s();
    d->stage_busy_s += t1 - t0;
    free(in);
    if (rc == 0 && out)
        rc = rn_dist_pass_on(d, at, out, RN_PIPE_HEAD + rows * H * sizeof(float), err);
    else
        free(out);
    d->stage_wall_s = rn_now_s() - d->stage_t0;
    return rc;
}

/* ---- generation ------------------------------------------------------------
 * One step of a group's generation: the last stage's batch plans it
 * (admissions, each active request's rows and their token ids: model.h,
 * "pipeline stages: generation") and sends the plan back to the first
 * stage; the first stage embeds the ids and runs its layers, and every
 * stage hands the plan with its residual rows to the next; the last
 * computes its layers and the head and chooses the tokens — the sampling
 * streams, stop rules and the batch's membership live in its batch alone,
 * so every decision is made once, and the stages before it only follow.
 * The steps are serial (a step's plan depends on the tokens of the step
 * before): the stages take turns, so a group decodes at about the speed of
 * one process holding every layer, plus the messages — what stages buy
 * for generation is memory; several groups (N / K) add throughput. A message: the pipe head, then plan_head, the items, the ids,
 * and (between stages) the rows, floats at a multiple of 4 bytes. */

typedef struct {
    uint64_t n, rows, end;   /* end: the pass is over (nothing else follows) */
} plan_head;

static size_t plan_bytes(size_t n, size_t rows)
{
    return RN_PIPE_HEAD + sizeof(plan_head) + n * sizeof(model_plan_item) + rows * sizeof(int32_t);
}

/* A message holding a plan (and extra bytes after it) with the plan's
 * head, items and ids filled in. */
static void *plan_msg(const model_plan *p, int end, size_t extra, size_t *n, ys_error *err)
{
    size_t pb = plan_bytes(p->n, p->rows);
    unsigned char *m = malloc(pb + extra);
    if (!m) {
        ys_fail(err, YS_ENOMEM, "out of memory for a step of %zu rows", p->rows);
        return NULL;
    }
    plan_head h = {p->n, p->rows, (uint64_t)end};
    unsigned char *q = m + RN_PIPE_HEAD;
    memcpy(q, &h, sizeof h), q += sizeof h;
    if (p->n)
        memcpy(q, p->items, p->n * sizeof *p->items), q += p->n * sizeof *p->items;
    if (p->rows)
        memcpy(q, p->ids, p->rows * sizeof *p->ids);
    *n = pb + extra;
    return m;
}

/* The plan in msg (n bytes), pointing into it; *end, and the bytes after
 * the plan (*tail, *ntail). */
static int plan_read(const rn_dist *d, void *msg, size_t n, model_plan *p, int *end, unsigned char **tail,
                     size_t *ntail, ys_error *err)
{
    plan_head h;
    unsigned char *q = (unsigned char *)msg + RN_PIPE_HEAD;
    if (n < RN_PIPE_HEAD + sizeof h)
        return ys_fail(err, YS_EINPUT, "rank %d sent a malformed generation step", d->rank);
    memcpy(&h, q, sizeof h);
    if (h.n > n / sizeof(model_plan_item) || h.rows > n / sizeof(int32_t) || plan_bytes(h.n, h.rows) > n)
        return ys_fail(err, YS_EINPUT, "a generation step of %llu requests and %llu rows does not fit its %zu bytes",
                       (unsigned long long)h.n, (unsigned long long)h.rows, n);
    q += sizeof h;
    /* (the items follow 40 bytes of heads: aligned for their 8-byte fields) */
    *p = (model_plan){.n = h.n, .rows = h.rows, .items = (const model_plan_item *)q,
                      .ids = (const int32_t *)(q + h.n * sizeof(model_plan_item))};
    *end = h.end != 0;
    *tail = (unsigned char *)msg + plan_bytes(h.n, h.rows);
    *ntail = n - plan_bytes(h.n, h.rows);
    return 0;
}

_Static_assert((RN_PIPE_HEAD + sizeof(plan_head)) % 8 == 0, "plan items aligned");

static void stage_time(rn_dist *d, double t0, double t1)
{
    if (d->stage_t0 == 0)
        d->stage_t0 = t0;
    d->stage_busy_s += t1 - t0;
    d->stage_wall_s = rn_now_s() - d->stage_t0;
}

int rn_pipe_gen_step(run_state *st, model_batch *mb, uint64_t *at, model_request **done, size_t *n_done,
                     ys_error *err)
{
    rn_dist *d = st->o->dist;
    size_t H = (size_t)model_get_info(st->m)->hidden, n0 = 0, n1 = 0, n = 0;
    model_plan p;
    *n_done = 0;
    double t0 = rn_now_s();
    int rc = model_batch_plan(mb, &p, done, &n0, err);
    *n_done = n0;
    if (rc || p.n == 0)   /* (requests with nothing to generate: done without a pass) */
        return rc;
    void *msg = plan_msg(&p, 0, 0, &n, err), *in = NULL;
    if (!msg)
        return YS_ENOMEM;
    double t1 = rn_now_s();
    if ((rc = rn_dist_pass_back(d, *at, msg, n, err)) == 0)
        rc = rn_dist_take_on(d, *at, &in, &n, err);
    model_plan q;
    int end = 0;
    unsigned char *rows = NULL;
    size_t nrows = 0;
    if (rc == 0 && (rc = plan_read(d, in, n, &q, &end, &rows, &nrows, err)) == 0 &&
        (end || q.n != p.n || q.rows != p.rows || nrows != p.rows * H * sizeof(float)))
        rc = ys_fail(err, YS_EINPUT, "rank %d (the stage before) sent the rows of another step", d->rank - 1);
    double t2 = rn_now_s();
    if (rc == 0)
        rc = model_batch_pass(mb, &p, (const float *)rows, p.rows, NULL, done + n0, &n1, err);
    free(in);
    *n_done = n0 + n1;
    (*at)++;
    /* busy: planning and the pass, not the wait for the stages before */
    stage_time(d, t0, t1);
    stage_time(d, t2, rn_now_s());
    return rc;
}

int rn_pipe_gen_end(run_state *st, uint64_t at, ys_error *err)
{
    model_plan p = {0};
    size_t n = 0;
    void *msg = plan_msg(&p, 1, 0, &n, err);
    return msg ? rn_dist_pass_back(st->o->dist, at, msg, n, err) : YS_ENOMEM;
}

int rn_pipe_gen_follow(run_state *st, int (*between)(void *ctx, ys_error *err), void *ctx, ys_error *err)
{
    rn_dist *d = st->o->dist;
    int stage = rn_dist_stage(d), K = rn_dist_stages(d);
    size_t H = (size_t)model_get_info(st->m)->hidden;
    model_batch *fb = NULL;
    /* one slot: the batch grows to the last stage's plans */
    int rc = model_batch_new(st->m, 1, &fb, err);
    for (uint64_t at = 0; rc == 0; at++) {
        void *in = NULL, *out = NULL;
        size_t n = 0, nout = 0, ntail = 0, nd = 0;
        model_plan p;
        int end = 0;
        unsigned char *rows = NULL;
        rc = stage == 0 ? rn_dist_take_back(d, at, &in, &n, err) : rn_dist_take_on(d, at, &in, &n, err);
        if (rc == 0)
            rc = plan_read(d, in, n, &p, &end, &rows, &ntail, err);
        if (rc == 0 && !end && (stage > 0) != (ntail > 0 && ntail == p.rows * H * sizeof(float)))
            rc = ys_fail(err, YS_EINPUT, "rank %d sent %zu bytes of rows for a step of %zu rows", d->rank - 1, ntail,
                         p.rows);
        double t0 = rn_now_s();
        if (rc == 0 && !(out = plan_msg(&p, end, end ? 0 : p.rows * H * sizeof(float), &nout, err)))
            rc = YS_ENOMEM;
        if (rc == 0 && !end)
            rc = model_batch_pass(fb, &p, stage > 0 ? (const float *)rows : NULL, p.rows,
                                  (float *)((unsigned char *)out + plan_bytes(p.n, p.rows)), NULL, &nd, err);
        free(in);
        if (rc == 0 && !end)
            stage_time(d, t0, rn_now_s());
        /* the step (or the end, to the stages before the last) on */
        if (rc == 0 && (!end || stage + 1 < K - 1))
            rc = rn_dist_pass_on(d, at, out, nout, err);
        else
            free(out);
        if (rc == 0 && between)
            rc = between(ctx, err);
        if (end)
            break;
    }
    model_batch_free(fb);
    return rc;
}
