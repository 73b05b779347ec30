/* gguf_tok_support.h — for the GGUF tokenizer tests (test_gguf_tokenizer.c,
 * test_gguf_spm.c): a metadata-only GGUF writer and the check of a
 * tokenizer against Hugging Face's ids and decoded text on a family's
 * test strings (tests/parity/vectors/tokenizers). */
#ifndef YS_TESTS_GGUF_TOK_SUPPORT_H
#define YS_TESTS_GGUF_TOK_SUPPORT_H

#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"

/* ---- a small GGUF writer: metadata only ------------------------------------ */

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
} wbuf;

static inline void put(wbuf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static inline void u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static inline void u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static inline void str(wbuf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static inline void kv_str(wbuf *b, const char *k, const char *v) { str(b, k); u32(b, GGUF_STRING); str(b, v); }
static inline void kv_u32(wbuf *b, const char *k, uint32_t v) { str(b, k); u32(b, GGUF_U32); u32(b, v); }
static inline void kv_bool(wbuf *b, const char *k, int v)
{
    str(b, k);
    u32(b, GGUF_BOOL);
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "78 00 79" (no spaces) -> malloc'd bytes, or NULL for NULL. */
static inline char *unhex(const char *h, size_t *len)
{
    if (!h)
        return NULL;
    size_t n = strlen(h) / 2;
    char *o = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        o[i] = (char)v;
    }
    o[n] = 0;
    *len = n;
    return o;
}

/* Every test string of vectors/tokenizers/<family>.jsonl: ids and decoded
 * text as Hugging Face gives them. */
/* A run of at least two spaces (or of "▁"). */
static inline int space_run(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == ' ' && s[i + 1] == ' ')
            return 1;
    return strstr(s, "\xE2\x96\x81\xE2\x96\x81") != NULL;
}

/* ids and decoded text equal to Hugging Face's on every string; with
 * `runs`, a string holding a run of spaces may differ in its ids if it
 * decodes to the same text (counted and printed: see test_shared_spm). */
static inline void check_strings_runs(const tok_tokenizer *t, const char *family, int runs);
static inline void check_strings(const tok_tokenizer *t, const char *family) { check_strings_runs(t, family, 0); }

static inline void check_strings_runs(const tok_tokenizer *t, const char *family, int runs)
{
    size_t differ = 0;
    char name[128];
    snprintf(name, sizeof name, "tokenizers/%s.jsonl", family);
    cJSON *lines = ts_load_jsonl(ts_vector(name));
    size_t checked = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines) {
        const char *text = jstr(l, "text");
        const cJSON *want = cJSON_GetObjectItem(l, "ids");
        if (!text || !cJSON_IsArray(want))
            continue;
        /* text_hex, when given, is the text with its NUL bytes (cJSON's
         * string stops at the first) */
        size_t tlen = strlen(text), dlen = 0;
        char *tbuf = unhex(jstr(l, "text_hex"), &tlen), *dbuf = unhex(jstr(l, "decoded_hex"), &dlen);
        if (tbuf)
            text = tbuf;
        bool add = cJSON_IsTrue(cJSON_GetObjectItem(l, "add_special_tokens"));
        int32_t *ids = NULL;
        size_t n = 0;
        ys_error err = {0};
        if (tok_encode(t, text, tlen, add, &ids, &n, &err))
            fail_msg("%s: encode \"%s\": %s", family, text, err.msg);
        int ok = n == (size_t)cJSON_GetArraySize(want);
        for (size_t i = 0; ok && i < n; i++)
            ok = ids[i] == (int32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble;
        if (!ok && runs && space_run(text, tlen)) {
            char *got = NULL;
            size_t gl = 0;
            assert_int_equal(tok_decode_len(t, ids, n, false, &got, &gl, &err), 0);
            const char *d = dbuf ? dbuf : jstr(l, "decoded");
            size_t dl = dbuf ? dlen : strlen(d);
            if (gl != dl || memcmp(got, d, gl))
                fail_msg("%s: \"%.80s\": other ids and other text than Hugging Face's", family, text);
            free(got);
            differ++;
            ok = 1;
        }
        if (!ok) {
            char got[256] = "", exp[256] = "";
            for (size_t i = 0, o = 0; i < n && i < 12; i++)
                o += (size_t)snprintf(got + o, sizeof got - o, " %d", ids[i]);
            for (int i = 0, o = 0; i < cJSON_GetArraySize(want) && i < 12; i++)
                o += snprintf(exp + o, sizeof exp - (size_t)o, " %d", (int)cJSON_GetArrayItem(want, i)->valuedouble);
            fail_msg("%s: \"%.80s\" (add_special %d): %zu ids [%s ], not Hugging Face's %d [%s ]", family, text, add,
                     n, got, cJSON_GetArraySize(want), exp);
        }
        const char *dec = jstr(l, "decoded");
        if (dec && !dbuf)
            dlen = strlen(dec);
        if (dbuf)
            dec = dbuf;
        if (dec) {
            char *got = NULL;
            size_t gl = 0;
            assert_int_equal(tok_decode_len(t, ids, n, false, &got, &gl, &err), 0);
            if (gl != dlen || memcmp(got, dec, gl))
                fail_msg("%s: decode of \"%.80s\" differs", family, text);
            free(got);
        }
        free(ids), free(tbuf), free(dbuf);
        checked++;
    }
    assert_true(checked > 50);
    print_message("%s: %zu strings as Hugging Face%s", family, checked - differ, differ ? "" : "\n");
    if (differ)
        print_message(", %zu with a run of spaces split otherwise (same text)\n", differ);
    cJSON_Delete(lines);
}

#endif
