/* yardstick — one binary, git-style subcommands. Each subcommand lives in
 * its own file (cmd_*.c) and is listed once in the table below. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"run", cmd_run, "score a checkpoint on tasks; results into the store"},
    {"rescore", cmd_rescore, "recompute a run's metrics from its cached responses, without the model"},
    {"score", cmd_score, "score a predictions file with metrics (no model needed)"},
    {"tasks", cmd_tasks, "list, show or validate task specs"},
    {"tokenize", cmd_tokenize, "token ids and pieces of a text (Hugging Face tokenizer.json)"},
    {"logprobs", cmd_logprobs, "per-token log-probabilities of texts or id sequences"},
    {"generate", cmd_generate, "continue a prompt (greedy or seeded sampling, KV cache)"},
    {"classify", cmd_classify, "labels and logits of a fine-tuned encoder classifier (BERT, RoBERTa, DistilBERT)"},
    {"perplexity", cmd_perplexity, "sliding-window perplexity of a text file"},
    {"kld", cmd_kld, "KL divergence of a model from a base model (llama.cpp's statistics)"},
    {"runs", cmd_runs, "list, show or delete runs in the results store"},
    {"report", cmd_report, "the leaderboard: models x tasks (md, html, csv, json)"},
    {"compare", cmd_compare, "the regression gate: candidate vs baseline, exit 1 on a regression"},
    {"import", cmd_import, "import an lm-evaluation-harness results file as a run"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: yardstick [--version] [--help] <command> [<args>]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nRun 'yardstick <command> --help' for a command's options.\n"
                 "Exit codes: 0 success, 1 a check failed, 2 usage error, 3 bad input data.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("yardstick %s\n", YS_VERSION);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "yardstick: '%s' is not a yardstick command\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
