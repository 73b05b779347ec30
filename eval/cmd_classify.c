/* yardstick classify — an encoder classifier on texts or id lines. */
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

static const char classify_help[] =
    "usage: yardstick classify --model DIR [--adapter DIR] --text T [--text-pair T2] [--json] [--threads N]\n"
    "       yardstick classify --model DIR [--adapter DIR] --ids F [--token-type-ids F] [--json] [--threads N]\n"
    "\n"
    "Run a fine-tuned encoder classifier (BertForSequenceClassification,\n"
    "RobertaForSequenceClassification, DistilBertForSequenceClassification). --text\n"
    "(and --text-pair) are tokenized as the model's tokenizer.json builds a pair,\n"
    "truncated longest-first to the model's positions. --ids F holds one input per\n"
    "line (whitespace-separated ids, special tokens included); --token-type-ids F the\n"
    "matching type ids, line for line (default all 0). Prints per input the label\n"
    "(the id2label name of the largest logit; a regression head's score) and the\n"
    "logits; --json prints {\"logits\": [...], \"label\": ...} per input.\n\n"
    "\n"
    "--adapter DIR merges a PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) into the weights at load; outputs keep their format.\n";

int cmd_classify(int argc, char **argv)
{
    model_args a;
    int rc = mc_parse_model_args("classify", argc, argv, classify_help,
                              " --model --adapter --json --text --text-pair --ids --token-type-ids --threads ", &a);
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
    mc_adapter_warning(&a);
    if ((rc = enc_load_adapter(a.model, a.adapter, &m, &err)) == 0 && a.threads > 0)
        rc = enc_set_threads(m, (int)a.threads, &err);
    const enc_info *info = rc == 0 ? enc_get_info(m) : NULL;
    mc_id_lines in = {0}, types = {0};
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
        rc = mc_read_id_lines(a.ids, NULL, 1, "no tokens", &in, &err);
        if (rc == 0 && a.type_ids &&
            (rc = mc_read_id_lines(a.type_ids, NULL, 1, "no token type ids", &types, &err)) == 0) {
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
    if (rc == 0 && a.ids)
        rc = mc_check_id_range(&in, a.ids, info->vocab, "id", &err);
    if (rc == 0 && a.type_ids)
        rc = mc_check_id_range(&types, a.type_ids, info->type_vocab > 0 ? info->type_vocab : 1, "type id", &err);
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
                mc_print_num(rows[s][c]);
            }
            fputs("], \"label\": ", stdout);
            if (nl == 1)
                mc_print_num(rows[s][0]);
            else
                mc_print_json_string(info->labels[best]);
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
    mc_free_id_lines(&in), mc_free_id_lines(&types);
    enc_free(m);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
