/* BLEU parity against sacrebleu 2.6.0 (vectors from gen_sacrebleu.py):
 * corpus and sentence scores, n-gram counts, lengths and signature. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bleu.h"
#include "testsupport.h"

#define TOL 1e-9

static void options_from(const cJSON *o, bleu_options *opt)
{
    bleu_options_default(opt);
    const char *tok = cJSON_GetObjectItem(o, "tokenize")->valuestring;
    assert_int_equal(mtok_parse(tok, &opt->tokenize), 0);
    assert_int_equal(bleu_parse_smooth(cJSON_GetObjectItem(o, "smooth_method")->valuestring, &opt->smooth), 0);
    const cJSON *sv = cJSON_GetObjectItem(o, "smooth_value");
    opt->smooth_value = cJSON_IsNumber(sv) ? sv->valuedouble : NAN;
    opt->lowercase = cJSON_IsTrue(cJSON_GetObjectItem(o, "lowercase"));
    opt->effective_order = cJSON_IsTrue(cJSON_GetObjectItem(o, "effective_order"));
}

static void check_score(const bleu_score *s, const cJSON *want, const char *ctx)
{
    ts_close(s->score, ts_num(want, "score"), TOL, "score", ctx);
    ts_close(s->bp, ts_num(want, "bp"), TOL, "bp", ctx);
    ts_close(s->ratio, ts_num(want, "ratio"), TOL, "ratio", ctx);
    ts_close((double)s->sys_len, ts_num(want, "sys_len"), 0, "sys_len", ctx);
    ts_close((double)s->ref_len, ts_num(want, "ref_len"), 0, "ref_len", ctx);
    for (int k = 0; k < BLEU_ORDER; k++) {
        ts_close(s->counts[k], cJSON_GetArrayItem(cJSON_GetObjectItem(want, "counts"), k)->valuedouble, TOL, "counts", ctx);
        ts_close(s->totals[k], cJSON_GetArrayItem(cJSON_GetObjectItem(want, "totals"), k)->valuedouble, TOL, "totals", ctx);
        ts_close(s->precisions[k], cJSON_GetArrayItem(cJSON_GetObjectItem(want, "precisions"), k)->valuedouble, TOL, "precisions", ctx);
    }
}

static void test_bleu_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("bleu.jsonl"));
    bleu_ctx *ctx = bleu_ctx_new();
    int ncases = 0, nsent = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        bleu_options opt;
        options_from(cJSON_GetObjectItem(c, "options"), &opt);
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const cJSON *hyps = cJSON_GetObjectItem(c, "hyps"), *refs = cJSON_GetObjectItem(c, "refs");
        const cJSON *sents = cJSON_GetObjectItem(c, "sentences");
        int n = cJSON_GetArraySize(hyps);
        bleu_stats total = {0};
        int nrefs = -2;
        for (int i = 0; i < n; i++) {
            const cJSON *r = cJSON_GetArrayItem(refs, i);
            int nr = cJSON_GetArraySize(r);
            const char **rs = malloc(sizeof(char *) * (size_t)nr);
            for (int j = 0; j < nr; j++)
                rs[j] = cJSON_GetArrayItem(r, j)->valuestring;
            nrefs = nrefs == -2 || nrefs == nr ? nr : -1;
            bleu_stats st;
            ys_error err = {0};
            assert_int_equal(bleu_sample_stats(ctx, &opt, cJSON_GetArrayItem(hyps, i)->valuestring, rs, (size_t)nr, &st, &err), 0);
            bleu_stats_add(&total, &st);
            bleu_score sc;
            bleu_score_from(&st, &opt, opt.effective_order, &sc);
            char where[300];
            snprintf(where, sizeof where, "%s sentence %d", name, i);
            check_score(&sc, cJSON_GetArrayItem(sents, i), where);
            nsent++;
            free(rs);
        }
        bleu_score sc;
        bleu_score_from(&total, &opt, opt.effective_order, &sc);
        check_score(&sc, cJSON_GetObjectItem(c, "corpus"), name);
        char sig[256];
        bleu_signature(&opt, opt.effective_order, nrefs, sig, sizeof sig);
        const char *want = cJSON_GetObjectItem(c, "signature")->valuestring;
        if (strcmp(sig, want) != 0)
            fail_msg("%s: signature %s, sacrebleu %s", name, sig, want);
        ncases++;
    }
    printf("BLEU parity: %d corpora, %d sentences\n", ncases, nsent);
    assert_true(ncases >= 100);
    bleu_ctx_free(ctx);
    cJSON_Delete(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bleu_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
