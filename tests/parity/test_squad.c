/* SQuAD v1.1 EM/F1 parity against the official evaluate-v1.1.py functions. */
#include <stdio.h>
#include <stdlib.h>

#include "squad.h"
#include "testsupport.h"

static void test_squad_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("squad.jsonl"));
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *refs = cJSON_GetObjectItem(c, "references");
        int nr = cJSON_GetArraySize(refs);
        const char **rs = malloc(sizeof(char *) * (size_t)(nr ? nr : 1));
        for (int j = 0; j < nr; j++)
            rs[j] = cJSON_GetArrayItem(refs, j)->valuestring;
        double em, f1;
        ys_error err = {0};
        const char *pred = cJSON_GetObjectItem(c, "prediction")->valuestring;
        assert_int_equal(squad_sample(pred, rs, (size_t)nr, &em, &f1, &err), 0);
        char where[256];
        snprintf(where, sizeof where, "case %d (%.80s)", n, pred);
        ts_close(em, ts_num(c, "exact_match"), 0, "exact_match", where);
        ts_close(f1, ts_num(c, "f1"), 1e-12, "f1", where);
        free(rs);
        n++;
    }
    printf("SQuAD parity: %d cases\n", n);
    assert_true(n >= 200);
    cJSON_Delete(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_squad_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
