/* ys_json: the strict RFC 8259 check every reader of outside JSON goes
 * through. Each refused text here is one cJSON alone accepts (or cuts);
 * each accepted one must parse to the same value cJSON gives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "ys_json.h"

static void refused(const char *text, size_t len, const char *needle)
{
    ys_error err = {0};
    if (ys_json_check(text, len, "f.json", 7, &err) != YS_EINPUT)
        fail_msg("accepted: %.*s", (int)len, text);
    if (!strstr(err.msg, needle) || strncmp(err.msg, "f.json:", 7))
        fail_msg("%.*s: message \"%s\" lacks \"%s\"", (int)len, text, err.msg, needle);
}

static void accepted(const char *text)
{
    ys_error err = {0};
    cJSON *v = NULL;
    if (ys_json_parse(text, strlen(text), "f.json", 1, &v, &err) < 0)
        fail_msg("refused %s: %s", text, err.msg);
    cJSON *ref = cJSON_Parse(text);
    assert_non_null(ref);
    assert_true(cJSON_Compare(v, ref, 1));
    cJSON_Delete(v), cJSON_Delete(ref);
}

static void test_grammar(void **state)
{
    (void)state;
    accepted("{\"a\": [1, -0.5e+3, 0, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"]}");
    accepted(" \t\r\n[]\n");
    accepted("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    accepted("{\"a\": {\"b\": 1}, \"b\": {\"b\": 2}}"); /* same key in different objects */
    /* control bytes outside strings: white space to cJSON, errors here */
    refused("{\"a\":\x01 1}", 8, "f.json:7: malformed JSON near column 6 (control character outside a string)");
    refused("{\"a\": 1}\x01", 9, "column 9 (control character outside a string)");
    refused("{\"a\": \"x\ty\"}", 12, "unescaped control character inside a string");
    refused("{\"a\": 01}", 9, "leading zero");
    refused("[1.]", 4, "no digit after '.'");
    refused("[+1]", 4, "invalid value");
    refused("[NaN]", 5, "invalid value");
    refused("[1,]", 4, "invalid value");
    refused("{\"a\": 1,}", 9, "expected a string key");
    refused("\"\\x\"", 4, "invalid escape");
    refused("[1] [2]", 7, "text after the JSON value");
    refused("", 0, "unexpected end");
    refused("{\"a\": \"b", 8, "unterminated string");
    refused("[\"\\ud800\"]", 10, "lone high surrogate");
    refused("[\"\\udc00x\"]", 11, "lone low surrogate");
    refused("[\"\xc0\xaf\"]", 6, "invalid UTF-8");
    refused("[\"\xed\xa0\x80\"]", 7, "invalid UTF-8");       /* an encoded surrogate */
    refused("{\"k\xe2\": 1}", 8, "invalid UTF-8");           /* a key ending in a lead byte */
    char deep[2 * YS_JSON_MAX_DEPTH + 10];
    memset(deep, '[', YS_JSON_MAX_DEPTH + 1);
    memset(deep + YS_JSON_MAX_DEPTH + 1, ']', YS_JSON_MAX_DEPTH + 1);
    refused(deep, 2 * YS_JSON_MAX_DEPTH + 2, "nested too deeply");
    refused("[12345678901234567890123456789012345678901234567890123456789012345]", 67, "longer than 63");
}

static void test_nul_and_duplicates(void **state)
{
    (void)state;
    cJSON *v = NULL;
    refused("{\"prediction\": \"a\\u0000b\"}", 25, "column 18: \\u0000 (NUL) is not supported");
    /* duplicate keys: the last wins, as in Python's json, in every object
     * and for a key spelt with an escape too */
    const char *dup = "{\"a\": 1, \"b\": {\"x\": 1, \"x\": [2]}, \"\\u0061\": 3, \"a\": 4}";
    ys_error e = {0};
    assert_int_equal(ys_json_parse(dup, strlen(dup), "d.json", 1, &v, &e), 0);
    assert_int_equal(cJSON_GetArraySize(v), 2);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v, "a")->valueint, 4);
    const cJSON *bx = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "b"), "x");
    assert_true(cJSON_IsArray(bx));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(v, "b")), 1);
    cJSON_Delete(v);
    /* many keys (a vocabulary) are checked in n log n, all distinct here */
    size_t n = 200000, cap = n * 16 + 16, len = 0;
    char *big = malloc(cap);
    big[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s\"t%zu\":%zu", i ? "," : "", i, i);
    big[len++] = '}';
    ys_error err = {0};
    assert_int_equal(ys_json_parse(big, len, "vocab", 1, &v, &err), 0);
    assert_int_equal(cJSON_GetArraySize(v), (int)n);
    cJSON_Delete(v);
    /* one repeat in a vocabulary-sized object keeps the last, n log n */
    memcpy(big + 1, "\"t1\"", 4); /* "t0" becomes a second "t1" */
    assert_int_equal(ys_json_parse(big, len, "vocab", 1, &v, &err), 0);
    assert_int_equal(cJSON_GetArraySize(v), (int)n - 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v, "t1")->valueint, 1);
    cJSON_Delete(v);
    free(big);
}

static void test_int(void **state)
{
    (void)state;
    cJSON *v = cJSON_Parse("[4, 4.5, 1e300, -1, \"4\", -1e300]");
    long long x = 0;
    ys_error err = {0};
    assert_int_equal(ys_json_int(cJSON_GetArrayItem(v, 0), 0, 100, "config.json", "n_layer", &x, &err), 0);
    assert_int_equal(x, 4);
    assert_int_equal(ys_json_int(cJSON_GetArrayItem(v, 1), 0, 100, "config.json", "n_layer", &x, &err), YS_EINPUT);
    assert_int_equal(ys_json_int(cJSON_GetArrayItem(v, 2), 0, 100, "config.json", "n_layer", &x, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "config.json: field 'n_layer' must be an integer in [0, 100], found 1e+300"));
    assert_int_equal(ys_json_int(cJSON_GetArrayItem(v, 3), 0, 100, "c", "n", &x, &err), YS_EINPUT);
    assert_int_equal(ys_json_int(cJSON_GetArrayItem(v, 4), 0, 100, "c", "n", &x, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "found a string"));
    assert_int_equal(ys_json_int(cJSON_GetArrayItem(v, 5), -100, 100, "c", "n", &x, &err), YS_EINPUT);
    cJSON_Delete(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_nul_and_duplicates),
        cmocka_unit_test(test_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
