/* The command-line contract: --version, --help, exit codes. */
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static void test_version(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(ts_run(YS_BINARY " --version", &out), 0);
    assert_non_null(strstr(out, "yardstick "));
    free(out);
}

static void test_unknown_command_is_usage_error(void **state)
{
    (void)state;
    assert_int_equal(ts_run(YS_BINARY " frobnicate 2>/dev/null", NULL), 2);
    assert_int_equal(ts_run(YS_BINARY " 2>/dev/null", NULL), 2);
}

static void test_help_lists_commands(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(ts_run(YS_BINARY " --help", &out), 0);
    assert_non_null(strstr(out, "score"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_unknown_command_is_usage_error),
        cmocka_unit_test(test_help_lists_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
