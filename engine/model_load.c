/* model_load.c — loading GPT-2 and Llama-family decoders: the
 * architecture and configuration from config.json, every tensor bound
 * with the shape the configuration implies, every matrix packed for
 * gemm.h (the checkpoint's pages given back), the thread pool, and
 * freeing. The forward pass, scoring and generation are in model.c. */
#include "model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_pack.h"
#include "threads.h"

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
 * checkpoint's (ckpt_pack.h gives the mapped pages back as it goes), so the
 * resident size does not double (a tied embedding is then read from the
 * packed head, see embed_row). Packing runs on the pool: most of its time
 * is the kernel zeroing fresh pages, which goes as fast as the cores
 * touching them. */

/* A layer's tensors (at most 7). GPT-2's c_attn [H, 3H] is three jobs:
 * columns 0..H are q, H..2H k, 2H..3H v. */
static size_t layer_jobs(const model *m, layer *L, gm_job *j)
{
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn;
    size_t qd = (size_t)mi->heads * (size_t)mi->head_dim, kvd = (size_t)mi->kv_heads * (size_t)mi->head_dim;
    if (m->fam == FAM_GPT2) {
        j[0] = ckpt_pack_job(&L->pq, L->c_attn, 0, 3 * H, KN_IN_OUT, H, H);
        j[1] = ckpt_pack_job(&L->pk, L->c_attn, H, 3 * H, KN_IN_OUT, H, H);
        j[2] = ckpt_pack_job(&L->pv, L->c_attn, 2 * H, 3 * H, KN_IN_OUT, H, H);
        j[3] = ckpt_pack_job(&L->po, L->c_proj, 0, H, KN_IN_OUT, H, H);
        j[4] = ckpt_pack_job(&L->pgate, L->c_fc, 0, F, KN_IN_OUT, H, F);
        j[5] = ckpt_pack_job(&L->pdown, L->mlp_proj, 0, H, KN_IN_OUT, F, H);
        return 6;
    }
    j[0] = ckpt_pack_job(&L->pq, L->wq, 0, H, KN_OUT_IN, H, qd);
    j[1] = ckpt_pack_job(&L->pk, L->wk, 0, H, KN_OUT_IN, H, kvd);
    j[2] = ckpt_pack_job(&L->pv, L->wv, 0, H, KN_OUT_IN, H, kvd);
    j[3] = ckpt_pack_job(&L->po, L->wo, 0, qd, KN_OUT_IN, qd, H);
    j[4] = ckpt_pack_job(&L->pgate, L->w_gate, 0, H, KN_OUT_IN, H, F);
    j[5] = ckpt_pack_job(&L->pup, L->w_up, 0, H, KN_OUT_IN, H, F);
    j[6] = ckpt_pack_job(&L->pdown, L->w_down, 0, F, KN_OUT_IN, F, H);
    return 7;
}

static int pack_weights(model *m, ys_error *err)
{
    const model_info *mi = &m->info;
    gm_job *jobs = malloc(((size_t)mi->layers * 7 + 1) * sizeof *jobs);
    if (!jobs)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    size_t n = 0;
    for (int l = 0; l < mi->layers; l++)
        n += layer_jobs(m, &m->layers[l], jobs + n);
    jobs[n++] = ckpt_pack_job(&m->phead, m->lm_head, 0, (size_t)mi->hidden, KN_OUT_IN, (size_t)mi->hidden, (size_t)mi->vocab);
    int rc = ckpt_pack_all(m->ck, m->pool, jobs, n);
    free(jobs);
    m->tied = m->lm_head.p == m->wte.p;
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory packing the weights") : 0;
}

int model_load(const char *dir, model **out, ys_error *err) { return model_load_adapter(dir, NULL, out, err); }

int model_load_adapter(const char *dir, const char *adapter_dir, model **out, ys_error *err)
{
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = ckpt_open_adapted(dir, adapter_dir, &m->ck, err);
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
    if (rc == 0)
        rc = ckpt_adapter_check(m->ck, err);
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
