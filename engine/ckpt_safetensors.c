/* ckpt_safetensors.c — a Hugging Face folder's files: safetensors headers
 * parsed and validated, the files mapped, the shard index followed, and
 * JSON files (config.json) read; checkpoint.h has the contract. Everything a
 * file says is checked before it is believed: a hostile or truncated file
 * must give an error, never a read outside the mapping. */
#include "ckpt_internal.h"

#include "ys_json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
        ckpt_set_raw(c, r[i].tensor, data + r[i].begin);
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

/* The folder's weights: model.safetensors, or the shards its index names. */
int ckpt_load_safetensors(ckpt *c, ys_error *err)
{
    int rc;
    if (file_exists(c->dir, "model.safetensors")) {
        if ((rc = add_file(c, "model.safetensors", err)) != 0 || (rc = load_file(c, &c->files[0], err)) != 0)
            return rc;
        return ckpt_sort_and_check(c, err);
    }
    if (file_exists(c->dir, "model.safetensors.index.json"))
        return load_sharded(c, err);
    return ys_fail(err, YS_EIO, "%s: no model.safetensors or model.safetensors.index.json", c->dir);
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
