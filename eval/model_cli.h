/* model_cli.h — what the engine commands share (tokenize, logprobs,
 * generate, perplexity, classify; one file each, cmd_<name>.c): their
 * options, loading a decoder, token-id input and JSON output. Only eval/
 * prints. */
#ifndef YS_MODEL_CLI_H
#define YS_MODEL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "tokenizer.h"
#include "ys_error.h"

typedef struct {
    const char *model, *adapter, *file, *jsonl, *text, *ids, *prompt, *prompt_ids;
    const char *text_pair, *type_ids, *source_ids, *early_stopping;
    const char *prompts_file;  /* generate --prompts-file */
    long batch_size;           /* generate --batch-size (0: not given) */
    model_quant quantize;      /* --quantize int8|int4|int4-sym */
    model_quant quantize_head; /* --quantize-head int8|int4|int4-sym */
    int group_size;            /* --group-size 32|128 (int4) */
    bool compute_bf16;         /* --compute bf16 (default exact) */
    bool compute_int8;         /* --compute int8 (with --quantize) */
    bool json, ignore_eos, no_special, max_tokens_set;
    long max_tokens, ctx, stride, threads, top_k, num_beams, no_repeat, from, min_tokens;
    double temperature, top_p, length_penalty;
    long seed;
    const char *stops[16];
    int nstops;
} model_args;

/* Parse whitespace-separated token ids. Returns the count, or -1 with err. */
long mc_parse_ids(const char *s, int32_t **ids, const char *where, ys_error *err);
/* A JSON string literal on stdout. */
void mc_print_json_string(const char *s);
/* %.17g, or null for NaN/inf. */
void mc_print_num(double v);
/* [id, id, ...] on stdout. */
void mc_print_ids_json(const int32_t *ids, size_t n);
/* Common option parsing; `allowed` lists the options this command takes
 * (" --a --b ", the rest are usage errors; " TEXT " allows one positional
 * text). Returns 0 or the usage exit code. */
int mc_parse_model_args(const char *cmd, int argc, char **argv, const char *help, const char *allowed,
                        model_args *a);
/* The precision options, read and checked alike by `run` and the engine
 * commands. Each returns 0, or the usage exit code after the message. */
/* --compute's value: exact, bf16 or int8. */
int mc_parse_compute(const char *cmd, const char *v, bool *bf16, bool *int8);
/* --group-size's value: 32 or 128. */
int mc_parse_group_size(const char *cmd, const char *v, int *out);
/* Their combinations with --quantize (q) and --quantize-head (qh):
 * --group-size only with an int4 scheme, --compute bf16 not with a
 * quantization, --compute int8 only with one or on a GGUF file (`model`,
 * a regular file; NULL: none). */
int mc_check_precision(const char *cmd, model_quant q, model_quant qh, int group_size, bool bf16, bool int8,
                       const char *model);
/* model_load_opts (--adapter, --quantize, --group-size, --compute) with --threads applied. */
int mc_load_model(const model_args *a, model **m, ys_error *err);
/* With --adapter: a base_model_name_or_path that does not name --model
 * is a warning on stderr (the adapter is applied all the same). */
void mc_adapter_warning(const model_args *a);

/* One id sequence per non-empty line of `path`: the line's text encoded
 * with special tokens when t is given, else whitespace-separated ids. The
 * arrays are malloc'd; free with mc_free_id_lines. */
typedef struct {
    int32_t **seqs;
    size_t *lens;
    size_t n;
    long *lines; /* the file line of each sequence, for messages */
} mc_id_lines;
void mc_free_id_lines(mc_id_lines *l);
int mc_read_id_lines(const char *path, const tok_tokenizer *t, size_t min_len, const char *why, mc_id_lines *out,
                     ys_error *err);
/* Every id of l in [0, end), else YS_EINPUT "PATH:LINE: token K: WHAT ID
 * outside the vocabulary [0, END)" (what "id"; "type id": the token types) — so a bad id in a user's file is located in the file,
 * not as "sequence 3" of the engine's batch. */
int mc_check_id_range(const mc_id_lines *l, const char *path, int32_t end, const char *what, ys_error *err);

#endif
