/* ckpt_internal.h — what checkpoint.c (open, close, lookup, F32 views,
 * config accessors), ckpt_safetensors.c (a folder's safetensors files and
 * shard index), ckpt_release.c (giving back mapped pages and merged
 * copies) and ckpt_adapter.c (an adapter applied at open) share. Not a
 * public API: checkpoint.h has the contract. */
#ifndef YS_ENGINE_CKPT_INTERNAL_H
#define YS_ENGINE_CKPT_INTERNAL_H

#include <stddef.h>

#include "checkpoint.h"
#include "lora.h"

typedef struct ckpt_file {
    char *name;        /* base name */
    unsigned char *map;
    size_t size;
} ckpt_file;

typedef struct ckpt_entry {
    ckpt_tensor t;
    float *owned;      /* converted copy that t.data points to, or NULL */
    int consumed;      /* asked for by ckpt_require / ckpt_need_src */
    int edit;          /* 1 + the index of the adapter edit changing it, or 0 */
} ckpt_entry;

/* The merged copies of an adapter's LoRA targets and what of them has been
 * released (ckpt_release.c). */
typedef struct ckpt_merges ckpt_merges;

struct ckpt {
    char *dir;
    cJSON *config;
    ckpt_file *files;
    size_t nfiles;
    ckpt_entry *e;     /* sorted by name after open */
    size_t nt, cap;
    lora *ad;          /* ckpt_open_adapted's adapter, or NULL */
    ckpt_merges *mg;   /* with an adapter */
    gguf *gg;          /* a GGUF file's container (ckpt_gguf.h), or NULL */
    void **gowned;     /* its reordered tensors' copies */
    size_t ngowned;
};

/* ---- checkpoint.c -------------------------------------------------------- */

/* strdup (not in ISO C); NULL when out of memory. */
char *ckpt_strdup(const char *s);
/* Entry i's stored bytes, and its F32 view when it can be used in place. */
void ckpt_set_raw(ckpt *c, size_t i, const unsigned char *src);
/* Room for one more entry at c->e[c->nt]. */
int ckpt_grow(ckpt *c, ys_error *err);
/* Sort c's entries by name (ckpt_get bisects) and refuse a name seen
 * twice, or none at all. */
int ckpt_sort_and_check(ckpt *c, ys_error *err);

/* ---- ckpt_safetensors.c -------------------------------------------------- */

/* Bytes of one stored element of t; 0 for CKPT_GGML (blocks). */
size_t ckpt_dtype_size(ckpt_dtype t);
/* The weights of the folder c->dir: model.safetensors, or the shards
 * model.safetensors.index.json names; mapped, validated, sorted. */
int ckpt_load_safetensors(ckpt *c, ys_error *err);

/* ---- ckpt_release.c ------------------------------------------------------ */

/* The mapped-file part of ckpt_release: 1 when the range lies in one of
 * c's mappings (*got = bytes given back), else 0. */
int ckpt_release_mapped(const ckpt *c, const unsigned char *lo, const unsigned char *hi, size_t *got);
/* Room for n merged copies, none yet; NULL when out of memory. */
ckpt_merges *ckpt_merges_new(size_t n);
/* Record the merged copy p (bytes long) of entry `entry` (one of the n). */
void ckpt_merges_add(ckpt_merges *g, size_t entry, size_t bytes, void *p);
/* Free the bookkeeping (NULL is fine); the copies are entries' owned. */
void ckpt_merges_free(ckpt_merges *g);
/* Free the copies that released ranges cover: every reader is done. */
void ckpt_release_covered(const ckpt *c);

#endif
