/* yardstick perplexity — sliding-window perplexity of a text file. */
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

static const char perplexity_help[] =
    "usage: yardstick perplexity --model DIR [--adapter DIR] [[--quantize Q] [--quantize-head Q] [--group-size G] [--compute int8] | --compute bf16 | --compute int8] --text F [--ctx N]\n"
    "                           [--stride S] [--json] [--threads N]\n"
    "\n"
    "Sliding-window perplexity of the whole file, as Hugging Face's guide to\n"
    "fixed-length models computes it: windows of --ctx tokens (default: the model's\n"
    "position limit, else 1024) start every --stride tokens (default: --ctx), and\n"
    "each token is scored once, in the first window that reaches it, with up to\n"
    "ctx-1 tokens of context. Reports token, word and byte perplexity and bits per\n"
    "byte (words and bytes of the text as lm-evaluation-harness counts them).\n\n"
    "\n"
    "--adapter DIR merges a PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) into the weights at load; outputs keep their format.\n"
    "\n"
    "--quantize int8|int4|int4-sym [--group-size 32|128]: the blocks' matrices quantized\n"
    "at load, activations fp32; --quantize-head Q: the LM head too; --compute bf16:\n"
    "BF16 dot products (see `yardstick\n"
    "logprobs --help`). Decoder-only models.\n";

int cmd_perplexity(int argc, char **argv)
{
    model_args a;
    int rc = mc_parse_model_args("perplexity", argc, argv, perplexity_help,
                              " --model --adapter --quantize --quantize-head --group-size --compute --json --text --ctx --stride --threads ", &a);
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
        rc = mc_load_model(&a, &m, &err);
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
            mc_print_num(total.loglik);
            fputs(", \"token_perplexity\": ", stdout);
            mc_print_num(ppl_token_perplexity(&total));
            fputs(", \"word_perplexity\": ", stdout);
            mc_print_num(ppl_word_perplexity(&total));
            fputs(", \"byte_perplexity\": ", stdout);
            mc_print_num(ppl_byte_perplexity(&total));
            fputs(", \"bits_per_byte\": ", stdout);
            mc_print_num(ppl_bits_per_byte(&total));
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
