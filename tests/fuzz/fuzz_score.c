/* fuzz_score — the `yardstick score` JSONL reader and the metrics behind
 * it, driven as the command (cmd_score): the strict line check, the fast
 * path, field look-up, reference lists, label parsing, every metric.
 *
 * Byte 0 picks the metric set and options; the rest of the input is the
 * predictions file. Per-sample output goes to a scratch file. The score
 * itself is not checked here (the parity tests do that): the command must
 * answer with a score or an error, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "cli.h"
#include "fuzz_util.h"

static const char *const metric_sets[][6] = {
    {"--metrics", "exact_match,squad", NULL},
    {"--metrics", "bleu,chrf", "--chrf-word-order", "2", NULL},
    {"--metrics", "rouge", "--rouge-stem", NULL},
    {"--metrics", "meteor", NULL},
    {"--metrics", "accuracy,f1,matthews_correlation", "--average", "macro", NULL},
    {"--metrics", "pearsonr,spearmanr", NULL},
    {"--metrics", "exact_match", "--ignore-case", "--ignore-punctuation", NULL},
    {"--metrics", "accuracy", "--glue", "mrpc", NULL},
    {"--metrics", "exact_match,bleu", "--bootstrap", "20", "--seed", "3"},
};
#define NSETS (sizeof metric_sets / sizeof metric_sets[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet)
        fz_quiet(), quiet = 1;
    if (size < 1)
        return 0;
    const char *dir = fz_dir();
    fz_write(dir, "preds.jsonl", data + 1, size - 1);
    char in[512], per[512];
    fz_path(in, sizeof in, dir, "preds.jsonl");
    fz_path(per, sizeof per, dir, "per_sample.jsonl");
    char *argv[16] = {"score", "--input", in, "--per-sample", per, "--json"};
    int argc = 6;
    const char *const *set = metric_sets[data[0] % NSETS];
    for (int i = 0; i < 6 && set[i]; i++)
        argv[argc++] = (char *)set[i];
    argv[argc] = NULL;
    cmd_score(argc, argv);
    return 0;
}
