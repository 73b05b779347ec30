/* lmeval_docs.h — documents as lm-evaluation-harness's tasks see them.
 *
 * lm-eval reads most benchmarks through Hugging Face datasets and reshapes
 * some documents in Python (process_docs, doc_to_* functions). yardstick
 * reads the official files instead; a spec's "preprocess" names one of
 * these transformations, which adds the fields its templates use to each
 * record (the record's own fields stay, so the sample log shows them):
 *
 *   arc          official ARC JSONL (question.stem, question.choices[].text
 *                and .label, answerKey) → question (the stem), choices (JSON
 *                array of the texts), gold (the index of answerKey among the
 *                labels: lm-eval's choices.label.index(answerKey))
 *   hellaswag    hellaswag_{train,val}.jsonl → query = preprocess(
 *                activity_label + ": " + ctx_a + " " + capitalize(ctx_b)),
 *                choices = [preprocess(e) for e in endings], gold = label;
 *                preprocess: strip, " [title]" → ". ", every "[...]" on one
 *                line removed, then "  " → " " (lm-eval's hellaswag/utils.py)
 *   winogrande   sentence with one "_" → choices = [sentence[:i] + option1,
 *                sentence[:i] + option2] (the contexts), target =
 *                sentence[i+1:].strip() (the shared continuation), gold =
 *                answer - 1
 *   lambada      text → context = everything before the last ' ', target =
 *                ' ' + the piece after it (text.split(' '), as lm-eval)
 *   truthfulqa_mc mc_task.json items → mc1_choices, mc2_choices (JSON arrays
 *                of the keys of mc1_targets / mc2_targets, in file order) and
 *                mc2_labels (their 0/1 values)
 *
 * "strip" is Python's str.strip() (Unicode white space), "capitalize" is
 * str.capitalize() for text whose first character is ASCII (upper-cased;
 * a non-ASCII first character is kept) with the rest lower-cased.
 * Errors are YS_EINPUT naming the task and the file line.
 */
#ifndef YS_LMEVAL_DOCS_H
#define YS_LMEVAL_DOCS_H

#include "prompt.h"
#include "ys_error.h"

int lmd_preprocess(const task_spec *t, task_doc *d, ys_error *err);

/* Python's str.strip() of s[0..n): *a and *b bound the kept bytes. */
void lmd_py_strip(const char *s, size_t n, size_t *a, size_t *b);

/* Add (or replace) a field of d; value is copied. */
int lmd_set_field(task_doc *d, const char *name, const char *value);

#endif
