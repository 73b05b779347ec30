/* WordNet parity against NLTK 3.8 (vectors from gen_nltk.py): for each word,
 * the sorted distinct lemma names without '_' of wordnet.synsets(word). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "wordnet.h"

static int cmp_name(const void *a, const void *b)
{
    const wordnet_name *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Render the names without '_' in NLTK's sorted order as one string. */
static void render(wordnet_names *names, char *buf, size_t cap)
{
    size_t keep = 0;
    for (size_t i = 0; i < names->count; i++)
        if (!memchr(names->items[i].str, '_', names->items[i].len))
            names->items[keep++] = names->items[i];
    names->count = keep;
    if (keep > 1)
        qsort(names->items, keep, sizeof names->items[0], cmp_name);
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < keep && at + names->items[i].len + 2 < cap; i++) {
        at += (size_t)snprintf(buf + at, cap - at, "%s%.*s", i ? "," : "", (int)names->items[i].len,
                               names->items[i].str);
    }
}

static void test_wordnet_parity(void **state)
{
    (void)state;
    ys_error err = {0};
    wordnet *wn = NULL;
    int rc = wordnet_open(getenv("YS_WORDNET_DIR"), &wn, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    cJSON *cases = ts_load_jsonl(ts_vector("wordnet.jsonl"));
    wordnet_names names = {0};
    static char got[65536], want[65536];
    int n = 0, bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *word = cJSON_GetObjectItem(c, "word")->valuestring;
        assert_int_equal(wordnet_lemma_names(wn, word, strlen(word), &names, &err), 0);
        render(&names, got, sizeof got);
        size_t at = 0;
        want[0] = '\0';
        const cJSON *l;
        int i = 0;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(c, "lemmas"))
            at += (size_t)snprintf(want + at, sizeof want - at, "%s%s", i++ ? "," : "", l->valuestring);
        if (strcmp(got, want) != 0 && bad++ < 20)
            fprintf(stderr, "synsets(%s):\n  got  %.300s\n  want %.300s\n", word, got, want);
        n++;
    }
    fprintf(stderr, "wordnet: %d words, %d mismatches\n", n, bad);
    wordnet_names_free(&names);
    cJSON_Delete(cases);
    wordnet_close(wn);
    assert_true(n > 1000);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordnet_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
