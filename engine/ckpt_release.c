/* ckpt_release.c — giving back what a model has copied (checkpoint.h,
 * ckpt_release): the resident pages of the mapped files, and an adapter's
 * merged copies once their readers are done with them. */
#include "ckpt_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* A merged copy (an adapter's LoRA target) and the byte ranges of it
 * released so far: it is freed once they cover it (see checkpoint.h). */
typedef struct ckpt_merged {
    size_t entry, bytes;
    unsigned char *p;  /* NULL once freed */
    size_t (*iv)[2];   /* released [begin, end) offsets, sorted, disjoint */
    size_t niv, capiv;
    int overlapped;    /* two released ranges shared bytes: strided readers */
} ckpt_merged;

/* ckpt_release runs on the packing threads: the merged copies' state is
 * behind a mutex (the checkpoint is otherwise read-only then). */
struct ckpt_merges {
    pthread_mutex_t mu;
    ckpt_merged *m;
    size_t n;
};

ckpt_merges *ckpt_merges_new(size_t n)
{
    ckpt_merges *g = calloc(1, sizeof *g);
    if (!g || !(g->m = calloc(n ? n : 1, sizeof *g->m))) {
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void ckpt_merges_add(ckpt_merges *g, size_t entry, size_t bytes, void *p)
{
    g->m[g->n++] = (ckpt_merged){.entry = entry, .bytes = bytes, .p = p};
}

void ckpt_merges_free(ckpt_merges *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        free(g->m[i].iv);   /* the copies themselves are entries' owned */
    free(g->m);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

int ckpt_release_mapped(const ckpt *c, const unsigned char *lo, const unsigned char *hi, size_t *got)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    *got = 0;
    for (size_t i = 0; i <= c->nfiles; i++) {
        ckpt_file gf = {0};
        if (i == c->nfiles && c->gg) {   /* a GGUF file's one mapping */
            const void *m = gguf_bytes(c->gg, &gf.size);
            gf.map = (unsigned char *)(uintptr_t)m;
        }
        const ckpt_file *f = i < c->nfiles ? &c->files[i] : &gf;
        if (!f->map || lo < f->map || hi > f->map + f->size)
            continue;
        /* only pages wholly inside the range: the neighbours' bytes are
         * someone else's (harmless to drop too, but they would fault back) */
        uintptr_t a = ((uintptr_t)lo + page - 1) / page * page, b = (uintptr_t)hi / page * page;
        if (b > a && madvise((void *)a, b - a, MADV_DONTNEED) == 0)
            *got = b - a;
        return 1;
    }
    return 0;
}

static void free_merged(const ckpt *c, ckpt_merged *m)
{
    ckpt_entry *e = &c->e[m->entry];
    free(m->p);
    m->p = NULL;
    e->owned = NULL;
    e->t.data = NULL;
    e->t.raw = NULL;
}

/* Record [off, off + n) of m as released; 1 when m is now covered. */
static int add_range(ckpt_merged *m, size_t off, size_t n)
{
    if (m->niv == m->capiv) {
        size_t cap = m->capiv ? 2 * m->capiv : 8;
        size_t (*iv)[2] = realloc(m->iv, cap * sizeof *iv);
        if (!iv)
            return 0;   /* then it is freed at ckpt_close: only memory is lost */
        m->iv = iv;
        m->capiv = cap;
    }
    for (size_t j = 0; j < m->niv; j++)
        if (off < m->iv[j][1] && off + n > m->iv[j][0])
            m->overlapped = 1;
    size_t i = m->niv++;
    while (i > 0 && m->iv[i - 1][0] > off) {
        m->iv[i][0] = m->iv[i - 1][0], m->iv[i][1] = m->iv[i - 1][1];
        i--;
    }
    m->iv[i][0] = off, m->iv[i][1] = off + n;
    size_t k = 0;   /* coalesce overlapping or touching ranges */
    for (size_t j = 1; j < m->niv; j++) {
        if (m->iv[j][0] <= m->iv[k][1]) {
            if (m->iv[j][1] > m->iv[k][1])
                m->iv[k][1] = m->iv[j][1];
        } else {
            k++;
            m->iv[k][0] = m->iv[j][0], m->iv[k][1] = m->iv[j][1];
        }
    }
    m->niv = k + 1;
    return m->niv == 1 && m->iv[0][0] == 0 && m->iv[0][1] >= m->bytes;
}

static size_t release_merged(const ckpt *c, const unsigned char *lo, const unsigned char *hi)
{
    ckpt_merges *g = c->mg;
    size_t got = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n; i++) {
        ckpt_merged *m = &g->m[i];
        if (!m->p || lo < m->p || hi > m->p + m->bytes)
            continue;
        /* one call covering the copy: its reader is done with all of it;
         * disjoint ranges covering it: row slices of one reader, each
         * released after it was read. Ranges that overlap come from
         * strided readers (column ranges of a fused tensor, each spanning
         * every row) of which another may still be reading: those copies
         * wait for ckpt_adapter_check. */
        if ((lo == m->p && hi == m->p + m->bytes) ||
            (add_range(m, (size_t)(lo - m->p), (size_t)(hi - lo)) && !m->overlapped)) {
            free_merged(c, m);
            got = m->bytes;
        }
        break;
    }
    pthread_mutex_unlock(&g->mu);
    return got;
}

size_t ckpt_release(const ckpt *c, const void *data, size_t bytes)
{
    const unsigned char *lo = data, *hi = lo + bytes;
    size_t got;
    if (ckpt_release_mapped(c, lo, hi, &got))
        return got;
    if (c->ad && ckpt_release_mapped(lora_weights(c->ad), lo, hi, &got))
        return got;
    return c->mg ? release_merged(c, lo, hi) : 0;
}

void ckpt_release_covered(const ckpt *c)
{
    pthread_mutex_lock(&c->mg->mu);
    for (size_t i = 0; i < c->mg->n; i++) {
        ckpt_merged *m = &c->mg->m[i];
        if (m->p && m->niv == 1 && m->iv[0][0] == 0 && m->iv[0][1] >= m->bytes)
            free_merged(c, m);
    }
    pthread_mutex_unlock(&c->mg->mu);
}
