/* model.c — GPT-2 and Llama-family decoders in fp32, meant to be read top
 * to bottom: configuration and weight binding, then one forward pass shared
 * by scoring and generation (a KV cache always; scoring uses a fresh one),
 * then log-probabilities, then generation. The arithmetic building blocks
 * are the packed GEMM (gemm.h: every projection, packed at load), the
 * attention tile, norms, the thread pool and large buffers (kernels.h) and
 * the vectorised exp (vmath.h).
 *
 * Shapes: T = tokens in this call, H = hidden, nh/nkv = query/key-value
 * heads, hd = head dim, qdim = nh*hd, kvdim = nkv*hd, F = MLP width,
 * V = vocabulary. Activations are row-major [T, width]. */
#include "model.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "checkpoint.h"
#include "gemm.h"
#include "kernels.h"
#include "threads.h"
#include "vmath.h"

typedef enum { FAM_GPT2, FAM_LLAMA } family;

typedef struct layer {
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b;
    /* Llama family: nn.Linear [out, in]; biases optional. The matrices
     * are only read once, to be packed, so they stay in their stored
     * dtype (ckpt_src); vectors are F32 views. */
    ckpt_src wq, wk, wv, wo, w_gate, w_up, w_down;
    const float *bq, *bk, *bv, *bo;
    /* GPT-2: Conv1D [in, out]; c_attn fuses q|k|v along the columns */
    ckpt_src c_attn, c_proj, c_fc, mlp_proj;
    const float *c_attn_b, *c_proj_b, *c_fc_b, *mlp_proj_b;
    /* the projections packed for gm_run (owned); GPT-2 uses gate for c_fc,
     * down for its mlp c_proj, q/k/v for c_attn's column ranges */
    gm_weights pq, pk, pv, po, pgate, pup, pdown;
} layer;

struct model {
    ckpt *ck;
    model_info info;
    family fam;
    char arch[64];
    double eps;            /* LayerNorm / RMSNorm epsilon */
    double rope_theta;
    gm_act mlp_act;        /* GPT-2's activation_function */
    int scale_attn_weights, scale_attn_by_layer;   /* GPT-2 options */
    ckpt_src wte;          /* the embedding [V, H] as stored */
    const float *embed;    /* its F32 view, made only when untied (embed_row) */
    const float *pos_embed;/* GPT-2 wpe [n_positions, H] */
    const float *final_w, *final_b;
    ckpt_src lm_head;      /* [V, H]: wte when tied */
    gm_weights phead;      /* lm_head packed (owned) */
    int tied;              /* lm_head is embed: rows are read from phead */
    layer *layers;
    eng_blas blas;         /* OpenBLAS, opened at load (blas.h); attention */
    kn_pool *pool;
};

struct model_kv {
    size_t cap, len, kvdim;
    int layers;
    float *k, *v;          /* [layers][cap][kvdim] */
};

static const char SUPPORTED[] =
    "GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

/* ---- configuration ------------------------------------------------------- */

static int resolve_arch(model *m, ys_error *err)
{
    const cJSON *cfg = ckpt_config(m->ck);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const char *name = NULL;
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0))) {
        name = cJSON_GetArrayItem(archs, 0)->valuestring;
    } else {
        static const char *const by_type[][2] = {
            {"gpt2", "GPT2LMHeadModel"}, {"llama", "LlamaForCausalLM"},
            {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}};
        const char *type = NULL;
        int rc = ckpt_config_str(m->ck, "model_type", NULL, &type, err);
        if (rc < 0)
            return rc;
        for (size_t i = 0; type && i < sizeof by_type / sizeof by_type[0]; i++)
            if (strcmp(type, by_type[i][0]) == 0)
                name = by_type[i][1];
        if (!name)
            return ys_fail(err, YS_EINPUT,
                           "%s/config.json: no \"architectures\" and model_type \"%s\" is not supported "
                           "(supported: %s)", ckpt_dir(m->ck), type ? type : "(none)", SUPPORTED);
    }
    if (strcmp(name, "GPT2LMHeadModel") == 0)
        m->fam = FAM_GPT2;
    else if (strcmp(name, "LlamaForCausalLM") == 0 || strcmp(name, "MistralForCausalLM") == 0 ||
             strcmp(name, "Qwen2ForCausalLM") == 0)
        m->fam = FAM_LLAMA;
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: architecture \"%.60s\" is not supported "
                       "(supported: %s)", ckpt_dir(m->ck), name, SUPPORTED);
    snprintf(m->arch, sizeof m->arch, "%s", name);
    m->info.arch = m->arch;
    return 0;
}

static int config_gpt2(model *m, ys_error *err)
{
    model_info *mi = &m->info;
    long n_ctx;
    int rc;
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "n_embd", 0, &mi->hidden, err)) ||
        (rc = ckpt_config_dim(m->ck, "n_layer", 0, &mi->layers, err)) || (rc = ckpt_config_dim(m->ck, "n_head", 0, &mi->heads, err)))
        return rc;
    if ((rc = ckpt_config_int(m->ck, "n_ctx", 1024, &n_ctx, err)) < 0 ||
        (rc = ckpt_config_dim(m->ck, "n_positions", n_ctx, &mi->max_positions, err)) ||
        (rc = ckpt_config_dim(m->ck, "n_inner", 4L * mi->hidden, &mi->ffn, err)))
        return rc;
    if (mi->hidden % mi->heads)
        return ys_fail(err, YS_EINPUT, "%s/config.json: n_embd %d is not a multiple of n_head %d",
                       ckpt_dir(m->ck), mi->hidden, mi->heads);
    mi->kv_heads = mi->heads;
    mi->head_dim = mi->hidden / mi->heads;
    const char *act;
    if ((rc = ckpt_config_num(m->ck, "layer_norm_epsilon", 1e-5, &m->eps, err)) < 0 ||
        (rc = ckpt_config_str(m->ck, "activation_function", "gelu_new", &act, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "scale_attn_weights", 1, &m->scale_attn_weights, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "scale_attn_by_inverse_layer_idx", 0, &m->scale_attn_by_layer, err)) < 0)
        return rc;
    if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        m->mlp_act = GM_ACT_GELU_TANH;
    else if (!strcmp(act, "gelu"))
        m->mlp_act = GM_ACT_GELU_ERF;
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: activation_function \"%.40s\" is not supported "
                       "(gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)", ckpt_dir(m->ck), act);
    return 0;
}

static int config_llama(model *m, ys_error *err)
{
    model_info *mi = &m->info;
    const char *dir = ckpt_dir(m->ck);
    int rc;
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "hidden_size", 0, &mi->hidden, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_hidden_layers", 0, &mi->layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_attention_heads", 0, &mi->heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_key_value_heads", mi->heads, &mi->kv_heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "intermediate_size", 0, &mi->ffn, err)))
        return rc;
    if (mi->heads % mi->kv_heads)
        return ys_fail(err, YS_EINPUT, "%s/config.json: num_attention_heads %d is not a multiple of "
                       "num_key_value_heads %d", dir, mi->heads, mi->kv_heads);
    long hd;
    if ((rc = ckpt_config_int(m->ck, "head_dim", 0, &hd, err)) < 0)
        return rc;
    if (hd == 0) {
        if (mi->hidden % mi->heads)
            return ys_fail(err, YS_EINPUT, "%s/config.json: hidden_size %d is not a multiple of "
                           "num_attention_heads %d", dir, mi->hidden, mi->heads);
        hd = mi->hidden / mi->heads;
    }
    if (hd <= 0 || hd % 2 || hd > 65536)
        return ys_fail(err, YS_EINPUT, "%s/config.json: head_dim %ld must be positive and even", dir, hd);
    mi->head_dim = (int)hd;

    const char *act;
    if ((rc = ckpt_config_num(m->ck, "rms_norm_eps", 1e-6, &m->eps, err)) < 0 ||
        (rc = ckpt_config_str(m->ck, "hidden_act", "silu", &act, err)) < 0)
        return rc;
    if (strcmp(act, "silu") != 0)
        return ys_fail(err, YS_EINPUT, "%s/config.json: hidden_act \"%.40s\" is not supported (silu)", dir, act);

    /* RoPE: rope_theta at the top level, or (newer transformers) inside
     * rope_parameters; only the default (unscaled) rotation is implemented */
    if ((rc = ckpt_config_num(m->ck, "rope_theta", 10000.0, &m->rope_theta, err)) < 0)
        return rc;
    const cJSON *cfg = ckpt_config(m->ck);
    const char *scaling_keys[] = {"rope_scaling", "rope_parameters"};
    for (int i = 0; i < 2; i++) {
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, scaling_keys[i]);
        if (!rs || cJSON_IsNull(rs))
            continue;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!type)
            type = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (!cJSON_IsObject(rs) || (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "default"))))
            return ys_fail(err, YS_EINPUT, "%s/config.json: %s %s is not supported (only default RoPE)",
                           dir, scaling_keys[i], cJSON_IsString(type) ? type->valuestring : "");
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(rs, "rope_theta");
        if (cJSON_IsNumber(th))
            m->rope_theta = th->valuedouble;
    }
    if (!(m->rope_theta > 0))
        return ys_fail(err, YS_EINPUT, "%s/config.json: rope_theta must be positive", dir);

    int flag;
    if ((rc = ckpt_config_bool(m->ck, "mlp_bias", 0, &flag, err)) < 0)
        return rc;
    if (flag)
        return ys_fail(err, YS_EINPUT, "%s/config.json: mlp_bias is not supported", dir);
    if (!strcmp(m->arch, "Qwen2ForCausalLM")) {
        if ((rc = ckpt_config_bool(m->ck, "use_sliding_window", 0, &flag, err)) < 0)
            return rc;
        if (flag)
            return ys_fail(err, YS_EINPUT, "%s/config.json: Qwen2 use_sliding_window is not supported", dir);
    }
    if (!strcmp(m->arch, "MistralForCausalLM")) {
        long w;
        if ((rc = ckpt_config_int(m->ck, "sliding_window", 0, &w, err)) < 0)
            return rc;
        if (w < 0 || w > (1L << 30))
            return ys_fail(err, YS_EINPUT, "%s/config.json: sliding_window %ld out of range", dir, w);
        m->info.sliding_window = (int)w;
    }
    return 0;
}

/* ---- weights --------------------------------------------------------------
 * Every tensor the forward pass reads is bound here, with the shape the
 * configuration implies; a missing or misshapen tensor fails the load. */

static int bind_gpt2(model *m, ys_error *err)
{
    const model_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn;
    /* hub GPT-2 files name tensors "h.0..."; save_pretrained writes
     * "transformer.h.0..." */
    const char *pre = ckpt_get(m->ck, "transformer.wte.weight") ? "transformer." : "";
    char n[256];
    int rc;
#define NEED(ndim, d0, d1, dst, ...) \
    (snprintf(n, sizeof n, __VA_ARGS__), (rc = ckpt_need(m->ck, n, ndim, d0, d1, dst, err)) != 0)
#define NEED_SRC(ndim, d0, d1, dst, ...) \
    (snprintf(n, sizeof n, __VA_ARGS__), (rc = ckpt_need_src(m->ck, n, ndim, d0, d1, dst, err)) != 0)
    if (NEED_SRC(2, mi->vocab, H, &m->wte, "%swte.weight", pre) ||
        NEED(2, mi->max_positions, H, &m->pos_embed, "%swpe.weight", pre) ||
        NEED(1, H, 0, &m->final_w, "%sln_f.weight", pre) || NEED(1, H, 0, &m->final_b, "%sln_f.bias", pre))
        return rc;
    for (int l = 0; l < mi->layers; l++) {
        layer *L = &m->layers[l];
        if (NEED(1, H, 0, &L->norm1_w, "%sh.%d.ln_1.weight", pre, l) ||
            NEED(1, H, 0, &L->norm1_b, "%sh.%d.ln_1.bias", pre, l) ||
            NEED_SRC(2, H, 3 * H, &L->c_attn, "%sh.%d.attn.c_attn.weight", pre, l) ||
            NEED(1, 3 * H, 0, &L->c_attn_b, "%sh.%d.attn.c_attn.bias", pre, l) ||
            NEED_SRC(2, H, H, &L->c_proj, "%sh.%d.attn.c_proj.weight", pre, l) ||
            NEED(1, H, 0, &L->c_proj_b, "%sh.%d.attn.c_proj.bias", pre, l) ||
            NEED(1, H, 0, &L->norm2_w, "%sh.%d.ln_2.weight", pre, l) ||
            NEED(1, H, 0, &L->norm2_b, "%sh.%d.ln_2.bias", pre, l) ||
            NEED_SRC(2, H, F, &L->c_fc, "%sh.%d.mlp.c_fc.weight", pre, l) ||
            NEED(1, F, 0, &L->c_fc_b, "%sh.%d.mlp.c_fc.bias", pre, l) ||
            NEED_SRC(2, F, H, &L->mlp_proj, "%sh.%d.mlp.c_proj.weight", pre, l) ||
            NEED(1, H, 0, &L->mlp_proj_b, "%sh.%d.mlp.c_proj.bias", pre, l))
            return rc;
    }
    int tied;
    if ((rc = ckpt_config_bool(m->ck, "tie_word_embeddings", 1, &tied, err)) < 0)
        return rc;
    m->lm_head = m->wte;
    if (!tied && (NEED_SRC(2, mi->vocab, H, &m->lm_head, "lm_head.weight") ||
                  NEED(2, mi->vocab, H, &m->embed, "%swte.weight", pre)))
        return rc;
    return 0;
}

static int bind_llama(model *m, ys_error *err)
{
    const model_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn, q = (int64_t)mi->heads * mi->head_dim,
            kv = (int64_t)mi->kv_heads * mi->head_dim;
    int rc, attn_bias = 0, tied;
    int qwen2 = !strcmp(m->arch, "Qwen2ForCausalLM");
    if ((rc = ckpt_config_bool(m->ck, "attention_bias", 0, &attn_bias, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "tie_word_embeddings", 0, &tied, err)) < 0)
        return rc;
    char n[256];
    if (NEED_SRC(2, mi->vocab, H, &m->wte, "model.embed_tokens.weight") ||
        NEED(1, H, 0, &m->final_w, "model.norm.weight"))
        return rc;
    m->lm_head = m->wte;
    if (!tied && (NEED_SRC(2, mi->vocab, H, &m->lm_head, "lm_head.weight") ||
                  NEED(2, mi->vocab, H, &m->embed, "model.embed_tokens.weight")))
        return rc;
    for (int l = 0; l < mi->layers; l++) {
        layer *L = &m->layers[l];
        const char *p = "model.layers";
        if (NEED(1, H, 0, &L->norm1_w, "%s.%d.input_layernorm.weight", p, l) ||
            NEED(1, H, 0, &L->norm2_w, "%s.%d.post_attention_layernorm.weight", p, l) ||
            NEED_SRC(2, q, H, &L->wq, "%s.%d.self_attn.q_proj.weight", p, l) ||
            NEED_SRC(2, kv, H, &L->wk, "%s.%d.self_attn.k_proj.weight", p, l) ||
            NEED_SRC(2, kv, H, &L->wv, "%s.%d.self_attn.v_proj.weight", p, l) ||
            NEED_SRC(2, H, q, &L->wo, "%s.%d.self_attn.o_proj.weight", p, l) ||
            NEED_SRC(2, F, H, &L->w_gate, "%s.%d.mlp.gate_proj.weight", p, l) ||
            NEED_SRC(2, F, H, &L->w_up, "%s.%d.mlp.up_proj.weight", p, l) ||
            NEED_SRC(2, H, F, &L->w_down, "%s.%d.mlp.down_proj.weight", p, l))
            return rc;
        /* Qwen2 always has q/k/v biases; Llama's attention_bias adds o too */
        if ((qwen2 || attn_bias) &&
            (NEED(1, q, 0, &L->bq, "%s.%d.self_attn.q_proj.bias", p, l) ||
             NEED(1, kv, 0, &L->bk, "%s.%d.self_attn.k_proj.bias", p, l) ||
             NEED(1, kv, 0, &L->bv, "%s.%d.self_attn.v_proj.bias", p, l)))
            return rc;
        if (!qwen2 && attn_bias && NEED(1, H, 0, &L->bo, "%s.%d.self_attn.o_proj.bias", p, l))
            return rc;
    }
#undef NEED
#undef NEED_SRC
    return 0;
}

static int alloc_pool(model *m, int threads, ys_error *err)
{
    if (threads < 1)
        threads = eng_default_threads();
    kn_pool *pool;
    if (kn_pool_new(threads, &m->blas, &pool) != 0)
        return ys_fail(err, YS_ENOMEM, "out of memory creating %d threads", threads);
    kn_pool_free(m->pool);
    m->pool = pool;
    return 0;
}

/* Every projection, and the vocabulary head, packed once for gm_run
 * (gemm.h), whose per-element operation order makes a row's bits
 * independent of the other rows in the call. The packed copy replaces the
 * checkpoint's: gm_pack_all hands back each source span it has finished
 * and ckpt_release gives the mapped pages back, so the resident size does
 * not double (a tied embedding is then read from the packed head, see
 * embed_row). Packing runs on the pool: most of its time is the kernel
 * zeroing fresh pages, which goes as fast as the cores touching them. */

/* A packing job for the matrix src, starting `off` elements in. */
static gm_job job(gm_weights *pw, ckpt_src src, size_t off, size_t ldw, kn_layout layout, size_t k, size_t out)
{
    gm_dtype t = src.dtype == CKPT_F16 ? GM_F16 : src.dtype == CKPT_BF16 ? GM_BF16 : GM_F32;
    size_t es = t == GM_F32 ? 4 : 2;
    return (gm_job){pw, (const unsigned char *)src.p + off * es, ldw, layout, k, out, t};
}

/* A layer's tensors (at most 7). GPT-2's c_attn [H, 3H] is three jobs:
 * columns 0..H are q, H..2H k, 2H..3H v. */
static size_t layer_jobs(const model *m, layer *L, gm_job *j)
{
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn;
    size_t qd = (size_t)mi->heads * (size_t)mi->head_dim, kvd = (size_t)mi->kv_heads * (size_t)mi->head_dim;
    if (m->fam == FAM_GPT2) {
        j[0] = job(&L->pq, L->c_attn, 0, 3 * H, KN_IN_OUT, H, H);
        j[1] = job(&L->pk, L->c_attn, H, 3 * H, KN_IN_OUT, H, H);
        j[2] = job(&L->pv, L->c_attn, 2 * H, 3 * H, KN_IN_OUT, H, H);
        j[3] = job(&L->po, L->c_proj, 0, H, KN_IN_OUT, H, H);
        j[4] = job(&L->pgate, L->c_fc, 0, F, KN_IN_OUT, H, F);
        j[5] = job(&L->pdown, L->mlp_proj, 0, H, KN_IN_OUT, F, H);
        return 6;
    }
    j[0] = job(&L->pq, L->wq, 0, H, KN_OUT_IN, H, qd);
    j[1] = job(&L->pk, L->wk, 0, H, KN_OUT_IN, H, kvd);
    j[2] = job(&L->pv, L->wv, 0, H, KN_OUT_IN, H, kvd);
    j[3] = job(&L->po, L->wo, 0, qd, KN_OUT_IN, qd, H);
    j[4] = job(&L->pgate, L->w_gate, 0, H, KN_OUT_IN, H, F);
    j[5] = job(&L->pup, L->w_up, 0, H, KN_OUT_IN, H, F);
    j[6] = job(&L->pdown, L->w_down, 0, F, KN_OUT_IN, F, H);
    return 7;
}

static void release_source(void *ck, const void *src, size_t bytes) { ckpt_release(ck, src, bytes); }

static int pack_weights(model *m, ys_error *err)
{
    const model_info *mi = &m->info;
    gm_job *jobs = malloc(((size_t)mi->layers * 7 + 1) * sizeof *jobs);
    if (!jobs)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    size_t n = 0;
    for (int l = 0; l < mi->layers; l++)
        n += layer_jobs(m, &m->layers[l], jobs + n);
    jobs[n++] = job(&m->phead, m->lm_head, 0, (size_t)mi->hidden, KN_OUT_IN, (size_t)mi->hidden, (size_t)mi->vocab);
    int rc = gm_pack_all(m->pool, jobs, n, release_source, m->ck);
    free(jobs);
    m->tied = m->lm_head.p == m->wte.p;
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory packing the weights") : 0;
}

int model_load(const char *dir, model **out, ys_error *err)
{
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = ckpt_open(dir, &m->ck, err);
    if (rc == 0)
        rc = resolve_arch(m, err);
    if (rc == 0)
        rc = m->fam == FAM_GPT2 ? config_gpt2(m, err) : config_llama(m, err);
    if (rc == 0 && !(m->layers = calloc((size_t)m->info.layers, sizeof *m->layers)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = m->fam == FAM_GPT2 ? bind_gpt2(m, err) : bind_llama(m, err);
    if (rc == 0)
        rc = eng_blas_open(&m->blas, err);
    if (rc == 0)
        rc = alloc_pool(m, 0, err);
    if (rc == 0)
        rc = pack_weights(m, err);
    if (rc != 0) {
        model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void model_free(model *m)
{
    if (!m)
        return;
    kn_pool_free(m->pool);
    eng_blas_close(&m->blas);
    for (int l = 0; m->layers && l < m->info.layers; l++) {
        layer *L = &m->layers[l];
        gm_free(&L->pq), gm_free(&L->pk), gm_free(&L->pv), gm_free(&L->po);
        gm_free(&L->pgate), gm_free(&L->pup), gm_free(&L->pdown);
    }
    gm_free(&m->phead);
    free(m->layers);
    ckpt_close(m->ck);
    free(m);
}

const model_info *model_get_info(const model *m) { return &m->info; }

int model_set_threads(model *m, int n, ys_error *err) { return alloc_pool(m, n, err); }

/* ---- KV cache ------------------------------------------------------------ */

int model_kv_new(const model *m, size_t capacity, model_kv **out, ys_error *err)
{
    *out = NULL;
    model_kv *kv = calloc(1, sizeof *kv);
    if (!kv)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    kv->cap = capacity ? capacity : 1;
    kv->layers = m->info.layers;
    kv->kvdim = (size_t)m->info.kv_heads * (size_t)m->info.head_dim;
    size_t n = (size_t)kv->layers * kv->cap * kv->kvdim;
    if (n / kv->cap / kv->kvdim != (size_t)kv->layers || !(kv->k = kn_alloc(n * sizeof(float))) ||
        !(kv->v = kn_alloc(n * sizeof(float)))) {
        model_kv_free(kv);
        return ys_fail(err, YS_ENOMEM, "out of memory for a KV cache of %zu positions", capacity);
    }
    *out = kv;
    return 0;
}

void model_kv_free(model_kv *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

size_t model_kv_len(const model_kv *kv) { return kv->len; }

void model_kv_truncate(model_kv *kv, size_t n)
{
    if (n < kv->len)
        kv->len = n;
}

/* ---- attention ------------------------------------------------------------
 * One work item = one query head x one tile of KN_ROWS query rows
 * (kn_attn_tile, kernels.h). The tile attends to keys [0, pos0 + r1), the
 * last of which is its last row's own position; causal, with Mistral's
 * sliding window. Grouped-query heads share their key/value head. */

typedef struct attn_ctx {
    const model *m;
    const float *q;        /* [T, qdim], RoPE applied */
    const float *kc, *vc;  /* this layer's cache rows [0, pos0 + T) */
    float *out;            /* [T, qdim] */
    size_t T, pos0, kvdim, qdim, nrt;
    float scale;
    float *scores;         /* per thread (worker w at w * sstride): KN_ROWS x (pos0 + T) */
    size_t sstride;
} attn_ctx;

static void attn_tile(void *vctx, size_t item, int worker)
{
    const attn_ctx *c = vctx;
    size_t hd = (size_t)c->m->info.head_dim, h = item / c->nrt;
    size_t kvh = h / (size_t)(c->m->info.heads / c->m->info.kv_heads);
    size_t r0 = (item % c->nrt) * KN_ROWS, r1 = r0 + KN_ROWS < c->T ? r0 + KN_ROWS : c->T;
    kn_attn a = {.q = c->q + r0 * c->qdim + h * hd, .k = c->kc + kvh * hd, .v = c->vc + kvh * hd,
                 .out = c->out + r0 * c->qdim + h * hd, .ldq = c->qdim, .ldkv = c->kvdim, .ldo = c->qdim,
                 .rows = r1 - r0, .nk = c->pos0 + r1, .hd = hd, .scale = c->scale, .causal = 1,
                 .pos0 = c->pos0 + r0, .window = (size_t)c->m->info.sliding_window};
    kn_attn_tile(&c->m->blas, &a, c->scores + (size_t)worker * c->sstride);
}

/* RoPE, HF layout: dimension i pairs with i + hd/2, angle pos * theta^(-2i/hd).
 * Angles in double: the reference is float64. */
static void rope_rows(float *x, size_t T, size_t ld, int nheads, int hd, size_t pos0, const double *inv_freq)
{
    int half = hd / 2;
    for (size_t t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double a = (double)(pos0 + t) * inv_freq[i];
            float cs = (float)cos(a), sn = (float)sin(a);
            for (int h = 0; h < nheads; h++) {
                float *v = x + t * ld + (size_t)h * hd;
                float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * cs - x1 * sn;
                v[i + half] = x1 * cs + x0 * sn;
            }
        }
}

/* The embedding of token id into x[H]. A tied embedding's mapped pages
 * were released after packing (pack_weights), so its row is gathered from
 * the packed head: column id of panel id / GM_NR, stride GM_NR. */
static void embed_row(const model *m, int32_t id, float *x)
{
    size_t H = (size_t)m->info.hidden;
    if (!m->tied) {
        memcpy(x, m->embed + (size_t)id * H, H * sizeof *x);
        return;
    }
    const float *p = m->phead.panels + (size_t)id / GM_NR * H * GM_NR + (size_t)id % GM_NR;
    for (size_t i = 0; i < H; i++)
        x[i] = p[i * GM_NR];
}

/* ---- forward ---------------------------------------------------------------
 * Scratch of forward passes, kept across the calls of one scoring or
 * generation request so that its large buffers are allocated, and their
 * pages faulted in, once per request instead of once per call. Capacity:
 * T rows per call, ctx visible positions, nthr threads' attention scores.
 * ks/vs (with scratch_kv) hold one layer's keys and values when a call's
 * new rows are not kept in the cache (see forward). */
typedef struct fwd_ws {
    size_t T, ctx, nthr;
    int scratch_kv;
    float *x, *xb, *q, *att, *hb, *hu, *scores, *ks, *vs;
    double *inv_freq;      /* RoPE's hd/2 frequencies */
} fwd_ws;

static void ws_free(fwd_ws *w)
{
    free(w->x), free(w->xb), free(w->q), free(w->att), free(w->hb), free(w->hu);
    free(w->scores), free(w->ks), free(w->vs), free(w->inv_freq);
    memset(w, 0, sizeof *w);
}

static int ws_reserve(const model *m, fwd_ws *w, size_t T, size_t ctx, int scratch_kv, ys_error *err)
{
    size_t nthr = (size_t)kn_pool_threads(m->pool);
    if (T <= w->T && ctx <= w->ctx && nthr <= w->nthr && (!scratch_kv || w->scratch_kv))
        return 0;
    T = T > w->T ? T : w->T, ctx = ctx > w->ctx ? ctx : w->ctx;
    nthr = nthr > w->nthr ? nthr : w->nthr, scratch_kv |= w->scratch_kv;
    ws_free(w);
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn, qdim = (size_t)mi->heads * (size_t)mi->head_dim;
    size_t kvdim = (size_t)mi->kv_heads * (size_t)mi->head_dim;
    w->T = T, w->ctx = ctx, w->nthr = nthr, w->scratch_kv = scratch_kv;
    w->x = kn_alloc(T * H * sizeof(float)), w->xb = kn_alloc(T * H * sizeof(float));
    w->q = kn_alloc(T * qdim * sizeof(float)), w->att = kn_alloc(T * qdim * sizeof(float));
    w->hb = kn_alloc(T * F * sizeof(float));
    w->hu = m->fam == FAM_LLAMA ? kn_alloc(T * F * sizeof(float)) : NULL;   /* SwiGLU's up half */
    w->scores = kn_alloc(nthr * KN_ROWS * ctx * sizeof(float));
    w->inv_freq = malloc(((size_t)mi->head_dim / 2 + 1) * sizeof(double));
    if (scratch_kv)
        w->ks = kn_alloc(ctx * kvdim * sizeof(float)), w->vs = kn_alloc(ctx * kvdim * sizeof(float));
    if (!w->x || !w->xb || !w->q || !w->att || !w->hb || (m->fam == FAM_LLAMA && !w->hu) || !w->scores || !w->inv_freq ||
        (scratch_kv && (!w->ks || !w->vs))) {
        ws_free(w);
        return ys_fail(err, YS_ENOMEM, "out of memory for a forward pass over %zu tokens", T);
    }
    return 0;
}

/* Append ids[0..T) at positions kv->len.. and leave the final-norm hidden
 * states ([T, H]) in *hidden, which points into ws (valid until ws's next
 * use). keep = 1 stores the new keys and values in kv and advances it;
 * keep = 0 (the scored part of a sequence, which no later call attends to)
 * puts them in ws's one-layer scratch behind a copy of the cache's rows, so
 * the cache only ever holds shared prefixes: a 1024-token GPT-2 window
 * needs 6 MB of scratch instead of a 75 MB cache. Same keys and values,
 * same layout: the same bits either way. ws must be reserved for T rows,
 * kv->len + T positions, and scratch_kv when keep = 0. */
static int forward(model *m, model_kv *kv, fwd_ws *ws, const int32_t *ids, size_t T, int keep,
                   const float **hidden, ys_error *err)
{
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn, hd = (size_t)mi->head_dim;
    size_t qdim = (size_t)mi->heads * hd, kvdim = kv->kvdim, pos0 = kv->len;
    *hidden = NULL;
    if (T == 0)
        return ys_fail(err, YS_EINPUT, "empty token sequence");
    if (keep && T > kv->cap - pos0)
        return ys_fail(err, YS_EINPUT, "%zu tokens do not fit the KV cache (%zu of %zu used)", T, pos0, kv->cap);
    if (mi->max_positions && pos0 + T > (size_t)mi->max_positions)
        return ys_fail(err, YS_EINPUT, "sequence of %zu tokens exceeds the model's %d positions",
                       pos0 + T, mi->max_positions);
    for (size_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= mi->vocab)
            return ys_fail(err, YS_EINPUT, "token %zu: id %d outside the vocabulary [0, %d)", t,
                           (int)ids[t], mi->vocab);
    int rc = ws_reserve(m, ws, T, pos0 + T, !keep, err);
    if (rc)
        return rc;
    m->blas.set_num_threads(1);

    float *x = ws->x, *xb = ws->xb, *q = ws->q, *att = ws->att, *hb = ws->hb, *hu = ws->hu;
    double *inv_freq = ws->inv_freq;
    for (size_t i = 0; i < hd / 2; i++)
        inv_freq[i] = pow(m->rope_theta, -(double)(2 * i) / (double)hd);

    for (size_t t = 0; t < T; t++) {
        embed_row(m, ids[t], x + t * H);
        if (m->pos_embed)
            for (size_t i = 0; i < H; i++)
                x[t * H + i] += m->pos_embed[(pos0 + t) * H + i];
    }

    for (int l = 0; l < mi->layers; l++) {
        const layer *L = &m->layers[l];
        float *kc = kv->k + (size_t)l * kv->cap * kvdim, *vc = kv->v + (size_t)l * kv->cap * kvdim;
        if (!keep) {
            memcpy(ws->ks, kc, pos0 * kvdim * sizeof *kc);
            memcpy(ws->vs, vc, pos0 * kvdim * sizeof *vc);
            kc = ws->ks, vc = ws->vs;
        }
        float scale = 1.0f;

        /* attention block: x += Wo attention(norm1(x)) */
        for (size_t t = 0; t < T; t++) {
            if (m->fam == FAM_GPT2)
                kn_layernorm(xb + t * H, x + t * H, L->norm1_w, L->norm1_b, H, m->eps);
            else
                kn_rmsnorm(xb + t * H, x + t * H, L->norm1_w, H, m->eps);
        }
        /* q into q, k and v straight into the key/value rows pos0.. */
        const float *bq = L->bq, *bk = L->bk, *bv = L->bv, *bo = L->bo;
        if (m->fam == FAM_GPT2) {
            bq = L->c_attn_b, bk = L->c_attn_b + H, bv = L->c_attn_b + 2 * H, bo = L->c_proj_b;
            if (m->scale_attn_weights)
                scale = 1.0f / sqrtf((float)hd);
            if (m->scale_attn_by_layer)
                scale /= (float)(l + 1);
        } else {
            scale = 1.0f / sqrtf((float)hd);
        }
        gm_call g = {.x = xb, .ldx = H, .w = &L->pq, .bias = bq, .y = q, .ldy = qdim, .n = T};
        gm_run(m->pool, &g);
        g.w = &L->pk, g.bias = bk, g.y = kc + pos0 * kvdim, g.ldy = kvdim;
        gm_run(m->pool, &g);
        g.w = &L->pv, g.bias = bv, g.y = vc + pos0 * kvdim;
        gm_run(m->pool, &g);
        if (m->fam == FAM_LLAMA) {
            rope_rows(q, T, qdim, mi->heads, (int)hd, pos0, inv_freq);
            rope_rows(kc + pos0 * kvdim, T, kvdim, mi->kv_heads, (int)hd, pos0, inv_freq);
        }
        size_t nrt = (T + KN_ROWS - 1) / KN_ROWS;
        attn_ctx ac = {m, q, kc, vc, att, T, pos0, kvdim, qdim, nrt, scale, ws->scores, KN_ROWS * ws->ctx};
        kn_pool_run(m->pool, (size_t)mi->heads * nrt, attn_tile, &ac);
        g = (gm_call){.x = att, .ldx = qdim, .w = &L->po, .bias = bo, .y = x, .ldy = H, .n = T, .accumulate = 1};
        gm_run(m->pool, &g);

        /* MLP block: x += down(act(up(norm2(x)))) */
        for (size_t t = 0; t < T; t++) {
            if (m->fam == FAM_GPT2)
                kn_layernorm(xb + t * H, x + t * H, L->norm2_w, L->norm2_b, H, m->eps);
            else
                kn_rmsnorm(xb + t * H, x + t * H, L->norm2_w, H, m->eps);
        }
        if (m->fam == FAM_GPT2) {
            g = (gm_call){.x = xb, .ldx = H, .w = &L->pgate, .bias = L->c_fc_b, .y = hb, .ldy = F, .n = T,
                          .act = m->mlp_act};
            gm_run(m->pool, &g);
        } else {
            /* SwiGLU: silu(x Wg) * (x Wu), two products then one pass */
            g = (gm_call){.x = xb, .ldx = H, .w = &L->pgate, .y = hb, .ldy = F, .n = T};
            gm_run(m->pool, &g);
            g.w = &L->pup, g.y = hu;
            gm_run(m->pool, &g);
            vm_silu_mul(GM_ISA_AUTO, hb, hu, T * F);
        }
        g = (gm_call){.x = hb, .ldx = F, .w = &L->pdown, .bias = m->fam == FAM_GPT2 ? L->mlp_proj_b : NULL,
                      .y = x, .ldy = H, .n = T, .accumulate = 1};
        gm_run(m->pool, &g);
    }
    for (size_t t = 0; t < T; t++) {
        if (m->fam == FAM_GPT2)
            kn_layernorm(xb + t * H, x + t * H, m->final_w, m->final_b, H, m->eps);
        else
            kn_rmsnorm(xb + t * H, x + t * H, m->final_w, H, m->eps);
    }
    if (keep)
        kv->len = pos0 + T;
    *hidden = xb;
    return 0;
}

/* logits[rows, V] = hidden[rows, H] lm_head^T (gemm.h). */
static void vocab_proj(model *m, const float *hidden, size_t rows, float *logits)
{
    size_t H = (size_t)m->info.hidden, V = (size_t)m->info.vocab;
    gm_call g = {.x = hidden, .ldx = H, .w = &m->phead, .y = logits, .ldy = V, .n = rows};
    gm_run(m->pool, &g);
}

/* ---- scoring ---------------------------------------------------------------
 * Per sequence scored from f (f > 1): two forward calls, the prefix
 * [0, f-1) and then the rest [f-1, n-1) (the last token is only predicted,
 * never input: a sequence may have max_positions + 1 tokens, as
 * lm-evaluation-harness's rolling windows do), through one KV cache. The split is a
 * function of the sequence and f alone, so the bits are too (the packed
 * GEMM does not care about the split; attention's OpenBLAS tiles do);
 * and when the previous sequence of the call had the same f and the same
 * prefix (the choices of one multiple-choice question, sorted together by
 * the runner) the prefix is already in the cache and is not recomputed —
 * with the same bits as if it were. f == 1 is one call over all but the
 * last token. Then the vocabulary projection, LOGIT_ROWS rows at a time
 * from row f-1, and log-softmax per row. */

/* Rows of logits computed at a time: each pass streams the whole packed
 * head (V x H floats) once, so more rows per pass means less memory
 * traffic, at LOGIT_ROWS x V floats of buffer (25 MB for GPT-2). */
#define LOGIT_ROWS 128

typedef struct lsm_ctx {
    const float *logits;   /* [rows, V] for sequence rows r0.. */
    const int32_t *ids;
    size_t r0, first, last, V, f;   /* rows [first, last] are wanted */
    double *lp;
    uint8_t *greedy;
    float *out_logits;
} lsm_ctx;

static void logsoftmax_row(void *vctx, size_t item, int worker)
{
    (void)worker;
    const lsm_ctx *c = vctx;
    size_t t = c->first + item;               /* sequence row: predicts ids[t + 1] */
    const float *z = c->logits + (t - c->r0) * c->V;
    size_t arg = 0;
    for (size_t j = 1; j < c->V; j++)
        if (z[j] > z[arg])
            arg = j;
    double sum = vm_exp_sum(GM_ISA_AUTO, NULL, z, c->V, z[arg]);
    size_t o = t + 1 - c->f;                  /* output index */
    int32_t next = c->ids[t + 1];
    c->lp[o] = (double)z[next] - (double)z[arg] - log(sum);
    if (c->greedy)
        c->greedy[o] = (size_t)next == arg;
    if (c->out_logits)
        memcpy(c->out_logits + o * c->V, z, c->V * sizeof *z);
}

int model_logprobs(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq,
                   const size_t *from, double *const *logprobs, uint8_t *const *greedy,
                   float *const *logits, ys_error *err)
{
    size_t V = (size_t)m->info.vocab;
    /* the cache holds prefixes only (forward's keep): sized for the
     * longest; the scored rest of every sequence goes through ws */
    size_t maxlen = 1, maxpre = 1;
    for (size_t s = 0; s < nseq; s++) {
        size_t f = from && from[s] > 1 ? from[s] : 1;
        maxlen = lens[s] > maxlen ? lens[s] : maxlen;
        maxpre = f - 1 > maxpre && f <= lens[s] ? f - 1 : maxpre;
    }
    float *buf = kn_alloc(LOGIT_ROWS * V * sizeof *buf);
    if (!buf)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    model_kv *kv = NULL;
    fwd_ws ws = {0};
    int rc = model_kv_new(m, maxpre, &kv, err);
    if (rc == 0)
        rc = ws_reserve(m, &ws, maxlen, maxlen, 1, err);
    size_t cached = 0;   /* sequence whose prefix the cache holds, +1 (0: none) */
    for (size_t s = 0; s < nseq && rc == 0; s++) {
        size_t n = lens[s], f = from && from[s] > 1 ? from[s] : 1;
        if (n == 0 || f > n) {
            rc = ys_fail(err, YS_EINPUT, "sequence %zu: length %zu, scoring from %zu", s, n, f);
            break;
        }
        for (size_t t = 0; t < n && rc == 0; t++)   /* targets too: forward sees all but the last */
            if (seqs[s][t] < 0 || seqs[s][t] >= m->info.vocab)
                rc = ys_fail(err, YS_EINPUT, "sequence %zu: token %zu: id %d outside the vocabulary [0, %d)", s, t,
                             (int)seqs[s][t], m->info.vocab);
        if (rc)
            break;
        if (f == n)
            continue;   /* nothing to score (e.g. a one-token sequence) */
        size_t p = f - 1;   /* prefix tokens; hidden row 0 is sequence row p */
        const size_t c = cached ? cached - 1 : 0;
        bool shared = cached && p > 0 && from && from[c] == f && !memcmp(seqs[c], seqs[s], p * sizeof *seqs[s]);
        const float *hidden = NULL;
        model_kv_truncate(kv, shared ? p : 0);
        if (p == 0)
            cached = 0;
        if (p > 0 && !shared) {
            rc = forward(m, kv, &ws, seqs[s], p, 1, &hidden, err);
            cached = rc == 0 ? s + 1 : 0;
        }
        /* the last token is only a target: rows p .. n-2 need tokens up
         * to n-2, so a window of max_positions + 1 tokens fits the model */
        if (rc == 0)
            rc = forward(m, kv, &ws, seqs[s] + p, n - 1 - p, 0, &hidden, err);
        if (rc) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            rc = ys_fail(err, rc, "sequence %zu: %s", s, msg);
            break;
        }
        /* wanted sequence rows p .. n-2 (row t predicts token t+1) */
        for (size_t r0 = p; r0 <= n - 2; r0 += LOGIT_ROWS) {
            size_t r1 = r0 + LOGIT_ROWS < n - 1 ? r0 + LOGIT_ROWS : n - 1;
            vocab_proj(m, hidden + (r0 - p) * (size_t)m->info.hidden, r1 - r0, buf);
            lsm_ctx lc = {buf, seqs[s], r0, r0, r1 - 1, V, f, logprobs[s],
                          greedy ? greedy[s] : NULL, logits ? logits[s] : NULL};
            kn_pool_run(m->pool, r1 - r0, logsoftmax_row, &lc);
        }
    }
    ws_free(&ws);
    model_kv_free(kv);
    free(buf);
    return rc;
}

/* ---- generation ---------------------------------------------------------- */

static int step(model *m, model_kv *kv, fwd_ws *ws, const int32_t *ids, size_t n, float *logits, ys_error *err)
{
    const float *hidden;
    int rc = forward(m, kv, ws, ids, n, 1, &hidden, err);
    if (rc == 0 && logits)
        vocab_proj(m, hidden + (n - 1) * (size_t)m->info.hidden, 1, logits);
    return rc;
}

int model_step(model *m, model_kv *kv, const int32_t *ids, size_t n, float *logits, ys_error *err)
{
    fwd_ws ws = {0};
    int rc = step(m, kv, &ws, ids, n, logits, err);
    ws_free(&ws);
    return rc;
}

/* splitmix64: a tiny, well-mixed generator; the whole stream follows from
 * the seed, and it lives on the caller's stack (no global state). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct { float z; int32_t id; } cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->z != y->z)
        return x->z > y->z ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;   /* stable: lower id first */
}

static int32_t argmax(const float *z, size_t V)
{
    size_t a = 0;
    for (size_t j = 1; j < V; j++)
        if (z[j] > z[a])
            a = j;
    return (int32_t)a;
}

/* temperature -> top-k -> top-p (the order HF's generate applies them),
 * then one uniform draw over the kept, renormalised probabilities. */
static int32_t sample(const float *z, size_t V, const model_sampling *sp, uint64_t *rng, cand *c, double *p)
{
    for (size_t j = 0; j < V; j++)
        c[j].z = z[j] / sp->temperature, c[j].id = (int32_t)j;
    qsort(c, V, sizeof *c, cand_cmp);
    size_t keep = sp->top_k > 0 && (size_t)sp->top_k < V ? (size_t)sp->top_k : V;
    double sum = 0;
    for (size_t j = 0; j < keep; j++)
        sum += p[j] = exp((double)c[j].z - (double)c[0].z);
    if (sp->top_p > 0 && sp->top_p < 1) {
        double acc = 0;
        size_t j = 0;
        while (j < keep && acc < sp->top_p * sum)
            acc += p[j++];
        keep = j ? j : 1;
        sum = acc > 0 ? acc : p[0];
    }
    double u = (double)(rng_next(rng) >> 11) * 0x1p-53 * sum, acc = 0;
    for (size_t j = 0; j < keep; j++) {
        acc += p[j];
        if (u < acc)
            return c[j].id;
    }
    return c[keep - 1].id;
}

int model_generate(model *m, const int32_t *prompt, size_t n_prompt, size_t max_new,
                   const model_sampling *sp, model_stop_fn stop, void *user, int32_t *out,
                   size_t *n_out, ys_error *err)
{
    *n_out = 0;
    if (n_prompt == 0)
        return ys_fail(err, YS_EINPUT, "generation needs a prompt of at least one token");
    size_t V = (size_t)m->info.vocab, cap = n_prompt + max_new;
    /* GPT-2 cannot see past n_positions: generation stops there */
    if (m->info.max_positions && cap > (size_t)m->info.max_positions)
        cap = n_prompt > (size_t)m->info.max_positions ? n_prompt : (size_t)m->info.max_positions;
    int sampling = sp && sp->temperature > 0;
    uint64_t rng = sp ? sp->seed : 0;
    float *logits = malloc(V * sizeof *logits);
    cand *c = sampling ? malloc(V * sizeof *c) : NULL;
    double *p = sampling ? malloc(V * sizeof *p) : NULL;
    model_kv *kv = NULL;
    fwd_ws ws = {0};   /* sized by the prompt step for the whole generation */
    int rc = 0;
    if (!logits || (sampling && (!c || !p)))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = model_kv_new(m, cap, &kv, err);
    if (rc == 0)
        rc = ws_reserve(m, &ws, n_prompt, cap, 0, err);
    if (rc == 0)
        rc = step(m, kv, &ws, prompt, n_prompt, logits, err);
    while (rc == 0 && *n_out < max_new) {
        int32_t tok = sampling ? sample(logits, V, sp, &rng, c, p) : argmax(logits, V);
        out[(*n_out)++] = tok;
        if ((stop && stop(out, *n_out, user)) || *n_out == max_new || model_kv_len(kv) == cap)
            break;
        rc = step(m, kv, &ws, &tok, 1, logits, err);
    }
    ws_free(&ws);
    model_kv_free(kv);
    free(logits);
    free(c);
    free(p);
    return rc;
}
