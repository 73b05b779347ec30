#include "lmeval_docs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ys_unicode.h"

void lmd_py_strip(const char *s, size_t n, size_t *a, size_t *b)
{
    size_t i = 0, j = n;
    while (i < j) {
        uint32_t cp;
        size_t k = uni_decode(s + i, j - i, &cp);
        if (!k || !uni_is_space(cp))
            break;
        i += k;
    }
    while (j > i) {
        size_t st = j - 1;
        while (st > i && ((unsigned char)s[st] & 0xC0) == 0x80)
            st--;
        uint32_t cp;
        size_t k = uni_decode(s + st, j - st, &cp);
        if (!k || !uni_is_space(cp))
            break;
        j = st;
    }
    *a = i, *b = j;
}

int lmd_set_field(task_doc *d, const char *name, const char *value)
{
    for (size_t i = 0; i < d->nfields; i++)
        if (!strcmp(d->names[i], name)) {
            char *v = strdup(value);
            if (!v)
                return -1;
            free(d->values[i]);
            d->values[i] = v;
            return 0;
        }
    char **nn = realloc(d->names, (d->nfields + 2) * sizeof *nn);
    if (nn)
        d->names = nn;
    char **vv = realloc(d->values, (d->nfields + 2) * sizeof *vv);
    if (vv)
        d->values = vv;
    if (!nn || !vv)
        return -1;
    char *a = strdup(name), *b = strdup(value);
    if (!a || !b) {
        free(a), free(b);
        return -1;
    }
    d->names[d->nfields] = a, d->values[d->nfields] = b;
    d->nfields++;
    d->names[d->nfields] = d->values[d->nfields] = NULL;
    return 0;
}

static const char *field(const task_doc *d, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < d->nfields; i++)
        if (!strcmp(d->names[i], name))
            v = d->values[i];
    return v;
}

static char *py_strip_dup(const char *s)
{
    size_t a, b;
    lmd_py_strip(s, strlen(s), &a, &b);
    return strndup(s + a, b - a);
}

/* s with every non-overlapping `from` replaced by `to`, left to right
 * (str.replace). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p; (p = strstr(s, from)); s = p + fl) {
        memcpy(o, s, (size_t)(p - s));
        o += p - s;
        memcpy(o, to, tl);
        o += tl;
    }
    strcpy(o, s);
    return out;
}

/* hellaswag/utils.py's preprocess. re.sub("\\[.*?\\]", "", text): at each
 * '[' the shortest run up to a ']' without crossing a newline ('.' does not
 * match "\n") goes; a '[' with no such ']' stays. */
static char *hs_preprocess(const char *text)
{
    char *a = py_strip_dup(text);
    char *b = a ? replace_all(a, " [title]", ". ") : NULL;
    free(a);
    if (!b)
        return NULL;
    size_t n = strlen(b), o = 0;
    for (size_t i = 0; i < n;) {
        if (b[i] == '[') {
            size_t j = i + 1;
            while (j < n && b[j] != ']' && b[j] != '\n')
                j++;
            if (j < n && b[j] == ']') {
                i = j + 1;
                continue;
            }
        }
        b[o++] = b[i++];
    }
    b[o] = 0;
    char *c = replace_all(b, "  ", " ");
    free(b);
    return c;
}

/* str.capitalize(): the first character upper-cased (ASCII only here), the
 * rest lower-cased. */
static char *capitalize(const char *s)
{
    if (!*s)
        return strdup("");
    size_t first = 1;
    while (s[first] && ((unsigned char)s[first] & 0xC0) == 0x80)
        first++;
    char *rest = uni_lower_utf8(s + first, strlen(s + first), NULL);
    if (!rest)
        return NULL;
    char *out = malloc(first + strlen(rest) + 1);
    if (out) {
        memcpy(out, s, first);
        if (first == 1 && s[0] >= 'a' && s[0] <= 'z')
            out[0] = (char)(s[0] - 32);
        strcpy(out + first, rest);
    }
    free(rest);
    return out;
}

static int fail(const task_spec *t, const task_doc *d, ys_error *err, const char *what)
{
    char where[1024];
    return ys_fail(err, YS_EINPUT, "%s: %s", task_doc_where(t, d, where, sizeof where), what);
}

static int arc(const task_spec *t, task_doc *d, ys_error *err)
{
    const char *q = field(d, "question"), *key = field(d, "answerKey");
    cJSON *j = q ? cJSON_Parse(q) : NULL;
    const cJSON *stem = cJSON_GetObjectItemCaseSensitive(j, "stem");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    if (!key || !cJSON_IsString(stem) || !cJSON_IsArray(ch)) {
        cJSON_Delete(j);
        return fail(t, d, err, "not an ARC record (question.stem, question.choices, answerKey)");
    }
    cJSON *texts = cJSON_CreateArray();
    int gold = -1, i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, ch) {
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(c, "text"), *lb = cJSON_GetObjectItemCaseSensitive(c, "label");
        if (!cJSON_IsString(tx) || !cJSON_IsString(lb)) {
            cJSON_Delete(j), cJSON_Delete(texts);
            return fail(t, d, err, "an ARC choice needs text and label");
        }
        if (gold < 0 && !strcmp(lb->valuestring, key))
            gold = i;
        cJSON_AddItemToArray(texts, cJSON_CreateString(tx->valuestring));
        i++;
    }
    char *arr = cJSON_PrintUnformatted(texts), g[16];
    snprintf(g, sizeof g, "%d", gold);
    int rc = 0;
    if (gold < 0)
        rc = fail(t, d, err, "answerKey names no choice label");
    else if (!arr || lmd_set_field(d, "question", stem->valuestring) || lmd_set_field(d, "choices", arr) ||
             lmd_set_field(d, "gold", g))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    free(arr);
    cJSON_Delete(j), cJSON_Delete(texts);
    return rc;
}

static int hellaswag(const task_spec *t, task_doc *d, ys_error *err)
{
    const char *al = field(d, "activity_label"), *ca = field(d, "ctx_a"), *cb = field(d, "ctx_b");
    const char *en = field(d, "endings"), *lb = field(d, "label");
    cJSON *ends = en ? cJSON_Parse(en) : NULL;
    if (!al || !ca || !cb || !lb || !cJSON_IsArray(ends)) {
        cJSON_Delete(ends);
        return fail(t, d, err, "not a HellaSwag record (activity_label, ctx_a, ctx_b, endings, label)");
    }
    char *cap = capitalize(cb);
    size_t len = strlen(al) + strlen(ca) + (cap ? strlen(cap) : 0) + 4;
    char *raw = malloc(len), *query = NULL;
    if (cap && raw) {
        snprintf(raw, len, "%s: %s %s", al, ca, cap);
        query = hs_preprocess(raw);
    }
    cJSON *choices = cJSON_CreateArray();
    const cJSON *e;
    int rc = query ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    cJSON_ArrayForEach(e, ends) {
        if (rc == 0 && !cJSON_IsString(e))
            rc = fail(t, d, err, "HellaSwag endings must be strings");
        char *p = rc == 0 ? hs_preprocess(e->valuestring) : NULL;
        if (rc == 0 && !p)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (p)
            cJSON_AddItemToArray(choices, cJSON_CreateString(p));
        free(p);
    }
    char *arr = rc == 0 ? cJSON_PrintUnformatted(choices) : NULL;
    if (rc == 0 && (!arr || lmd_set_field(d, "query", query) || lmd_set_field(d, "choices", arr) ||
                    lmd_set_field(d, "gold", lb)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    free(arr), free(cap), free(raw), free(query);
    cJSON_Delete(ends), cJSON_Delete(choices);
    return rc;
}

static int winogrande(const task_spec *t, task_doc *d, ys_error *err)
{
    const char *s = field(d, "sentence"), *o1 = field(d, "option1"), *o2 = field(d, "option2");
    const char *ans = field(d, "answer");
    const char *us = s ? strchr(s, '_') : NULL;
    if (!us || !o1 || !o2 || !ans || (strcmp(ans, "1") && strcmp(ans, "2")))
        return fail(t, d, err, "not a Winogrande record (sentence with '_', option1, option2, answer \"1\"/\"2\")");
    size_t i = (size_t)(us - s);
    cJSON *choices = cJSON_CreateArray();
    const char *opts[2] = {o1, o2};
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        size_t len = i + strlen(opts[k]) + 1;
        char *c = malloc(len);
        if (!c) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        memcpy(c, s, i);
        strcpy(c + i, opts[k]);
        cJSON_AddItemToArray(choices, cJSON_CreateString(c));
        free(c);
    }
    char *arr = rc == 0 ? cJSON_PrintUnformatted(choices) : NULL, *target = py_strip_dup(us + 1);
    if (rc == 0 && (!arr || !target || lmd_set_field(d, "choices", arr) || lmd_set_field(d, "target", target) ||
                    lmd_set_field(d, "gold", ans[0] == '1' ? "0" : "1")))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    free(arr), free(target);
    cJSON_Delete(choices);
    return rc;
}

static int lambada(const task_spec *t, task_doc *d, ys_error *err)
{
    const char *text = field(d, "text");
    if (!text)
        return fail(t, d, err, "a LAMBADA record needs text");
    const char *sp = strrchr(text, ' ');
    /* text.split(' ')[:-1] joined: everything before the last space */
    char *ctx = sp ? strndup(text, (size_t)(sp - text)) : strdup("");
    const char *last = sp ? sp + 1 : text;
    char *tgt = malloc(strlen(last) + 2);
    int rc = 0;
    if (tgt)
        snprintf(tgt, strlen(last) + 2, " %s", last);
    if (!ctx || !tgt || lmd_set_field(d, "context", ctx) || lmd_set_field(d, "target", tgt))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    free(ctx), free(tgt);
    return rc;
}

/* {"answer": 0/1, ...} → the keys and the values as JSON arrays, in file
 * order. */
static int targets(const task_spec *t, task_doc *d, const char *name, const char *choices_field,
                   const char *labels_field, ys_error *err)
{
    const char *v = field(d, name);
    cJSON *o = v ? cJSON_Parse(v) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return fail(t, d, err, "a TruthfulQA item needs mc1_targets and mc2_targets objects");
    }
    cJSON *keys = cJSON_CreateArray(), *labels = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        cJSON_AddItemToArray(keys, cJSON_CreateString(it->string));
        cJSON_AddItemToArray(labels, cJSON_CreateNumber(it->valuedouble));
    }
    char *k = cJSON_PrintUnformatted(keys), *l = cJSON_PrintUnformatted(labels);
    int rc = 0;
    if (!k || !l || lmd_set_field(d, choices_field, k) || (labels_field && lmd_set_field(d, labels_field, l)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    free(k), free(l);
    cJSON_Delete(o), cJSON_Delete(keys), cJSON_Delete(labels);
    return rc;
}

int lmd_preprocess(const task_spec *t, task_doc *d, ys_error *err)
{
    const char *p = t->preprocess;
    if (!p)
        return 0;
    if (!strcmp(p, "arc"))
        return arc(t, d, err);
    if (!strcmp(p, "hellaswag"))
        return hellaswag(t, d, err);
    if (!strcmp(p, "winogrande"))
        return winogrande(t, d, err);
    if (!strcmp(p, "lambada"))
        return lambada(t, d, err);
    if (!strcmp(p, "truthfulqa_mc")) {
        int rc = targets(t, d, "mc1_targets", "mc1_choices", NULL, err);
        return rc ? rc : targets(t, d, "mc2_targets", "mc2_choices", "mc2_labels", err);
    }
    return ys_fail(err, YS_EINPUT, "%s: unknown preprocess '%s'", t->path, p);
}
