/* yardstick tokenize | logprobs | generate | perplexity — the engine from
 * the command line. These are also the interfaces the parity checks use.
 *
 * A model directory holds config.json, the safetensors weights and the
 * tokenizer files; `tokenize` needs only the tokenizer, and the `--ids` /
 * `--prompt-ids` forms need no tokenizer at all. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "model.h"
#include "perplexity.h"
#include "tokenizer.h"
#include "ys_unicode.h"

/* ---- shared helpers ------------------------------------------------------ */

/* Parse whitespace-separated token ids. Returns the count, or -1 with err. */
static long parse_ids(const char *s, int32_t **ids, const char *where, ys_error *err)
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

static void print_json_string(const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *t = cJSON_PrintUnformatted(j);
    fputs(t ? t : "null", stdout);
    free(t);
    cJSON_Delete(j);
}

/* %.17g: the parity checks compare log-probabilities to 1e-4 and more. */
static void print_num(double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", stdout);
    else
        printf("%.17g", v);
}

typedef struct {
    const char *model, *file, *jsonl, *text, *ids, *prompt, *prompt_ids;
    bool json, ignore_eos, no_special;
    long max_tokens, ctx, stride, threads, top_k;
    double temperature, top_p;
    long seed;
    const char *stops[16];
    int nstops;
} model_args;

/* Common option parsing for the four commands; `allowed` lists the
 * options this command takes (the rest are usage errors). */
static int parse_model_args(const char *cmd, int argc, char **argv, const char *help, const char *allowed,
                            model_args *a)
{
    memset(a, 0, sizeof *a);
    a->max_tokens = 64;
    a->threads = 0;
    a->top_p = 1.0;
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
        else if (!strcmp(name, "--file")) a->file = v;
        else if (!strcmp(name, "--jsonl")) a->jsonl = v;
        else if (!strcmp(name, "--text")) a->text = v;
        else if (!strcmp(name, "--ids")) a->ids = v;
        else if (!strcmp(name, "--prompt")) a->prompt = v;
        else if (!strcmp(name, "--prompt-ids")) a->prompt_ids = v;
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
        } else {
            if (cli_parse_int(v, 0, 1L << 40, &n) < 0)
                return cli_usage_error(cmd, "%s needs a non-negative integer", name);
            if (!strcmp(name, "--max-tokens")) a->max_tokens = n;
            else if (!strcmp(name, "--ctx")) a->ctx = n;
            else if (!strcmp(name, "--stride")) a->stride = n;
            else if (!strcmp(name, "--threads")) a->threads = n;
            else if (!strcmp(name, "--top-k")) a->top_k = n;
            else if (!strcmp(name, "--seed")) a->seed = n;
        }
    }
    if (!a->model)
        return cli_usage_error(cmd, "--model DIR is required");
    return 0;
}

static int load_model(const model_args *a, model **m, ys_error *err)
{
    int rc = model_load(a->model, m, err);
    if (rc == 0 && a->threads > 0 && (rc = model_set_threads(*m, (int)a->threads, err)) < 0) {
        model_free(*m);
        *m = NULL;
    }
    return rc;
}

/* ---- tokenize ------------------------------------------------------------ */

static const char tokenize_help[] =
    "usage: yardstick tokenize --model DIR [--json] [--no-special-tokens] (TEXT | --file F)\n"
    "       yardstick tokenize --model DIR --jsonl F\n"
    "\n"
    "Token ids and pieces of TEXT (or the whole of file F), special tokens added as\n"
    "the tokenizer's post-processor does unless --no-special-tokens. --jsonl F reads\n"
    "lines {\"text\": ..., \"add_special_tokens\": true|false} and prints one line each,\n"
    "{\"ids\": [...], \"decoded\": ...}, decoded with special tokens kept.\n";

static void print_ids_json(const int32_t *ids, size_t n)
{
    fputs("[", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", ids[i]);
    fputs("]", stdout);
}

static int tokenize_jsonl(const tok_tokenizer *t, const char *path, ys_error *err)
{
    char *text = cli_read_file(path, NULL, err);
    if (!text)
        return -1;
    long lineno = 0;
    int rc = 0;
    for (char *line = text; *line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (*line) {
            cJSON *o = cJSON_Parse(line);
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(o, "text");
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "add_special_tokens");
            if (!o || !cJSON_IsString(tx)) {
                rc = ys_fail(err, YS_EINPUT, "%s:%ld: %s", path, lineno,
                             o ? "missing string field 'text'" : "malformed JSON");
            } else if (sp && !cJSON_IsBool(sp)) {
                rc = ys_fail(err, YS_EINPUT, "%s:%ld: field 'add_special_tokens' is not a boolean", path, lineno);
            } else {
                int32_t *ids = NULL;
                size_t n = 0;
                char *dec = NULL;
                if ((rc = tok_encode(t, tx->valuestring, strlen(tx->valuestring), sp ? cJSON_IsTrue(sp) : true, &ids, &n,
                                     err)) == 0 &&
                    (rc = tok_decode(t, ids, n, false, &dec, err)) == 0) {
                    fputs("{\"ids\": ", stdout);
                    print_ids_json(ids, n);
                    fputs(", \"decoded\": ", stdout);
                    print_json_string(dec);
                    fputs("}\n", stdout);
                } else {
                    char m[sizeof err->msg];
                    snprintf(m, sizeof m, "%s", err->msg);
                    ys_fail(err, err->code, "%s:%ld: %s", path, lineno, m);
                }
                free(ids);
                free(dec);
            }
            cJSON_Delete(o);
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(text);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    model_args a;
    int rc = parse_model_args("tokenize", argc, argv, tokenize_help,
                              " --model --json --file --jsonl --no-special-tokens TEXT ", &a);
    if (rc)
        return rc;
    if (!!a.text + !!a.file + !!a.jsonl != 1)
        return cli_usage_error("tokenize", "give exactly one of TEXT, --file F or --jsonl F");
    ys_error err = {0};
    tok_tokenizer *t;
    if (tok_load(a.model, &t, &err) < 0)
        return cli_fail(&err);
    if (a.jsonl) {
        rc = tokenize_jsonl(t, a.jsonl, &err);
        tok_free(t);
        return rc < 0 ? cli_fail(&err) : EXIT_OK;
    }
    size_t len;
    char *text = a.file ? cli_read_file(a.file, &len, &err) : strdup(a.text);
    if (!text) {
        tok_free(t);
        return cli_fail(&err);
    }
    if (!a.file)
        len = strlen(text);
    int32_t *ids = NULL;
    size_t n = 0;
    rc = tok_encode(t, text, len, !a.no_special, &ids, &n, &err);
    if (rc == 0) {
        if (a.json) {
            fputs("{\"ids\": ", stdout);
            print_ids_json(ids, n);
            fputs(", \"pieces\": [", stdout);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fputs(", ", stdout);
                const char *p = tok_piece(t, ids[i]);
                print_json_string(p ? p : "");
            }
            fputs("]}\n", stdout);
        } else {
            for (size_t i = 0; i < n; i++) {
                const char *p = tok_piece(t, ids[i]);
                printf("%d\t%s\n", ids[i], p ? p : "");
            }
        }
    }
    free(ids);
    free(text);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}

/* ---- logprobs ------------------------------------------------------------ */

static const char logprobs_help[] =
    "usage: yardstick logprobs --model DIR (--text F | --ids F) [--json] [--threads N]\n"
    "\n"
    "For each line of F (a text, or whitespace-separated token ids), the log-probability\n"
    "of every next token given the tokens before it, their sum, the count and the\n"
    "perplexity exp(-sum/count). Texts are tokenized with the tokenizer's special\n"
    "tokens (e.g. Llama's BOS). All lines are scored as one batch; --json prints\n"
    "{\"logprobs\": [...], \"sum\": ..., \"count\": ..., \"perplexity\": ...} per line.\n";

int cmd_logprobs(int argc, char **argv)
{
    model_args a;
    int rc = parse_model_args("logprobs", argc, argv, logprobs_help, " --model --json --text --ids --threads ", &a);
    if (rc)
        return rc;
    if (!!a.text + !!a.ids != 1)
        return cli_usage_error("logprobs", "give exactly one of --text F or --ids F");
    ys_error err = {0};
    const char *path = a.text ? a.text : a.ids;
    char *data = cli_read_file(path, NULL, &err);
    if (!data)
        return cli_fail(&err);
    tok_tokenizer *t = NULL;
    if (a.text && tok_load(a.model, &t, &err) < 0) {
        free(data);
        return cli_fail(&err);
    }
    /* one sequence per non-empty line */
    size_t cap = 16, nseq = 0;
    int32_t **seqs = calloc(cap, sizeof *seqs);
    size_t *lens = calloc(cap, sizeof *lens);
    long lineno = 0;
    rc = seqs && lens ? 0 : ys_fail(&err, YS_ENOMEM, "out of memory");
    for (char *line = data; rc == 0 && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (*line) {
            if (nseq == cap) {
                cap *= 2;
                int32_t **s2 = realloc(seqs, cap * sizeof *s2);
                size_t *l2 = s2 ? realloc(lens, cap * sizeof *l2) : NULL;
                if (s2)
                    seqs = s2;
                if (l2)
                    lens = l2;
                if (!s2 || !l2) {
                    rc = ys_fail(&err, YS_ENOMEM, "out of memory");
                    break;
                }
            }
            char where[600];
            snprintf(where, sizeof where, "%s:%ld", path, lineno);
            if (t) {
                rc = tok_encode(t, line, strlen(line), true, &seqs[nseq], &lens[nseq], &err);
            } else {
                long n = parse_ids(line, &seqs[nseq], where, &err);
                rc = n < 0 ? -1 : 0;
                lens[nseq] = n < 0 ? 0 : (size_t)n;
            }
            if (rc == 0 && lens[nseq] < 2)
                rc = ys_fail(&err, YS_EINPUT, "%s: needs at least two tokens to score a next token", where);
            nseq++;
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    if (rc == 0 && nseq == 0)
        rc = ys_fail(&err, YS_EINPUT, "%s: no sequences", path);
    model *m = NULL;
    double **lp = NULL;
    if (rc == 0)
        rc = load_model(&a, &m, &err);
    if (rc == 0) {
        lp = calloc(nseq, sizeof *lp);
        for (size_t s = 0; lp && s < nseq; s++)
            if (!(lp[s] = malloc(lens[s] * sizeof **lp)))
                rc = ys_fail(&err, YS_ENOMEM, "out of memory");
        if (!lp)
            rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = model_logprobs(m, (const int32_t *const *)seqs, lens, nseq, NULL, lp, NULL, NULL, &err);
    for (size_t s = 0; rc == 0 && s < nseq; s++) {
        size_t count = lens[s] - 1;
        double sum = 0;
        for (size_t i = 0; i < count; i++)
            sum += lp[s][i];
        double ppl = exp(-sum / (double)count);
        if (a.json) {
            fputs("{\"logprobs\": [", stdout);
            for (size_t i = 0; i < count; i++) {
                if (i)
                    fputs(", ", stdout);
                print_num(lp[s][i]);
            }
            fputs("], \"sum\": ", stdout);
            print_num(sum);
            printf(", \"count\": %zu, \"perplexity\": ", count);
            print_num(ppl);
            fputs("}\n", stdout);
        } else {
            printf("sum %.6f  count %zu  perplexity %.4f\n", sum, count, ppl);
        }
    }
    for (size_t s = 0; s < nseq; s++) {
        free(seqs[s]);
        if (lp)
            free(lp[s]);
    }
    free(seqs), free(lens), free(lp), free(data);
    model_free(m);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}

/* ---- generate ------------------------------------------------------------ */

static const char generate_help[] =
    "usage: yardstick generate --model DIR (--prompt TEXT | --prompt-ids \"ID ...\")\n"
    "                          [--max-tokens N] [--stop S]... [--ignore-eos]\n"
    "                          [--temperature T --seed S [--top-k K] [--top-p P]] [--json] [--threads N]\n"
    "\n"
    "Continue the prompt with the KV cache: greedy by default, seeded sampling with\n"
    "--temperature. Stops at the end-of-sequence token (unless --ignore-eos), at\n"
    "--max-tokens (64), or when the text contains a --stop string (the text is cut\n"
    "before it). --json prints {\"ids\": [generated ids], \"text\": ...}.\n";

typedef struct {
    const tok_tokenizer *t;
    const model_args *a;
    int32_t eos;
    size_t cut; /* bytes of text to keep when a stop string matched */
    bool stopped;
} gen_ctx;

static int gen_stop(const int32_t *ids, size_t n, void *user)
{
    gen_ctx *g = user;
    if (!g->a->ignore_eos && g->eos >= 0 && ids[n - 1] == g->eos)
        return 1;
    if (!g->t || !g->a->nstops)
        return 0;
    char *text = NULL;
    if (tok_decode(g->t, ids, n, false, &text, NULL) < 0)
        return 0;
    for (int k = 0; k < g->a->nstops; k++) {
        const char *hit = strstr(text, g->a->stops[k]);
        if (hit && (!g->stopped || (size_t)(hit - text) < g->cut)) {
            g->cut = (size_t)(hit - text);
            g->stopped = true;
        }
    }
    free(text);
    return g->stopped;
}

int cmd_generate(int argc, char **argv)
{
    model_args a;
    int rc = parse_model_args("generate", argc, argv, generate_help,
                              " --model --json --prompt --prompt-ids --max-tokens --stop --ignore-eos --temperature "
                              "--seed --top-k --top-p --threads ",
                              &a);
    if (rc)
        return rc;
    if (!!a.prompt + !!a.prompt_ids != 1)
        return cli_usage_error("generate", "give exactly one of --prompt TEXT or --prompt-ids \"ID ...\"");
    ys_error err = {0};
    tok_tokenizer *t = NULL;
    struct stat st;
    char tj[4096], vj[4096];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", a.model);
    snprintf(vj, sizeof vj, "%s/vocab.json", a.model);
    bool have_tok = stat(tj, &st) == 0 || stat(vj, &st) == 0;
    if ((a.prompt || a.nstops || have_tok) && tok_load(a.model, &t, &err) < 0)
        return cli_fail(&err);
    int32_t *prompt = NULL, *out = NULL;
    size_t np = 0, nout = 0;
    if (a.prompt) {
        rc = tok_encode(t, a.prompt, strlen(a.prompt), true, &prompt, &np, &err);
    } else {
        long n = parse_ids(a.prompt_ids, &prompt, "--prompt-ids", &err);
        rc = n < 0 ? -1 : 0;
        np = n < 0 ? 0 : (size_t)n;
    }
    if (rc == 0 && np == 0)
        rc = ys_fail(&err, YS_EINPUT, "the prompt has no tokens");
    model *m = NULL;
    if (rc == 0)
        rc = load_model(&a, &m, &err);
    if (rc == 0 && !(out = malloc((size_t)(a.max_tokens ? a.max_tokens : 1) * sizeof *out)))
        rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    gen_ctx g = {t, &a, t ? tok_eos_id(t) : -1, 0, false};
    model_sampling smp = {(float)a.temperature, (int)a.top_k, (float)a.top_p, (uint64_t)a.seed};
    if (rc == 0)
        rc = model_generate(m, prompt, np, (size_t)a.max_tokens, a.temperature > 0 ? &smp : NULL, gen_stop, &g, out,
                            &nout, &err);
    char *text = NULL;
    if (rc == 0 && t) {
        rc = tok_decode(t, out, nout, false, &text, &err);
        if (rc == 0 && g.stopped)
            text[g.cut] = 0;
    }
    if (rc == 0) {
        if (a.json) {
            fputs("{\"ids\": ", stdout);
            print_ids_json(out, nout);
            fputs(", \"text\": ", stdout);
            if (text)
                print_json_string(text);
            else
                fputs("null", stdout);
            fputs("}\n", stdout);
        } else if (text) {
            printf("%s\n", text);
        } else {
            for (size_t i = 0; i < nout; i++)
                printf("%s%d", i ? " " : "", out[i]);
            printf("\n");
        }
    }
    free(text), free(prompt), free(out);
    model_free(m);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}

/* ---- perplexity ---------------------------------------------------------- */

static const char perplexity_help[] =
    "usage: yardstick perplexity --model DIR --text F [--ctx N] [--stride S] [--json] [--threads N]\n"
    "\n"
    "Sliding-window perplexity of the whole file, as Hugging Face's guide to\n"
    "fixed-length models computes it: windows of --ctx tokens (default: the model's\n"
    "position limit, else 1024) start every --stride tokens (default: --ctx), and\n"
    "each token is scored once, in the first window that reaches it, with up to\n"
    "ctx-1 tokens of context. Reports token, word and byte perplexity and bits per\n"
    "byte (words and bytes of the text as lm-evaluation-harness counts them).\n";

int cmd_perplexity(int argc, char **argv)
{
    model_args a;
    int rc = parse_model_args("perplexity", argc, argv, perplexity_help,
                              " --model --json --text --ctx --stride --threads ", &a);
    if (rc)
        return rc;
    if (!a.text)
        return cli_usage_error("perplexity", "--text F is required");
    ys_error err = {0};
    size_t len;
    char *data = cli_read_file(a.text, &len, &err);
    if (!data)
        return cli_fail(&err);
    tok_tokenizer *t = NULL;
    model *m = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    if ((rc = tok_load(a.model, &t, &err)) == 0 && (rc = tok_encode(t, data, len, true, &ids, &n, &err)) == 0)
        rc = load_model(&a, &m, &err);
    if (rc == 0 && n < 2)
        rc = ys_fail(&err, YS_EINPUT, "%s: fewer than two tokens", a.text);
    size_t ctx = 0, stride = 0;
    if (rc == 0) {
        const model_info *info = model_get_info(m);
        ctx = a.ctx ? (size_t)a.ctx : info->max_positions > 0 ? (size_t)info->max_positions : 1024;
        if (info->max_positions > 0 && ctx > (size_t)info->max_positions)
            rc = ys_fail(&err, YS_EUSAGE, "--ctx %zu exceeds the model's %d positions", ctx, info->max_positions);
        stride = a.stride ? (size_t)a.stride : ctx;
        if (rc == 0 && (ctx < 2 || stride > ctx || stride == 0))
            rc = ys_fail(&err, YS_EUSAGE, "need 2 <= --ctx and 1 <= --stride <= --ctx");
    }
    ppl_stats total = {0};
    double *lp = rc == 0 ? malloc(ctx * sizeof *lp) : NULL;
    if (rc == 0 && !lp)
        rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    size_t windows = rc == 0 ? (n - 1 + stride - 1) / stride : 0, done = 0;
    /* the HF loop: each window ends at begin + ctx; the tokens new to it are
     * the ones after the previous window's end */
    size_t prev_end = 0;
    for (size_t begin = 0; rc == 0 && prev_end < n; begin += stride) {
        size_t end = begin + ctx < n ? begin + ctx : n;
        size_t from = prev_end > begin ? prev_end - begin : 1; /* position 0 has no context */
        if (from < 1)
            from = 1;
        if (from < end - begin) {
            const int32_t *seq = ids + begin;
            size_t wlen = end - begin;
            double *out = lp;
            rc = model_logprobs(m, &seq, &wlen, 1, &from, &out, NULL, NULL, &err);
            for (size_t i = 0; rc == 0 && i < wlen - from; i++)
                total.loglik += lp[i];
            total.tokens += (int64_t)(wlen - from);
        }
        prev_end = end;
        done++;
        if (windows > 8 && (done % 8 == 0 || prev_end == n))
            fprintf(stderr, "\rperplexity: window %zu/%zu", done, windows);
        if (end == n)
            break;
    }
    if (windows > 8)
        fprintf(stderr, "\n");
    if (rc == 0) {
        ppl_count_text(data, len, &total);
        if (a.json) {
            printf("{\"tokens\": %lld, \"words\": %lld, \"bytes\": %lld, \"loglik\": ", (long long)total.tokens,
                   (long long)total.words, (long long)total.bytes);
            print_num(total.loglik);
            fputs(", \"token_perplexity\": ", stdout);
            print_num(ppl_token_perplexity(&total));
            fputs(", \"word_perplexity\": ", stdout);
            print_num(ppl_word_perplexity(&total));
            fputs(", \"byte_perplexity\": ", stdout);
            print_num(ppl_byte_perplexity(&total));
            fputs(", \"bits_per_byte\": ", stdout);
            print_num(ppl_bits_per_byte(&total));
            printf(", \"ctx\": %zu, \"stride\": %zu}\n", ctx, stride);
        } else {
            printf("tokens %lld  words %lld  bytes %lld  (ctx %zu, stride %zu)\n", (long long)total.tokens,
                   (long long)total.words, (long long)total.bytes, ctx, stride);
            printf("token perplexity %.4f\nword perplexity  %.4f\nbyte perplexity  %.4f\nbits per byte    %.4f\n",
                   ppl_token_perplexity(&total), ppl_word_perplexity(&total), ppl_byte_perplexity(&total),
                   ppl_bits_per_byte(&total));
        }
    }
    free(lp), free(ids), free(data);
    model_free(m);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
