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
 * Pipelines (--pipeline K, rn_dist_pipeline). Consecutive ranks form
 * groups of K: rank r is stage r % K of group r / K, and holds only its
 * block of the decoder's layers (model.h, "pipeline stages"). The groups
 * share a pass's work as ranks do without pipelines (rn_dist_split into
 * rn_dist_groups parts, group g taking part g); within a group every stage
 * walks the same batches of the group's range: the first embeds and runs
 * its layers and hands the batch's hidden rows to the next stage
 * (rn_dist_pass_on, without waiting for it to take them, so that it goes
 * on to the next batch while the next stage computes this one), each stage
 * takes the rows of the one before (rn_dist_take_on), and the last
 * computes the results and sends them to rank 0 (rn_dist_send) as a rank
 * does without pipelines. Rank 0 is the first stage of group 0: it collects
 * every result from the last stages between its own batches. Generation
 * goes step by step: the last stage decides each step (which requests
 * decode, their next tokens) and sends its plan back to the first stage
 * (rn_dist_pass_back), which starts the step's pass down the stages.
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
    /* pipelines: the ranks in groups of `stages` consecutive ranks */
    int (*pipe_open)(void *impl, int stages, ys_error *err);
    /* buf (malloc'd, n bytes; the transport frees it, also on failure) to
     * stage `to` of this rank's group; returns once at most a few such
     * sends are still waiting to be taken */
    int (*pipe_send)(void *impl, int to, void *buf, size_t n, ys_error *err);
    /* the next message from stage `from` of this rank's group (blocks);
     * *buf malloc'd */
    int (*pipe_recv)(void *impl, int from, void **buf, size_t *n, ys_error *err);
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
    int stages;       /* --pipeline: ranks per group (0 or 1: none) */
    /* pipelines: this rank's seconds computing its stage, and from the
     * start of its first batch to the end of its last (its utilisation) */
    double stage_busy_s, stage_wall_s, stage_t0;
} rn_dist;

int rn_dist_rank(const rn_dist *d);
int rn_dist_size(const rn_dist *d);
/* Rank 0 writes the store and the outputs, prints the summary. */
bool rn_dist_leader(const rn_dist *d);
/* Ranks on this host (1 for NULL): the share of its memory and cores. */
int rn_dist_local_size(const rn_dist *d);

/* --pipeline K: groups of K consecutive ranks (K must divide the number of
 * ranks: YS_EUSAGE otherwise, the same answer on every rank). K = 1 is no
 * pipeline. NULL d (one process): K > 1 is YS_EUSAGE. */
int rn_dist_pipeline(rn_dist *d, int stages, ys_error *err);
/* Stages per group (1: no pipeline), this rank's stage, the number of
 * groups sharing a pass's work, this rank's group. */
int rn_dist_stages(const rn_dist *d);
int rn_dist_stage(const rn_dist *d);
int rn_dist_groups(const rn_dist *d);
int rn_dist_group(const rn_dist *d);
/* Does this rank compute results (the last stage, or every rank without
 * pipelines)? */
bool rn_dist_last_stage(const rn_dist *d);

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

/* Pipelines: the rows of the batch that begins at item `at` of the pass to
 * the next stage: msg (malloc'd, RN_PIPE_HEAD bytes of head to fill here,
 * then the rows; n bytes in all) is the transport's from now on. */
#define RN_PIPE_HEAD 16
int rn_dist_pass_on(rn_dist *d, uint64_t at, void *msg, size_t n, ys_error *err);
/* The rows of the stage before for the batch at `at`: *msg malloc'd (the
 * caller frees it), the rows at *msg + RN_PIPE_HEAD, n bytes of message. */
int rn_dist_take_on(rn_dist *d, uint64_t at, void **msg, size_t *n, ys_error *err);
/* Generation: the last stage's plan of step `at` back to the first stage
 * (as rn_dist_pass_on), and the first stage's taking it (as
 * rn_dist_take_on). */
int rn_dist_pass_back(rn_dist *d, uint64_t at, void *msg, size_t n, ys_error *err);
int rn_dist_take_back(rn_dist *d, uint64_t at, void **msg, size_t *n, ys_error *err);

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
