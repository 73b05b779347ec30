#include "prompt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "sha256.h"

static void free_doc(task_doc *d)
{
    for (size_t i = 0; i < d->nfields; i++)
        free(d->names[i]), free(d->values[i]);
    free(d->names), free(d->values);
}

void task_docs_free(task_docs *d)
{
    for (size_t i = 0; d->docs && i < d->n; i++)
        free_doc(&d->docs[i]);
    free(d->docs);
    free(d->path);
    memset(d, 0, sizeof *d);
}

static const char *split_file(const task_spec *t, const char *split, bool sample)
{
    for (size_t i = 0; i < t->nsplits; i++)
        if (!strcmp(t->split_names[i], split))
            return sample ? t->split_samples[i] : t->split_files[i];
    return NULL;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int task_docs_load(const task_spec *t, const char *split, const char *data_dir, const char *samples_dir,
                   size_t limit, bool skip_bad_rows, task_docs *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    bool sample = data_dir == NULL;
    const char *rel = split_file(t, split, sample);
    if (!rel)
        return ys_fail(err, YS_EINPUT, "%s: task %s has no split '%s'", t->path, t->name, split);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sample ? samples_dir : data_dir, rel);
    if (!exists(path)) {
        if (sample)
            return ys_fail(err, YS_EIO, "task %s: the sample file %s is missing (is the installation complete?)",
                           t->name, path);
        return ys_fail(err, YS_EIO, "task %s: %s not found (looked under --data-dir %s for %s). Get it from: %s",
                       t->name, path, data_dir, rel, t->published ? t->published : "(the spec names no source)");
    }
    /* expected checksums, for official files */
    for (size_t i = 0; !sample && i < t->nsha; i++) {
        if (strcmp(t->sha_files[i], rel))
            continue;
        char hex[65];
        int rc = sha256_file(path, hex, err);
        if (rc < 0)
            return rc;
        if (strcmp(hex, t->sha_values[i]))
            return ys_fail(err, YS_EINPUT, "%s: SHA-256 %s, but the spec %s expects %s (a different version of the file?)",
                           path, hex, t->path, t->sha_values[i]);
    }
    ds_options o = {t->format, t->header, (const char *const *)t->columns, t->ncolumns, skip_bad_rows, t->text_split};
    ds_reader *r;
    int rc = ds_open(path, &o, &r, err);
    if (rc < 0)
        return rc;
    size_t cap = 64;
    out->docs = calloc(cap, sizeof *out->docs);
    out->path = strdup(path);
    out->sample = sample;
    if (!out->docs || !out->path) {
        ds_close(r);
        task_docs_free(out);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    ds_row row;
    while ((limit == 0 || out->n < limit) && (rc = ds_next(r, &row, err)) == 1) {
        if (out->n == cap) {
            task_doc *p = realloc(out->docs, (cap *= 2) * sizeof *p);
            if (!p) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
            out->docs = p;
        }
        task_doc *d = &out->docs[out->n++];
        memset(d, 0, sizeof *d);
        d->line = row.line;
        d->names = calloc(row.nfields + 1, sizeof *d->names);
        d->values = calloc(row.nfields + 1, sizeof *d->values);
        if (!d->names || !d->values) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < row.nfields; i++) {
            d->names[i] = strdup(row.names[i]);
            d->values[i] = strdup(row.values[i]);
            d->nfields++;
        }
    }
    out->skipped = ds_skipped(r);
    ds_close(r);
    if (rc < 0) {
        task_docs_free(out);
        return rc;
    }
    return 0;
}

/* ---- prompts ------------------------------------------------------------- */

static int render(const char *tmpl, const task_doc *d, char **out, const task_spec *t, ys_error *err)
{
    int rc = task_render(tmpl, (const char *const *)d->names, (const char *const *)d->values, d->nfields, out, err);
    if (rc < 0 && err) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        ys_fail(err, rc, "task %s, line %ld: %s", t->name, d->line, m);
    }
    return rc;
}

/* splitmix64: a seeded stream for few-shot draws */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The gold choice index from the rendered target: label_map, a number, or
 * a choice's text. */
static int gold_index(const task_spec *t, const char *target, char *const *choice_text, size_t n)
{
    for (size_t i = 0; i < t->nlabels; i++)
        if (!strcmp(t->label_keys[i], target))
            return t->label_values[i];
    char *end;
    long v = strtol(target, &end, 10);
    if (*target && !*end && v >= 0 && (size_t)v < n)
        return (int)v;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(choice_text[i], target))
            return (int)i;
    return -1;
}

/* The references of a generate_until target: a JSON array of strings, or
 * the text itself. */
static int split_refs(const char *target, char ***refs, size_t *n)
{
    *refs = NULL;
    *n = 0;
    cJSON *arr = target[0] == '[' ? cJSON_Parse(target) : NULL;
    if (cJSON_IsArray(arr)) {
        size_t cnt = (size_t)cJSON_GetArraySize(arr);
        *refs = calloc(cnt + 1, sizeof **refs);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            if (cJSON_IsString(it) && *refs)
                (*refs)[(*n)++] = strdup(it->valuestring);
        }
        cJSON_Delete(arr);
        return *refs ? 0 : -1;
    }
    cJSON_Delete(arr);
    *refs = calloc(2, sizeof **refs);
    if (!*refs || !((*refs)[0] = strdup(target)))
        return -1;
    *n = 1;
    return 0;
}

void task_prompt_free(task_prompt *p)
{
    free(p->context);
    for (size_t i = 0; i < p->nchoices; i++)
        free(p->choices[i]);
    free(p->choices);
    for (size_t i = 0; i < p->nrefs; i++)
        free(p->refs[i]);
    free(p->refs);
    free(p->target);
    free(p->cls_text), free(p->cls_pair);
    memset(p, 0, sizeof *p);
}

/* The rendered parts of one document: text, choices (without delimiter),
 * target, gold. */
static int parts(const task_spec *t, const task_doc *d, task_prompt *p, char ***choice_text, ys_error *err)
{
    p->gold = -1;
    p->gold_number = NAN;
    int rc = 0;
    if (t->has_cls) {
        rc = render(t->cls_text, d, &p->cls_text, t, err);
        if (rc == 0 && t->cls_text_pair)
            rc = render(t->cls_text_pair, d, &p->cls_pair, t, err);
    }
    /* a classification-only task shows its text where a prompt would be */
    if (rc == 0)
        rc = t->doc_to_text ? render(t->doc_to_text, d, &p->context, t, err)
             : (p->context = strdup(p->cls_text)) ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0 && t->doc_to_target)
        rc = render(t->doc_to_target, d, &p->target, t, err);
    bool cls = t->output == OUT_CLASSIFICATION;
    if (rc == 0 && (t->output == OUT_MULTIPLE_CHOICE || cls)) {
        /* a classification task's classes play the choices' part here */
        size_t nc = cls ? t->ncls_labels : t->nchoices;
        *choice_text = calloc(nc + 1, sizeof **choice_text);
        for (size_t i = 0; rc == 0 && *choice_text && i < nc; i++)
            rc = cls ? (((*choice_text)[i] = strdup(t->cls_labels[i])) ? 0 : ys_fail(err, YS_ENOMEM, "out of memory"))
                     : render(t->doc_to_choice[i], d, &(*choice_text)[i], t, err);
        if (!*choice_text)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (rc == 0) {
            p->gold = gold_index(t, p->target, *choice_text, nc);
            char *end;
            double v = strtod(p->target, &end);
            if (*p->target && !*end)
                p->gold_number = v;
            bool numeric_metric = false;
            for (size_t m = 0; m < t->nmetrics; m++)
                numeric_metric |= !strcmp(t->metrics[m].name, "pearson") || !strcmp(t->metrics[m].name, "spearmanr");
            if (p->gold < 0 && !(numeric_metric && !isnan(p->gold_number)))
                rc = ys_fail(err, YS_EINPUT, "task %s, line %ld: target '%s' is not a %s index, a label_map key or a %s",
                             t->name, d->line, p->target, cls ? "class" : "choice", cls ? "class label" : "choice");
        }
    }
    if (rc == 0 && t->output == OUT_GENERATE && split_refs(p->target, &p->refs, &p->nrefs) < 0)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    return rc;
}

/* The array is NULL-terminated (calloc'd one longer than filled). */
static void free_choices(char **c)
{
    for (size_t i = 0; c && c[i]; i++)
        free(c[i]);
    free(c);
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

int task_prompt_build(const task_spec *t, const task_doc *doc, const task_docs *pool, size_t self,
                      int num_fewshot, uint64_t *rng, task_prompt *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    char **choice_text = NULL;
    int rc = parts(t, doc, out, &choice_text, err);
    if (rc < 0) {
        free_choices(choice_text);
        task_prompt_free(out);
        return rc;
    }
    if (t->output == OUT_MULTIPLE_CHOICE) {
        out->choices = calloc(t->nchoices + 1, sizeof *out->choices);
        for (size_t i = 0; out->choices && i < t->nchoices; i++) {
            size_t len = strlen(t->target_delimiter) + strlen(choice_text[i]) + 1;
            if ((out->choices[i] = malloc(len)))
                snprintf(out->choices[i], len, "%s%s", t->target_delimiter, choice_text[i]);
            out->nchoices++;
        }
    }
    free_choices(choice_text);
    size_t avail = pool ? pool->n - (self < pool->n ? 1 : 0) : 0;
    if (num_fewshot > 0 && (size_t)num_fewshot > avail) {
        task_prompt_free(out);
        return ys_fail(err, YS_EUSAGE, "task %s: %d few-shot examples asked for, the few-shot split has %zu", t->name,
                       num_fewshot, avail);
    }
    if (num_fewshot > 0) {
        /* draw without replacement: a partial Fisher-Yates over indices */
        size_t *idx = malloc(pool->n * sizeof *idx);
        buf b = {0};
        if (!idx) {
            task_prompt_free(out);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        size_t m = 0;
        for (size_t i = 0; i < pool->n; i++)
            if (i != self)
                idx[m++] = i;
        for (int k = 0; k < num_fewshot && rc == 0; k++) {
            size_t j = (size_t)k + (size_t)(next_u64(rng) % (uint64_t)(m - (size_t)k));
            size_t tmp = idx[k];
            idx[k] = idx[j], idx[j] = tmp;
            task_prompt ex;
            char **ex_choices = NULL;
            memset(&ex, 0, sizeof ex);
            if ((rc = parts(t, &pool->docs[idx[k]], &ex, &ex_choices, err)) == 0) {
                put(&b, ex.context);
                put(&b, t->target_delimiter);
                if (t->output == OUT_MULTIPLE_CHOICE)
                    put(&b, ex.gold >= 0 ? ex_choices[ex.gold] : ex.target);
                else
                    put(&b, ex.nrefs ? ex.refs[0] : (ex.target ? ex.target : ""));
                put(&b, t->fewshot_delimiter);
            }
            free_choices(ex_choices);
            task_prompt_free(&ex);
        }
        free(idx);
        put(&b, out->context);
        if (rc == 0 && b.oom)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (rc == 0) {
            free(out->context);
            out->context = b.p;
        } else {
            free(b.p);
        }
    }
    if (rc < 0)
        task_prompt_free(out);
    return rc;
}

int task_content_hash(const task_spec *t, const char *const *data_files, size_t n, char hex[65], ys_error *err)
{
    sha256_ctx c;
    sha256_init(&c);
    const char *const first[1] = {t->path};
    for (int pass = 0; pass < 2; pass++) {
        const char *const *files = pass == 0 ? first : data_files;
        size_t nf = pass == 0 ? 1 : n;
        for (size_t i = 0; i < nf; i++) {
            FILE *f = fopen(files[i], "rb");
            if (!f)
                return ys_fail(err, YS_EIO, "%s: cannot open: %s", files[i], strerror(errno));
            unsigned char b[1 << 16];
            size_t got;
            while ((got = fread(b, 1, sizeof b, f)) > 0)
                sha256_update(&c, b, got);
            fclose(f);
        }
    }
    sha256_final_hex(&c, hex);
    return 0;
}
