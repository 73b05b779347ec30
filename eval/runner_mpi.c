/* The runner's transport over MPI (runner_dist.h), built only with
 * -DYS_MPI=ON. Messages between ranks are a pass's work list broadcast by
 * rank 0, finished batches sent to rank 0, and with pipelines a batch's
 * hidden rows from one stage to the next, on a communicator of the group's
 * ranks (its own tag space: rows never meet results). Every wait polls
 * with a short sleep instead of MPI's busy polling, so a rank waiting for
 * another gives its core to the engine threads of the ranks still
 * computing (several ranks often share a host, and the host is often
 * shared). */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_dist.h"

/* Sends not yet taken, with their buffers. */
typedef struct {
    MPI_Request *reqs;
    void **bufs;
    size_t n, cap;
} pending;

typedef struct {
    MPI_Comm comm;
    pending sent;       /* to rank 0 */
    MPI_Comm group;     /* pipelines: the group's ranks (MPI_COMM_NULL: none) */
    pending rows;       /* to the next stage */
} mpi_impl;

/* Rows handed on but not yet taken by the next stage before a stage waits:
 * two batches of slack keep it computing while the next stage catches up,
 * and bound the memory of a stage that is faster than the next. */
#define PIPE_SLACK 2

static int mpi_fail(ys_error *err, int code, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error %d", code);
    return ys_fail(err, YS_EIO, "MPI %s failed: %s", what, s);
}

static void nap(void)
{
    struct timespec ts = {0, 100000}; /* 0.1 ms: far below a batch's time */
    nanosleep(&ts, NULL);
}

/* Wait for one request without spinning. */
static int wait_req(MPI_Request *r, const char *what, ys_error *err)
{
    for (;;) {
        int done = 0, rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, what);
        if (done)
            return 0;
        nap();
    }
}

static int op_bcast(void *impl, void *buf, size_t n, ys_error *err)
{
    mpi_impl *m = impl;
    /* counts are ints: large lists go in pieces */
    for (size_t off = 0; off < n;) {
        size_t k = n - off < (1u << 30) ? n - off : (1u << 30);
        MPI_Request r;
        int rc = MPI_Ibcast((char *)buf + off, (int)k, MPI_BYTE, 0, m->comm, &r);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "broadcast");
        if ((rc = wait_req(&r, "broadcast", err)) < 0)
            return rc;
        off += k;
    }
    return 0;
}

static int op_allgather_int(void *impl, int v, int *all, ys_error *err)
{
    mpi_impl *m = impl;
    MPI_Request r;
    int rc = MPI_Iallgather(&v, 1, MPI_INT, all, 1, MPI_INT, m->comm, &r);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "allgather");
    return wait_req(&r, "allgather", err);
}

/* Drop the sends that have been taken. */
static int reap(pending *p, ys_error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        int done = 0, rc = MPI_Test(&p->reqs[i], &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "send");
        if (done) {
            free(p->bufs[i]);
        } else {
            p->reqs[k] = p->reqs[i], p->bufs[k] = p->bufs[i];
            k++;
        }
    }
    p->n = k;
    return 0;
}

/* buf (malloc'd; freed here on failure, else once taken) to rank `to` of
 * comm without waiting. */
static int post(pending *p, MPI_Comm comm, int to, int tag, void *buf, size_t n, ys_error *err)
{
    int rc = reap(p, err);
    if (rc == 0 && n > INT_MAX)
        rc = ys_fail(err, YS_EUSAGE, "a message of %zu bytes is longer than MPI takes at once (a smaller --batch-size "
                                     "makes it shorter)",
                     n);
    if (rc == 0 && p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        MPI_Request *r = realloc(p->reqs, cap * sizeof *r);
        if (r)
            p->reqs = r;
        void **b = realloc(p->bufs, cap * sizeof *b);
        if (b)
            p->bufs = b;
        if (!r || !b)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        else
            p->cap = cap;
    }
    if (rc == 0 && (rc = MPI_Isend(buf, (int)n, MPI_BYTE, to, tag, comm, &p->reqs[p->n])) != MPI_SUCCESS)
        rc = mpi_fail(err, rc, "send");
    if (rc < 0) {
        free(buf);
        return rc;
    }
    p->bufs[p->n++] = buf;
    return 0;
}

/* Until at most `keep` sends of p wait. */
static int drain(pending *p, size_t keep, ys_error *err)
{
    int rc;
    while ((rc = reap(p, err)) == 0 && p->n > keep)
        nap();
    return rc;
}

static int op_send(void *impl, int tag, const void *buf, size_t n, ys_error *err)
{
    mpi_impl *m = impl;
    if (n > (size_t)1 << 30)
        return ys_fail(err, YS_EUSAGE, "a message of %zu bytes is too long", n);
    void *copy = malloc(n ? n : 1);
    if (!copy)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    memcpy(copy, buf, n);
    return post(&m->sent, m->comm, 0, tag, copy, n, err);
}

static int op_flush(void *impl, ys_error *err)
{
    mpi_impl *m = impl;
    int rc = drain(&m->sent, 0, err);
    return rc == 0 ? drain(&m->rows, 0, err) : rc;
}

static int op_recv(void *impl, int tag, bool wait, int *from, void **buf, size_t *n, ys_error *err)
{
    mpi_impl *m = impl;
    MPI_Status s;
    int flag = 0, rc;
    for (;;) {
        if ((rc = MPI_Iprobe(MPI_ANY_SOURCE, tag, m->comm, &flag, &s)) != MPI_SUCCESS)
            return mpi_fail(err, rc, "probe");
        if (flag || !wait)
            break;
        nap();
    }
    if (!flag)
        return 0;
    int count = 0;
    MPI_Get_count(&s, MPI_BYTE, &count);
    *buf = malloc(count > 0 ? (size_t)count : 1);
    if (!*buf)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    if ((rc = MPI_Recv(*buf, count, MPI_BYTE, s.MPI_SOURCE, tag, m->comm, MPI_STATUS_IGNORE)) != MPI_SUCCESS) {
        free(*buf);
        *buf = NULL;
        return mpi_fail(err, rc, "receive");
    }
    *from = s.MPI_SOURCE;
    *n = (size_t)count;
    return 1;
}

/* ---- pipelines ----------------------------------------------------------- */

enum { TAG_ROWS = 1 };

static int op_pipe_open(void *impl, int stages, ys_error *err)
{
    mpi_impl *m = impl;
    int rank = 0, rc;
    MPI_Comm_rank(m->comm, &rank);
    if ((rc = MPI_Comm_split(m->comm, rank / stages, rank, &m->group)) != MPI_SUCCESS) {
        m->group = MPI_COMM_NULL;
        return mpi_fail(err, rc, "splitting the ranks into pipelines");
    }
    MPI_Comm_set_errhandler(m->group, MPI_ERRORS_RETURN);
    return 0;
}

static int op_pipe_send(void *impl, int to, void *buf, size_t n, ys_error *err)
{
    mpi_impl *m = impl;
    int rc = post(&m->rows, m->group, to, TAG_ROWS, buf, n, err);
    return rc == 0 ? drain(&m->rows, PIPE_SLACK, err) : rc;
}

static int op_pipe_recv(void *impl, int from, void **buf, size_t *n, ys_error *err)
{
    mpi_impl *m = impl;
    MPI_Status s;
    int flag = 0, rc;
    for (;;) {
        if ((rc = MPI_Iprobe(from, TAG_ROWS, m->group, &flag, &s)) != MPI_SUCCESS)
            return mpi_fail(err, rc, "probe");
        if (flag)
            break;
        /* this stage's own rows to the next meanwhile (MPI progresses a
         * send only inside its calls on some transports) */
        if ((rc = reap(&m->rows, err)) < 0)
            return rc;
        nap();
    }
    int count = 0;
    MPI_Get_count(&s, MPI_BYTE, &count);
    *buf = malloc(count > 0 ? (size_t)count : 1);
    if (!*buf)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    if ((rc = MPI_Recv(*buf, count, MPI_BYTE, from, TAG_ROWS, m->group, MPI_STATUS_IGNORE)) != MPI_SUCCESS) {
        free(*buf);
        *buf = NULL;
        return mpi_fail(err, rc, "receive");
    }
    *n = (size_t)count;
    return 0;
}

static const rn_dist_ops mpi_ops = {op_bcast,  op_allgather_int, op_send,     op_flush,
                                    op_recv,   op_pipe_open,     op_pipe_send, op_pipe_recv};

int rn_mpi_open(int *argc, char ***argv, rn_dist **out, ys_error *err)
{
    *out = NULL;
    int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return ys_fail(err, YS_ERESOURCE, "MPI could not start (MPI_Init_thread returned %d)", rc);
    /* errors come back as codes: the runner says what failed */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rn_dist *d = calloc(1, sizeof *d);
    mpi_impl *m = calloc(1, sizeof *m);
    if (!d || !m) {
        free(d), free(m);
        MPI_Finalize();
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    m->comm = MPI_COMM_WORLD;
    m->group = MPI_COMM_NULL;
    d->ops = &mpi_ops, d->impl = m;
    MPI_Comm_rank(m->comm, &d->rank);
    MPI_Comm_size(m->comm, &d->size);
    /* ranks sharing this host: they share its memory and cores */
    MPI_Comm local;
    if (MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &d->local_size);
        MPI_Comm_free(&local);
    }
    /* every rank's host, for the run's provenance and messages */
    char name[MPI_MAX_PROCESSOR_NAME] = "";
    int len = 0;
    MPI_Get_processor_name(name, &len);
    char *all = calloc((size_t)d->size, MPI_MAX_PROCESSOR_NAME);
    d->hosts = calloc((size_t)d->size, sizeof *d->hosts);
    rc = all && d->hosts ? MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                                         m->comm)
                         : MPI_ERR_NO_MEM;
    for (int r = 0; rc == MPI_SUCCESS && r < d->size; r++) {
        all[(size_t)(r + 1) * MPI_MAX_PROCESSOR_NAME - 1] = 0;
        d->hosts[r] = strdup(all + (size_t)r * MPI_MAX_PROCESSOR_NAME);
    }
    free(all);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, rc, "gathering the host names");
        rn_mpi_close(d);
        return err->code;
    }
    *out = d;
    return 0;
}

void rn_mpi_close(rn_dist *d)
{
    if (!d)
        return;
    mpi_impl *m = d->impl;
    ys_error e;
    op_flush(m, &e);
    free(m->sent.reqs), free(m->sent.bufs), free(m->rows.reqs), free(m->rows.bufs);
    if (m->group != MPI_COMM_NULL)
        MPI_Comm_free(&m->group);
    free(m);
    for (int r = 0; d->hosts && r < d->size; r++)
        free(d->hosts[r]);
    free(d->hosts);
    free(d);
    MPI_Finalize();
}

void rn_mpi_abort(rn_dist *d, int code)
{
    (void)d;
    MPI_Abort(MPI_COMM_WORLD, code);
}
