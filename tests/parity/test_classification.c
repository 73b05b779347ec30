/* Classification/regression metrics parity against scikit-learn and scipy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "testsupport.h"

#define TOL 1e-12

/* Map label values to ids over the sorted union, as sklearn's unique_labels. */
static int label_ids(const cJSON *a, const cJSON *b, int n, int *ia, int *ib, int *pos)
{
    double *vals = malloc(sizeof(double) * (size_t)(2 * n));
    int nv = 0;
    for (int i = 0; i < n; i++) {
        double x = cJSON_GetArrayItem(a, i)->valuedouble, y = cJSON_GetArrayItem(b, i)->valuedouble;
        int fx = 0, fy = 0;
        for (int j = 0; j < nv; j++)
            fx |= vals[j] == x, fy |= vals[j] == y;
        if (!fx)
            vals[nv++] = x;
        if (!fy && x != y)
            vals[nv++] = y;
    }
    for (int i = 0; i < nv; i++) /* sort */
        for (int j = i + 1; j < nv; j++)
            if (vals[j] < vals[i]) {
                double t = vals[i];
                vals[i] = vals[j], vals[j] = t;
            }
    *pos = -1;
    for (int j = 0; j < nv; j++)
        if (vals[j] == 1.0)
            *pos = j;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < nv; j++) {
            if (vals[j] == cJSON_GetArrayItem(a, i)->valuedouble)
                ia[i] = j;
            if (vals[j] == cJSON_GetArrayItem(b, i)->valuedouble)
                ib[i] = j;
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
        int nl = label_ids(P, R, n, ip, ir, &pos);
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
        double *x = calloc((size_t)n + 1, sizeof *x), *y = calloc((size_t)n + 1, sizeof *y);
        for (int i = 0; i < n; i++)
            x[i] = cJSON_GetArrayItem(P, i)->valuedouble, y[i] = cJSON_GetArrayItem(R, i)->valuedouble;
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
