/* checkpoint.c — a checkpoint opened (a Hugging Face folder or a GGUF
 * file) and closed, its tensors looked up and given F32 views, its
 * config.json read through the accessors; checkpoint.h has the contract.
 * The other parts: ckpt_safetensors.c (a folder's safetensors files and
 * shard index, validated), ckpt_gguf.c (a GGUF file), ckpt_release.c
 * (giving pages and merged copies back, ckpt_release) and ckpt_adapter.c
 * (an adapter applied at open); what they share is ckpt_internal.h. */
#include "ckpt_internal.h"

#include "ckpt_gguf.h"
#include "f16.h"
#include "lora.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

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
void ckpt_set_raw(ckpt *c, size_t i, const unsigned char *src)
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

/* ---- the entries, sorted by name ----------------------------------------- */

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

/* ---- open, close, lookup ------------------------------------------------- */

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
        ckpt_set_raw(c, i, ts[i].raw);
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
    if ((rc = ckpt_load_safetensors(c, err)) != 0)
        goto fail;
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

const gguf *ckpt_gguf(const ckpt *c) { return c->gg; }
