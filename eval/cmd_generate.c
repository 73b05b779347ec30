/* yardstick generate — greedy, sampled or beam continuations of a prompt
 * (text or ids); an interface the parity checks use. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
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
#include "ys_json.h"
#include "ys_unicode.h"

static const char generate_help[] =
    "usage: yardstick generate --model DIR [--adapter DIR] [[--quantize Q] [--quantize-head Q] [--group-size G] [--compute int8] | --compute bf16 | --compute int8]\n"
    "                          (--prompt TEXT | --prompt-ids \"ID ...\" | --prompts-file F [--batch-size B])\n"
    "                          [--max-tokens N] [--stop S]... [--ignore-eos]\n"
    "                          [--temperature T --seed S [--top-k K] [--top-p P]] [--json] [--threads N]\n"
    "\n"
    "Continue the prompt with the KV cache: greedy by default, seeded sampling with\n"
    "--temperature. Stops at the end-of-sequence token (unless --ignore-eos), at\n"
    "--max-tokens (64), or when the text contains a --stop string (the text is cut\n"
    "before it). --json prints {\"ids\": [generated ids], \"text\": ...}.\n"
    "\n"
    "--prompts-file F: one prompt per line, a JSON string (text) or an object\n"
    "{\"prompt\": TEXT} or {\"prompt_ids\": [ID, ...]}; empty lines are skipped. The\n"
    "prompts are decoded together, up to --batch-size B at a time (default 64;\n"
    "continuous batching), each exactly as alone (sampling: each from --seed), and\n"
    "the results are printed one line per prompt in input order.\n"
    "\n"
    "Encoder-decoder models (T5, BART, Marian) take the prompt as the encoder input and\n"
    "decode from decoder_start_token_id with the settings of the model folder's\n"
    "generation_config.json / config.json (as Hugging Face generate does), overridden by\n"
    "  --num-beams N  --length-penalty X  --early-stopping true|false|never\n"
    "  --no-repeat-ngram-size N  --max-tokens N  --min-tokens N (EOS suppressed before)\n"
    "--stop strings end greedy decoding early; with beams the text is cut after it.\n"
    "\n"
    "--adapter DIR merges a PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) into the weights at load; outputs keep their format.\n"
    "\n"
    "--quantize int8|int4|int4-sym [--group-size 32|128]: the blocks' matrices quantized\n"
    "at load, activations fp32; --quantize-head Q: the LM head too; --compute bf16:\n"
    "BF16 dot products (see `yardstick\n"
    "logprobs --help`). Decoder-only models.\n";

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

/* One prompt to continue. */
typedef struct gen_item {
    int32_t *ids;
    size_t n;
    long line;           /* --prompts-file line (0: the command line) */
    gen_ctx g;
    int32_t *out;
    size_t nout;
    model_request mr;
    s2s_request sr;
} gen_item;

/* The prompts of --prompts-file (ys_json.h's grammar, errors at path:line). */
static int read_prompts(const char *path, const tok_tokenizer *t, gen_item **items, size_t *n, ys_error *err)
{
    char *text = cli_read_file(path, NULL, err);
    if (!text)
        return -1;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    *items = NULL, *n = 0;
    for (char *line = text; *line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        if (len == 0) {
            line = nl ? nl + 1 : line + len;
            continue;
        }
        cJSON *o = NULL;
        if ((rc = ys_json_parse(line, len, path, lineno, &o, err)) < 0)
            break;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            gen_item *ni = realloc(*items, nc * sizeof *ni);
            if (!ni) {
                cJSON_Delete(o);
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
            *items = ni, cap = nc;
        }
        gen_item *it = &(*items)[(*n)++];
        memset(it, 0, sizeof *it);
        it->line = lineno;
        const cJSON *pt = cJSON_IsString(o) ? o : cJSON_GetObjectItemCaseSensitive(o, "prompt");
        const cJSON *pi = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "prompt_ids") : NULL;
        if (!cJSON_IsString(o) && !cJSON_IsObject(o)) {
            rc = ys_fail(err, YS_EINPUT, "%s:%ld: expected a string or an object, found %s", path, lineno,
                         ys_json_kind(o));
        } else if (!!pt + !!pi != 1) {
            rc = ys_fail(err, YS_EINPUT, "%s:%ld: give exactly one of \"prompt\" and \"prompt_ids\"", path, lineno);
        } else if (pt && !cJSON_IsString(pt)) {
            rc = ys_fail(err, YS_EINPUT, "%s:%ld: \"prompt\" is %s, not a string", path, lineno, ys_json_kind(pt));
        } else if (pt && !t) {
            rc = ys_fail(err, YS_EINPUT, "%s:%ld: a text prompt needs the model's tokenizer", path, lineno);
        } else if (pt) {
            if ((rc = tok_encode(t, pt->valuestring, strlen(pt->valuestring), true, &it->ids, &it->n, err)) < 0) {
                char m[sizeof err->msg];
                snprintf(m, sizeof m, "%s", err->msg);
                rc = ys_fail(err, err->code, "%s:%ld: %s", path, lineno, m);
            }
        } else if (!cJSON_IsArray(pi)) {
            rc = ys_fail(err, YS_EINPUT, "%s:%ld: \"prompt_ids\" is %s, not an array", path, lineno, ys_json_kind(pi));
        } else {
            size_t k = 0, np = (size_t)cJSON_GetArraySize(pi);
            if (!(it->ids = malloc((np ? np : 1) * sizeof *it->ids)))
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
            const cJSON *v;
            char where[4200];
            snprintf(where, sizeof where, "%s:%ld", path, lineno);
            cJSON_ArrayForEach(v, pi) {
                long long id;
                if (rc < 0 || (rc = ys_json_int(v, 0, INT32_MAX, where, "prompt_ids", &id, err)) < 0)
                    break;
                it->ids[k++] = (int32_t)id;
            }
            it->n = k;
        }
        if (rc == 0 && it->n == 0)
            rc = ys_fail(err, YS_EINPUT, "%s:%ld: the prompt has no tokens", path, lineno);
        cJSON_Delete(o);
        line = nl ? nl + 1 : line + len;
    }
    free(text);
    if (rc == 0 && *n == 0)
        rc = ys_fail(err, YS_EINPUT, "%s: no prompts", path);
    return rc;
}

/* An engine error about item it, named by its line when it has one. */
static int item_fail(const char *path, const gen_item *it, ys_error *err)
{
    if (!it->line)
        return err->code ? err->code : -1;
    char m[sizeof err->msg];
    snprintf(m, sizeof m, "%s", err->msg);
    return ys_fail(err, err->code, "%s:%ld: %s", path, it->line, m);
}

int cmd_generate(int argc, char **argv)
{
    model_args a;
    int rc = mc_parse_model_args("generate", argc, argv, generate_help,
                              " --model --adapter --quantize --quantize-head --group-size --compute --json --prompt --prompt-ids --prompts-file --batch-size --max-tokens --stop --ignore-eos --temperature "
                              "--seed --top-k --top-p --threads --num-beams --length-penalty --early-stopping "
                              "--no-repeat-ngram-size --min-tokens ",
                              &a);
    if (rc)
        return rc;
    if (!!a.prompt + !!a.prompt_ids + !!a.prompts_file != 1)
        return cli_usage_error("generate", "give exactly one of --prompt TEXT, --prompt-ids \"ID ...\" or --prompts-file F");
    if (a.batch_size && !a.prompts_file)
        return cli_usage_error("generate", "--batch-size is for --prompts-file");
    ys_error err = {0};
    tok_tokenizer *t = NULL;
    struct stat st;
    char tj[4096], vj[4096];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", a.model);
    snprintf(vj, sizeof vj, "%s/vocab.json", a.model);
    bool have_tok = stat(tj, &st) == 0 || stat(vj, &st) == 0 ||
                    (stat(a.model, &st) == 0 && S_ISREG(st.st_mode) && tok_available(a.model));   /* a GGUF file's own */
    if ((a.prompt || a.nstops || have_tok) && tok_load(a.model, &t, &err) < 0)
        return cli_fail(&err);
    gen_item *items = NULL;
    size_t nitems = 0;
    if (a.prompts_file) {
        rc = read_prompts(a.prompts_file, t, &items, &nitems, &err);
    } else if (!(items = calloc(1, sizeof *items))) {
        rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    } else {
        nitems = 1;
        if (a.prompt) {
            rc = tok_encode(t, a.prompt, strlen(a.prompt), true, &items[0].ids, &items[0].n, &err);
        } else {
            long n = mc_parse_ids(a.prompt_ids, &items[0].ids, "--prompt-ids", &err);
            rc = n < 0 ? -1 : 0;
            items[0].n = n < 0 ? 0 : (size_t)n;
        }
        if (rc == 0 && items[0].n == 0)
            rc = ys_fail(&err, YS_EINPUT, "the prompt has no tokens");
    }
    size_t B = a.batch_size ? (size_t)a.batch_size : a.prompts_file ? 64 : 1;
    model *m = NULL;
    s2s_model *sm = NULL;
    for (size_t i = 0; i < nitems; i++)
        items[i].g = (gen_ctx){t, &a, t ? tok_eos_id(t) : -1, 0, false, false};
    int s2s = rc == 0 ? s2s_supports(a.model, &err) : 0;
    bool beam_flags = a.num_beams >= 0 || a.no_repeat >= 0 || a.min_tokens >= 0 || !isnan(a.length_penalty) ||
                      a.early_stopping;
    if (s2s < 0)
        rc = -1;
    else if (s2s && (a.temperature > 0 || a.ignore_eos))
        rc = ys_fail(&err, YS_EUSAGE, "encoder-decoder models decode greedily or with beams: --temperature and "
                                      "--ignore-eos are for decoder-only models");
    else if (s2s && (a.quantize != MODEL_Q_NONE || a.quantize_head != MODEL_Q_NONE || a.compute_bf16 || a.compute_int8))
        rc = ys_fail(&err, YS_EUSAGE, "--quantize and --compute are for decoder-only models");
    else if (!s2s && beam_flags)
        rc = ys_fail(&err, YS_EUSAGE, "beam-search options are for encoder-decoder models; %s is not one", a.model);
    if (rc == 0 && s2s) {
        mc_adapter_warning(&a);
        if ((rc = s2s_load_adapter(a.model, a.adapter, &sm, &err)) == 0 && a.threads > 0)
            rc = s2s_set_threads(sm, (int)a.threads, &err);
        s2s_gen_opts o;
        s2s_gen_batch *b = NULL;
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
            o.stop = a.nstops ? gen_stop : NULL;
            rc = s2s_gen_batch_new(sm, B, &b, &err);
        }
        for (size_t i = 0; rc == 0 && i < nitems; i++) {
            gen_item *it = &items[i];
            it->g.eos = -1; /* the model ends at its own EOS */
            it->g.skip_special = true;
            it->sr = (s2s_request){.src = it->ids, .n_src = it->n, .opts = o};
            it->sr.opts.stop_user = &it->g;
            if ((rc = s2s_gen_batch_add(b, &it->sr, &err)) < 0)
                rc = item_fail(a.prompts_file, it, &err);
        }
        s2s_request *done[64];
        while (rc == 0 && s2s_gen_batch_pending(b) > 0) {
            size_t nd = 0;
            rc = s2s_gen_batch_step(b, done, &nd, &err);
        }
        for (size_t i = 0; rc == 0 && i < nitems; i++) {
            gen_item *it = &items[i];
            it->out = it->sr.out, it->nout = it->sr.n_out;
            it->sr.out = NULL;
            /* with beams nothing stopped early: find the cut afterwards */
            for (size_t j = 1; a.nstops && !it->g.stopped && j <= it->nout; j++)
                if (gen_stop(it->out, j, &it->g))
                    break;
        }
        for (size_t i = 0; rc != 0 && i < nitems; i++)
            free(items[i].sr.out);
        s2s_gen_batch_free(b);
    } else if (rc == 0) {
        model_batch *b = NULL;
        model_sampling smp = {(float)a.temperature, (int)a.top_k, (float)a.top_p, (uint64_t)a.seed};
        rc = mc_load_model(&a, &m, &err);
        if (rc == 0)
            rc = model_batch_new(m, B, &b, &err);
        for (size_t i = 0; rc == 0 && i < nitems; i++) {
            gen_item *it = &items[i];
            if (!(it->out = malloc((size_t)(a.max_tokens ? a.max_tokens : 1) * sizeof *it->out))) {
                rc = ys_fail(&err, YS_ENOMEM, "out of memory");
                break;
            }
            it->mr = (model_request){.prompt = it->ids, .n_prompt = it->n, .max_new = (size_t)a.max_tokens,
                                     .stop = gen_stop, .user = &it->g, .out = it->out};
            if (a.temperature > 0)
                it->mr.sampling = smp;
            if ((rc = model_batch_add(b, &it->mr, &err)) < 0)
                rc = item_fail(a.prompts_file, it, &err);
        }
        model_request *done[64];
        while (rc == 0 && model_batch_pending(b) > 0) {
            size_t nd = 0;
            rc = model_batch_step(b, done, &nd, &err);
        }
        for (size_t i = 0; rc == 0 && i < nitems; i++)
            items[i].nout = items[i].mr.n_out;
        model_batch_free(b);
    }
    for (size_t i = 0; rc == 0 && i < nitems; i++) {
        gen_item *it = &items[i];
        char *text = NULL;
        if (t) {
            rc = tok_decode(t, it->out, it->nout, it->g.skip_special, &text, &err);
            if (rc == 0 && it->g.stopped)
                text[it->g.cut] = 0;
        }
        if (rc == 0) {
            if (a.json) {
                fputs("{\"ids\": ", stdout);
                mc_print_ids_json(it->out, it->nout);
                fputs(", \"text\": ", stdout);
                if (text)
                    mc_print_json_string(text);
                else
                    fputs("null", stdout);
                fputs("}\n", stdout);
            } else if (text) {
                printf("%s\n", text);
            } else {
                for (size_t j = 0; j < it->nout; j++)
                    printf("%s%d", j ? " " : "", it->out[j]);
                printf("\n");
            }
        }
        free(text);
    }
    for (size_t i = 0; i < nitems; i++)
        free(items[i].ids), free(items[i].out);
    free(items);
    model_free(m);
    s2s_free(sm);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
