#include "ngram.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n)
{
    /* FNV-1a: keys are short and few; simplicity wins. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int grow(ng_table *t, size_t cap)
{
    ng_entry *old = t->slots;
    size_t oldcap = t->cap;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return -1;
    }
    t->cap = cap;
    t->used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key)
            continue;
        ng_entry *e = ng_get(t, old[i].key, old[i].len, 1);
        *e = old[i];
    }
    free(old);
    return 0;
}

int ng_reset(ng_table *t, size_t expect)
{
    size_t want = 16;
    while (want < expect * 2)
        want *= 2;
    if (t->cap >= want && t->cap <= want * 8) {
        memset(t->slots, 0, t->cap * sizeof *t->slots);
        t->used = 0;
        return 0;
    }
    free(t->slots);
    t->slots = calloc(want, sizeof *t->slots);
    t->cap = t->slots ? want : 0;
    t->used = 0;
    return t->slots ? 0 : -1;
}

ng_entry *ng_get(ng_table *t, const char *key, size_t len, int insert)
{
    if (!t->cap) {
        if (!insert || ng_reset(t, 16) < 0)
            return NULL;
    }
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash_bytes(key, len) & mask;
    for (;;) {
        ng_entry *e = &t->slots[i];
        if (!e->key)
            break;
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & mask;
    }
    if (!insert)
        return NULL;
    if ((t->used + 1) * 2 > t->cap) {
        if (grow(t, t->cap * 2) < 0)
            return NULL;
        return ng_get(t, key, len, 1);
    }
    ng_entry *e = &t->slots[i];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->len = (uint32_t)len;
    t->used++;
    return e;
}

void ng_free(ng_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->used = 0;
}
