/* fuzz_dataset — every dataset format: the raw readers (tasks/dataset.h:
 * GLUE TSV, CSV, JSONL, SQuAD JSON, WikiText text) and, through the
 * built-in task specs, the documents and prompts each task makes of its
 * file (SuperGLUE JSONL with label maps, lm-eval's preprocessing of ARC,
 * HellaSwag, PIQA, Winogrande, TruthfulQA, MMLU, GSM8K, LAMBADA, the JSON
 * array format, few-shot sampling).
 *
 * Byte 0 picks the reader: below NRAW, a raw format with options; else a
 * built-in spec (sorted by name), whose evaluation split's sample file is
 * replaced by the rest of the input. Its documents (the first 64) are
 * then rendered with two few-shot examples drawn from themselves, as a
 * run does. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "fuzz_util.h"
#include "prompt.h"
#include "task.h"

static const ds_options raw[] = {
    {.format = "tsv", .header = true},
    {.format = "tsv", .skip_bad_rows = true},
    {.format = "csv", .header = true},
    {.format = "csv", .columns = (const char *const[]){"a", "b"}, .ncolumns = 2, .skip_bad_rows = true},
    {.format = "jsonl"},
    {.format = "jsonl", .skip_bad_rows = true},
    {.format = "squad-json"},
    {.format = "text"},
    {.format = "text", .text_split = "none"},
};
#define NRAW (sizeof raw / sizeof raw[0])

static task_spec **specs;
static size_t nspecs;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The built-in specs that read data (groups excluded), loaded once. */
static void load_specs(void)
{
    DIR *d = opendir(YS_SOURCE_DIR "/tasks/builtin");
    if (!d)
        abort();
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (strstr(e->d_name, ".json"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    specs = calloc(n, sizeof *specs);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tasks/builtin/%s", YS_SOURCE_DIR, names[i]);
        task_spec *t = NULL;
        ys_error err = {0};
        if (task_load(path, &t, &err) == 0 && !task_is_group(t))
            specs[nspecs++] = t;
        else
            task_free(t);
        free(names[i]);
    }
}

static void raw_reader(const ds_options *o, const uint8_t *data, size_t size)
{
    const char *dir = fz_dir();
    fz_write(dir, "data", data, size);
    char path[512];
    ds_reader *r = NULL;
    ys_error err = {0};
    if (ds_open(fz_path(path, sizeof path, dir, "data"), o, &r, &err) < 0)
        return;
    ds_row row;
    while (ds_next(r, &row, &err) == 1)
        (void)ds_field(&row, "label");
    ds_close(r);
}

/* Write `data` as samples_dir/rel, making rel's folders. */
static void put_sample(const char *samples_dir, const char *rel, const uint8_t *data, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", samples_dir, rel);
    for (char *s = path + strlen(samples_dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(path, 0700);
        *s = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        abort();
}

static void task_reader(const task_spec *t, const uint8_t *data, size_t size)
{
    char sbuf[512];
    const char *samples = fz_subdir(sbuf, sizeof sbuf, "samples");
    for (size_t i = 0; i < t->nsplits; i++)
        if (t->split_samples[i])
            put_sample(samples, t->split_samples[i], data, size);
    for (size_t i = 0; i < t->nlabel_files; i++)
        if (t->label_samples[i])
            put_sample(samples, t->label_samples[i], (const uint8_t *)"0\n1\n", 4);
    task_docs docs;
    ys_error err = {0};
    if (task_docs_load(t, t->eval_split, NULL, samples, 64, false, &docs, &err) < 0)
        return;
    py_random rng;
    pyr_seed(&rng, 1234);
    int k = docs.n > 2 ? 2 : 0;
    for (size_t i = 0; i < docs.n; i++) {
        task_prompt p;
        if (task_prompt_build(t, &docs.docs[i], k ? &docs : NULL, i, k, &rng, &p, &err) == 0)
            task_prompt_free(&p);
    }
    task_docs_free(&docs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!specs)
        load_specs();
    if (size < 1)
        return 0;
    size_t pick = data[0] % (NRAW + nspecs);
    if (pick < NRAW)
        raw_reader(&raw[pick], data + 1, size - 1);
    else
        task_reader(specs[pick - NRAW], data + 1, size - 1);
    return 0;
}
