/* `yardstick tasks`: every built-in spec validates and renders all its
 * sample documents; show prints a prompt; unknown names get suggestions;
 * the specs read the official files in ../shared/data with the official
 * example counts (skipped when ../shared is absent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"
#include "task.h"
#include "testsupport.h"

static void test_builtins_validate(void **state)
{
    (void)state;
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s tasks validate %s/tasks/builtin/*.json 2>&1", YS_BINARY, YS_SOURCE_DIR);
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fail_msg("validate failed:\n%s", out);
    int ok = 0;
    for (const char *p = out; (p = strstr(p, ": ok")); p++)
        ok++;
    assert_true(ok >= 19);
    free(out);
    snprintf(cmd, sizeof cmd, "%s tasks list", YS_BINARY);
    assert_int_equal(ts_run(cmd, &out), 0);
    static const char *names[] = {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "mnli_mismatch", "qnli", "rte", "wnli",
                                  "boolq", "cb", "copa", "squad", "wikitext", "glue", "superglue-lite",
                                  "summarization", "translation_de_en"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(out, names[i]))
            fail_msg("tasks list lacks %s", names[i]);
    free(out);
}

static void test_show_and_unknown(void **state)
{
    (void)state;
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s tasks show sst2", YS_BINARY);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_non_null(strstr(out, "SAMPLE data"));
    assert_non_null(strstr(out, "Question: Is this sentence positive or negative?\nAnswer:"));
    free(out);
    /* a task with a classification block shows the classifier's input */
    snprintf(cmd, sizeof cmd, "%s tasks show mrpc", YS_BINARY);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_non_null(strstr(out, "# classifier input: \"The city council approved"));
    assert_non_null(strstr(out, "# classifier gold class: equivalent"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s tasks show colaa 2>&1", YS_BINARY);
    assert_int_equal(ts_run(cmd, &out), 2);
    assert_non_null(strstr(out, "did you mean cola"));
    free(out);
}

static void test_official_counts(void **state)
{
    (void)state;
    if (!ts_have_shared())
        skip();
    struct {
        const char *task;
        size_t n;
    } want[] = {{"sst2", 872}, {"cola", 1043}, {"mrpc", 408}, {"stsb", 1500}, {"rte", 277},
                {"wnli", 71},  {"qnli", 5463}, {"boolq", 3270}, {"cb", 56},  {"copa", 100}};
    char data[600];
    snprintf(data, sizeof data, "%s/data", YS_SHARED_DIR);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char spec[600], samples[600];
        snprintf(spec, sizeof spec, "%s/tasks/builtin/%s.json", YS_SOURCE_DIR, want[i].task);
        snprintf(samples, sizeof samples, "%s/tasks/samples", YS_SOURCE_DIR);
        task_spec *t;
        ys_error err = {0};
        assert_int_equal(task_load(spec, &t, &err), 0);
        task_docs docs;
        if (task_docs_load(t, t->eval_split, data, samples, 0, false, &docs, &err) < 0)
            fail_msg("%s: %s", want[i].task, err.msg);
        if (docs.n != want[i].n)
            fail_msg("%s: %zu documents, official count %zu", want[i].task, docs.n, want[i].n);
        /* every real document renders, with a gold answer */
        py_random rng;
            pyr_seed(&rng, 1);
        for (size_t d = 0; d < docs.n; d++) {
            task_prompt p;
            if (task_prompt_build(t, &docs.docs[d], NULL, SIZE_MAX, 0, &rng, &p, &err) < 0)
                fail_msg("%s doc %zu: %s", want[i].task, d, err.msg);
            task_prompt_free(&p);
        }
        task_docs_free(&docs);
        task_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_validate),
        cmocka_unit_test(test_show_and_unknown),
        cmocka_unit_test(test_official_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
