/* chrF / chrF++ parity against sacrebleu 2.6.0 (vectors from gen_sacrebleu.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrf.h"
#include "testsupport.h"

#define TOL 1e-9

static void test_chrf_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("chrf.jsonl"));
    chrf_ctx *ctx = chrf_ctx_new();
    int ncases = 0, nsent = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *o = cJSON_GetObjectItem(c, "options");
        chrf_options opt;
        chrf_options_default(&opt);
        opt.char_order = (int)ts_num(o, "char_order");
        opt.word_order = (int)ts_num(o, "word_order");
        opt.beta = (int)ts_num(o, "beta");
        opt.lowercase = cJSON_IsTrue(cJSON_GetObjectItem(o, "lowercase"));
        opt.whitespace = cJSON_IsTrue(cJSON_GetObjectItem(o, "whitespace"));
        opt.eps_smoothing = cJSON_IsTrue(cJSON_GetObjectItem(o, "eps_smoothing"));
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const cJSON *hyps = cJSON_GetObjectItem(c, "hyps"), *refs = cJSON_GetObjectItem(c, "refs");
        const cJSON *sents = cJSON_GetObjectItem(c, "sentences");
        size_t ns = chrf_nstats(&opt);
        int64_t *total = calloc(ns, sizeof *total), *st = calloc(ns, sizeof *st);
        int n = cJSON_GetArraySize(hyps), nrefs = -2;
        for (int i = 0; i < n; i++) {
            const cJSON *r = cJSON_GetArrayItem(refs, i);
            int nr = cJSON_GetArraySize(r);
            const char **rs = malloc(sizeof(char *) * (size_t)nr);
            for (int j = 0; j < nr; j++)
                rs[j] = cJSON_GetArrayItem(r, j)->valuestring;
            nrefs = nrefs == -2 || nrefs == nr ? nr : -1;
            ys_error err = {0};
            assert_int_equal(chrf_sample_stats(ctx, &opt, cJSON_GetArrayItem(hyps, i)->valuestring, rs, (size_t)nr, st, &err), 0);
            for (size_t k = 0; k < ns; k++)
                total[k] += st[k];
            char where[300];
            snprintf(where, sizeof where, "%s sentence %d", name, i);
            ts_close(chrf_score_from(st, &opt), ts_num(cJSON_GetArrayItem(sents, i), "score"), TOL, "score", where);
            nsent++;
            free(rs);
        }
        ts_close(chrf_score_from(total, &opt), ts_num(cJSON_GetObjectItem(c, "corpus"), "score"), TOL, "score", name);
        char sig[256];
        chrf_signature(&opt, nrefs, sig, sizeof sig);
        const char *want = cJSON_GetObjectItem(c, "signature")->valuestring;
        if (strcmp(sig, want) != 0)
            fail_msg("%s: signature %s, sacrebleu %s", name, sig, want);
        free(total);
        free(st);
        ncases++;
    }
    printf("chrF parity: %d corpora, %d sentences\n", ncases, nsent);
    assert_true(ncases >= 100);
    chrf_ctx_free(ctx);
    cJSON_Delete(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_chrf_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
