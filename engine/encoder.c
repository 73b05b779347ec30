/* encoder.c — BERT, RoBERTa and DistilBERT sequence classifiers in fp32,
 * meant to be read top to bottom: configuration and labels, weight binding,
 * threads, the forward pass over a chunk of sequences, classification.
 * The projections are gemm.h's packed GEMM (weights packed at load), run
 * over all the rows of a chunk at once; LayerNorm, the pool and the
 * attention's per-head sgemm tiles are kernels.c's.
 *
 * Shapes: T = tokens of one sequence, H = hidden, nh = heads, hd = H / nh,
 * F = MLP width, L = labels. Activations are row-major [tokens, width], the
 * sequences of a chunk one after another. */
#include "encoder.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "checkpoint.h"
#include "ckpt_pack.h"
#include "gemm.h"
#include "kernels.h"
#include "threads.h"

typedef enum { FAM_BERT, FAM_ROBERTA, FAM_DISTIL } family;

static const struct { const char *name; family fam; } ARCHS[] = {
    {"BertForSequenceClassification", FAM_BERT},
    {"RobertaForSequenceClassification", FAM_ROBERTA},
    {"DistilBertForSequenceClassification", FAM_DISTIL},
};
#define NARCHS (sizeof ARCHS / sizeof ARCHS[0])

#define GATHER_ROWS 64      /* rows per gm_run when a step works on scattered rows (see linear) */

static const char SUPPORTED[] =
    "BertForSequenceClassification, RobertaForSequenceClassification, DistilBertForSequenceClassification";

typedef struct enc_layer {
    /* nn.Linear [out, in] matrices as stored (only read to be packed),
     * biases and norms as F32 views */
    ckpt_src wq, wk, wv, wo, w1, w2;
    const float *bq, *bk, *bv, *bo;
    const float *ln1_w, *ln1_b;    /* after attention (BERT attention.output.LayerNorm) */
    const float *b1, *b2;
    const float *ln2_w, *ln2_b;    /* after the MLP */
    gm_weights pq, pk, pv, po, p1, p2;   /* wq ... w2 packed for gm_run (owned) */
} enc_layer;

struct enc_model {
    ckpt *ck;
    enc_info info;
    family fam;
    char arch[64];
    double eps;
    gm_act act;            /* fused into the MLP's first projection */
    int pos_rows;          /* rows of the position table (max_position_embeddings) */
    const float *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    enc_layer *layers;
    ckpt_src head_w;               /* [H, H]: BERT pooler, RoBERTa classifier.dense, DistilBERT pre_classifier */
    const float *head_b;
    ckpt_src cls_w;                /* [L, H] */
    const float *cls_b;
    gm_weights phead, pcls;        /* head_w, cls_w packed (owned) */
    const char **labels;
    char *label_names;     /* "LABEL_i" storage when config.json has no id2label */
    eng_blas blas;
    /* threads (see "execution" below) */
    kn_pool *pool;         /* nthreads threads: hands out work items */
    int nthreads;
    kn_pool **tile_pool;   /* per pool thread: a 1-thread pool, to run a whole chunk inline */
    float **gather;        /* per pool thread: 2 * GATHER_ROWS * max(H, F) floats (linear, sparse rows) */
    float **scores;        /* per pool thread: KN_ROWS * max_positions (attention) */
    /* per pool thread: activations of one chunk of sequences, grown on
     * demand and kept (first-touch page faults are slow in VMs) */
    float **ws;
    size_t *ws_cap;
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
    cJSON *cfg;
    int rc = ckpt_model_config(dir, &cfg, err);   /* a GGUF file's too: a decoder, never ours */
    if (rc < 0)
        return rc;
    int ok = arch_index(arch_name(cfg)) >= 0;
    cJSON_Delete(cfg);
    return ok;
}

/* ---- configuration --------------------------------------------------------- */

static int config_act(enc_model *m, const char *key, ys_error *err)
{
    const char *act;
    int rc = ckpt_config_str(m->ck, key, "gelu", &act, err);
    if (rc < 0)
        return rc;
    m->act = GM_ACT_NONE;
    if (!strcmp(act, "gelu"))
        m->act = GM_ACT_GELU_ERF;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        m->act = GM_ACT_GELU_TANH;   /* three spellings of the same tanh approximation */
    else if (!strcmp(act, "relu"))
        m->act = GM_ACT_RELU;
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
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "hidden_size", 0, &mi->hidden, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_hidden_layers", 0, &mi->layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_attention_heads", 0, &mi->heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "intermediate_size", 0, &mi->ffn, err)) ||
        (rc = ckpt_config_dim(m->ck, "max_position_embeddings", 512, &m->pos_rows, err)) ||
        (rc = ckpt_config_dim(m->ck, "type_vocab_size", 2, &mi->type_vocab, err)) ||
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
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "dim", 0, &mi->hidden, err)) ||
        (rc = ckpt_config_dim(m->ck, "n_layers", 0, &mi->layers, err)) || (rc = ckpt_config_dim(m->ck, "n_heads", 0, &mi->heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "hidden_dim", 0, &mi->ffn, err)) ||
        (rc = ckpt_config_dim(m->ck, "max_position_embeddings", 512, &m->pos_rows, err)) ||
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

/* A LayerNorm's weight and bias at `base`, under today's names or the
 * gamma/beta of checkpoints converted from TensorFlow long ago. */
static int need_ln(enc_model *m, const char *base, const float **w, const float **b, ys_error *err)
{
    char n[300], alt[300];
    int64_t H = m->info.hidden;
    snprintf(n, sizeof n, "%s.weight", base);
    snprintf(alt, sizeof alt, "%s.gamma", base);
    int rc = ckpt_need(m->ck, !ckpt_get(m->ck, n) && ckpt_get(m->ck, alt) ? alt : n, 1, H, 0, w, err);
    if (rc)
        return rc;
    snprintf(n, sizeof n, "%s.bias", base);
    snprintf(alt, sizeof alt, "%s.beta", base);
    return ckpt_need(m->ck, !ckpt_get(m->ck, n) && ckpt_get(m->ck, alt) ? alt : n, 1, H, 0, b, err);
}

/* nn.Linear: "<base>.weight" [out, in] and "<base>.bias" [out]. */
static int need_linear(enc_model *m, const char *base, int64_t out, int64_t in, ckpt_src *w, const float **b,
                       ys_error *err)
{
    char n[300];
    snprintf(n, sizeof n, "%s.weight", base);
    int rc = ckpt_need_src(m->ck, n, 2, out, in, w, err);
    if (rc)
        return rc;
    snprintf(n, sizeof n, "%s.bias", base);
    return ckpt_need(m->ck, n, 1, out, 0, b, err);
}

static int bind(enc_model *m, ys_error *err)
{
    const enc_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn, L = mi->num_labels;
    const char *pre = m->fam == FAM_BERT ? "bert" : m->fam == FAM_ROBERTA ? "roberta" : "distilbert";
    char n[256];
    int rc;
    snprintf(n, sizeof n, "%s.embeddings.word_embeddings.weight", pre);
    if ((rc = ckpt_need(m->ck, n, 2, mi->vocab, H, &m->word, err)))
        return rc;
    snprintf(n, sizeof n, "%s.embeddings.position_embeddings.weight", pre);
    if ((rc = ckpt_need(m->ck, n, 2, m->pos_rows, H, &m->pos, err)))
        return rc;
    if (mi->type_vocab) {
        snprintf(n, sizeof n, "%s.embeddings.token_type_embeddings.weight", pre);
        if ((rc = ckpt_need(m->ck, n, 2, mi->type_vocab, H, &m->type, err)))
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

/* Every projection weight packed once for gm_run (gemm.h), on the pool,
 * the checkpoint's pages given back as they are packed (ckpt_pack.h): the
 * resident size stays about one copy of the weights (BERT-base: 340 MB
 * packed, the embeddings mapped). */
static int pack_weights(enc_model *m, ys_error *err)
{
    size_t H = (size_t)m->info.hidden, F = (size_t)m->info.ffn, L = (size_t)m->info.num_labels, n = 0;
    gm_job *j = malloc(((size_t)m->info.layers * 6 + 2) * sizeof *j);
    if (!j)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    for (int l = 0; l < m->info.layers; l++) {
        enc_layer *Y = &m->layers[l];
        j[n++] = ckpt_pack_linear(&Y->pq, Y->wq, H, H);
        j[n++] = ckpt_pack_linear(&Y->pk, Y->wk, H, H);
        j[n++] = ckpt_pack_linear(&Y->pv, Y->wv, H, H);
        j[n++] = ckpt_pack_linear(&Y->po, Y->wo, H, H);
        j[n++] = ckpt_pack_linear(&Y->p1, Y->w1, H, F);
        j[n++] = ckpt_pack_linear(&Y->p2, Y->w2, F, H);
    }
    j[n++] = ckpt_pack_linear(&m->phead, m->head_w, H, H);
    j[n++] = ckpt_pack_linear(&m->pcls, m->cls_w, H, L);
    int rc = ckpt_pack_all(m->ck, m->pool, j, n);
    free(j);
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory packing the weights") : 0;
}

static void free_packed(enc_model *m)
{
    for (int l = 0; m->layers && l < m->info.layers; l++) {
        enc_layer *Y = &m->layers[l];
        gm_free(&Y->pq), gm_free(&Y->pk), gm_free(&Y->pv), gm_free(&Y->po), gm_free(&Y->p1), gm_free(&Y->p2);
    }
    gm_free(&m->phead), gm_free(&m->pcls);
}

/* ---- threads ---------------------------------------------------------------- */

static void free_threads(enc_model *m)
{
    for (int i = 0; i < m->nthreads; i++) {
        if (m->tile_pool)
            kn_pool_free(m->tile_pool[i]);
        if (m->gather)
            free(m->gather[i]);
        if (m->scores)
            free(m->scores[i]);
        if (m->ws)
            free(m->ws[i]);
    }
    free(m->tile_pool);
    free(m->gather);
    free(m->scores);
    free(m->ws);
    free(m->ws_cap);
    m->ws = NULL;
    m->ws_cap = NULL;
    kn_pool_free(m->pool);
    m->tile_pool = NULL;
    m->gather = m->scores = NULL;
    m->pool = NULL;
    m->nthreads = 0;
}

static int alloc_threads(enc_model *m, int threads, ys_error *err)
{
    if (threads < 1)
        threads = eng_default_threads();
    free_threads(m);
    if (kn_pool_new(threads, &m->blas, &m->pool))
        return ys_fail(err, YS_ENOMEM, "out of memory for %d threads", threads);
    int n = m->nthreads = kn_pool_threads(m->pool);
    m->tile_pool = calloc((size_t)n, sizeof *m->tile_pool);
    m->gather = calloc((size_t)n, sizeof *m->gather);
    m->scores = calloc((size_t)n, sizeof *m->scores);
    m->ws = calloc((size_t)n, sizeof *m->ws);
    m->ws_cap = calloc((size_t)n, sizeof *m->ws_cap);
    int ok = m->tile_pool && m->gather && m->scores && m->ws && m->ws_cap;
    size_t wide = (size_t)(m->info.ffn > m->info.hidden ? m->info.ffn : m->info.hidden);
    for (int i = 0; ok && i < n; i++)
        ok = kn_pool_new(1, &m->blas, &m->tile_pool[i]) == 0 &&
             (m->gather[i] = malloc(2 * GATHER_ROWS * wide * sizeof(float))) &&
             (m->scores[i] = malloc(KN_ROWS * (size_t)m->info.max_positions * sizeof(float)));
    if (!ok) {
        free_threads(m);
        return ys_fail(err, YS_ENOMEM, "out of memory for %d threads", threads);
    }
    return 0;
}

/* ---- load / free ----------------------------------------------------------- */

int enc_load(const char *dir, enc_model **out, ys_error *err) { return enc_load_adapter(dir, NULL, out, err); }

int enc_load_adapter(const char *dir, const char *adapter_dir, enc_model **out, ys_error *err)
{
    *out = NULL;
    enc_model *m = calloc(1, sizeof *m);
    if (!m)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = ckpt_open_adapted(dir, adapter_dir, &m->ck, err);
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
        rc = alloc_threads(m, 0, err);
    if (rc == 0)
        rc = pack_weights(m, err);
    if (rc == 0)
        rc = ckpt_adapter_check(m->ck, err);
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
    free_threads(m);
    eng_blas_close(&m->blas);
    free_packed(m);
    free(m->layers);
    free(m->labels);
    free(m->label_names);
    ckpt_close(m->ck);
    free(m);
}

const enc_info *enc_get_info(const enc_model *m) { return &m->info; }

int enc_set_threads(enc_model *m, int n, ys_error *err) { return alloc_threads(m, n, err); }

/* ---- execution ----------------------------------------------------------------
 * A batch is cut into chunks of whole sequences (about CHUNK_TOKENS tokens)
 * that go through the network together, layer by layer. A chunk's rows are
 * its sequences' tokens one after another, and each projection is ONE
 * gm_run over all of them: gemm.h computes every output element with the
 * same fixed fma sequence whatever the other rows, so concatenating
 * sequences cannot change any sequence's bits (batch independence by
 * construction, not by tiling), and the packed weights are streamed once
 * per block of rows rather than re-packed per 64-row tile.
 *
 * Attention is per (sequence, head, row tile of KN_ROWS queries): two
 * single-threaded OpenBLAS sgemm calls whose operands are one sequence's
 * rows, tiled as kernels.h explains; LayerNorm per row. With enough
 * chunks, each thread runs whole chunks on its own (nothing to wait for
 * between steps, which matters on shared cores); otherwise the model's pool
 * shares out the items of one chunk at a time (gm_run's row x column
 * blocks, the attention items). Nothing a sequence's numbers go through
 * depends on the other sequences, the chunking or the thread count. */

#define CHUNK_TOKENS 512    /* any value gives the same bits; this is memory vs cache reuse */

/* Rows [r0, r1) of sequence s of the chunk. */
typedef struct row_tile { size_t s, r0, r1; } row_tile;

typedef struct chunk {
    const enc_model *m;
    kn_pool *pool;               /* runs the chunk's work items */
    int wbase;                   /* per-thread buffers of item worker w: index wbase + w */
    size_t nseq, ntok;
    const int32_t *const *ids, *const *tt;
    const size_t *lens, *off;    /* tokens, and first row in the activations */
    float *const *logits;
    float *x, *q, *k, *v, *att, *h, *pooled;
    const row_tile *rows;        /* the rows the current step works on */
    size_t nrows;
    int all_rows;                /* rows covers every token of the chunk, rows 0 .. ntok-1 */
} chunk;

/* y (+)= act(x W^T + b) over the chunk's current rows. All rows: one
 * gm_run. Scattered rows (the last layer's first tokens): gathered into
 * contiguous blocks, computed, scattered back — the same bits as in place,
 * since gm_run's result for a row does not depend on where it sits. */
static void linear(const chunk *c, const float *x, size_t ldx, const gm_weights *w, const float *b, float *y,
                   size_t ldy, int accumulate, gm_act act)
{
    gm_call g = {.x = x, .ldx = ldx, .w = w, .bias = b, .y = y, .ldy = ldy, .n = c->ntok,
                 .accumulate = accumulate, .act = act};
    if (c->all_rows) {
        gm_run(c->pool, &g);
        return;
    }
    size_t k = w->k, out = w->out, n = 0;
    float *gx = c->m->gather[c->wbase], *gy = gx + GATHER_ROWS * k;
    size_t rows[GATHER_ROWS];
    for (size_t t = 0; t < c->nrows; t++)
        for (size_t r = c->off[c->rows[t].s] + c->rows[t].r0; r < c->off[c->rows[t].s] + c->rows[t].r1; r++) {
            rows[n] = r;
            memcpy(gx + n * k, x + r * ldx, k * sizeof *gx);
            if (accumulate)
                memcpy(gy + n * out, y + r * ldy, out * sizeof *gy);
            int last = t + 1 == c->nrows && r + 1 == c->off[c->rows[t].s] + c->rows[t].r1;
            if (++n < GATHER_ROWS && !last)
                continue;
            g = (gm_call){.x = gx, .ldx = k, .w = w, .bias = b, .y = gy, .ldy = out, .n = n,
                          .accumulate = accumulate, .act = act};
            gm_run(c->pool, &g);
            for (size_t i = 0; i < n; i++)
                memcpy(y + rows[i] * ldy, gy + i * out, out * sizeof *gy);
            n = 0;
        }
}

/* LayerNorm in place over the current rows. */
typedef struct { const chunk *c; const float *w, *b; } ln_job;

static void ln_item(void *vctx, size_t item, int worker)
{
    (void)worker;
    const ln_job *j = vctx;
    const chunk *c = j->c;
    const row_tile *rt = &c->rows[item];
    size_t H = (size_t)c->m->info.hidden;
    for (size_t r = c->off[rt->s] + rt->r0; r < c->off[rt->s] + rt->r1; r++)
        kn_layernorm(c->x + r * H, c->x + r * H, j->w, j->b, H, c->m->eps);
}

static void layernorm(const chunk *c, const float *w, const float *b)
{
    ln_job j = {c, w, b};
    kn_pool_run(c->pool, c->nrows, ln_item, &j);
}

/* Self-attention, no mask (sequences are unpadded): one item = one query
 * row tile x one head over the sequence's T keys (kn_attn_tile). */
static void attn_item(void *vctx, size_t item, int worker)
{
    const chunk *c = vctx;
    const enc_model *m = c->m;
    size_t nh = (size_t)m->info.heads, H = (size_t)m->info.hidden, hd = H / nh, h = item % nh;
    const row_tile *rt = &c->rows[item / nh];
    size_t T = c->lens[rt->s], base = c->off[rt->s];
    kn_attn a = {.q = c->q + (base + rt->r0) * H + h * hd, .k = c->k + base * H + h * hd,
                 .v = c->v + base * H + h * hd, .out = c->att + (base + rt->r0) * H + h * hd,
                 .ldq = H, .ldkv = H, .ldo = H, .rows = rt->r1 - rt->r0, .nk = T, .hd = hd,
                 .scale = (float)(1.0 / sqrt((double)hd))};
    kn_attn_tile(&m->blas, &a, m->scores[c->wbase + worker]);
}

/* x[t] = word[id] (+ type[tt]) + position, as HF adds them (token type
 * first, then position), then (separately) the embedding LayerNorm.
 * RoBERTa's position of token t is pad + (number of non-pad tokens in
 * 0..t), and pad itself for a pad token (HF's
 * create_position_ids_from_input_ids). One item = one sequence. */
static void embed_item(void *vctx, size_t s, int worker)
{
    (void)worker;
    const chunk *c = vctx;
    const enc_model *m = c->m;
    const int32_t *ids = c->ids[s], *tt = c->tt ? c->tt[s] : NULL;
    size_t H = (size_t)m->info.hidden, seen = 0;
    for (size_t t = 0; t < c->lens[s]; t++) {
        size_t p = t;
        if (m->fam == FAM_ROBERTA)
            p = ids[t] == m->info.pad_id ? (size_t)m->info.pad_id : (size_t)m->info.pad_id + ++seen;
        const float *w = m->word + (size_t)ids[t] * H, *pe = m->pos + p * H;
        float *row = c->x + (c->off[s] + t) * H;
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

/* The classification head on the first token of sequence s: BERT pooler /
 * RoBERTa classifier.dense + tanh, DistilBERT pre_classifier + ReLU, then
 * the label projection (each a one-row gm_run on this thread). */
static void head_item(void *vctx, size_t s, int worker)
{
    (void)worker;
    const chunk *c = vctx;
    const enc_model *m = c->m;
    size_t H = (size_t)m->info.hidden, L = (size_t)m->info.num_labels;
    float *pooled = c->pooled + s * H;
    gm_call p = {.x = c->x + c->off[s] * H, .ldx = H, .w = &m->phead, .bias = m->head_b, .y = pooled, .ldy = H,
                 .n = 1, .act = m->fam == FAM_DISTIL ? GM_ACT_RELU : GM_ACT_NONE};
    gm_run(NULL, &p);
    if (m->fam != FAM_DISTIL)
        for (size_t i = 0; i < H; i++)
            pooled[i] = tanhf(pooled[i]);
    gm_call o = {.x = pooled, .ldx = H, .w = &m->pcls, .bias = m->cls_b, .y = c->logits[s], .ldy = L, .n = 1};
    gm_run(NULL, &o);
}

/* The chunk's sequences through embeddings, encoder and head. rows_all
 * lists every row tile of the chunk, rows_first the first row of each
 * sequence. */
static void forward(chunk *c, const row_tile *rows_all, size_t nall, const row_tile *rows_first)
{
    const enc_model *m = c->m;
    const enc_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn;
    kn_pool_run(c->pool, c->nseq, embed_item, c);
    c->rows = rows_all, c->nrows = nall, c->all_rows = 1;
    layernorm(c, m->emb_ln_w, m->emb_ln_b);
    for (int l = 0; l < mi->layers; l++) {
        const enc_layer *Y = &m->layers[l];
        /* keys and values for every row; the rest only for the rows that
         * go on: in the last layer that is each sequence's first token,
         * the one the head reads */
        c->rows = rows_all, c->nrows = nall, c->all_rows = 1;
        linear(c, c->x, H, &Y->pk, Y->bk, c->k, H, 0, GM_ACT_NONE);
        linear(c, c->x, H, &Y->pv, Y->bv, c->v, H, 0, GM_ACT_NONE);
        if (l == mi->layers - 1)
            c->rows = rows_first, c->nrows = c->nseq, c->all_rows = 0;
        linear(c, c->x, H, &Y->pq, Y->bq, c->q, H, 0, GM_ACT_NONE);
        kn_pool_run(c->pool, c->nrows * (size_t)mi->heads, attn_item, c);
        /* post-LN: x = LN(x + attention), x = LN(x + MLP(x)) */
        linear(c, c->att, H, &Y->po, Y->bo, c->x, H, 1, GM_ACT_NONE);
        layernorm(c, Y->ln1_w, Y->ln1_b);
        linear(c, c->x, H, &Y->p1, Y->b1, c->h, F, 0, m->act);
        linear(c, c->h, F, &Y->p2, Y->b2, c->x, H, 1, GM_ACT_NONE);
        layernorm(c, Y->ln2_w, Y->ln2_b);
    }
    kn_pool_run(c->pool, c->nseq, head_item, c);
}

/* ---- classification ------------------------------------------------------------ */

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

/* The batch cut into chunks: chunk i holds sequences [first[i], first[i+1])
 * and their row tiles rows_all[rbeg[i] .. rbeg[i+1]). */
typedef struct plan {
    const enc_model *m;
    const int32_t *const *ids, *const *tt;
    const size_t *lens;
    float *const *logits;
    size_t cap;                  /* tokens a workspace holds */
    size_t *first, *rbeg, *off;  /* off: a sequence's first row in its chunk */
    row_tile *rows_all, *rows_first;
} plan;

/* Chunk i on `pool`, with the buffers of thread wbase (and up). */
static void run_chunk(const plan *pl, size_t i, kn_pool *pool, int wbase)
{
    const enc_model *m = pl->m;
    size_t s0 = pl->first[i], s1 = pl->first[i + 1], cap = pl->cap;
    size_t H = (size_t)m->info.hidden, F = (size_t)m->info.ffn;
    float *w = m->ws[wbase];
    chunk c = {.m = m, .pool = pool, .wbase = wbase, .nseq = s1 - s0, .ids = pl->ids + s0,
               .tt = pl->tt ? pl->tt + s0 : NULL, .lens = pl->lens + s0, .off = pl->off + s0,
               .logits = pl->logits + s0};
    c.ntok = pl->off[s1 - 1] + pl->lens[s1 - 1];
    c.x = w, c.q = w + cap * H, c.k = c.q + cap * H, c.v = c.k + cap * H, c.att = c.v + cap * H;
    c.h = c.att + cap * H, c.pooled = c.h + cap * F;
    forward(&c, pl->rows_all + pl->rbeg[i], pl->rbeg[i + 1] - pl->rbeg[i], pl->rows_first + s0);
}

/* One whole chunk on one thread: its work items run inline on that
 * thread's 1-thread pool. */
static void chunk_item(void *vctx, size_t i, int worker)
{
    const plan *pl = vctx;
    run_chunk(pl, i, pl->m->tile_pool[worker], worker);
}

int enc_classify(enc_model *m, const int32_t *const *ids, const int32_t *const *type_ids,
                 const size_t *lens, size_t nseq, float *const *logits, ys_error *err)
{
    size_t total = 0;
    for (size_t s = 0; s < nseq; s++) {
        int rc = check_seq(m, s, ids[s], type_ids ? type_ids[s] : NULL, lens[s], err);
        if (rc)
            return rc;
        total += lens[s];
    }
    if (nseq == 0)
        return 0;
    m->blas.set_num_threads(1);
    size_t H = (size_t)m->info.hidden, F = (size_t)m->info.ffn, P = (size_t)m->info.max_positions;
    /* a chunk holds whole sequences, at most max(CHUNK_TOKENS, max_positions) tokens */
    plan pl = {.m = m, .ids = ids, .tt = type_ids, .lens = lens, .logits = logits};
    pl.cap = CHUNK_TOKENS > P ? CHUNK_TOKENS : P;
    if (total < pl.cap)
        pl.cap = total;
    pl.first = malloc((nseq + 1) * sizeof *pl.first);
    pl.rbeg = malloc((nseq + 1) * sizeof *pl.rbeg);
    pl.off = malloc(nseq * sizeof *pl.off);
    pl.rows_first = malloc(nseq * sizeof *pl.rows_first);
    pl.rows_all = malloc((nseq + total / KN_ROWS + 1) * sizeof *pl.rows_all);
    int rc = 0;
    if (!pl.first || !pl.rbeg || !pl.off || !pl.rows_first || !pl.rows_all)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    size_t nch = 0, nr = 0;
    for (size_t s = 0; rc == 0 && s < nseq; nch++) {
        size_t tok = 0;
        pl.first[nch] = s;
        pl.rbeg[nch] = nr;
        for (; s < nseq && (tok == 0 || tok + lens[s] <= pl.cap); tok += lens[s++]) {
            size_t i = s - pl.first[nch];
            pl.off[s] = tok;
            pl.rows_first[s] = (row_tile){i, 0, 1};
            for (size_t r0 = 0; r0 < lens[s]; r0 += KN_ROWS)
                pl.rows_all[nr++] = (row_tile){i, r0, r0 + KN_ROWS < lens[s] ? r0 + KN_ROWS : lens[s]};
        }
    }
    if (rc == 0) {
        pl.first[nch] = nseq;
        pl.rbeg[nch] = nr;
    }
    /* Enough chunks for every thread to take several: each thread runs
     * whole chunks (no waiting on the others between steps, which matters
     * when the cores are shared). Otherwise the threads share each step of
     * one chunk at a time. The numbers are the same either way. */
    int per_thread = m->nthreads > 1 && nch >= 2 * (size_t)m->nthreads;
    size_t need = pl.cap * (6 * H + F);
    for (int w = 0; rc == 0 && w < (per_thread ? m->nthreads : 1); w++) {
        if (m->ws_cap[w] >= need)
            continue;
        free(m->ws[w]);
        m->ws_cap[w] = 0;
        if (!(m->ws[w] = malloc(need * sizeof **m->ws)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory for %zu tokens of activations", pl.cap);
        else
            m->ws_cap[w] = need;
    }
    if (rc == 0 && per_thread)
        kn_pool_run(m->pool, nch, chunk_item, &pl);
    for (size_t i = 0; rc == 0 && !per_thread && i < nch; i++)
        run_chunk(&pl, i, m->pool, 0);
    free(pl.first), free(pl.rbeg), free(pl.off), free(pl.rows_first), free(pl.rows_all);
    return rc;
}
