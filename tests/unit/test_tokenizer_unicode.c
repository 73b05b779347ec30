/* test_tokenizer_unicode.c — the tokenizer's Unicode helpers against the
 * Unicode Consortium's own test data on this machine (Debian unicode-data,
 * the same UCD 15.0 files metrics/gen_unicode.py reads):
 * - extended grapheme clusters (used by the Precompiled normalizer) against
 *   every line of auxiliary/GraphemeBreakTest.txt;
 * - the BERT character classes on a few code points whose class is stated
 *   by UnicodeData.txt, including ones HF's Unicode 8.0 tables leave out.
 * The conformance test skips when /usr/share/unicode is absent. */
#include "testsupport.h"
#include "tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GBT "/usr/share/unicode/auxiliary/GraphemeBreakTest.txt"

static void test_grapheme_conformance(void **state)
{
    (void)state;
    FILE *f = fopen(GBT, "r");
    if (!f) {
        print_message("%s absent, skipping\n", GBT);
        skip();
    }
    char line[4096];
    int cases = 0, failures = 0;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        /* tokens: "÷" (UTF-8 C3 B7), "×" (C3 97) and hex code points */
        char text[1024];
        size_t n = 0, want[256], nwant = 0;
        bool any = false;
        for (char *p = line; *p;) {
            if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0xB7) {
                if (n) want[nwant++] = n;
                p += 2;
            } else if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0x97) {
                p += 2;
            } else if ((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F')) {
                uint32_t cp = (uint32_t)strtoul(p, &p, 16);
                n += uni_encode(cp, text + n);
                any = true;
            } else {
                p++;
            }
        }
        if (!any) continue;
        cases++;
        size_t got[256], ngot = 0;
        for (size_t i = 0; i < n;) {
            i += uni_grapheme_len(text, n, i);
            got[ngot++] = i;
        }
        if (ngot != nwant || memcmp(got, want, ngot * sizeof got[0]) != 0) {
            if (failures < 5) print_error("grapheme breaks differ: %s\n", line);
            failures++;
        }
    }
    fclose(f);
    print_message("GraphemeBreakTest: %d cases, %d failures\n", cases, failures);
    assert_true(cases > 500); /* 602 in Unicode 15.0 */
    assert_int_equal(failures, 0);
}

/* BertNormalizer's classes (private to tok_unicode.c): Unicode 8.0's */
static bool is_mn(uint32_t c) { return uni_category(c, UNI_V8_0) == UNI_MN; }
static bool is_other(uint32_t c)
{
    int g = uni_category(c, UNI_V8_0);
    return g == UNI_CC || g == UNI_CF || g == UNI_CO;
}

static void test_bert_classes(void **state)
{
    (void)state;
    /* punctuation: ASCII symbols count (HF's is_ascii_punctuation), Unicode
     * needs a P* category */
    assert_true(tok_is_bert_punct('$'));
    assert_true(tok_is_bert_punct('`'));
    assert_true(tok_is_bert_punct(0x3002)); /* IDEOGRAPHIC FULL STOP, Po */
    assert_true(tok_is_bert_punct(0x2014)); /* EM DASH, Pd */
    assert_false(tok_is_bert_punct(0x20AC)); /* EURO SIGN, Sc */
    assert_false(tok_is_bert_punct('a'));
    /* these two as npm tokenizers' bertPreTokenizer splits "a\u166db\u2e45c" */
    assert_true(tok_is_bert_punct(0x166D)); /* Po in Unicode 8.0 (So since 10.0) */
    assert_false(tok_is_bert_punct(0x2E45)); /* Po, but assigned in 10.0 */
    /* non-spacing marks */
    assert_true(is_mn(0x0301));
    assert_false(is_mn(0x0903)); /* Mc */
    assert_false(is_mn(0x11CAF)); /* Mn, assigned in 9.0 */
    /* combining marks (StripAccents): Mn, Mc and Me of Unicode 9.0 */
    assert_true(tok_is_mark(0x0903));  /* Mc */
    assert_true(tok_is_mark(0x20DD));  /* Me */
    assert_true(tok_is_mark(0x11CAF)); /* Mn, 9.0 */
    assert_false(tok_is_mark(0x1E94B)); /* Mn, 12.0 */
    /* control / format / private use */
    assert_true(is_other(0x200B));
    assert_true(is_other(0x0007));
    assert_true(is_other(0xE000));
    assert_false(is_other('x'));
}

static void test_bert_normalize(void **state)
{
    (void)state;
    /* expected strings checked with npm tokenizers@0.23.2's
     * bertNormalizer(...).normalizeString: clean_text drops controls and
     * maps white space to ' ', CJK gets spaces, accents go (NFD, drop Mn),
     * lowercase is per character and full (U+0130 -> i U+0307) */
    tok_bert_norm o = {true, true, true, true};
    tok_buf out = {0};
    const char *in = "A\x01\tB\xE4\xB8\xAD" "C\xC3\xA9\xC4\xB0";
    assert_int_equal(tok_bert_normalize(&o, in, strlen(in), &out), 0);
    assert_string_equal(out.p, "a b \xE4\xB8\xAD cei");
    tok_bert_norm lc = {false, false, false, true};
    assert_int_equal(tok_bert_normalize(&lc, "A\xC4\xB0", 3, &out), 0);
    assert_string_equal(out.p, "ai\xCC\x87");
    tok_bert_norm keep = {false, false, false, false};
    assert_int_equal(tok_bert_normalize(&keep, in, strlen(in), &out), 0);
    assert_string_equal(out.p, in);
    tok_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grapheme_conformance),
        cmocka_unit_test(test_bert_classes),
        cmocka_unit_test(test_bert_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
