/* model_load.c — loading decoder-only language models: which architecture
 * a folder holds (the table below), its configuration from config.json,
 * every tensor bound with the shape the configuration implies, every
 * matrix packed for gemm.h (the checkpoint's pages given back), the thread
 * pool, and freeing. The forward pass, scoring and generation are in
 * model.c, RoPE frequencies in model_rope.c.
 *
 * An architecture is data: a row of ARCHS (naming scheme and features)
 * turned by config_decoder into the description model.c runs (norm kind,
 * residual layout, MLP, q/k/v storage, q/k norms, RoPE, soft-caps,
 * windows). Options a supported architecture may carry but the engine does
 * not implement fail the load with a message naming them, never silently
 * computing something else. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_pack.h"
#include "threads.h"

enum {
    A_GPT2 = 1 << 0,      /* GPT-2's own keys, Conv1D tensors, learned positions */
    A_NEOX = 1 << 1,      /* GPT-NeoX keys and names, LayerNorm, per-head fused qkv */
    A_QKV_BIAS = 1 << 2,  /* q/k/v biases always (Qwen2) */
    A_QK_NORM = 1 << 3,   /* RMSNorm of each query and key head before RoPE (Qwen3, Gemma 3) */
    A_GEMMA = 1 << 4,     /* (1 + w) RMSNorm, embeddings times sqrt(hidden), GeGLU, tied */
    A_SANDWICH = 1 << 5,  /* norms after attention and MLP too (Gemma 2, 3) */
    A_FUSED = 1 << 6,     /* qkv_proj and gate_up_proj (Phi-3) */
    A_WINDOW = 1 << 7,    /* sliding_window on every layer (Mistral, Phi-3) */
    A_ALT = 1 << 8,       /* sliding and global layers alternate (Gemma 2) */
    A_PATTERN = 1 << 9,   /* every n-th layer global, local RoPE base (Gemma 3) */
    A_SOFTCAP = 1 << 10,  /* attention and final logit soft-capping (Gemma 2, 3) */
    A_QWEN = 1 << 11,     /* use_sliding_window must be off (Qwen2, 3) */
    A_ATTN_BIAS = 1 << 12,/* attention_bias adds q/k/v/o biases (Llama, Qwen3, Gemma) */
    A_PRE_SCALAR = 1 << 13,/* query_pre_attn_scalar (Gemma 2, 3) */
    A_ROPE_RESET = 1 << 14,/* generation recomputes the cache when longrope switches (Phi-3) */
};

typedef struct arch_desc {
    const char *name;       /* config.json "architectures"[0] */
    const char *type;       /* its "model_type", when "architectures" is absent */
    unsigned flags;
    int head_dim;           /* the config class's default head_dim (0: hidden / heads) */
    double theta;           /* default rope_theta */
    double eps;             /* default norm epsilon */
    int tied;               /* default tie_word_embeddings */
    int orig_max;           /* default original_max_position_embeddings (Phi-3), 0: none */
} arch_desc;

static const arch_desc ARCHS[] = {
    {"GPT2LMHeadModel", "gpt2", A_GPT2, 0, 0, 1e-5, 1, 0},
    {"LlamaForCausalLM", "llama", A_ATTN_BIAS, 0, 10000, 1e-6, 0, 0},
    {"MistralForCausalLM", "mistral", A_WINDOW, 0, 10000, 1e-6, 0, 0},
    {"Qwen2ForCausalLM", "qwen2", A_QKV_BIAS | A_QWEN, 0, 10000, 1e-6, 0, 0},
    {"Qwen3ForCausalLM", "qwen3", A_QK_NORM | A_QWEN | A_ATTN_BIAS, 128, 10000, 1e-6, 0, 0},
    {"GemmaForCausalLM", "gemma", A_GEMMA | A_ATTN_BIAS, 256, 10000, 1e-6, 1, 0},
    {"Gemma2ForCausalLM", "gemma2", A_GEMMA | A_ATTN_BIAS | A_SANDWICH | A_ALT | A_SOFTCAP | A_PRE_SCALAR, 256,
     10000, 1e-6, 1, 0},
    {"Gemma3ForCausalLM", "gemma3_text",
     A_GEMMA | A_ATTN_BIAS | A_SANDWICH | A_PATTERN | A_SOFTCAP | A_PRE_SCALAR | A_QK_NORM, 256, 1e6, 1e-6, 1, 0},
    {"Phi3ForCausalLM", "phi3", A_FUSED | A_WINDOW | A_ROPE_RESET, 0, 10000, 1e-5, 0, 4096},
    {"GPTNeoXForCausalLM", "gpt_neox", A_NEOX, 0, 10000, 1e-5, 0, 0},
};
#define NARCHS (sizeof ARCHS / sizeof ARCHS[0])

/* "GPT2LMHeadModel, LlamaForCausalLM, ..." */
static void supported_list(char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < NARCHS && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", ARCHS[i].name);
}

static const arch_desc *resolve_arch(model *m, ys_error *err)
{
    const cJSON *cfg = ckpt_config(m->ck);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    char list[512];
    supported_list(list, sizeof list);
    const arch_desc *a = NULL;
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0))) {
        const char *name = cJSON_GetArrayItem(archs, 0)->valuestring;
        for (size_t i = 0; i < NARCHS; i++)
            if (!strcmp(name, ARCHS[i].name))
                a = &ARCHS[i];
        if (!a) {
            ys_fail(err, YS_EINPUT, "%s/config.json: architecture \"%.60s\" is not supported (supported: %s)",
                    ckpt_dir(m->ck), name, list);
            return NULL;
        }
    } else {
        const char *type = NULL;
        if (ckpt_config_str(m->ck, "model_type", NULL, &type, err) < 0)
            return NULL;
        for (size_t i = 0; type && i < NARCHS; i++)
            if (!strcmp(type, ARCHS[i].type))
                a = &ARCHS[i];
        if (!a) {
            ys_fail(err, YS_EINPUT, "%s/config.json: no \"architectures\" and model_type \"%.40s\" is not "
                    "supported (supported: %s)", ckpt_dir(m->ck), type ? type : "(none)", list);
            return NULL;
        }
    }
    snprintf(m->arch, sizeof m->arch, "%s", a->name);
    m->info.arch = m->arch;
    return a;
}

/* ---- configuration ------------------------------------------------------- */

static int config_gpt2(model *m, ys_error *err)
{
    model_info *mi = &m->info;
    long n_ctx;
    int rc, scale_attn;
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
        (rc = ckpt_config_bool(m->ck, "scale_attn_weights", 1, &scale_attn, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "scale_attn_by_inverse_layer_idx", 0, &m->scale_attn_by_layer, err)) < 0)
        return rc;
    if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        m->mlp_act = GM_ACT_GELU_TANH;
    else if (!strcmp(act, "gelu"))
        m->mlp_act = GM_ACT_GELU_ERF;
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: activation_function \"%.40s\" is not supported "
                       "(gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)", ckpt_dir(m->ck), act);
    m->norm = NORM_LAYER, m->res = RES_SEQUENTIAL, m->qkv = QKV_SPLIT;
    m->attn_scale = scale_attn ? 1.0f / sqrtf((float)mi->head_dim) : 1.0f;
    return 0;
}

/* hidden_act / hidden_activation -> the MLP's activation. */
static int parse_act(model *m, const char *key, const char *act, ys_error *err)
{
    m->silu = 0;
    if (!strcmp(act, "silu") || !strcmp(act, "swish"))
        m->silu = 1;
    else if (!strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_new") || !strcmp(act, "gelu_fast"))
        m->mlp_act = GM_ACT_GELU_TANH;
    else if (!strcmp(act, "gelu"))
        m->mlp_act = GM_ACT_GELU_ERF;
    else if (!strcmp(act, "relu"))
        m->mlp_act = GM_ACT_RELU;
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: %s \"%.40s\" is not supported (silu, gelu, "
                       "gelu_pytorch_tanh, gelu_new, gelu_fast, relu)", ckpt_dir(m->ck), key, act);
    if (m->silu && !m->gated)
        return ys_fail(err, YS_EINPUT, "%s/config.json: %s \"silu\" without a gated MLP is not supported",
                       ckpt_dir(m->ck), key);
    return 0;
}

/* A boolean option the engine does not implement: present and true fails. */
static int refuse(model *m, const char *key, ys_error *err)
{
    int on;
    int rc = ckpt_config_bool(m->ck, key, 0, &on, err);
    if (rc < 0)
        return rc;
    return on ? ys_fail(err, YS_EINPUT, "%s/config.json: %s is not supported for %s", ckpt_dir(m->ck), key,
                        m->arch) : 0;
}

/* The window of every layer: Gemma 2 alternates (layer_types, or even
 * layers sliding), Gemma 3 makes every pattern-th layer global (layer_types,
 * or sliding_window_pattern), Mistral and Phi-3 slide everywhere. */
static int config_windows(model *m, const arch_desc *a, long window, ys_error *err)
{
    const char *dir = ckpt_dir(m->ck);
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(ckpt_config(m->ck), "layer_types");
    int L = m->info.layers, rc;
    if (!(a->flags & (A_WINDOW | A_ALT | A_PATTERN)))
        return 0;
    if (window < 0 || window > (1L << 30))
        return ys_fail(err, YS_EINPUT, "%s/config.json: sliding_window %ld out of range", dir, window);
    m->info.sliding_window = (int)window;
    long pattern = 2;
    if ((a->flags & A_PATTERN) && (rc = ckpt_config_int(m->ck, "sliding_window_pattern", 6, &pattern, err)) < 0)
        return rc;
    if (pattern < 1)
        return ys_fail(err, YS_EINPUT, "%s/config.json: sliding_window_pattern must be positive", dir);
    if ((a->flags & (A_ALT | A_PATTERN)) && types && !cJSON_IsNull(types) &&
        (!cJSON_IsArray(types) || cJSON_GetArraySize(types) != L))
        return ys_fail(err, YS_EINPUT, "%s/config.json: layer_types must list num_hidden_layers (%d) layers", dir, L);
    for (int l = 0; l < L; l++) {
        int sliding = 1;
        if (a->flags & (A_ALT | A_PATTERN)) {
            const cJSON *t = cJSON_IsArray(types) ? cJSON_GetArrayItem(types, l) : NULL;
            if (t) {
                if (!cJSON_IsString(t) || (strcmp(t->valuestring, "sliding_attention") &&
                                           strcmp(t->valuestring, "full_attention")))
                    return ys_fail(err, YS_EINPUT, "%s/config.json: layer_types[%d] must be \"sliding_attention\" "
                                   "or \"full_attention\"", dir, l);
                sliding = !strcmp(t->valuestring, "sliding_attention");
            } else {
                sliding = (l + 1) % pattern != 0;
            }
        }
        m->layers[l].window = sliding ? (int)window : 0;
        if (sliding && (a->flags & A_PATTERN))
            m->layers[l].rope = &m->rope[1];
    }
    return 0;
}

/* rope_scaling, or (transformers >= 4.56) rope_parameters, possibly per
 * layer kind ({"full_attention": {...}, "sliding_attention": {...}}). */
static int rope_scaling_obj(model *m, const char *kind, const cJSON **out, ys_error *err)
{
    const cJSON *cfg = ckpt_config(m->ck);
    const char *keys[] = {"rope_scaling", "rope_parameters"};
    *out = NULL;
    for (int i = 0; i < 2; i++) {
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, keys[i]);
        if (!rs || cJSON_IsNull(rs))
            continue;
        if (!cJSON_IsObject(rs))
            return ys_fail(err, YS_EINPUT, "%s/config.json: %s must be an object", ckpt_dir(m->ck), keys[i]);
        const cJSON *per = cJSON_GetObjectItemCaseSensitive(rs, kind);
        if (cJSON_IsObject(per))
            rs = per;
        else if (cJSON_GetObjectItemCaseSensitive(rs, "full_attention"))
            continue;   /* per-kind parameters without this kind */
        *out = rs;
        return 0;
    }
    return 0;
}

static int config_rope(model *m, const arch_desc *a, ys_error *err)
{
    const char *dir = ckpt_dir(m->ck);
    const cJSON *cfg = ckpt_config(m->ck);
    model_info *mi = &m->info;
    double prf = 1, theta;
    int rc;
    if (a->flags & A_NEOX) {
        if ((rc = ckpt_config_num(m->ck, "rotary_pct", 0.25, &prf, err)) < 0 ||
            (rc = ckpt_config_num(m->ck, "rotary_emb_base", 10000, &theta, err)) < 0 ||
            (rc = ckpt_config_num(m->ck, "rope_theta", theta, &theta, err)) < 0)
            return rc;
    } else if ((rc = ckpt_config_num(m->ck, "partial_rotary_factor", 1.0, &prf, err)) < 0 ||
               (rc = ckpt_config_num(m->ck, "rope_theta", a->theta, &theta, err)) < 0) {
        return rc;
    }
    int dim = (int)(mi->head_dim * prf);
    if (!(prf > 0 && prf <= 1) || dim < 2 || dim % 2)
        return ys_fail(err, YS_EINPUT, "%s/config.json: the rotary fraction %g of head_dim %d gives %d dimensions "
                       "(must be a positive even number)", dir, prf, mi->head_dim, dim);
    long orig = a->orig_max;
    if ((rc = ckpt_config_int(m->ck, "original_max_position_embeddings", orig, &orig, err)) < 0)
        return rc;
    const cJSON *rs;
    for (int set = 0; set < ((a->flags & A_PATTERN) ? 2 : 1); set++) {
        rope_cfg *r = &m->rope[set];
        r->dim = dim, r->theta = theta, r->orig_max = (int)orig;
        if ((rc = rope_scaling_obj(m, set ? "sliding_attention" : "full_attention", &rs, err)) < 0)
            return rc;
        if (set == 1) {   /* Gemma 3's local layers: their own base, unscaled unless given per kind */
            const cJSON *rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_parameters");
            const cJSON *per = cJSON_IsObject(rp) ? cJSON_GetObjectItemCaseSensitive(rp, "sliding_attention") : NULL;
            rs = cJSON_IsObject(per) ? per : NULL;
            if ((rc = ckpt_config_num(m->ck, "rope_local_base_freq", 10000, &r->theta, err)) < 0)
                return rc;
        }
        const cJSON *th = rs ? cJSON_GetObjectItemCaseSensitive(rs, "rope_theta") : NULL;
        if (cJSON_IsNumber(th))
            r->theta = th->valuedouble;
        if (!(r->theta > 1))
            return ys_fail(err, YS_EINPUT, "%s/config.json: rope_theta must be greater than 1", dir);
        if ((rc = rope_config(cfg, rs, dir, r, err)) != 0)
            return rc;
        if (r->type == ROPE_DYNAMIC || r->type == ROPE_LONGROPE)
            m->rope_by_len = 1;
        if (r->type == ROPE_LONGROPE && (a->flags & A_ROPE_RESET))
            m->rope_reset = (size_t)r->orig_max;
    }
    for (int l = 0; l < mi->layers; l++)
        m->layers[l].rope = &m->rope[0];
    return 0;
}

static int config_decoder(model *m, const arch_desc *a, ys_error *err)
{
    model_info *mi = &m->info;
    const char *dir = ckpt_dir(m->ck);
    int neox = (a->flags & A_NEOX) != 0, rc;
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "hidden_size", 0, &mi->hidden, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_hidden_layers", 0, &mi->layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_attention_heads", 0, &mi->heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_key_value_heads", mi->heads, &mi->kv_heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "intermediate_size", 0, &mi->ffn, err)))
        return rc;
    if (mi->heads % mi->kv_heads)
        return ys_fail(err, YS_EINPUT, "%s/config.json: num_attention_heads %d is not a multiple of "
                       "num_key_value_heads %d", dir, mi->heads, mi->kv_heads);
    if (neox && mi->kv_heads != mi->heads)
        return ys_fail(err, YS_EINPUT, "%s/config.json: num_key_value_heads is not supported for GPT-NeoX", dir);
    long hd = 0;
    if (!neox && (rc = ckpt_config_int(m->ck, "head_dim", a->head_dim, &hd, err)) < 0)
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
    if (!(m->layers = calloc((size_t)mi->layers, sizeof *m->layers)))
        return ys_fail(err, YS_ENOMEM, "out of memory");

    /* norms and residual layout */
    m->norm = neox ? NORM_LAYER : NORM_RMS;
    m->res = (a->flags & A_SANDWICH) ? RES_SANDWICH : RES_SEQUENTIAL;
    if (neox) {
        int par;
        if ((rc = ckpt_config_bool(m->ck, "use_parallel_residual", 1, &par, err)) < 0)
            return rc;
        m->res = par ? RES_PARALLEL : RES_SEQUENTIAL;
    }
    if ((rc = ckpt_config_num(m->ck, neox ? "layer_norm_eps" : "rms_norm_eps", a->eps, &m->eps, err)) < 0)
        return rc;
    if (!(m->eps >= 0))
        return ys_fail(err, YS_EINPUT, "%s/config.json: the norm epsilon must not be negative", dir);
    m->qkv = neox ? QKV_HEADS : QKV_SPLIT;

    /* MLP */
    m->gated = !neox;
    const char *act;
    /* Gemma 2 and 3 read hidden_activation. Gemma 1 reads hidden_act in
     * transformers 4.5x (GemmaMLP is LlamaMLP; 4.38-4.44 read
     * hidden_activation instead), both defaulting to gelu_pytorch_tanh. */
    const char *act_key = (a->flags & A_SANDWICH) ? "hidden_activation" : "hidden_act";
    const char *act_dflt = (a->flags & A_GEMMA) ? "gelu_pytorch_tanh" : neox ? "gelu" : "silu";
    if ((rc = ckpt_config_str(m->ck, act_key, act_dflt, &act, err)) < 0 || (rc = parse_act(m, act_key, act, err)) < 0)
        return rc;
    if (!neox && (rc = refuse(m, "mlp_bias", err)) < 0)
        return rc;
    if ((a->flags & A_QWEN) && (rc = refuse(m, "use_sliding_window", err)) < 0)
        return rc;

    /* attention */
    m->attn_scale = 1.0f / sqrtf((float)mi->head_dim);
    if (a->flags & A_PRE_SCALAR) {
        double s;
        if ((rc = ckpt_config_num(m->ck, "query_pre_attn_scalar", 256, &s, err)) < 0)
            return rc;
        if (!(s > 0))
            return ys_fail(err, YS_EINPUT, "%s/config.json: query_pre_attn_scalar must be positive", dir);
        m->attn_scale = (float)(1.0 / sqrt(s));
    }
    if (a->flags & A_SOFTCAP) {
        /* Gemma 2's defaults are 50 and 30; Gemma 3's none */
        int g2 = (a->flags & A_ALT) != 0;
        double ac, fc;
        if ((rc = ckpt_config_num(m->ck, "attn_logit_softcapping", g2 ? 50.0 : 0, &ac, err)) < 0 ||
            (rc = ckpt_config_num(m->ck, "final_logit_softcapping", g2 ? 30.0 : 0, &fc, err)) < 0)
            return rc;
        if (ac < 0 || fc < 0)
            return ys_fail(err, YS_EINPUT, "%s/config.json: soft-capping values must not be negative", dir);
        m->attn_softcap = (float)ac, m->final_softcap = (float)fc;
    }
    if (a->flags & A_GEMMA)
        m->embed_scale = (float)sqrt((double)mi->hidden);
    if ((rc = config_rope(m, a, err)) != 0)
        return rc;
    long window = 0;
    if ((a->flags & (A_WINDOW | A_ALT | A_PATTERN)) &&
        (rc = ckpt_config_int(m->ck, "sliding_window", (a->flags & A_WINDOW) ? 0 : 4096, &window, err)) < 0)
        return rc;
    return config_windows(m, a, window, err);
}

/* ---- weights --------------------------------------------------------------
 * Every tensor the forward pass reads is bound here, with the shape the
 * configuration implies; a missing or misshapen tensor fails the load. */

#define NEED(ndim, d0, d1, dst, ...) \
    (snprintf(n, sizeof n, __VA_ARGS__), (rc = ckpt_need(m->ck, n, ndim, d0, d1, dst, err)) != 0)
#define NEED_SRC(ndim, d0, d1, dst, ...) \
    (snprintf(n, sizeof n, __VA_ARGS__), (rc = ckpt_need_src(m->ck, n, ndim, d0, d1, dst, err)) != 0)

static int bind_gpt2(model *m, ys_error *err)
{
    const model_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn;
    /* hub GPT-2 files name tensors "h.0..."; save_pretrained writes
     * "transformer.h.0..." */
    const char *pre = ckpt_get(m->ck, "transformer.wte.weight") ? "transformer." : "";
    /* a GGUF file stores the Conv1D weights transposed, as nn.Linear's */
    int lin = ckpt_gguf(m->ck) != NULL;
    int64_t Q0 = lin ? 3 * H : H, Q1 = lin ? H : 3 * H, U0 = lin ? F : H, U1 = lin ? H : F;
    char n[256];
    int rc;
    if (NEED_SRC(2, mi->vocab, H, &m->wte, "%swte.weight", pre) ||
        NEED(2, mi->max_positions, H, &m->pos_embed, "%swpe.weight", pre) ||
        NEED(1, H, 0, &m->final_w, "%sln_f.weight", pre) || NEED(1, H, 0, &m->final_b, "%sln_f.bias", pre))
        return rc;
    for (int l = m->layer0; l < m->layer1; l++) {   /* a pipeline stage binds its own layers */
        layer *L = &m->layers[l];
        if (NEED(1, H, 0, &L->n1_w, "%sh.%d.ln_1.weight", pre, l) ||
            NEED(1, H, 0, &L->n1_b, "%sh.%d.ln_1.bias", pre, l) ||
            NEED_SRC(2, Q0, Q1, &L->wqkv, "%sh.%d.attn.c_attn.weight", pre, l) ||
            NEED(1, 3 * H, 0, &L->bqkv, "%sh.%d.attn.c_attn.bias", pre, l) ||
            NEED_SRC(2, H, H, &L->wo, "%sh.%d.attn.c_proj.weight", pre, l) ||
            NEED(1, H, 0, &L->bo, "%sh.%d.attn.c_proj.bias", pre, l) ||
            NEED(1, H, 0, &L->n2_w, "%sh.%d.ln_2.weight", pre, l) ||
            NEED(1, H, 0, &L->n2_b, "%sh.%d.ln_2.bias", pre, l) ||
            NEED_SRC(2, U0, U1, &L->w_up, "%sh.%d.mlp.c_fc.weight", pre, l) ||
            NEED(1, F, 0, &L->b_up, "%sh.%d.mlp.c_fc.bias", pre, l) ||
            NEED_SRC(2, U1, U0, &L->w_down, "%sh.%d.mlp.c_proj.weight", pre, l) ||
            NEED(1, H, 0, &L->b_down, "%sh.%d.mlp.c_proj.bias", pre, l))
            return rc;
        L->bq = L->bqkv, L->bk = L->bqkv + H, L->bv = L->bqkv + 2 * H;
    }
    int tied;
    if ((rc = ckpt_config_bool(m->ck, "tie_word_embeddings", 1, &tied, err)) < 0)
        return rc;
    m->lm_head = m->wte;
    if (!tied && NEED_SRC(2, mi->vocab, H, &m->lm_head, "lm_head.weight"))
        return rc;
    return 0;
}

/* Gemma's RMSNorm multiplies by (1 + w), rounded to fp32 as HF computes it
 * (`1.0 + weight.float()`); the sum is made once here. */
static int plus_one(model *m, const float **w, size_t n, ys_error *err)
{
    float **o = realloc(m->owned, (m->nowned + 1) * sizeof *o);
    if (!o)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    m->owned = o;
    float *c = malloc(n * sizeof *c);
    if (!c)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        c[i] = 1.0f + (*w)[i];
    m->owned[m->nowned++] = c;
    *w = c;
    return 0;
}

static int bind_neox(model *m, ys_error *err)
{
    const model_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn;
    int rc, bias, tied;
    char n[256];
    if ((rc = ckpt_config_bool(m->ck, "attention_bias", 1, &bias, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "tie_word_embeddings", 0, &tied, err)) < 0)
        return rc;
    if (NEED_SRC(2, mi->vocab, H, &m->wte, "gpt_neox.embed_in.weight") ||
        NEED(1, H, 0, &m->final_w, "gpt_neox.final_layer_norm.weight") ||
        NEED(1, H, 0, &m->final_b, "gpt_neox.final_layer_norm.bias"))
        return rc;
    m->lm_head = m->wte;
    if (!tied && NEED_SRC(2, mi->vocab, H, &m->lm_head, "embed_out.weight"))
        return rc;
    for (int l = m->layer0; l < m->layer1; l++) {
        layer *L = &m->layers[l];
        const char *p = "gpt_neox.layers";
        if (NEED(1, H, 0, &L->n1_w, "%s.%d.input_layernorm.weight", p, l) ||
            NEED(1, H, 0, &L->n1_b, "%s.%d.input_layernorm.bias", p, l) ||
            NEED(1, H, 0, &L->n2_w, "%s.%d.post_attention_layernorm.weight", p, l) ||
            NEED(1, H, 0, &L->n2_b, "%s.%d.post_attention_layernorm.bias", p, l) ||
            NEED_SRC(2, 3 * H, H, &L->wqkv, "%s.%d.attention.query_key_value.weight", p, l) ||
            NEED_SRC(2, H, H, &L->wo, "%s.%d.attention.dense.weight", p, l) ||
            NEED_SRC(2, F, H, &L->w_up, "%s.%d.mlp.dense_h_to_4h.weight", p, l) ||
            NEED(1, F, 0, &L->b_up, "%s.%d.mlp.dense_h_to_4h.bias", p, l) ||
            NEED_SRC(2, H, F, &L->w_down, "%s.%d.mlp.dense_4h_to_h.weight", p, l) ||
            NEED(1, H, 0, &L->b_down, "%s.%d.mlp.dense_4h_to_h.bias", p, l))
            return rc;
        if (bias && (NEED(1, 3 * H, 0, &L->bqkv, "%s.%d.attention.query_key_value.bias", p, l) ||
                     NEED(1, H, 0, &L->bo, "%s.%d.attention.dense.bias", p, l)))
            return rc;
    }
    return 0;
}

/* The Llama naming scheme (Llama, Mistral, Qwen2/3, Gemma 1/2/3, Phi-3). */
static int bind_llama(model *m, const arch_desc *a, ys_error *err)
{
    const model_info *mi = &m->info;
    int64_t H = mi->hidden, F = mi->ffn, hd = mi->head_dim, q = (int64_t)mi->heads * hd,
            kv = (int64_t)mi->kv_heads * hd;
    int rc, attn_bias = 0, tied;
    int gemma = (a->flags & A_GEMMA) != 0;
    if ((a->flags & A_ATTN_BIAS) && (rc = ckpt_config_bool(m->ck, "attention_bias", 0, &attn_bias, err)) < 0)
        return rc;
    if ((rc = ckpt_config_bool(m->ck, "tie_word_embeddings", a->tied, &tied, err)) < 0)
        return rc;
    char n[256];
    if (NEED_SRC(2, mi->vocab, H, &m->wte, "model.embed_tokens.weight") ||
        NEED(1, H, 0, &m->final_w, "model.norm.weight"))
        return rc;
    if (gemma && (rc = plus_one(m, &m->final_w, (size_t)H, err)))
        return rc;
    m->lm_head = m->wte;
    if (!tied && NEED_SRC(2, mi->vocab, H, &m->lm_head, "lm_head.weight"))
        return rc;
    for (int l = m->layer0; l < m->layer1; l++) {
        layer *L = &m->layers[l];
        const char *p = "model.layers";
        if (NEED(1, H, 0, &L->n1_w, "%s.%d.input_layernorm.weight", p, l))
            return rc;
        if (m->res == RES_SANDWICH) {
            if (NEED(1, H, 0, &L->ao_w, "%s.%d.post_attention_layernorm.weight", p, l) ||
                NEED(1, H, 0, &L->n2_w, "%s.%d.pre_feedforward_layernorm.weight", p, l) ||
                NEED(1, H, 0, &L->mo_w, "%s.%d.post_feedforward_layernorm.weight", p, l))
                return rc;
        } else if (NEED(1, H, 0, &L->n2_w, "%s.%d.post_attention_layernorm.weight", p, l)) {
            return rc;
        }
        if (a->flags & A_FUSED) {
            if (NEED_SRC(2, q + 2 * kv, H, &L->wqkv, "%s.%d.self_attn.qkv_proj.weight", p, l) ||
                NEED_SRC(2, 2 * F, H, &L->w_gate_up, "%s.%d.mlp.gate_up_proj.weight", p, l))
                return rc;
        } else if (NEED_SRC(2, q, H, &L->wq, "%s.%d.self_attn.q_proj.weight", p, l) ||
                   NEED_SRC(2, kv, H, &L->wk, "%s.%d.self_attn.k_proj.weight", p, l) ||
                   NEED_SRC(2, kv, H, &L->wv, "%s.%d.self_attn.v_proj.weight", p, l) ||
                   NEED_SRC(2, F, H, &L->w_gate, "%s.%d.mlp.gate_proj.weight", p, l) ||
                   NEED_SRC(2, F, H, &L->w_up, "%s.%d.mlp.up_proj.weight", p, l)) {
            return rc;
        }
        if (NEED_SRC(2, H, q, &L->wo, "%s.%d.self_attn.o_proj.weight", p, l) ||
            NEED_SRC(2, H, F, &L->w_down, "%s.%d.mlp.down_proj.weight", p, l))
            return rc;
        if ((a->flags & A_QK_NORM) && (NEED(1, hd, 0, &L->qn_w, "%s.%d.self_attn.q_norm.weight", p, l) ||
                                       NEED(1, hd, 0, &L->kn_w, "%s.%d.self_attn.k_norm.weight", p, l)))
            return rc;
        /* Qwen2 always has q/k/v biases; attention_bias adds o too */
        if (((a->flags & A_QKV_BIAS) || attn_bias) &&
            (NEED(1, q, 0, &L->bq, "%s.%d.self_attn.q_proj.bias", p, l) ||
             NEED(1, kv, 0, &L->bk, "%s.%d.self_attn.k_proj.bias", p, l) ||
             NEED(1, kv, 0, &L->bv, "%s.%d.self_attn.v_proj.bias", p, l)))
            return rc;
        if (attn_bias && NEED(1, H, 0, &L->bo, "%s.%d.self_attn.o_proj.bias", p, l))
            return rc;
        if (gemma) {
            const float **ws[] = {&L->n1_w, &L->n2_w, &L->ao_w, &L->mo_w, &L->qn_w, &L->kn_w};
            size_t lens[] = {(size_t)H, (size_t)H, (size_t)H, (size_t)H, (size_t)hd, (size_t)hd};
            for (int i = 0; i < 6; i++)
                if (*ws[i] && (rc = plus_one(m, ws[i], lens[i], err)))
                    return rc;
        }
    }
    return 0;
}
#undef NEED
#undef NEED_SRC

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

#define MAX_LAYER_JOBS 7

/* A layer's matrices as pack jobs. Fused tensors become several jobs over
 * ranges of one source: GPT-2's c_attn [H, 3H] by columns (q, k, v),
 * Phi-3's qkv_proj [q + 2 kv, H] and gate_up_proj [2F, H] by rows. GPT-NeoX's
 * query_key_value interleaves q|k|v per head: it is packed whole and its
 * output split per head after the product (model.c). */
static size_t layer_jobs(const model *m, layer *L, gm_job *j)
{
    const model_info *mi = &m->info;
    size_t H = (size_t)mi->hidden, F = (size_t)mi->ffn;
    size_t qd = (size_t)mi->heads * (size_t)mi->head_dim, kvd = (size_t)mi->kv_heads * (size_t)mi->head_dim;
    size_t n = 0;
    if (!m->pos_embed) {   /* nn.Linear [out, in] */
        if (m->qkv == QKV_HEADS) {
            j[n++] = ckpt_pack_job(&L->pq, L->wqkv, 0, H, KN_OUT_IN, H, 3 * qd);
        } else if (L->wqkv.p) {
            j[n++] = ckpt_pack_job(&L->pq, L->wqkv, 0, H, KN_OUT_IN, H, qd);
            j[n++] = ckpt_pack_job(&L->pk, L->wqkv, qd * H, H, KN_OUT_IN, H, kvd);
            j[n++] = ckpt_pack_job(&L->pv, L->wqkv, (qd + kvd) * H, H, KN_OUT_IN, H, kvd);
        } else {
            j[n++] = ckpt_pack_job(&L->pq, L->wq, 0, H, KN_OUT_IN, H, qd);
            j[n++] = ckpt_pack_job(&L->pk, L->wk, 0, H, KN_OUT_IN, H, kvd);
            j[n++] = ckpt_pack_job(&L->pv, L->wv, 0, H, KN_OUT_IN, H, kvd);
        }
        j[n++] = ckpt_pack_job(&L->po, L->wo, 0, qd, KN_OUT_IN, qd, H);
        if (L->w_gate_up.p) {
            j[n++] = ckpt_pack_job(&L->pgate, L->w_gate_up, 0, H, KN_OUT_IN, H, F);
            j[n++] = ckpt_pack_job(&L->pup, L->w_gate_up, F * H, H, KN_OUT_IN, H, F);
        } else if (m->gated) {
            j[n++] = ckpt_pack_job(&L->pgate, L->w_gate, 0, H, KN_OUT_IN, H, F);
            j[n++] = ckpt_pack_job(&L->pup, L->w_up, 0, H, KN_OUT_IN, H, F);
        } else {
            j[n++] = ckpt_pack_job(&L->pgate, L->w_up, 0, H, KN_OUT_IN, H, F);
        }
        j[n++] = ckpt_pack_job(&L->pdown, L->w_down, 0, F, KN_OUT_IN, F, H);
        return n;
    }
    if (ckpt_gguf(m->ck)) {   /* GPT-2 from a GGUF file: nn.Linear [out, in], c_attn's q|k|v by rows */
        j[n++] = ckpt_pack_job(&L->pq, L->wqkv, 0, H, KN_OUT_IN, H, H);
        j[n++] = ckpt_pack_job(&L->pk, L->wqkv, H * H, H, KN_OUT_IN, H, H);
        j[n++] = ckpt_pack_job(&L->pv, L->wqkv, 2 * H * H, H, KN_OUT_IN, H, H);
        j[n++] = ckpt_pack_job(&L->po, L->wo, 0, H, KN_OUT_IN, H, H);
        j[n++] = ckpt_pack_job(&L->pgate, L->w_up, 0, H, KN_OUT_IN, H, F);
        j[n++] = ckpt_pack_job(&L->pdown, L->w_down, 0, F, KN_OUT_IN, F, H);
        return n;
    }
    /* GPT-2: Conv1D [in, out] */
    j[n++] = ckpt_pack_job(&L->pq, L->wqkv, 0, 3 * H, KN_IN_OUT, H, H);
    j[n++] = ckpt_pack_job(&L->pk, L->wqkv, H, 3 * H, KN_IN_OUT, H, H);
    j[n++] = ckpt_pack_job(&L->pv, L->wqkv, 2 * H, 3 * H, KN_IN_OUT, H, H);
    j[n++] = ckpt_pack_job(&L->po, L->wo, 0, H, KN_IN_OUT, H, H);
    j[n++] = ckpt_pack_job(&L->pgate, L->w_up, 0, F, KN_IN_OUT, H, F);
    j[n++] = ckpt_pack_job(&L->pdown, L->w_down, 0, H, KN_IN_OUT, F, H);
    return n;
}

int model_quant_parse(const char *s, model_quant *q, ys_error *err)
{
    static const char *const names[] = {"none", "int8", "int4", "int4-sym"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *q = (model_quant)i;
            return 0;
        }
    return ys_fail(err, YS_EUSAGE, "quantization \"%.40s\" is not one of none, int8, int4, int4-sym", s);
}

const char *model_quant_name(model_quant q)
{
    return q == MODEL_Q_INT8 ? "int8" : q == MODEL_Q_INT4 ? "int4" : q == MODEL_Q_INT4_SYM ? "int4-sym" : "none";
}

/* Pack job j quantized by q (int8 or int4 with o's group size), in int8
 * dot products with o->compute_int8. */
static void quant_job(gm_job *j, model_quant q, const model_opts *o)
{
    j->packed = o->compute_int8 ? GM_I8DOT : q == MODEL_Q_INT8 ? GM_Q8 : GM_Q4;
    j->qbits = q == MODEL_Q_INT8 ? 8 : 4;
    j->qgroup = o->group_size > 0 ? (size_t)o->group_size : 128;
    j->qsym = q == MODEL_Q_INT4_SYM;
}

static int pack_weights(model *m, const model_opts *o, ys_error *err)
{
    const model_info *mi = &m->info;
    gm_job *jobs = malloc(((size_t)mi->layers * MAX_LAYER_JOBS + 1) * sizeof *jobs);
    if (!jobs)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    size_t n = 0;
    for (int l = 0; l < mi->layers; l++)
        n += layer_jobs(m, &m->layers[l], jobs + n);
    size_t nlayer_jobs = n;
    /* the head, but on a pipeline stage before the last; the first stage
     * of a tied model reads its embedding rows from the mapping instead
     * (the same values: panels widen exactly), but for BF16 compute, whose
     * packed head (rounded to BF16) the whole model's embedding comes from */
    int tied = m->lm_head.p == m->wte.p;
    int head = !m->no_head || (tied && !m->no_embed && o->compute_bf16);
    if (head)
        jobs[n++] = ckpt_pack_job(&m->phead, m->lm_head, 0, (size_t)mi->hidden, KN_OUT_IN, (size_t)mi->hidden,
                                  (size_t)mi->vocab);
    for (size_t i = 0; o->f32_weights && i < n; i++)
        jobs[i].packed = GM_F32;
    for (size_t i = 0; o->compute_bf16 && i < n; i++)
        jobs[i].packed = GM_BF16DOT;
    /* the blocks' matrices (every job but the head) */
    for (size_t i = 0; o->quantize != MODEL_Q_NONE && i < nlayer_jobs; i++)
        quant_job(&jobs[i], o->quantize, o);
    /* the head when asked (quantize_head); a tied model's embedding rows
     * then come from the mapping as stored (m->tied stays 0), not from the
     * quantized panels */
    if (o->quantize_head != MODEL_Q_NONE && head && nlayer_jobs < n)
        quant_job(&jobs[nlayer_jobs], o->quantize_head, o);
    int quantized = o->quantize != MODEL_Q_NONE || o->quantize_head != MODEL_Q_NONE;
    /* int8 compute without --quantize: a GGUF file's quantized blocks (the
     * head included, as llama.cpp does) as GM_GGML_I8, the same panels;
     * its F32/F16/BF16 tensors keep the default arithmetic */
    size_t ni8 = 0;
    for (size_t i = 0; o->compute_int8 && !quantized && i < n; i++)
        if (jobs[i].dtype == GM_GGML && jobs[i].packed == GM_GGML && jobs[i].ggml_type != GGML_F32 &&
            jobs[i].ggml_type != GGML_F16 && jobs[i].ggml_type != GGML_BF16) {
            if (!gm_ggml_i8_supported(jobs[i].ggml_type)) {
                int t = jobs[i].ggml_type;
                free(jobs);
                return ys_fail(err, YS_EUSAGE, "%s: --compute int8 has no product for %s tensors yet",
                               ckpt_dir(m->ck), gguf_type_name(t));
            }
            jobs[i].packed = GM_GGML_I8, ni8++;
        }
    if (o->compute_int8 && !quantized && ni8 == 0) {
        free(jobs);
        return ys_fail(err, YS_EUSAGE, "%s: int8 compute needs quantized weights: --quantize int8, int4 or "
                       "int4-sym, or a GGUF file with quantized tensors", ckpt_dir(m->ck));
    }
    /* a GGUF file's quantized blocks are computed as they are stored */
    for (size_t i = 0; i < n; i++)
        if (jobs[i].dtype == GM_GGML && jobs[i].packed != GM_GGML && jobs[i].packed != GM_GGML_I8) {
            free(jobs);
            return ys_fail(err, YS_EUSAGE, "%s: --quantize, --compute and fp32 weights do not apply to a GGUF "
                           "file's quantized tensors", ckpt_dir(m->ck));
        }
    int rc = ckpt_pack_all(m->ck, m->pool, jobs, n);
    free(jobs);
    m->tied = tied && head && o->quantize_head == MODEL_Q_NONE;
    if (rc == YS_EUSAGE)
        return ys_fail(err, YS_EINPUT, "%s: a quantized matrix is not stored as whole rows of blocks",
                       ckpt_dir(m->ck));
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory packing the weights") : 0;
}

int model_load(const char *dir, model **out, ys_error *err) { return model_load_opts(dir, NULL, out, err); }

int model_load_adapter(const char *dir, const char *adapter_dir, model **out, ys_error *err)
{
    model_opts o = {.adapter_dir = adapter_dir};
    return model_load_opts(dir, &o, out, err);
}

int model_load_opts(const char *dir, const model_opts *opts, model **out, ys_error *err)
{
    return model_load_part(dir, opts, 0, 1, out, err);
}

/* The first layer of stage s of K (s = K: the layer count). Stages hold
 * about equal shares of the weights: the last also holds the head, counted
 * as the layers its V x H weights make (GPT-2 small: 5.4 of 12 layers, so
 * 9 + 3 layers for two stages); the first stage's embedding rows are read
 * from the mapped checkpoint as needed and count nothing. Each stage gets
 * at least one layer. Every rank computes the same bounds (the same
 * config, the same operations). */
static int stage_bound(const model *m, int s, int K)
{
    const model_info *mi = &m->info;
    int L = mi->layers;
    if (s <= 0 || s >= K)
        return s <= 0 ? 0 : L;
    double H = mi->hidden, F = mi->ffn, q = (double)mi->heads * mi->head_dim, kv = (double)mi->kv_heads * mi->head_dim;
    double layer = H * (q + 2 * kv) + q * H + (m->gated ? 3 : 2) * H * F;
    double head = (double)mi->vocab * H / layer, share = ((double)L + head) / K;
    long b = lround(share * s);
    b = b < s ? s : b;
    return (int)(b > L - (K - s) ? L - (K - s) : b);
}

/* A pipeline stage's layers: bound from the checkpoint by their index in
 * the whole model (config.json's per-layer windows and RoPE bases too),
 * then moved to the front of m->layers, which forward passes walk. */
static int stage_layers(model *m, int stage, int nstages, ys_error *err)
{
    int L = m->info.layers;
    if (nstages > L)
        return ys_fail(err, YS_EUSAGE, "%s: %d pipeline stages for %d layers: at most one stage per layer",
                       ckpt_dir(m->ck), nstages, L);
    if (nstages > 1 && ckpt_gguf(m->ck))
        return ys_fail(err, YS_EUSAGE, "%s: pipeline stages load safetensors checkpoints, not GGUF files",
                       ckpt_dir(m->ck));
    m->layers_all = L;
    m->layer0 = stage_bound(m, stage, nstages), m->layer1 = stage_bound(m, stage + 1, nstages);
    m->no_embed = stage > 0, m->no_head = stage < nstages - 1;
    return 0;
}

int model_load_part(const char *dir, const model_opts *opts, int stage, int nstages, model **out, ys_error *err)
{
    static const model_opts none = {0};
    opts = opts ? opts : &none;
    *out = NULL;
    if (opts->group_size != 0 && opts->group_size != 32 && opts->group_size != 128)
        return ys_fail(err, YS_EUSAGE, "int4 group size %d: use 32 or 128", opts->group_size);
    if (opts->compute_bf16 && (opts->quantize != MODEL_Q_NONE || opts->quantize_head != MODEL_Q_NONE))
        return ys_fail(err, YS_EUSAGE, "BF16 compute and quantized weights do not combine: choose one");
    if (opts->compute_int8 && opts->compute_bf16)
        return ys_fail(err, YS_EUSAGE, "choose one of BF16 and int8 compute");
    model *m = calloc(1, sizeof *m);
    if (!m)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    const arch_desc *a = NULL;
    int rc = ckpt_open_adapted(dir, opts->adapter_dir, &m->ck, err);
    if (rc == 0 && !(a = resolve_arch(m, err)))
        rc = YS_EINPUT;
    if (rc == 0 && (a->flags & A_GPT2)) {
        if ((rc = config_gpt2(m, err)) == 0 && !(m->layers = calloc((size_t)m->info.layers, sizeof *m->layers)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (rc == 0 && (rc = stage_layers(m, stage, nstages, err)) == 0)
            rc = bind_gpt2(m, err);
    } else if (rc == 0) {
        if ((rc = config_decoder(m, a, err)) == 0 && (rc = stage_layers(m, stage, nstages, err)) == 0)
            rc = (a->flags & A_NEOX) ? bind_neox(m, err) : bind_llama(m, a, err);
    }
    if (rc == 0 && nstages > 1) {
        memmove(m->layers, m->layers + m->layer0, (size_t)(m->layer1 - m->layer0) * sizeof *m->layers);
        m->info.layers = m->layer1 - m->layer0;
    }
    if (rc == 0)
        rc = eng_blas_open(&m->blas, err);
    if (rc == 0)
        rc = alloc_pool(m, 0, err);
    if (rc == 0)
        rc = pack_weights(m, opts, err);
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
    rope_free(&m->rope[0]), rope_free(&m->rope[1]);
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    ckpt_close(m->ck);
    free(m);
}

const model_info *model_get_info(const model *m) { return &m->info; }

int model_set_threads(model *m, int n, ys_error *err) { return alloc_pool(m, n, err); }
