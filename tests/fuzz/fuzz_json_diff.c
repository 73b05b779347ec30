/* fuzz_json_diff — a differential harness for the readers of JSON text.
 *
 * yardstick has one strict grammar (ys_json.h) and three readers that must
 * agree with it: cJSON (which parses every checked text), the dataset
 * JSONL reader (which walks members itself, tasks/dataset.h) and `score`'s
 * fast path (jl_scan, eval/jsonl_line.h). Issue 15 found a reader reading
 * past a line and shifting a field where two of them disagreed; this
 * harness aborts on any disagreement:
 *   1. ys_json_check accepts  =>  cJSON accepts the whole text, and
 *      ys_json_parse's tree equals cJSON's own tree read as Python's json
 *      reads it (of duplicate keys the last wins);
 *   2. for a one-line text, the JSONL reader returns exactly one row iff
 *      the check accepts an object (nothing for a blank line, an error
 *      otherwise), with each field's value the decoded string or the JSON
 *      text of that same value;
 *   3. on a text the check accepts (`score` checks every line before its
 *      fast path), jl_scan returning 1 means its prediction and references
 *      are the tree's strings.
 * (cJSON accepting more than the check is expected: that leniency is why
 * the check exists.) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "fuzz_util.h"
#include "jsonl_line.h"
#include "ys_json.h"

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_json_diff: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* The member `key` of object o as Python's json sees it: the last one. */
static const cJSON *last_member(const cJSON *o, const char *key)
{
    const cJSON *hit = NULL;
    for (const cJSON *c = o->child; c; c = c->next)
        if (strcmp(c->string, key) == 0)
            hit = c;
    return hit;
}

static size_t distinct_keys(const cJSON *o)
{
    size_t n = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        if (last_member(o, c->string) == c)
            n++;
    return n;
}

/* Equality of two values, objects compared as last-wins maps. */
static int json_eq(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return 0;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble || (isnan(a->valuedouble) && isnan(b->valuedouble));
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!json_eq(x, y))
                return 0;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        if (distinct_keys(a) != distinct_keys(b))
            return 0;
        for (const cJSON *c = a->child; c; c = c->next) {
            const cJSON *d = last_member(b, c->string);
            if (!d || !json_eq(last_member(a, c->string), d))
                return 0;
        }
        return 1;
    }
    return 1; /* true, false, null */
}

static int is_blank(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] != ' ' && d[i] != '\t' && d[i] != '\r')
            return 0;
    return 1;
}

/* 2: the JSONL reader on the one-line file. */
static void check_jsonl(const uint8_t *data, size_t size, int accepted, const cJSON *tree)
{
    const char *dir = fz_dir();
    fz_write(dir, "d.jsonl", data, size);
    char path[512];
    ds_options o = {.format = "jsonl"};
    ds_reader *r = NULL;
    ys_error err = {0};
    CHECK(ds_open(fz_path(path, sizeof path, dir, "d.jsonl"), &o, &r, &err) == 0);
    ds_row row;
    int rc = ds_next(r, &row, &err);
    if (is_blank(data, size)) {
        CHECK(rc == 0);
    } else if (!accepted || !cJSON_IsObject(tree)) {
        CHECK(rc < 0);
    } else {
        CHECK(rc == 1);
        CHECK(row.nfields >= distinct_keys(tree));
        for (size_t i = 0; i < row.nfields; i++)
            CHECK(last_member(tree, row.names[i]) != NULL);
        for (const cJSON *c = tree->child; c; c = c->next) {
            const cJSON *v = last_member(tree, c->string);
            const char *got = ds_field(&row, c->string);
            CHECK(got != NULL);
            if (cJSON_IsString(v)) {
                CHECK(strcmp(got, v->valuestring) == 0);
            } else {
                cJSON *again = cJSON_Parse(got);
                CHECK(again && json_eq(again, v));
                cJSON_Delete(again);
            }
        }
        CHECK(ds_next(r, &row, &err) == 0);
    }
    ds_close(r);
}

/* 3: score's fast path. */
static void check_jl_scan(const uint8_t *data, size_t size, const cJSON *tree)
{
    char *buf = malloc(size + 1);
    CHECK(buf);
    jl_sample s;
    if (jl_scan((const char *)data, size, "prediction", "references", "reference", buf, &s)) {
        CHECK(cJSON_IsObject(tree));
        const cJSON *p = last_member(tree, "prediction");
        CHECK(p && cJSON_IsString(p) && strcmp(p->valuestring, s.pred) == 0);
        const cJSON *refs = last_member(tree, "references");
        const cJSON *ref = last_member(tree, "reference");
        if (refs && cJSON_IsArray(refs)) {
            CHECK(!ref);
            CHECK((size_t)cJSON_GetArraySize(refs) == s.nrefs);
            size_t i = 0;
            for (const cJSON *c = refs->child; c; c = c->next, i++)
                CHECK(cJSON_IsString(c) && strcmp(c->valuestring, s.refs[i]) == 0);
        } else {
            const cJSON *one = refs ? refs : ref;
            CHECK(one && cJSON_IsString(one) && s.nrefs == 1 && strcmp(one->valuestring, s.refs[0]) == 0);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ys_error err = {0};
    int accepted = ys_json_check((const char *)data, size, "fuzz", 1, &err) == 0;
    cJSON *raw = NULL, *tree = NULL;
    if (accepted) {
        /* the check refuses raw control bytes, so there is no NUL to cut
         * the copy cJSON reads */
        char *z = malloc(size + 1);
        CHECK(z);
        memcpy(z, data, size);
        z[size] = 0;
        const char *end = NULL;
        raw = cJSON_ParseWithOpts(z, &end, 1);
        CHECK(raw != NULL);
        CHECK(ys_json_parse((const char *)data, size, "fuzz", 1, &tree, &err) == 0);
        CHECK(json_eq(tree, raw));
        free(z);
    }
    if (!memchr(data, '\n', size) && !(size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0))
        check_jsonl(data, size, accepted, raw);
    if (accepted)
        check_jl_scan(data, size, raw);
    cJSON_Delete(raw);
    cJSON_Delete(tree);
    return 0;
}
