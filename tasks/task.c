#include "task.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ys_json.h"
#include "ys_unicode.h"

bool task_sampler_valid(const char *s)
{
    return s && (!strcmp(s, "random") || !strcmp(s, "default") || !strcmp(s, "first_n"));
}

/* ---- parsing helpers: every failure names the file and the key --------- */

typedef struct {
    const char *path;
    ys_error *err;
    int rc;
} parse_ctx;

static int bad(parse_ctx *p, const char *key, const char *what)
{
    if (p->rc == 0)
        p->rc = ys_fail(p->err, YS_EINPUT, "%s: %s: %s", p->path, key, what);
    return p->rc;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* A string member; required or optional (then dflt, which may be NULL). */
static char *get_str(parse_ctx *p, const cJSON *obj, const char *name, const char *key, bool required,
                     const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            bad(p, key, "missing (a string is required)");
        return dup_or_null(dflt);
    }
    if (!cJSON_IsString(v)) {
        bad(p, key, "must be a string");
        return NULL;
    }
    return strdup(v->valuestring);
}

static int get_int(parse_ctx *p, const cJSON *obj, const char *name, const char *key, int dflt, int lo, int hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return dflt;
    /* the range before the cast: converting 1e300 to int is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != (double)(int)v->valuedouble) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer from %d to %d", lo, hi);
        bad(p, key, msg);
        return dflt;
    }
    return v->valueint;
}

static bool get_bool(parse_ctx *p, const cJSON *obj, const char *name, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return dflt;
    if (!cJSON_IsBool(v)) {
        bad(p, key, "must be true or false");
        return dflt;
    }
    return cJSON_IsTrue(v);
}

/* An array of strings. */
static char **get_strings(parse_ctx *p, const cJSON *obj, const char *name, const char *key, size_t *n)
{
    *n = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return NULL;
    if (!cJSON_IsArray(v)) {
        bad(p, key, "must be an array of strings");
        return NULL;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    char **out = calloc(cnt + 1, sizeof *out);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) {
            bad(p, key, "must be an array of strings");
            break;
        }
        if (out)
            out[(*n)++] = strdup(it->valuestring);
    }
    return out;
}

/* An object of string → string, as parallel arrays. */
static void get_string_map(parse_ctx *p, const cJSON *obj, const char *name, const char *key, char ***keys,
                           char ***vals, size_t *n)
{
    *n = 0;
    *keys = *vals = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return;
    if (!cJSON_IsObject(v)) {
        bad(p, key, "must be an object of strings");
        return;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    *keys = calloc(cnt + 1, sizeof **keys);
    *vals = calloc(cnt + 1, sizeof **vals);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) {
            char k[256];
            snprintf(k, sizeof k, "%s.%s", key, it->string);
            bad(p, k, "must be a string");
            return;
        }
        if (*keys && *vals) {
            (*keys)[*n] = strdup(it->string);
            (*vals)[*n] = strdup(it->valuestring);
            (*n)++;
        }
    }
}

static void free_strings(char **a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

void task_free(task_spec *t)
{
    if (!t)
        return;
    free(t->path), free(t->name), free(t->description), free(t->aggregate);
    free_strings(t->agg_metrics, t->nagg_metrics);
    free(t->member_fewshot);
    free_strings(t->label_splits, t->nlabel_files);
    free_strings(t->label_files, t->nlabel_files);
    free_strings(t->label_samples, t->nlabel_files);
    free(t->preprocess), free(t->choice_list), free(t->prompt_description), free(t->sampler);
    free(t->process_results), free(t->doc_to_labels);
    for (size_t i = 0; i < t->nfilter_lists; i++) {
        for (size_t k = 0; k < t->filter_lists[i].nfilters; k++)
            free(t->filter_lists[i].filters[k].kind), free(t->filter_lists[i].filters[k].regex);
        free(t->filter_lists[i].filters), free(t->filter_lists[i].name);
    }
    free(t->filter_lists);
    free_strings(t->members, t->nmembers);
    free(t->format), free(t->text_split), free(t->eval_split), free(t->fewshot_split), free(t->published);
    free_strings(t->columns, t->ncolumns);
    free_strings(t->split_names, t->nsplits);
    free_strings(t->split_files, t->nsplits);
    free_strings(t->split_samples, t->nsplits);
    free_strings(t->sha_files, t->nsha);
    free_strings(t->sha_values, t->nsha);
    free(t->doc_to_text), free(t->doc_to_target);
    free_strings(t->doc_to_choice, t->nchoices);
    free_strings(t->label_keys, t->nlabels);
    free(t->label_values);
    free(t->target_delimiter), free(t->fewshot_delimiter);
    free_strings(t->until, t->nuntil);
    for (size_t i = 0; i < t->nfilters; i++)
        free(t->filters[i].kind), free(t->filters[i].regex);
    free(t->filters);
    for (size_t i = 0; i < t->nmetrics; i++) {
        free(t->metrics[i].name);
        free_strings(t->metrics[i].regexes_to_ignore, t->metrics[i].nregexes);
    }
    free(t->metrics);
    free(t->cls_text), free(t->cls_text_pair), free(t->cls_match);
    free_strings(t->cls_labels, t->ncls_labels);
    free(t);
}

bool task_is_group(const task_spec *t) { return t->nmembers > 0; }

static bool in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set))
            return true;
    return false;
}

/* Metrics each output type can compute. */
static const char *mc_metrics[] = {"acc", "acc_norm", "f1", "f1_macro", "mcc", "pearson", "spearmanr", NULL};
static const char *rolling_metrics[] = {"word_perplexity", "byte_perplexity", "bits_per_byte", NULL};
static const char *gen_metrics[] = {"exact_match", "squad_exact_match", "squad_f1", "bleu", "chrf", "meteor",
                                    "rouge1", "rouge2", "rougeL", "rougeLsum", NULL};
static const char *cls_metrics[] = {"acc", "f1", "f1_macro", "mcc", "pearson", "spearmanr", NULL};
static const char *ll_metrics[] = {"acc", "perplexity", NULL};
/* the built-in document transformations (lmeval_docs.c) */
static const char *preprocessors[] = {"arc", "hellaswag", "winogrande", "lambada", "truthfulqa_mc", NULL};

static void parse_dataset(parse_ctx *p, const cJSON *ds, task_spec *t)
{
    if (!cJSON_IsObject(ds)) {
        bad(p, "dataset", "missing (an object is required)");
        return;
    }
    static const char *formats[] = {"jsonl", "tsv", "csv", "squad-json", "text", "json", NULL};
    t->format = get_str(p, ds, "format", "dataset.format", true, NULL);
    if (t->format && !in_set(t->format, formats))
        bad(p, "dataset.format", "must be jsonl, json, tsv, csv, squad-json or text");
    t->header = get_bool(p, ds, "header", "dataset.header", false);
    t->columns = get_strings(p, ds, "columns", "dataset.columns", &t->ncolumns);
    t->text_split = get_str(p, ds, "text_split", "dataset.text_split", false, NULL);
    t->eval_split = get_str(p, ds, "eval_split", "dataset.eval_split", true, NULL);
    t->fewshot_split = get_str(p, ds, "fewshot_split", "dataset.fewshot_split", false, NULL);
    t->published = get_str(p, ds, "published", "dataset.published", false, NULL);
    char **skeys, **svals;
    size_t ns;
    get_string_map(p, ds, "files", "dataset.files", &t->split_names, &t->split_files, &t->nsplits);
    get_string_map(p, ds, "samples", "dataset.samples", &skeys, &svals, &ns);
    t->split_samples = calloc(t->nsplits + 1, sizeof *t->split_samples);
    for (size_t i = 0; i < ns; i++) {
        size_t k = 0;
        while (k < t->nsplits && strcmp(t->split_names[k], skeys[i]))
            k++;
        if (k == t->nsplits) {
            char key[256];
            snprintf(key, sizeof key, "dataset.samples.%s", skeys[i]);
            bad(p, key, "has no matching split in dataset.files");
        } else if (t->split_samples) {
            t->split_samples[k] = strdup(svals[i]);
        }
    }
    free_strings(skeys, ns);
    free_strings(svals, ns);
    get_string_map(p, ds, "sha256", "dataset.sha256", &t->sha_files, &t->sha_values, &t->nsha);
    /* labels kept apart from the records (PIQA's valid-labels.lst): one
     * per line, the field "label" of the record on the same line */
    get_string_map(p, ds, "labels", "dataset.labels", &t->label_splits, &t->label_files, &t->nlabel_files);
    get_string_map(p, ds, "labels_samples", "dataset.labels_samples", &skeys, &svals, &ns);
    t->label_samples = calloc(t->nlabel_files + 1, sizeof *t->label_samples);
    for (size_t i = 0; i < t->nlabel_files && t->label_samples; i++)
        for (size_t k = 0; k < ns; k++)
            if (!strcmp(skeys[k], t->label_splits[i]))
                t->label_samples[i] = strdup(svals[k]);
    for (size_t i = 0; !p->rc && i < t->nlabel_files; i++)
        if (!t->label_samples || !t->label_samples[i])
            bad(p, "dataset.labels_samples", "needs a sample file for every split in dataset.labels");
    free_strings(skeys, ns);
    free_strings(svals, ns);
    if (p->rc)
        return;
    if (!t->nsplits)
        bad(p, "dataset.files", "missing (an object of split → file is required)");
    bool eval_found = false, fs_found = !t->fewshot_split;
    for (size_t i = 0; i < t->nsplits; i++) {
        eval_found |= !strcmp(t->split_names[i], t->eval_split);
        fs_found |= t->fewshot_split && !strcmp(t->split_names[i], t->fewshot_split);
        if (!t->split_samples || !t->split_samples[i]) {
            char key[256];
            snprintf(key, sizeof key, "dataset.samples.%s", t->split_names[i]);
            bad(p, key, "missing: every split needs a sample file so the task runs without --data-dir");
        }
    }
    if (!eval_found)
        bad(p, "dataset.eval_split", "names no split in dataset.files");
    if (!fs_found)
        bad(p, "dataset.fewshot_split", "names no split in dataset.files");
    for (size_t i = 0; i < t->nsha; i++) {
        size_t len = strlen(t->sha_values[i]);
        bool hex = len == 64;
        for (size_t k = 0; hex && k < len; k++)
            hex = isxdigit((unsigned char)t->sha_values[i][k]);
        if (!hex) {
            char key[512];
            snprintf(key, sizeof key, "dataset.sha256.%s", t->sha_files[i]);
            bad(p, key, "must be 64 hexadecimal digits");
        }
    }
}

static void parse_metrics(parse_ctx *p, const cJSON *root, task_spec *t)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "metrics");
    if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) == 0) {
        bad(p, "metrics", "missing (a non-empty array is required)");
        return;
    }
    const char **allowed = t->output == OUT_MULTIPLE_CHOICE ? mc_metrics
                           : t->output == OUT_ROLLING       ? rolling_metrics
                           : t->output == OUT_GENERATE      ? gen_metrics
                           : t->output == OUT_LOGLIKELIHOOD ? ll_metrics
                                                            : cls_metrics;
    t->metrics = calloc((size_t)cJSON_GetArraySize(ms), sizeof *t->metrics);
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, ms) {
        char key[64];
        snprintf(key, sizeof key, "metrics[%d]", i++);
        if (!cJSON_IsObject(m)) {
            bad(p, key, "must be an object {\"metric\": ..., \"higher_is_better\": ...}");
            return;
        }
        char k2[96];
        snprintf(k2, sizeof k2, "%s.metric", key);
        char *name = get_str(p, m, "metric", k2, true, NULL);
        if (!name)
            return;
        if (!in_set(name, allowed)) {
            char msg[512] = "not available for this output_type (available:";
            for (const char **a = allowed; *a; a++) {
                strcat(msg, " ");
                strcat(msg, *a);
            }
            strcat(msg, ")");
            bad(p, k2, msg);
            free(name);
            return;
        }
        bool lower_better = strstr(name, "perplexity") || !strcmp(name, "bits_per_byte");
        snprintf(k2, sizeof k2, "%s.higher_is_better", key);
        t->metrics[t->nmetrics].name = name;
        task_metric *tm = &t->metrics[t->nmetrics++];
        tm->higher_is_better = get_bool(p, m, "higher_is_better", k2, !lower_better);
        snprintf(k2, sizeof k2, "%s.ignore_case", key);
        tm->ignore_case = get_bool(p, m, "ignore_case", k2, false);
        snprintf(k2, sizeof k2, "%s.ignore_punctuation", key);
        tm->ignore_punctuation = get_bool(p, m, "ignore_punctuation", k2, false);
        snprintf(k2, sizeof k2, "%s.regexes_to_ignore", key);
        tm->regexes_to_ignore = get_strings(p, m, "regexes_to_ignore", k2, &tm->nregexes);
        bool has_opts = cJSON_GetObjectItemCaseSensitive(m, "ignore_case") ||
                        cJSON_GetObjectItemCaseSensitive(m, "ignore_punctuation") || tm->nregexes;
        if (has_opts && strcmp(name, "exact_match"))
            bad(p, key, "ignore_case, ignore_punctuation and regexes_to_ignore belong to exact_match");
    }
}

static void parse_filters(parse_ctx *p, const cJSON *root, task_spec *t)
{
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(root, "filters");
    if (!fs)
        return;
    if (!cJSON_IsArray(fs)) {
        bad(p, "filters", "must be an array");
        return;
    }
    static const char *plain[] = {"strip", "lower", "upper", "first_line", NULL};
    t->filters = calloc((size_t)cJSON_GetArraySize(fs) + 1, sizeof *t->filters);
    const cJSON *f;
    int i = 0;
    cJSON_ArrayForEach(f, fs) {
        char key[64];
        snprintf(key, sizeof key, "filters[%d]", i++);
        task_filter *tf = &t->filters[t->nfilters];
        if (cJSON_IsString(f)) {
            if (!in_set(f->valuestring, plain)) {
                bad(p, key, "unknown filter (strip, lower, upper, first_line, or {\"regex\": ..., \"group\": N})");
                return;
            }
            tf->kind = strdup(f->valuestring);
        } else if (cJSON_IsObject(f)) {
            char k2[96];
            snprintf(k2, sizeof k2, "%s.regex", key);
            tf->regex = get_str(p, f, "regex", k2, true, NULL);
            snprintf(k2, sizeof k2, "%s.group", key);
            tf->group = get_int(p, f, "group", k2, 0, 0, 99);
            tf->kind = strdup("regex");
        } else {
            bad(p, key, "must be a filter name or {\"regex\": ..., \"group\": N}");
            return;
        }
        t->nfilters++;
    }
}

/* lm-eval's filter_list: [{"name": N, "filter": [{"function": "regex",
 * "regex_pattern": P, "group_select": G}, {"function": "take_first"}]}].
 * Each pipeline scores the task's metrics once, keyed "metric,N". */
static void parse_filter_list(parse_ctx *p, const cJSON *root, task_spec *t)
{
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(root, "filter_list");
    if (!fl)
        return;
    if (!cJSON_IsArray(fl) || !cJSON_GetArraySize(fl) || t->output != OUT_GENERATE || t->nfilters) {
        bad(p, "filter_list", "must be a non-empty array, for generate_until, and not beside \"filters\"");
        return;
    }
    t->filter_lists = calloc((size_t)cJSON_GetArraySize(fl), sizeof *t->filter_lists);
    if (!t->filter_lists) {
        bad(p, "filter_list", "out of memory");
        return;
    }
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, fl) {
        char key[64], k2[128];
        snprintf(key, sizeof key, "filter_list[%d]", i++);
        task_filter_list *l = &t->filter_lists[t->nfilter_lists++];
        snprintf(k2, sizeof k2, "%s.name", key);
        l->name = get_str(p, e, "name", k2, true, NULL);
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(e, "filter");
        if (p->rc || !cJSON_IsArray(fs)) {
            bad(p, key, "needs \"name\" and a \"filter\" array");
            return;
        }
        l->filters = calloc((size_t)cJSON_GetArraySize(fs) + 1, sizeof *l->filters);
        const cJSON *f;
        int j = 0;
        cJSON_ArrayForEach(f, fs) {
            snprintf(k2, sizeof k2, "%s.filter[%d].function", key, j++);
            char *fn = get_str(p, f, "function", k2, true, NULL);
            if (!fn || !l->filters)
                return;
            task_filter *tf = &l->filters[l->nfilters++];
            if (!strcmp(fn, "regex")) {
                tf->kind = strdup("findall");
                tf->regex = get_str(p, f, "regex_pattern", k2, false, "#### (\\-?[0-9\\.\\,]+)");
                tf->group = get_int(p, f, "group_select", k2, 0, -1000, 1000);
                free(fn);
            } else if (!strcmp(fn, "take_first") || !strcmp(fn, "strip") || !strcmp(fn, "lower")) {
                tf->kind = fn;
            } else {
                free(fn);
                bad(p, k2, "must be regex, take_first, strip or lower");
                return;
            }
        }
    }
}

static void parse_group(parse_ctx *p, const cJSON *root, task_spec *t)
{
    t->members = get_strings(p, root, "group", "group", &t->nmembers);
    if (!p->rc && !t->nmembers)
        bad(p, "group", "must list at least one task");
    t->aggregate = get_str(p, root, "aggregate", "aggregate", false, "mean");
    if (t->aggregate && strcmp(t->aggregate, "mean") && strcmp(t->aggregate, "glue") && strcmp(t->aggregate, "weighted"))
        bad(p, "aggregate", "must be \"mean\", \"glue\" or \"weighted\"");
    /* lm-eval's aggregate_metric_list with weight_by_size: these metrics,
     * averaged over the members weighted by their document counts */
    t->agg_metrics = get_strings(p, root, "aggregate_metrics", "aggregate_metrics", &t->nagg_metrics);
    /* {"member": k}: run that member (every task under it, for a group)
     * with k few-shot examples, as lm-eval's leaderboard does */
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(root, "num_fewshot");
    if (fs && !p->rc) {
        t->member_fewshot = calloc(t->nmembers + 1, sizeof *t->member_fewshot);
        for (size_t i = 0; t->member_fewshot && i < t->nmembers; i++)
            t->member_fewshot[i] = -1;
        const cJSON *it;
        if (!cJSON_IsObject(fs))
            bad(p, "num_fewshot", "a group's num_fewshot is an object {member: count}");
        cJSON_ArrayForEach(it, fs) {
            size_t i = 0;
            while (i < t->nmembers && strcmp(t->members[i], it->string))
                i++;
            if (i == t->nmembers || !cJSON_IsNumber(it) || it->valueint < 0) {
                bad(p, "num_fewshot", "names a member that is not in group, or a count below 0");
                break;
            }
            if (t->member_fewshot)
                t->member_fewshot[i] = it->valueint;
        }
    }
    if (!p->rc && t->aggregate && !strcmp(t->aggregate, "weighted") && !t->nagg_metrics)
        bad(p, "aggregate_metrics", "\"weighted\" needs the metrics to average");
}

static void parse_classification(parse_ctx *p, const cJSON *root, task_spec *t)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "classification");
    if (!c) {
        if (t->output == OUT_CLASSIFICATION)
            bad(p, "classification", "output_type classification needs a \"classification\" block "
                                     "({\"text\": ..., \"labels\": [...]})");
        return;
    }
    if (!cJSON_IsObject(c)) {
        bad(p, "classification", "must be an object {\"text\", \"text_pair\", \"labels\", \"match\"}");
        return;
    }
    if (t->output != OUT_CLASSIFICATION && t->output != OUT_MULTIPLE_CHOICE) {
        bad(p, "classification", "only classification and multiple_choice tasks can be run by a classifier");
        return;
    }
    t->has_cls = true;
    t->cls_text = get_str(p, c, "text", "classification.text", true, NULL);
    t->cls_text_pair = get_str(p, c, "text_pair", "classification.text_pair", false, NULL);
    t->cls_labels = get_strings(p, c, "labels", "classification.labels", &t->ncls_labels);
    t->cls_match = get_str(p, c, "match", "classification.match", false, "auto");
    if (!p->rc && strcmp(t->cls_match, "auto") && strcmp(t->cls_match, "name") && strcmp(t->cls_match, "index"))
        bad(p, "classification.match", "must be \"auto\", \"name\" or \"index\"");
    if (!p->rc && t->ncls_labels == 1)
        bad(p, "classification.labels", "needs at least two classes (leave it out for a regression task)");
    if (!p->rc && t->output == OUT_MULTIPLE_CHOICE && t->ncls_labels && t->ncls_labels != t->nchoices)
        bad(p, "classification.labels", "must name one class per choice of doc_to_choice, in the same order");
    const cJSON *it;
    cJSON_ArrayForEach(it, c) {
        static const char *known[] = {"text", "text_pair", "labels", "match", NULL};
        if (!p->rc && !in_set(it->string, known)) {
            char key[160];
            snprintf(key, sizeof key, "classification.%s", it->string);
            bad(p, key, "unknown key (text, text_pair, labels, match)");
        }
    }
}

static void parse_task(parse_ctx *p, const cJSON *root, task_spec *t)
{
    parse_dataset(p, cJSON_GetObjectItemCaseSensitive(root, "dataset"), t);
    char *out = get_str(p, root, "output_type", "output_type", true, NULL);
    if (out) {
        if (!strcmp(out, "multiple_choice"))
            t->output = OUT_MULTIPLE_CHOICE;
        else if (!strcmp(out, "loglikelihood_rolling"))
            t->output = OUT_ROLLING;
        else if (!strcmp(out, "generate_until"))
            t->output = OUT_GENERATE;
        else if (!strcmp(out, "classification"))
            t->output = OUT_CLASSIFICATION;
        else if (!strcmp(out, "loglikelihood"))
            t->output = OUT_LOGLIKELIHOOD;
        else
            bad(p, "output_type",
                "must be multiple_choice, loglikelihood, loglikelihood_rolling, generate_until or classification");
        free(out);
    }
    if (p->rc)
        return;
    bool rolling = t->output == OUT_ROLLING;
    t->doc_to_text = get_str(p, root, "doc_to_text", "doc_to_text", t->output != OUT_CLASSIFICATION, NULL);
    t->doc_to_target = get_str(p, root, "doc_to_target", "doc_to_target", !rolling, NULL);
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(root, "doc_to_choice");
    if (cJSON_IsString(dc))
        t->choice_list = strdup(dc->valuestring);
    else
        t->doc_to_choice = get_strings(p, root, "doc_to_choice", "doc_to_choice", &t->nchoices);
    if (!p->rc && t->output == OUT_MULTIPLE_CHOICE && t->nchoices < 2 && !t->choice_list)
        bad(p, "doc_to_choice", "multiple_choice needs at least two choices (or one template giving a JSON array)");
    t->multiple_input = get_bool(p, root, "multiple_input", "multiple_input", false);
    if (!p->rc && t->multiple_input && t->output != OUT_MULTIPLE_CHOICE)
        bad(p, "multiple_input", "only for multiple_choice");
    t->preprocess = get_str(p, root, "preprocess", "preprocess", false, NULL);
    if (!p->rc && t->preprocess && !in_set(t->preprocess, preprocessors))
        bad(p, "preprocess", "must be arc, hellaswag, winogrande, lambada or truthfulqa_mc");
    t->prompt_description = get_str(p, root, "prompt_description", "prompt_description", false, NULL);
    t->sampler = get_str(p, root, "fewshot_sampler", "fewshot_sampler", false, "random");
    if (!p->rc && !task_sampler_valid(t->sampler))
        bad(p, "fewshot_sampler", "must be \"random\" (or lm-eval's name for it, \"default\") or \"first_n\"");
    t->process_results = get_str(p, root, "process_results", "process_results", false, NULL);
    t->doc_to_labels = get_str(p, root, "doc_to_labels", "doc_to_labels", false, NULL);
    if (!p->rc && t->process_results && (strcmp(t->process_results, "mc2") || !t->doc_to_labels))
        bad(p, "process_results", "must be \"mc2\", with doc_to_labels");
    if (!p->rc)
        parse_classification(p, root, t);
    size_t nclasses = t->nchoices ? t->nchoices : t->ncls_labels;
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(root, "label_map");
    if (lm) {
        if (!cJSON_IsObject(lm)) {
            bad(p, "label_map", "must be an object of label → choice index");
        } else {
            size_t cnt = (size_t)cJSON_GetArraySize(lm);
            t->label_keys = calloc(cnt + 1, sizeof *t->label_keys);
            t->label_values = calloc(cnt + 1, sizeof *t->label_values);
            const cJSON *it;
            cJSON_ArrayForEach(it, lm) {
                char key[256];
                snprintf(key, sizeof key, "label_map.%s", it->string);
                if (!cJSON_IsNumber(it) || it->valueint < 0 || (size_t)it->valueint >= (nclasses ? nclasses : 1) ||
                    it->valuedouble != (double)it->valueint) {
                    bad(p, key, "must be the index of a choice in doc_to_choice");
                    break;
                }
                t->label_keys[t->nlabels] = strdup(it->string);
                t->label_values[t->nlabels++] = it->valueint;
            }
        }
    }
    t->target_delimiter = get_str(p, root, "target_delimiter", "target_delimiter", false, " ");
    t->fewshot_delimiter = get_str(p, root, "fewshot_delimiter", "fewshot_delimiter", false, "\n\n");
    t->num_fewshot = get_int(p, root, "num_fewshot", "num_fewshot", 0, 0, 1000);
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(root, "generation");
    if (t->output == OUT_GENERATE) {
        if (!cJSON_IsObject(gen)) {
            bad(p, "generation", "generate_until needs {\"until\": [...], \"max_gen_toks\": N}");
        } else {
            t->until = get_strings(p, gen, "until", "generation.until", &t->nuntil);
            t->max_gen_toks = get_int(p, gen, "max_gen_toks", "generation.max_gen_toks", 256, 1, 1 << 20);
        }
    }
    parse_filters(p, root, t);
    parse_filter_list(p, root, t);
    parse_metrics(p, root, t);
}

int task_load(const char *path, task_spec **out, ys_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ys_fail(err, YS_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 8192, len = 0, got;
    char *text = malloc(cap);
    while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *p2 = realloc(text, cap *= 2);
            if (!p2)
                free(text);
            text = p2;
        }
    }
    fclose(f);
    if (!text)
        return ys_fail(err, YS_ENOMEM, "out of memory reading %s", path);
    text[len] = 0;
    if (uni_invalid_at(text, len) != (size_t)-1) {
        free(text);
        return ys_fail(err, YS_EINPUT, "%s: invalid UTF-8", path);
    }
    cJSON *root = NULL;
    int prc = ys_json_parse(text, len, path, 1, &root, err);
    free(text);
    if (prc < 0)
        return prc;
    task_spec *t = calloc(1, sizeof *t);
    parse_ctx p = {path, err, 0};
    if (!t) {
        cJSON_Delete(root);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    t->path = strdup(path);
    if (!cJSON_IsObject(root)) {
        bad(&p, "(top level)", "must be a JSON object");
    } else {
        t->name = get_str(&p, root, "name", "name", true, NULL);
        t->description = get_str(&p, root, "description", "description", false, "");
        t->version = get_int(&p, root, "version", "version", 0, 0, 1 << 30);
        if (cJSON_GetObjectItemCaseSensitive(root, "group"))
            parse_group(&p, root, t);
        else
            parse_task(&p, root, t);
        /* an unknown key is most likely a typo that would silently change
         * nothing: refuse it */
        static const char *known[] = {"name", "version", "description", "dataset", "output_type", "doc_to_text",
                                      "doc_to_choice", "doc_to_target", "label_map", "target_delimiter",
                                      "fewshot_delimiter", "num_fewshot", "generation", "filters", "metrics",
                                      "group", "aggregate", "classification", "aggregate_metrics", "preprocess",
                                      "multiple_input", "prompt_description", "fewshot_sampler",
                                      "process_results", "doc_to_labels", "filter_list", NULL};
        const cJSON *it;
        cJSON_ArrayForEach(it, root) {
            if (!in_set(it->string, known)) {
                bad(&p, it->string, "unknown key");
                break;
            }
        }
    }
    cJSON_Delete(root);
    if (p.rc) {
        task_free(t);
        return p.rc;
    }
    *out = t;
    return 0;
}

/* ---- templates ----------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} sb;

static int sb_put(sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

/* Apply one filter to *v (malloc'd; replaced). arg is the text inside
 * parentheses, or NULL. */
static int apply_filter(const char *name, size_t nlen, const char *arg, size_t alen, char **v, const char *tmpl,
                        ys_error *err)
{
    char *s = *v;
    size_t n = strlen(s);
#define IS(x) (nlen == strlen(x) && !strncmp(name, x, nlen))
    if (IS("strip")) {
        size_t a = 0, b = n;
        while (a < b && isspace((unsigned char)s[a]))
            a++;
        while (b > a && isspace((unsigned char)s[b - 1]))
            b--;
        memmove(s, s + a, b - a);
        s[b - a] = 0;
    } else if (IS("lower") || IS("upper")) {
        if (IS("lower")) {
            char *low = uni_lower_utf8(s, n, NULL);
            if (!low)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            free(s);
            *v = low;
        } else {
            for (size_t i = 0; i < n; i++)
                s[i] = (char)toupper((unsigned char)s[i]);
        }
    } else if (IS("lower_first")) {
        uint32_t cp, low[3];
        size_t k = uni_decode(s, n, &cp);
        if (k) {
            int m = uni_lower(cp, low);
            char enc[16];
            size_t el = 0;
            for (int j = 0; j < m; j++)
                el += uni_encode(low[j], enc + el);
            char *out = malloc(n - k + el + 1);
            if (!out)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            memcpy(out, enc, el);
            memcpy(out + el, s + k, n - k + 1);
            free(s);
            *v = out;
        }
    } else if (IS("rstrip")) {
        char chars[64];
        snprintf(chars, sizeof chars, "%.*s", (int)(arg ? alen : 0), arg ? arg : "");
        while (n > 0 && (arg ? strchr(chars, s[n - 1]) != NULL : isspace((unsigned char)s[n - 1])))
            s[--n] = 0;
    } else if (IS("map")) {
        /* map(key:value,key:value): the whole value must be a key */
        const char *p = arg, *end = arg ? arg + alen : NULL;
        while (p && p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *item_end = comma ? comma : end;
            const char *colon = memchr(p, ':', (size_t)(item_end - p));
            if (colon && (size_t)(colon - p) == n && !strncmp(p, s, n)) {
                char *out = strndup(colon + 1, (size_t)(item_end - colon - 1));
                if (!out)
                    return ys_fail(err, YS_ENOMEM, "out of memory");
                free(s);
                *v = out;
                return 0;
            }
            p = comma ? comma + 1 : end;
        }
        return ys_fail(err, YS_EINPUT, "template '%s': map(...) has no entry for the value '%s'", tmpl, s);
    } else if (IS("join") || IS("first")) {
        cJSON *arr = cJSON_Parse(s);
        if (!cJSON_IsArray(arr)) {
            cJSON_Delete(arr);
            return ys_fail(err, YS_EINPUT, "template '%s': %.*s needs a field holding a JSON array", tmpl, (int)nlen, name);
        }
        sb out = {0};
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            char *str = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
            const char *val = cJSON_IsString(it) ? it->valuestring : str;
            if (IS("first") && i > 0) {
                free(str);
                break;
            }
            if (i++ && arg)
                sb_put(&out, arg, alen);
            sb_put(&out, val ? val : "", val ? strlen(val) : 0);
            free(str);
        }
        cJSON_Delete(arr);
        free(s);
        *v = out.p ? out.p : strdup("");
    } else {
        return ys_fail(err, YS_EINPUT,
                       "template '%s': unknown filter '%.*s' (strip, lower, upper, lower_first, rstrip, map, join, first)",
                       tmpl, (int)nlen, name);
    }
#undef IS
    return 0;
}

int task_render(const char *tmpl, const char *const *names, const char *const *values, size_t n, char **out,
                ys_error *err)
{
    *out = NULL;
    sb b = {0};
    const char *p = tmpl;
    int rc = 0;
    while (*p && rc == 0) {
        const char *open = strstr(p, "{{");
        if (!open) {
            rc = sb_put(&b, p, strlen(p));
            break;
        }
        if ((rc = sb_put(&b, p, (size_t)(open - p))) < 0)
            break;
        if (!strncmp(open, "{{{{", 4)) {
            rc = sb_put(&b, "{{", 2);
            p = open + 4;
            continue;
        }
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            rc = ys_fail(err, YS_EINPUT, "template '%s': '{{' without '}}'", tmpl);
            break;
        }
        /* field name, then |filter(arg)|... */
        const char *q = open + 2, *qend = close;
        while (q < qend && *q == ' ')
            q++;
        const char *fend = q;
        while (fend < qend && *fend != '|' && *fend != ' ')
            fend++;
        const char *val = NULL;
        for (size_t i = 0; i < n; i++)
            if (strlen(names[i]) == (size_t)(fend - q) && !strncmp(names[i], q, (size_t)(fend - q)))
                val = values[i];
        if (!val) {
            rc = ys_fail(err, YS_EINPUT, "template '%s': the document has no field '%.*s'", tmpl, (int)(fend - q), q);
            break;
        }
        char *v = strdup(val);
        if (!v) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        const char *f = fend;
        while (rc == 0 && f < qend) {
            while (f < qend && (*f == ' ' || *f == '|'))
                f++;
            if (f >= qend)
                break;
            const char *nm = f;
            while (f < qend && *f != '(' && *f != '|' && *f != ' ')
                f++;
            size_t nlen = (size_t)(f - nm);
            const char *arg = NULL;
            size_t alen = 0;
            if (f < qend && *f == '(') {
                const char *rp = memchr(f, ')', (size_t)(qend - f));
                if (!rp) {
                    rc = ys_fail(err, YS_EINPUT, "template '%s': '(' without ')'", tmpl);
                    break;
                }
                arg = f + 1;
                alen = (size_t)(rp - f - 1);
                f = rp + 1;
            }
            rc = apply_filter(nm, nlen, arg, alen, &v, tmpl, err);
        }
        if (rc == 0)
            rc = sb_put(&b, v, strlen(v));
        free(v);
        p = close + 2;
    }
    if (rc < 0) {
        if (err && err->code == 0)
            ys_fail(err, YS_ENOMEM, "out of memory");
        free(b.p);
        return rc;
    }
    *out = b.p ? b.p : strdup("");
    return *out ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
}

const char *task_output_name(task_output o)
{
    static const char *const names[] = {"multiple_choice", "loglikelihood_rolling", "generate_until", "classification",
                                        "loglikelihood"};
    return (size_t)o < sizeof names / sizeof names[0] ? names[o] : "?";
}
