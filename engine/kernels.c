/* kernels.c — large buffers, the thread pool, norms (the attention tile
 * is attn.c). */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>


#include "vmath.h"
#include "ys_error.h"

void *kn_alloc(size_t bytes)
{
    size_t huge = (size_t)2 << 20;
    void *mem = NULL;
    if (posix_memalign(&mem, bytes >= huge ? huge : 64, bytes ? bytes : 64) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= huge)
        (void)madvise(mem, bytes / huge * huge, MADV_HUGEPAGE);   /* failing only loses speed */
#endif
    return mem;
}

/* ---- thread pool --------------------------------------------------------- */

/* Workers wait for work by spinning for a few tens of microseconds, then
 * sleeping on a condition variable. A forward pass issues ~100 pool runs
 * back to back (per layer: the projections, attention, the MLP), each a
 * fraction of a millisecond when a sequence is short or a token is being
 * decoded; a futex sleep and wake-up per run cost ~10-20 us each in this
 * VM, 10-15% of decoding. The spin is bounded so that an idle pool sleeps. */
#define SPIN_ROUNDS 4000   /* ~30-50 us of pause instructions */

struct kn_pool {
    int nthreads;
    const eng_blas *blas;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    atomic_ulong gen;      /* bumped once per pool_run (release): the work to take */
    atomic_int running;    /* workers still inside the current generation */
    int sleepers;          /* workers waiting on `start` (under mu) */
    int waiting;           /* pool_run waiting on `done` (under mu) */
    atomic_int quit;
    kn_fn fn;              /* written before gen is bumped */
    void *ctx;
    size_t nitems;
    atomic_size_t next;    /* next unclaimed item */
};

typedef struct { kn_pool *p; int id; } worker_arg;

static void drain(kn_pool *p, int worker)
{
    size_t i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->nitems)
        p->fn(p->ctx, i, worker);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    kn_pool *p = a.p;
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int s = 0; g == seen && s < SPIN_ROUNDS && !atomic_load(&p->quit); s++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->start, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            break;
        seen = g;
        drain(p, a.id);
        if (atomic_fetch_sub(&p->running, 1) == 1) {   /* the last one out */
            pthread_mutex_lock(&p->mu);
            if (p->waiting)
                pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int kn_pool_new(int nthreads, const eng_blas *blas, kn_pool **out)
{
    *out = NULL;
    kn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return YS_ENOMEM;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    p->blas = blas;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->running, 0);
    atomic_init(&p->quit, 0);
    p->tid = calloc((size_t)p->nthreads, sizeof *p->tid);
    if (!p->tid) {
        kn_pool_free(p);
        return YS_ENOMEM;
    }
    int started = 1;
    for (int i = 1; i < p->nthreads; i++, started++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a)
            break;
        a->p = p;
        a->id = i;
        if (pthread_create(&p->tid[i], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
    }
    /* fewer threads than asked (resource limits) is still a working pool */
    p->nthreads = started;
    *out = p;
    return 0;
}

void kn_pool_free(kn_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; p->tid && i < p->nthreads; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}

int kn_pool_threads(const kn_pool *p) { return p->nthreads; }

size_t kn_item_owner(const size_t *first, size_t n, size_t item)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (first[mid] <= item)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void kn_pool_run(kn_pool *p, size_t nitems, kn_fn fn, void *ctx)
{
    if (nitems == 0)
        return;
    if (p->nthreads == 1 || nitems == 1) {
        for (size_t i = 0; i < nitems; i++)
            fn(ctx, i, 0);
        return;
    }
    /* every worker has left the previous generation (pool_run waited for
     * running == 0), so these plain fields are ours until gen is bumped */
    p->fn = fn;
    p->ctx = ctx;
    p->nitems = nitems;
    atomic_store(&p->next, 0);
    atomic_store(&p->running, p->nthreads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->sleepers)
        pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    for (int s = 0; atomic_load(&p->running) > 0 && s < SPIN_ROUNDS; s++)
        cpu_relax();
    if (atomic_load(&p->running) > 0) {
        pthread_mutex_lock(&p->mu);
        p->waiting = 1;
        while (atomic_load(&p->running) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        p->waiting = 0;
        pthread_mutex_unlock(&p->mu);
    }
}

/* ---- norms ---------------------------------------------------------------
 * Statistics in double: cheap at these sizes, and it keeps the fp32 engine
 * closest to the float64 reference. */

void kn_layernorm(float *out, const float *x, const float *w, const float *b, size_t n, double eps)
{
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (double)n;
    double inv = 1.0 / sqrt(var + eps);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((x[i] - mean) * inv) * w[i] + b[i];
}

void kn_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / (double)n + eps);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(x[i] * inv) * w[i];
}
