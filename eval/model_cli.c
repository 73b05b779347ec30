/* model_cli.c — see model_cli.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "encoder.h"
#include "model_cli.h"
#include "seq2seq.h"
#include "perplexity.h"
#include "tokenizer.h"
#include "checkpoint.h"
#include "ys_unicode.h"

/* Parse whitespace-separated token ids. Returns the count, or -1 with err. */
long mc_parse_ids(const char *s, int32_t **ids, const char *where, ys_error *err)
{
    size_t cap = 16, n = 0;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids)
        return ys_fail(err, YS_ENOMEM, "out of memory"), -1;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')) {
            free(*ids);
            *ids = NULL;
            return ys_fail(err, YS_EINPUT, "%s: '%.20s' is not a token id", where, s), -1;
        }
        if (n == cap) {
            int32_t *p = realloc(*ids, (cap *= 2) * sizeof *p);
            if (!p) {
                free(*ids);
                *ids = NULL;
                return ys_fail(err, YS_ENOMEM, "out of memory"), -1;
            }
            *ids = p;
        }
        (*ids)[n++] = (int32_t)v;
        s = end;
    }
    return (long)n;
}

void mc_print_json_string(const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *t = cJSON_PrintUnformatted(j);
    fputs(t ? t : "null", stdout);
    free(t);
    cJSON_Delete(j);
}

/* %.17g: the parity checks compare log-probabilities to 1e-4 and more. */
void mc_print_num(double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", stdout);
    else
        printf("%.17g", v);
}


/* Common option parsing for the four commands; `allowed` lists the
 * options this command takes (the rest are usage errors). */
int mc_parse_model_args(const char *cmd, int argc, char **argv, const char *help, const char *allowed,
                            model_args *a)
{
    memset(a, 0, sizeof *a);
    a->max_tokens = 64;
    a->threads = 0;
    a->top_p = 1.0;
    a->num_beams = -1, a->no_repeat = -1, a->min_tokens = -1, a->length_penalty = NAN; /* -1/NAN: the model's default */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(help, stdout);
            exit(EXIT_OK);
        }
        if (arg[0] != '-' || !arg[1]) {
            if (!strstr(allowed, " TEXT ") || a->text)
                return cli_usage_error(cmd, "unexpected argument '%s'", arg);
            a->text = arg;
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
        char key[70];
        snprintf(key, sizeof key, " %s ", name);
        if (!strstr(allowed, key))
            return cli_usage_error(cmd, "unknown option '%s'", arg);
        bool flag = !strcmp(name, "--json") || !strcmp(name, "--ignore-eos") || !strcmp(name, "--no-special-tokens");
        int r = cli_opt(argc, argv, &i, name, !flag, &v);
        if (r <= 0)
            return cli_usage_error(cmd, "option %s needs a value", name);
        long n;
        double d;
        if (!strcmp(name, "--model")) a->model = v;
        else if (!strcmp(name, "--adapter")) a->adapter = v;
        else if (!strcmp(name, "--compute")) {
            if ((r = mc_parse_compute(cmd, v, &a->compute_bf16, &a->compute_int8)) != 0)
                return r;
        } else if (!strcmp(name, "--group-size")) {
            if ((r = mc_parse_group_size(cmd, v, &a->group_size)) != 0)
                return r;
        } else if (!strcmp(name, "--quantize") || !strcmp(name, "--quantize-head")) {
            ys_error qe = {0};
            if (model_quant_parse(v, !strcmp(name, "--quantize-head") ? &a->quantize_head : &a->quantize, &qe) < 0)
                return cli_usage_error(cmd, "%s: %s", name, qe.msg);
        }
        else if (!strcmp(name, "--file")) a->file = v;
        else if (!strcmp(name, "--jsonl")) a->jsonl = v;
        else if (!strcmp(name, "--text")) a->text = v;
        else if (!strcmp(name, "--ids")) a->ids = v;
        else if (!strcmp(name, "--prompt")) a->prompt = v;
        else if (!strcmp(name, "--prompt-ids")) a->prompt_ids = v;
        else if (!strcmp(name, "--prompts-file")) a->prompts_file = v;
        else if (!strcmp(name, "--text-pair")) a->text_pair = v;
        else if (!strcmp(name, "--token-type-ids")) a->type_ids = v;
        else if (!strcmp(name, "--source-ids")) a->source_ids = v;
        else if (!strcmp(name, "--early-stopping")) {
            if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "never"))
                return cli_usage_error(cmd, "--early-stopping takes true, false or never");
            a->early_stopping = v;
        }
        else if (!strcmp(name, "--json")) a->json = true;
        else if (!strcmp(name, "--ignore-eos")) a->ignore_eos = true;
        else if (!strcmp(name, "--no-special-tokens")) a->no_special = true;
        else if (!strcmp(name, "--stop")) {
            if (a->nstops == 16)
                return cli_usage_error(cmd, "at most 16 --stop strings");
            a->stops[a->nstops++] = v;
        } else if (!strcmp(name, "--temperature") || !strcmp(name, "--top-p")) {
            if (cli_parse_double(v, &d) < 0 || d < 0)
                return cli_usage_error(cmd, "%s needs a non-negative number", name);
            *(name[2] == 't' && name[3] == 'e' ? &a->temperature : &a->top_p) = d;
        } else if (!strcmp(name, "--length-penalty")) {
            if (cli_parse_double(v, &d) < 0)
                return cli_usage_error(cmd, "%s needs a number", name);
            a->length_penalty = d;
        } else {
            if (cli_parse_int(v, 0, 1L << 40, &n) < 0)
                return cli_usage_error(cmd, "%s needs a non-negative integer", name);
            if (!strcmp(name, "--max-tokens")) a->max_tokens = n, a->max_tokens_set = true;
            else if (!strcmp(name, "--num-beams")) a->num_beams = n;
            else if (!strcmp(name, "--no-repeat-ngram-size")) a->no_repeat = n;
            else if (!strcmp(name, "--ctx")) a->ctx = n;
            else if (!strcmp(name, "--stride")) a->stride = n;
            else if (!strcmp(name, "--threads")) a->threads = n;
            else if (!strcmp(name, "--top-k")) a->top_k = n;
            else if (!strcmp(name, "--from")) a->from = n;
            else if (!strcmp(name, "--min-tokens")) a->min_tokens = n;
            else if (!strcmp(name, "--seed")) a->seed = n;
            else if (!strcmp(name, "--batch-size")) {
                if (n < 1 || n > 64)
                    return cli_usage_error(cmd, "--batch-size needs 1..64");
                a->batch_size = n;
            }
        }
    }
    if (!a->model)
        return cli_usage_error(cmd, "--model DIR is required");
    return mc_check_precision(cmd, a->quantize, a->quantize_head, a->group_size, a->compute_bf16, a->compute_int8,
                              a->model);
}

int mc_parse_compute(const char *cmd, const char *v, bool *bf16, bool *int8)
{
    if (strcmp(v, "exact") && strcmp(v, "bf16") && strcmp(v, "int8"))
        return cli_usage_error(cmd, "--compute takes exact, bf16 or int8");
    *bf16 = !strcmp(v, "bf16");
    *int8 = !strcmp(v, "int8");
    return 0;
}

int mc_parse_group_size(const char *cmd, const char *v, int *out)
{
    long n;
    if (cli_parse_int(v, 32, 128, &n) < 0 || (n != 32 && n != 128))
        return cli_usage_error(cmd, "--group-size takes 32 or 128");
    *out = (int)n;
    return 0;
}

int mc_check_precision(const char *cmd, model_quant q, model_quant qh, int group_size, bool bf16, bool int8,
                       const char *model)
{
    bool quant = q != MODEL_Q_NONE || qh != MODEL_Q_NONE;
    if (group_size && q != MODEL_Q_INT4 && q != MODEL_Q_INT4_SYM && qh != MODEL_Q_INT4 && qh != MODEL_Q_INT4_SYM)
        return cli_usage_error(cmd, "--group-size is for --quantize int4 or int4-sym");
    if (bf16 && quant)
        return cli_usage_error(cmd, "--compute bf16 and --quantize do not combine: choose one");
    struct stat st;   /* a GGUF file (a regular file) has its own quantized blocks */
    if (int8 && !quant && !(model && stat(model, &st) == 0 && S_ISREG(st.st_mode)))
        return cli_usage_error(cmd, "--compute int8 needs --quantize int8, int4 or int4-sym (or a GGUF file)");
    return 0;
}

int mc_load_model(const model_args *a, model **m, ys_error *err)
{
    mc_adapter_warning(a);
    model_opts o = {.adapter_dir = a->adapter, .quantize = a->quantize, .quantize_head = a->quantize_head,
                    .group_size = a->group_size,
                    .compute_bf16 = a->compute_bf16, .compute_int8 = a->compute_int8};
    int rc = model_load_opts(a->model, &o, m, err);
    if (rc == 0 && a->threads > 0 && (rc = model_set_threads(*m, (int)a->threads, err)) < 0) {
        model_free(*m);
        *m = NULL;
    }
    return rc;
}

void mc_print_ids_json(const int32_t *ids, size_t n)
{
    fputs("[", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", ids[i]);
    fputs("]", stdout);
}



void mc_free_id_lines(mc_id_lines *l)
{
    for (size_t s = 0; s < l->n; s++)
        free(l->seqs[s]);
    free(l->seqs), free(l->lens), free(l->lines);
    memset(l, 0, sizeof *l);
}

int mc_check_id_range(const mc_id_lines *l, const char *path, int32_t end, const char *what, ys_error *err)
{
    for (size_t s = 0; s < l->n; s++)
        for (size_t k = 0; k < l->lens[s]; k++)
            if (l->seqs[s][k] < 0 || l->seqs[s][k] >= end)
                return ys_fail(err, YS_EINPUT, "%s:%ld: token %zu: %s %d outside %s [0, %d)", path,
                               l->lines ? l->lines[s] : (long)s + 1, k + 1, what, (int)l->seqs[s][k],
                               strcmp(what, "id") ? "the token types" : "the vocabulary", (int)end);
    return 0;
}

int mc_read_id_lines(const char *path, const tok_tokenizer *t, size_t min_len, const char *why, mc_id_lines *out,
                         ys_error *err)
{
    memset(out, 0, sizeof *out);
    char *data = cli_read_file(path, NULL, err);
    if (!data)
        return -1;
    size_t cap = 16;
    out->seqs = calloc(cap, sizeof *out->seqs);
    out->lens = calloc(cap, sizeof *out->lens);
    out->lines = calloc(cap, sizeof *out->lines);
    long lineno = 0;
    int rc = out->seqs && out->lens && out->lines ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (char *line = data; rc == 0 && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (*line) {
            if (out->n == cap) {
                cap *= 2;
                int32_t **s2 = realloc(out->seqs, cap * sizeof *s2);
                if (s2)
                    out->seqs = s2;
                size_t *l2 = s2 ? realloc(out->lens, cap * sizeof *l2) : NULL;
                if (l2)
                    out->lens = l2;
                long *n2 = l2 ? realloc(out->lines, cap * sizeof *n2) : NULL;
                if (n2)
                    out->lines = n2;
                if (!s2 || !l2 || !n2) {
                    rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    break;
                }
            }
            char where[600];
            snprintf(where, sizeof where, "%s:%ld", path, lineno);
            size_t k = out->n++;
            out->seqs[k] = NULL;
            out->lines[k] = lineno;
            if (t) {
                rc = tok_encode(t, line, strlen(line), true, &out->seqs[k], &out->lens[k], err);
            } else {
                long n = mc_parse_ids(line, &out->seqs[k], where, err);
                rc = n < 0 ? -1 : 0;
                out->lens[k] = n < 0 ? 0 : (size_t)n;
            }
            if (rc == 0 && out->lens[k] < min_len)
                rc = ys_fail(err, YS_EINPUT, "%s: %s", where, why);
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    if (rc == 0 && out->n == 0)
        rc = ys_fail(err, YS_EINPUT, "%s: no sequences", path);
    free(data);
    if (rc < 0)
        mc_free_id_lines(out);
    return rc;
}

void mc_adapter_warning(const model_args *a)
{
    char w[600];
    if (!a->adapter)
        return;
    ckpt_adapter_warning(a->model, a->adapter, w, sizeof w);
    if (w[0])
        fprintf(stderr, "yardstick: warning: %s\n", w);
}
