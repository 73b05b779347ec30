/* Porter stemmer parity against NLTK 3.8's PorterStemmer() (vectors from
 * gen_nltk.py): every stem byte-exact, including non-ASCII words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "porter.h"
#include "testsupport.h"

static void test_porter_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("porter.jsonl"));
    int n = 0, bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *word = cJSON_GetObjectItem(c, "word")->valuestring;
        const char *want = cJSON_GetObjectItem(c, "stem")->valuestring;
        size_t len = strlen(word);
        char *out = malloc(len + 1);
        assert_non_null(out);
        size_t got = porter_stem(word, len, out);
        if (got != strlen(out) || strcmp(out, want) != 0) {
            if (bad++ < 20)
                fprintf(stderr, "porter(%s): got '%s', want '%s'\n", word, out, want);
        }
        free(out);
        n++;
    }
    cJSON_Delete(cases);
    fprintf(stderr, "porter: %d words, %d mismatches\n", n, bad);
    assert_true(n > 1000);
    assert_int_equal(bad, 0);
}

/* The input need not be NUL-terminated and the output never outgrows len+1. */
static void test_porter_not_terminated(void **state)
{
    (void)state;
    const char buf[] = "caresses-and-more";
    char out[9];
    memset(out, 'x', sizeof out);
    size_t n = porter_stem(buf, 8, out);
    assert_int_equal(n, 6);
    assert_string_equal(out, "caress");
    assert_int_equal(porter_stem("", 0, out), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_porter_parity),
        cmocka_unit_test(test_porter_not_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
