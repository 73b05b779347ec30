/* checkpoint.c — safetensors + config.json loading and validation; see
 * checkpoint.h for the contract. Everything a file says is checked before it
 * is believed: a hostile or truncated file must give an error, never a read
 * outside the mapping. Giving pages and merged copies back (ckpt_release)
 * is ckpt_release.c, applying an adapter ckpt_adapter.c; what they share
 * is ckpt_internal.h. */
#include "ckpt_internal.h"

#include "ckpt_gguf.h"
#include "f16.h"
#include "lora.h"
#include "ys_json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A safetensors header is JSON describing tensors; real ones are well under
 * a few MB. The bound only stops a corrupt length from driving a huge parse. */
#define CKPT_MAX_HEADER (100u * 1024u * 1024u)

static const struct { const char *name; ckpt_dtype t; size_t size; } DTYPES[] = {
    {"F64", CKPT_F64, 8}, {"F32", CKPT_F32, 4}, {"F16", CKPT_F16, 2},
    {"BF16", CKPT_BF16, 2}, {"I64", CKPT_I64, 8}, {"I32", CKPT_I32, 4},
    {"I16", CKPT_I16, 2}, {"I8", CKPT_I8, 1}, {"U8", CKPT_U8, 1},
    {"BOOL", CKPT_BOOL, 1}, {"F8_E4M3", CKPT_F8_E4M3, 1},
    {"F8_E5M2", CKPT_F8_E5M2, 1}, {"U16", CKPT_U16, 2}, {"U32", CKPT_U32, 4},
    {"U64", CKPT_U64, 8},
};
#define NDTYPES (sizeof DTYPES / sizeof DTYPES[0])

const char *ckpt_dtype_name(ckpt_dtype t)
{
    if (t == CKPT_GGML)
        return "GGML";
    for (size_t i = 0; i < NDTYPES; i++)
        if (DTYPES[i].t == t)
            return DTYPES[i].name;
    return "?";
}

size_t ckpt_dtype_size(ckpt_dtype t)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (DTYPES[i].t == t)
            return DTYPES[i].size;
    return 0;
}

char *ckpt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- element conversion -------------------------------------------------- */

/* At open: tensor i's stored bytes, and its F32 view when it is F32 and
 * 4-byte aligned in the file (used in place). Other float dtypes get their
 * view on first request (to_f32): a model packs most of its weights
 * straight from the stored bytes (ckpt_need_src), and a float copy made
 * at open would only be copied again. */
static void set_raw(ckpt *c, size_t i, const unsigned char *src)
{
    ckpt_tensor *t = &c->e[i].t;
    t->raw = src;
    if (t->dtype == CKPT_F32 && ((uintptr_t)src % sizeof(float)) == 0)
        t->data = (const float *)(const void *)src;
}

static int is_float(ckpt_dtype d)
{
    return d == CKPT_F32 || d == CKPT_F16 || d == CKPT_BF16 || d == CKPT_F64 || d == CKPT_GGML;
}

/* Give tensor t (an entry of c) its converted F32 view, once. */
static int to_f32(const ckpt *c, ckpt_entry *e, ys_error *err)
{
    ckpt_tensor *t = &e->t;
    if (t->data || !is_float(t->dtype))
        return 0;
    size_t n = t->numel;
    float *dst = malloc(n ? n * sizeof(float) : 1);
    if (!dst)
        return ys_fail(err, YS_ENOMEM, "%s/%s: tensor %s: out of memory converting %zu values",
                       c->dir, t->file, t->name, n);
    const unsigned char *src = t->raw;
    if (t->dtype == CKPT_GGML && gguf_dequant(t->ggml_type, src, n, dst) != 0) {
        free(dst);
        return ys_fail(err, YS_EINPUT, "%s: tensor %s: type %s cannot be dequantized", c->dir, t->name,
                       gguf_type_name(t->ggml_type));
    }
    for (size_t k = 0; k < n && t->dtype != CKPT_GGML; k++) {
        const unsigned char *p = src + k * ckpt_dtype_size(t->dtype);
        switch (t->dtype) {
        case CKPT_F32: memcpy(&dst[k], p, 4); break;
        case CKPT_F64: { double d; memcpy(&d, p, 8); dst[k] = (float)d; break; }
        case CKPT_F16: { uint16_t h; memcpy(&h, p, 2); dst[k] = f16_to_f32(h); break; }
        default:       { uint16_t h; memcpy(&h, p, 2); dst[k] = bf16_to_f32(h); break; }
        }
    }
    e->owned = dst;
    t->data = dst;
    return 0;
}

/* ---- header parsing ------------------------------------------------------ */

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

int ckpt_grow(ckpt *c, ys_error *err)
{
    if (c->nt < c->cap)
        return 0;
    size_t cap = c->cap ? 2 * c->cap : 64;
    ckpt_entry *e = realloc(c->e, cap * sizeof *e);
    if (!e)
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    c->e = e;
    c->cap = cap;
    return 0;
}

typedef struct range { uint64_t begin, end; size_t tensor; } range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* Validate one tensor entry of a header and append it to c->e (without
 * data yet). Names point into `fname`/new strings owned by c. */
static int parse_entry(ckpt *c, const ckpt_file *f, const cJSON *e, uint64_t data_size,
                       uint64_t *begin_out, ys_error *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: header entry is not an object",
                       c->dir, f->name, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: missing or non-string \"dtype\"",
                       c->dir, f->name, name);
    size_t d = 0;
    while (d < NDTYPES && strcmp(DTYPES[d].name, dt->valuestring) != 0)
        d++;
    if (d == NDTYPES)
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: unknown dtype \"%.40s\"",
                       c->dir, f->name, name, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: missing or non-array \"shape\"",
                       c->dir, f->name, name);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > CKPT_MAX_DIMS)
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: %d dimensions (at most %d supported)",
                       c->dir, f->name, name, ndim, CKPT_MAX_DIMS);
    int rc = ckpt_grow(c, err);
    if (rc)
        return rc;
    memset(&c->e[c->nt], 0, sizeof c->e[c->nt]);
    ckpt_tensor *t = &c->e[c->nt].t;
    t->dtype = DTYPES[d].t;
    t->ndim = ndim;
    t->file = f->name;
    uint64_t numel = 1;
    int k = 0;
    for (const cJSON *v = sh->child; v; v = v->next, k++) {
        uint64_t dim;
        if (json_uint(v, &dim) != 0)
            return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: shape[%d] is not a non-negative integer",
                           c->dir, f->name, name, k);
        if (dim != 0 && numel > UINT64_MAX / dim)
            return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: shape overflows", c->dir, f->name, name);
        numel *= dim;
        t->shape[k] = (int64_t)dim;
    }
    uint64_t esize = DTYPES[d].size;
    if (numel > UINT64_MAX / esize || numel > SIZE_MAX / sizeof(float))
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: shape overflows", c->dir, f->name, name);
    uint64_t bytes = numel * esize, b0, b1;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        json_uint(off->child, &b0) != 0 || json_uint(off->child->next, &b1) != 0)
        return ys_fail(err, YS_EINPUT,
                       "%s/%s: tensor %s: \"data_offsets\" must be two non-negative integers",
                       c->dir, f->name, name);
    if (b0 > b1)
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: data_offsets [%llu, %llu] end before begin",
                       c->dir, f->name, name, (unsigned long long)b0, (unsigned long long)b1);
    if (b1 > data_size)
        return ys_fail(err, YS_EINPUT,
                       "%s/%s: tensor %s: data_offsets [%llu, %llu] outside the file's %llu data bytes "
                       "(truncated file?)",
                       c->dir, f->name, name, (unsigned long long)b0, (unsigned long long)b1,
                       (unsigned long long)data_size);
    if (b1 - b0 != bytes)
        return ys_fail(err, YS_EINPUT,
                       "%s/%s: tensor %s: %llu data bytes but shape x %s needs %llu",
                       c->dir, f->name, name, (unsigned long long)(b1 - b0), DTYPES[d].name,
                       (unsigned long long)bytes);
    t->numel = (size_t)numel;
    t->name = ckpt_strdup(name);
    if (!t->name)
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    c->nt++;
    *begin_out = b0;
    return 0;
}

static int map_file(ckpt *c, ckpt_file *f, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, f->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ys_fail(err, YS_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ys_fail(err, YS_EIO, "%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        close(fd);
        return ys_fail(err, YS_EINPUT, "%s: truncated: %zu bytes, shorter than the 8-byte header length",
                       path, f->size);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return ys_fail(err, YS_EIO, "%s: mmap failed: %s", path, strerror(errno));
    f->map = m;
    return 0;
}

/* Map, parse and validate one safetensors file, appending its tensors. */
static int load_file(ckpt *c, ckpt_file *f, ys_error *err)
{
    int rc = map_file(c, f, err);
    if (rc)
        return rc;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | f->map[i];
    if (hlen > f->size - 8)
        return ys_fail(err, YS_EINPUT,
                       "%s/%s: header length %llu exceeds the file size %zu (truncated or not safetensors)",
                       c->dir, f->name, (unsigned long long)hlen, f->size);
    if (hlen < 2 || hlen > CKPT_MAX_HEADER)
        return ys_fail(err, YS_EINPUT, "%s/%s: implausible header length %llu", c->dir, f->name,
                       (unsigned long long)hlen);
    const char *hdr = (const char *)f->map + 8;
    /* safetensors pads the header with spaces, which the strict grammar
     * takes as trailing white space; anything else after the object means
     * the length or the JSON is wrong */
    char where[4200];
    snprintf(where, sizeof where, "%s/%s (header)", c->dir, f->name);
    cJSON *h = NULL;
    /* checked, then parsed as is: a tensor named twice must reach
     * ckpt_sort_and_check and be refused, not be resolved to the last copy */
    rc = ys_json_check(hdr, (size_t)hlen, where, 1, err);
    if (rc < 0)
        return rc;
    if (!(h = cJSON_ParseWithLength(hdr, (size_t)hlen)))
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", where);
    if (!cJSON_IsObject(h)) {
        rc = ys_fail(err, YS_EINPUT, "%s/%s: header is %s, not a JSON object", c->dir, f->name, ys_json_kind(h));
        cJSON_Delete(h);
        return rc;
    }
    uint64_t data_size = f->size - 8 - hlen;
    const unsigned char *data = f->map + 8 + hlen;
    size_t n = 0;
    for (const cJSON *e = h->child; e; e = e->next)
        n++;
    range *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) {
        cJSON_Delete(h);
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    }
    size_t nr = 0;
    for (const cJSON *e = h->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        uint64_t b0 = 0;
        rc = parse_entry(c, f, e, data_size, &b0, err);
        if (rc)
            goto out;
        ckpt_tensor *t = &c->e[c->nt - 1].t;
        r[nr].begin = b0;
        r[nr].end = b0 + t->numel * ckpt_dtype_size(t->dtype);
        r[nr].tensor = c->nt - 1;
        nr++;
    }
    /* overlap: sort the byte ranges; each non-empty range must start at or
     * after the end of the previous non-empty one */
    qsort(r, nr, sizeof *r, cmp_range);
    const range *prev = NULL;
    for (size_t i = 0; i < nr; i++) {
        if (r[i].begin == r[i].end)
            continue;
        if (prev && r[i].begin < prev->end) {
            rc = ys_fail(err, YS_EINPUT, "%s/%s: tensors %s and %s overlap (bytes %llu..%llu and %llu..%llu)",
                         c->dir, f->name, c->e[prev->tensor].t.name, c->e[r[i].tensor].t.name,
                         (unsigned long long)prev->begin, (unsigned long long)prev->end,
                         (unsigned long long)r[i].begin, (unsigned long long)r[i].end);
            goto out;
        }
        prev = &r[i];
    }
    for (size_t i = 0; i < nr; i++)
        set_raw(c, r[i].tensor, data + r[i].begin);
out:
    free(r);
    cJSON_Delete(h);
    return rc;
}

/* ---- folder -------------------------------------------------------------- */

static char *read_text(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = n;
    }
    return buf;
}

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static int add_file(ckpt *c, const char *name, ys_error *err)
{
    for (size_t i = 0; i < c->nfiles; i++)
        if (strcmp(c->files[i].name, name) == 0)
            return 0;
    ckpt_file *nf = realloc(c->files, (c->nfiles + 1) * sizeof *nf);
    if (!nf)
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    c->files = nf;
    memset(&c->files[c->nfiles], 0, sizeof *nf);
    c->files[c->nfiles].name = ckpt_strdup(name);
    if (!c->files[c->nfiles].name)
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    c->nfiles++;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const ckpt_entry *)a)->t.name, ((const ckpt_entry *)b)->t.name);
}

/* Sort by name (ckpt_get bisects) and refuse a name seen twice, within a
 * header (cJSON keeps duplicate keys) or across shards. */
int ckpt_sort_and_check(ckpt *c, ys_error *err)
{
    /* a header "{}" leaves no entries (and c->e NULL, which qsort must not
     * be given): say so here rather than "missing tensor" later */
    if (c->nt == 0)
        return ys_fail(err, YS_EINPUT, "%s: the safetensors files hold no tensors", c->dir);
    qsort(c->e, c->nt, sizeof *c->e, cmp_entry);
    for (size_t i = 1; i < c->nt; i++)
        if (strcmp(c->e[i - 1].t.name, c->e[i].t.name) == 0)
            return ys_fail(err, YS_EINPUT, "%s: tensor %s appears twice (%s and %s)", c->dir,
                           c->e[i].t.name, c->e[i - 1].t.file, c->e[i].t.file);
    return 0;
}

/* A shard name from the index must stay inside the folder. */
static int plain_file_name(const char *s)
{
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

/* Sharded checkpoint: read the index, map every shard it names, then check
 * each tensor is where the index says. */
static int load_sharded(ckpt *c, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", c->dir);
    char *text = read_text(path, NULL);
    if (!text)
        return ys_fail(err, YS_EIO, "%s: cannot read: %s", path, strerror(errno));
    cJSON *idx = NULL;
    int rc = ys_json_parse(text, strlen(text), path, 1, &idx, err);
    free(text);
    if (rc < 0)
        return rc;
    const cJSON *wm = cJSON_IsObject(idx) ? cJSON_GetObjectItemCaseSensitive(idx, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        rc = ys_fail(err, YS_EINPUT, "%s: not valid JSON with a \"weight_map\" object", path);
        goto out;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !plain_file_name(e->valuestring)) {
            rc = ys_fail(err, YS_EINPUT, "%s: tensor %s: shard must be a file name in the same folder",
                         path, e->string);
            goto out;
        }
        if ((rc = add_file(c, e->valuestring, err)) != 0)
            goto out;
    }
    if (c->nfiles == 0) {
        rc = ys_fail(err, YS_EINPUT, "%s: empty weight_map", path);
        goto out;
    }
    for (size_t i = 0; i < c->nfiles; i++)
        if ((rc = load_file(c, &c->files[i], err)) != 0)
            goto out;
    if ((rc = ckpt_sort_and_check(c, err)) != 0)
        goto out;
    for (const cJSON *e = wm->child; e; e = e->next) {
        const ckpt_tensor *t = ckpt_get(c, e->string);
        if (!t || strcmp(t->file, e->valuestring) != 0) {
            rc = ys_fail(err, YS_EINPUT, "%s: tensor %s: not found in shard %s", path, e->string,
                         e->valuestring);
            goto out;
        }
    }
out:
    cJSON_Delete(idx);
    return rc;
}

/* A GGUF file (ckpt_gguf.h): its config and tensors as entries; the
 * container's mapping stays with c->gg. */
static int open_gguf(ckpt *c, ys_error *err)
{
    ckpt_gguf_tensor *ts;
    size_t n;
    int rc = ckpt_gguf_read(c->dir, &c->gg, &c->config, &ts, &n, err);
    if (rc)
        return rc;
    const char *base = strrchr(c->dir, '/');
    base = base ? base + 1 : c->dir;
    if (!(c->e = calloc(n ? n : 1, sizeof *c->e)) || !(c->gowned = calloc(n ? n : 1, sizeof *c->gowned))) {
        for (size_t i = 0; i < n; i++)
            free(ts[i].name), free(ts[i].owned);
        free(ts);
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", c->dir);
    }
    for (size_t i = 0; i < n; i++) {
        ckpt_tensor *t = &c->e[i].t;
        t->name = ts[i].name;
        t->file = base;
        t->dtype = ts[i].dtype;
        t->ndim = ts[i].ndim;
        t->shape[0] = ts[i].shape[0], t->shape[1] = ts[i].shape[1];
        t->numel = ts[i].numel;
        t->ggml_type = ts[i].ggml_type;
        c->nt = i + 1;
        set_raw(c, i, ts[i].raw);
        if (ts[i].owned)
            c->gowned[c->ngowned++] = ts[i].owned;
    }
    free(ts);
    return ckpt_sort_and_check(c, err);
}

int ckpt_open(const char *dir, ckpt **out, ys_error *err)
{
    *out = NULL;
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1)
        return ys_fail(err, YS_EUSAGE, "%s: safetensors needs a little-endian host", dir);
    ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = ckpt_strdup(dir))) {
        free(c);
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", dir);
    }
    int rc;
    char path[4096];
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((rc = open_gguf(c, err)) != 0)
            goto fail;
        *out = c;
        return 0;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = ckpt_read_json(path, &c->config, err)) < 0)
        goto fail;
    if (file_exists(dir, "model.safetensors")) {
        if ((rc = add_file(c, "model.safetensors", err)) != 0 ||
            (rc = load_file(c, &c->files[0], err)) != 0 ||
            (rc = ckpt_sort_and_check(c, err)) != 0)
            goto fail;
    } else if (file_exists(dir, "model.safetensors.index.json")) {
        if ((rc = load_sharded(c, err)) != 0)
            goto fail;
    } else {
        rc = ys_fail(err, YS_EIO, "%s: no model.safetensors or model.safetensors.index.json", dir);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    ckpt_close(c);
    return rc;
}

void ckpt_close(ckpt *c)
{
    if (!c)
        return;
    ckpt_merges_free(c->mg);
    lora_close(c->ad);
    for (size_t i = 0; i < c->nt; i++) {
        free((char *)c->e[i].t.name);
        free(c->e[i].owned);
    }
    free(c->e);
    for (size_t i = 0; i < c->nfiles; i++) {
        if (c->files[i].map)
            munmap(c->files[i].map, c->files[i].size);
        free(c->files[i].name);
    }
    free(c->files);
    for (size_t i = 0; i < c->ngowned; i++)
        free(c->gowned[i]);
    free(c->gowned);
    gguf_close(c->gg);
    cJSON_Delete(c->config);
    free(c->dir);
    free(c);
}

const ckpt_tensor *ckpt_get(const ckpt *c, const char *name)
{
    size_t lo = 0, hi = c->nt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int k = strcmp(name, c->e[mid].t.name);
        if (k == 0)
            return &c->e[mid].t;
        if (k < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t ckpt_count(const ckpt *c) { return c->nt; }
const ckpt_tensor *ckpt_at(const ckpt *c, size_t i) { return i < c->nt ? &c->e[i].t : NULL; }
const char *ckpt_dir(const ckpt *c) { return c->dir; }
const cJSON *ckpt_config(const ckpt *c) { return c->config; }

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

int ckpt_require(const ckpt *c, const char *name, int ndim, const int64_t *shape,
                 const ckpt_tensor **out, ys_error *err)
{
    const ckpt_tensor *t = ckpt_get(c, name);
    *out = NULL;
    if (!t)
        return ys_fail(err, YS_EINPUT, "%s: missing tensor %s", c->dir, name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char want[128], got[128];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s has shape %s, config.json implies %s",
                       c->dir, t->file, name, got, want);
    }
    if (!is_float(t->dtype))
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: dtype %s is not a float type",
                       c->dir, t->file, name, ckpt_dtype_name(t->dtype));
    ckpt_entry *e = (ckpt_entry *)(void *)t;   /* t is the first member of its entry */
    int rc = to_f32(c, e, err);
    if (rc)
        return rc;
    e->consumed = 1;
    *out = t;
    return 0;
}

/* ---- config accessors ---------------------------------------------------- */

static const cJSON *config_item(const ckpt *c, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->config, key);
    return cJSON_IsNull(v) ? NULL : v;
}

int ckpt_config_int(const ckpt *c, const char *key, long dflt, long *out, ys_error *err)
{
    const cJSON *v = config_item(c, key);
    *out = dflt;
    if (!v)
        return 1;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    /* (double)LONG_MAX rounds up to 2^63, which does not fit a long: the
     * upper bound is exclusive, or the conversion below overflows */
    if (!(d == floor(d)) || d < (double)LONG_MIN || d >= -(double)LONG_MIN)
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must be an integer", c->dir, key);
    *out = (long)d;
    return 0;
}

int ckpt_config_num(const ckpt *c, const char *key, double dflt, double *out, ys_error *err)
{
    const cJSON *v = config_item(c, key);
    *out = dflt;
    if (!v)
        return 1;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must be a number", c->dir, key);
    /* every epsilon (layer_norm_epsilon, rms_norm_eps, layer_norm_eps...)
     * is added to a variance: a negative one gives NaN scores with exit 0 */
    if (strstr(key, "eps") && v->valuedouble < 0)
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must not be negative (found %g)", c->dir, key,
                       v->valuedouble);
    /* rope bases, softcaps and scalars divide or take logarithms: they must
     * be positive; fractions of the head rotated lie in (0, 1] */
    if ((strstr(key, "rope_theta") || strstr(key, "base") || strstr(key, "softcapping") ||
         strstr(key, "scalar")) && !(v->valuedouble > 0))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must be positive (found %g)", c->dir, key,
                       v->valuedouble);
    if ((!strcmp(key, "partial_rotary_factor") || !strcmp(key, "rotary_pct")) &&
        !(v->valuedouble > 0 && v->valuedouble <= 1))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must be in (0, 1] (found %g)", c->dir, key,
                       v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

int ckpt_config_bool(const ckpt *c, const char *key, int dflt, int *out, ys_error *err)
{
    const cJSON *v = config_item(c, key);
    *out = dflt;
    if (!v)
        return 1;
    if (!cJSON_IsBool(v))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must be true or false", c->dir, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int ckpt_config_str(const ckpt *c, const char *key, const char *dflt, const char **out,
                    ys_error *err)
{
    const cJSON *v = config_item(c, key);
    *out = dflt;
    if (!v)
        return 1;
    if (!cJSON_IsString(v))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" must be a string", c->dir, key);
    *out = v->valuestring;
    return 0;
}

int ckpt_config_dim(const ckpt *c, const char *key, long dflt, int *out, ys_error *err)
{
    long v;
    int rc = ckpt_config_int(c, key, dflt, &v, err);
    if (rc < 0)
        return rc;
    if (v <= 0 || v > (1L << 24))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" %s", ckpt_dir(c), key,
                       rc == 1 ? "is missing" : "must be a positive integer below 2^24");
    *out = (int)v;
    return 0;
}

int ckpt_need(const ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1, const float **out,
              ys_error *err)
{
    int64_t shape[2] = {d0, d1};
    const ckpt_tensor *t = NULL;
    int rc = ckpt_require(c, name, ndim, shape, &t, err);
    *out = t ? t->data : NULL;
    return rc;
}

int ckpt_need_src(const ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1, ckpt_src *out,
                  ys_error *err)
{
    *out = (ckpt_src){NULL, CKPT_F32, 0};
    const ckpt_tensor *t = ckpt_get(c, name);
    if (t && (t->dtype == CKPT_F16 || t->dtype == CKPT_BF16 || t->dtype == CKPT_GGML)) {
        /* the shape check of ckpt_require, without the conversion */
        int64_t shape[2] = {d0, d1};
        int ok = t->ndim == ndim;
        for (int i = 0; ok && i < ndim; i++)
            ok = shape[i] < 0 || shape[i] == t->shape[i];
        if (ok) {
            ((ckpt_entry *)(void *)t)->consumed = 1;
            *out = (ckpt_src){t->raw, t->dtype, t->ggml_type};
            return 0;
        }
    }
    const float *f;   /* F32 (in place or, unaligned, copied), F64, or an error */
    int rc = ckpt_need(c, name, ndim, d0, d1, &f, err);
    if (rc == 0)
        *out = (ckpt_src){f, CKPT_F32, 0};
    return rc;
}

int ckpt_model_config(const char *path, cJSON **out, ys_error *err)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        gguf *g = NULL;
        int rc = ckpt_gguf_read(path, &g, out, NULL, NULL, err);
        gguf_close(g);
        return rc;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", path);
    return ckpt_read_json(p, out, err);
}

int ckpt_read_json(const char *path, cJSON **out, ys_error *err)
{
    *out = NULL;
    char *text = read_text(path, NULL);
    if (!text)
        return ys_fail(err, YS_EIO, "%s: cannot read: %s", path, strerror(errno));
    cJSON *j = NULL;
    int rc = ys_json_parse(text, strlen(text), path, 1, &j, err);
    free(text);
    if (rc < 0)
        return rc;
    if (!cJSON_IsObject(j)) {
        rc = ys_fail(err, YS_EINPUT, "%s: top level is %s, not a JSON object", path, ys_json_kind(j));
        cJSON_Delete(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* ---- an adapter's weights (its merge is ckpt_adapter.c) ------------------ */

int ckpt_open_weights(const char *dir, const char *file, ckpt **out, ys_error *err)
{
    *out = NULL;
    ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = ckpt_strdup(dir)) || !(c->config = cJSON_CreateObject())) {
        if (c)
            free(c->dir);
        free(c);
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", dir);
    }
    int rc;
    if ((rc = add_file(c, file, err)) != 0 || (rc = load_file(c, &c->files[0], err)) != 0 ||
        (rc = ckpt_sort_and_check(c, err)) != 0) {
        ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

const gguf *ckpt_gguf(const ckpt *c) { return c->gg; }
