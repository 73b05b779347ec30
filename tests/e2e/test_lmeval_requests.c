/* The standard LLM suite's requests equal lm-evaluation-harness's: for
 * every task, few-shot count and document in lmeval_requests.json
 * (gen_lmeval_requests.py's independent rendering of lm-eval's YAML
 * semantics), `yardstick run --log-samples` logs exactly those arguments
 * (context and continuation of every choice, or context and generation
 * kwargs). Bundled samples always run; the real files in ../shared/data
 * when present. The tiny model keeps each run to a second or so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static int ys(const char *args) { return ts_ys(args, NULL, NULL); }

/* One set (samples or real): a run per few-shot count with every task that
 * has vectors for it; each logged document's arguments must equal them. */
static void check_set(const cJSON *set, const char *data_dir, const char *label)
{
    static const char *counts[] = {"0", "2", "3", "5", "10", NULL};
    int checked = 0;
    for (int c = 0; counts[c]; c++) {
        char tasks[4096] = "";
        const cJSON *t;
        cJSON_ArrayForEach(t, set) {
            if (!cJSON_GetObjectItem(t, counts[c]))
                continue;
            if (tasks[0])
                strcat(tasks, ",");
            strcat(tasks, t->string);
        }
        if (!tasks[0])
            continue;
        char dir[64], args[8192];
        snprintf(dir, sizeof dir, "%s_%s", label, counts[c]);
        snprintf(args, sizeof args,
                 "run --model %s/tests/data/models/tiny --tasks %s --num-fewshot %s --limit 5 %s%s --db %s.db "
                 "--output %s/results.json --log-samples",
                 YS_SOURCE_DIR, tasks, counts[c], data_dir ? "--data-dir " : "", data_dir ? data_dir : "", dir, dir);
        char mk[1200];
        snprintf(mk, sizeof mk, "mkdir -p %s/%s", ts_scratch(), dir);
        assert_int_equal(system(mk), 0);
        if (ys(args) != 0) {
            char p[600];
            snprintf(p, sizeof p, "%s/stderr.txt", ts_scratch());
            char *e = ts_read_file(p, NULL);
            fail_msg("%s: %s", args, e ? e : "");
        }
        cJSON_ArrayForEach(t, set) {
            const cJSON *want = cJSON_GetObjectItem(t, counts[c]);
            if (!want)
                continue;
            cJSON *got = ts_samples_jsonl(dir, t->string);
            assert_int_equal(cJSON_GetArraySize(got), cJSON_GetArraySize(want));
            for (int d = 0; d < cJSON_GetArraySize(want); d++) {
                const cJSON *g = cJSON_GetObjectItem(cJSON_GetArrayItem(got, d), "arguments");
                const cJSON *w = cJSON_GetArrayItem(want, d);
                if (!cJSON_Compare(g, w, 1)) {
                    char *gs = cJSON_PrintUnformatted(g), *ws = cJSON_PrintUnformatted(w);
                    fail_msg("%s %s %s-shot doc %d:\n got  %s\n want %s", label, t->string, counts[c], d, gs, ws);
                }
                checked++;
            }
            cJSON_Delete(got);
        }
    }
    assert_true(checked > 0);
}

static void test_samples_requests_equal_lmeval(void **state)
{
    (void)state;
    cJSON *v = ts_load_json(ts_vector("lmeval_requests.json"));
    check_set(cJSON_GetObjectItem(v, "samples"), NULL, "samples");
    cJSON_Delete(v);
}

static void test_real_requests_equal_lmeval(void **state)
{
    (void)state;
    if (!ts_have_shared())
        skip();
    cJSON *v = ts_load_json(ts_vector("lmeval_requests.json"));
    const cJSON *real = cJSON_GetObjectItem(v, "real");
    assert_true(cJSON_GetArraySize(real) > 0);
    check_set(real, YS_SHARED_DIR "/data", "real");
    cJSON_Delete(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_requests_equal_lmeval),
        cmocka_unit_test(test_real_requests_equal_lmeval),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
