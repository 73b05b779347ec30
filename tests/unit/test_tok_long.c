/* test_tok_long.c — tok_encode_long and tok_encode_from (tokenizer.h): a
 * long text encoded in checked pieces gives exactly tok_encode's ids, and
 * a tail encoded from an accepted cut is exactly the tail of the whole
 * text's ids. Run on every tokenizer fixture of the repository and, when
 * ../shared is there, on the real tokenizers of tests/parity (GPT-2,
 * Llama 3, Mistral, Gemma, Qwen 3, o200k, T5, BERT, Phi-3, GPT-NeoX), over
 * a text of 2.3 MB (WikiText-2's test split when present, else a made-up
 * mix of words, numbers, punctuation, accents, CJK, emoji, tabs, runs of
 * spaces and blank lines). */
#include "testsupport.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Under the sanitizers a 2.3 MB encode is ~15x slower: the sanitizer
 * builds check the byte-level fixture only (memory errors in
 * the cutting code are the same for all), the normal build all of them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define YS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define YS_SANITIZED 1
#endif
#endif

static char *big_text(size_t *len)
{
    size_t cap = 2400000, n = 0;
    char *s = malloc(cap + 4096);
    assert_non_null(s);
    char path[1024];
    snprintf(path, sizeof path, "%s/data/lm/wikitext-2/test.txt", YS_SHARED_DIR);
    size_t wl = 0;
    char *wiki = ts_have_shared() ? ts_read_file(path, &wl) : NULL;
    static const char *const parts[] = {
        "The quick brown fox", " jumps over", "  the   lazy dog.", "\n", "\n\n", " = Heading = \n",
        "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9", " \xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97", " \xf0\x9f\x98\x80\xf0\x9f\x8e\x89",
        " 1234567", " 3.14159", "\t\ttabbed", " don't", " we'll", " ?!?!", " <unk>", " @-@ ", "    ", "\r\n", "e\xcc\x81",
    };
    unsigned x = 12345;
    while (n < cap) {
        if (wiki && wl) {
            size_t take = wl < cap - n ? wl : cap - n;
            memcpy(s + n, wiki, take);
            n += take;
            continue;
        }
        x = x * 1103515245u + 12345u;
        const char *p = parts[(x >> 16) % (sizeof parts / sizeof parts[0])];
        size_t pl = strlen(p);
        memcpy(s + n, p, pl);
        n += pl;
    }
    /* end on a character boundary */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80 && n < cap + 4096)
        n--;
    while (n > 0 && ((unsigned char)s[n - 1] & 0xC0) == 0xC0)
        n--;
    free(wiki);
    *len = n;
    return s;
}

/* specials: also compare with the post-processor's special tokens */
static void check_one(const char *name, const char *dir, const char *text, size_t len, int specials)
{
    tok_tokenizer *t = NULL;
    ys_error err = {0};
    if (tok_load(dir, &t, &err))
        fail_msg("%s: %s", name, err.msg);
    for (int special = 0; special < 1 + specials; special++) {
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        assert_int_equal(tok_encode(t, text, len, special, &a, &na, &err), 0);
        if (tok_encode_long(t, text, len, special, &b, &nb, &err))
            fail_msg("%s: tok_encode_long: %s", name, err.msg);
        if (na != nb || memcmp(a, b, na * sizeof *a))
            fail_msg("%s: tok_encode_long differs from tok_encode (%zu vs %zu ids)", name, nb, na);
        if (!special) {
            /* tails from cuts after newlines, spaces, and anywhere */
            size_t accepted = 0, tried = 0;
            unsigned x = 777;
            for (int k = 0; k < 24; k++) {
                x = x * 1103515245u + 12345u;
                size_t start = (x >> 8) % len;
                if (k % 3 == 0)
                    while (start < len && text[start - 1] != '\n')
                        start++;
                else if (k % 3 == 1)
                    while (start < len && text[start - 1] != ' ')
                        start++;
                int32_t *c = NULL;
                size_t nc = 0;
                int rc = tok_encode_from(t, text, len, start, &c, &nc, &err);
                if (rc < 0)
                    fail_msg("%s: tok_encode_from(%zu): %s", name, start, err.msg);
                tried++;
                if (rc == 1) {
                    accepted++;
                    if (nc > na || memcmp(c, a + na - nc, nc * sizeof *c))
                        fail_msg("%s: the tail from byte %zu is not the tail of the whole text's ids", name, start);
                }
                free(c);
            }
            print_message("%s: %zu ids, %zu of %zu cuts accepted\n", name, na, accepted, tried);
        }
        free(a), free(b);
    }
    tok_free(t);
}

static void test_fixtures(void **state)
{
    (void)state;
    size_t len;
    char *text = big_text(&len);
    static const char *const dirs[] = {
        "tests/data/models/tiny", "tests/data/models/bert_cls", "tests/data/models/t5",
        "tests/parity/vectors/tokenizers/roberta_tiny", "tests/parity/vectors/tokenizers/unigram_tiny",
        "tests/parity/vectors/tokenizers/wordpiece_tiny",
    };
    size_t ndirs = sizeof dirs / sizeof dirs[0];
#ifdef YS_SANITIZED
    ndirs = 1;
#endif
    for (size_t i = 0; i < ndirs; i++) {
        char d[1024];
        snprintf(d, sizeof d, "%s/%s", YS_SOURCE_DIR, dirs[i]);
        check_one(dirs[i], d, text, len, 1);
    }
    /* the byte-level BPE fixture cuts after a newline: the mechanism is
     * used, not only its fallback */
    tok_tokenizer *t = NULL;
    ys_error err = {0};
    char d[1024];
    snprintf(d, sizeof d, "%s/tests/data/models/tiny", YS_SOURCE_DIR);
    assert_int_equal(tok_load(d, &t, &err), 0);
    const char *nl = memchr(text + len / 2, '\n', len / 2);
    assert_non_null(nl);
    int32_t *c = NULL;
    size_t nc = 0;
    assert_int_equal(tok_encode_from(t, text, len, (size_t)(nl + 1 - text), &c, &nc, &err), 1);
    free(c);
    tok_free(t);
    free(text);
}

static void test_shared(void **state)
{
    (void)state;
    if (!ts_have_shared()) {
        print_message("../shared absent: skipped\n");
        skip();
    }
#ifdef YS_SANITIZED
    print_message("sanitizer build: the real tokenizers are checked by the normal build\n");
    skip();
#endif
    size_t len;
    char *text = big_text(&len);
    /* one of each kind (the whole list of tests/parity passed too, once:
     * gemma3, qwen3, o200k, phi3, gpt_neox, mistral; kept out for time) */
    static const char *const fams[] = {"gpt2", "llama3", "mistral_legacy", "gemma2", "t5", "bert"};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        char dir[] = "/tmp/ys_toklong_XXXXXX";
        assert_non_null(mkdtemp(dir));
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "f=%s/tokenizers/%s; gzip -dc $f/tokenizer.json.gz > %s/tokenizer.json && "
                 "{ [ ! -f $f/tokenizer_config.json ] || cp $f/tokenizer_config.json %s/; }",
                 YS_SHARED_DIR, fams[i], dir, dir);
        if (ts_run(cmd, NULL) == 0)
            check_one(fams[i], dir, text, len, 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ts_run(cmd, NULL);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
