/* The runner's outputs: the results store, the lm-evaluation-harness results
 * JSON, sample logs and the summary table (see runner_internal.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "glue.h"
#include "gguf.h"
#include "runner_internal.h"
#include "sha256.h"

/* ---- output -------------------------------------------------------------- */

/* A group's score: "glue" averages each member's metrics into one task
 * score, then the tasks; "mean" averages each member's first metric. */
double rn_group_score(const run_state *st, size_t g)
{
    double wv, wse, wsz;
    if (!strcmp(st->group_aggregate[g], "weighted"))
        return st->group_nagg[g] && rn_group_weighted(st, st->groups[g], st->group_agg_metrics[g][0], &wv, &wse, &wsz)
                   ? wv
                   : NAN;
    bool glue = !strcmp(st->group_aggregate[g], "glue");
    double sum = 0, n = 0;
    for (size_t i = 0; i < st->group_nmembers[g]; i++)
        for (size_t k = 0; k < st->ntasks; k++) {
            const task_run *t = &st->tasks[k];
            if (strcmp(t->spec->name, st->group_members[g][i]) || !t->nresults)
                continue;
            double v = 0;
            size_t nv = 0;
            size_t upto = glue ? t->nresults : 1;
            for (size_t r = 0; r < upto; r++)
                if (!isnan(t->values[r]))
                    v += t->values[r], nv++;
            double w = glue ? glue_task_weight(t->spec->name) : 1.0;
            if (nv)
                sum += w * v / (double)nv, n += w;
        }
    return n > 0 ? sum / n : NAN;
}

/* A "weighted" group's metric (lm-eval's aggregate_metric_list with
 * weight_by_size): the members' values weighted by their document counts,
 * members that are groups computed first, as lm-eval consolidates
 * subgroups before their parents; the stderr pooled as lm-eval's
 * pooled_sample_stderr: sqrt(sum((n_i - 1) n_i se_i^2) / (N - k) / N).
 * False when no member has the metric. */
bool rn_group_weighted(const run_state *st, const char *group, const char *metric, double *value, double *se,
                       double *size)
{
    size_t g = 0;
    while (g < st->ngroups && strcmp(st->groups[g], group))
        g++;
    if (g == st->ngroups)
        return false;
    double sum = 0, n = 0, var = 0, k = 0;
    bool se_ok = true;
    for (size_t i = 0; i < st->group_nmembers[g]; i++) {
        const char *m = st->group_members[g][i];
        double v = NAN, e = NAN, sz = 0;
        bool found = rn_group_weighted(st, m, metric, &v, &e, &sz);
        for (size_t t = 0; !found && t < st->ntasks; t++) {
            const task_run *tr = &st->tasks[t];
            if (strcmp(tr->spec->name, m))
                continue;
            for (size_t r = 0; r < tr->nresults; r++)
                if (!strcmp(tr->metric_names[r], metric))
                    v = tr->values[r], e = tr->stderrs[r], sz = (double)tr->n, found = true;
        }
        if (!found || isnan(v) || sz == 0)
            continue;
        sum += v * sz, n += sz, k++;
        if (isnan(e))
            se_ok = false;
        else
            var += (sz - 1) * sz * e * e;
    }
    if (n == 0)
        return false;
    *value = sum / n;
    *se = se_ok && n > k ? sqrt(var / (n - k) / n) : NAN;
    *size = n;
    return true;
}

/* --kl-base: a task's kld_mean — the mean KL(base ‖ model) over its
 * continuation positions with llama.cpp's uncertainty (NAN, not llama.cpp's
 * "none", with 10 positions or fewer) — when the pass measured any. */
static bool task_kld(const run_state *st, const task_run *t, double *mean, double *unc, int64_t *n)
{
    if (!st->kld_measured || t->kld.acc.count == 0)
        return false;
    kld_vu v = kld_mean_unc(t->kld.acc.sum_kld, t->kld.acc.sum_kld2, t->kld.acc.count);
    *mean = v.value;
    *unc = t->kld.acc.count > 10 ? v.unc : NAN;
    *n = t->kld.acc.count;
    return true;
}

/* Why a task has no kld_mean in a --kl-base run. */
static const char *kld_skipped(const task_run *t)
{
    return t->gen ? "not measured: a generation task has no fixed continuation to compare"
                  : "not measured: the task scored no continuation tokens";
}

int rn_write_outputs(const run_state *st, int64_t run_id, ys_error *err)
{
    const run_options *o = st->o;
    cJSON *root = cJSON_CreateObject(), *results = cJSON_AddObjectToObject(root, "results");
    cJSON *groups = cJSON_AddObjectToObject(root, "groups"), *configs = cJSON_AddObjectToObject(root, "configs");
    cJSON *versions = cJSON_AddObjectToObject(root, "versions"), *ns = cJSON_AddObjectToObject(root, "n-samples");
    cJSON *hib = cJSON_AddObjectToObject(root, "higher_is_better");
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        cJSON *r = cJSON_AddObjectToObject(results, t->spec->name);
        cJSON_AddStringToObject(r, "alias", t->spec->name);
        cJSON *h = cJSON_AddObjectToObject(hib, t->spec->name);
        for (size_t m = 0; m < t->nresults; m++) {
            /* lm-eval's "metric,filter" keys: a name without a filter
             * (everything but filter_list pipelines) is "none"'s */
            char key[160], base[128];
            const char *comma = strchr(t->metric_names[m], ',');
            snprintf(base, sizeof base, "%.*s", comma ? (int)(comma - t->metric_names[m]) : 127, t->metric_names[m]);
            const char *filter = comma ? comma + 1 : "none";
            snprintf(key, sizeof key, "%s,%s", base, filter);
            if (isnan(t->values[m]))
                cJSON_AddNullToObject(r, key);
            else
                cJSON_AddNumberToObject(r, key, t->values[m]);
            snprintf(key, sizeof key, "%s_stderr,%s", base, filter);
            if (isnan(t->stderrs[m]))
                cJSON_AddStringToObject(r, key, "N/A");
            else
                cJSON_AddNumberToObject(r, key, t->stderrs[m]);
            if (!cJSON_GetObjectItemCaseSensitive(h, base))
                cJSON_AddBoolToObject(h, base, t->hib[m]);
        }
        double km, ku;
        int64_t kn = 0;
        bool has_kld = task_kld(st, t, &km, &ku, &kn);
        if (has_kld) {
            cJSON_AddNumberToObject(r, "kld_mean,none", km);
            if (isnan(ku))
                cJSON_AddStringToObject(r, "kld_mean_stderr,none", "N/A");
            else
                cJSON_AddNumberToObject(r, "kld_mean_stderr,none", ku);
            cJSON_AddBoolToObject(h, "kld_mean", false);
        }
        cJSON *c = cJSON_AddObjectToObject(configs, t->spec->name);
        cJSON_AddStringToObject(c, "task", t->spec->name);
        cJSON_AddStringToObject(c, "output_type", task_output_name(t->spec->output));
        cJSON_AddStringToObject(c, "doc_to_text", t->spec->doc_to_text);
        cJSON_AddNumberToObject(c, "num_fewshot", o->num_fewshot >= 0 ? o->num_fewshot
                                                  : t->num_fewshot >= 0 ? t->num_fewshot
                                                                        : t->spec->num_fewshot);
        if (o->fewshot_sampler)
            cJSON_AddStringToObject(c, "fewshot_sampler", o->fewshot_sampler);
        cJSON_AddStringToObject(c, "data", t->docs.path);
        cJSON_AddBoolToObject(c, "sample_data", t->docs.sample);
        cJSON_AddStringToObject(c, "task_hash", t->hash);
        if (has_kld)
            cJSON_AddNumberToObject(c, "kld_positions", (double)kn);
        else if (st->kld_measured)
            cJSON_AddStringToObject(c, "kld", kld_skipped(t));
        cJSON_AddNumberToObject(versions, t->spec->name, t->spec->version);
        cJSON *x = cJSON_AddObjectToObject(ns, t->spec->name);
        cJSON_AddNumberToObject(x, "original", (double)t->docs.n);
        cJSON_AddNumberToObject(x, "effective", (double)t->n);
    }
    for (size_t g = 0; g < st->ngroups; g++) {
        cJSON *r = cJSON_AddObjectToObject(groups, st->groups[g]);
        if (!strcmp(st->group_aggregate[g], "weighted")) {
            /* lm-eval's group entry: "acc,none", "acc_stderr,none" */
            for (size_t m = 0; m < st->group_nagg[g]; m++) {
                double v, se, sz;
                char key[160];
                if (!rn_group_weighted(st, st->groups[g], st->group_agg_metrics[g][m], &v, &se, &sz))
                    continue;
                snprintf(key, sizeof key, "%s,none", st->group_agg_metrics[g][m]);
                cJSON_AddNumberToObject(r, key, v);
                snprintf(key, sizeof key, "%s_stderr,none", st->group_agg_metrics[g][m]);
                if (isnan(se))
                    cJSON_AddStringToObject(r, key, "N/A");
                else
                    cJSON_AddNumberToObject(r, key, se);
            }
            continue;
        }
        double v = rn_group_score(st, g);
        if (isnan(v))
            cJSON_AddNullToObject(r, "score,none");
        else
            cJSON_AddNumberToObject(r, "score,none", v);
    }
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(cfg, "model", "yardstick");
    if (o->adapter_dir) {   /* lm-evaluation-harness spells an adapter peft= */
        char args[8300];
        snprintf(args, sizeof args, "%s,peft=%s", o->model_dir, o->adapter_dir);
        cJSON_AddStringToObject(cfg, "model_args", args);
        cJSON_AddStringToObject(cfg, "adapter", o->adapter_dir);
        cJSON_AddStringToObject(cfg, "adapter_sha256", st->adapter_hash);
        cJSON_AddStringToObject(cfg, "base_weights_sha256", st->base_hash);
    } else {
        cJSON_AddStringToObject(cfg, "model_args", o->model_dir);
    }
    if (st->gguf_hash[0]) {
        cJSON_AddStringToObject(cfg, "gguf_sha256", st->gguf_hash);
        cJSON_AddStringToObject(cfg, "gguf_tensor_types", st->gguf_types);
    }
    if (o->quantize || o->quantize_head)
        cJSON_AddStringToObject(cfg, "quantize", st->compute);
    if (o->compute_bf16 || o->compute_int8)
        cJSON_AddStringToObject(cfg, "compute", o->compute_bf16 ? "bf16" : "int8");
    if (st->kld_measured) {  /* what kld_mean is measured against */
        cJSON_AddStringToObject(cfg, "kl_base", o->kl_base);
        if (st->kl_base_hash[0])
            cJSON_AddStringToObject(cfg, "kl_base_weights_sha256", st->kl_base_hash);
        if (st->kl_base_tok_hash[0])
            cJSON_AddStringToObject(cfg, "kl_base_tokenizer_sha256", st->kl_base_tok_hash);
    }
    cJSON_AddNumberToObject(cfg, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(cfg, "seed", (double)o->seed);
    if (o->limit > 0)
        cJSON_AddNumberToObject(cfg, "limit", (double)o->limit);
    cJSON_AddStringToObject(root, "model_name", o->model_dir);
    cJSON_AddNumberToObject(root, "run_id", (double)run_id);
    cJSON_AddStringToObject(root, "yardstick_version", YS_VERSION);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.partial", o->output);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = f && fclose(f) == 0 && ok;
    free(text);
    if (!ok || rename(tmp, o->output) != 0) {
        remove(tmp);
        return ys_fail(err, YS_EIO, "%s: cannot write", o->output);
    }
    if (!o->log_samples)
        return 0;
    /* lm-evaluation-harness's samples_<task>_<time>.jsonl beside the output */
    char stamp[32], dir[4096];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
    snprintf(dir, sizeof dir, "%s", o->output);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        char path[4600];
        snprintf(path, sizeof path, "%ssamples_%s_%s.jsonl", dir, t->spec->name, stamp);
        FILE *sf = fopen(path, "w");
        if (!sf)
            return ys_fail(err, YS_EIO, "%s: cannot write", path);
        for (size_t d = 0; d < t->n; d++) {
            const task_prompt *p = &t->prompts[d];
            cJSON *s = cJSON_CreateObject(), *doc = cJSON_AddObjectToObject(s, "doc");
            cJSON_AddNumberToObject(s, "doc_id", (double)d);
            const task_doc *td = &t->docs.docs[d];
            for (size_t f2 = 0; f2 < td->nfields; f2++)
                cJSON_AddStringToObject(doc, td->names[f2], td->values[f2]);
            cJSON_AddStringToObject(s, "target", p->target ? p->target : "");
            cJSON *args = cJSON_AddArrayToObject(s, "arguments"), *resps = cJSON_AddArrayToObject(s, "resps");
            cJSON *filt = cJSON_AddArrayToObject(s, "filtered_resps");
            if (t->cls) {
                /* the classifier's input and its logits */
                cJSON *pair = cJSON_CreateArray(), *lg = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateString(p->cls_text));
                if (p->cls_pair)
                    cJSON_AddItemToArray(pair, cJSON_CreateString(p->cls_pair));
                cJSON_AddItemToArray(args, pair);
                for (int c = 0; c < st->num_labels; c++)
                    cJSON_AddItemToArray(lg, cJSON_CreateNumber(t->cls_logits[d * (size_t)st->num_labels + (size_t)c]));
                cJSON_AddItemToArray(resps, lg);
                cJSON_AddItemToArray(filt, cJSON_CreateString(t->predictions[d]));
            } else if (t->spec->output == OUT_MULTIPLE_CHOICE || t->spec->output == OUT_LOGLIKELIHOOD) {
                for (size_t c = 0; c < p->nchoices; c++) {
                    cJSON *pair = cJSON_CreateArray();
                    cJSON_AddItemToArray(pair, cJSON_CreateString(p->contexts ? p->contexts[c] : p->context));
                    cJSON_AddItemToArray(pair, cJSON_CreateString(p->choices[c]));
                    cJSON_AddItemToArray(args, pair);
                    cJSON *r = cJSON_CreateArray();
                    cJSON_AddItemToArray(r, cJSON_CreateNumber(t->ll[t->off[d] + c]));
                    cJSON_AddItemToArray(r, cJSON_CreateBool(t->greedy[t->off[d] + c]));
                    cJSON *rr = cJSON_CreateArray();
                    cJSON_AddItemToArray(rr, r);
                    cJSON_AddItemToArray(resps, rr);
                    cJSON_AddItemToArray(filt, cJSON_Duplicate(r, 1));
                }
            } else if (t->spec->output == OUT_ROLLING) {
                cJSON *pair = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateString(p->context));
                cJSON_AddItemToArray(args, pair);
                cJSON_AddItemToArray(resps, cJSON_CreateNumber(t->doc_ll[d]));
                cJSON_AddItemToArray(filt, cJSON_CreateNumber(t->doc_ll[d]));
            } else {
                /* lm-eval logs (context, generation kwargs) */
                cJSON *pair = cJSON_CreateArray(), *kw = cJSON_CreateObject();
                cJSON_AddItemToArray(pair, cJSON_CreateString(p->context));
                cJSON *u = cJSON_AddArrayToObject(kw, "until");
                for (size_t k = 0; k < t->spec->nuntil; k++)
                    cJSON_AddItemToArray(u, cJSON_CreateString(t->spec->until[k]));
                cJSON_AddBoolToObject(kw, "do_sample", false);
                cJSON_AddNumberToObject(kw, "max_gen_toks", t->spec->max_gen_toks);
                cJSON_AddItemToArray(pair, kw);
                cJSON_AddItemToArray(args, pair);
                cJSON_AddItemToArray(resps, cJSON_CreateString(t->gen[d]));
                cJSON_AddItemToArray(filt, cJSON_CreateString(t->gen[d]));
            }
            cJSON *metrics = t->sample_metrics[d] ? cJSON_Parse(t->sample_metrics[d]) : NULL;
            const cJSON *it;
            cJSON_ArrayForEach(it, metrics) cJSON_AddItemToObject(s, it->string, cJSON_Duplicate(it, 1));
            cJSON_Delete(metrics);
            char *line = cJSON_PrintUnformatted(s);
            fprintf(sf, "%s\n", line ? line : "{}");
            free(line);
            cJSON_Delete(s);
        }
        fclose(sf);
    }
    return 0;
}
/* SHA-256 over the files of dir whose names end with one of suffixes, in
 * name order: the identity of a model's weights or tokenizer. */
static int hash_files(const char *dir, const char *const *names, size_t n, char hex[65], ys_error *err)
{
    sha256_ctx c;
    sha256_init(&c);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096], h[65];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat stt;
        if (stat(path, &stt) != 0)
            continue;
        int rc = sha256_file(path, h, err);
        if (rc < 0)
            return rc;
        sha256_update(&c, names[i], strlen(names[i]) + 1);
        sha256_update(&c, h, 64);
        found++;
    }
    sha256_final_hex(&c, hex);
    (void)found;
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A checkpoint folder's identity: its weight files and its tokenizer files.
 * A GGUF file holds both: its bytes are the weights' identity (so a
 * quantized file and the folder it came from are two models), and the
 * tokenizer's is derived from them. */
static int folder_hashes(const char *dir, char weights[65], char tok[65], char file_hash[65], ys_error *err)
{
    struct stat fst;
    if (stat(dir, &fst) == 0 && S_ISREG(fst.st_mode)) {
        char hbuf[65], *h = file_hash ? file_hash : hbuf;
        int rc = sha256_file(dir, h, err);
        if (rc < 0)
            return rc;
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, "gguf|", 5);
        sha256_update(&c, h, 64);
        sha256_final_hex(&c, weights);
        sha256_init(&c);
        sha256_update(&c, "gguf-tokenizer|", 15);
        sha256_update(&c, h, 64);
        sha256_final_hex(&c, tok);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d)
        return ys_fail(err, YS_EIO, "%s: cannot list the model folder", dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 12 && !strcmp(e->d_name + len - 12, ".safetensors"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_name);
    int rc = hash_files(dir, (const char *const *)names, n, weights, err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    static const char *tok_files[] = {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"};
    if (rc == 0)
        rc = hash_files(dir, tok_files, 4, tok, err);
    return rc;
}

/* A GGUF file's tensor types, most tensors first: "Q4_K x193, Q6_K x25, F32 x65". */
static int gguf_types(const char *path, char *buf, size_t cap, ys_error *err)
{
    gguf *g;
    int rc = gguf_open(path, &g, err);
    if (rc < 0)
        return rc;
    size_t count[64] = {0};
    for (size_t i = 0; i < gguf_tensor_count(g); i++) {
        int t = (int)gguf_tensor_at(g, i)->type;
        count[t >= 0 && t < 64 ? t : 63]++;
    }
    gguf_close(g);
    size_t o = 0;
    buf[0] = 0;
    for (;;) {
        int best = -1;
        for (int t = 0; t < 64; t++)
            if (count[t] && (best < 0 || count[t] > count[best]))
                best = t;
        if (best < 0 || o >= cap)
            break;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s x%zu", o ? ", " : "", gguf_type_name(best), count[best]);
        count[best] = 0;
    }
    return 0;
}

int rn_model_hashes(run_state *st, ys_error *err)
{
    int rc = folder_hashes(st->o->model_dir, st->weights_hash, st->tok_hash, st->gguf_hash, err);
    if (rc == 0 && st->gguf_hash[0])
        rc = gguf_types(st->o->model_dir, st->gguf_types, sizeof st->gguf_types, err);
    /* the base as stored: its own identity, never mixed into the model's */
    if (rc == 0 && st->o->kl_base && !st->o->rescore)
        rc = folder_hashes(st->o->kl_base, st->kl_base_hash, st->kl_base_tok_hash, NULL, err);
    if (rc == 0 && st->o->adapter_dir) {
        /* the weights evaluated are the base's and the adapter's */
        static const char *ad_files[] = {"adapter_config.json", "adapter_model.safetensors"};
        if ((rc = hash_files(st->o->adapter_dir, ad_files, 2, st->adapter_hash, err)) < 0)
            return rc;
        memcpy(st->base_hash, st->weights_hash, sizeof st->base_hash);
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, "base|", 5);
        sha256_update(&c, st->base_hash, 64);
        sha256_update(&c, "|adapter|", 9);
        sha256_update(&c, st->adapter_hash, 64);
        sha256_final_hex(&c, st->weights_hash);
    }
    if (rc == 0 && (st->o->quantize || st->o->quantize_head || st->o->compute_bf16 || st->o->compute_int8)) {
        /* quantized weights (or another arithmetic) are other weights: another model, other answers */
        char base[65];
        memcpy(base, st->weights_hash, sizeof base);
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, "weights|", 8);
        sha256_update(&c, base, 64);
        sha256_update(&c, "|quantized|", 11);
        sha256_update(&c, st->compute, strlen(st->compute));
        sha256_final_hex(&c, st->weights_hash);
    }
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

void rn_model_name(const run_options *o, char *buf, size_t cap)
{
    if (o->adapter_dir)
        snprintf(buf, cap, "%s+%s", base_name(o->model_dir), base_name(o->adapter_dir));
    else
        snprintf(buf, cap, "%s", base_name(o->model_dir));
    if (o->quantize || o->quantize_head || o->compute_bf16 || o->compute_int8) {   /* "model@int4-g128", "model@bf16", "model@i8dot" */
        size_t n = strlen(buf);
        char q[64];
        rn_compute_name(o, q, sizeof q);
        snprintf(buf + n, cap > n ? cap - n : 0, "@%s", q);
    }
}

void rn_compute_name(const run_options *o, char *buf, size_t cap)
{
    if (o->compute_bf16)
        snprintf(buf, cap, "bf16");
    else if (!o->quantize && !o->quantize_head)   /* a GGUF file's blocks in int8 dot products, or as stored */
        snprintf(buf, cap, "%s", o->compute_int8 ? "i8dot" : "float32");
    else {   /* "int8", "int4-g32", "int4-g32-head-int8", "head-int8", then "-i8dot" */
        size_t n = 0;
        const char *q[2] = {o->quantize, o->quantize_head};
        for (int i = 0; i < 2 && n < cap; i++)
            if (q[i] && !strcmp(q[i], "int8"))
                n += (size_t)snprintf(buf + n, cap - n, "%s%sint8", n ? "-" : "", i ? "head-" : "");
            else if (q[i])
                n += (size_t)snprintf(buf + n, cap - n, "%s%s%s-g%d", n ? "-" : "", i ? "head-" : "", q[i],
                                      o->group_size > 0 ? o->group_size : 128);
        if (n < cap)
            snprintf(buf + n, cap - n, "%s", o->compute_int8 ? "-i8dot" : "");
    }
}

/* Open the store, record the model, and start (or resume) the run row. */
int rn_begin_run(run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    int rc = rs_open_wait(o->db, o->db_timeout_ms ? o->db_timeout_ms : RS_DEFAULT_TIMEOUT_MS, &st->store, err);
    if (rc < 0)
        return rc;
    char name[512];
    rn_model_name(o, name, sizeof name);
    /* a GGUF file's dtype is its tensor types */
    rs_model m = {.name = name, .path = o->model_dir, .architecture = st->arch,
                  .dtype = st->gguf_types[0] ? st->gguf_types : st->compute,
                  .weights_sha256 = st->weights_hash, .tokenizer_sha256 = st->tok_hash};
    if (o->adapter_dir)
        m.base_weights_sha256 = st->base_hash, m.adapter_path = o->adapter_dir, m.adapter_sha256 = st->adapter_hash;
    int64_t model_id, base_id = 0;
    if ((rc = rs_model_id(st->store, &m, &model_id, err)) < 0)
        return rc;
    if (o->kl_base && o->resume_run <= 0) {
        /* the base is a model of the store like any other (as stored, so
         * "float32"; its architecture from the loaded weights) */
        char bname[512];
        snprintf(bname, sizeof bname, "%s", base_name(o->kl_base));
        rs_model bm = {.name = bname, .path = o->kl_base, .architecture = st->kl_base_arch, .dtype = "float32",
                       .weights_sha256 = st->kl_base_hash, .tokenizer_sha256 = st->kl_base_tok_hash};
        if ((rc = rs_model_id(st->store, &bm, &base_id, err)) < 0)
            return rc;
    }
    if (o->resume_run > 0) {
        st->run_id = o->resume_run;
        return 0;
    }
    /* everything needed to resume the run goes into its settings */
    cJSON *set = cJSON_CreateObject(), *inc = cJSON_AddArrayToObject(set, "include");
    cJSON_AddStringToObject(set, "model", o->model_dir);
    if (o->adapter_dir)
        cJSON_AddStringToObject(set, "adapter", o->adapter_dir);
    if (o->quantize)
        cJSON_AddStringToObject(set, "quantize", o->quantize);
    if (o->quantize_head)
        cJSON_AddStringToObject(set, "quantize_head", o->quantize_head);
    if (o->quantize || o->quantize_head)
        cJSON_AddNumberToObject(set, "group_size", o->group_size);
    if (o->compute_bf16 || o->compute_int8)
        cJSON_AddStringToObject(set, "compute", o->compute_bf16 ? "bf16" : "int8");
    if (o->kl_base)
        cJSON_AddStringToObject(set, "kl_base", o->kl_base);
    cJSON_AddStringToObject(set, "tasks", o->tasks);
    cJSON_AddNumberToObject(set, "limit", (double)o->limit);
    cJSON_AddNumberToObject(set, "num_fewshot", o->num_fewshot);
    if (o->fewshot_sampler)
        cJSON_AddStringToObject(set, "fewshot_sampler", o->fewshot_sampler);
    cJSON_AddNumberToObject(set, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(set, "seed", (double)o->seed);
    cJSON_AddBoolToObject(set, "skip_bad_rows", o->skip_bad_rows);
    if (o->allow_empty)
        cJSON_AddBoolToObject(set, "allow_empty", true);
    if (o->data_dir)
        cJSON_AddStringToObject(set, "data_dir", o->data_dir);
    else
        cJSON_AddNullToObject(set, "data_dir");
    for (size_t i = 0; i < o->ninclude; i++)
        cJSON_AddItemToArray(inc, cJSON_CreateString(o->include[i]));
    if (o->dist) {
        /* provenance of a run over MPI ranks: how many, in pipelines of
         * how many stages, on which hosts (rank order); --resume reads none
         * of it */
        cJSON_AddNumberToObject(set, "ranks", o->dist->size);
        if (rn_dist_stages(o->dist) > 1)   /* --pipeline K */
            cJSON_AddNumberToObject(set, "pipeline", rn_dist_stages(o->dist));
        cJSON *hosts = cJSON_AddArrayToObject(set, "hosts");
        for (int r = 0; r < o->dist->size; r++)
            cJSON_AddItemToArray(hosts, cJSON_CreateString(o->dist->hosts ? o->dist->hosts[r] : "?"));
    }
    char *settings = cJSON_PrintUnformatted(set);
    cJSON_Delete(set);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    rs_run r = {.model_id = model_id, .tasks = o->tasks, .version = YS_VERSION, .settings_json = settings,
                .host = host, .seed = (int64_t)o->seed, .threads = o->threads, .kl_base_model_id = base_id};
    rc = settings ? rs_run_begin(st->store, &r, &st->run_id, err) : ys_fail(err, YS_ENOMEM, "out of memory");
    free(settings);
    return rc;
}

/* ["text"] or ["text", "text_pair"], malloc'd (NULL when out of memory). */
static char *cls_input_json(const task_prompt *p)
{
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateString(p->cls_text));
    if (p->cls_pair)
        cJSON_AddItemToArray(a, cJSON_CreateString(p->cls_pair));
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

/* Samples and results of every task, then the run is complete. Samples
 * replace by (run, task, doc): a resumed run never doubles them. */
int rn_store_run(const run_state *st, ys_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < st->ntasks && rc == 0; i++) {
        const task_run *t = &st->tasks[i];
        rs_sample *smp = rn_calloc(t->n, sizeof *smp);
        if (!smp) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        /* a classifier's input is a text or a pair: stored as a JSON array */
        char **cls_in = t->cls ? rn_calloc(t->n, sizeof *cls_in) : NULL;
        for (size_t d = 0; cls_in && d < t->n; d++)
            cls_in[d] = cls_input_json(&t->prompts[d]);
        for (size_t d = 0; d < t->n; d++)
            smp[d] = (rs_sample){.task = t->spec->name, .doc_id = (int64_t)d,
                                 .prompt = cls_in && cls_in[d] ? cls_in[d] : t->prompts[d].context,
                                 .prediction = t->predictions ? t->predictions[d] : NULL,
                                 .target = t->prompts[d].target, .metrics_json = t->sample_metrics[d]};
        /* batches of 256 samples: short transactions */
        for (size_t b = 0; b < t->n && rc == 0; b += 256)
            rc = rs_samples_put(st->store, st->run_id, smp + b, t->n - b < 256 ? t->n - b : 256, err);
        free(smp);
        rs_result res[17];
        for (size_t m2 = 0; m2 < t->nresults; m2++)
            res[m2] = (rs_result){.task = t->spec->name, .metric = t->metric_names[m2], .value = t->values[m2],
                                  .stderr_ = t->stderrs[m2], .ci_low = NAN, .ci_high = NAN, .n = (int64_t)t->n,
                                  .higher_is_better = t->hib[m2], .task_hash = t->hash};
        size_t nres = t->nresults;
        double km, ku;
        int64_t kn;
        if (task_kld(st, t, &km, &ku, &kn))
            res[nres++] = (rs_result){.task = t->spec->name, .metric = "kld_mean", .value = km, .stderr_ = ku,
                                      .ci_low = NAN, .ci_high = NAN, .n = kn, .higher_is_better = false,
                                      .task_hash = t->hash};
        if (rc == 0)
            rc = rs_results_put(st->store, st->run_id, res, nres, err);
        if (rc == 0 && t->n) {
            /* provenance: the first prompt exactly as the model saw it */
            size_t cap = 16 + 12 * t->nfirst;
            char *ids = malloc(cap);
            size_t len = ids ? (size_t)snprintf(ids, cap, "[") : 0;
            for (size_t k = 0; ids && k < t->nfirst; k++)
                len += (size_t)snprintf(ids + len, cap - len, "%s%d", k ? ", " : "", t->first_ids[k]);
            if (ids)
                snprintf(ids + len, cap - len, "]");
            rc = !ids ? ys_fail(err, YS_ENOMEM, "out of memory") : rs_prompt_put(st->store, st->run_id, t->spec->name,
                               cls_in && cls_in[0] ? cls_in[0] : t->prompts[0].context, ids, err);
            free(ids);
        }
        for (size_t d = 0; cls_in && d < t->n; d++)
            free(cls_in[d]);
        free(cls_in);
    }
    for (size_t g = 0; g < st->ngroups && rc == 0; g++) {
        rs_result gr = {.task = st->groups[g], .metric = "score", .value = rn_group_score(st, g), .stderr_ = NAN,
                        .ci_low = NAN, .ci_high = NAN, .n = 0, .higher_is_better = true};
        rc = rs_results_put(st->store, st->run_id, &gr, 1, err);
    }
    if (rc == 0)
        rc = rs_run_end(st->store, st->run_id, "complete", err);
    return rc;
}
/* A value in the summary's 12 columns: 4 decimals, or 5 significant
 * digits once it would not fit (a random model's word perplexity). */
static void print_value(double v, int width)
{
    if (isfinite(v) && fabs(v) >= 1e7)
        printf("%*.5g", width, v);
    else
        printf("%*.4f", width, v);
}

void rn_print_summary(const run_state *st, double wall, double engine)
{
    printf("%-18s %-18s %12s %10s %6s  %s\n", "task", "metric", "value", "stderr", "n", "data");
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        for (size_t m = 0; m < t->nresults; m++) {
            printf("%-18s %-18s ", m ? "" : t->spec->name, t->metric_names[m]);
            print_value(t->values[m], 12);
            printf(" ");
            if (isnan(t->stderrs[m]))
                printf("%10s", "N/A");
            else
                print_value(t->stderrs[m], 10);
            printf(" %6zu  %s\n", t->n, m ? "" : t->docs.sample ? "SAMPLE data (not the official set)" : t->docs.path);
        }
        if (!st->kld_measured)
            continue;
        /* --kl-base: n is the number of continuation positions */
        double km, ku;
        int64_t kn;
        printf("%-18s %-18s ", t->nresults ? "" : t->spec->name, "kld_mean");
        if (task_kld(st, t, &km, &ku, &kn)) {
            print_value(km, 12);
            printf(" ");
            if (isnan(ku))
                printf("%10s", "N/A");
            else
                print_value(ku, 10);
            printf(" %6lld  positions, against %s\n", (long long)kn, st->o->kl_base);
        } else {
            printf("%12s %10s %6s  %s\n", "-", "-", "", kld_skipped(t));
        }
    }
    for (size_t g = 0; g < st->ngroups; g++) {
        printf("%-18s %-18s ", st->groups[g], st->group_aggregate[g][0] == 'g' ? "glue score" : "mean");
        print_value(rn_group_score(st, g), 12);
        printf("\n");
    }
    fprintf(stderr, "wall %.2fs, engine %.2fs (%.1f%% outside the engine), store %.3fs (%.2f%%)\n", wall, engine,
            wall > 0 ? 100.0 * (wall - engine) / wall : 0.0, st->store_s, wall > 0 ? 100.0 * st->store_s / wall : 0.0);
    model_prefix_stats ps;
    model_prefix_cache_stats(st->pc, &ps);
    if (ps.tokens_input) {   /* log-likelihood requests' input tokens, and where they came from */
        uint64_t shared = ps.tokens_input - ps.tokens_computed - ps.tokens_served;
        fprintf(stderr,
                "prompt tokens %llu: computed %llu, served from the prefix cache %llu (%.1f%%), shared with the "
                "request before %llu (cache: %.1f MB in %zu blocks, %llu evicted)\n",
                (unsigned long long)ps.tokens_input, (unsigned long long)ps.tokens_computed,
                (unsigned long long)ps.tokens_served, 100.0 * (double)ps.tokens_served / (double)ps.tokens_input,
                (unsigned long long)shared, (double)ps.bytes / 1048576.0, ps.blocks,
                (unsigned long long)ps.evicted_blocks);
    }
}

