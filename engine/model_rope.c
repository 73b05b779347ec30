/* model_rope.c — RoPE frequencies for every rope_type transformers knows
 * (modeling_rope_utils.py): default, linear, dynamic (NTK), llama3, yarn
 * and longrope. Everything is computed in double: the engine is held to a
 * float64 reference, and these are a few dozen numbers per call. */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

/* A number of the scaling object: 0 and *out set when present, 1 when
 * absent or null (*out = dflt), YS_EINPUT when it is not a number or,
 * with required, absent. */
static int num(const cJSON *s, const char *key, double dflt, int required, const char *dir, const char *type,
               double *out, ys_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling of type \"%s\" needs \"%s\"", dir, type, key);
        return 1;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling \"%s\" must be a number", dir, key);
    *out = v->valuedouble;
    return 0;
}

static int factors(const cJSON *s, const char *key, int n, const char *dir, double **out, ys_error *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling \"%s\" must be a list of %d numbers "
                       "(rotary dimensions / 2)", dir, key, n);
    if (!(*out = malloc((size_t)n * sizeof **out)))
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
            return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling \"%s\"[%d] must be a positive number",
                           dir, key, i);
        (*out)[i++] = v->valuedouble;
    }
    return 0;
}

/* theta^(-2i/dim) */
static void base_freqs(double theta, int dim, double *f)
{
    for (int i = 0; i < dim / 2; i++)
        f[i] = pow(theta, -(double)(2 * i) / (double)dim);
}

static double yarn_mscale(double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * log(scale) + 1.0; }

/* The dimension (of `dim`) at which a frequency turns `rot` times over
 * `len` positions. */
static double yarn_corr_dim(double rot, int dim, double base, double len)
{
    return (double)dim * log(len / (rot * 2 * PI)) / (2 * log(base));
}

int rope_config(const cJSON *cfg, const cJSON *s, const char *dir, rope_cfg *r, ys_error *err)
{
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(cfg, "max_position_embeddings");
    r->max_pos = cJSON_IsNumber(mp) && mp->valuedouble >= 1 && mp->valuedouble < 1e9 ? (int)mp->valuedouble : 0;
    const cJSON *t = s ? cJSON_GetObjectItemCaseSensitive(s, "rope_type") : NULL;
    if (s && !t)
        t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (t && !cJSON_IsString(t))
        return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling \"rope_type\" must be a string", dir);
    const char *type = t ? t->valuestring : "default";
    int half = r->dim / 2, rc = 0;
    if (!(r->inv_freq = malloc((size_t)(half ? half : 1) * sizeof *r->inv_freq)))
        return ys_fail(err, YS_ENOMEM, "out of memory");
    base_freqs(r->theta, r->dim, r->inv_freq);
    r->attn_factor = 1.0;
    r->factor = 1.0;
    if (!strcmp(type, "default")) {
        r->type = ROPE_DEFAULT;
    } else if (!strcmp(type, "linear")) {
        r->type = ROPE_LINEAR;
        if ((rc = num(s, "factor", 1, 1, dir, type, &r->factor, err)) < 0)
            return rc;
        for (int i = 0; i < half; i++)
            r->inv_freq[i] /= r->factor;
    } else if (!strcmp(type, "dynamic")) {
        r->type = ROPE_DYNAMIC;
        if ((rc = num(s, "factor", 1, 1, dir, type, &r->factor, err)) < 0)
            return rc;
        if (r->max_pos == 0)
            return ys_fail(err, YS_EINPUT, "%s/config.json: dynamic RoPE needs max_position_embeddings", dir);
        if (r->dim <= 2)
            return ys_fail(err, YS_EINPUT, "%s/config.json: dynamic RoPE needs more than 2 rotary dimensions", dir);
    } else if (!strcmp(type, "llama3")) {
        r->type = ROPE_LLAMA3;
        double lo, hi, old;
        if ((rc = num(s, "factor", 1, 1, dir, type, &r->factor, err)) < 0 ||
            (rc = num(s, "low_freq_factor", 1, 1, dir, type, &lo, err)) < 0 ||
            (rc = num(s, "high_freq_factor", 4, 1, dir, type, &hi, err)) < 0 ||
            (rc = num(s, "original_max_position_embeddings", 8192, 1, dir, type, &old, err)) < 0)
            return rc;
        if (!(hi > lo))
            return ys_fail(err, YS_EINPUT, "%s/config.json: llama3 RoPE needs high_freq_factor > low_freq_factor", dir);
        /* long wavelengths are slowed by factor, short ones kept, the band
         * between them blended by how many turns fit the old context */
        double lo_wl = old / lo, hi_wl = old / hi;
        for (int i = 0; i < half; i++) {
            double fr = r->inv_freq[i], wl = 2 * PI / fr;
            double scaled = wl > lo_wl ? fr / r->factor : fr;
            if (!(wl < hi_wl) && !(wl > lo_wl)) {
                double smooth = (old / wl - lo) / (hi - lo);
                scaled = (1 - smooth) * scaled / r->factor + smooth * scaled;
            }
            r->inv_freq[i] = scaled;
        }
    } else if (!strcmp(type, "yarn")) {
        r->type = ROPE_YARN;
        double af, ms, msad, orig, bf, bs, trunc = 1;
        if ((rc = num(s, "factor", 1, 1, dir, type, &r->factor, err)) < 0 ||
            (rc = num(s, "attention_factor", 0, 0, dir, type, &af, err)) < 0 ||
            (rc = num(s, "mscale", 0, 0, dir, type, &ms, err)) < 0 ||
            (rc = num(s, "mscale_all_dim", 0, 0, dir, type, &msad, err)) < 0 ||
            (rc = num(s, "original_max_position_embeddings", 0, 0, dir, type, &orig, err)) < 0 ||
            (rc = num(s, "beta_fast", 0, 0, dir, type, &bf, err)) < 0 ||
            (rc = num(s, "beta_slow", 0, 0, dir, type, &bs, err)) < 0)
            return rc;
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(s, "truncate");
        if (tr && !cJSON_IsNull(tr)) {
            if (!cJSON_IsBool(tr))
                return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling \"truncate\" must be true or false", dir);
            trunc = cJSON_IsTrue(tr);
        }
        /* HF: `x or default` — an absent, null or zero value takes the default */
        if (orig == 0)
            orig = r->max_pos;
        if (!(orig > 0))
            return ys_fail(err, YS_EINPUT, "%s/config.json: yarn RoPE needs original_max_position_embeddings "
                           "or max_position_embeddings", dir);
        bf = bf != 0 ? bf : 32, bs = bs != 0 ? bs : 1;
        if (af != 0)
            r->attn_factor = af;
        else if (ms != 0 && msad != 0)
            r->attn_factor = yarn_mscale(r->factor, ms) / yarn_mscale(r->factor, msad);
        else
            r->attn_factor = yarn_mscale(r->factor, 1);
        double lo = yarn_corr_dim(bf, r->dim, r->theta, orig), hi = yarn_corr_dim(bs, r->dim, r->theta, orig);
        if (trunc)
            lo = floor(lo), hi = ceil(hi);
        lo = lo > 0 ? lo : 0, hi = hi < r->dim - 1 ? hi : r->dim - 1;
        if (lo == hi)
            hi += 0.001;
        for (int i = 0; i < half; i++) {
            double ramp = ((double)i - lo) / (hi - lo);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double extra = 1 - ramp;   /* how much of the unscaled frequency is kept */
            double fr = r->inv_freq[i];
            r->inv_freq[i] = fr / r->factor * (1 - extra) + fr * extra;
        }
    } else if (!strcmp(type, "longrope")) {
        r->type = ROPE_LONGROPE;
        double af;
        if ((rc = num(s, "attention_factor", 0, 0, dir, type, &af, err)) < 0 ||
            (rc = num(s, "factor", 1, 0, dir, type, &r->factor, err)) < 0 ||
            (rc = factors(s, "short_factor", half, dir, &r->short_f, err)) ||
            (rc = factors(s, "long_factor", half, dir, &r->long_f, err)))
            return rc;
        /* Phi-3 keeps the pretrained length at the top level
         * (original_max_position_embeddings, set by the caller) and the
         * scale is the ratio of the two lengths */
        if (r->orig_max > 0) {
            if (r->max_pos == 0)
                return ys_fail(err, YS_EINPUT, "%s/config.json: longrope needs max_position_embeddings", dir);
            r->factor = (double)r->max_pos / r->orig_max;
        } else {
            r->orig_max = r->max_pos;
        }
        if (r->orig_max <= 1)
            return ys_fail(err, YS_EINPUT, "%s/config.json: longrope needs original_max_position_embeddings", dir);
        r->attn_factor = af != 0 ? af : r->factor <= 1 ? 1.0 : sqrt(1 + log(r->factor) / log((double)r->orig_max));
    } else {
        return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling type \"%.40s\" is not supported (default, "
                       "linear, dynamic, llama3, yarn, longrope)", dir, type);
    }
    if (!(r->factor > 0) || !(r->attn_factor > 0))
        return ys_fail(err, YS_EINPUT, "%s/config.json: rope_scaling factor must be positive", dir);
    return 0;
}

void rope_freqs(const rope_cfg *r, size_t seq_len, double *f, double *attn_factor)
{
    int half = r->dim / 2;
    *attn_factor = r->attn_factor;
    if (r->type == ROPE_DYNAMIC && seq_len > (size_t)r->max_pos) {
        /* NTK: a larger base, recomputed for the call's length */
        double d = r->dim, L = (double)seq_len;
        double base = r->theta * pow(r->factor * L / r->max_pos - (r->factor - 1), d / (d - 2));
        base_freqs(base, r->dim, f);
    } else if (r->type == ROPE_LONGROPE) {
        const double *ext = seq_len > (size_t)r->orig_max ? r->long_f : r->short_f;
        for (int i = 0; i < half; i++)
            f[i] = r->inv_freq[i] / ext[i];
    } else {
        memcpy(f, r->inv_freq, (size_t)half * sizeof *f);
    }
}

int rope_same(const rope_cfg *r, size_t a, size_t b)
{
    if (r->type == ROPE_DYNAMIC)
        return a == b || (a <= (size_t)r->max_pos && b <= (size_t)r->max_pos);
    if (r->type == ROPE_LONGROPE)
        return (a > (size_t)r->orig_max) == (b > (size_t)r->orig_max);
    return 1;
}

void rope_free(rope_cfg *r)
{
    free(r->inv_freq), free(r->short_f), free(r->long_f);
    r->inv_freq = r->short_f = r->long_f = NULL;
}
