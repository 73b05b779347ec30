/* prefix_cache.c — keys and values of token prefixes kept across requests
 * (model.h, "Prefix cache").
 *
 * A trie of blocks: a node holds BLOCK tokens and the keys and values of
 * their positions (every layer), under the node of the BLOCK tokens before
 * them (the root's children start at position 0). A node is found by a
 * hash of (parent, its tokens); its tokens are compared, so a hash
 * collision is only a miss. Nodes are on one LRU list; a lookup touches
 * the nodes of its path from the deepest to the root, so that a parent is
 * always more recent than its children and the list's tail holds leaves:
 * eviction takes the least recently used node without children, which
 * keeps every cached node's whole prefix cached.
 *
 * Why this is exact: with kernels.h's exact attention and gemm.h's row-wise
 * GEMM, the keys and values of positions [0, p) are a function of tokens
 * [0, p) alone — not of the call that computed them — so copying them in
 * and computing the rest gives the bits of computing everything. The one
 * exception is a RoPE whose frequencies depend on the length of the call
 * (dynamic, longrope): there a prefix's keys depend on the sequence it is
 * part of, and the cache stays empty. */
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pc_node pc_node;
struct pc_node {
    pc_node *parent, *hnext, *prev, *next;   /* hash chain; LRU list (head = most recent) */
    uint64_t hash;
    size_t nchildren;
    int32_t *tokens;                         /* BLOCK */
    float *k, *v;                            /* [layers][BLOCK][kvdim] */
};

struct model_prefix_cache {
    const model *m;
    size_t block, layers, kvdim, budget, bytes, node_bytes;
    int disabled;                            /* the model's RoPE depends on the call's length */
    pc_node **table;
    size_t nbuckets, nnodes;
    pc_node *head, *tail;
    model_prefix_stats st;
};

static uint64_t block_hash(const pc_node *parent, const int32_t *t, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)parent;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint32_t)t[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

size_t model_prefix_cache_default_mb(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0)
        return 512;
    size_t mb = (size_t)pages / 16 * (size_t)psz >> 20;   /* 1/16 of the machine's memory... */
    return mb > 2048 ? 2048 : mb < 64 ? 64 : mb;          /* ...within [64 MB, 2 GB] */
}

int model_prefix_cache_new(const model *m, size_t budget_bytes, size_t block, model_prefix_cache **out,
                           ys_error *err)
{
    *out = NULL;
    if (block == 0)
        block = MODEL_PREFIX_BLOCK;
    model_prefix_cache *c = calloc(1, sizeof *c);
    if (!c)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    c->m = m;
    c->block = block;
    c->layers = (size_t)m->info.layers;
    c->kvdim = (size_t)m->info.kv_heads * (size_t)m->info.head_dim;
    c->budget = budget_bytes;
    c->node_bytes = sizeof(pc_node) + block * sizeof(int32_t) + 2 * c->layers * block * c->kvdim * sizeof(float);
    c->disabled = m->rope_by_len;
    c->nbuckets = 1024;
    c->table = calloc(c->nbuckets, sizeof *c->table);
    if (!c->table) {
        free(c);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

static void lru_unlink(model_prefix_cache *c, pc_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        c->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->tail = n->prev;
    n->prev = n->next = NULL;
}

static void lru_push(model_prefix_cache *c, pc_node *n)
{
    n->next = c->head;
    n->prev = NULL;
    if (c->head)
        c->head->prev = n;
    c->head = n;
    if (!c->tail)
        c->tail = n;
}

static void node_free(pc_node *n)
{
    free(n->tokens);
    free(n->k);
    free(n->v);
    free(n);
}

static void node_remove(model_prefix_cache *c, pc_node *n)
{
    pc_node **pp = &c->table[n->hash % c->nbuckets];
    while (*pp != n)
        pp = &(*pp)->hnext;
    *pp = n->hnext;
    lru_unlink(c, n);
    if (n->parent)
        n->parent->nchildren--;
    c->bytes -= c->node_bytes;
    c->nnodes--;
    c->st.evicted_blocks++;
    node_free(n);
}

void model_prefix_cache_free(model_prefix_cache *c)
{
    if (!c)
        return;
    for (pc_node *n = c->head, *next; n; n = next) {
        next = n->next;
        node_free(n);
    }
    free(c->table);
    free(c);
}

static pc_node *find(const model_prefix_cache *c, const pc_node *parent, const int32_t *t)
{
    uint64_t h = block_hash(parent, t, c->block);
    for (pc_node *n = c->table[h % c->nbuckets]; n; n = n->hnext)
        if (n->hash == h && n->parent == parent && !memcmp(n->tokens, t, c->block * sizeof *t))
            return n;
    return NULL;
}

/* The longest cached path for ids[0 .. limit) (whole blocks): path[0..] */
static size_t walk(const model_prefix_cache *c, const int32_t *ids, size_t limit, pc_node **path, size_t maxn)
{
    size_t nb = 0;
    pc_node *parent = NULL;
    while (nb < maxn && (nb + 1) * c->block <= limit) {
        pc_node *n = find(c, parent, ids + nb * c->block);
        if (!n)
            break;
        path[nb++] = parent = n;
    }
    return nb;
}

/* Most recent first along the path, root last: parents stay ahead of
 * their children in the LRU order. */
static void touch(model_prefix_cache *c, pc_node **path, size_t nb)
{
    for (size_t i = nb; i-- > 0;) {
        lru_unlink(c, path[i]);
        lru_push(c, path[i]);
    }
}

size_t model_prefix_cache_lookup(model_prefix_cache *c, const int32_t *ids, size_t limit, float *k, float *v,
                                 size_t lstride)
{
    if (!c)
        return 0;
    c->st.lookups++;
    c->st.tokens_asked += limit;
    if (c->disabled || c->nnodes == 0)
        return 0;
    size_t maxn = limit / c->block;
    pc_node *stack[64], **path = maxn <= 64 ? stack : malloc(maxn * sizeof *path);
    if (!path)
        return 0;   /* out of memory: a miss, which only costs time */
    size_t nb = walk(c, ids, limit, path, maxn), B = c->block, row = B * c->kvdim;
    for (size_t b = 0; b < nb; b++)
        for (size_t l = 0; l < c->layers; l++) {
            memcpy(k + l * lstride + b * row, path[b]->k + l * row, row * sizeof *k);
            memcpy(v + l * lstride + b * row, path[b]->v + l * row, row * sizeof *v);
        }
    touch(c, path, nb);
    if (path != stack)
        free(path);
    c->st.tokens_served += nb * B;
    return nb * B;
}

/* Twice the buckets when the chains grow past two nodes on average (a
 * failed allocation keeps the old table: longer chains, same results). */
static void grow(model_prefix_cache *c)
{
    if (c->nnodes <= 2 * c->nbuckets)
        return;
    size_t nb = 2 * c->nbuckets;
    pc_node **t = calloc(nb, sizeof *t);
    if (!t)
        return;
    for (size_t i = 0; i < c->nbuckets; i++)
        for (pc_node *n = c->table[i], *next; n; n = next) {
            next = n->hnext;
            n->hnext = t[n->hash % nb];
            t[n->hash % nb] = n;
        }
    free(c->table);
    c->table = t;
    c->nbuckets = nb;
}

/* Room for one more node: evict least recently used leaves that are not
 * on the path being extended (pinned: [0, npin)). */
static int make_room(model_prefix_cache *c, pc_node *const *pin, size_t npin)
{
    while (c->bytes + c->node_bytes > c->budget) {
        pc_node *n = c->tail;
        for (; n; n = n->prev) {
            if (n->nchildren)
                continue;
            size_t i = 0;
            while (i < npin && pin[i] != n)
                i++;
            if (i == npin)
                break;
        }
        if (!n)
            return 0;
        node_remove(c, n);
    }
    return 1;
}

void model_prefix_cache_store(model_prefix_cache *c, const int32_t *ids, size_t n, const float *k, const float *v,
                              size_t lstride)
{
    if (!c || c->disabled || c->budget < c->node_bytes)
        return;
    size_t nbw = n / c->block, B = c->block, row = B * c->kvdim;
    if (nbw == 0)
        return;
    pc_node *stack[64], **path = nbw <= 64 ? stack : malloc(nbw * sizeof *path);
    if (!path)
        return;
    size_t nb = walk(c, ids, n, path, nbw);
    for (; nb < nbw; nb++) {
        if (!make_room(c, path, nb))
            break;
        pc_node *parent = nb ? path[nb - 1] : NULL, *x = calloc(1, sizeof *x);
        if (x) {
            x->tokens = malloc(B * sizeof *x->tokens);
            x->k = malloc(c->layers * row * sizeof(float));
            x->v = malloc(c->layers * row * sizeof(float));
        }
        if (!x || !x->tokens || !x->k || !x->v) {
            if (x)
                node_free(x);
            break;   /* out of memory: the cache only gets smaller than asked */
        }
        memcpy(x->tokens, ids + nb * B, B * sizeof *x->tokens);
        for (size_t l = 0; l < c->layers; l++) {
            memcpy(x->k + l * row, k + l * lstride + nb * row, row * sizeof(float));
            memcpy(x->v + l * row, v + l * lstride + nb * row, row * sizeof(float));
        }
        x->parent = parent;
        x->hash = block_hash(parent, x->tokens, B);
        x->hnext = c->table[x->hash % c->nbuckets];
        c->table[x->hash % c->nbuckets] = x;
        if (parent)
            parent->nchildren++;
        lru_push(c, x);
        c->bytes += c->node_bytes;
        c->nnodes++;
        c->st.stored_blocks++;
        path[nb] = x;
        grow(c);
    }
    touch(c, path, nb);
    if (path != stack)
        free(path);
}

size_t model_prefix_cache_attach(model_prefix_cache *c, const int32_t *ids, size_t n, model_kv *kv)
{
    if (!c || kv->len != 0 || n < 2)
        return 0;
    size_t limit = n - 1 < kv->cap ? n - 1 : kv->cap;   /* leave one token to compute */
    size_t got = model_prefix_cache_lookup(c, ids, limit, kv->k, kv->v, kv->cap * kv->kvdim);
    kv->len = got;
    return got;
}

void model_prefix_cache_store_kv(model_prefix_cache *c, const int32_t *ids, const model_kv *kv)
{
    if (c)
        model_prefix_cache_store(c, ids, kv->len, kv->k, kv->v, kv->cap * kv->kvdim);
}

size_t pc_peek(const model_prefix_cache *c, const int32_t *ids, size_t limit)
{
    if (!c || c->disabled || c->nnodes == 0)
        return 0;
    size_t nb = 0;
    const pc_node *parent = NULL, *n;
    while ((nb + 1) * c->block <= limit && (n = find(c, parent, ids + nb * c->block)))
        parent = n, nb++;
    return nb * c->block;
}

size_t pc_storing_block(const model_prefix_cache *c)
{
    return c && !c->disabled && c->budget >= c->node_bytes ? c->block : 0;
}

void model_prefix_cache_stats(const model_prefix_cache *c, model_prefix_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!c)
        return;
    *st = c->st;
    st->blocks = c->nnodes;
    st->bytes = c->bytes;
}

void model_prefix_cache_count(model_prefix_cache *c, size_t input_tokens, size_t computed_tokens)
{
    if (c) {
        c->st.tokens_input += input_tokens;
        c->st.tokens_computed += computed_tokens;
    }
}
