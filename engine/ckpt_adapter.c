/* ckpt_adapter.c — a checkpoint with a PEFT LoRA adapter applied at open
 * (checkpoint.h, "adapters"; lora.h reads the adapter and has the rules):
 * the tensors it adds, its modules_to_save copies in place of the base's,
 * and its LoRA targets merged into fp32 copies. */
#include "ckpt_internal.h"

#include "lora.h"

#include <stdlib.h>
#include <string.h>

static ckpt_entry *entry_of(const ckpt *c, const char *name)
{
    return (ckpt_entry *)(void *)ckpt_get(c, name);   /* the tensor is its entry's first member */
}

/* The tensors the adapter adds (a tied model's trained head), then the
 * config that makes the engines read it. */
static int add_new_tensors(ckpt *c, ys_error *err)
{
    int added = 0, rc;
    for (size_t i = 0; i < lora_count(c->ad); i++) {
        const lora_edit *e = lora_at(c->ad, i);
        if (!e->adds)
            continue;
        if ((rc = ckpt_grow(c, err)) != 0)
            return rc;
        ckpt_entry *ne = &c->e[c->nt];
        memset(ne, 0, sizeof *ne);
        ne->t = *e->with;
        if (!(ne->t.name = ckpt_strdup(e->target)))
            return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
        c->nt++;
        added = 1;
    }
    if (!added)
        return 0;
    cJSON *f = cJSON_CreateFalse();
    if (!f)
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    if (cJSON_HasObjectItem(c->config, "tie_word_embeddings"))
        cJSON_ReplaceItemInObjectCaseSensitive(c->config, "tie_word_embeddings", f);
    else
        cJSON_AddItemToObject(c->config, "tie_word_embeddings", f);
    return ckpt_sort_and_check(c, err);
}

static int apply_edits(ckpt *c, ys_error *err)
{
    int rc = add_new_tensors(c, err);
    if (rc)
        return rc;
    size_t n = lora_count(c->ad);
    if (!(c->mg = ckpt_merges_new(n)))
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    for (size_t i = 0; i < n; i++) {
        const lora_edit *ed = lora_at(c->ad, i);
        ckpt_entry *e = entry_of(c, ed->target);
        e->edit = (int)i + 1;
        if (ed->kind == LORA_REPLACE) {
            if (!ed->adds) {   /* the adapter's tensor under the base's name */
                const char *name = e->t.name;
                e->t = *ed->with;
                e->t.name = name;
            }
            continue;
        }
        size_t bytes = e->t.numel * sizeof(float);
        float *dst = malloc(bytes ? bytes : 1);
        if (!dst)
            return ys_fail(err, YS_ENOMEM, "%s: out of memory merging %s into %s (%zu bytes)", c->dir,
                           ed->module, ed->target, bytes);
        lora_merge(ed, &e->t, dst);
        size_t got;   /* the base's bytes are not read again */
        ckpt_release_mapped(c, e->t.raw, (const unsigned char *)e->t.raw + e->t.numel * ckpt_dtype_size(e->t.dtype),
                            &got);
        e->t.dtype = CKPT_F32;
        e->t.data = dst;
        e->t.raw = dst;
        e->owned = dst;
        ckpt_merges_add(c->mg, (size_t)(e - c->e), bytes, dst);
    }
    return 0;
}

int ckpt_open_adapted(const char *dir, const char *adapter_dir, ckpt **out, ys_error *err)
{
    if (!adapter_dir)
        return ckpt_open(dir, out, err);
    ckpt *c;
    int rc = ckpt_open(dir, &c, err);
    if (rc)
        return rc;
    if ((rc = lora_open(adapter_dir, c, &c->ad, err)) != 0 || (rc = apply_edits(c, err)) != 0) {
        ckpt_close(c);
        *out = NULL;
        return rc;
    }
    *out = c;
    return 0;
}

int ckpt_adapter_check(const ckpt *c, ys_error *err)
{
    if (!c->ad)
        return 0;
    for (size_t i = 0; i < c->nt; i++) {
        const ckpt_entry *e = &c->e[i];
        if (!e->edit || e->consumed)
            continue;
        const lora_edit *ed = lora_at(c->ad, (size_t)e->edit - 1);
        return ys_fail(err, YS_EINPUT, "%s/adapter_model.safetensors: %s %s targets %s, which this model (%s) "
                       "never reads", lora_dir(c->ad), ed->kind == LORA_MERGE ? "the LoRA weights of module" :
                       "the modules_to_save tensors of", ed->module, ed->target, c->dir);
    }
    /* every reader is done: free the copies released piecewise */
    ckpt_release_covered(c);
    return 0;
}

const char *ckpt_adapter_dir(const ckpt *c) { return c->ad ? lora_dir(c->ad) : NULL; }

void ckpt_adapter_warning(const char *dir, const char *adapter_dir, char *buf, size_t cap)
{
    lora_name_warning(dir, adapter_dir, buf, cap);
}
