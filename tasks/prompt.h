/* prompt.h — from a task spec and its data files to documents and prompts.
 *
 * task_docs_load reads one split: from the official file under data_dir,
 * or, when data_dir is NULL, from the spec's sample file under samples_dir
 * (a run on samples is labelled as such by the caller). A missing official
 * file is an error that says which file, where it looked, and where the
 * dataset is published. Expected SHA-256 sums in the spec are checked.
 *
 * A spec's "preprocess" (lmeval_docs.h) adds fields to every record after
 * it is read; "labels" files add the field "label" line by line; format
 * "json" reads one JSON array of objects (fields as jsonl's, key order
 * kept).
 *
 * task_prompt_build renders one document the way lm-evaluation-harness
 * does: prompt_description, then num_fewshot examples, each doc_to_text +
 * target_delimiter + its answer + fewshot_delimiter, then the document's
 * doc_to_text. Examples are lm-eval's: sampler "random" ("default") is
 * random.Random(seed).sample(pool, k) with one generator per task run
 * through the documents in order (k + 1 drawn and the document itself
 * dropped when the pool is the evaluated split); "first_n" takes the
 * pool's first k. The same seed gives byte-identical prompts.
 * Everything returned is malloc'd; free with the matching *_free.
 */
#ifndef YS_PROMPT_H
#define YS_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyrandom.h"
#include "task.h"
#include "ys_error.h"

typedef struct {
    char **names, **values;
    size_t nfields;
    long line; /* in the data file (0 when the format has no lines) */
    const char *file; /* the data file (its task_docs' path), for messages */
} task_doc;

typedef struct {
    task_doc *docs;
    size_t n;
    char *path;   /* the file read */
    char *labels_path; /* its labels file (dataset.labels), or NULL */
    bool sample;  /* read from the bundled sample data */
    size_t skipped;
} task_docs;

typedef struct {
    char *context;     /* few-shot examples + this document's doc_to_text
                          (multiple_input: the examples only) */
    char **choices;    /* multiple_choice: target_delimiter + each choice
                          (multiple_input: target_delimiter + the target,
                          once per choice); loglikelihood: the target */
    char **contexts;   /* multiple_input: the context of each choice */
    int *labels;       /* process_results mc2: 0/1 per choice */
    size_t nchoices;
    int gold;          /* multiple_choice, classification: the gold class, or -1 */
    double gold_number; /* a numeric target (STS-B), or NAN */
    char **refs;       /* generate_until: the references */
    size_t nrefs;
    char *target;      /* the rendered doc_to_target (for logs) */
    char *cls_text, *cls_pair; /* the classification block's text and
                                  text_pair (NULL when it has none) */
} task_prompt;

int task_docs_load(const task_spec *t, const char *split, const char *data_dir, const char *samples_dir,
                   size_t limit, bool skip_bad_rows, task_docs *out, ys_error *err);
void task_docs_free(task_docs *d);

/* self: the document's index in pool when pool is its own split, else
 * SIZE_MAX. rng: the task's generator (pyr_seed it with the run seed). */
int task_prompt_build(const task_spec *t, const task_doc *doc, const task_docs *pool, size_t self,
                      int num_fewshot, py_random *rng, task_prompt *out, ys_error *err);
void task_prompt_free(task_prompt *p);
/* Where a document's error is: "FILE:LINE: task NAME" (or "FILE: task
 * NAME" for formats without lines), into buf. */
const char *task_doc_where(const task_spec *t, const task_doc *d, char *buf, size_t cap);

/* The task's content hash: SHA-256 over the spec file's bytes and then each
 * data file's bytes, so a changed prompt or dataset changes the hash. */
int task_content_hash(const task_spec *t, const char *const *data_files, size_t n, char hex[65], ys_error *err);

#endif
