/* The runner's data parallelism without the transport (runner_dist.h):
 * agreeing on failures, sharing a pass's work list, cutting it into
 * balanced ranges, and the messages of finished batches. MPI itself is in
 * runner_mpi.c, built only with -DYS_MPI=ON. */
#include "runner_dist.h"

#include <stdlib.h>
#include <string.h>

/* Tags of the transport's messages: the results of a batch, and the
 * message of a rank that failed before the passes. */
enum { TAG_BATCH = 1, TAG_AGREE = 2 };

int rn_dist_rank(const rn_dist *d)
{
    return d ? d->rank : 0;
}

int rn_dist_size(const rn_dist *d)
{
    return d ? d->size : 1;
}

bool rn_dist_leader(const rn_dist *d)
{
    return rn_dist_rank(d) == 0;
}

int rn_dist_local_size(const rn_dist *d)
{
    return d && d->local_size > 0 ? d->local_size : 1;
}

bool rn_dist_quiet(const rn_dist *d)
{
    return d && d->quiet;
}

static const char *host_of(const rn_dist *d, int r)
{
    return d->hosts && d->hosts[r] ? d->hosts[r] : "?";
}

int rn_dist_agree(rn_dist *d, int rc, ys_error *err)
{
    if (!d)
        return rc;
    d->quiet = false;
    if (d->size == 1) {
        d->engaged = rc == 0;
        return rc;
    }
    int *all = calloc((size_t)d->size, sizeof *all);
    if (!all)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int r = d->ops->allgather_int(d->impl, rc, all, err);
    int first = -1;
    for (int i = 0; r == 0 && i < d->size && first < 0; i++)
        if (all[i] < 0)
            first = i;
    int code = first >= 0 ? all[first] : 0;
    free(all);
    if (r < 0)
        return r;
    if (first < 0) {
        d->engaged = true;
        return 0;
    }
    /* the first failing rank's message goes to rank 0, which prints it */
    if (first != 0 && d->rank == first) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        if ((r = d->ops->send(d->impl, TAG_AGREE, msg, strlen(msg) + 1, err)) == 0)
            r = d->ops->flush(d->impl, err);
        if (r < 0)
            return r;
    }
    if (d->rank == 0 && first != 0) {
        void *buf = NULL;
        size_t n = 0;
        int from = -1;
        if ((r = d->ops->recv(d->impl, TAG_AGREE, true, &from, &buf, &n, err)) < 0)
            return r;
        const char *msg = buf && n && ((char *)buf)[n - 1] == 0 ? buf : "(no message)";
        ys_fail(err, code, "rank %d on %s: %s", from, host_of(d, from), msg);
        free(buf);
    } else if (d->rank != 0) {
        d->quiet = true;
        if (d->rank != first)
            ys_fail(err, code, "rank %d failed", first);
    }
    return code;
}

int rn_dist_share(rn_dist *d, int rc, uint64_t **todo, size_t *n, ys_error *err)
{
    if (!d || d->size == 1)
        return rc;
    d->seq++;
    size_t bytes = *n * sizeof **todo;
    void *p = *todo;
    rc = rn_dist_share_bytes(d, rc, &p, &bytes, err);
    if (rc == 0 && d->rank != 0)
        *todo = p, *n = bytes / sizeof **todo;
    return rc;
}

int rn_dist_share_bytes(rn_dist *d, int rc, void **todo, size_t *n, ys_error *err)
{
    if (!d || d->size == 1)
        return rc;
    /* the status and the count, then the list */
    int64_t head[2] = {rc < 0 ? rc : 0, rc < 0 ? 0 : (int64_t)*n};
    int r = d->ops->bcast(d->impl, head, sizeof head, err);
    if (r < 0)
        return r;
    if (head[0] < 0) {
        if (d->rank == 0)
            return rc;
        d->quiet = true; /* rank 0 says why */
        return ys_fail(err, (int)head[0], "rank 0 failed");
    }
    if (d->rank != 0) {
        *n = (size_t)head[1];
        *todo = malloc(*n ? *n : 1);
        if (!*todo)
            return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    return *n ? d->ops->bcast(d->impl, *todo, *n, err) : 0;
}

void rn_dist_split(const uint64_t *cost, const uint8_t *cut_ok, size_t n, int parts, size_t *start)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += cost[i];
    start[0] = 0;
    size_t i = 0;
    uint64_t before = 0; /* cost of items [0, i) */
    for (int p = 1; p < parts; p++) {
        /* the allowed cut nearest the p-th share of the total, floor(total
         * * p / parts) without overflow (integers: every rank cuts alike) */
        uint64_t P = (uint64_t)parts, target = total / P * (uint64_t)p + total % P * (uint64_t)p / P;
        size_t best = i;
        uint64_t best_gap = UINT64_MAX, at = before;
        for (size_t j = i; j <= n; j++) {
            if (j == n || !cut_ok || cut_ok[j] || j == i) {
                uint64_t gap = at > target ? at - target : target - at;
                if (gap < best_gap)
                    best_gap = gap, best = j;
                if (at >= target)
                    break;
            }
            if (j < n)
                at += cost[j];
        }
        while (i < best)
            before += cost[i++];
        start[p] = i;
    }
    start[parts] = n;
}

void rn_buf_put(rn_buf *b, const void *v, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

void rn_buf_free(rn_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

bool rn_buf_get(const unsigned char *p, size_t len, size_t *off, void *v, size_t n)
{
    if (*off > len || len - *off < n)
        return false;
    memcpy(v, p + *off, n);
    *off += n;
    return true;
}

/* A message: the pass it belongs to, the number of results, the results. */
typedef struct {
    uint32_t seq, nitems;
} msg_head;

int rn_dist_send(rn_dist *d, uint32_t nitems, const rn_buf *body, ys_error *err)
{
    if (body->oom)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    rn_buf m = {0};
    msg_head h = {d->seq, nitems};
    rn_buf_put(&m, &h, sizeof h);
    rn_buf_put(&m, body->p, body->len);
    int rc = m.oom ? ys_fail(err, YS_ENOMEM, "out of memory") : d->ops->send(d->impl, TAG_BATCH, m.p, m.len, err);
    rn_buf_free(&m);
    return rc;
}

int rn_dist_collect(rn_dist *d, bool wait, size_t *left, rn_dist_apply apply, void *ctx, ys_error *err)
{
    if (!d || d->size == 1)
        return 0;
    if (d->rank != 0)
        return wait ? d->ops->flush(d->impl, err) : 0;
    int rc = 0;
    while (rc == 0 && *left > 0) {
        void *buf = NULL;
        size_t n = 0;
        int from = -1;
        int got = d->ops->recv(d->impl, TAG_BATCH, wait, &from, &buf, &n, err);
        if (got <= 0) {
            rc = got;
            break;
        }
        msg_head h;
        size_t off = 0;
        if (!rn_buf_get(buf, n, &off, &h, sizeof h) || h.seq != d->seq || h.nitems > *left)
            rc = ys_fail(err, YS_EINPUT, "rank %d on %s sent a message out of turn (pass %u, expected %u): the ranks "
                                         "do not run the same command",
                         from, host_of(d, from), off ? h.seq : 0, d->seq);
        else if ((rc = apply(ctx, from, h.nitems, (unsigned char *)buf + off, n - off, err)) == 0)
            *left -= h.nitems;
        free(buf);
    }
    return rc;
}

int rn_dist_launched(void)
{
    /* Open MPI's mpirun, PMI launchers (MPICH's Hydra, srun --mpi=pmi2);
     * a PMIx launcher (srun --mpi=pmix) sets no size: 1 */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > 0)
            return n > 1 << 24 ? 1 << 24 : (int)n;
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

/* ---- pipelines ------------------------------------------------------------ */

int rn_dist_pipeline(rn_dist *d, int stages, ys_error *err)
{
    if (stages <= 1)
        return 0;
    if (!d)
        return ys_fail(err, YS_EUSAGE, "--pipeline %d needs %d MPI ranks per pipeline: run it under mpirun or srun "
                                       "with a multiple of %d ranks (in an MPI build, -DYS_MPI=ON)",
                       stages, stages, stages);
    if (d->size % stages)
        return ys_fail(err, YS_EUSAGE, "--pipeline %d: the %d ranks do not divide into pipelines of %d stages (run "
                                       "a multiple of %d ranks)",
                       stages, d->size, stages, stages);
    int rc = d->ops->pipe_open(d->impl, stages, err);
    if (rc == 0)
        d->stages = stages;
    return rc;
}

int rn_dist_stages(const rn_dist *d)
{
    return d && d->stages > 1 ? d->stages : 1;
}

int rn_dist_stage(const rn_dist *d)
{
    return rn_dist_rank(d) % rn_dist_stages(d);
}

int rn_dist_groups(const rn_dist *d)
{
    return rn_dist_size(d) / rn_dist_stages(d);
}

int rn_dist_group(const rn_dist *d)
{
    return rn_dist_rank(d) / rn_dist_stages(d);
}

bool rn_dist_last_stage(const rn_dist *d)
{
    return rn_dist_stage(d) == rn_dist_stages(d) - 1;
}

/* A pipeline message's head: the pass and the batch (its first item), so
 * that stages that lost step fail instead of computing on other rows. */
typedef struct {
    uint32_t seq, pad;
    uint64_t at;
} pipe_head;
_Static_assert(sizeof(pipe_head) == RN_PIPE_HEAD, "the rows follow the head");

/* msg (head filled here) to stage `to` of the group. */
static int stage_send(rn_dist *d, int to, uint64_t at, void *msg, size_t n, ys_error *err)
{
    pipe_head h = {d->seq, 0, at};
    memcpy(msg, &h, sizeof h);
    return d->ops->pipe_send(d->impl, to, msg, n, err);
}

/* The next message from stage `from`, which must be the batch (or step) at. */
static int stage_recv(rn_dist *d, int from, uint64_t at, void **msg, size_t *n, ys_error *err)
{
    int rc = d->ops->pipe_recv(d->impl, from, msg, n, err);
    if (rc < 0)
        return rc;
    pipe_head h = {0, 0, 0};
    if (*n >= RN_PIPE_HEAD)
        memcpy(&h, *msg, sizeof h);
    if (*n < RN_PIPE_HEAD || h.seq != d->seq || h.at != at) {
        free(*msg);
        *msg = NULL;
        return ys_fail(err, YS_EINPUT, "rank %d (stage %d of the pipeline) sent the rows of another batch (pass %u, "
                                       "item %llu; expected pass %u, item %llu): the ranks do not run the same command",
                       d->rank - rn_dist_stage(d) + from, from, h.seq, (unsigned long long)h.at, d->seq,
                       (unsigned long long)at);
    }
    return 0;
}

int rn_dist_pass_on(rn_dist *d, uint64_t at, void *msg, size_t n, ys_error *err)
{
    return stage_send(d, rn_dist_stage(d) + 1, at, msg, n, err);
}

int rn_dist_take_on(rn_dist *d, uint64_t at, void **msg, size_t *n, ys_error *err)
{
    return stage_recv(d, rn_dist_stage(d) - 1, at, msg, n, err);
}

int rn_dist_pass_back(rn_dist *d, uint64_t at, void *msg, size_t n, ys_error *err)
{
    return stage_send(d, 0, at, msg, n, err);
}

int rn_dist_take_back(rn_dist *d, uint64_t at, void **msg, size_t *n, ys_error *err)
{
    return stage_recv(d, rn_dist_stages(d) - 1, at, msg, n, err);
}
