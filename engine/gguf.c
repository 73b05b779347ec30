/* gguf.c — the GGUF container (gguf.h): a bounds-checked reader over the
 * mapped file. Every read goes through a cursor that knows how many bytes
 * are left, so the parser never touches a byte past the end; counts are
 * compared with what is left before anything is allocated for them. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct gguf {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version;
    size_t alignment;
    size_t nkv, ntensors;
    gguf_kv *kvs;
    gguf_tensor *tensors;
    size_t data_off;      /* start of the data section in the file */
};

/* ---- tensor type table ----------------------------------------------------
 * Block sizes of every ggml type a file may hold (so a file with types
 * this engine cannot compute still opens and can be listed). */
typedef struct ttype_info {
    int code;
    const char *name;
    unsigned block, bytes;
} ttype_info;

static const ttype_info TTYPES[] = {
    {0, "F32", 1, 4},        {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},     {7, "Q5_1", 32, 24},      {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},   {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},  {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},  {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},        {25, "I16", 1, 2},
    {26, "I32", 1, 4},       {27, "I64", 1, 8},        {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},      {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66},
};

static const ttype_info *ttype(int code)
{
    for (size_t i = 0; i < sizeof TTYPES / sizeof TTYPES[0]; i++)
        if (TTYPES[i].code == code)
            return &TTYPES[i];
    return NULL;
}

const char *gguf_type_name(int type)
{
    const ttype_info *t = ttype(type);
    return t ? t->name : "?";
}

int gguf_type_size(int type, size_t *block, size_t *bytes)
{
    const ttype_info *t = ttype(type);
    *block = t ? t->block : 0;
    *bytes = t ? t->bytes : 0;
    return t ? 0 : YS_EINPUT;
}

static const char *VTYPE_NAMES[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                    "string", "array", "u64", "i64", "f64"};

/* Bytes of one fixed-size value, 0 for STRING/ARRAY, -1 for an unknown code. */
static int vtype_size(uint32_t t)
{
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < sizeof sz / sizeof sz[0] ? sz[t] : -1;
}

/* ---- cursor --------------------------------------------------------------- */

typedef struct cur {
    const uint8_t *p;
    size_t pos, size;
    const char *path;
    const char *what;     /* "key \"general.name\"", for messages */
    ys_error *err;
} cur;

static int short_read(cur *c, size_t need)
{
    return ys_fail(c->err, YS_EINPUT, "%s: truncated at byte %zu reading %s (%zu bytes needed, %zu left)",
                   c->path, c->pos, c->what, need, c->size - c->pos);
}

static int rd(cur *c, void *dst, size_t n)
{
    if (c->size - c->pos < n)
        return short_read(c, n);
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static uint64_t le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static int rd_u32(cur *c, uint32_t *v)
{
    uint8_t b[4];
    int rc = rd(c, b, 4);
    *v = rc ? 0 : (uint32_t)le(b, 4);
    return rc;
}

static int rd_u64(cur *c, uint64_t *v)
{
    uint8_t b[8];
    int rc = rd(c, b, 8);
    *v = rc ? 0 : le(b, 8);
    return rc;
}

static int rd_str(cur *c, gguf_str *s)
{
    uint64_t n;
    int rc = rd_u64(c, &n);
    if (rc)
        return rc;
    if (n > c->size - c->pos)
        return ys_fail(c->err, YS_EINPUT, "%s: %s: a string of %llu bytes at byte %zu runs past the end of the "
                       "file (%zu bytes left)", c->path, c->what, (unsigned long long)n, c->pos - 8,
                       c->size - c->pos);
    s->p = (const char *)c->p + c->pos;
    s->len = (size_t)n;
    c->pos += (size_t)n;
    return 0;
}

/* A key or name: non-empty, no NUL byte, copied with a terminator. */
static int rd_name(cur *c, const char *kind, size_t idx, char **out)
{
    gguf_str s = {0};
    int rc = rd_str(c, &s);
    if (rc)
        return rc;
    if (s.len == 0 || memchr(s.p, 0, s.len))
        return ys_fail(c->err, YS_EINPUT, "%s: %s #%zu: the name is empty or holds a NUL byte", c->path, kind, idx);
    if (s.len > 65535)
        return ys_fail(c->err, YS_EINPUT, "%s: %s #%zu: a name of %zu bytes (at most 65535)", c->path, kind, idx,
                       s.len);
    char *n = malloc(s.len + 1);
    if (!n)
        return ys_fail(c->err, YS_ENOMEM, "out of memory");
    memcpy(n, s.p, s.len);
    n[s.len] = 0;
    *out = n;
    return 0;
}

/* ---- values ---------------------------------------------------------------- */

static void value_free(gguf_value *v)
{
    if (v->type != GGUF_ARRAY)
        return;
    free(v->strs);
    for (uint64_t i = 0; v->items && i < v->n; i++)
        value_free(&v->items[i]);
    free(v->items);
    v->strs = NULL, v->items = NULL;
}

static int rd_fixed(cur *c, uint32_t type, gguf_value *v)
{
    uint8_t b[8];
    int sz = vtype_size(type);
    int rc = rd(c, b, (size_t)sz);
    if (rc)
        return rc;
    uint64_t u = le(b, sz);
    switch (type) {
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
        v->num.u = u;
        break;
    case GGUF_BOOL:
        v->num.u = u != 0;
        break;
    case GGUF_I8: v->num.i = (int8_t)u; break;
    case GGUF_I16: v->num.i = (int16_t)u; break;
    case GGUF_I32: v->num.i = (int32_t)u; break;
    case GGUF_I64: memcpy(&v->num.i, &u, 8); break;
    case GGUF_F32: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        v->num.f = f;
        break;
    }
    default: /* GGUF_F64 */
        memcpy(&v->num.f, &u, 8);
        break;
    }
    return 0;
}

static int rd_value(cur *c, uint32_t type, gguf_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    int sz = vtype_size(type);
    if (sz < 0)
        return ys_fail(c->err, YS_EINPUT, "%s: %s: unknown value type %u at byte %zu", c->path, c->what, type,
                       c->pos - 4);
    v->type = (gguf_vtype)type;
    if (sz > 0)
        return rd_fixed(c, type, v);
    if (type == GGUF_STRING)
        return rd_str(c, &v->str);
    /* an array */
    if (depth >= GGUF_MAX_DEPTH)
        return ys_fail(c->err, YS_EINPUT, "%s: %s: arrays nested more than %d deep", c->path, c->what,
                       GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    int rc;
    if ((rc = rd_u32(c, &et)) || (rc = rd_u64(c, &n)))
        return rc;
    int esz = vtype_size(et);
    if (esz < 0)
        return ys_fail(c->err, YS_EINPUT, "%s: %s: unknown array element type %u at byte %zu", c->path, c->what,
                       et, c->pos - 12);
    v->elem = (gguf_vtype)et;
    /* the smallest an element can be: its fixed size, or a string's or
     * array's length field */
    size_t min = esz > 0 ? (size_t)esz : et == GGUF_STRING ? 8 : 12;
    size_t left = c->size - c->pos;
    if (n > left / min)
        return ys_fail(c->err, YS_EINPUT, "%s: %s: an array of %llu %s elements at byte %zu cannot fit in the "
                       "%zu bytes left", c->path, c->what, (unsigned long long)n, VTYPE_NAMES[et], c->pos - 12,
                       left);
    v->n = n;
    if (esz > 0) {
        v->data = c->p + c->pos;
        c->pos += (size_t)n * (size_t)esz;
        return 0;
    }
    if (et == GGUF_STRING) {
        if (n && !(v->strs = malloc((size_t)n * sizeof *v->strs)))
            return ys_fail(c->err, YS_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < n; i++)
            if ((rc = rd_str(c, &v->strs[i])))
                return rc;
        return 0;
    }
    if (n && !(v->items = calloc((size_t)n, sizeof *v->items)))
        return ys_fail(c->err, YS_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        /* nested: each item is an element type, a count and elements */
        gguf_value *it = &v->items[i];
        if ((rc = rd_value(c, GGUF_ARRAY, it, depth + 1)))
            return rc;
    }
    return 0;
}

/* ---- open ------------------------------------------------------------------ */

static int cmp_off(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* The first duplicate among n names (pointers to each item's name field,
 * spaced `stride` bytes apart from first), or NULL. */
static const char *find_dup(const void *first, size_t stride, size_t n, int *nomem)
{
    const char **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    const char *dup = NULL;
    *nomem = !ptrs;
    if (!ptrs)
        return NULL;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = (const char *)first + i * stride;
    qsort(ptrs, n, sizeof *ptrs, cmp_name);
    for (size_t i = 1; i < n && !dup; i++)
        if (!strcmp(*(const char *const *)ptrs[i - 1], *(const char *const *)ptrs[i]))
            dup = *(const char *const *)ptrs[i];
    free(ptrs);
    return dup;
}

static int parse(gguf *g, ys_error *err)
{
    cur c = {.p = g->map, .size = g->size, .path = g->path, .what = "the header", .err = err};
    char magic[4];
    uint64_t nt, nkv;
    int rc;
    if ((rc = rd(&c, magic, 4)))
        return rc;
    if (memcmp(magic, "GGUF", 4))
        return ys_fail(err, YS_EINPUT, "%s: not a GGUF file (no \"GGUF\" magic)", g->path);
    if ((rc = rd_u32(&c, &g->version)))
        return rc;
    if (g->version != 2 && g->version != 3)
        return ys_fail(err, YS_EINPUT, "%s: GGUF version %u is not supported (2 and 3 are)", g->path,
                       g->version);
    if ((rc = rd_u64(&c, &nt)) || (rc = rd_u64(&c, &nkv)))
        return rc;
    /* a key-value pair takes at least 8 + 1 + 4 + 1 bytes, a tensor info 8 + 1 + 4 + 8 + 4 + 8 */
    if (nkv > (c.size - c.pos) / 14)
        return ys_fail(err, YS_EINPUT, "%s: %llu metadata keys cannot fit in a file of %zu bytes", g->path,
                       (unsigned long long)nkv, g->size);
    if (nt > (c.size - c.pos) / 33)
        return ys_fail(err, YS_EINPUT, "%s: %llu tensors cannot fit in a file of %zu bytes", g->path,
                       (unsigned long long)nt, g->size);
    if (!(g->kvs = calloc(nkv ? (size_t)nkv : 1, sizeof *g->kvs)) ||
        !(g->tensors = calloc(nt ? (size_t)nt : 1, sizeof *g->tensors)))
        return ys_fail(err, YS_ENOMEM, "out of memory");

    char what[160];
    c.what = what;
    for (size_t i = 0; i < nkv; i++) {
        gguf_kv *kv = &g->kvs[i];
        snprintf(what, sizeof what, "metadata key #%zu", i);
        char *key = NULL;
        if ((rc = rd_name(&c, "metadata key", i, &key)))
            return rc;
        kv->key = key;
        g->nkv = i + 1;
        snprintf(what, sizeof what, "key \"%.100s\"", key);
        uint32_t t;
        if ((rc = rd_u32(&c, &t)) || (rc = rd_value(&c, t, &kv->v, 0)))
            return rc;
    }
    int nomem;
    const char *dup = find_dup(&g->kvs[0].key, sizeof(gguf_kv), g->nkv, &nomem);
    if (nomem)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    if (dup)
        return ys_fail(err, YS_EINPUT, "%s: key \"%.100s\" appears twice", g->path, dup);

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gguf_find(g, "general.alignment");
    if (al) {
        if (al->v.type != GGUF_U32 || al->v.num.u == 0 || (al->v.num.u & (al->v.num.u - 1)))
            return ys_fail(err, YS_EINPUT, "%s: key \"general.alignment\" must be a u32 power of two", g->path);
        g->alignment = (size_t)al->v.num.u;
    }

    for (size_t i = 0; i < nt; i++) {
        gguf_tensor *t = &g->tensors[i];
        snprintf(what, sizeof what, "tensor info #%zu", i);
        char *name = NULL;
        if ((rc = rd_name(&c, "tensor", i, &name)))
            return rc;
        t->name = name;
        g->ntensors = i + 1;
        snprintf(what, sizeof what, "tensor \"%.100s\"", name);
        uint32_t nd, type;
        if ((rc = rd_u32(&c, &nd)))
            return rc;
        if (nd < 1 || nd > GGUF_MAX_DIMS)
            return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": %u dimensions (1 to %d allowed)", g->path, name,
                           nd, GGUF_MAX_DIMS);
        t->ndim = (int)nd;
        uint64_t ne = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t v = 1;
            if (d < (int)nd && (rc = rd_u64(&c, &v)))
                return rc;
            if (v > INT64_MAX || (v && ne > (uint64_t)INT64_MAX / v))
                return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": the element count overflows", g->path,
                               name);
            ne *= v;
            t->ne[d] = (int64_t)v;
        }
        if ((rc = rd_u32(&c, &type)) || (rc = rd_u64(&c, &t->offset)))
            return rc;
        const ttype_info *ti = ttype((int)type);
        if (!ti)
            return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": unknown tensor type %u", g->path, name, type);
        t->type = (gguf_ttype)type;
        if ((uint64_t)t->ne[0] % ti->block)
            return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": its rows of %lld elements are not whole %s "
                           "blocks of %u", g->path, name, (long long)t->ne[0], ti->name, ti->block);
        uint64_t nbytes = ne / ti->block;
        if (nbytes > UINT64_MAX / ti->bytes || ne > SIZE_MAX)
            return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": its size overflows", g->path, name);
        nbytes *= ti->bytes;
        t->nelem = (size_t)ne;
        t->nbytes = (size_t)nbytes;
        if (t->offset % g->alignment)
            return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": offset %llu is not a multiple of the "
                           "alignment %zu", g->path, name, (unsigned long long)t->offset, g->alignment);
    }
    dup = find_dup(&g->tensors[0].name, sizeof(gguf_tensor), g->ntensors, &nomem);
    if (nomem)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    if (dup)
        return ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\" appears twice", g->path, dup);

    /* the data section starts at the next multiple of the alignment */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (nt && pad > c.size - c.pos)
        return ys_fail(err, YS_EINPUT, "%s: truncated at byte %zu, in the padding before the tensor data",
                       g->path, c.pos);
    g->data_off = c.pos + pad;
    size_t data_size = g->size >= g->data_off ? g->size - g->data_off : 0;
    const gguf_tensor **byoff = malloc((nt ? (size_t)nt : 1) * sizeof *byoff);
    if (!byoff)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    rc = 0;
    for (size_t i = 0; i < nt && !rc; i++) {
        gguf_tensor *t = &g->tensors[i];
        byoff[i] = t;
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            rc = ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": its %zu bytes at offset %llu run past the end "
                         "of the file (data section of %zu bytes: truncated?)", g->path, t->name, t->nbytes,
                         (unsigned long long)t->offset, data_size);
        else
            t->data = g->map + g->data_off + t->offset;
    }
    if (!rc) {
        qsort(byoff, (size_t)nt, sizeof *byoff, cmp_off);
        for (size_t i = 1; i < nt && !rc; i++)
            if (byoff[i - 1]->offset + byoff[i - 1]->nbytes > byoff[i]->offset)
                rc = ys_fail(err, YS_EINPUT, "%s: tensors \"%.100s\" and \"%.100s\" overlap", g->path,
                             byoff[i - 1]->name, byoff[i]->name);
    }
    free(byoff);
    return rc;
}

int gguf_open(const char *path, gguf **out, ys_error *err)
{
    *out = NULL;
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        return ys_fail(err, YS_EINPUT, "%s: GGUF files are read on little-endian hosts only", path);
    gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        gguf_close(g);
        return ys_fail(err, YS_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 24) {
        close(fd);
        gguf_close(g);
        return ys_fail(err, YS_EINPUT, "%s: not a GGUF file (%s)", path,
                       S_ISREG(st.st_mode) ? "shorter than its 24-byte header" : "not a regular file");
    }
    g->size = (size_t)st.st_size;
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        gguf_close(g);
        return ys_fail(err, YS_EIO, "%s: cannot map: %s", path, strerror(e));
    }
    g->map = m;
    int rc = parse(g, err);
    if (rc) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void gguf_close(gguf *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nkv; i++) {
        free((char *)g->kvs[i].key);
        value_free(&g->kvs[i].v);
    }
    for (size_t i = 0; i < g->ntensors; i++)
        free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    if (g->map)
        munmap((void *)g->map, g->size);
    free(g->path);
    free(g);
}

/* ---- accessors ------------------------------------------------------------- */

const char *gguf_path(const gguf *g) { return g->path; }
uint32_t gguf_version(const gguf *g) { return g->version; }
size_t gguf_alignment(const gguf *g) { return g->alignment; }
const void *gguf_bytes(const gguf *g, size_t *size)
{
    *size = g->size;
    return g->map;
}
size_t gguf_kv_count(const gguf *g) { return g->nkv; }
const gguf_kv *gguf_kv_at(const gguf *g, size_t i) { return i < g->nkv ? &g->kvs[i] : NULL; }
size_t gguf_tensor_count(const gguf *g) { return g->ntensors; }
const gguf_tensor *gguf_tensor_at(const gguf *g, size_t i) { return i < g->ntensors ? &g->tensors[i] : NULL; }

const gguf_kv *gguf_find(const gguf *g, const char *key)
{
    for (size_t i = 0; i < g->nkv; i++)
        if (!strcmp(g->kvs[i].key, key))
            return &g->kvs[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name)
{
    for (size_t i = 0; i < g->ntensors; i++)
        if (!strcmp(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

static int is_uint(gguf_vtype t) { return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64; }
static int is_sint(gguf_vtype t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }

static int bad_type(const gguf *g, const char *key, const char *want, gguf_vtype got, ys_error *err)
{
    return ys_fail(err, YS_EINPUT, "%s: key \"%.100s\" must be %s, not %s", g->path, key, want,
                   VTYPE_NAMES[got]);
}

int gguf_get_int(const gguf *g, const char *key, long dflt, long *out, ys_error *err)
{
    const gguf_kv *kv = gguf_find(g, key);
    *out = dflt;
    if (!kv)
        return 1;
    if (is_uint(kv->v.type)) {
        if (kv->v.num.u > (uint64_t)LONG_MAX)
            return ys_fail(err, YS_EINPUT, "%s: key \"%.100s\": %llu is out of range", g->path, key,
                           (unsigned long long)kv->v.num.u);
        *out = (long)kv->v.num.u;
        return 0;
    }
    if (is_sint(kv->v.type)) {
        *out = (long)kv->v.num.i;
        return 0;
    }
    return bad_type(g, key, "an integer", kv->v.type, err);
}

int gguf_get_num(const gguf *g, const char *key, double dflt, double *out, ys_error *err)
{
    const gguf_kv *kv = gguf_find(g, key);
    *out = dflt;
    if (!kv)
        return 1;
    if (kv->v.type == GGUF_F32 || kv->v.type == GGUF_F64)
        *out = kv->v.num.f;
    else if (is_uint(kv->v.type))
        *out = (double)kv->v.num.u;
    else if (is_sint(kv->v.type))
        *out = (double)kv->v.num.i;
    else
        return bad_type(g, key, "a number", kv->v.type, err);
    return 0;
}

int gguf_get_bool(const gguf *g, const char *key, int dflt, int *out, ys_error *err)
{
    const gguf_kv *kv = gguf_find(g, key);
    *out = dflt;
    if (!kv)
        return 1;
    if (kv->v.type != GGUF_BOOL)
        return bad_type(g, key, "a bool", kv->v.type, err);
    *out = (int)kv->v.num.u;
    return 0;
}

int gguf_get_str(const gguf *g, const char *key, const char *dflt, char **out, ys_error *err)
{
    const gguf_kv *kv = gguf_find(g, key);
    const char *p = dflt;
    size_t n = dflt ? strlen(dflt) : 0;
    int rc = 1;
    *out = NULL;
    if (kv) {
        if (kv->v.type != GGUF_STRING)
            return bad_type(g, key, "a string", kv->v.type, err);
        if (memchr(kv->v.str.p, 0, kv->v.str.len))
            return ys_fail(err, YS_EINPUT, "%s: key \"%.100s\": the string holds a NUL byte", g->path, key);
        p = kv->v.str.p, n = kv->v.str.len, rc = 0;
    }
    if (!p)
        return rc;
    char *s = malloc(n + 1);
    if (!s)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    memcpy(s, p, n);
    s[n] = 0;
    *out = s;
    return rc;
}

int gguf_get_arr(const gguf *g, const char *key, int elem, const gguf_value **out, ys_error *err)
{
    const gguf_kv *kv = gguf_find(g, key);
    *out = NULL;
    if (!kv)
        return 1;
    if (kv->v.type != GGUF_ARRAY)
        return bad_type(g, key, "an array", kv->v.type, err);
    if (elem >= 0 && kv->v.elem != (gguf_vtype)elem)
        return ys_fail(err, YS_EINPUT, "%s: key \"%.100s\" must be an array of %s, not of %s", g->path, key,
                       VTYPE_NAMES[elem], VTYPE_NAMES[kv->v.elem]);
    *out = &kv->v;
    return 0;
}

int64_t gguf_arr_int(const gguf_value *v, uint64_t i)
{
    const uint8_t *b = (const uint8_t *)v->data + i * (uint64_t)vtype_size(v->elem);
    uint64_t u = le(b, vtype_size(v->elem));
    switch (v->elem) {
    case GGUF_I8: return (int8_t)u;
    case GGUF_I16: return (int16_t)u;
    case GGUF_I32: return (int32_t)u;
    case GGUF_I64: { int64_t s; memcpy(&s, &u, 8); return s; }
    default: return (int64_t)u;
    }
}

double gguf_arr_num(const gguf_value *v, uint64_t i)
{
    if (v->elem == GGUF_F32) {
        uint32_t w = (uint32_t)le((const uint8_t *)v->data + 4 * i, 4);
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    if (v->elem == GGUF_F64) {
        uint64_t w = le((const uint8_t *)v->data + 8 * i, 8);
        double d;
        memcpy(&d, &w, 8);
        return d;
    }
    return (double)gguf_arr_int(v, i);
}
