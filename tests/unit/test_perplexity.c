/* Perplexity arithmetic as lm-evaluation-harness defines it. Word counts
 * are len(re.split(r"\s+", doc)) and were checked against Python. */
#include <math.h>
#include <string.h>

#include "perplexity.h"
#include "testsupport.h"

static void words_bytes(const char *doc, int64_t words, int64_t bytes)
{
    ppl_stats s = {0};
    ppl_count_text(doc, strlen(doc), &s);
    if (s.words != words || s.bytes != bytes)
        fail_msg("'%s': words %lld bytes %lld, want %lld %lld", doc, (long long)s.words, (long long)s.bytes,
                 (long long)words, (long long)bytes);
}

static void test_word_and_byte_counts(void **state)
{
    (void)state;
    words_bytes("hello world", 2, 11);
    words_bytes(" a b ", 4, 5);          /* leading and trailing runs give empty pieces */
    words_bytes("", 1, 0);
    words_bytes("a\xc2\xa0" "b", 2, 4);  /* NBSP is white space to Python's \s */
    words_bytes("a\n\n b", 2, 5);
    words_bytes("x\xe3\x80\x80y z", 3, 7); /* ideographic space */
}

static void test_aggregates(void **state)
{
    (void)state;
    ppl_stats a = {-10.0, 5, 3, 12}, b = {-6.0, 3, 2, 8}, t = {0};
    ppl_add(&t, &a);
    ppl_add(&t, &b);
    assert_true(t.tokens == 8 && t.words == 5 && t.bytes == 20);
    ts_close(ppl_token_perplexity(&t), exp(16.0 / 8), 1e-12, "token ppl", NULL);
    ts_close(ppl_word_perplexity(&t), exp(16.0 / 5), 1e-12, "word ppl", NULL);
    ts_close(ppl_byte_perplexity(&t), exp(16.0 / 20), 1e-12, "byte ppl", NULL);
    ts_close(ppl_bits_per_byte(&t), 16.0 / 20 / log(2.0), 1e-12, "bpb", NULL);
    /* a corpus ratio of sums, not a mean of per-document perplexities */
    assert_true(fabs(ppl_word_perplexity(&t) - (ppl_word_perplexity(&a) + ppl_word_perplexity(&b)) / 2) > 0.1);
    ppl_stats empty = {0};
    assert_true(isnan(ppl_token_perplexity(&empty)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_and_byte_counts),
        cmocka_unit_test(test_aggregates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
