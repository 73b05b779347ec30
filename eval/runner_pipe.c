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
 *
 * A batch's steps are serial (a step's plan needs the tokens of the step
 * before), so one batch would keep one stage busy at a time. The last
 * stage therefore splits its requests into K micro-batches (request k into
 * micro-batch k % K), each with its own plans, and keeps every idle one's
 * step in flight: while one micro-batch's step is in stage s, another's is
 * in stage s - 1. Requests are independent of their neighbours (model.h),
 * so the split changes no result. Messages between two stages arrive in
 * the order they were sent, so every stage sees the steps in the same
 * order, and each message names its micro-batch. A message: the pipe
 * head, plan_head, the items, the ids and (between stages) the rows. */

typedef struct {
    uint32_t batch, end;     /* the micro-batch; end: the pass is over (nothing else follows) */
    uint64_t n, rows;
} plan_head;

_Static_assert((RN_PIPE_HEAD + sizeof(plan_head)) % 8 == 0, "plan items aligned");

static size_t plan_bytes(size_t n, size_t rows)
{
    return RN_PIPE_HEAD + sizeof(plan_head) + n * sizeof(model_plan_item) + rows * sizeof(int32_t);
}

/* A message holding micro-batch j's plan (and `extra` bytes after it). */
static void *plan_msg(const model_plan *p, uint32_t j, int end, size_t extra, size_t *n, ys_error *err)
{
    size_t pb = plan_bytes(p->n, p->rows);
    unsigned char *m = malloc(pb + extra);
    if (!m) {
        ys_fail(err, YS_ENOMEM, "out of memory for a step of %zu rows", p->rows);
        return NULL;
    }
    plan_head h = {j, (uint32_t)end, p->n, p->rows};
    unsigned char *q = m + RN_PIPE_HEAD;
    memcpy(q, &h, sizeof h), q += sizeof h;
    if (p->n)
        memcpy(q, p->items, p->n * sizeof *p->items), q += p->n * sizeof *p->items;
    if (p->rows)
        memcpy(q, p->ids, p->rows * sizeof *p->ids);
    *n = pb + extra;
    return m;
}

/* The plan in msg (n bytes), pointing into it; its head, and the bytes
 * after the plan (*tail, *ntail). */
static int plan_read(const rn_dist *d, int from, void *msg, size_t n, model_plan *p, plan_head *h,
                     unsigned char **tail, size_t *ntail, ys_error *err)
{
    unsigned char *q = (unsigned char *)msg + RN_PIPE_HEAD;
    if (n < RN_PIPE_HEAD + sizeof *h)
        return ys_fail(err, YS_EINPUT, "rank %d sent a malformed generation step", from);
    memcpy(h, q, sizeof *h);
    if (h->n > n / sizeof(model_plan_item) || h->rows > n / sizeof(int32_t) || plan_bytes(h->n, h->rows) > n ||
        h->batch >= (uint32_t)rn_dist_stages(d))
        return ys_fail(err, YS_EINPUT, "rank %d sent a generation step (micro-batch %u, %llu requests, %llu rows) "
                                       "that does not fit its %zu bytes",
                       from, h->batch, (unsigned long long)h->n, (unsigned long long)h->rows, n);
    q += sizeof *h;
    *p = (model_plan){.n = h->n, .rows = h->rows, .items = (const model_plan_item *)q,
                      .ids = (const int32_t *)(q + h->n * sizeof(model_plan_item))};
    *tail = (unsigned char *)msg + plan_bytes(h->n, h->rows);
    *ntail = n - plan_bytes(h->n, h->rows);
    return 0;
}

/* This stage's computing seconds, for its utilisation. */
static void stage_time(rn_dist *d, double t0, double t1)
{
    if (d->stage_t0 == 0)
        d->stage_t0 = t0;
    d->stage_busy_s += t1 - t0;
    d->stage_wall_s = rn_now_s() - d->stage_t0;
}

struct rn_pipe_gen {
    run_state *st;
    int K;
    size_t per;           /* requests at once per micro-batch */
    model_batch **mb;     /* [K] micro-batches */
    model_plan *plan;     /* [K] the step in flight of each */
    int *fifo;            /* micro-batches in flight, oldest first: [head, head + nfly) mod K */
    int head, nfly;
    uint32_t *busy;       /* [K] in flight */
    size_t nadd;
    uint64_t at;          /* steps sent (and taken back: at - nfly) */
};

int rn_pipe_gen_new(run_state *st, size_t B, rn_pipe_gen **out, ys_error *err)
{
    int K = rn_dist_stages(st->o->dist);
    rn_pipe_gen *g = calloc(1, sizeof *g);
    int rc = 0;
    *out = NULL;
    if (g) {
        g->st = st, g->K = K, g->per = (B + (size_t)K - 1) / (size_t)K;
        g->mb = calloc((size_t)K, sizeof *g->mb), g->plan = calloc((size_t)K, sizeof *g->plan);
        g->fifo = calloc((size_t)K, sizeof *g->fifo), g->busy = calloc((size_t)K, sizeof *g->busy);
    }
    if (!g || !g->mb || !g->plan || !g->fifo || !g->busy)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (int j = 0; rc == 0 && j < K; j++)   /* B between them (each at least 1) */
        rc = model_batch_new(st->m, g->per, &g->mb[j], err);
    if (rc)
        rn_pipe_gen_free(g);
    else
        *out = g;
    return rc;
}

void rn_pipe_gen_free(rn_pipe_gen *g)
{
    if (!g)
        return;
    for (int j = 0; g->mb && j < g->K; j++)
        model_batch_free(g->mb[j]);
    free(g->mb), free(g->plan), free(g->fifo), free(g->busy);
    free(g);
}

int rn_pipe_gen_add(rn_pipe_gen *g, model_request *r, ys_error *err)
{
    return model_batch_add(g->mb[g->nadd++ % (size_t)g->K], r, err);
}

size_t rn_pipe_gen_pending(const rn_pipe_gen *g)
{
    size_t n = 0;
    for (int j = 0; j < g->K; j++)
        n += model_batch_pending(g->mb[j]);
    return n;
}

size_t rn_pipe_gen_capacity(const rn_pipe_gen *g)
{
    size_t n = 0;
    for (int j = 0; j < g->K; j++)
        n += model_batch_capacity(g->mb[j]);
    return n;
}

size_t rn_pipe_gen_room(const rn_pipe_gen *g)
{
    /* what a step can finish: every micro-batch's max_new == 0 requests
     * at admission, and one pass (within each one's max_active) */
    return g->per * (size_t)g->K;
}

int rn_pipe_gen_step(rn_pipe_gen *g, model_request **done, size_t *n_done, ys_error *err)
{
    rn_dist *d = g->st->o->dist;
    size_t H = (size_t)model_get_info(g->st->m)->hidden, nd = 0, k, n;
    int rc = 0;
    *n_done = 0;
    /* every idle micro-batch's next step into the pipeline */
    for (int j = 0; rc == 0 && j < g->K; j++) {
        if (g->busy[j] || model_batch_pending(g->mb[j]) == 0)
            continue;
        double t0 = rn_now_s();
        rc = model_batch_plan(g->mb[j], &g->plan[j], done + nd, &k, err);
        stage_time(d, t0, rn_now_s());
        nd += k;
        if (rc || g->plan[j].n == 0)   /* (requests with nothing to generate: done without a pass) */
            continue;
        void *msg = plan_msg(&g->plan[j], (uint32_t)j, 0, 0, &n, err);
        if (!msg || (rc = rn_dist_pass_back(d, g->at++, msg, n, err)) != 0) {
            rc = rc ? rc : YS_ENOMEM;
            break;
        }
        g->busy[j] = 1;
        g->fifo[(g->head + g->nfly++) % g->K] = j;
    }
    /* the oldest step's rows from the stage before: its pass */
    if (rc == 0 && g->nfly > 0) {
        int j = g->fifo[g->head];
        void *in = NULL;
        model_plan q;
        plan_head h;
        unsigned char *rows = NULL;
        size_t nrows = 0;
        g->head = (g->head + 1) % g->K, g->nfly--, g->busy[j] = 0;
        if ((rc = rn_dist_take_on(d, g->at - (uint64_t)g->nfly - 1, &in, &n, err)) == 0 &&
            (rc = plan_read(d, d->rank - 1, in, n, &q, &h, &rows, &nrows, err)) == 0 &&
            (h.end || h.batch != (uint32_t)j || q.n != g->plan[j].n || q.rows != g->plan[j].rows ||
             nrows != q.rows * H * sizeof(float)))
            rc = ys_fail(err, YS_EINPUT, "rank %d (the stage before) sent the rows of another step", d->rank - 1);
        double t0 = rn_now_s();
        if (rc == 0)
            rc = model_batch_pass(g->mb[j], &g->plan[j], (const float *)rows, q.rows, NULL, done + nd, &k, err);
        stage_time(d, t0, rn_now_s());
        nd += rc == 0 ? k : 0;
        free(in);
    }
    *n_done = nd;
    return rc;
}

int rn_pipe_gen_end(rn_pipe_gen *g, ys_error *err)
{
    model_plan p = {0};
    size_t n = 0;
    void *msg = plan_msg(&p, 0, 1, 0, &n, err);
    return msg ? rn_dist_pass_back(g->st->o->dist, g->at, msg, n, err) : YS_ENOMEM;
}

int rn_pipe_gen_follow(run_state *st, int (*between)(void *ctx, ys_error *err), void *ctx, ys_error *err)
{
    rn_dist *d = st->o->dist;
    int stage = rn_dist_stage(d), K = rn_dist_stages(d);
    size_t H = (size_t)model_get_info(st->m)->hidden;
    /* one per micro-batch, made with one slot: they grow to the plans */
    model_batch **fb = calloc((size_t)K, sizeof *fb);
    int rc = fb ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (int j = 0; rc == 0 && j < K; j++)
        rc = model_batch_new(st->m, 1, &fb[j], err);
    for (uint64_t at = 0; rc == 0; at++) {
        void *in = NULL, *out = NULL;
        size_t n = 0, nout = 0, ntail = 0, nd = 0;
        model_plan p;
        plan_head h = {0, 0, 0, 0};
        unsigned char *rows = NULL;
        int from = stage == 0 ? d->rank + K - 1 : d->rank - 1;
        rc = stage == 0 ? rn_dist_take_back(d, at, &in, &n, err) : rn_dist_take_on(d, at, &in, &n, err);
        if (rc == 0)
            rc = plan_read(d, from, in, n, &p, &h, &rows, &ntail, err);
        if (rc == 0 && !h.end && ntail != (stage > 0 ? p.rows * H * sizeof(float) : 0))
            rc = ys_fail(err, YS_EINPUT, "rank %d sent %zu bytes of rows for a step of %zu rows", from, ntail, p.rows);
        double t0 = rn_now_s();
        if (rc == 0 && !(out = plan_msg(&p, h.batch, (int)h.end, h.end ? 0 : p.rows * H * sizeof(float), &nout, err)))
            rc = YS_ENOMEM;
        if (rc == 0 && !h.end)
            rc = model_batch_pass(fb[h.batch], &p, stage > 0 ? (const float *)rows : NULL, p.rows,
                                  (float *)((unsigned char *)out + plan_bytes(p.n, p.rows)), NULL, &nd, err);
        free(in);
        if (rc == 0 && !h.end)
            stage_time(d, t0, rn_now_s());
        /* the step (or the end, to the stages before the last) on */
        if (rc == 0 && (!h.end || stage + 1 < K - 1))
            rc = rn_dist_pass_on(d, at, out, nout, err);
        else
            free(out);
        if (rc == 0 && between)
            rc = between(ctx, err);
        if (h.end)
            break;
    }
    for (int j = 0; fb && j < K; j++)
        model_batch_free(fb[j]);
    free(fb);
    return rc;
}
