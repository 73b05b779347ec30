/* encoder.c — BERT, RoBERTa and DistilBERT sequence classifiers in fp32,
 * meant to be read top to bottom: configuration and labels, weight binding,
 * executors (where a forward pass runs), the forward pass, classification.
 * The arithmetic building blocks (tiled sgemm, LayerNorm, the pool) are
 * kernels.c's, used exactly as model.c uses them.
 *
 * Shapes: T = tokens of one sequence, H = hidden, nh = heads, hd = H / nh,
 * F = MLP width, L = labels. Activations are row-major [T, width]. */
#include "encoder.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "checkpoint.h"
#include "kernels.h"
#include "threads.h"

typedef enum { FAM_BERT, FAM_ROBERTA, FAM_DISTIL } family;

static const struct { const char *name; family fam; } ARCHS[] = {
    {"BertForSequenceClassification", FAM_BERT},
    {"RobertaForSequenceClassification", FAM_ROBERTA},
    {"DistilBertForSequenceClassification", FAM_DISTIL},
};
#define NARCHS (sizeof ARCHS / sizeof ARCHS[0])

static const char SUPPORTED[] =
    "BertForSequenceClassification, RobertaForSequenceClassification, DistilBertForSequenceClassification";

typedef struct enc_layer {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;   /* nn.Linear [out, in] */
    const float *ln1_w, *ln1_b;    /* after attention (BERT attention.output.LayerNorm) */
    const float *w1, *b1, *w2, *b2;
    const float *ln2_w, *ln2_b;    /* after the MLP */
} enc_layer;

/* An executor is a pool plus the per-thread buffers a forward pass needs.
 * The model has one with all its threads (a lone sequence is spread over
 * its tiles) and one single-thread executor per thread (a batch runs one
 * sequence per thread, each calling kn_proj_run on its own 1-thread pool,
 * which runs the tiles inline). The tiles are the same either way, so the
 * bits are too. */
typedef struct exec {
    kn_pool *pool;
    int nthreads;
    float **scratch;     /* per pool thread: KN_ROWS * KN_COLS (kn_proj_run) */
    float **scores;      /* per pool thread: KN_ROWS * max_positions (attention) */
    float *ws;           /* activations of one sequence, grown on demand and kept:
                            first-touch page faults are slow in VMs */
    size_t ws_cap;
} exec;

struct enc_model {
    ckpt *ck;
    enc_info info;
    family fam;
    char arch[64];
    double eps;
    kn_act act;            /* fused into the MLP's first projection */
    int relu;              /* hidden_act relu: applied after it instead */
    int pos_rows;          /* rows of the position table (max_position_embeddings) */
    const float *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    enc_layer *layers;
    const float *head_w, *head_b;  /* [H, H]: BERT pooler, RoBERTa classifier.dense, DistilBERT pre_classifier */
    const float *cls_w, *cls_b;    /* [L, H] */
    const char **labels;
    char *label_names;     /* "LABEL_i" storage when config.json has no id2label */
    eng_blas blas;
    exec shared;
    exec *solo;            /* shared.nthreads of them */
};

/* ---- architecture lookup (also enc_supports) ------------------------------ */

static const char *arch_name(const cJSON *cfg)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const cJSON *first = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    return cJSON_IsString(first) ? first->valuestring : NULL;
}

static int arch_index(const char *name)
{
    for (size_t i = 0; name && i < NARCHS; i++)
        if (strcmp(name, ARCHS[i].name) == 0)
            return (int)i;
    return -1;
}

int enc_supports(const char *dir, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ys_fail(err, YS_EIO, "%s: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            char *t = realloc(text, cap = cap * 2 + 8192);
            if (!t) {
                free(text);
                fclose(f);
                return ys_fail(err, YS_ENOMEM, "out of memory");
            }
            text = t;
        }
        len += n = fread(text + len, 1, 4096, f);
    } while (n > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        return ys_fail(err, YS_EIO, "%s: read error", path);
    }
    text[len] = '\0';
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return ys_fail(err, YS_EINPUT, "%s: not a JSON object", path);
    }
    int ok = arch_index(arch_name(cfg)) >= 0;
    cJSON_Delete(cfg);
    return ok;
}

/* ---- configuration --------------------------------------------------------- */

/* A required positive integer (or `dflt` when dflt > 0 and it is absent). */
static int cfg_dim(enc_model *m, const char *key, long dflt, int *out, ys_error *err)
{
    long v;
    int rc = ckpt_config_int(m->ck, key, dflt, &v, err);
    if (rc < 0)
        return rc;
    if (v <= 0 || v > (1L << 24))
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" %s", ckpt_dir(m->ck), key,
                       rc == 1 ? "is missing" : "must be a positive integer below 2^24");
    *out = (int)v;
    return 0;
}

static int config_act(enc_model *m, const char *key, ys_error *err)
{
    const char *act;
    int rc = ckpt_config_str(m->ck, key, "gelu", &act, err);
    if (rc < 0)
        return rc;
    m->act = KN_ACT_NONE;
    if (!strcmp(act, "gelu"))
        m->act = KN_ACT_GELU_ERF;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        m->act = KN_ACT_GELU_TANH;   /* three spellings of the same tanh approximation */
    else if (!strcmp(act, "relu"))
        m->relu = 1;
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: %s \"%.40s\" is not supported "
                       "(gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)", ckpt_dir(m->ck), key, act);
    return 0;
}

/* pad_token_id: absent = the family's HF default, JSON null = none (-1). */
static int config_pad(enc_model *m, ys_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ckpt_config(m->ck), "pad_token_id");
    long pad;
    int rc;
    if (cJSON_IsNull(v))
        pad = -1;
    else if ((rc = ckpt_config_int(m->ck, "pad_token_id", m->fam == FAM_ROBERTA ? 1 : 0, &pad, err)) < 0)
        return rc;
    if (pad < -1 || pad >= m->info.vocab)
        return ys_fail(err, YS_EINPUT, "%s/config.json: pad_token_id %ld outside the vocabulary",
                       ckpt_dir(m->ck), pad);
    m->info.pad_id = (int32_t)pad;
    return 0;
}

static int config_bert(enc_model *m, ys_error *err)
{
    enc_info *mi = &m->info;
    const char *dir = ckpt_dir(m->ck), *pet;
    int rc;
    if ((rc = cfg_dim(m, "vocab_size", 0, &mi->vocab, err)) || (rc = cfg_dim(m, "hidden_size", 0, &mi->hidden, err)) ||
        (rc = cfg_dim(m, "num_hidden_layers", 0, &mi->layers, err)) ||
        (rc = cfg_dim(m, "num_attention_heads", 0, &mi->heads, err)) ||
        (rc = cfg_dim(m, "intermediate_size", 0, &mi->ffn, err)) ||
        (rc = cfg_dim(m, "max_position_embeddings", 512, &m->pos_rows, err)) ||
        (rc = cfg_dim(m, "type_vocab_size", 2, &mi->type_vocab, err)) ||
        (rc = config_act(m, "hidden_act", err)) || (rc = config_pad(m, err)))
        return rc;
    if ((rc = ckpt_config_num(m->ck, "layer_norm_eps", 1e-12, &m->eps, err)) < 0 ||
        (rc = ckpt_config_str(m->ck, "position_embedding_type", "absolute", &pet, err)) < 0)
        return rc;
    if (strcmp(pet, "absolute") != 0)
        return ys_fail(err, YS_EINPUT, "%s/config.json: position_embedding_type \"%.40s\" is not supported "
                       "(absolute)", dir, pet);
    mi->max_positions = m->pos_rows;
    if (m->fam == FAM_ROBERTA) {
        /* positions run pad+1, pad+2, ...: the table's first pad+1 rows are
         * never a real token's */
        if (mi->pad_id < 0)
            return ys_fail(err, YS_EINPUT, "%s/config.json: RoBERTa needs a pad_token_id (its positions "
                           "start after it)", dir);
        if (mi->pad_id + 1 >= m->pos_rows)
            return ys_fail(err, YS_EINPUT, "%s/config.json: max_position_embeddings %d leaves no position "
                           "after pad_token_id %d", dir, m->pos_rows, (int)mi->pad_id);
        mi->max_positions = m->pos_rows - mi->pad_id - 1;
    }
    return 0;
}

static int config_distil(enc_model *m, ys_error *err)
{
    enc_info *mi = &m->info;
    int rc;
    if ((rc = cfg_dim(m, "vocab_size", 0, &mi->vocab, err)) || (rc = cfg_dim(m, "dim", 0, &mi->hidden, err)) ||
        (rc = cfg_dim(m, "n_layers", 0, &mi->layers, err)) || (rc = cfg_dim(m, "n_heads", 0, &mi->heads, err)) ||
        (rc = cfg_dim(m, "hidden_dim", 0, &mi->ffn, err)) ||
        (rc = cfg_dim(m, "max_position_embeddings", 512, &m->pos_rows, err)) ||
        (rc = config_act(m, "activation", err)) || (rc = config_pad(m, err)))
        return rc;
    m->eps = 1e-12;       /* fixed in DistilBERT's modeling code, not configurable */
    mi->max_positions = m->pos_rows;
    mi->type_vocab = 0;
    return 0;
}

/* id2label (its length is num_labels, as in HF's PretrainedConfig), else
 * num_labels with names LABEL_i, else 2. */
static int config_labels(enc_model *m, ys_error *err)
{
    const char *dir = ckpt_dir(m->ck);
    const cJSON *id2 = cJSON_GetObjectItemCaseSensitive(ckpt_config(m->ck), "id2label");
    long n;
    int rc;
    if (id2 && !cJSON_IsNull(id2)) {
        if (!cJSON_IsObject(id2))
            return ys_fail(err, YS_EINPUT, "%s/config.json: \"id2label\" must be an object", dir);
        n = cJSON_GetArraySize(id2);
    } else if ((rc = ckpt_config_int(m->ck, "num_labels", 2, &n, err)) < 0) {
        return rc;
    }
    if (n < 1 || n > (1L << 20))
        return ys_fail(err, YS_EINPUT, "%s/config.json: %ld labels (need 1 .. 2^20)", dir, n);
    m->info.num_labels = (int)n;
    m->labels = calloc((size_t)n, sizeof *m->labels);
    if (!m->labels)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    if (id2 && !cJSON_IsNull(id2)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, id2) {
            char *end;
            errno = 0;
            long i = strtol(e->string, &end, 10);
            if (end == e->string || *end || errno || i < 0 || i >= n || m->labels[i] || !cJSON_IsString(e))
                return ys_fail(err, YS_EINPUT, "%s/config.json: id2label entry \"%.40s\" is not a distinct "
                               "label index in [0, %ld) with a string name", dir, e->string, n);
            m->labels[i] = e->valuestring;
        }
    } else {
        size_t w = 24;
        if (!(m->label_names = malloc((size_t)n * w)))
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (int i = 0; i < (int)n; i++) {
            snprintf(m->label_names + (size_t)i * w, w, "LABEL_%d", i);
            m->labels[i] = m->label_names + (size_t)i * w;
        }
    }
    m->info.labels = m->labels;
    return 0;
}

/* ---- weights ----------------------------------------------------------------
 * Every tensor the forward pass reads is bound here, with the shape the
 * configuration implies; a missing or misshapen one fails the load, naming
 * it. Tensors the forward pass does not read (RoBERTa's unused pooler, an
 * old position_ids buffer) are ignored. */

static int need(enc_model *m, const char *name, int ndim, int64_t d0, int64_t d1, const float **out,
                ys_error *err)
{
    int64_t shape[2] = {d0, d1};
    const ckpt_tensor *t;
    int rc = ckpt_require(m->ck, name, ndim, shape, &t, err);
    *out = t ? t->data : NULL;
    return rc;
}

/* A LayerNorm's weight and bias at `base`, under today's names or the
 * gamma/beta of checkpoints converted from TensorFlow long ago. */
static int need_ln(enc_model *m, const char *base, const float **w, const float **b, ys_error *err)
{
    char n[300], alt[300];
    int64_t H = m->info.hidden;
    snprintf(n, sizeof n, "%s.weight", base);
    snprintf(alt, sizeof alt, "%s.gamma", base);
    int rc = need(m, !ckpt_get(m->ck, n) && ckpt_get(m->ck, alt) ? alt : n, 1, H, 0, w, err);
    if (rc)
        return rc;
    snprintf(n, sizeof n, "%s.bias", base);
    snprintf(alt, sizeof alt, "%s.beta", base);
    return need(m, !ckpt_get(m->ck, n) && ckpt_get(m->ck, alt) ? alt : n, 1, H, 0, b, err);
}

/* nn.Linear: "<base>.weight" [out, in] and "<base>.bias" [out]. */
static int need_linear(enc_model *m, const char *base, int64_t out, int64_t in, const float **w, const float **b,
                       ys_error *err)
{
    char n[300];
    snprintf(n, sizeof n, "%s.weight", base);
    int rc = need(m, n, 2, out, in, w, err);
    if (rc)
        return rc;
    snprintf(n, sizeof n, "%s.bias", base);
    return need(m, n, 1, out, 0, b, err);
}

static int bind(enc_model *m, ys_error *err)
{
    const enc_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn, L = mi->num_labels;
    const char *pre = m->fam == FAM_BERT ? "bert" : m->fam == FAM_ROBERTA ? "roberta" : "distilbert";
    char n[256];
    int rc;
    snprintf(n, sizeof n, "%s.embeddings.word_embeddings.weight", pre);
    if ((rc = need(m, n, 2, mi->vocab, H, &m->word, err)))
        return rc;
    snprintf(n, sizeof n, "%s.embeddings.position_embeddings.weight", pre);
    if ((rc = need(m, n, 2, m->pos_rows, H, &m->pos, err)))
        return rc;
    if (mi->type_vocab) {
        snprintf(n, sizeof n, "%s.embeddings.token_type_embeddings.weight", pre);
        if ((rc = need(m, n, 2, mi->type_vocab, H, &m->type, err)))
            return rc;
    }
    snprintf(n, sizeof n, "%s.embeddings.LayerNorm", pre);
    if ((rc = need_ln(m, n, &m->emb_ln_w, &m->emb_ln_b, err)))
        return rc;
    for (int l = 0; l < mi->layers; l++) {
        enc_layer *Y = &m->layers[l];
        char p[128];
#define LIN(suffix, out, in, w, b) \
    (snprintf(n, sizeof n, "%s%s", p, suffix), (rc = need_linear(m, n, out, in, w, b, err)) != 0)
#define LN(suffix, w, b) (snprintf(n, sizeof n, "%s%s", p, suffix), (rc = need_ln(m, n, w, b, err)) != 0)
        if (m->fam == FAM_DISTIL) {
            snprintf(p, sizeof p, "%s.transformer.layer.%d.", pre, l);
            if (LIN("attention.q_lin", H, H, &Y->wq, &Y->bq) || LIN("attention.k_lin", H, H, &Y->wk, &Y->bk) ||
                LIN("attention.v_lin", H, H, &Y->wv, &Y->bv) || LIN("attention.out_lin", H, H, &Y->wo, &Y->bo) ||
                LN("sa_layer_norm", &Y->ln1_w, &Y->ln1_b) || LIN("ffn.lin1", F, H, &Y->w1, &Y->b1) ||
                LIN("ffn.lin2", H, F, &Y->w2, &Y->b2) || LN("output_layer_norm", &Y->ln2_w, &Y->ln2_b))
                return rc;
        } else {
            snprintf(p, sizeof p, "%s.encoder.layer.%d.", pre, l);
            if (LIN("attention.self.query", H, H, &Y->wq, &Y->bq) ||
                LIN("attention.self.key", H, H, &Y->wk, &Y->bk) ||
                LIN("attention.self.value", H, H, &Y->wv, &Y->bv) ||
                LIN("attention.output.dense", H, H, &Y->wo, &Y->bo) ||
                LN("attention.output.LayerNorm", &Y->ln1_w, &Y->ln1_b) ||
                LIN("intermediate.dense", F, H, &Y->w1, &Y->b1) || LIN("output.dense", H, F, &Y->w2, &Y->b2) ||
                LN("output.LayerNorm", &Y->ln2_w, &Y->ln2_b))
                return rc;
        }
#undef LIN
#undef LN
    }
    switch (m->fam) {
    case FAM_BERT:
        if ((rc = need_linear(m, "bert.pooler.dense", H, H, &m->head_w, &m->head_b, err)) ||
            (rc = need_linear(m, "classifier", L, H, &m->cls_w, &m->cls_b, err)))
            return rc;
        break;
    case FAM_ROBERTA:
        if ((rc = need_linear(m, "classifier.dense", H, H, &m->head_w, &m->head_b, err)) ||
            (rc = need_linear(m, "classifier.out_proj", L, H, &m->cls_w, &m->cls_b, err)))
            return rc;
        break;
    case FAM_DISTIL:
        if ((rc = need_linear(m, "pre_classifier", H, H, &m->head_w, &m->head_b, err)) ||
            (rc = need_linear(m, "classifier", L, H, &m->cls_w, &m->cls_b, err)))
            return rc;
        break;
    }
    return 0;
}

/* ---- executors ------------------------------------------------------------ */

static void exec_free(exec *e)
{
    for (int i = 0; i < e->nthreads; i++) {
        if (e->scratch)
            free(e->scratch[i]);
        if (e->scores)
            free(e->scores[i]);
    }
    free(e->scratch);
    free(e->scores);
    free(e->ws);
    kn_pool_free(e->pool);
    memset(e, 0, sizeof *e);
}

static int exec_init(exec *e, int threads, const eng_blas *blas, size_t max_positions)
{
    memset(e, 0, sizeof *e);
    if (kn_pool_new(threads, blas, &e->pool))
        return YS_ENOMEM;
    e->nthreads = kn_pool_threads(e->pool);
    e->scratch = calloc((size_t)e->nthreads, sizeof *e->scratch);
    e->scores = calloc((size_t)e->nthreads, sizeof *e->scores);
    if (!e->scratch || !e->scores)
        return YS_ENOMEM;
    for (int i = 0; i < e->nthreads; i++)
        if (!(e->scratch[i] = malloc(KN_ROWS * KN_COLS * sizeof(float))) ||
            !(e->scores[i] = malloc(KN_ROWS * max_positions * sizeof(float))))
            return YS_ENOMEM;
    return 0;
}

static void free_execs(enc_model *m)
{
    for (int i = 0; m->solo && i < m->shared.nthreads; i++)
        exec_free(&m->solo[i]);
    free(m->solo);
    m->solo = NULL;
    exec_free(&m->shared);
}

static int alloc_execs(enc_model *m, int threads, ys_error *err)
{
    if (threads < 1)
        threads = eng_default_threads();
    free_execs(m);
    size_t P = (size_t)m->info.max_positions;
    int rc = exec_init(&m->shared, threads, &m->blas, P);
    if (rc == 0 && !(m->solo = calloc((size_t)m->shared.nthreads, sizeof *m->solo)))
        rc = YS_ENOMEM;
    for (int i = 0; rc == 0 && i < m->shared.nthreads; i++)
        rc = exec_init(&m->solo[i], 1, &m->blas, P);
    if (rc) {
        free_execs(m);
        return ys_fail(err, YS_ENOMEM, "out of memory for %d threads", threads);
    }
    return 0;
}

/* Activations of a T-token sequence: x, q, k, v, att [T, H], h [T, F],
 * pooled [H]. */
static size_t ws_floats(const enc_model *m, size_t T)
{
    return T * (5 * (size_t)m->info.hidden + (size_t)m->info.ffn) + (size_t)m->info.hidden;
}

static int exec_reserve(exec *e, size_t n)
{
    if (e->ws_cap >= n)
        return 0;
    free(e->ws);
    e->ws_cap = 0;
    if (!(e->ws = malloc(n * sizeof *e->ws)))
        return YS_ENOMEM;
    e->ws_cap = n;
    return 0;
}

/* ---- load / free ----------------------------------------------------------- */

int enc_load(const char *dir, enc_model **out, ys_error *err)
{
    *out = NULL;
    enc_model *m = calloc(1, sizeof *m);
    if (!m)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = ckpt_open(dir, &m->ck, err);
    if (rc == 0) {
        const char *name = arch_name(ckpt_config(m->ck));
        int i = arch_index(name);
        if (i < 0) {
            rc = ys_fail(err, YS_EINPUT, "%s/config.json: architecture \"%.60s\" is not a supported encoder "
                         "classifier (supported: %s)", dir, name ? name : "(none)", SUPPORTED);
        } else {
            m->fam = ARCHS[i].fam;
            snprintf(m->arch, sizeof m->arch, "%s", ARCHS[i].name);
            m->info.arch = m->arch;
        }
    }
    if (rc == 0)
        rc = m->fam == FAM_DISTIL ? config_distil(m, err) : config_bert(m, err);
    if (rc == 0 && m->info.hidden % m->info.heads)
        rc = ys_fail(err, YS_EINPUT, "%s/config.json: hidden size %d is not a multiple of %d heads", dir,
                     m->info.hidden, m->info.heads);
    if (rc == 0)
        rc = config_labels(m, err);
    if (rc == 0 && !(m->layers = calloc((size_t)m->info.layers, sizeof *m->layers)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = bind(m, err);
    if (rc == 0)
        rc = eng_blas_open(&m->blas, err);
    if (rc == 0)
        rc = alloc_execs(m, 0, err);
    if (rc != 0) {
        enc_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void enc_free(enc_model *m)
{
    if (!m)
        return;
    free_execs(m);
    eng_blas_close(&m->blas);
    free(m->layers);
    free(m->labels);
    free(m->label_names);
    ckpt_close(m->ck);
    free(m);
}

const enc_info *enc_get_info(const enc_model *m) { return &m->info; }

int enc_set_threads(enc_model *m, int n, ys_error *err) { return alloc_execs(m, n, err); }

/* ---- forward pass ------------------------------------------------------------ */

/* y[n, out] (+)= act(x[n, k] W^T + b) for nn.Linear W, as kn_proj_run tiles. */
static void linear(exec *e, const float *x, size_t ldx, const float *w, const float *b, float *y, size_t ldy,
                   size_t n, size_t k, size_t out, int accumulate, kn_act act)
{
    kn_proj p = {.x = x, .ldx = ldx, .w = w, .ldw = k, .layout = KN_OUT_IN, .bias = b, .y = y, .ldy = ldy,
                 .n = n, .k = k, .out = out, .accumulate = accumulate, .act = act};
    kn_proj_run(e->pool, &p, e->scratch);
}

/* LayerNorm in place over rows, 8 rows per work item. */
typedef struct { float *x; size_t rows, H; const float *w, *b; double eps; } ln_ctx;

static void ln_rows(void *vctx, size_t item, int worker)
{
    (void)worker;
    const ln_ctx *c = vctx;
    for (size_t r = item * 8; r < c->rows && r < item * 8 + 8; r++)
        kn_layernorm(c->x + r * c->H, c->x + r * c->H, c->w, c->b, c->H, c->eps);
}

static void layernorm(const enc_model *m, exec *e, float *x, size_t rows, const float *w, const float *b)
{
    ln_ctx c = {x, rows, (size_t)m->info.hidden, w, b, m->eps};
    kn_pool_run(e->pool, (rows + 7) / 8, ln_rows, &c);
}

/* Self-attention, no mask. One work item = one head x one tile of KN_ROWS
 * query rows (of the first nq): S = Q K^T / sqrt(hd) over all T keys (one
 * sgemm), softmax per row, out = P V (one sgemm). */
typedef struct attn_ctx {
    const enc_model *m;
    const float *q, *k, *v;
    float *out;
    size_t T, nq, nrt;
    float **scores;
} attn_ctx;

static void attn_tile(void *vctx, size_t item, int worker)
{
    const attn_ctx *c = vctx;
    const enc_model *m = c->m;
    size_t H = (size_t)m->info.hidden, hd = H / (size_t)m->info.heads, h = item / c->nrt;
    size_t r0 = (item % c->nrt) * KN_ROWS, r1 = r0 + KN_ROWS < c->nq ? r0 + KN_ROWS : c->nq, T = c->T;
    float *S = c->scores[worker];
    m->blas.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)T, (int)hd,
                  (float)(1.0 / sqrt((double)hd)), c->q + r0 * H + h * hd, (int)H, c->k + h * hd, (int)H, 0.0f,
                  S, (int)T);
    for (size_t i = 0; i < r1 - r0; i++) {
        float *s = S + i * T, mx = s[0];
        for (size_t j = 1; j < T; j++)
            mx = s[j] > mx ? s[j] : mx;
        double sum = 0;
        for (size_t j = 0; j < T; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < T; j++)
            s[j] *= inv;
    }
    m->blas.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)hd, (int)T, 1.0f, S, (int)T,
                  c->v + h * hd, (int)H, 0.0f, c->out + r0 * H + h * hd, (int)H);
}

/* x[t] = word[id] (+ type[tt]) + position, as HF adds them (token type
 * first, then position). RoBERTa's position of token t is pad + (number of
 * non-pad tokens in 0..t), and pad itself for a pad token (HF's
 * create_position_ids_from_input_ids). */
static void embed(const enc_model *m, const int32_t *ids, const int32_t *tt, size_t T, float *x)
{
    size_t H = (size_t)m->info.hidden, seen = 0;
    for (size_t t = 0; t < T; t++) {
        size_t p = t;
        if (m->fam == FAM_ROBERTA)
            p = ids[t] == m->info.pad_id ? (size_t)m->info.pad_id : (size_t)m->info.pad_id + ++seen;
        const float *w = m->word + (size_t)ids[t] * H, *pe = m->pos + p * H;
        float *row = x + t * H;
        if (m->type) {
            const float *ty = m->type + (size_t)(tt ? tt[t] : 0) * H;
            for (size_t i = 0; i < H; i++)
                row[i] = (w[i] + ty[i]) + pe[i];
        } else {
            for (size_t i = 0; i < H; i++)
                row[i] = w[i] + pe[i];
        }
    }
}

/* One sequence through embeddings, encoder and head into out[L]. */
static void forward(const enc_model *m, exec *e, const int32_t *ids, const int32_t *tt, size_t T, float *out)
{
    const enc_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn;
    float *x = e->ws, *q = x + T * H, *k = q + T * H, *v = k + T * H, *att = v + T * H, *h = att + T * H;
    float *pooled = h + T * F;
    embed(m, ids, tt, T, x);
    layernorm(m, e, x, T, m->emb_ln_w, m->emb_ln_b);
    for (int l = 0; l < mi->layers; l++) {
        const enc_layer *Y = &m->layers[l];
        /* only the first token leaves the last layer (the heads read
         * [CLS] / <s>): its queries, output projection, norms and MLP are
         * computed for that row alone; keys and values still cover all */
        size_t nq = l == mi->layers - 1 ? 1 : T;
        linear(e, x, H, Y->wq, Y->bq, q, H, nq, H, H, 0, KN_ACT_NONE);
        linear(e, x, H, Y->wk, Y->bk, k, H, T, H, H, 0, KN_ACT_NONE);
        linear(e, x, H, Y->wv, Y->bv, v, H, T, H, H, 0, KN_ACT_NONE);
        size_t nrt = (nq + KN_ROWS - 1) / KN_ROWS;
        attn_ctx ac = {m, q, k, v, att, T, nq, nrt, e->scores};
        kn_pool_run(e->pool, (size_t)mi->heads * nrt, attn_tile, &ac);
        /* post-LN: x = LN(x + attention), x = LN(x + MLP(x)) */
        linear(e, att, H, Y->wo, Y->bo, x, H, nq, H, H, 1, KN_ACT_NONE);
        layernorm(m, e, x, nq, Y->ln1_w, Y->ln1_b);
        linear(e, x, H, Y->w1, Y->b1, h, F, nq, H, F, 0, m->act);
        if (m->relu)
            for (size_t i = 0; i < nq * F; i++)
                h[i] = h[i] > 0 ? h[i] : 0.0f;
        linear(e, h, F, Y->w2, Y->b2, x, H, nq, F, H, 1, KN_ACT_NONE);
        layernorm(m, e, x, nq, Y->ln2_w, Y->ln2_b);
    }
    /* BERT pooler / RoBERTa classifier.dense: tanh; DistilBERT
     * pre_classifier: ReLU. Then the label projection. */
    linear(e, x, H, m->head_w, m->head_b, pooled, H, 1, H, H, 0, KN_ACT_NONE);
    for (size_t i = 0; i < H; i++)
        pooled[i] = m->fam == FAM_DISTIL ? (pooled[i] > 0 ? pooled[i] : 0.0f) : tanhf(pooled[i]);
    linear(e, pooled, H, m->cls_w, m->cls_b, out, (size_t)mi->num_labels, 1, H, (size_t)mi->num_labels, 0,
           KN_ACT_NONE);
}

/* ---- classification ------------------------------------------------------------ */

typedef struct batch_ctx {
    const enc_model *m;
    const int32_t *const *ids, *const *type_ids;
    const size_t *lens, *order;
    float *const *logits;
} batch_ctx;

static void batch_seq(void *vctx, size_t item, int worker)
{
    const batch_ctx *c = vctx;
    size_t s = c->order[item];
    forward(c->m, &c->m->solo[worker], c->ids[s], c->type_ids ? c->type_ids[s] : NULL, c->lens[s],
            c->logits[s]);
}

static int check_seq(const enc_model *m, size_t s, const int32_t *ids, const int32_t *tt, size_t n, ys_error *err)
{
    const enc_info *mi = &m->info;
    if (n == 0)
        return ys_fail(err, YS_EINPUT, "sequence %zu: empty", s);
    if (n > (size_t)mi->max_positions)
        return ys_fail(err, YS_EINPUT, "sequence %zu: %zu tokens exceed the model's %d positions", s, n,
                       mi->max_positions);
    for (size_t t = 0; t < n; t++) {
        if (ids[t] < 0 || ids[t] >= mi->vocab)
            return ys_fail(err, YS_EINPUT, "sequence %zu position %zu: token id %d outside the vocabulary [0, %d)",
                           s, t, (int)ids[t], mi->vocab);
        if (tt && tt[t] != 0 && (tt[t] < 0 || tt[t] >= mi->type_vocab))
            return mi->type_vocab
                       ? ys_fail(err, YS_EINPUT, "sequence %zu position %zu: token type id %d outside [0, %d)",
                                 s, t, (int)tt[t], mi->type_vocab)
                       : ys_fail(err, YS_EINPUT, "sequence %zu position %zu: token type id %d, but %s has no "
                                 "token types", s, t, (int)tt[t], mi->arch);
    }
    return 0;
}

/* longest first, so the last sequences handed out are the short ones */
typedef struct { size_t len, idx; } len_idx;

static int by_len_desc(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int enc_classify(enc_model *m, const int32_t *const *ids, const int32_t *const *type_ids,
                 const size_t *lens, size_t nseq, float *const *logits, ys_error *err)
{
    size_t maxlen = 0;
    for (size_t s = 0; s < nseq; s++) {
        int rc = check_seq(m, s, ids[s], type_ids ? type_ids[s] : NULL, lens[s], err);
        if (rc)
            return rc;
        maxlen = lens[s] > maxlen ? lens[s] : maxlen;
    }
    if (nseq == 0)
        return 0;
    m->blas.set_num_threads(1);
    int nthr = m->shared.nthreads;
    size_t need = ws_floats(m, maxlen);
    /* A batch of at least two sequences per thread runs one sequence per
     * thread (no synchronisation inside a forward pass); fewer are spread
     * over their tiles. Same tiles, same bits (see the executors). */
    if (nthr > 1 && nseq >= 2 * (size_t)nthr) {
        for (int i = 0; i < nthr; i++)
            if (exec_reserve(&m->solo[i], need))
                return ys_fail(err, YS_ENOMEM, "out of memory for %zu-token sequences", maxlen);
        len_idx *li = malloc(nseq * sizeof *li);
        size_t *order = malloc(nseq * sizeof *order);
        if (!li || !order) {
            free(li);
            free(order);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        for (size_t s = 0; s < nseq; s++)
            li[s] = (len_idx){lens[s], s};
        qsort(li, nseq, sizeof *li, by_len_desc);
        for (size_t s = 0; s < nseq; s++)
            order[s] = li[s].idx;
        free(li);
        batch_ctx c = {m, ids, type_ids, lens, order, logits};
        kn_pool_run(m->shared.pool, nseq, batch_seq, &c);
        free(order);
        return 0;
    }
    if (exec_reserve(&m->shared, need))
        return ys_fail(err, YS_ENOMEM, "out of memory for %zu-token sequences", maxlen);
    for (size_t s = 0; s < nseq; s++)
        forward(m, &m->shared, ids[s], type_ids ? type_ids[s] : NULL, lens[s], logits[s]);
    return 0;
}
