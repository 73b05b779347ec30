/* yardstick generate — greedy, sampled or beam continuations of a prompt
 * (text or ids); an interface the parity checks use. */
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
#include "ys_unicode.h"

static const char generate_help[] =
    "usage: yardstick generate --model DIR [--adapter DIR] [--quantize Q [--group-size G] [--compute int8] | --compute bf16] (--prompt TEXT | --prompt-ids \"ID ...\")\n"
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
    "--stop strings end greedy decoding early; with beams the text is cut after it.\n"
    "\n"
    "--adapter DIR merges a PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) into the weights at load; outputs keep their format.\n"
    "\n"
    "--quantize int8|int4|int4-sym [--group-size 32|128]: the blocks' matrices quantized\n"
    "at load, activations fp32; --compute bf16: BF16 dot products (see `yardstick\n"
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

int cmd_generate(int argc, char **argv)
{
    model_args a;
    int rc = mc_parse_model_args("generate", argc, argv, generate_help,
                              " --model --adapter --quantize --group-size --compute --json --prompt --prompt-ids --max-tokens --stop --ignore-eos --temperature "
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
    bool have_tok = stat(tj, &st) == 0 || stat(vj, &st) == 0 ||
                    (stat(a.model, &st) == 0 && S_ISREG(st.st_mode) && tok_available(a.model));   /* a GGUF file's own */
    if ((a.prompt || a.nstops || have_tok) && tok_load(a.model, &t, &err) < 0)
        return cli_fail(&err);
    int32_t *prompt = NULL, *out = NULL;
    size_t np = 0, nout = 0;
    if (a.prompt) {
        rc = tok_encode(t, a.prompt, strlen(a.prompt), true, &prompt, &np, &err);
    } else {
        long n = mc_parse_ids(a.prompt_ids, &prompt, "--prompt-ids", &err);
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
    else if (s2s && (a.quantize != MODEL_Q_NONE || a.compute_bf16 || a.compute_int8))
        rc = ys_fail(&err, YS_EUSAGE, "--quantize and --compute are for decoder-only models");
    else if (!s2s && beam_flags)
        rc = ys_fail(&err, YS_EUSAGE, "beam-search options are for encoder-decoder models; %s is not one", a.model);
    if (rc == 0 && s2s) {
        mc_adapter_warning(&a);
        if ((rc = s2s_load_adapter(a.model, a.adapter, &sm, &err)) == 0 && a.threads > 0)
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
        rc = mc_load_model(&a, &m, &err);
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
            mc_print_ids_json(out, nout);
            fputs(", \"text\": ", stdout);
            if (text)
                mc_print_json_string(text);
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
