/* runner_dist.h — `yardstick run` over cooperating processes (MPI ranks):
 * the runner's side of data parallelism, with the transport behind a small
 * table of operations so that the runner never sees MPI and the build
 * without MPI compiles and links none of it.
 *
 * The contract. Every rank runs the same command, loads the model and
 * builds the same requests (their order and de-duplication are
 * deterministic). Rank 0 alone opens the store: for each pass
 * (classifications, log-likelihoods, the generations of a task) it looks
 * up the response cache and broadcasts the list of requests still to do
 * (rn_dist_share); every rank cuts that list the same way into contiguous
 * ranges balanced by token count (rn_dist_split) and computes its range in
 * the runner's usual batches; a rank other than 0 sends each finished batch
 * to rank 0 (rn_dist_send), which applies it exactly as its own batches
 * (response cache, progress) between its own batches (rn_dist_collect) and
 * finally waits for the rest. Because the engine's numbers do not depend on
 * the batch a request is in, the results are bitwise those of one process.
 * Rank 0 then scores, stores and writes the outputs alone.
 *
 * Failures. Until the passes begin, every rank reaches rn_dist_agree with
 * its status: if any failed, every rank returns the first failing rank's
 * code and rank 0's err carries its message ("rank R on HOST: ..."), the
 * others are told to stay quiet (rn_dist_quiet), so the message is printed
 * once. During the passes the ranks depend on each other: a failure there
 * ends the whole job (rn_dist_abort, the CLI's job: it prints and aborts),
 * and a rank that dies makes the launcher end the job; what finished is in
 * the store, and running the command again, under any number of ranks,
 * reuses it.
 *
 * A NULL rn_dist is one process: rank 0 of 1, every call trivial.
 * Messages are raw bytes: the ranks are assumed to share byte order and
 * type sizes (one architecture), as the engine's bitwise results assume.
 */
#ifndef YS_RUNNER_DIST_H
#define YS_RUNNER_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

/* The transport (runner_mpi.c over MPI_COMM_WORLD). Each returns 0 or a
 * negative YS_E* code with err filled. */
typedef struct {
    /* n bytes of buf from rank 0 to every rank */
    int (*bcast)(void *impl, void *buf, size_t n, ys_error *err);
    /* every rank's v into all[0..size) */
    int (*allgather_int)(void *impl, int v, int *all, ys_error *err);
    /* n bytes to rank 0 with a tag, without waiting for rank 0 to take
     * them (the transport copies buf) */
    int (*send)(void *impl, int tag, const void *buf, size_t n, ys_error *err);
    /* until every send of this rank has been taken */
    int (*flush)(void *impl, ys_error *err);
    /* rank 0: the next message with this tag from any rank (wait: block
     * until one comes); 1 with *buf malloc'd, 0 when none is waiting */
    int (*recv)(void *impl, int tag, bool wait, int *from, void **buf, size_t *n, ys_error *err);
} rn_dist_ops;

typedef struct rn_dist {
    const rn_dist_ops *ops;
    void *impl;
    int rank, size;
    int local_size;   /* ranks on this rank's host (sharing its cores and memory) */
    char **hosts;     /* per rank: its host name */
    unsigned seq;     /* passes begun: every message names its pass */
    bool quiet;       /* this rank's error is reported by rank 0 */
    bool engaged;     /* the passes have begun: a failure now ends the job */
} rn_dist;

int rn_dist_rank(const rn_dist *d);
int rn_dist_size(const rn_dist *d);
/* Rank 0 writes the store and the outputs, prints the summary. */
bool rn_dist_leader(const rn_dist *d);
/* Ranks on this host (1 for NULL): the share of its memory and cores. */
int rn_dist_local_size(const rn_dist *d);

/* Everyone's status after the setup (see the contract). Returns 0 when
 * every rank succeeded, else the first failing rank's code on every rank. */
int rn_dist_agree(rn_dist *d, int rc, ys_error *err);
/* Did the last rn_dist_agree leave this rank's error to rank 0? */
bool rn_dist_quiet(const rn_dist *d);

/* A pass begins: rank 0's list of requests to do (*todo, *n, its status
 * rc) to every rank. Elsewhere *todo is replaced by a malloc'd copy of rank
 * 0's list (the caller frees it). A status < 0 is returned on every rank
 * (rank 0 keeps its err; the others get "rank 0 failed"). */
int rn_dist_share(rn_dist *d, int rc, uint64_t **todo, size_t *n, ys_error *err);

/* Rank 0's bytes (*buf, *n, malloc'd; its status rc) to every rank: as
 * rn_dist_share, outside the passes (the settings of a resumed run). */
int rn_dist_share_bytes(rn_dist *d, int rc, void **buf, size_t *n, ys_error *err);

/* Cut n items, in order, into d's size contiguous ranges of about equal
 * cost: rank r does [start[r], start[r+1]) (start has size + 1 entries).
 * A range may begin only at an item with cut_ok set (NULL: anywhere):
 * requests that share a context stay together. Integer costs: every rank
 * computes the same cut. */
void rn_dist_split(const uint64_t *cost, const uint8_t *cut_ok, size_t n, int parts, size_t *start);

/* A growable byte buffer for messages. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} rn_buf;
void rn_buf_put(rn_buf *b, const void *v, size_t n);
void rn_buf_free(rn_buf *b);
/* Read n bytes at *off of p (len bytes) into v; false past the end. */
bool rn_buf_get(const unsigned char *p, size_t len, size_t *off, void *v, size_t n);

/* A rank's finished batch of a pass to rank 0: nitems results in body. */
int rn_dist_send(rn_dist *d, uint32_t nitems, const rn_buf *body, ys_error *err);
/* Rank 0 applies a message of another rank: nitems results in p[0..len). */
typedef int (*rn_dist_apply)(void *ctx, int from, uint32_t nitems, const unsigned char *p, size_t len, ys_error *err);
/* Rank 0: apply every message waiting (wait: until *left items, the
 * results still expected from other ranks in this pass, have come),
 * counting them off *left. Other ranks: with wait, until their sends are
 * taken. */
int rn_dist_collect(rn_dist *d, bool wait, size_t *left, rn_dist_apply apply, void *ctx, ys_error *err);

/* The number of processes a launcher (mpirun, srun, ...) started as one
 * job with this one, from its environment; 0 when none did. */
int rn_dist_launched(void);

/* runner_mpi.c, only in a build with -DYS_MPI=ON: MPI started (thread
 * level funneled: only the calling thread talks MPI) and the ranks' hosts
 * gathered; closed with MPI finalized; abort ends every rank of the job
 * with the exit code. */
int rn_mpi_open(int *argc, char ***argv, rn_dist **out, ys_error *err);
void rn_mpi_close(rn_dist *d);
void rn_mpi_abort(rn_dist *d, int code);

#endif
