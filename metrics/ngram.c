#include "ngram.h"

#include <stdlib.h>
#include <string.h>

uint64_t ng_hash(const char *s, size_t n)
{
    /* Eight bytes per multiply: keys are words and short n-grams, so this
     * is a handful of steps. The tail is gathered byte by byte (at most 7)
     * rather than with a variable-length memcpy, which would be a call. */
    uint64_t h = 0x243F6A8885A308D3ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = ng_hash_step(h, w);
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)s[i] << (8 * i);
        h = ng_hash_step(h, w);
    }
    return h;
}

/* Slot tag of a hash: its high 32 bits after one more multiply (the high
 * bits of a product are well mixed), with the top bit set so that 0 can
 * mean "empty". The slot index is the tag's low bits. */
static uint32_t tag_of(uint64_t h)
{
    return (uint32_t)((h * 0xD6E8FEB86659FD93ULL) >> 32) | 0x80000000u;
}

/* Short keys are compared inline; memcmp would be a library call for
 * every hit. */
static int key_eq(const char *a, const char *b, size_t n)
{
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8, b += 8, n -= 8;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* Allocate an empty table of `cap` slots (a power of two). */
static int alloc_table(ng_table *t, size_t cap)
{
    ng_entry *slots = malloc(cap * sizeof *slots);
    uint32_t *tags = calloc(cap, sizeof *tags);
    uint32_t *live = malloc((cap / 2 + 1) * sizeof *live);
    if (!slots || !tags || !live) {
        free(slots);
        free(tags);
        free(live);
        return -1;
    }
    t->slots = slots;
    t->tags = tags;
    t->live = live;
    t->cap = cap;
    t->used = 0;
    return 0;
}

/* Place an entry known to be absent; returns its slot. */
static size_t place(ng_table *t, uint32_t tag)
{
    size_t mask = t->cap - 1, i = tag & mask;
    while (t->tags[i])
        i = (i + 1) & mask;
    t->tags[i] = tag;
    t->live[t->used++] = (uint32_t)i;
    return i;
}

static int grow(ng_table *t, size_t cap)
{
    ng_table old = *t;
    if (alloc_table(t, cap) < 0) {
        *t = old;
        return -1;
    }
    /* Re-insert in the old insertion order, so `live` keeps it. */
    for (size_t k = 0; k < old.used; k++) {
        size_t from = old.live[k];
        size_t to = place(t, old.tags[from]);
        t->slots[to] = old.slots[from];
    }
    free(old.slots);
    free(old.tags);
    free(old.live);
    return 0;
}

int ng_reset(ng_table *t, size_t expect)
{
    size_t want = 16;
    while (want < expect * 2)
        want *= 2;
    if (t->cap >= want) {
        /* Clear just the used slots: no memset of the whole table. */
        for (size_t k = 0; k < t->used; k++)
            t->tags[t->live[k]] = 0;
        t->used = 0;
        return 0;
    }
    ng_free(t);
    return alloc_table(t, want);
}

ng_entry *ng_get_h(ng_table *t, const char *key, size_t len, uint64_t hash, int insert)
{
    if (!t->cap) {
        if (!insert || ng_reset(t, 16) < 0)
            return NULL;
    }
    uint32_t tag = tag_of(hash);
    size_t mask = t->cap - 1, i = tag & mask;
    for (;;) {
        uint32_t g = t->tags[i];
        if (!g)
            break;
        if (g == tag) {
            ng_entry *e = &t->slots[i];
            if (e->len == len && key_eq(e->key, key, len))
                return e;
        }
        i = (i + 1) & mask;
    }
    if (!insert)
        return NULL;
    if ((t->used + 1) * 2 > t->cap) {
        if (grow(t, t->cap * 2) < 0)
            return NULL;
        i = place(t, tag);
    } else {
        t->tags[i] = tag;
        t->live[t->used++] = (uint32_t)i;
    }
    ng_entry *e = &t->slots[i];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->len = (uint32_t)len;
    return e;
}

ng_entry *ng_get(ng_table *t, const char *key, size_t len, int insert)
{
    return ng_get_h(t, key, len, ng_hash(key, len), insert);
}

void ng_free(ng_table *t)
{
    free(t->slots);
    free(t->tags);
    free(t->live);
    t->slots = NULL;
    t->tags = NULL;
    t->live = NULL;
    t->cap = t->used = 0;
}
