/* metrics/kld.c against float64 torch restatements of llama.cpp's KL
 * divergence statistics (tests/parity/gen/gen_kld.py): every per-position
 * value from logits and from log-probabilities, and every aggregate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kld.h"
#include "testsupport.h"

static double *doubles(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    double *v = malloc((*n ? *n : 1) * sizeof *v);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) v[i++] = x->valuedouble;
    return v;
}

/* rows x vocab matrix from a JSON array of arrays, as float or double */
static void *matrix(const cJSON *m, size_t vocab, int as_float)
{
    size_t rows = (size_t)cJSON_GetArraySize(m), r = 0;
    void *out = malloc(rows * vocab * (as_float ? sizeof(float) : sizeof(double)));
    const cJSON *row;
    cJSON_ArrayForEach(row, m) {
        assert_int_equal(cJSON_GetArraySize(row), (int)vocab);
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, row) {
            if (as_float)
                ((float *)out)[r * vocab + i] = (float)x->valuedouble;
            else
                ((double *)out)[r * vocab + i] = x->valuedouble;
            i++;
        }
        r++;
    }
    return out;
}

/* relative for large values, absolute near 0 */
static void close_rel(double got, double want, const char *what, const char *where)
{
    ts_close(got, want, 1e-12 + 1e-9 * fabs(want), what, where);
}

static void check_vu(const kld_vu *got, const cJSON *s, const char *key, double unc_tol, const char *where)
{
    const cJSON *w = cJSON_GetObjectItem(s, key);
    assert_non_null(w);
    char what[64];
    snprintf(what, sizeof what, "%s value", key);
    close_rel(got->value, cJSON_GetArrayItem(w, 0)->valuedouble, what, where);
    snprintf(what, sizeof what, "%s uncertainty", key);
    double want = cJSON_GetArrayItem(w, 1)->valuedouble;
    ts_close(got->unc, want, 1e-12 + 1e-9 * fabs(want) + unc_tol, what, where);
}

static void check_positions(const cJSON *c, const kld_pos *pos, size_t n, const char *where)
{
    const char *keys[] = {"kld", "nll", "nll_base", "p_diff"};
    for (int k = 0; k < 4; k++) {
        const cJSON *arr = cJSON_GetObjectItem(c, keys[k]);
        for (size_t i = 0; i < n; i++) {
            const kld_pos *p = &pos[i];
            double got = k == 0 ? p->kld : k == 1 ? p->nll : k == 2 ? p->nll_base : p->p_diff;
            char w[160];
            snprintf(w, sizeof w, "%s position %zu", where, i);
            close_rel(got, cJSON_GetArrayItem(arr, (int)i)->valuedouble, keys[k], w);
        }
    }
    const cJSON *same = cJSON_GetObjectItem(c, "same_top");
    for (size_t i = 0; i < n; i++)
        if (pos[i].same_top != cJSON_GetArrayItem(same, (int)i)->valueint)
            fail_msg("%s position %zu: same_top %d, want %d", where, i, pos[i].same_top,
                     cJSON_GetArrayItem(same, (int)i)->valueint);
}

static void check_summary(const cJSON *c, const kld_pos *pos, size_t n, const char *where)
{
    kld_acc a = {0};
    double *kv = malloc(n * sizeof *kv), *dv = malloc(n * sizeof *dv);
    for (size_t i = 0; i < n; i++) {
        kld_acc_add(&a, &pos[i]);
        kv[i] = pos[i].kld, dv[i] = pos[i].p_diff;
    }
    kld_summary s;
    ys_error err = {0};
    assert_int_equal(kld_summarize(&a, kv, dv, n, &s, &err), 0);
    const cJSON *w = cJSON_GetObjectItem(c, "summary");
    assert_int_equal(s.count, (int64_t)ts_num(w, "count"));
    /* the uncertainty of a difference of two nearly equal quantities is a
     * square root of a cancellation: rounding decides its last digits, so
     * it is checked to the size of the terms that cancel */
    kld_vu lq = kld_mean_unc(a.sum_nll, a.sum_nll2, a.count), lb = kld_mean_unc(a.sum_nll_base, a.sum_nll_base2, a.count);
    double cancel = 1e-6 * (lq.unc + lb.unc);
    check_vu(&s.ppl_model, w, "ppl_model", 0, where);
    check_vu(&s.ppl_base, w, "ppl_base", 0, where);
    check_vu(&s.ln_ppl_ratio, w, "ln_ppl_ratio", cancel, where);
    check_vu(&s.ppl_ratio, w, "ppl_ratio", cancel * s.ppl_ratio.value, where);
    check_vu(&s.ppl_diff, w, "ppl_diff", 1e-6 * (s.ppl_model.unc + s.ppl_base.unc), where);
    check_vu(&s.kld, w, "kld", 0, where);
    check_vu(&s.p_diff, w, "p_diff", 0, where);
    check_vu(&s.p_diff_rms, w, "p_diff_rms", 0, where);
    check_vu(&s.same_top, w, "same_top", 0, where);
    const cJSON *cor = cJSON_GetObjectItem(w, "cor_ln_ppl");
    /* a correlation of values at rounding level (nll ~1e-14 when the
     * observed token is certain) is noise: skipped below 1e-9 */
    if (cJSON_IsNull(cor))
        assert_true(isnan(s.cor_ln_ppl));
    else if (lq.unc > 1e-9 && lb.unc > 1e-9)
        ts_close(s.cor_ln_ppl, cor->valuedouble, 1e-9, "cor_ln_ppl", where);
    close_rel(s.kld_max, ts_num(w, "kld_max"), "kld_max", where);
    close_rel(s.kld_min, ts_num(w, "kld_min"), "kld_min", where);
    close_rel(s.kld_median, ts_num(w, "kld_median"), "kld_median", where);
    close_rel(s.p_diff_max, ts_num(w, "p_diff_max"), "p_diff_max", where);
    close_rel(s.p_diff_min, ts_num(w, "p_diff_min"), "p_diff_min", where);
    close_rel(s.p_diff_median, ts_num(w, "p_diff_median"), "p_diff_median", where);
    close_rel(s.max_abs_p_diff, ts_num(w, "max_abs_p_diff"), "max_abs_p_diff", where);
    for (int i = 0; i < KLD_NQ; i++)
        close_rel(s.kld_q[i], cJSON_GetArrayItem(cJSON_GetObjectItem(w, "kld_q"), i)->valuedouble, "kld percentile",
                  where);
    for (int i = 0; i < KLD_NQ_DP; i++)
        close_rel(s.p_diff_q[i], cJSON_GetArrayItem(cJSON_GetObjectItem(w, "p_diff_q"), i)->valuedouble,
                  "p_diff percentile", where);
    free(kv), free(dv);
}

static void test_against_reference(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("kld.jsonl"));
    int ncases = 0, nlp = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        size_t vocab = (size_t)ts_num(c, "vocab"), n;
        double *tokd = doubles(cJSON_GetObjectItem(c, "tokens"), &n);
        float *bl = matrix(cJSON_GetObjectItem(c, "base_logits"), vocab, 1);
        float *ml = matrix(cJSON_GetObjectItem(c, "model_logits"), vocab, 1);
        kld_pos *pos = calloc(n, sizeof *pos);
        ys_error err = {0};
        for (size_t i = 0; i < n; i++)
            assert_int_equal(kld_position_logits(bl + i * vocab, ml + i * vocab, vocab, (int32_t)tokd[i], &pos[i], &err), 0);
        check_positions(c, pos, n, name);
        check_summary(c, pos, n, name);
        if (cJSON_GetObjectItem(c, "base_logprobs")) {
            double *blp = matrix(cJSON_GetObjectItem(c, "base_logprobs"), vocab, 0);
            double *mlp = matrix(cJSON_GetObjectItem(c, "model_logprobs"), vocab, 0);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(
                    kld_position_logprobs(blp + i * vocab, mlp + i * vocab, vocab, (int32_t)tokd[i], &pos[i], &err), 0);
            char w[96];
            snprintf(w, sizeof w, "%s (from log-probs)", name);
            check_positions(c, pos, n, w);
            check_summary(c, pos, n, w);
            free(blp), free(mlp);
            nlp++;
        }
        free(pos), free(bl), free(ml), free(tokd);
        ncases++;
    }
    assert_true(ncases >= 12 && nlp >= 8);
    cJSON_Delete(cases);
}

/* Identities that need no reference: a model against itself. */
static void test_identity(void **state)
{
    (void)state;
    enum { V = 1000, N = 64 };
    float *z = malloc(sizeof(float) * V * N);
    uint64_t x = 7;
    for (int i = 0; i < V * N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        z[i] = (float)((double)(x >> 11) / 9007199254740992.0 * 20 - 10);
    }
    kld_acc a = {0};
    double kv[N], dv[N];
    ys_error err = {0};
    for (int i = 0; i < N; i++) {
        kld_pos p;
        assert_int_equal(kld_position_logits(z + i * V, z + i * V, V, (i * 37) % V, &p, &err), 0);
        assert_true(p.kld == 0 && p.p_diff == 0 && p.same_top == 1 && p.nll == p.nll_base);
        kld_acc_add(&a, &p);
        kv[i] = p.kld, dv[i] = p.p_diff;
    }
    kld_summary s;
    assert_int_equal(kld_summarize(&a, kv, dv, N, &s, &err), 0);
    assert_true(s.kld.value == 0 && s.kld_max == 0 && s.same_top.value == 1 && s.same_top.unc == 0);
    assert_true(s.ln_ppl_ratio.value == 0 && s.ppl_ratio.value == 1 && s.p_diff_rms.value == 0);
    assert_true(s.ppl_model.value == s.ppl_base.value && s.ppl_model.unc > 0);
    free(z);
}

static void test_errors(void **state)
{
    (void)state;
    float a[3] = {0, 1, 2}, b[3] = {0, NAN, 1}, c[3] = {-INFINITY, -INFINITY, -INFINITY};
    kld_pos p;
    ys_error err = {0};
    assert_int_equal(kld_position_logits(a, a, 3, 3, &p, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    assert_int_equal(kld_position_logits(a, b, 3, 0, &p, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "NaN"));
    assert_int_equal(kld_position_logits(c, a, 3, 0, &p, &err), YS_EINPUT);
    /* an impossible base token adds nothing; an impossible model token the
     * base gives mass to makes the divergence infinite */
    float d[3] = {-INFINITY, 0, 0};
    assert_int_equal(kld_position_logits(d, a, 3, 1, &p, &err), 0);
    assert_true(isfinite(p.kld) && p.kld > 0);
    assert_int_equal(kld_position_logits(a, d, 3, 1, &p, &err), 0);
    assert_true(isinf(p.kld));
    kld_acc acc = {0};
    kld_summary s;
    double v[1] = {0};
    assert_int_equal(kld_summarize(&acc, v, v, 0, &s, &err), YS_EINPUT);
    kld_acc_add(&acc, &p);
    assert_int_equal(kld_summarize(&acc, v, v, 2, &s, &err), YS_EINPUT);
}

/* llama.cpp's percentile: q = f (N-1), linear between neighbours. */
static void test_percentile(void **state)
{
    (void)state;
    double v[5] = {1, 2, 4, 8, 16};
    ts_close(kld_percentile(v, 5, 0.5), 4, 0, "p50", NULL);
    ts_close(kld_percentile(v, 5, 0.9), 0.4 * 8 + 0.6 * 16, 1e-15, "p90", NULL);
    ts_close(kld_percentile(v, 5, 0), 1, 0, "p0", NULL);
    ts_close(kld_percentile(v, 5, 1), 16, 0, "p100", NULL);
    ts_close(kld_median(v, 4), 3, 0, "median of 4", NULL);
    ts_close(kld_median(v, 1), 1, 0, "median of 1", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_percentile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
