#include "prompt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "ys_unicode.h"
#include "lmeval_docs.h"
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
    free(d->labels_path);
    memset(d, 0, sizeof *d);
}

static const char *split_file(const task_spec *t, const char *split, bool sample)
{
    for (size_t i = 0; i < t->nsplits; i++)
        if (!strcmp(t->split_names[i], split))
            return sample ? t->split_samples[i] : t->split_files[i];
    return NULL;
}

static const char *labels_file(const task_spec *t, const char *split, bool sample)
{
    for (size_t i = 0; i < t->nlabel_files; i++)
        if (!strcmp(t->label_splits[i], split))
            return sample ? t->label_samples[i] : t->label_files[i];
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0, *len = n;
    return b;
}

static int add_doc(task_docs *out, size_t *cap, task_doc **d)
{
    if (out->n == *cap) {
        task_doc *p = realloc(out->docs, (*cap *= 2) * sizeof *p);
        if (!p)
            return -1;
        out->docs = p;
    }
    *d = &out->docs[out->n++];
    memset(*d, 0, sizeof **d);
    return 0;
}

/* format "json": one array of objects, read whole (TruthfulQA's
 * mc_task.json); each object is a document as a jsonl line would be. */
static int load_json_array(const char *path, size_t limit, task_docs *out, size_t *cap, ys_error *err)
{
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text)
        return ys_fail(err, YS_EIO, "%s: cannot read", path);
    if (uni_invalid_at(text, len) != (size_t)-1 || strlen(text) != len) {
        free(text);
        return ys_fail(err, YS_EINPUT, "%s: invalid UTF-8 or a NUL byte", path);
    }
    const char *body = text;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        body += 3;
    cJSON *root = cJSON_Parse(body);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return ys_fail(err, YS_EINPUT, "%s: not a JSON array of objects", path);
    }
    const cJSON *it;
    int rc = 0, i = 0;
    cJSON_ArrayForEach(it, root) {
        if (limit && out->n >= limit)
            break;
        if (!cJSON_IsObject(it)) {
            rc = ys_fail(err, YS_EINPUT, "%s: item %d is not an object", path, i);
            break;
        }
        task_doc *d;
        if (add_doc(out, cap, &d) < 0) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        d->line = 0;
        d->file = out->path;
        const cJSON *f;
        cJSON_ArrayForEach(f, it) {
            char *v = cJSON_IsString(f) ? strdup(f->valuestring) : cJSON_PrintUnformatted(f);
            int bad = !v || lmd_set_field(d, f->string, v);
            free(v);
            if (bad) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
        }
        i++;
        if (rc)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

/* dataset.labels: line i of the labels file is the "label" of document i. */
static int add_labels(const task_spec *t, const char *path, task_docs *out, ys_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ys_fail(err, YS_EIO, "task %s: labels file %s not found", t->name, path);
    char line[256];
    size_t i = 0;
    int rc = 0;
    while (rc == 0 && i < out->n && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (lmd_set_field(&out->docs[i++], "label", line))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    }
    fclose(f);
    if (rc == 0 && i < out->n)
        rc = ys_fail(err, YS_EINPUT, "%s: %zu labels for %zu documents", path, i, out->n);
    return rc;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* After reading: the labels file, then the spec's preprocess. */
static int finish_docs(const task_spec *t, const char *split, bool sample, const char *data_dir,
                       const char *samples_dir, task_docs *out, ys_error *err)
{
    int rc = 0;
    const char *lf = labels_file(t, split, sample);
    if (lf) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", sample ? samples_dir : data_dir, lf);
        if (!(out->labels_path = strdup(path)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (rc == 0)
            rc = add_labels(t, path, out, err);
    }
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        rc = lmd_preprocess(t, &out->docs[i], err);
    if (rc < 0)
        task_docs_free(out);
    return rc;
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
    size_t cap = 64;
    out->docs = calloc(cap, sizeof *out->docs);
    out->path = strdup(path);
    out->sample = sample;
    if (!out->docs || !out->path) {
        task_docs_free(out);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    int rc;
    if (!strcmp(t->format, "json")) {
        rc = load_json_array(path, limit, out, &cap, err);
        return rc < 0 ? (task_docs_free(out), rc) : finish_docs(t, split, sample, data_dir, samples_dir, out, err);
    }
    ds_options o = {t->format, t->header, (const char *const *)t->columns, t->ncolumns, skip_bad_rows, t->text_split};
    ds_reader *r;
    rc = ds_open(path, &o, &r, err);
    if (rc < 0) {
        task_docs_free(out);
        return rc;
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
        d->file = out->path;
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
    return finish_docs(t, split, sample, data_dir, samples_dir, out, err);
}

/* ---- prompts ------------------------------------------------------------- */

const char *task_doc_where(const task_spec *t, const task_doc *d, char *buf, size_t cap)
{
    const char *file = d->file ? d->file : "(no file)";
    if (d->line > 0)
        snprintf(buf, cap, "%s:%ld: task %s", file, d->line, t->name);
    else
        snprintf(buf, cap, "%s: task %s", file, t->name);
    return buf;
}

static int render(const char *tmpl, const task_doc *d, char **out, const task_spec *t, ys_error *err)
{
    int rc = task_render(tmpl, (const char *const *)d->names, (const char *const *)d->values, d->nfields, out, err);
    if (rc < 0 && err) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        char w[1024];
        ys_fail(err, rc, "%s: %s", task_doc_where(t, d, w, sizeof w), m);
    }
    return rc;
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
    for (size_t i = 0; i < p->nchoices; i++) {
        free(p->choices[i]);
        if (p->contexts)
            free(p->contexts[i]);
    }
    free(p->choices), free(p->contexts), free(p->labels);
    for (size_t i = 0; i < p->nrefs; i++)
        free(p->refs[i]);
    free(p->refs);
    free(p->target);
    free(p->cls_text), free(p->cls_pair);
    memset(p, 0, sizeof *p);
}

/* The array is NULL-terminated (calloc'd one longer than filled). */
static void free_choices(char **c)
{
    for (size_t i = 0; c && c[i]; i++)
        free(c[i]);
    free(c);
}

/* A rendered doc_to_choice template: a JSON array of strings (lm-eval's
 * "{{choices.text}}" renders a Python list; here the field holds JSON). */
static int choice_list(const task_spec *t, const task_doc *d, char ***out, size_t *n, ys_error *err)
{
    char where[1024]; /* task_doc_where */
    char *r = NULL;
    int rc = render(t->choice_list, d, &r, t, err);
    if (rc < 0)
        return rc;
    cJSON *arr = cJSON_Parse(r);
    free(r);
    size_t cnt = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    *out = calloc(cnt + 1, sizeof **out);
    *n = 0;
    const cJSON *it;
    if (!cnt || !*out)
        rc = ys_fail(err, YS_EINPUT, "%s: doc_to_choice '%s' does not give a non-empty JSON array",
                     task_doc_where(t, d, where, sizeof where), t->choice_list);
    cJSON_ArrayForEach(it, arr) {
        if (rc)
            break;
        if (!cJSON_IsString(it) || !((*out)[(*n)++] = strdup(it->valuestring)))
            rc = ys_fail(err, YS_EINPUT, "%s: choices must be strings", task_doc_where(t, d, where, sizeof where));
    }
    cJSON_Delete(arr);
    if (rc) {
        free_choices(*out);
        *out = NULL, *n = 0;
    }
    return rc;
}

/* The rendered parts of one document: text, choices (without delimiter,
 * NULL-terminated, *nc of them), target, gold. */
static int parts(const task_spec *t, const task_doc *d, task_prompt *p, char ***choice_text, size_t *nc,
                 ys_error *err)
{
    char where[1024]; /* task_doc_where */
    p->gold = -1;
    p->gold_number = NAN;
    *nc = 0;
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
        if (!cls && t->choice_list) {
            rc = choice_list(t, d, choice_text, nc, err);
        } else {
            *nc = cls ? t->ncls_labels : t->nchoices;
            *choice_text = calloc(*nc + 1, sizeof **choice_text);
            for (size_t i = 0; rc == 0 && *choice_text && i < *nc; i++)
                rc = cls ? (((*choice_text)[i] = strdup(t->cls_labels[i])) ? 0 : ys_fail(err, YS_ENOMEM, "out of memory"))
                         : render(t->doc_to_choice[i], d, &(*choice_text)[i], t, err);
            if (!*choice_text)
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
        }
        if (rc == 0 && t->multiple_input) {
            /* lm-eval: doc_to_text gives the gold index, the target is the
             * shared continuation */
            char *end;
            long g = strtol(p->context, &end, 10);
            p->gold = *p->context && !*end && g >= 0 && (size_t)g < *nc ? (int)g : -1;
            if (p->gold < 0)
                rc = ys_fail(err, YS_EINPUT, "%s: multiple_input: doc_to_text '%s' is not a choice index",
                             task_doc_where(t, d, where, sizeof where), p->context);
        } else if (rc == 0) {
            p->gold = gold_index(t, p->target, *choice_text, *nc);
            char *end;
            double v = strtod(p->target, &end);
            if (*p->target && !*end)
                p->gold_number = v;
            bool numeric_metric = false;
            for (size_t m = 0; m < t->nmetrics; m++)
                numeric_metric |= !strcmp(t->metrics[m].name, "pearson") || !strcmp(t->metrics[m].name, "spearmanr");
            if (p->gold < 0 && !(numeric_metric && !isnan(p->gold_number)))
                rc = ys_fail(err, YS_EINPUT, "%s: target '%s' is not a %s index, a label_map key or a %s",
                             task_doc_where(t, d, where, sizeof where), p->target, cls ? "class" : "choice", cls ? "class label" : "choice");
        }
    }
    if (rc == 0 && t->output == OUT_GENERATE && split_refs(p->target, &p->refs, &p->nrefs) < 0)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    return rc;
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

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 1);
    if (r) {
        memcpy(r, a, la);
        memcpy(r + la, b, lb + 1);
    }
    return r;
}

/* lm-eval compares few-shot candidates with the document as dicts. */
static bool same_doc(const task_doc *a, const task_doc *b)
{
    if (a->nfields != b->nfields)
        return false;
    for (size_t i = 0; i < a->nfields; i++)
        if (strcmp(a->names[i], b->names[i]) || strcmp(a->values[i], b->values[i]))
            return false;
    return true;
}

/* The few-shot examples' indices in pool, lm-eval's way (see prompt.h). */
static int pick_examples(const task_spec *t, const task_doc *doc, const task_docs *pool, size_t self, int k,
                         py_random *rng, size_t *pick, ys_error *err)
{
    bool excl = self != SIZE_MAX;
    size_t got = 0;
    if (!strcmp(t->sampler, "first_n")) {
        for (size_t i = 0; i < pool->n && got < (size_t)k; i++)
            if (!excl || !same_doc(&pool->docs[i], doc))
                pick[got++] = i;
    } else {
        size_t want = (size_t)k + (excl ? 1 : 0);
        size_t *draw = malloc(want * sizeof *draw);
        if (!draw)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        if (want > pool->n || pyr_sample(rng, pool->n, want, draw) < 0) {
            free(draw);
            return ys_fail(err, YS_EUSAGE, "task %s: %d few-shot examples asked for, the few-shot split has %zu",
                           t->name, k, pool->n - (excl ? 1 : 0));
        }
        for (size_t i = 0; i < want && got < (size_t)k; i++)
            if (!excl || !same_doc(&pool->docs[draw[i]], doc))
                pick[got++] = draw[i];
        free(draw);
    }
    if (got < (size_t)k)
        return ys_fail(err, YS_EUSAGE, "task %s: %d few-shot examples asked for, the few-shot split has %zu", t->name,
                       k, got);
    return 0;
}

int task_prompt_build(const task_spec *t, const task_doc *doc, const task_docs *pool, size_t self,
                      int num_fewshot, py_random *rng, task_prompt *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    char **choice_text = NULL;
    size_t nc = 0;
    int rc = parts(t, doc, out, &choice_text, &nc, err);
    if (rc < 0) {
        free_choices(choice_text);
        task_prompt_free(out);
        return rc;
    }
    if (t->output == OUT_LOGLIKELIHOOD) {
        /* lm-eval's loglikelihood request: (context, doc_to_target) */
        out->choices = calloc(2, sizeof *out->choices);
        if (out->choices && (out->choices[0] = strdup(out->target)))
            out->nchoices = 1;
        out->gold = 0;
    }
    if (t->output == OUT_MULTIPLE_CHOICE) {
        out->choices = calloc(nc + 1, sizeof *out->choices);
        for (size_t i = 0; out->choices && i < nc; i++) {
            const char *c = t->multiple_input ? out->target : choice_text[i];
            size_t len = strlen(t->target_delimiter) + strlen(c) + 1;
            if ((out->choices[i] = malloc(len)))
                snprintf(out->choices[i], len, "%s%s", t->target_delimiter, c);
            out->nchoices++;
        }
    }
    if (rc == 0 && t->doc_to_labels) {
        char *r = NULL;
        rc = render(t->doc_to_labels, doc, &r, t, err);
        cJSON *arr = rc == 0 ? cJSON_Parse(r) : NULL;
        free(r);
        char where[1024];
        if (rc == 0 && (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != out->nchoices ||
                        !(out->labels = calloc(out->nchoices + 1, sizeof *out->labels))))
            rc = ys_fail(err, YS_EINPUT, "%s: doc_to_labels must give one 0/1 per choice",
                         task_doc_where(t, doc, where, sizeof where));
        for (size_t i = 0; rc == 0 && i < out->nchoices; i++)
            out->labels[i] = cJSON_GetArrayItem(arr, (int)i)->valueint;
        cJSON_Delete(arr);
    }
    buf b = {0};
    if (t->prompt_description)
        put(&b, t->prompt_description);
    size_t *pick = num_fewshot > 0 ? malloc((size_t)num_fewshot * sizeof *pick) : NULL;
    if (rc == 0 && num_fewshot > 0 && !pool)
        rc = ys_fail(err, YS_EUSAGE, "task %s: few-shot examples asked for without a few-shot split", t->name);
    if (rc == 0 && num_fewshot > 0)
        rc = pick ? pick_examples(t, doc, pool, self, num_fewshot, rng, pick, err)
                  : ys_fail(err, YS_ENOMEM, "out of memory");
    for (int k = 0; k < num_fewshot && rc == 0; k++) {
        task_prompt ex;
        char **ex_choices = NULL;
        size_t exn = 0;
        memset(&ex, 0, sizeof ex);
        if ((rc = parts(t, &pool->docs[pick[k]], &ex, &ex_choices, &exn, err)) == 0) {
            /* multiple_input: the gold choice is the example's text and
             * the target its answer */
            const char *q = t->multiple_input ? ex_choices[ex.gold] : ex.context;
            const char *a = t->output == OUT_MULTIPLE_CHOICE && !t->multiple_input
                                ? (ex.gold >= 0 ? ex_choices[ex.gold] : ex.target)
                            : ex.nrefs ? ex.refs[0]
                                       : (ex.target ? ex.target : "");
            put(&b, q);
            if (*a) {
                put(&b, t->target_delimiter);
                put(&b, a);
            }
            put(&b, t->fewshot_delimiter);
        }
        free_choices(ex_choices);
        task_prompt_free(&ex);
    }
    free(pick);
    if (rc == 0 && t->multiple_input) {
        out->contexts = calloc(nc + 1, sizeof *out->contexts);
        for (size_t i = 0; out->contexts && i < nc; i++)
            if (!(out->contexts[i] = concat(b.p ? b.p : "", choice_text[i])))
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (!out->contexts)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    } else if (rc == 0) {
        put(&b, out->context);
    }
    if (rc == 0 && !b.oom) {
        free(out->context);
        out->context = b.p ? b.p : strdup("");
        b.p = NULL;
    } else if (rc == 0) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    }
    free(b.p);
    free_choices(choice_text);
    if (rc == 0 && (t->output == OUT_MULTIPLE_CHOICE || t->output == OUT_LOGLIKELIHOOD) && !out->nchoices)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
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
