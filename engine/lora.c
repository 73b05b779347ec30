/* lora.c — PEFT LoRA adapters: adapter_config.json and
 * adapter_model.safetensors turned into edits of a base checkpoint, and
 * the merge arithmetic; see lora.h. The rules are peft's (read at
 * huggingface/peft: tuners/lora/{config,layer,model}.py,
 * tuners/tuners_utils.py check_target_module_exists, utils/other.py
 * get_pattern_key, utils/save_and_load.py; commits in README_lora.md). */
#include "lora.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "f16.h"

#define PREFIX "base_model.model."

struct lora {
    char *dir;
    cJSON *cfg;
    ckpt *w;                  /* adapter_model.safetensors */
    lora_edit *e;
    size_t ne;
    /* the config, parsed */
    long r;
    double alpha;
    int rslora;
    const cJSON *targets;     /* array, string or NULL (every module) */
    const cJSON *exclude;     /* array, string or NULL */
    const cJSON *layers;      /* layers_to_transform: number, array or NULL */
    const cJSON *lpattern;    /* layers_pattern: string, array or NULL */
    const cJSON *rank_pat, *alpha_pat;   /* objects or NULL */
    char **save;              /* modules_to_save names */
    size_t nsave;
    int gpt2;                 /* base is GPT-2: its c_attn/c_proj/c_fc/q_attn are Conv1D */
};

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- regular expressions (Python's re semantics for these patterns) ---- */

/* 1 when `subject` matches `pattern` anchored at both ends (re.fullmatch),
 * 0 when not, YS_EINPUT when the pattern does not compile. */
static int re_full(const lora *l, const char *field, const char *pattern, const char *subject, ys_error *err)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                                   &ec, &eo, NULL);
    if (!re)
        return ys_fail(err, YS_EINPUT, "%s/adapter_config.json: %s: regular expression \"%.80s\" does not compile "
                       "(at offset %zu)", l->dir, field, pattern, (size_t)eo);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? pcre2_match(re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

/* The layer index peft reads from a module name: the first
 * ".<name>.<digits>." (re.match(r".*?\.[^.]*\.(\d+)\."), or with a
 * layers_pattern p the first ".p.<digits>.". -1 when there is none. (Older
 * peft took the last one, with a greedy ".*"; they differ only for names
 * with two numbered parts, such as MoE experts inside a layer.) */
static long layer_index(const char *key, const char *pattern)
{
    size_t plen = pattern ? strlen(pattern) : 0;
    for (const char *p = key; (p = strchr(p, '.')) != NULL; p++) {
        const char *name = p + 1, *dot = strchr(name, '.');
        if (!dot)
            break;
        if (pattern && ((size_t)(dot - name) != plen || strncmp(name, pattern, plen) != 0))
            continue;
        const char *d = dot + 1;
        long v = 0;
        int nd = 0;
        while (*d >= '0' && *d <= '9' && v < 100000000)
            v = v * 10 + (*d++ - '0'), nd++;
        if (nd && *d == '.')
            return v;
    }
    return -1;
}

static int list_has(const cJSON *list, const char *key, int suffix)
{
    const cJSON *v;
    size_t kl = strlen(key);
    cJSON_ArrayForEach(v, list) {
        if (!cJSON_IsString(v))
            continue;
        const char *s = v->valuestring;
        size_t sl = strlen(s);
        if (!strcmp(s, key))
            return 1;
        if (suffix && kl > sl && key[kl - sl - 1] == '.' && !strcmp(key + kl - sl, s))
            return 1;
    }
    return 0;
}

/* key is (part of) a modules_to_save module: peft's
 * re.match(rf"(^|.*\.){m}($|\..*)", key), with m a plain name. */
static int in_saved(const lora *l, const char *key, size_t *which)
{
    for (size_t i = 0; i < l->nsave; i++) {
        const char *m = l->save[i];
        size_t ml = strlen(m);
        for (const char *p = key; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
            if (!strncmp(p, m, ml) && (p[ml] == 0 || p[ml] == '.')) {
                if (which)
                    *which = i;
                return 1;
            }
        }
    }
    return 0;
}

/* peft's check_target_module_exists for a module name: 1 adapted, 0 not,
 * < 0 an error (a bad regular expression). */
static int selected(const lora *l, const char *key, ys_error *err)
{
    int rc;
    if (cJSON_IsString(l->exclude)) {
        if ((rc = re_full(l, "exclude_modules", l->exclude->valuestring, key, err)) != 0)
            return rc < 0 ? rc : 0;
    } else if (cJSON_IsArray(l->exclude) && list_has(l->exclude, key, 1)) {
        return 0;
    }
    if (in_saved(l, key, NULL))
        return 0;
    if (!l->targets)
        return 1;   /* null: chosen by architecture when trained; the file says which */
    if (cJSON_IsString(l->targets)) {
        const char *t = l->targets->valuestring;
        if (!strcasecmp(t, "all-linear")) {   /* every Linear/Conv1D but the output layer */
            const char *last = strrchr(key, '.');
            return strcmp(last ? last + 1 : key, "lm_head") != 0;
        }
        return re_full(l, "target_modules", t, key, err);
    }
    if (list_has(l->targets, key, 0))
        return 1;   /* an exact name: layers_to_transform does not apply (as peft) */
    if (!list_has(l->targets, key, 1))
        return 0;
    int use_layers = cJSON_IsNumber(l->layers) || (cJSON_IsArray(l->layers) && cJSON_GetArraySize(l->layers) > 0);
    if (!use_layers)
        return 1;
    long idx = -1;
    if (cJSON_IsString(l->lpattern) && l->lpattern->valuestring[0]) {
        idx = layer_index(key, l->lpattern->valuestring);
    } else if (cJSON_IsArray(l->lpattern) && cJSON_GetArraySize(l->lpattern) > 0) {
        const cJSON *p;
        cJSON_ArrayForEach(p, l->lpattern) {
            if (cJSON_IsString(p) && (idx = layer_index(key, p->valuestring)) >= 0)
                break;
        }
    } else {
        idx = layer_index(key, NULL);
    }
    if (idx < 0)
        return 0;
    if (cJSON_IsNumber(l->layers))
        return (double)idx == l->layers->valuedouble;
    const cJSON *v;
    cJSON_ArrayForEach(v, l->layers) if (cJSON_IsNumber(v) && v->valuedouble == (double)idx) return 1;
    return 0;
}

/* rank_pattern / alpha_pattern: the value of the first key (in file order)
 * with re.match(rf"(.*\.)?({key})$", module), else dflt. */
static int pattern_value(const lora *l, const char *field, const cJSON *pat, const char *module, double dflt,
                         double *out, ys_error *err)
{
    *out = dflt;
    const cJSON *p;
    cJSON_ArrayForEach(p, pat) {
        size_t n = strlen(p->string) + 32;
        char *re = malloc(n);
        if (!re)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        snprintf(re, n, "(?:.*\\.)?(?:%s)", p->string);
        int rc = re_full(l, field, re, module, err);
        free(re);
        if (rc < 0)
            return rc;
        if (rc) {
            if (!cJSON_IsNumber(p))
                return ys_fail(err, YS_EINPUT, "%s/adapter_config.json: %s[\"%.80s\"] must be a number", l->dir, field,
                               p->string);
            *out = p->valuedouble;
            return 0;
        }
    }
    return 0;
}

/* ---- config -------------------------------------------------------------- */

static const cJSON *item(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

static int is_true(const cJSON *o, const char *k) { return cJSON_IsTrue(item(o, k)); }

static int nonempty(const cJSON *v)
{
    return v && !(cJSON_IsFalse(v)) && !((cJSON_IsArray(v) || cJSON_IsObject(v)) && cJSON_GetArraySize(v) == 0);
}

static int strings_or_string(const lora *l, const char *k, const cJSON *v, int allow_string, ys_error *err)
{
    if (!v || (allow_string && cJSON_IsString(v)))
        return 0;
    if (cJSON_IsArray(v)) {
        const cJSON *s;
        cJSON_ArrayForEach(s, v) if (!cJSON_IsString(s)) goto bad;
        return 0;
    }
bad:
    return ys_fail(err, YS_EINPUT, "%s/adapter_config.json: \"%s\" must be a list of names%s", l->dir, k,
                   allow_string ? " or a regular expression" : "");
}

static int add_saved(lora *l, const char *name, ys_error *err)
{
    for (size_t i = 0; i < l->nsave; i++)
        if (!strcmp(l->save[i], name))
            return 0;
    char **s = realloc(l->save, (l->nsave + 1) * sizeof *s);
    if (!s)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    l->save = s;
    if (!(l->save[l->nsave] = xstrdup(name)))
        return ys_fail(err, YS_ENOMEM, "out of memory");
    l->nsave++;
    return 0;
}

static int read_config(lora *l, const ckpt *base, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", l->dir);
    int rc = ckpt_read_json(path, &l->cfg, err);
    if (rc)
        return rc;
    const cJSON *c = l->cfg, *v;
    const char *cfgf = "adapter_config.json";
    v = item(c, "peft_type");
    if (!cJSON_IsString(v))
        return ys_fail(err, YS_EINPUT, "%s/%s: no \"peft_type\" (a PEFT adapter has one; only LORA is supported)",
                       l->dir, cfgf);
    if (strcmp(v->valuestring, "LORA") != 0)
        return ys_fail(err, YS_EINPUT, "%s/%s: peft_type \"%.40s\" is not supported (only LORA)", l->dir, cfgf,
                       v->valuestring);
    v = item(c, "r");
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e6 || floor(v->valuedouble) != v->valuedouble)
        return ys_fail(err, YS_EINPUT, "%s/%s: \"r\" must be a positive integer", l->dir, cfgf);
    l->r = (long)v->valuedouble;
    v = item(c, "lora_alpha");
    if (v && (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)))
        return ys_fail(err, YS_EINPUT, "%s/%s: \"lora_alpha\" must be a number", l->dir, cfgf);
    l->alpha = v ? v->valuedouble : 8.0;   /* LoraConfig's default */
    v = item(c, "use_rslora");
    if (v && !cJSON_IsBool(v))
        return ys_fail(err, YS_EINPUT, "%s/%s: \"use_rslora\" must be true or false", l->dir, cfgf);
    l->rslora = cJSON_IsTrue(v);
    v = item(c, "fan_in_fan_out");   /* peft decides it by layer type; only the type is checked */
    if (v && !cJSON_IsBool(v))
        return ys_fail(err, YS_EINPUT, "%s/%s: \"fan_in_fan_out\" must be true or false", l->dir, cfgf);
    v = item(c, "bias");
    if (v && !(cJSON_IsString(v) && !strcmp(v->valuestring, "none")))
        return ys_fail(err, YS_EINPUT, "%s/%s: bias \"%.20s\" is not supported (only \"none\": trained biases "
                       "are not merged)", l->dir, cfgf, cJSON_IsString(v) ? v->valuestring : "?");
    static const char *const refused[][2] = {
        {"use_dora", "DoRA (use_dora) is not supported"},
        {"lora_bias", "lora_bias is not supported"},
        {"layer_replication", "layer_replication is not supported"},
        {"trainable_token_indices", "trainable_token_indices is not supported"},
        {"target_parameters", "target_parameters (LoRA on parameters) is not supported"},
        {"use_qalora", "QALoRA (use_qalora) is not supported"},
        /* aLoRA adapts only the tokens from the invocation sequence on:
         * no merged weight computes that (peft's docs say it cannot merge) */
        {"alora_invocation_tokens", "Activated LoRA (alora_invocation_tokens) is not supported: it applies the "
                                    "adapter only from the invocation tokens on, which a merged weight cannot do"},
        /* Arrow routes each token among several LoRA experts */
        {"arrow_config", "Arrow routing (arrow_config) is not supported"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (nonempty(item(c, refused[i][0])))
            return ys_fail(err, YS_EINPUT, "%s/%s: %s", l->dir, cfgf, refused[i][1]);
    l->targets = item(c, "target_modules");
    l->exclude = item(c, "exclude_modules");
    if ((rc = strings_or_string(l, "target_modules", l->targets, 1, err)) ||
        (rc = strings_or_string(l, "exclude_modules", l->exclude, 1, err)))
        return rc;
    l->layers = item(c, "layers_to_transform");
    if (l->layers && !cJSON_IsNumber(l->layers)) {
        int ok = cJSON_IsArray(l->layers);
        const cJSON *s;
        cJSON_ArrayForEach(s, l->layers) ok = ok && cJSON_IsNumber(s);
        if (!ok)
            return ys_fail(err, YS_EINPUT, "%s/%s: \"layers_to_transform\" must be an integer or a list of them",
                           l->dir, cfgf);
    }
    l->lpattern = item(c, "layers_pattern");
    if ((rc = strings_or_string(l, "layers_pattern", l->lpattern, 1, err)))
        return rc;
    if (cJSON_IsString(l->targets) && (l->layers || l->lpattern))
        return ys_fail(err, YS_EINPUT, "%s/%s: layers_to_transform / layers_pattern cannot be used when "
                       "target_modules is a regular expression (peft refuses it too)", l->dir, cfgf);
    l->rank_pat = item(c, "rank_pattern");
    l->alpha_pat = item(c, "alpha_pattern");
    if ((l->rank_pat && !cJSON_IsObject(l->rank_pat)) || (l->alpha_pat && !cJSON_IsObject(l->alpha_pat)))
        return ys_fail(err, YS_EINPUT, "%s/%s: rank_pattern and alpha_pattern must be objects", l->dir, cfgf);
    const cJSON *save = item(c, "modules_to_save");
    if ((rc = strings_or_string(l, "modules_to_save", save, 0, err)))
        return rc;
    cJSON_ArrayForEach(v, save) if ((rc = add_saved(l, v->valuestring, err))) return rc;
    /* a sequence-classification PeftModel always saves its head */
    v = item(c, "task_type");
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "SEQ_CLS") &&
        ((rc = add_saved(l, "classifier", err)) || (rc = add_saved(l, "score", err))))
        return rc;
    const char *mt = NULL;
    if (ckpt_config_str(base, "model_type", NULL, &mt, NULL) == 0 && mt && !strcmp(mt, "gpt2"))
        l->gpt2 = 1;
    return 0;
}

/* ---- tensors ------------------------------------------------------------- */

typedef struct pending {
    char *module;
    const ckpt_tensor *a, *b;
} pending;

static int add_edit(lora *l, lora_edit *e, ys_error *err)
{
    lora_edit *ne = realloc(l->e, (l->ne + 1) * sizeof *ne);
    if (!ne) {
        free(e->target);
        free(e->module);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    l->e = ne;
    l->e[l->ne++] = *e;
    return 0;
}

/* The base tensor a module's `param` lives in: "<module>.<param>", or
 * without the module name's first component (the class's base-model
 * prefix, absent from hub GPT-2 files). NULL when neither exists. */
static char *base_name(const ckpt *base, const char *module, const char *param)
{
    size_t n = strlen(module) + strlen(param) + 2;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s.%s", module, param);
    if (ckpt_get(base, s))
        return s;
    const char *dot = strchr(s, '.');
    if (dot && dot < s + strlen(module) && ckpt_get(base, dot + 1)) {
        memmove(s, dot + 1, strlen(dot + 1) + 1);
        return s;
    }
    free(s);
    return NULL;
}

static int is_conv1d(const lora *l, const char *module)
{
    if (!l->gpt2)
        return 0;
    const char *last = strrchr(module, '.');
    last = last ? last + 1 : module;
    return !strcmp(last, "c_attn") || !strcmp(last, "c_proj") || !strcmp(last, "c_fc") || !strcmp(last, "q_attn");
}

/* A decoder whose output layer is the module "lm_head" and, per its
 * config, is tied to the input embedding. The default of
 * tie_word_embeddings is each HF config class's own (True for GPT-2 and
 * the Gemmas, False for Llama, Mistral, Qwen2/3 and Phi-3). GPT-NeoX is
 * left out: its head is "embed_out", never lm_head. */
static int tied_decoder(const ckpt *base)
{
    static const struct { const char *type; int tied; } heads[] = {
        {"gpt2", 1}, {"llama", 0}, {"mistral", 0}, {"qwen2", 0}, {"qwen3", 0}, {"phi3", 0},
        {"gemma", 1}, {"gemma2", 1}, {"gemma3_text", 1},
    };
    const char *mt = NULL;
    if (ckpt_config_str(base, "model_type", NULL, &mt, NULL) != 0 || !mt)
        return 0;
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        if (strcmp(mt, heads[i].type))
            continue;
        int tied = 0;
        ckpt_config_bool(base, "tie_word_embeddings", heads[i].tied, &tied, NULL);
        return tied;
    }
    return 0;
}

static int merge_edit(lora *l, const ckpt *base, const pending *p, ys_error *err)
{
    const char *W = "adapter_model.safetensors";
    if (!p->a || !p->b)
        return ys_fail(err, YS_EINPUT, "%s/%s: module %s has lora_%s.weight but no lora_%s.weight", l->dir, W,
                       p->module, p->a ? "A" : "B", p->a ? "B" : "A");
    int rc = selected(l, p->module, err);
    if (rc < 0)
        return rc;
    if (!rc)
        return ys_fail(err, YS_EINPUT, "%s/%s: module %s has LoRA weights but adapter_config.json's "
                       "target_modules/exclude_modules/layers_to_transform/modules_to_save do not select it",
                       l->dir, W, p->module);
    const ckpt_tensor *a = p->a, *b = p->b;
    if (a->ndim != 2 || b->ndim != 2 || a->shape[0] != b->shape[1] || a->shape[0] < 1)
        return ys_fail(err, YS_EINPUT, "%s/%s: module %s: lora_A must be [r, in] and lora_B [out, r]: found "
                       "%d-D and %d-D, ranks %lld and %lld", l->dir, W, p->module, a->ndim, b->ndim,
                       (long long)a->shape[0], (long long)(b->ndim == 2 ? b->shape[1] : -1));
    double r, alpha;
    if ((rc = pattern_value(l, "rank_pattern", l->rank_pat, p->module, (double)l->r, &r, err)) ||
        (rc = pattern_value(l, "alpha_pattern", l->alpha_pat, p->module, l->alpha, &alpha, err)))
        return rc;
    if ((double)a->shape[0] != r)
        return ys_fail(err, YS_EINPUT, "%s/%s: module %s: lora_A has rank %lld but adapter_config.json says r = %g%s",
                       l->dir, W, p->module, (long long)a->shape[0], r,
                       r != (double)l->r ? " (rank_pattern)" : "");
    char *target = base_name(base, p->module, "weight");
    if (!target)
        return ys_fail(err, YS_EINPUT, "%s: module %s: the base checkpoint %s has no tensor %s.weight (is this the "
                       "adapter's base model?)", l->dir, p->module, ckpt_dir(base), p->module);
    const ckpt_tensor *t = ckpt_get(base, target);
    int conv = is_conv1d(l, p->module);
    int64_t out = b->shape[0], in = a->shape[1];
    int64_t want0 = conv ? in : out, want1 = conv ? out : in;
    if (t->ndim != 2 || t->shape[0] != want0 || t->shape[1] != want1 ||
        !(t->dtype == CKPT_F32 || t->dtype == CKPT_F16 || t->dtype == CKPT_BF16 || t->dtype == CKPT_F64)) {
        rc = ys_fail(err, YS_EINPUT, "%s: module %s: lora_B @ lora_A is [out %lld, in %lld] but the base tensor %s "
                     "is %s [%lld, %lld]%s (shape mismatch: another base model?)", l->dir, p->module, (long long)out,
                     (long long)in, target, ckpt_dtype_name(t->dtype), (long long)t->shape[0],
                     (long long)(t->ndim > 1 ? t->shape[1] : 0), conv ? ", stored [in, out] (Conv1D)" : "");
        free(target);
        return rc;
    }
    /* F32 views of A and B: small; converted copies owned by l->w */
    const ckpt_tensor *fa, *fb;
    if ((rc = ckpt_require(l->w, a->name, 2, a->shape, &fa, err)) ||
        (rc = ckpt_require(l->w, b->name, 2, b->shape, &fb, err))) {
        free(target);
        return rc;
    }
    lora_edit e = {.kind = LORA_MERGE, .target = target, .module = xstrdup(p->module), .a = fa, .b = fb,
                   .scaling = l->rslora ? alpha / sqrt(r) : alpha / r, .conv1d = conv};
    if (!e.module) {
        free(target);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    return add_edit(l, &e, err);
}

static int replace_edit(lora *l, const ckpt *base, const ckpt_tensor *t, const char *key, ys_error *err)
{
    const char *W = "adapter_model.safetensors";
    const char *dot = strrchr(key, '.');
    if (!dot)
        return ys_fail(err, YS_EINPUT, "%s/%s: tensor %s is not a module's parameter", l->dir, W, t->name);
    size_t ml = (size_t)(dot - key);
    char *module = malloc(ml + 1);
    if (!module)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    memcpy(module, key, ml);
    module[ml] = 0;
    char *target = base_name(base, module, dot + 1);
    int adds = 0;
    if (!target) {
        const char *last = strrchr(module, '.');
        last = last ? last + 1 : module;
        /* peft copies a tied head (the copy is trained, the embedding is
         * not): the base stores no lm_head.weight, the adapter adds it */
        if (!strcmp(last, "lm_head") && !strcmp(dot + 1, "weight") && tied_decoder(base)) {
            target = xstrdup("lm_head.weight");
            adds = 1;
        }
        if (!target) {
            int rc = ys_fail(err, YS_EINPUT, "%s/%s: tensor %s replaces %s, which the base checkpoint %s does not have",
                             l->dir, W, t->name, key, ckpt_dir(base));
            free(module);
            return rc;
        }
    }
    const ckpt_tensor *bt = adds ? NULL : ckpt_get(base, target);
    int same = !bt || bt->ndim == t->ndim;
    for (int i = 0; bt && same && i < t->ndim; i++)
        same = bt->shape[i] == t->shape[i];
    if (!same || !(t->dtype == CKPT_F32 || t->dtype == CKPT_F16 || t->dtype == CKPT_BF16 || t->dtype == CKPT_F64)) {
        int rc = ys_fail(err, YS_EINPUT, "%s/%s: tensor %s (%s) cannot replace %s: %s", l->dir, W, t->name,
                         ckpt_dtype_name(t->dtype), target, same ? "not a float type" : "shape mismatch");
        free(module);
        free(target);
        return rc;
    }
    lora_edit e = {.kind = LORA_REPLACE, .target = target, .module = module, .with = t, .adds = adds};
    return add_edit(l, &e, err);
}

static int cmp_edit(const void *x, const void *y)
{
    return strcmp(((const lora_edit *)x)->target, ((const lora_edit *)y)->target);
}

static int read_tensors(lora *l, const ckpt *base, ys_error *err)
{
    const char *W = "adapter_model.safetensors";
    size_t n = ckpt_count(l->w), np = 0;
    pending *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = 0;
    /* tensors are sorted by name: a module's lora_A and lora_B are adjacent */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ckpt_tensor *t = ckpt_at(l->w, i);
        if (strncmp(t->name, PREFIX, strlen(PREFIX)) != 0) {
            rc = ys_fail(err, YS_EINPUT, "%s/%s: tensor %s does not start with \"" PREFIX "\" (not a PEFT "
                         "LoRA state dict)", l->dir, W, t->name);
            break;
        }
        const char *key = t->name + strlen(PREFIX), *s;
        if ((s = strstr(key, ".lora_embedding_")) || (s = strstr(key, ".lora_magnitude_vector")) ||
            ((s = strstr(key, ".lora_")) && strcmp(s, ".lora_A.weight") && strcmp(s, ".lora_B.weight"))) {
            rc = ys_fail(err, YS_EINPUT, "%s/%s: tensor %s: %s", l->dir, W, t->name,
                         strstr(key, ".lora_embedding_") ? "LoRA on an embedding is not supported"
                         : strstr(key, ".lora_magnitude_vector") ? "DoRA is not supported"
                         : "only lora_A.weight and lora_B.weight are supported");
            break;
        }
        if (s) {
            size_t ml = (size_t)(s - key);
            if (!np || strlen(p[np - 1].module) != ml || strncmp(p[np - 1].module, key, ml)) {
                if (!(p[np].module = malloc(ml + 1))) {
                    rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    break;
                }
                memcpy(p[np].module, key, ml);
                p[np++].module[ml] = 0;
            }
            if (s[6] == 'A')
                p[np - 1].a = t;
            else
                p[np - 1].b = t;
        } else if (in_saved(l, key, NULL)) {
            rc = replace_edit(l, base, t, key, err);
        } else {
            rc = ys_fail(err, YS_EINPUT, "%s/%s: tensor %s is neither a lora_A/lora_B weight nor part of a "
                         "modules_to_save module", l->dir, W, t->name);
        }
    }
    for (size_t i = 0; i < np && rc == 0; i++)
        rc = merge_edit(l, base, &p[i], err);
    for (size_t i = 0; i < np; i++)
        free(p[i].module);
    free(p);
    if (rc == 0 && l->ne == 0)
        rc = ys_fail(err, YS_EINPUT, "%s/%s: no LoRA weights", l->dir, W);
    if (rc == 0) {
        qsort(l->e, l->ne, sizeof *l->e, cmp_edit);
        for (size_t i = 1; i < l->ne && rc == 0; i++)
            if (!strcmp(l->e[i - 1].target, l->e[i].target))
                rc = ys_fail(err, YS_EINPUT, "%s/%s: modules %s and %s both change %s", l->dir, W, l->e[i - 1].module,
                             l->e[i].module, l->e[i].target);
    }
    if (rc == 0 && l->nsave) {
        /* ensure_weight_tying would tie a saved head to the embedding: not done here */
        int adds = 0;
        for (size_t i = 0; i < l->ne; i++)
            adds |= l->e[i].adds;
        if (adds && is_true(l->cfg, "ensure_weight_tying"))
            rc = ys_fail(err, YS_EINPUT, "%s/adapter_config.json: ensure_weight_tying with a saved head of a "
                         "tied model is not supported", l->dir);
    }
    return rc;
}

int lora_open(const char *adapter_dir, const ckpt *base, lora **out, ys_error *err)
{
    *out = NULL;
    lora *l = calloc(1, sizeof *l);
    if (!l || !(l->dir = xstrdup(adapter_dir))) {
        free(l);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    int rc;
    if (!exists(adapter_dir, "adapter_config.json")) {
        rc = ys_fail(err, YS_EIO, "%s: no adapter_config.json (not a PEFT adapter folder)", adapter_dir);
    } else if (!exists(adapter_dir, "adapter_model.safetensors")) {
        rc = exists(adapter_dir, "adapter_model.bin")
                 ? ys_fail(err, YS_EINPUT, "%s/adapter_model.bin: pickled PyTorch weights are not read (they can run "
                           "code); save the adapter with safe_serialization=True to get adapter_model.safetensors",
                           adapter_dir)
                 : ys_fail(err, YS_EIO, "%s: no adapter_model.safetensors", adapter_dir);
    } else {
        rc = read_config(l, base, err);
        if (rc == 0)
            rc = ckpt_open_weights(adapter_dir, "adapter_model.safetensors", &l->w, err);
        if (rc == 0)
            rc = read_tensors(l, base, err);
    }
    if (rc) {
        lora_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

void lora_close(lora *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->ne; i++) {
        free(l->e[i].target);
        free(l->e[i].module);
    }
    free(l->e);
    for (size_t i = 0; i < l->nsave; i++)
        free(l->save[i]);
    free(l->save);
    ckpt_close(l->w);
    cJSON_Delete(l->cfg);
    free(l->dir);
    free(l);
}

size_t lora_count(const lora *l) { return l->ne; }
const lora_edit *lora_at(const lora *l, size_t i) { return i < l->ne ? &l->e[i] : NULL; }
const ckpt *lora_weights(const lora *l) { return l->w; }
const char *lora_dir(const lora *l) { return l->dir; }

/* ---- merge --------------------------------------------------------------- */

static double load(const ckpt_tensor *t, size_t k)
{
    const unsigned char *p = t->raw;
    switch (t->dtype) {
    case CKPT_F32: { float f; memcpy(&f, p + 4 * k, 4); return f; }
    case CKPT_F64: { double d; memcpy(&d, p + 8 * k, 8); return (float)d; }   /* as the checkpoint's F32 view */
    case CKPT_F16: { uint16_t h; memcpy(&h, p + 2 * k, 2); return f16_to_f32(h); }
    default:       { uint16_t h; memcpy(&h, p + 2 * k, 2); return bf16_to_f32(h); }
    }
}

/* The delta is accumulated in double over the rank and rounded once with
 * the base value, so the merged fp32 weight is the float nearest to the
 * float64 reference's W + scaling * B @ A (up to one rounding). */
void lora_merge(const lora_edit *e, const ckpt_tensor *base, float *dst)
{
    size_t r = (size_t)e->a->shape[0], in = (size_t)e->a->shape[1], out = (size_t)e->b->shape[0];
    const float *A = e->a->data, *B = e->b->data;
    size_t rows = e->conv1d ? in : out, cols = e->conv1d ? out : in;
    double *acc = malloc(cols * sizeof *acc);
    /* Conv1D row i: delta[i, o] = sum_k A[k, i] * B[o, k]; B read transposed */
    double *bt = e->conv1d ? malloc(r * out * sizeof *bt) : NULL;
    if (!acc || (e->conv1d && !bt)) {
        /* allocation of a row buffer failed: the slow path needs none */
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) {
                double s = 0;
                for (size_t k = 0; k < r; k++)
                    s += e->conv1d ? (double)A[k * in + i] * B[j * r + k] : (double)B[i * r + k] * A[k * in + j];
                dst[i * cols + j] = (float)(load(base, i * cols + j) + e->scaling * s);
            }
        free(acc);
        free(bt);
        return;
    }
    for (size_t o = 0; bt && o < out; o++)
        for (size_t k = 0; k < r; k++)
            bt[k * out + o] = B[o * r + k];
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++)
            acc[j] = 0;
        for (size_t k = 0; k < r; k++) {
            if (e->conv1d) {
                double c = A[k * in + i];
                const double *brow = bt + k * out;
                for (size_t j = 0; j < cols; j++)
                    acc[j] += c * brow[j];
            } else {
                double c = B[i * r + k];
                const float *arow = A + k * in;
                for (size_t j = 0; j < cols; j++)
                    acc[j] += c * (double)arow[j];
            }
        }
        for (size_t j = 0; j < cols; j++)
            dst[i * cols + j] = (float)(load(base, i * cols + j) + e->scaling * acc[j]);
    }
    free(acc);
    free(bt);
}

/* ---- base_model_name_or_path ----------------------------------------------- */

static const char *last_component(const char *p, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", p);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

void lora_name_warning(const char *base_dir, const char *adapter_dir, char *buf, size_t cap)
{
    if (cap)
        buf[0] = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", adapter_dir);
    cJSON *cfg = NULL;
    if (ckpt_read_json(path, &cfg, NULL) != 0)
        return;
    const cJSON *v = item(cfg, "base_model_name_or_path");
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        cJSON_Delete(cfg);
        return;
    }
    const char *name = v->valuestring;
    char rel[4096], b1[4096], b2[4096], real[PATH_MAX];
    snprintf(rel, sizeof rel, "%s/%s", adapter_dir, name);
    int match = (name[0] != '/' && same_file(rel, base_dir)) || same_file(name, base_dir);
    const char *rb = realpath(base_dir, real) ? real : base_dir;
    if (!match)
        match = !strcmp(last_component(name, b1, sizeof b1), last_component(rb, b2, sizeof b2));
    if (!match) {
        /* a hub cache snapshot: .../models--org--name/snapshots/<hash> */
        char cache[600];
        size_t n = (size_t)snprintf(cache, sizeof cache, "models--");
        for (const char *p = name; *p && n + 3 < sizeof cache; p++) {
            if (*p == '/')
                cache[n++] = '-', cache[n++] = '-';
            else
                cache[n++] = *p;
        }
        cache[n] = 0;
        match = strstr(rb, cache) != NULL;
    }
    if (!match) {
        snprintf(path, sizeof path, "%s/config.json", base_dir);
        cJSON *bc = NULL;
        if (ckpt_read_json(path, &bc, NULL) == 0) {
            const cJSON *n = item(bc, "_name_or_path");
            match = cJSON_IsString(n) && !strcmp(n->valuestring, name);
        }
        cJSON_Delete(bc);
    }
    if (!match)
        snprintf(buf, cap, "adapter %s was trained on \"%.200s\" (base_model_name_or_path), not on %s; applying it anyway",
                 adapter_dir, name, base_dir);
    cJSON_Delete(cfg);
}
