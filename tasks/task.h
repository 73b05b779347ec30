/* task.h — task specs: what a benchmark task is, as a JSON file.
 *
 * A spec names a dataset (files per split in a data directory, and a small
 * sample dataset shipped with yardstick in the same format), how a document
 * becomes a prompt (templates in the style of lm-evaluation-harness's
 * doc_to_text / doc_to_choice / doc_to_target), what the model is asked
 * (output_type), and which metrics score the answers. The format:
 *
 *   {
 *     "name": "sst2", "version": 1,
 *     "description": "one line",
 *     "dataset": {
 *       "format": "tsv" | "csv" | "jsonl" | "squad-json" | "text",
 *       "header": true,                    tsv/csv: first line names columns
 *       "columns": ["a", "b"],             names for headerless files (or renames)
 *       "text_split": "headings" | "none", text only
 *       "eval_split": "validation",
 *       "fewshot_split": "train",          optional; default: the eval split,
 *                                          never drawing the document itself
 *       "files":   {"validation": "glue/SST-2/dev.tsv", ...},   under --data-dir
 *       "samples": {"validation": "sst2/dev.tsv", ...},         under tasks/samples
 *       "sha256":  {"glue/SST-2/dev.tsv": "hex", ...},          optional checks
 *       "published": "where the official files can be downloaded"
 *     },
 *     "output_type": "multiple_choice" | "loglikelihood_rolling" |
 *                    "generate_until" | "classification",
 *     "doc_to_text":   "{{sentence}}\nQuestion: ...\nAnswer:",
 *     "doc_to_choice": ["negative", "positive"],     multiple_choice: one
 *                                                    template per choice
 *     "doc_to_target": "{{label}}",      multiple_choice: the gold choice's
 *                                        index, or its text; generate_until:
 *                                        the reference, or a JSON array of
 *                                        references; rolling: unused
 *     "label_map": {"entailment": 0},    optional: rendered target → index
 *     "target_delimiter": " ",           between prompt and answer (default " ")
 *     "fewshot_delimiter": "\n\n",       between examples (default "\n\n")
 *     "num_fewshot": 0,
 *     "generation": {"until": ["\n"], "max_gen_toks": 32},    generate_until
 *     "filters": [{"regex": "answer is (\\w+)", "group": 1}, "strip", "lower"],
 *                                        generate_until: applied in order to
 *                                        the generated text
 *     "metrics": [{"metric": "acc", "higher_is_better": true}, ...],
 *     "classification": {                 how an encoder classifier (BERT-style,
 *       "text": "{{sentence1}}",          fine-tuned head) reads the document:
 *       "text_pair": "{{sentence2}}",     one text or a pair, no prompt words
 *       "labels": ["entailment", ...],    the task's classes by gold index;
 *                                         absent = regression (STS-B)
 *       "match": "auto"                   model id2label → class: "name"
 *     }                                   (case-insensitive, '-'/' ' = '_'),
 *                                         "index", or "auto" (names when all
 *                                         match, else index)
 *   }
 * A multiple_choice task with a "classification" block runs as
 * classification on a classifier checkpoint and as multiple choice on a
 * language model, with the same gold labels (the block's labels are in the
 * order of doc_to_choice); output_type "classification" needs the block and
 * a classifier.
 *
 * Templates substitute {{field}} from the document, with filters chained by
 * "|": strip, lower, upper (ASCII letters), lower_first (first character lower-cased),
 * rstrip(CHARS), map(key:value,key:value) (unknown keys are an error),
 * join(SEP) and first (for fields holding JSON arrays). "{{{{" is a literal
 * "{{". Metrics by output type:
 *   multiple_choice       acc, acc_norm (log-likelihood / the answer's length
 *                         in characters, as lm-evaluation-harness), f1 (binary, gold
 *                         index 1 positive), f1_macro (the mean over the
 *                         choices of each one-vs-rest F1: lm-eval's CB f1),
 *                         mcc, pearson and spearmanr (of
 *                         the expected choice index under the choice
 *                         probabilities, against a numeric target)
 *   loglikelihood_rolling word_perplexity, byte_perplexity, bits_per_byte
 *   classification        acc, f1, f1_macro, mcc (of the predicted class),
 *                         pearson, spearmanr (of a regression head's score)
 *   generate_until        exact_match, squad_exact_match, squad_f1, bleu,
 *                         chrf, meteor, rouge1, rouge2, rougeL, rougeLsum
 * lm-evaluation-harness's shapes (see README, "The standard LLM suite"):
 *   "preprocess": "arc" | "hellaswag" | "winogrande" | "lambada" |
 *                 "truthfulqa_mc"    fields added per record (lmeval_docs.h)
 *   "doc_to_choice": "{{choices}}"   one template giving a JSON array of
 *                                    strings: a choice count per document
 *   "multiple_input": true           choices are contexts (winogrande):
 *                                    doc_to_text gives the gold index,
 *                                    doc_to_target the shared continuation
 *   "prompt_description": "..."      text before the few-shot examples (MMLU)
 *   "fewshot_sampler": "random" | "first_n"
 *                                    how the num_fewshot examples are drawn
 *                                    from the few-shot split (prompt.h):
 *                                    "random" (default; lm-eval's default
 *                                    sampler, also accepted by its lm-eval
 *                                    name "default"): seeded random.sample
 *                                    per document, so documents get
 *                                    different examples; "first_n" (lm-eval's
 *                                    FirstNSampler): the split's first n
 *                                    documents in order, the same for every
 *                                    document (so a run's prompts share one
 *                                    prefix the prefix cache computes once).
 *                                    `run --fewshot-sampler` overrides it.
 *   "output_type": "loglikelihood"   one (context, doc_to_target) request;
 *                                    metrics perplexity, acc (greedy)
 *   "process_results": "mc2", "doc_to_labels": "{{mc2_labels}}"
 *                                    acc = probability mass of label-1 choices
 *   "filter_list": [{"name": N, "filter": [{"function": "regex",
 *                   "regex_pattern": P, "group_select": G},
 *                   {"function": "take_first"}]}]   generate_until: each
 *                                    pipeline gives results "metric,N"
 *   metrics[].ignore_case / ignore_punctuation / regexes_to_ignore
 *                                    exact_match's options
 *   dataset.format "json"            one JSON array of objects
 *   dataset.labels / labels_samples  {"split": "file"}: line i is the
 *                                    "label" of record i (PIQA)
 * A group spec is {"name": "glue", "group": ["cola", "sst2", ...],
 * "aggregate": "glue" | "mean" | "weighted"}: it runs its members and adds
 * their average; "weighted" with "aggregate_metrics": ["acc"] averages those
 * metrics weighted by document counts, subgroups first, stderr pooled
 * (lm-eval's weight_by_size); "num_fewshot": {"member": k} runs a member
 * (every task under it) with k examples.
 *
 * Functions return 0 or a negative YS_E* code with a message naming the
 * spec file and the key (`sst2.json: dataset.files: ...`). A task_spec owns
 * all its strings; free it with task_free.
 */
#ifndef YS_TASK_H
#define YS_TASK_H

#include <stdbool.h>
#include <stddef.h>

#include "ys_error.h"

typedef enum { OUT_MULTIPLE_CHOICE, OUT_ROLLING, OUT_GENERATE, OUT_CLASSIFICATION, OUT_LOGLIKELIHOOD } task_output;
/* lm-evaluation-harness's name of an output type ("multiple_choice",
 * "loglikelihood_rolling", "generate_until", "classification",
 * "loglikelihood"). */
const char *task_output_name(task_output o);

typedef struct {
    char *name;
    bool higher_is_better;
    /* exact_match's options (lm-eval's, from HF evaluate): each regex is
     * removed from prediction and reference in turn, then case folded */
    bool ignore_case, ignore_punctuation;
    char **regexes_to_ignore;
    size_t nregexes;
} task_metric;

typedef struct {
    char *kind;  /* "regex", "findall" (lm-eval's regex filter), "take_first"
                    or a plain filter name */
    char *regex; /* PCRE2 pattern for "regex" / "findall" */
    int group;   /* regex: capture group to keep (0: whole match);
                    findall: group_select, the match to keep (-1: last) */
} task_filter;

/* A named filter pipeline (lm-eval's filter_list entry): results are keyed
 * "metric,NAME". */
typedef struct {
    char *name;
    task_filter *filters;
    size_t nfilters;
} task_filter_list;

typedef struct {
    char *path;       /* the spec file */
    char *name, *description;
    int version;
    /* group specs */
    char **members;
    size_t nmembers;
    char *aggregate;  /* "glue", "mean" or "weighted" */
    int *member_fewshot; /* per member, -1 = its own (group "num_fewshot") */
    char **agg_metrics; /* "weighted": the metrics averaged, by size */
    size_t nagg_metrics;
    /* dataset */
    char *format;
    bool header;
    char **columns;
    size_t ncolumns;
    char *text_split;
    char *eval_split, *fewshot_split;
    char **split_names, **split_files, **split_samples; /* parallel, nsplits */
    size_t nsplits;
    char **sha_files, **sha_values;
    size_t nsha;
    char *published;
    char **label_splits, **label_files, **label_samples; /* per split, nlabel_files */
    size_t nlabel_files;
    char *preprocess;  /* a built-in document transformation (lmeval_docs.h) */
    /* prompts */
    task_output output;
    char *doc_to_text, *doc_to_target;
    char **doc_to_choice;
    size_t nchoices;
    char *choice_list;     /* doc_to_choice as one template rendering a JSON
                              array of strings (choices per document) */
    bool multiple_input;   /* winogrande: choices are contexts */
    char *prompt_description; /* text before the few-shot examples */
    char *sampler;         /* "random", "default" (the same) or "first_n" */
    char *process_results; /* "mc2" or NULL */
    char *doc_to_labels;   /* mc2: JSON array of 0/1 per choice */
    char **label_keys;
    int *label_values;
    size_t nlabels;
    char *target_delimiter, *fewshot_delimiter;
    int num_fewshot;
    char **until;
    size_t nuntil;
    int max_gen_toks;
    task_filter *filters;
    size_t nfilters;
    task_filter_list *filter_lists;
    size_t nfilter_lists;
    task_metric *metrics;
    size_t nmetrics;
    /* "classification": how an encoder classifier sees the task */
    bool has_cls;
    char *cls_text, *cls_text_pair; /* templates; text_pair may be NULL */
    char **cls_labels;              /* class names by gold index; none = regression */
    size_t ncls_labels;
    char *cls_match;                /* "auto", "name" or "index" */
} task_spec;

/* Parse and validate one spec file. */
int task_load(const char *path, task_spec **out, ys_error *err);
void task_free(task_spec *t);
bool task_is_group(const task_spec *t);
/* s names a few-shot sampler ("random", "default", "first_n"). */
bool task_sampler_valid(const char *s);

/* Render a template against a document given as parallel name/value
 * arrays; *out is malloc'd. Unknown fields and filters are YS_EINPUT errors
 * naming the template. */
int task_render(const char *tmpl, const char *const *names, const char *const *values, size_t n, char **out,
                ys_error *err);

#endif
