/* Bootstrap and analytic standard errors: seeded, reproducible, and close to
 * the textbook values where those are known. */
#include <math.h>
#include <stdlib.h>

#include "bootstrap.h"
#include "testsupport.h"

static double mean_of(const size_t *idx, size_t n, void *ctx)
{
    const double *v = ctx;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[idx[i]];
    return s / (double)n;
}

static void test_bootstrap_is_seeded(void **state)
{
    (void)state;
    double v[200];
    for (int i = 0; i < 200; i++)
        v[i] = (i * 37 % 101) / 100.0;
    boot_estimate a, b, c;
    ys_error err = {0};
    assert_int_equal(boot_resample(200, 1000, 7, mean_of, v, &a, &err), 0);
    assert_int_equal(boot_resample(200, 1000, 7, mean_of, v, &b, &err), 0);
    assert_int_equal(boot_resample(200, 1000, 8, mean_of, v, &c, &err), 0);
    assert_true(a.stderr_ == b.stderr_ && a.ci_low == b.ci_low && a.ci_high == b.ci_high);
    assert_true(a.stderr_ != c.stderr_);
    /* the bootstrap standard error of a mean approaches the analytic one */
    boot_estimate m;
    boot_mean(v, 200, &m);
    ts_close(a.stderr_, m.stderr_, 0.15 * m.stderr_, "bootstrap vs analytic stderr", NULL);
    assert_true(a.ci_low < m.value && m.value < a.ci_high);
}

static void test_mean_stderr(void **state)
{
    (void)state;
    double v[] = {1, 2, 3, 4};
    boot_estimate m;
    boot_mean(v, 4, &m);
    ts_close(m.value, 2.5, 1e-15, "mean", NULL);
    /* sample std (ddof 1) = sqrt(5/3); / sqrt(4) */
    ts_close(m.stderr_, sqrt(5.0 / 3.0) / 2.0, 1e-15, "stderr", NULL);
    ts_close(m.ci_high - m.value, 1.959963984540054 * m.stderr_, 1e-15, "ci", NULL);
    boot_mean(v, 1, &m);
    assert_true(isnan(m.stderr_));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_is_seeded),
        cmocka_unit_test(test_mean_stderr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
