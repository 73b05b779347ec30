/* `yardstick run` with the prefix cache and the few-shot samplers (bundled
 * tiny model, sample data):
 *   - results JSON and every samples log are byte-identical with the
 *     prefix cache off (--prefix-cache-mb 0), tiny (evicting), and at its
 *     default, for first_n and random few-shot examples; the summary says
 *     how many prompt tokens the cache served (none when off, some when
 *     on with first_n); the same for a generation task (GSM8K 1-shot
 *     first_n: the batch's prompts start after the cached example)
 *   - --fewshot-sampler first_n gives every document the few-shot split's
 *     first K documents, in order; random gives documents different ones;
 *     a spec's "fewshot_sampler" does the same, the option overrides it,
 *     and a bad name fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static int ys(const char *args, char **out, char **err) { return ts_ys(args, out, err); }

/* "... served from the prefix cache N ..." of the summary */
static long served(const char *err)
{
    const char *p = strstr(err, "served from the prefix cache ");
    assert_non_null(p);
    return strtol(p + strlen("served from the prefix cache "), NULL, 10);
}

static const char *const TASKS[] = {"copa", "boolq", "cb", "hellaswag"};
#define NT (sizeof TASKS / sizeof *TASKS)

static void test_cache_on_off(void **state)
{
    (void)state;
    const char *samplers[] = {"first_n", "random"};
    for (int si = 0; si < 2; si++) {
        const char *caches[] = {"--prefix-cache-mb 0", "--prefix-cache-mb 1", ""};
        char *ref_json = NULL, *ref_samples[NT] = {0};
        for (int ci = 0; ci < 3; ci++) {
            char args[1024], *out, *err;
            snprintf(args, sizeof args,
                     "run --no-db --tasks copa,boolq,cb,hellaswag --num-fewshot 3 --fewshot-sampler %s %s "
                     "--output r%d%d/results.json --log-samples",
                     samplers[si], caches[ci], si, ci);
            if (ys(args, &out, &err) != 0)
                fail_msg("%s: %s", args, err);
            long s = served(err);
            if (ci == 0)
                assert_int_equal(s, 0);
            if (ci == 2 && si == 0)   /* first_n: every prompt begins with the same examples */
                assert_true(s > 0);
            char path[256], sub[16];
            snprintf(sub, sizeof sub, "r%d%d", si, ci);
            snprintf(path, sizeof path, "%s/results.json", sub);
            char *json = ts_read_file(ts_path(path), NULL);
            assert_non_null(json);
            if (ci == 0)
                ref_json = json;
            else {
                if (strcmp(json, ref_json))
                    fail_msg("%s: results JSON differs from the run without the prefix cache", args);
                free(json);
            }
            for (size_t t = 0; t < NT; t++) {
                char *smp = ts_samples_log(sub, TASKS[t]);
                if (ci == 0)
                    ref_samples[t] = smp;
                else {
                    if (strcmp(smp, ref_samples[t]))
                        fail_msg("%s: samples of %s differ from the run without the prefix cache", args, TASKS[t]);
                    free(smp);
                }
            }
            free(out), free(err);
        }
        free(ref_json);
        for (size_t t = 0; t < NT; t++)
            free(ref_samples[t]);
    }
}

/* Remove the line of the results JSON's "batch_size" (in place). */
static void drop_batch_size(char *json)
{
    char *p = strstr(json, "\"batch_size\"");
    if (!p)
        return;
    char *b = p, *e = strchr(p, '\n');
    while (b > json && b[-1] != '\n')
        b--;
    memmove(b, e ? e + 1 : p + strlen(p), strlen(e ? e + 1 : p + strlen(p)) + 1);
}

/* Generation through the prefix cache: gsm8k's prompts (1 example, the
 * same for all: first_n) share their first ~210 tokens; the results and
 * the generations are the ones computed without it, at batch sizes 1, 2
 * (with a 1 MB cache) and the default. */
static void test_generation(void **state)
{
    (void)state;
    const char *runs[] = {"--prefix-cache-mb 0", "", "--batch-size 1", "--prefix-cache-mb 1 --batch-size 2"};
    char *ref_json = NULL, *ref_samples = NULL;
    for (int i = 0; i < 4; i++) {
        char args[1024], sub[16], path[64], *out, *err;
        snprintf(sub, sizeof sub, "gen%d", i);
        snprintf(args, sizeof args,
                 "run --no-db --tasks gsm8k --num-fewshot 1 --fewshot-sampler first_n %s --output %s/results.json "
                 "--log-samples",
                 runs[i], sub);
        if (ys(args, &out, &err) != 0)
            fail_msg("%s: %s", args, err);
        long s = served(err);
        if (i == 0)
            assert_int_equal(s, 0);
        else if (i < 3)   /* the example's 13 whole blocks for each later prompt */
            assert_true(s >= 2 * 13 * 16);
        snprintf(path, sizeof path, "%s/results.json", sub);
        char *json = ts_read_file(ts_path(path), NULL), *smp = ts_samples_log(sub, "gsm8k");
        assert_non_null(json);
        if (i == 0) {
            drop_batch_size(json);
            ref_json = json, ref_samples = smp;
            free(out), free(err);
            continue;
        }
        drop_batch_size(json);   /* the one setting that differs: recorded in the config */
        if (strcmp(json, ref_json) || strcmp(smp, ref_samples))
            fail_msg("%s: results or generations differ from the run without the prefix cache", args);
        free(json), free(smp), free(out), free(err);
    }
    free(ref_json), free(ref_samples);
}

/* The context of line i of a samples log (its first request's first argument). */
static const char *context_of(const cJSON *lines, int i)
{
    const cJSON *args = cJSON_GetObjectItem(cJSON_GetArrayItem(lines, i), "arguments");
    return cJSON_GetArrayItem(cJSON_GetArrayItem(args, 0), 0)->valuestring;
}

/* The part of a context before its document: the examples. */
static size_t examples_len(const char *ctx)
{
    const char *last = NULL;
    for (const char *p = strstr(ctx, "\n\n"); p; p = strstr(p + 2, "\n\n"))
        last = p;
    return last ? (size_t)(last - ctx) + 2 : 0;
}

static cJSON *log_of(const char *sub, const char *task)
{
    char *t = ts_samples_log(sub, task);
    /* one JSON object per line */
    cJSON *arr = cJSON_CreateArray();
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
        cJSON_AddItemToArray(arr, cJSON_Parse(line));
    free(t);
    return arr;
}

static void test_samplers(void **state)
{
    (void)state;
    char *out, *err;
    /* first_n through the option: copa's few-shot split is train; its first three rows, in order */
    assert_int_equal(ys("run --no-db --tasks copa --num-fewshot 3 --fewshot-sampler first_n --output f/r.json "
                        "--log-samples", &out, &err), 0);
    free(out), free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/tasks/samples/copa/train.jsonl", YS_SOURCE_DIR);
    cJSON *train = ts_load_jsonl(path);
    cJSON *lines = log_of("f", "copa");
    const char *c0 = context_of(lines, 0);
    size_t e0 = examples_len(c0);
    assert_true(e0 > 0);
    for (int k = 0; k < 3; k++) {   /* each of the first three train premises appears, in order */
        char premise[512];
        snprintf(premise, sizeof premise, "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(train, k), "premise")->valuestring);
        premise[strcspn(premise, ".")] = 0;
        const char *at = strstr(c0, premise);
        if (!at || (size_t)(at - c0) >= e0)
            fail_msg("first_n: train row %d's premise is not among the examples", k);
        if (k > 0) {
            char prev[512];
            snprintf(prev, sizeof prev, "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(train, k - 1), "premise")->valuestring);
            prev[strcspn(prev, ".")] = 0;
            assert_true(strstr(c0, prev) < at);
        }
    }
    int n = cJSON_GetArraySize(lines);
    assert_true(n > 3);
    for (int i = 1; i < n; i++) {
        const char *ci = context_of(lines, i);
        if (examples_len(ci) != e0 || strncmp(ci, c0, e0))
            fail_msg("first_n: document %d has other examples than document 0", i);
    }
    cJSON_Delete(lines);
    cJSON_Delete(train);

    /* random: documents get different examples */
    assert_int_equal(ys("run --no-db --tasks copa --num-fewshot 3 --fewshot-sampler random --output g/r.json "
                        "--log-samples", &out, &err), 0);
    free(out), free(err);
    lines = log_of("g", "copa");
    int differ = 0;
    for (int i = 1; i < cJSON_GetArraySize(lines); i++) {
        const char *ci = context_of(lines, i), *c = context_of(lines, 0);
        differ += examples_len(ci) != examples_len(c) || strncmp(ci, c, examples_len(c));
    }
    assert_true(differ > 0);
    cJSON_Delete(lines);

    /* the spec's field: a copy of copa saying first_n gives the option's prompts; "random"
     * in the spec is the default's; a bad name fails */
    snprintf(path, sizeof path, "%s/tasks/builtin/copa.json", YS_SOURCE_DIR);
    char *spec = ts_read_file(path, NULL);
    const char *names[] = {"first_n", "random", "bogus"};
    for (int k = 0; k < 3; k++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "mkdir -p %s/spec%d", ts_scratch(), k);
        assert_int_equal(system(cmd), 0);
        char *s = malloc(strlen(spec) + 256), *at = strstr(spec, "\"num_fewshot\": 0,");
        assert_non_null(at);
        sprintf(s, "%.*s\"num_fewshot\": 3, \"fewshot_sampler\": \"%s\",%s", (int)(at - spec), spec, names[k],
                at + strlen("\"num_fewshot\": 0,"));
        char *nm = strstr(s, "\"name\": \"copa\"");
        assert_non_null(nm);
        memcpy(nm, "\"name\": \"cop2\"", 14);
        snprintf(cmd, sizeof cmd, "%s/spec%d/cop2.json", ts_scratch(), k);
        FILE *f = fopen(cmd, "w");
        assert_non_null(f);
        fputs(s, f);
        fclose(f);
        free(s);
        snprintf(cmd, sizeof cmd, "run --no-db --include-path spec%d --tasks cop2 --output s%d/r.json --log-samples", k, k);
        int rc = ys(cmd, &out, &err);
        if (k == 2) {
            assert_int_not_equal(rc, 0);
            assert_non_null(strstr(err, "fewshot_sampler"));
        } else {
            if (rc)
                fail_msg("%s: %s", cmd, err);
            char sub[8];
            snprintf(sub, sizeof sub, "s%d", k);
            cJSON *a = log_of(sub, "cop2"), *b = log_of(k == 0 ? "f" : "g", "copa");
            for (int i = 0; i < cJSON_GetArraySize(a); i++)
                if (strcmp(context_of(a, i), context_of(b, i)))
                    fail_msg("spec sampler %s: document %d's prompt differs from --fewshot-sampler's", names[k], i);
            cJSON_Delete(a), cJSON_Delete(b);
        }
        free(out), free(err);
    }
    /* the option overrides the spec: spec first_n, option random = the random prompts */
    assert_int_equal(ys("run --no-db --include-path spec0 --tasks cop2 --fewshot-sampler random --output o/r.json "
                        "--log-samples", &out, &err), 0);
    free(out), free(err);
    cJSON *a = log_of("o", "cop2"), *b = log_of("g", "copa");
    for (int i = 0; i < cJSON_GetArraySize(a); i++)
        assert_string_equal(context_of(a, i), context_of(b, i));
    cJSON_Delete(a), cJSON_Delete(b);
    free(spec);
    /* a bad option value */
    assert_int_not_equal(ys("run --no-db --tasks copa --fewshot-sampler sometimes", &out, &err), 0);
    free(out), free(err);
}

static int setup(void **state)
{
    if (ts_scratch_setup(state) != 0)
        return -1;
    char cmd[1024];
    /* a spec in specN/ reads its sample data from specN/../samples */
    snprintf(cmd, sizeof cmd, "cd %s && mkdir -p r00 r01 r02 r10 r11 r12 f g o s0 s1 s2 gen0 gen1 gen2 gen3 && ln -s %s/tasks/samples samples",
             ts_scratch(), YS_SOURCE_DIR);
    return system(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_on_off),
        cmocka_unit_test(test_samplers),
        cmocka_unit_test(test_generation),
    };
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}
