/* Classification/regression metrics parity against scikit-learn and scipy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "testsupport.h"

#define TOL 1e-12

/* Values of a JSON number array (cJSON_GetArrayItem is linear: walk once). */
static double *numbers(const cJSON *arr, int n)
{
    double *v = calloc((size_t)n + 1, sizeof *v);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) v[i++] = it->valuedouble;
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Map label values to ids over the sorted union, as sklearn's unique_labels;
 * *pos is the id of label 1 (sklearn's default pos_label) or -1. */
static int label_ids(const double *a, const double *b, int n, int *ia, int *ib, int *pos)
{
    double *vals = malloc(sizeof(double) * (size_t)(2 * n + 1));
    memcpy(vals, a, sizeof(double) * (size_t)n);
    memcpy(vals + n, b, sizeof(double) * (size_t)n);
    qsort(vals, (size_t)(2 * n), sizeof *vals, cmp_double);
    int nv = 0;
    for (int i = 0; i < 2 * n; i++)
        if (nv == 0 || vals[nv - 1] != vals[i])
            vals[nv++] = vals[i];
    *pos = -1;
    for (int j = 0; j < nv; j++)
        if (vals[j] == 1.0)
            *pos = j;
    for (int i = 0; i < n; i++) {
        ia[i] = (int)((double *)bsearch(&a[i], vals, (size_t)nv, sizeof *vals, cmp_double) - vals);
        ib[i] = (int)((double *)bsearch(&b[i], vals, (size_t)nv, sizeof *vals, cmp_double) - vals);
    }
    free(vals);
    return nv;
}

static void test_classification_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("classification.jsonl"));
    int ncases = 0, nchecks = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const cJSON *P = cJSON_GetObjectItem(c, "predictions"), *R = cJSON_GetObjectItem(c, "references");
        const cJSON *want = cJSON_GetObjectItem(c, "expected");
        int n = cJSON_GetArraySize(P);
        int *ip = calloc((size_t)n + 1, sizeof *ip), *ir = calloc((size_t)n + 1, sizeof *ir), pos;
        double *x = numbers(P, n), *y = numbers(R, n);
        int nl = label_ids(x, y, n, ip, ir, &pos);
        ys_error err = {0};
        if (cJSON_GetObjectItem(want, "accuracy")) {
            ts_close(cls_accuracy(ip, ir, (size_t)n), ts_num(want, "accuracy"), TOL, "accuracy", name);
            nchecks++;
        }
        static const char *avgs[] = {"binary", "macro", "micro", "weighted"};
        for (int a = 0; a < 4; a++) {
            char key[64];
            snprintf(key, sizeof key, "precision_%s", avgs[a]);
            if (!cJSON_GetObjectItem(want, key))
                continue;
            double p, r, f;
            assert_int_equal(cls_prf(ip, ir, (size_t)n, nl, (cls_average)a, pos, &p, &r, &f, &err), 0);
            ts_close(p, ts_num(want, key), TOL, key, name);
            snprintf(key, sizeof key, "recall_%s", avgs[a]);
            ts_close(r, ts_num(want, key), TOL, key, name);
            snprintf(key, sizeof key, "f1_%s", avgs[a]);
            ts_close(f, ts_num(want, key), TOL, key, name);
            nchecks += 3;
        }
        if (cJSON_GetObjectItem(want, "matthews_correlation")) {
            double m;
            assert_int_equal(cls_matthews(ip, ir, (size_t)n, nl, &m, &err), 0);
            ts_close(m, ts_num(want, "matthews_correlation"), TOL, "matthews_correlation", name);
            nchecks++;
        }
        if (cJSON_GetObjectItem(want, "pearsonr")) {
            ts_close(cls_pearson(x, y, (size_t)n), ts_num(want, "pearsonr"), 1e-9, "pearsonr", name);
            nchecks++;
        }
        if (cJSON_GetObjectItem(want, "spearmanr")) {
            double s;
            assert_int_equal(cls_spearman(x, y, (size_t)n, &s, &err), 0);
            ts_close(s, ts_num(want, "spearmanr"), 1e-9, "spearmanr", name);
            nchecks++;
        }
        free(x), free(y), free(ip), free(ir);
        ncases++;
    }
    printf("classification parity: %d cases, %d values\n", ncases, nchecks);
    assert_true(ncases >= 100);
    cJSON_Delete(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_classification_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
