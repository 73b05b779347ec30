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
#include "encoder.h"
#include "model.h"
#include "seq2seq.h"
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
    const char *text_pair, *type_ids, *source_ids, *early_stopping;
    bool json, ignore_eos, no_special, max_tokens_set;
    long max_tokens, ctx, stride, threads, top_k, num_beams, no_repeat, from, min_tokens;
    double temperature, top_p, length_penalty;
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
        else if (!strcmp(name, "--file")) a->file = v;
        else if (!strcmp(name, "--jsonl")) a->jsonl = v;
        else if (!strcmp(name, "--text")) a->text = v;
        else if (!strcmp(name, "--ids")) a->ids = v;
        else if (!strcmp(name, "--prompt")) a->prompt = v;
        else if (!strcmp(name, "--prompt-ids")) a->prompt_ids = v;
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

/* One id sequence per non-empty line of `path`: the line's text encoded
 * with special tokens when t is given, else whitespace-separated ids. The
 * arrays are malloc'd; free with free_id_lines. */
typedef struct {
    int32_t **seqs;
    size_t *lens;
    size_t n;
} id_lines;

static void free_id_lines(id_lines *l)
{
    for (size_t s = 0; s < l->n; s++)
        free(l->seqs[s]);
    free(l->seqs), free(l->lens);
    memset(l, 0, sizeof *l);
}

static int read_id_lines(const char *path, const tok_tokenizer *t, size_t min_len, const char *why, id_lines *out,
                         ys_error *err)
{
    memset(out, 0, sizeof *out);
    char *data = cli_read_file(path, NULL, err);
    if (!data)
        return -1;
    size_t cap = 16;
    out->seqs = calloc(cap, sizeof *out->seqs);
    out->lens = calloc(cap, sizeof *out->lens);
    long lineno = 0;
    int rc = out->seqs && out->lens ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
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
                if (!s2 || !l2) {
                    rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    break;
                }
            }
            char where[600];
            snprintf(where, sizeof where, "%s:%ld", path, lineno);
            size_t k = out->n++;
            out->seqs[k] = NULL;
            if (t) {
                rc = tok_encode(t, line, strlen(line), true, &out->seqs[k], &out->lens[k], err);
            } else {
                long n = parse_ids(line, &out->seqs[k], where, err);
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
        free_id_lines(out);
    return rc;
}

static void print_logprob_line(const model_args *a, const double *lp, size_t count)
{
    double sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += lp[i];
    double ppl = exp(-sum / (double)count);
    if (a->json) {
        fputs("{\"logprobs\": [", stdout);
        for (size_t i = 0; i < count; i++) {
            if (i)
                fputs(", ", stdout);
            print_num(lp[i]);
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

static const char logprobs_help[] =
    "usage: yardstick logprobs --model DIR (--text F | --ids F) [--from N] [--json] [--threads N]\n"
    "       yardstick logprobs --model DIR --source-ids F --ids F [--json] [--threads N]\n"
    "\n"
    "For each line of F (a text, or whitespace-separated token ids), the log-probability\n"
    "of every next token given the tokens before it, their sum, the count and the\n"
    "perplexity exp(-sum/count). Texts are tokenized with the tokenizer's special\n"
    "tokens (e.g. Llama's BOS). All lines are scored as one batch; --json prints\n"
    "{\"logprobs\": [...], \"sum\": ..., \"count\": ..., \"perplexity\": ...} per line.\n"
    "--from N scores only tokens N.. of each line given all before them, as `run`\n"
    "scores a continuation after its context (the engine computes tokens before N-1\n"
    "as a separate pass, so the figures can differ from a whole-line run in the last\n"
    "digits).\n"
    "\n"
    "Encoder-decoder models (T5, BART, Marian) need --source-ids: line i of it is the\n"
    "encoder input of line i of --ids, whose ids are decoder inputs starting with the\n"
    "model's decoder_start_token_id; every id after the first is scored.\n";

static int logprobs_s2s(const model_args *a, ys_error *err)
{
    id_lines src, dec;
    int rc = read_id_lines(a->source_ids, NULL, 1, "no tokens", &src, err);
    if (rc < 0)
        return rc;
    if ((rc = read_id_lines(a->ids, NULL, 2, "needs the start token and at least one token to score", &dec, err)) < 0) {
        free_id_lines(&src);
        return rc;
    }
    if (src.n != dec.n)
        rc = ys_fail(err, YS_EINPUT, "%s has %zu sequences, %s has %zu: give one source line per decoder line",
                     a->source_ids, src.n, a->ids, dec.n);
    s2s_model *m = NULL;
    double **lp = NULL;
    if (rc == 0 && (rc = s2s_load(a->model, &m, err)) == 0 && a->threads > 0)
        rc = s2s_set_threads(m, (int)a->threads, err);
    if (rc == 0 && !(lp = calloc(dec.n, sizeof *lp)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t s = 0; rc == 0 && s < dec.n; s++)
        if (!(lp[s] = malloc(dec.lens[s] * sizeof **lp)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = s2s_logprobs(m, (const int32_t *const *)src.seqs, src.lens, (const int32_t *const *)dec.seqs, dec.lens,
                          dec.n, lp, NULL, err);
    for (size_t s = 0; rc == 0 && s < dec.n; s++)
        print_logprob_line(a, lp[s], dec.lens[s] - 1);
    for (size_t s = 0; lp && s < dec.n; s++)
        free(lp[s]);
    free(lp);
    s2s_free(m);
    free_id_lines(&src), free_id_lines(&dec);
    return rc;
}

int cmd_logprobs(int argc, char **argv)
{
    model_args a;
    int rc = parse_model_args("logprobs", argc, argv, logprobs_help,
                              " --model --json --text --ids --source-ids --threads --from ", &a);
    if (rc)
        return rc;
    if (!!a.text + !!a.ids != 1)
        return cli_usage_error("logprobs", "give exactly one of --text F or --ids F");
    ys_error err = {0};
    int s2s = s2s_supports(a.model, &err);
    if (s2s < 0)
        return cli_fail(&err);
    if (s2s && a.from)
        return cli_usage_error("logprobs", "--from is for decoder-only models");
    if (s2s && (!a.source_ids || !a.ids))
        return cli_usage_error("logprobs", "%s is an encoder-decoder model: give --source-ids F and --ids F", a.model);
    if (!s2s && a.source_ids)
        return cli_usage_error("logprobs", "--source-ids is for encoder-decoder models; %s is not one", a.model);
    if (s2s)
        return logprobs_s2s(&a, &err) < 0 ? cli_fail(&err) : EXIT_OK;
    const char *path = a.text ? a.text : a.ids;
    tok_tokenizer *t = NULL;
    if (a.text && tok_load(a.model, &t, &err) < 0)
        return cli_fail(&err);
    id_lines in;
    size_t from = a.from > 1 ? (size_t)a.from : 1;
    char why[96];
    snprintf(why, sizeof why, "needs at least %zu tokens to score from token %zu", from + 1, from);
    rc = read_id_lines(path, t, from + 1, from > 1 ? why : "needs at least two tokens to score a next token", &in, &err);
    size_t *froms = rc == 0 ? malloc(in.n * sizeof *froms) : NULL;
    if (rc == 0 && !froms)
        rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    for (size_t s = 0; rc == 0 && s < in.n; s++)
        froms[s] = from;
    model *m = NULL;
    double **lp = NULL;
    if (rc == 0)
        rc = load_model(&a, &m, &err);
    if (rc == 0) {
        lp = calloc(in.n, sizeof *lp);
        for (size_t s = 0; lp && s < in.n; s++)
            if (!(lp[s] = malloc(in.lens[s] * sizeof **lp)))
                rc = ys_fail(&err, YS_ENOMEM, "out of memory");
        if (!lp)
            rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = model_logprobs(m, (const int32_t *const *)in.seqs, in.lens, in.n, froms, lp, NULL, NULL, &err);
    for (size_t s = 0; rc == 0 && s < in.n; s++)
        print_logprob_line(&a, lp[s], in.lens[s] - from);
    free(froms);
    for (size_t s = 0; lp && s < in.n; s++)
        free(lp[s]);
    free(lp);
    free_id_lines(&in);
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
    "before it). --json prints {\"ids\": [generated ids], \"text\": ...}.\n"
    "\n"
    "Encoder-decoder models (T5, BART, Marian) take the prompt as the encoder input and\n"
    "decode from decoder_start_token_id with the settings of the model folder's\n"
    "generation_config.json / config.json (as Hugging Face generate does), overridden by\n"
    "  --num-beams N  --length-penalty X  --early-stopping true|false|never\n"
    "  --no-repeat-ngram-size N  --max-tokens N  --min-tokens N (EOS suppressed before)\n"
    "--stop strings end greedy decoding early; with beams the text is cut after it.\n";

typedef struct {
    const tok_tokenizer *t;
    const model_args *a;
    int32_t eos;
    size_t cut; /* bytes of text to keep when a stop string matched */
    bool stopped;
    bool skip_special; /* encoder-decoders: text without </s>, <pad> */
} gen_ctx;

static int gen_stop(const int32_t *ids, size_t n, void *user)
{
    gen_ctx *g = user;
    if (!g->a->ignore_eos && g->eos >= 0 && ids[n - 1] == g->eos)
        return 1;
    if (!g->t || !g->a->nstops)
        return 0;
    char *text = NULL;
    if (tok_decode(g->t, ids, n, g->skip_special, &text, NULL) < 0)
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
                              "--seed --top-k --top-p --threads --num-beams --length-penalty --early-stopping "
                              "--no-repeat-ngram-size --min-tokens ",
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
    s2s_model *sm = NULL;
    gen_ctx g = {t, &a, t ? tok_eos_id(t) : -1, 0, false, false};
    int s2s = rc == 0 ? s2s_supports(a.model, &err) : 0;
    bool beam_flags = a.num_beams >= 0 || a.no_repeat >= 0 || a.min_tokens >= 0 || !isnan(a.length_penalty) ||
                      a.early_stopping;
    if (s2s < 0)
        rc = -1;
    else if (s2s && (a.temperature > 0 || a.ignore_eos))
        rc = ys_fail(&err, YS_EUSAGE, "encoder-decoder models decode greedily or with beams: --temperature and "
                                      "--ignore-eos are for decoder-only models");
    else if (!s2s && beam_flags)
        rc = ys_fail(&err, YS_EUSAGE, "beam-search options are for encoder-decoder models; %s is not one", a.model);
    if (rc == 0 && s2s) {
        if ((rc = s2s_load(a.model, &sm, &err)) == 0 && a.threads > 0)
            rc = s2s_set_threads(sm, (int)a.threads, &err);
        s2s_gen_opts o;
        if (rc == 0) {
            s2s_gen_defaults(sm, &o);
            if (a.max_tokens_set)
                o.max_new_tokens = (size_t)a.max_tokens;
            if (a.num_beams >= 0)
                o.num_beams = a.num_beams > 0 ? (int)a.num_beams : 1;
            if (a.no_repeat >= 0)
                o.no_repeat_ngram_size = (int)a.no_repeat;
            if (a.min_tokens >= 0)
                o.min_new_tokens = (size_t)a.min_tokens;
            if (!isnan(a.length_penalty))
                o.length_penalty = a.length_penalty;
            if (a.early_stopping)
                o.early_stopping = !strcmp(a.early_stopping, "true") ? 1 : !strcmp(a.early_stopping, "never") ? 2 : 0;
            g.eos = -1; /* the model ends at its own EOS */
            g.skip_special = true;
            o.stop = a.nstops ? gen_stop : NULL;
            o.stop_user = &g;
            int32_t *res = NULL;
            rc = s2s_generate(sm, prompt, np, &o, &res, &nout, &err);
            out = res;
            /* with beams nothing stopped early: find the cut afterwards */
            for (size_t j = 1; rc == 0 && a.nstops && !g.stopped && j <= nout; j++)
                if (gen_stop(out, j, &g))
                    break;
        }
    } else if (rc == 0) {
        rc = load_model(&a, &m, &err);
        if (rc == 0 && !(out = malloc((size_t)(a.max_tokens ? a.max_tokens : 1) * sizeof *out)))
            rc = ys_fail(&err, YS_ENOMEM, "out of memory");
        model_sampling smp = {(float)a.temperature, (int)a.top_k, (float)a.top_p, (uint64_t)a.seed};
        if (rc == 0)
            rc = model_generate(m, prompt, np, (size_t)a.max_tokens, a.temperature > 0 ? &smp : NULL, gen_stop, &g,
                                out, &nout, &err);
    }
    char *text = NULL;
    if (rc == 0 && t) {
        rc = tok_decode(t, out, nout, g.skip_special, &text, &err);
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
    s2s_free(sm);
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

/* ---- classify ------------------------------------------------------------ */

static const char classify_help[] =
    "usage: yardstick classify --model DIR --text T [--text-pair T2] [--json] [--threads N]\n"
    "       yardstick classify --model DIR --ids F [--token-type-ids F] [--json] [--threads N]\n"
    "\n"
    "Run a fine-tuned encoder classifier (BertForSequenceClassification,\n"
    "RobertaForSequenceClassification, DistilBertForSequenceClassification). --text\n"
    "(and --text-pair) are tokenized as the model's tokenizer.json builds a pair,\n"
    "truncated longest-first to the model's positions. --ids F holds one input per\n"
    "line (whitespace-separated ids, special tokens included); --token-type-ids F the\n"
    "matching type ids, line for line (default all 0). Prints per input the label\n"
    "(the id2label name of the largest logit; a regression head's score) and the\n"
    "logits; --json prints {\"logits\": [...], \"label\": ...} per input.\n";

int cmd_classify(int argc, char **argv)
{
    model_args a;
    int rc = parse_model_args("classify", argc, argv, classify_help,
                              " --model --json --text --text-pair --ids --token-type-ids --threads ", &a);
    if (rc)
        return rc;
    if (!!a.text + !!a.ids != 1)
        return cli_usage_error("classify", "give exactly one of --text T or --ids F");
    if (a.text_pair && !a.text)
        return cli_usage_error("classify", "--text-pair goes with --text");
    if (a.type_ids && !a.ids)
        return cli_usage_error("classify", "--token-type-ids goes with --ids");
    ys_error err = {0};
    int ok = enc_supports(a.model, &err);
    if (ok < 0)
        return cli_fail(&err);
    if (!ok)
        return cli_usage_error("classify", "%s is not an encoder classifier (supported: BertForSequenceClassification, "
                               "RobertaForSequenceClassification, DistilBertForSequenceClassification)", a.model);
    enc_model *m = NULL;
    if ((rc = enc_load(a.model, &m, &err)) == 0 && a.threads > 0)
        rc = enc_set_threads(m, (int)a.threads, &err);
    const enc_info *info = rc == 0 ? enc_get_info(m) : NULL;
    id_lines in = {0}, types = {0};
    tok_tokenizer *t = NULL;
    if (rc == 0 && a.text) {
        /* one input: the tokenizer's own pair template and truncation */
        in.seqs = calloc(1, sizeof *in.seqs);
        in.lens = calloc(1, sizeof *in.lens);
        types.seqs = calloc(1, sizeof *types.seqs);
        types.lens = calloc(1, sizeof *types.lens);
        if (!in.seqs || !in.lens || !types.seqs || !types.lens)
            rc = ys_fail(&err, YS_ENOMEM, "out of memory");
        if (rc == 0 && (rc = tok_load(a.model, &t, &err)) == 0)
            rc = tok_encode_pair(t, a.text, strlen(a.text), a.text_pair, a.text_pair ? strlen(a.text_pair) : 0, true,
                                 (size_t)info->max_positions, &in.seqs[0], &types.seqs[0], &in.lens[0], &err);
        if (rc == 0)
            in.n = types.n = 1, types.lens[0] = in.lens[0];
    } else if (rc == 0) {
        rc = read_id_lines(a.ids, NULL, 1, "no tokens", &in, &err);
        if (rc == 0 && a.type_ids &&
            (rc = read_id_lines(a.type_ids, NULL, 1, "no token type ids", &types, &err)) == 0) {
            if (types.n != in.n)
                rc = ys_fail(&err, YS_EINPUT, "%s has %zu lines of ids, %s has %zu of type ids", a.ids, in.n, a.type_ids,
                             types.n);
            for (size_t s = 0; rc == 0 && s < in.n; s++)
                if (types.lens[s] != in.lens[s])
                    rc = ys_fail(&err, YS_EINPUT, "%s: input %zu has %zu ids but %zu type ids", a.type_ids, s + 1,
                                 in.lens[s], types.lens[s]);
        }
    }
    float *logits = NULL;
    float **rows = NULL;
    if (rc == 0) {
        size_t nl = (size_t)info->num_labels;
        logits = malloc(in.n * nl * sizeof *logits);
        rows = malloc(in.n * sizeof *rows);
        if (!logits || !rows)
            rc = ys_fail(&err, YS_ENOMEM, "out of memory");
        for (size_t s = 0; rc == 0 && s < in.n; s++)
            rows[s] = logits + s * nl;
    }
    /* a model without token types (DistilBERT) is not given the
     * tokenizer's; ids files given by the user are checked by the engine */
    bool use_types = types.n && (a.type_ids || info->type_vocab > 0);
    if (rc == 0)
        rc = enc_classify(m, (const int32_t *const *)in.seqs, use_types ? (const int32_t *const *)types.seqs : NULL,
                          in.lens, in.n, rows, &err);
    for (size_t s = 0; rc == 0 && s < in.n; s++) {
        int nl = info->num_labels, best = 0;
        for (int c = 1; c < nl; c++)
            if (rows[s][c] > rows[s][best])
                best = c;
        if (a.json) {
            fputs("{\"logits\": [", stdout);
            for (int c = 0; c < nl; c++) {
                if (c)
                    fputs(", ", stdout);
                print_num(rows[s][c]);
            }
            fputs("], \"label\": ", stdout);
            if (nl == 1)
                print_num(rows[s][0]);
            else
                print_json_string(info->labels[best]);
            fputs("}\n", stdout);
        } else {
            if (nl == 1)
                printf("%.6g", rows[s][0]);
            else
                printf("%s", info->labels[best]);
            for (int c = 0; c < nl; c++)
                printf("%s%.6g", c ? " " : "\t", rows[s][c]);
            printf("\n");
        }
    }
    free(logits), free(rows);
    free_id_lines(&in), free_id_lines(&types);
    enc_free(m);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
