/* `yardstick import` and `yardstick runs`: an lm-evaluation-harness results
 * file goes into the store and comes back out in the same layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

static int ys(const char *fmt, const char *arg, char **out)
{
    char args[1024];
    snprintf(args, sizeof args, fmt, arg);
    return ts_ys(args, out, NULL);
}

static void test_import_show_delete(void **state)
{
    (void)state;
    char file[512];
    snprintf(file, sizeof file, "%s/results.json", ts_scratch());
    ts_write_file(file,
                  "{\"results\": {\"sst2\": {\"alias\": \"sst2\", \"acc,none\": 0.9174, \"acc_stderr,none\": 0.0093},"
                  " \"cola\": {\"mcc,none\": 0.41, \"mcc_stderr,none\": null}},"
                  " \"higher_is_better\": {\"sst2\": {\"acc\": true}},"
                  " \"n-samples\": {\"sst2\": {\"original\": 872, \"effective\": 872}},"
                  " \"config\": {\"model\": \"hf\", \"model_args\": \"pretrained=gpt2,dtype=float32\"}}");
    char *out;
    assert_int_equal(ys("import %s --db r.db", file, &out), 0);
    assert_non_null(strstr(out, "as run 1"));
    free(out);
    assert_int_equal(ys("runs list --db r.db%s", "", &out), 0);
    assert_non_null(strstr(out, "gpt2"));
    assert_non_null(strstr(out, "imported"));
    free(out);
    assert_int_equal(ys("runs show 1 --db r.db --format json%s", "", &out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *sst2 = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "results"), "sst2");
    ts_close(ts_num(sst2, "acc,none"), 0.9174, 0, "acc", NULL);
    ts_close(ts_num(sst2, "acc_stderr,none"), 0.0093, 0, "acc_stderr", NULL);
    const cJSON *cola = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "results"), "cola");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cola, "mcc_stderr,none")));
    ts_close(ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "n-samples"), "sst2"), "effective"), 872, 0, "n", NULL);
    assert_string_equal(cJSON_GetObjectItem(j, "model_name")->valuestring, "gpt2");
    cJSON_Delete(j);
    free(out);
    assert_int_equal(ys("runs delete 1 --db r.db%s", "", &out), 0);
    free(out);
    assert_int_equal(ys("runs show 1 --db r.db%s", "", &out), 3);
    free(out);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char file[512];
    snprintf(file, sizeof file, "%s/bad.json", ts_scratch());
    ts_write_file(file, "{\"no_results\": 1}");
    char *out;
    assert_int_equal(ys("import %s --db r2.db", file, &out), 3);
    free(out);
    ts_write_file(file, "{not json");
    assert_int_equal(ys("import %s --db r2.db", file, &out), 3);
    free(out);
    /* a file that is not a yardstick store */
    ts_write_file(file, "plain text, not sqlite, long enough to fill the header of a page .......................");
    assert_int_equal(ys("runs list --db %s", file, &out), 3);
    free(out);
    assert_int_equal(ys("runs frobnicate%s", "", &out), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_show_delete),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
