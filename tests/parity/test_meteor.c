/* METEOR parity against NLTK 3.8's meteor_score (vectors from gen_nltk.py;
 * tokens from str.split(" ")): every score within 1e-9, through both the
 * string and the token-array entry points. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meteor.h"
#include "testsupport.h"

#define TOL 1e-9

/* str.split(" ") into malloc'd copies (the token API's input). */
static char **split(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ' ';
    char **v = malloc(cap * sizeof *v);
    assert_non_null(v);
    size_t k = 0;
    const char *start = s;
    for (const char *p = s;; p++)
        if (*p == ' ' || *p == '\0') {
            v[k] = strndup(start, (size_t)(p - start));
            assert_non_null(v[k]);
            k++;
            start = p + 1;
            if (!*p)
                break;
        }
    *n = k;
    return v;
}

static void free_split(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static double score_tokens(const wordnet *wn, const char *hyp, const char **refs, size_t nrefs)
{
    size_t nh;
    char **h = split(hyp, &nh);
    char ***r = malloc(nrefs * sizeof *r);
    size_t *lens = malloc(nrefs * sizeof *lens);
    assert_non_null(r);
    assert_non_null(lens);
    for (size_t i = 0; i < nrefs; i++)
        r[i] = split(refs[i], &lens[i]);
    double s = NAN;
    ys_error err = {0};
    int rc = meteor_sample(wn, NULL, NULL, (const char *const *)h, nh, (const char *const *const *)r, lens, nrefs, &s, &err);
    if (rc)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < nrefs; i++)
        free_split(r[i], lens[i]);
    free(r);
    free(lens);
    free_split(h, nh);
    return s;
}

static void test_meteor_parity(void **state)
{
    (void)state;
    ys_error err = {0};
    wordnet *wn = NULL;
    if (wordnet_open(getenv("YS_WORDNET_DIR"), &wn, &err) != 0)
        fail_msg("%s", err.msg);
    meteor_options opt;
    meteor_options_default(&opt);
    meteor_cache *cache = meteor_cache_new(wn);
    assert_non_null(cache);
    cJSON *cases = ts_load_jsonl(ts_vector("meteor.jsonl"));
    int n = 0;
    double sum = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *hyp = cJSON_GetObjectItem(c, "prediction")->valuestring;
        const cJSON *rj = cJSON_GetObjectItem(c, "references");
        size_t nr = (size_t)cJSON_GetArraySize(rj);
        const char **refs = malloc(nr * sizeof *refs);
        assert_non_null(refs);
        for (size_t i = 0; i < nr; i++)
            refs[i] = cJSON_GetArrayItem(rj, (int)i)->valuestring;
        double want = ts_num(c, "score"), got = NAN;
        char ctx[160];
        snprintf(ctx, sizeof ctx, "case %d: %.100s", n, hyp);
        if (meteor_sample_str(wn, cache, &opt, hyp, refs, nr, &got, &err) != 0)
            fail_msg("%s: %s", ctx, err.msg);
        ts_close(got, want, TOL, "meteor (string)", ctx);
        ts_close(score_tokens(wn, hyp, refs, nr), want, TOL, "meteor (tokens)", ctx);
        sum += got;
        free(refs);
        n++;
    }
    fprintf(stderr, "meteor: %d cases, mean %.6f\n", n, sum / n);
    cJSON_Delete(cases);
    meteor_cache_free(cache);
    wordnet_close(wn);
    assert_true(n > 300);
}

/* NLTK raises on an empty list of references; here it is YS_EINPUT. */
static void test_meteor_no_references(void **state)
{
    (void)state;
    ys_error err = {0};
    wordnet *wn = NULL;
    if (wordnet_open(getenv("YS_WORDNET_DIR"), &wn, &err) != 0)
        fail_msg("%s", err.msg);
    double s = 42;
    assert_int_equal(meteor_sample_str(wn, NULL, NULL, "a cat", NULL, 0, &s, &err), YS_EINPUT);
    assert_true(s == 42);
    const char *refs[] = {"a cat"};
    assert_int_equal(meteor_sample_str(NULL, NULL, NULL, "a cat", refs, 1, &s, &err), YS_EUSAGE);
    /* A cache belongs to the handle it was made for. */
    wordnet *other = NULL;
    assert_int_equal(wordnet_open(getenv("YS_WORDNET_DIR"), &other, &err), 0);
    meteor_cache *cache = meteor_cache_new(other);
    assert_int_equal(meteor_sample_str(wn, cache, NULL, "a cat", refs, 1, &s, &err), YS_EUSAGE);
    assert_true(s == 42);
    assert_int_equal(meteor_sample_str(other, cache, NULL, "a cat", refs, 1, &s, &err), 0);
    assert_true(s == 0.9375);
    meteor_cache_free(cache);
    wordnet_close(other);
    wordnet_close(wn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meteor_parity),
        cmocka_unit_test(test_meteor_no_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
