/* yardstick logprobs — per-token log-probabilities of id or text lines
 * (decoders, and encoder-decoders with --source-ids); an interface the
 * parity checks use. */
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
            mc_print_num(lp[i]);
        }
        fputs("], \"sum\": ", stdout);
        mc_print_num(sum);
        printf(", \"count\": %zu, \"perplexity\": ", count);
        mc_print_num(ppl);
        fputs("}\n", stdout);
    } else {
        printf("sum %.6f  count %zu  perplexity %.4f\n", sum, count, ppl);
    }
}

static const char logprobs_help[] =
    "usage: yardstick logprobs --model DIR [--adapter DIR] [[--quantize Q] [--quantize-head Q] [--group-size G] [--compute int8] | --compute bf16 | --compute int8] (--text F | --ids F)\n"
    "                         [--from N] [--json] [--threads N]\n"
    "       yardstick logprobs --model DIR [--adapter DIR] --source-ids F --ids F [--json] [--threads N]\n"
    "\n"
    "For each line of F (a text, or whitespace-separated token ids), the log-probability\n"
    "of every next token given the tokens before it, their sum, the count and the\n"
    "perplexity exp(-sum/count). Texts are tokenized with the tokenizer's special\n"
    "tokens (e.g. Llama's BOS). All lines are scored as one batch; --json prints\n"
    "{\"logprobs\": [...], \"sum\": ..., \"count\": ..., \"perplexity\": ...} per line.\n"
    "--from N scores only tokens N.. of each line given all before them, as `run`\n"
    "scores a continuation after its context (bitwise the figures of a whole-line run\n"
    "for those tokens).\n"
    "\n"
    "Encoder-decoder models (T5, BART, Marian) need --source-ids: line i of it is the\n"
    "encoder input of line i of --ids, whose ids are decoder inputs starting with the\n"
    "model's decoder_start_token_id; every id after the first is scored.\n"
    "\n"
    "--adapter DIR merges a PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) into the weights at load; outputs keep their format.\n"
    "\n"
    "--quantize int8|int4|int4-sym [--group-size 32|128] quantizes every matrix of the\n"
    "transformer blocks at load by round-to-nearest (int8 per output channel; int4 in\n"
    "groups along the input, with a zero point or symmetric; embeddings and LM head\n"
    "as stored) and computes with fp32 activations: the result is the function of\n"
    "the dequantized weights (README, \"Quantization\"). Decoder-only models.\n"
    "--quantize-head int8|int4|int4-sym quantizes the LM head by the same function\n"
    "(as llama-quantize's output tensor; a tied input embedding stays as stored).\n"
    "--compute bf16 computes every projection and the LM head with BF16 dot products\n"
    "(weights and activations rounded to bfloat16, fp32 sums; AVX512_BF16 where the\n"
    "CPU has it), as GPU evaluation in bfloat16 does; the default, exact, keeps fp32\n"
    "activations on the weights as stored. With --quantize, or alone on a GGUF file's\n"
    "quantized blocks, --compute int8 quantizes the activations per block of 32 and\n"
    "sums integer products (AVX512_VNNI where present), as llama.cpp computes: faster\n"
    "scoring, an approximation (README).\n";

static int logprobs_s2s(const model_args *a, ys_error *err)
{
    mc_id_lines src, dec;
    int rc = mc_read_id_lines(a->source_ids, NULL, 1, "no tokens", &src, err);
    if (rc < 0)
        return rc;
    if ((rc = mc_read_id_lines(a->ids, NULL, 2, "needs the start token and at least one token to score", &dec, err)) < 0) {
        mc_free_id_lines(&src);
        return rc;
    }
    if (src.n != dec.n)
        rc = ys_fail(err, YS_EINPUT, "%s has %zu sequences, %s has %zu: give one source line per decoder line",
                     a->source_ids, src.n, a->ids, dec.n);
    s2s_model *m = NULL;
    double **lp = NULL;
    if (rc == 0)
        mc_adapter_warning(a);
    if (rc == 0 && (rc = s2s_load_adapter(a->model, a->adapter, &m, err)) == 0 && a->threads > 0)
        rc = s2s_set_threads(m, (int)a->threads, err);
    if (rc == 0 && (rc = mc_check_id_range(&src, a->source_ids, s2s_get_info(m)->vocab, "id", err)) == 0)
        rc = mc_check_id_range(&dec, a->ids, s2s_get_info(m)->vocab, "id", err);
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
    mc_free_id_lines(&src), mc_free_id_lines(&dec);
    return rc;
}

int cmd_logprobs(int argc, char **argv)
{
    model_args a;
    int rc = mc_parse_model_args("logprobs", argc, argv, logprobs_help,
                              " --model --adapter --quantize --quantize-head --group-size --compute --json --text --ids --source-ids --threads --from ", &a);
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
    if (s2s && (a.quantize != MODEL_Q_NONE || a.quantize_head != MODEL_Q_NONE || a.compute_bf16 || a.compute_int8))
        return cli_usage_error("logprobs", "--quantize and --compute are for decoder-only models");
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
    mc_id_lines in;
    size_t from = a.from > 1 ? (size_t)a.from : 1;
    char why[96];
    snprintf(why, sizeof why, "needs at least %zu tokens to score from token %zu", from + 1, from);
    rc = mc_read_id_lines(path, t, from + 1, from > 1 ? why : "needs at least two tokens to score a next token", &in, &err);
    size_t *froms = rc == 0 ? malloc(in.n * sizeof *froms) : NULL;
    if (rc == 0 && !froms)
        rc = ys_fail(&err, YS_ENOMEM, "out of memory");
    for (size_t s = 0; rc == 0 && s < in.n; s++)
        froms[s] = from;
    model *m = NULL;
    double **lp = NULL;
    if (rc == 0)
        rc = mc_load_model(&a, &m, &err);
    if (rc == 0 && !a.text)
        rc = mc_check_id_range(&in, path, model_get_info(m)->vocab, "id", &err);
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
    mc_free_id_lines(&in);
    model_free(m);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
