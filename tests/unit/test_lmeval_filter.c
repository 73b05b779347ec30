/* lm-eval's GSM8K answer filters and exact_match settings against Python's
 * re (lmeval_filters.json from gen_lmeval_filters.py): commas, negative
 * numbers, trailing periods, several numbers, dollar signs, no number,
 * a no-break space. */
#include <stdlib.h>
#include <string.h>

#include "exact_match.h"
#include "lmeval_filter.h"
#include "testsupport.h"

static void test_filters_and_exact_match_equal_python_re(void **state)
{
    (void)state;
    cJSON *v = ts_load_json(ts_vector("lmeval_filters.json"));
    const char *strict = cJSON_GetObjectItem(v, "strict")->valuestring;
    const char *flex = cJSON_GetObjectItem(v, "flexible")->valuestring;
    const cJSON *ign = cJSON_GetObjectItem(v, "regexes_to_ignore");
    const char *regexes[8];
    size_t nr = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ign) regexes[nr++] = it->valuestring;
    em_options eo = {true, false, false, regexes, nr};
    ys_error err = {0};
    em_matcher *em = em_create(&eo, &err);
    assert_non_null(em);
    int n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(v, "cases")) {
        const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
        const char *ref = cJSON_GetObjectItem(it, "reference")->valuestring;
        char *s = NULL, *f = NULL;
        assert_int_equal(lmf_regex(strict, 0, "[invalid]", text, &s, &err), 0);
        assert_int_equal(lmf_regex(flex, -1, "[invalid]", text, &f, &err), 0);
        assert_string_equal(s, cJSON_GetObjectItem(it, "strict")->valuestring);
        assert_string_equal(f, cJSON_GetObjectItem(it, "flexible")->valuestring);
        double es, ef;
        const char *refs[1] = {ref};
        assert_int_equal(em_sample(em, s, refs, 1, &es, &err), 0);
        assert_int_equal(em_sample(em, f, refs, 1, &ef, &err), 0);
        assert_true(es == cJSON_GetObjectItem(it, "em_strict")->valuedouble);
        assert_true(ef == cJSON_GetObjectItem(it, "em_flexible")->valuedouble);
        free(s), free(f);
        n++;
    }
    assert_true(n >= 16);
    em_free(em);
    cJSON_Delete(v);
}

static void test_bad_pattern_is_an_error(void **state)
{
    (void)state;
    char *o = NULL;
    ys_error err = {0};
    assert_true(lmf_regex("(unclosed", 0, "[invalid]", "x", &o, &err) < 0);
    assert_null(o);
    assert_non_null(strstr(err.msg, "does not compile"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_and_exact_match_equal_python_re),
        cmocka_unit_test(test_bad_pattern_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
