/* A missing or incomplete WordNet directory is a clear YS_ERESOURCE error
 * naming the directory and the missing file and telling how to fix it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meteor.h"
#include "testsupport.h"
#include "wordnet.h"

static void assert_fix_hint(const char *msg)
{
    if (!strstr(msg, "wordnet-base") || !strstr(msg, "--wordnet-dir"))
        fail_msg("message lacks the fix: %s", msg);
}

static void test_missing_dir(void **state)
{
    (void)state;
    ys_error err = {0};
    wordnet *wn = (wordnet *)&err; /* must be reset to NULL on failure */
    int rc = wordnet_open("/nonexistent/wordnet-dir", &wn, &err);
    assert_int_equal(rc, YS_ERESOURCE);
    assert_int_equal(err.code, YS_ERESOURCE);
    assert_null(wn);
    assert_non_null(strstr(err.msg, "/nonexistent/wordnet-dir"));
    assert_non_null(strstr(err.msg, "index.noun"));
    assert_fix_hint(err.msg);
}

/* Every file but data.verb present: the message names data.verb. */
static void test_incomplete_dir(void **state)
{
    (void)state;
    const char *src = getenv("YS_WORDNET_DIR") ? getenv("YS_WORDNET_DIR") : wordnet_default_dir();
    char dir[] = "/tmp/ys_wn_XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const files[] = {"index.noun", "index.verb", "index.adj", "index.adv",
                                        "data.noun",  "data.adj",   "data.adv",  "noun.exc",
                                        "verb.exc",   "adj.exc",    "adv.exc"};
    char a[512], b[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        assert_int_equal(symlink(a, b), 0);
    }
    ys_error err = {0};
    wordnet *wn = NULL;
    assert_int_equal(wordnet_open(dir, &wn, &err), YS_ERESOURCE);
    assert_null(wn);
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, "data.verb"));
    assert_fix_hint(err.msg);

    /* An empty data.verb is incomplete too. */
    snprintf(b, sizeof b, "%s/data.verb", dir);
    ts_write_file(b, "");
    memset(&err, 0, sizeof err);
    assert_int_equal(wordnet_open(dir, &wn, &err), YS_ERESOURCE);
    assert_non_null(strstr(err.msg, "data.verb"));
    assert_fix_hint(err.msg);
    unlink(b);

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        unlink(b);
    }
    rmdir(dir);
}

/* The default directory is the compiled one; it opens when installed. */
static void test_default_dir(void **state)
{
    (void)state;
    assert_non_null(wordnet_default_dir());
    char path[512];
    snprintf(path, sizeof path, "%s/index.noun", wordnet_default_dir());
    if (access(path, R_OK) != 0)
        skip();
    ys_error err = {0};
    wordnet *wn = NULL;
    assert_int_equal(wordnet_open(NULL, &wn, &err), 0);
    double s = -1;
    const char *refs[] = {"the dog barked"};
    assert_int_equal(meteor_sample_str(wn, NULL, NULL, "a hound barks", refs, 1, &s, &err), 0);
    assert_true(s > 0 && s < 1);
    wordnet_close(wn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_incomplete_dir),
        cmocka_unit_test(test_default_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
