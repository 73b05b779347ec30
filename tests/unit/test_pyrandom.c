/* pyrandom: random.Random(seed).sample equals CPython's draws
 * (pyrandom.json from gen_pyrandom.py), repeated draws from one generator
 * included, across both of Random.sample's methods and seeds above 2^32. */
#include <stdint.h>
#include <stdlib.h>

#include "pyrandom.h"
#include "testsupport.h"

static void test_sample_equals_cpython(void **state)
{
    (void)state;
    cJSON *v = ts_load_json(ts_vector("pyrandom.json"));
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, v) {
        py_random r;
        pyr_seed(&r, (uint64_t)cJSON_GetObjectItem(c, "seed")->valuedouble);
        size_t pn = (size_t)cJSON_GetObjectItem(c, "n")->valueint, k = (size_t)cJSON_GetObjectItem(c, "k")->valueint;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(c, "draws")) {
            size_t got[64];
            assert_int_equal(pyr_sample(&r, pn, k, got), 0);
            for (size_t i = 0; i < k; i++)
                assert_int_equal((int)got[i], cJSON_GetArrayItem(d, (int)i)->valueint);
            n++;
        }
    }
    assert_true(n >= 15);
    py_random r;
    pyr_seed(&r, 1);
    size_t x[2];
    assert_int_equal(pyr_sample(&r, 1, 2, x), -1); /* k > n */
    cJSON_Delete(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sample_equals_cpython)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
