/* McNemar's exact test against scipy.stats.binomtest; Holm's correction
 * and the paired bootstrap on cases whose answers are known. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "significance.h"
#include "testsupport.h"

static void test_mcnemar_matches_scipy(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("mcnemar.jsonl"));
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        int64_t b = (int64_t)ts_num(c, "b"), cc = (int64_t)ts_num(c, "c");
        char where[64];
        snprintf(where, sizeof where, "b=%lld c=%lld", (long long)b, (long long)cc);
        double want = ts_num(c, "p"), got = sig_mcnemar_exact(b, cc);
        /* relative for tiny p-values (thousands of pairs), absolute otherwise */
        ts_close(got, want, fmax(1e-12, 1e-9 * want), "p", where);
        n++;
    }
    assert_true(n >= 50);
    cJSON_Delete(cases);
}

static void test_holm(void **state)
{
    (void)state;
    /* p = (0.01, 0.04, 0.03, 0.005): ranks 2,4,3,1 → 0.005·4=0.02,
     * 0.01·3=0.03, 0.03·2=0.06, 0.04·1=0.04→0.06 (monotone) */
    double p[4] = {0.01, 0.04, 0.03, 0.005}, adj[4];
    ys_error err = {0};
    assert_int_equal(sig_holm(p, 4, adj, &err), 0);
    ts_close(adj[0], 0.03, 1e-15, "adj[0]", NULL);
    ts_close(adj[1], 0.06, 1e-15, "adj[1]", NULL);
    ts_close(adj[2], 0.06, 1e-15, "adj[2]", NULL);
    ts_close(adj[3], 0.02, 1e-15, "adj[3]", NULL);
    double big[2] = {0.6, 0.9};
    assert_int_equal(sig_holm(big, 2, adj, &err), 0);
    ts_close(adj[0], 1.0, 0, "capped", NULL);
}

typedef struct {
    const double *a, *b;
} pair_ctx;

static double mean_delta(const size_t *idx, size_t n, void *vctx)
{
    const pair_ctx *c = vctx;
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d += c->b[idx[i]] - c->a[idx[i]];
    return d / (double)n;
}

static void test_paired_bootstrap(void **state)
{
    (void)state;
    double a[200], b[200], same[200];
    for (int i = 0; i < 200; i++) {
        a[i] = (i * 7 % 13) / 13.0;
        b[i] = a[i] + 0.1; /* a clear, consistent improvement */
        same[i] = a[i];
    }
    pair_ctx clear = {a, b}, none = {a, same};
    double p1, p2;
    ys_error err = {0};
    assert_int_equal(sig_paired_bootstrap(200, 1000, 3, mean_delta, &clear, &p1, &err), 0);
    assert_int_equal(sig_paired_bootstrap(200, 1000, 3, mean_delta, &none, &p2, &err), 0);
    assert_true(p1 < 0.01);
    assert_true(p2 == 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mcnemar_matches_scipy),
        cmocka_unit_test(test_holm),
        cmocka_unit_test(test_paired_bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
