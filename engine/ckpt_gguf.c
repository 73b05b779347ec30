/* ckpt_gguf.c — a GGUF file as a Hugging Face checkpoint (ckpt_gguf.h).
 *
 * Why through the checkpoint layer: the engine's architectures are
 * described by config.json keys and Hugging Face tensor names
 * (model_load.c), so a GGUF file that says the same things in those terms
 * runs through the same binding, packing and forward pass as the folder
 * it was converted from — one code path, and a GGUF written from an F32
 * folder gives that folder's bits. What GGUF states differently is undone
 * here, each point as llama.cpp's convert_hf_to_gguf.py does it (read at
 * llama.cpp c392e50; facts, not code):
 *   - hyper-parameters are "<arch>.<name>" keys (embedding_length,
 *     block_count, attention.head_count, ...); floats are stored as f32,
 *     so a value is read back as the shortest decimal that rounds to that
 *     f32 ("1e-06"), which is what the folder's config.json held whenever
 *     it held a short decimal (the norm epsilon enters the engine in
 *     double: a widened f32 would change the bits);
 *   - matrices are stored as ggml sees them, ne = [in, out]: the same
 *     bytes as nn.Linear's [out, in], which is the shape given here (GPT-2
 *     too: its Conv1D weights were transposed by the converter, and the
 *     engine packs them as nn.Linear when ckpt_gguf says so);
 *   - the llama architecture's q and k rows (weights and biases) were
 *     reordered per head, from rotate_half's halves to interleaved pairs
 *     (HF row h*hd + s*hd/2 + i went to row h*hd + 2i + s); a copy in the
 *     stored type puts them back. GPT-NeoX's fused query_key_value, per
 *     head [q, k, v] in the folder, was regrouped into q | k | v: a copy
 *     puts it back too. Qwen2/3 and GPT-2 are stored unchanged;
 *   - a tied head is the absence of output.weight;
 *   - Llama 3's rope_freqs.weight becomes rope_scaling "llama3" (see
 *     rope_freqs below).
 * Anything the engine would have to ignore to run the file (a tensor it
 * does not know, a rope scaling it does not map) fails the load, naming
 * it. */
#include "ckpt_gguf.h"

#include "f16.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct garch {
    const char *gguf;       /* general.architecture */
    const char *hf;         /* config.json architectures[0] */
    int gpt2;               /* GPT-2's names and keys */
    int permute_qk;         /* the converter reordered q/k rows */
    int neox;               /* GPT-NeoX's names and keys; q|k|v regrouped by the converter */
    int gemma;              /* 1, 2, 3: Gemma's; every norm weight stored with 1 added */
    int phi3;               /* fused qkv and gate|up stored fused; longrope factors as tensors */
} garch;

static const garch GARCHS[] = {
    {"llama", "LlamaForCausalLM", 0, 1, 0, 0, 0},
    {"qwen2", "Qwen2ForCausalLM", 0, 0, 0, 0, 0},
    {"qwen3", "Qwen3ForCausalLM", 0, 0, 0, 0, 0},
    {"gpt2", "GPT2LMHeadModel", 1, 0, 0, 0, 0},
    {"gptneox", "GPTNeoXForCausalLM", 0, 0, 1, 0, 0},
    {"gemma", "GemmaForCausalLM", 0, 0, 0, 1, 0},
    {"gemma2", "Gemma2ForCausalLM", 0, 0, 0, 2, 0},
    {"gemma3", "Gemma3ForCausalLM", 0, 0, 0, 3, 0},
    {"phi3", "Phi3ForCausalLM", 0, 0, 0, 0, 1},
};

/* GGUF tensor base names -> Hugging Face names ("%d": the block). */
typedef struct tname {
    const char *gguf, *hf;
} tname;

static const tname LLAMA_TOP[] = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}, {NULL, NULL}};
static const tname LLAMA_BLK[] = {
    {"attn_norm", "model.layers.%d.input_layernorm"}, {"ffn_norm", "model.layers.%d.post_attention_layernorm"},
    {"attn_q", "model.layers.%d.self_attn.q_proj"},   {"attn_k", "model.layers.%d.self_attn.k_proj"},
    {"attn_v", "model.layers.%d.self_attn.v_proj"},   {"attn_output", "model.layers.%d.self_attn.o_proj"},
    {"attn_q_norm", "model.layers.%d.self_attn.q_norm"}, {"attn_k_norm", "model.layers.%d.self_attn.k_norm"},
    {"ffn_gate", "model.layers.%d.mlp.gate_proj"},    {"ffn_up", "model.layers.%d.mlp.up_proj"},
    {"ffn_down", "model.layers.%d.mlp.down_proj"},    {NULL, NULL}};
/* Gemma 2 and 3: four norms per block; post_attention_layernorm is the
 * norm after attention there, not the one before the MLP (tensor_mapping.py). */
static const tname GEMMA2_BLK[] = {
    {"attn_norm", "model.layers.%d.input_layernorm"},
    {"post_attention_norm", "model.layers.%d.post_attention_layernorm"},
    {"ffn_norm", "model.layers.%d.pre_feedforward_layernorm"},
    {"post_ffw_norm", "model.layers.%d.post_feedforward_layernorm"},
    {"attn_q", "model.layers.%d.self_attn.q_proj"},   {"attn_k", "model.layers.%d.self_attn.k_proj"},
    {"attn_v", "model.layers.%d.self_attn.v_proj"},   {"attn_output", "model.layers.%d.self_attn.o_proj"},
    {"attn_q_norm", "model.layers.%d.self_attn.q_norm"}, {"attn_k_norm", "model.layers.%d.self_attn.k_norm"},
    {"ffn_gate", "model.layers.%d.mlp.gate_proj"},    {"ffn_up", "model.layers.%d.mlp.up_proj"},
    {"ffn_down", "model.layers.%d.mlp.down_proj"},    {NULL, NULL}};
/* Phi-3: qkv_proj and gate_up_proj kept fused by the converter */
static const tname PHI3_BLK[] = {
    {"attn_norm", "model.layers.%d.input_layernorm"}, {"ffn_norm", "model.layers.%d.post_attention_layernorm"},
    {"attn_qkv", "model.layers.%d.self_attn.qkv_proj"}, {"attn_output", "model.layers.%d.self_attn.o_proj"},
    {"ffn_up", "model.layers.%d.mlp.gate_up_proj"},   {"ffn_down", "model.layers.%d.mlp.down_proj"},
    {NULL, NULL}};
static const tname GPT2_TOP[] = {
    {"token_embd", "wte"}, {"position_embd", "wpe"}, {"output_norm", "ln_f"}, {"output", "lm_head"}, {NULL, NULL}};
static const tname GPT2_BLK[] = {
    {"attn_norm", "h.%d.ln_1"}, {"attn_qkv", "h.%d.attn.c_attn"}, {"attn_output", "h.%d.attn.c_proj"},
    {"ffn_norm", "h.%d.ln_2"},  {"ffn_up", "h.%d.mlp.c_fc"},      {"ffn_down", "h.%d.mlp.c_proj"},
    {NULL, NULL}};

static const tname NEOX_TOP[] = {{"token_embd", "gpt_neox.embed_in"},
                                 {"output_norm", "gpt_neox.final_layer_norm"},
                                 {"output", "embed_out"},
                                 {NULL, NULL}};
static const tname NEOX_BLK[] = {
    {"attn_norm", "gpt_neox.layers.%d.input_layernorm"}, {"attn_qkv", "gpt_neox.layers.%d.attention.query_key_value"},
    {"attn_output", "gpt_neox.layers.%d.attention.dense"}, {"ffn_norm", "gpt_neox.layers.%d.post_attention_layernorm"},
    {"ffn_up", "gpt_neox.layers.%d.mlp.dense_h_to_4h"}, {"ffn_down", "gpt_neox.layers.%d.mlp.dense_4h_to_h"},
    {NULL, NULL}};

typedef struct rd {
    const gguf *g;
    const garch *a;
    cJSON *cfg;
    ys_error *err;
    char key[160];
} rd;

static const char *akey(rd *r, const char *name)
{
    snprintf(r->key, sizeof r->key, "%s.%s", r->a->gguf, name);
    return r->key;
}

/* The double an f32 metadata value was written from, when that was a
 * short decimal: the shortest decimal that rounds to the same f32. */
static double from_f32(double v)
{
    float x = (float)v;
    char buf[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        double d = strtod(buf, NULL);
        if ((float)d == x)
            return d;
    }
    return v;
}

static int put_num(rd *r, const char *hf, double v)
{
    return cJSON_AddNumberToObject(r->cfg, hf, v) ? 0 : ys_fail(r->err, YS_ENOMEM, "out of memory");
}

/* An integer hyper-parameter: required (dflt < 0) or defaulted; > 0 and
 * below 2^24 like ckpt_config_dim's. */
static int dim(rd *r, const char *name, long dflt, long *out)
{
    int rc = gguf_get_int(r->g, akey(r, name), dflt, out, r->err);
    if (rc < 0)
        return rc;
    if (rc == 1 && dflt < 0)
        return ys_fail(r->err, YS_EINPUT, "%s: key \"%s\" is missing", gguf_path(r->g), r->key);
    if (*out <= 0 || *out >= (1L << 24))
        return ys_fail(r->err, YS_EINPUT, "%s: key \"%s\": %ld is out of range", gguf_path(r->g), r->key, *out);
    return 0;
}

/* A float hyper-parameter (f32 values back to their decimal). Absent: 1
 * and nothing written. */
static int num(rd *r, const char *name, const char *hf)
{
    const char *k = akey(r, name);
    const gguf_kv *kv = gguf_find(r->g, k);
    double v;
    int rc = gguf_get_num(r->g, k, 0, &v, r->err);
    if (rc)
        return rc;
    return put_num(r, hf, kv->v.type == GGUF_F32 ? from_f32(v) : v);
}

static int rope_scaling(rd *r)
{
    char *type = NULL;
    int rc = gguf_get_str(r->g, akey(r, "rope.scaling.type"), "none", &type, r->err);
    if (rc < 0)
        return rc;
    if (!strcmp(type, "none")) {
        free(type);
        return 0;
    }
    double factor = 0, orig = 0;
    cJSON *rs = cJSON_AddObjectToObject(r->cfg, "rope_scaling");
    if (!rs)
        rc = ys_fail(r->err, YS_ENOMEM, "out of memory");
    else if ((rc = gguf_get_num(r->g, akey(r, "rope.scaling.factor"), 0, &factor, r->err)) < 0)
        ;
    else if (!(factor > 0))
        rc = ys_fail(r->err, YS_EINPUT, "%s: rope scaling \"%.20s\" without a positive %s", gguf_path(r->g), type,
                     akey(r, "rope.scaling.factor"));
    else if (!strcmp(type, "linear"))
        rc = (cJSON_AddStringToObject(rs, "rope_type", "linear") && cJSON_AddNumberToObject(rs, "factor", from_f32(factor)))
                 ? 0 : ys_fail(r->err, YS_ENOMEM, "out of memory");
    else if (!strcmp(type, "yarn")) {
        if ((rc = gguf_get_num(r->g, akey(r, "rope.scaling.original_context_length"), 0, &orig, r->err)) < 0)
            ;
        else if (!(orig > 0))
            rc = ys_fail(r->err, YS_EINPUT, "%s: yarn rope scaling without %s", gguf_path(r->g), r->key);
        else
            rc = (cJSON_AddStringToObject(rs, "rope_type", "yarn") &&
                  cJSON_AddNumberToObject(rs, "factor", from_f32(factor)) &&
                  cJSON_AddNumberToObject(rs, "original_max_position_embeddings", orig))
                     ? 0 : ys_fail(r->err, YS_ENOMEM, "out of memory");
    } else {
        rc = ys_fail(r->err, YS_EINPUT, "%s: %s \"%.20s\" is not supported (none, linear, yarn)", gguf_path(r->g),
                     akey(r, "rope.scaling.type"), type);
    }
    free(type);
    return rc < 0 ? rc : 0;
}

/* Llama 3's RoPE (rope_freqs.weight): the converter stores, per frequency
 * i of the rotary dimension d, the factor its wavelength is divided by —
 * 1 below original_max / high_freq_factor, `factor` above original_max /
 * low_freq_factor, and 1 / ((1 - s) / factor + s) between, with
 * s = (original_max / wavelength - low) / (high - low). The engine computes
 * the Hugging Face rope_scaling "llama3" from those four parameters, so
 * they are recovered here: factor is the largest stored factor, low is 1
 * (as every Llama 3 release has it), high 4 unless two in-between factors
 * say otherwise, original_max from an in-between factor (or, without one,
 * any value between the two bands); then every stored factor is recomputed
 * from them and must agree to 1e-5 (the converter rounds to f32), else the
 * file is refused. */
static double l3_factor(double f, double lo, double hi, double old, double wl)
{
    if (wl < old / hi)
        return 1;
    if (wl > old / lo)
        return f;
    double s = (old / wl - lo) / (hi - lo);
    return 1 / ((1 - s) / f + s);
}

static int rope_freqs(rd *r, double theta, long dim)
{
    const char *path = gguf_path(r->g);
    const gguf_tensor *t = gguf_find_tensor(r->g, "rope_freqs.weight");
    if (!t)
        return 0;
    long n = dim / 2;
    if (t->type != GGML_F32 || t->ndim != 1 || t->ne[0] != n)
        return ys_fail(r->err, YS_EINPUT, "%s: tensor \"rope_freqs.weight\" must be F32 [%ld]", path, n);
    if (gguf_find(r->g, akey(r, "rope.scaling.type")))
        return ys_fail(r->err, YS_EINPUT, "%s: both rope_freqs.weight and %s", path, r->key);
    double f[1024], wl[1024], fmax = 0;
    if (n > 1024)
        return ys_fail(r->err, YS_EINPUT, "%s: rope_freqs.weight: %ld frequencies (at most 1024)", path, n);
    for (long i = 0; i < n; i++) {
        float v;
        memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
        f[i] = v;
        wl[i] = 2 * 3.14159265358979323846 * pow(theta, (double)(2 * i) / (double)dim);
        fmax = f[i] > fmax ? f[i] : fmax;
        if (!(v >= 1))
            return ys_fail(r->err, YS_EINPUT, "%s: rope_freqs.weight[%ld] = %g is not a factor >= 1", path, i, f[i]);
    }
    if (fmax == 1)
        return 0;   /* no scaling at all */
    /* in-between frequencies: s_i from the factor, old = (s (hi - lo) + lo) wl */
    long mid[2], nm = 0;
    for (long i = 0; i < n && nm < 2; i++)
        if (f[i] > 1 * (1 + 1e-6) && f[i] < fmax * (1 - 1e-6))
            mid[nm++] = i;
    double lo = 1, hi = 4, old;
    double s0 = nm ? (1 / f[mid[0]] - 1 / fmax) / (1 - 1 / fmax) : 0;
    if (nm == 2) {   /* two equations: old/wl0 - lo = s0 (hi - lo), old/wl1 - lo = s1 (hi - lo) */
        double s1 = (1 / f[mid[1]] - 1 / fmax) / (1 - 1 / fmax);
        /* subtracted: old / (hi - lo) = (s0 - s1) / (1/wl0 - 1/wl1) = span; then
         * the first: (hi - lo) (span / wl0 - s0) = lo */
        double dw = 1 / wl[mid[0]] - 1 / wl[mid[1]];
        double span = dw != 0 ? (s0 - s1) / dw : 0, d = span / wl[mid[0]] - s0;
        if (span > 0 && d > 0)
            hi = lo + lo / d;
    }
    if (nm) {
        old = (s0 * (hi - lo) + lo) * wl[mid[0]];
    } else {   /* any value between the bands: the largest unscaled wavelength times hi, and the smallest scaled one */
        double below = 0, above = 1e300;
        for (long i = 0; i < n; i++) {
            if (f[i] == 1 && wl[i] * hi > below)
                below = wl[i] * hi;
            if (f[i] == fmax && wl[i] * lo < above)
                above = wl[i] * lo;
        }
        old = below < above ? sqrt(below * (above < 1e300 ? above : below * 4)) : 0;
    }
    double ro = round(old);
    if (ro > 0 && fabs(ro - old) <= 1e-3 * old)
        old = ro;
    hi = round(hi * 1000) / 1000;
    for (long i = 0; i < n; i++) {
        double e = l3_factor(fmax, lo, hi, old, wl[i]);
        if (!(old > 0) || fabs(e - f[i]) > 1e-5 * f[i])
            return ys_fail(r->err, YS_EINPUT, "%s: rope_freqs.weight does not follow Llama 3's rule (frequency %ld: "
                           "stored %g, %g from factor %g, high_freq_factor %g, original_max %g)", path, i, f[i], e,
                           fmax, hi, old);
    }
    cJSON *rs = cJSON_AddObjectToObject(r->cfg, "rope_scaling");
    if (!rs || !cJSON_AddStringToObject(rs, "rope_type", "llama3") || !cJSON_AddNumberToObject(rs, "factor", fmax) ||
        !cJSON_AddNumberToObject(rs, "low_freq_factor", lo) || !cJSON_AddNumberToObject(rs, "high_freq_factor", hi) ||
        !cJSON_AddNumberToObject(rs, "original_max_position_embeddings", old))
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    return 0;
}

/* Gemma 2 and 3: what llama.cpp derives instead of reading it (its
 * llama-model.cpp, facts only), written as the config.json keys the
 * engine reads:
 *   - query_pre_attn_scalar is not stored: the query scale is
 *     1/sqrt(head_dim), except for the 27B models (46 blocks for Gemma 2,
 *     62 for Gemma 3), whose scale is 1/sqrt(hidden / heads) — what the
 *     released configs' query_pre_attn_scalar say for every size;
 *   - Gemma 2 slides on even layers, Gemma 3 makes every 6th layer global
 *     and runs its local layers at RoPE base 10000, unscaled;
 *   - soft-capping values when present (absent: Gemma 2's 50 and 30). */
static int gemma_config(rd *r, long H, long heads, long hd, long L)
{
    int g3 = r->a->gemma == 3, rc;
    long window;
    int big = g3 ? L == 62 : L == 46;
    if ((rc = put_num(r, "query_pre_attn_scalar", big ? (double)(H / heads) : (double)hd)))
        return rc;
    if ((!g3 && (rc = num(r, "attn_logit_softcapping", "attn_logit_softcapping")) < 0) ||
        (rc = num(r, "final_logit_softcapping", "final_logit_softcapping")) < 0)
        return rc;
    if ((rc = dim(r, "attention.sliding_window", g3 ? -1 : 4096, &window)) || (rc = put_num(r, "sliding_window", (double)window)))
        return rc;
    if (g3 && ((rc = put_num(r, "sliding_window_pattern", 6)) || (rc = put_num(r, "rope_local_base_freq", 10000))))
        return rc;
    return 0;
}

/* One of Phi-3's longrope factor tensors: F32 [n], each finite and > 0. */
static int phi3_factors(rd *r, const char *name, long n, cJSON *into, const char *key, int *have)
{
    const char *path = gguf_path(r->g);
    const gguf_tensor *t = gguf_find_tensor(r->g, name);
    *have = t != NULL;
    if (!t)
        return 0;
    if (t->type != GGML_F32 || t->ndim != 1 || t->ne[0] != n)
        return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%s\" must be F32 [%ld] (half the rotary dimensions)", path,
                       name, n);
    cJSON *arr = cJSON_AddArrayToObject(into, key);
    if (!arr)
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    for (long i = 0; i < n; i++) {
        float v;
        memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
        if (!(v > 0) || !isfinite(v))
            return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%s\"[%ld] = %g is not a positive factor", path, name, i,
                           (double)v);
        /* widened, not shortened: Phi-3's configs hold these factors as
         * the float32 values printed in full (1.0800000429153442) */
        if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v)))
            return ys_fail(r->err, YS_ENOMEM, "out of memory");
    }
    return 0;
}

/* Phi-3: the pretrained length, the sliding window (0: none, as the
 * converter writes a null one), and longrope: the converter stores
 * short_factor and long_factor as the tensors rope_factors_short/long and
 * the attention factor it computed, which must be the one the engine
 * computes (sqrt(1 + ln(scale) / ln(original)), Hugging Face's). */
static int phi3_config(rd *r, long ctx, long rdim)
{
    const char *path = gguf_path(r->g);
    double orig = 0, af = 0;
    long window;
    int rc, hs, hl;
    if ((rc = gguf_get_num(r->g, akey(r, "rope.scaling.original_context_length"), 0, &orig, r->err)) < 0)
        return rc;
    if (rc == 0 && (!(orig >= 1) || orig >= (double)(1L << 24) || orig != floor(orig)))
        return ys_fail(r->err, YS_EINPUT, "%s: key \"%s\": %g is not a context length", path, r->key, orig);
    if (rc == 0 && (rc = put_num(r, "original_max_position_embeddings", orig)))
        return rc;
    if ((rc = gguf_get_int(r->g, akey(r, "attention.sliding_window"), 0, &window, r->err)) < 0)
        return rc;
    if (window < 0 || window >= (1L << 30))
        return ys_fail(r->err, YS_EINPUT, "%s: key \"%s\": %ld is out of range", path, r->key, window);
    if ((rc = put_num(r, "sliding_window", (double)window)))
        return rc;
    cJSON *rs = cJSON_CreateObject();
    if (!rs || !cJSON_AddStringToObject(rs, "type", "longrope")) {
        cJSON_Delete(rs);
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    }
    if ((rc = phi3_factors(r, "rope_factors_short.weight", rdim / 2, rs, "short_factor", &hs)) < 0 ||
        (rc = phi3_factors(r, "rope_factors_long.weight", rdim / 2, rs, "long_factor", &hl)) < 0) {
        cJSON_Delete(rs);
        return rc;
    }
    if (!hs && !hl) {
        cJSON_Delete(rs);
        return 0;
    }
    if (hs != hl || !(orig > 0)) {
        cJSON_Delete(rs);
        return ys_fail(r->err, YS_EINPUT, "%s: longrope needs rope_factors_short.weight, rope_factors_long.weight "
                       "and %s.rope.scaling.original_context_length", path, r->a->gguf);
    }
    cJSON_AddItemToObject(r->cfg, "rope_scaling", rs);
    if ((rc = gguf_get_num(r->g, akey(r, "rope.scaling.attn_factor"), 0, &af, r->err)) < 0)
        return rc;
    double scale = (double)ctx / orig, want = scale > 1 ? sqrt(1 + log(scale) / log(orig)) : 1;
    if (rc == 0 && !(fabs(af - want) <= 1e-6 * want))
        return ys_fail(r->err, YS_EINPUT, "%s: key \"%s\" = %g, not longrope's %g for lengths %ld and %g (not "
                       "supported)", path, r->key, af, want, ctx, orig);
    return 0;
}

static int build_config(rd *r, int tied, long vocab)
{
    const char *path = gguf_path(r->g);
    long H, L, heads, kv, ffn, ctx, hd = 0, vd = 0, rdim;
    int rc;
    cJSON *arr = cJSON_AddArrayToObject(r->cfg, "architectures");
    if (!arr || !cJSON_AddItemToArray(arr, cJSON_CreateString(r->a->hf)))
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    if ((rc = dim(r, "embedding_length", -1, &H)) || (rc = dim(r, "block_count", -1, &L)) ||
        (rc = dim(r, "attention.head_count", -1, &heads)) || (rc = dim(r, "feed_forward_length", -1, &ffn)) ||
        (rc = dim(r, "context_length", 2048, &ctx)) || (rc = dim(r, "vocab_size", vocab, &vocab)))
        return rc;
    if (r->a->gpt2) {
        if ((rc = put_num(r, "vocab_size", (double)vocab)) || (rc = put_num(r, "n_embd", (double)H)) ||
            (rc = put_num(r, "n_layer", (double)L)) || (rc = put_num(r, "n_head", (double)heads)) ||
            (rc = put_num(r, "n_positions", (double)ctx)) || (rc = put_num(r, "n_inner", (double)ffn)) ||
            (rc = num(r, "attention.layer_norm_epsilon", "layer_norm_epsilon")) < 0)
            return rc;
        if (!cJSON_AddStringToObject(r->cfg, "activation_function", "gelu_new") ||
            !cJSON_AddBoolToObject(r->cfg, "tie_word_embeddings", tied))
            return ys_fail(r->err, YS_ENOMEM, "out of memory");
        return 0;
    }
    if (r->a->neox) {   /* GPT-NeoX: rotary_pct of each head, parallel residual, LayerNorm */
        long rdim;
        int par;
        if (H % heads)
            return ys_fail(r->err, YS_EINPUT, "%s: embedding_length %ld is not a multiple of head_count %ld", path, H,
                           heads);
        if ((rc = dim(r, "rope.dimension_count", H / heads, &rdim)) ||
            (rc = gguf_get_bool(r->g, akey(r, "use_parallel_residual"), 1, &par, r->err)) < 0)
            return rc;
        if ((rc = put_num(r, "vocab_size", (double)vocab)) || (rc = put_num(r, "hidden_size", (double)H)) ||
            (rc = put_num(r, "num_hidden_layers", (double)L)) || (rc = put_num(r, "num_attention_heads", (double)heads)) ||
            (rc = put_num(r, "intermediate_size", (double)ffn)) || (rc = put_num(r, "max_position_embeddings", (double)ctx)) ||
            (rc = put_num(r, "rotary_pct", (double)rdim / (double)(H / heads))) ||
            (rc = num(r, "attention.layer_norm_epsilon", "layer_norm_eps")) < 0 ||
            (rc = num(r, "rope.freq_base", "rotary_emb_base")) < 0)
            return rc;
        if (!cJSON_AddStringToObject(r->cfg, "hidden_act", "gelu") ||
            !cJSON_AddBoolToObject(r->cfg, "use_parallel_residual", par) ||
            !cJSON_AddBoolToObject(r->cfg, "tie_word_embeddings", tied) ||
            !cJSON_AddBoolToObject(r->cfg, "attention_bias", gguf_find_tensor(r->g, "blk.0.attn_qkv.bias") != NULL))
            return ys_fail(r->err, YS_ENOMEM, "out of memory");
        return 0;
    }
    int has_kl = gguf_find(r->g, akey(r, "attention.key_length")) != NULL;
    int has_vl = gguf_find(r->g, akey(r, "attention.value_length")) != NULL;
    if ((rc = dim(r, "attention.head_count_kv", heads, &kv)) ||
        (has_kl && (rc = dim(r, "attention.key_length", -1, &hd))) ||
        (has_vl && (rc = dim(r, "attention.value_length", -1, &vd))))
        return rc;
    if (!has_kl)
        hd = H / heads;   /* the Hugging Face default */
    if (has_vl && vd != hd)
        return ys_fail(r->err, YS_EINPUT, "%s: value_length %ld differs from key_length %ld (not supported)", path,
                       vd, hd);
    if ((rc = dim(r, "rope.dimension_count", hd, &rdim)))
        return rc;
    if ((rc = put_num(r, "vocab_size", (double)vocab)) || (rc = put_num(r, "hidden_size", (double)H)) ||
        (rc = put_num(r, "num_hidden_layers", (double)L)) || (rc = put_num(r, "num_attention_heads", (double)heads)) ||
        (rc = put_num(r, "num_key_value_heads", (double)kv)) || (rc = put_num(r, "intermediate_size", (double)ffn)) ||
        (rc = put_num(r, "head_dim", (double)hd)) || (rc = put_num(r, "max_position_embeddings", (double)ctx)) ||
        (rc = num(r, "attention.layer_norm_rms_epsilon", "rms_norm_eps")) < 0 ||
        (rc = num(r, "rope.freq_base", "rope_theta")) < 0)
        return rc;
    if (rdim != hd && (rc = put_num(r, "partial_rotary_factor", (double)rdim / (double)hd)))
        return rc;
    /* Gemma's MLP is GeGLU with the tanh GELU (Gemma 2/3 read
     * hidden_activation, Gemma 1 hidden_act: both are written) */
    const char *act = r->a->gemma ? "gelu_pytorch_tanh" : "silu";
    if (!cJSON_AddStringToObject(r->cfg, "hidden_act", act) ||
        (r->a->gemma && !cJSON_AddStringToObject(r->cfg, "hidden_activation", act)) ||
        !cJSON_AddBoolToObject(r->cfg, "tie_word_embeddings", tied) ||
        !cJSON_AddBoolToObject(r->cfg, "attention_bias", gguf_find_tensor(r->g, "blk.0.attn_output.bias") != NULL))
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    double theta = cJSON_GetObjectItem(r->cfg, "rope_theta") ? cJSON_GetObjectItem(r->cfg, "rope_theta")->valuedouble
                                                               : 10000;
    if (!gguf_find(r->g, akey(r, "rope.freq_base")) && (rc = put_num(r, "rope_theta", theta)))
        return rc;
    if ((rc = rope_freqs(r, theta, rdim)) < 0)
        return rc;
    if (r->a->gemma >= 2 && (rc = gemma_config(r, H, heads, hd, L)) < 0)
        return rc;
    if (r->a->phi3 && (rc = phi3_config(r, ctx, rdim)) < 0)
        return rc;
    return rope_scaling(r);
}

/* "blk.12.attn_q.weight" -> the Hugging Face name, or an error naming it. */
static int map_name(rd *r, const char *name, long layers, char *out, size_t cap, int *block, const char **base)
{
    const char *path = gguf_path(r->g);
    const tname *top = r->a->gpt2 ? GPT2_TOP : r->a->neox ? NEOX_TOP : LLAMA_TOP;
    const tname *blk = r->a->gpt2 ? GPT2_BLK : r->a->neox ? NEOX_BLK : r->a->gemma >= 2 ? GEMMA2_BLK
                     : r->a->phi3 ? PHI3_BLK : LLAMA_BLK;
    const char *dot = strrchr(name, '.');
    *block = -1;
    if (!dot || (strcmp(dot, ".weight") && strcmp(dot, ".bias")))
        return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\" is not a weight or bias", path, name);
    size_t blen = (size_t)(dot - name);
    const char *b = name;
    const tname *tab = top;
    if (!strncmp(name, "blk.", 4)) {
        char *end;
        long l = strtol(name + 4, &end, 10);
        if (end == name + 4 || *end != '.' || l < 0 || l >= layers)
            return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\": no such block (block_count %ld)", path, name,
                           layers);
        *block = (int)l;
        b = end + 1;
        blen = (size_t)(dot - b);
        tab = blk;
    }
    for (; tab->gguf; tab++)
        if (strlen(tab->gguf) == blen && !strncmp(tab->gguf, b, blen)) {
            char hf[200];
            snprintf(hf, sizeof hf, tab->hf, *block);
            snprintf(out, cap, "%s%s", hf, dot);
            *base = tab->gguf;
            return 0;
        }
    return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\" is not part of a %s model as yardstick runs it", path,
                   name, r->a->gguf);
}

/* Rows of a q or k tensor (rows row_bytes each) back in rotate_half order:
 * HF row h*hd + s*hd/2 + i is stored row h*hd + 2i + s. */
/* A tensor with a zero dimension has no rows to reorder (and the row
 * size below would divide by zero): it can be no q, k or qkv. */
static int no_rows(rd *r, const gguf_tensor *t)
{
    return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\" is empty", gguf_path(r->g), t->name);
}

static int unpermute(rd *r, const gguf_tensor *t, long n_head, ckpt_gguf_tensor *o)
{
    if (!t->nelem)
        return no_rows(r, t);
    size_t rows = t->ndim == 1 ? 1 : (size_t)t->ne[1];
    size_t row_bytes = t->nbytes / (t->ndim == 1 ? 1 : rows);
    size_t elems = t->ndim == 1 ? (size_t)t->ne[0] : rows;   /* the permuted axis */
    size_t unit = t->ndim == 1 ? t->nbytes / elems : row_bytes;
    if (n_head <= 0 || elems % (size_t)(2 * n_head))
        return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\": %zu rows are not whole heads of %ld", gguf_path(r->g),
                       t->name, elems, n_head);
    size_t hd = elems / (size_t)n_head, half = hd / 2;
    unsigned char *dst = malloc(t->nbytes ? t->nbytes : 1);
    if (!dst)
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    const unsigned char *src = t->data;
    for (size_t h = 0; h < (size_t)n_head; h++)
        for (size_t s = 0; s < 2; s++)
            for (size_t i = 0; i < half; i++)
                memcpy(dst + (h * hd + s * half + i) * unit, src + (h * hd + 2 * i + s) * unit, unit);
    o->owned = dst;
    o->raw = dst;
    return 0;
}

/* GPT-NeoX's query_key_value: the converter regrouped the rows (or bias
 * entries) from per head [q_h, k_h, v_h] into [q | k | v]; HF row
 * (3h + t) hd + i is stored row t H + h hd + i. */
static int neox_qkv(rd *r, const gguf_tensor *t, long n_head, ckpt_gguf_tensor *o)
{
    if (!t->nelem)
        return no_rows(r, t);
    size_t elems = t->ndim == 1 ? (size_t)t->ne[0] : (size_t)t->ne[1];
    size_t unit = t->nbytes / elems;
    if (n_head <= 0 || elems % (size_t)(3 * n_head))
        return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\": %zu rows are not q, k and v of %ld heads",
                       gguf_path(r->g), t->name, elems, n_head);
    size_t H = elems / 3, hd = H / (size_t)n_head;
    unsigned char *dst = malloc(t->nbytes ? t->nbytes : 1);
    if (!dst)
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    const unsigned char *src = t->data;
    for (size_t h = 0; h < (size_t)n_head; h++)
        for (size_t q = 0; q < 3; q++)
            memcpy(dst + ((3 * h + q) * hd) * unit, src + (q * H + h * hd) * unit, hd * unit);
    o->owned = dst;
    o->raw = dst;
    return 0;
}

/* Gemma's norm weights were stored with 1 added (the converter's
 * data_torch + 1, in float32 from an F32 folder); an F32 copy with 1
 * taken off is given back. The engine adds 1 again in float32, as Hugging
 * Face does: for w > -0.5, (1 + w) rounded lies in [0.5, 2], where taking
 * 1 off is exact (Sterbenz), so the engine's 1 + (stored - 1) is the very
 * float the converter stored — the folder's (1 + w), bit for bit. */
static int minus_one(rd *r, const gguf_tensor *t, ckpt_gguf_tensor *o)
{
    if (t->ndim != 1 || (t->type != GGML_F32 && t->type != GGML_F16 && t->type != GGML_BF16))
        return ys_fail(r->err, YS_EINPUT, "%s: tensor \"%.100s\": a norm must be a 1-D F32, F16 or BF16 tensor",
                       gguf_path(r->g), t->name);
    size_t n = (size_t)t->ne[0];
    float *dst = malloc(n ? n * sizeof *dst : 1);
    if (!dst)
        return ys_fail(r->err, YS_ENOMEM, "out of memory");
    const unsigned char *src = t->data;
    for (size_t i = 0; i < n; i++) {
        float v;
        if (t->type == GGML_F32) {
            memcpy(&v, src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            v = t->type == GGML_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
        dst[i] = v - 1.0f;
    }
    o->owned = dst;
    o->raw = dst;
    o->dtype = CKPT_F32;
    return 0;
}

static void free_tensors(ckpt_gguf_tensor *ts, size_t n)
{
    for (size_t i = 0; ts && i < n; i++) {
        free(ts[i].name);
        free(ts[i].owned);
    }
    free(ts);
}

int ckpt_gguf_read(const char *path, gguf **gout, cJSON **config, ckpt_gguf_tensor **tsout, size_t *nout,
                   ys_error *err)
{
    *gout = NULL, *config = NULL;
    if (tsout)
        *tsout = NULL, *nout = 0;
    gguf *g;
    int rc = gguf_open(path, &g, err);
    if (rc)
        return rc;
    rd r = {.g = g, .err = err};
    char *arch = NULL;
    ckpt_gguf_tensor *ts = NULL;
    size_t nt = gguf_tensor_count(g), n = 0;
    if ((rc = gguf_get_str(g, "general.architecture", NULL, &arch, err)) != 0) {
        if (rc == 1)
            rc = ys_fail(err, YS_EINPUT, "%s: key \"general.architecture\" is missing", path);
        goto fail;
    }
    for (size_t i = 0; i < sizeof GARCHS / sizeof GARCHS[0]; i++)
        if (!strcmp(arch, GARCHS[i].gguf))
            r.a = &GARCHS[i];
    if (!r.a) {
        rc = ys_fail(err, YS_EINPUT, "%s: architecture \"%.40s\" is not supported (llama, qwen2, qwen3, gpt2, gptneox, gemma, "
                     "gemma2, gemma3, phi3)",
                     path, arch);
        goto fail;
    }
    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->ndim != 2) {
        rc = ys_fail(err, YS_EINPUT, "%s: no 2-D tensor \"token_embd.weight\"", path);
        goto fail;
    }
    if (!(r.cfg = cJSON_CreateObject())) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = build_config(&r, !gguf_find_tensor(g, "output.weight"), (long)emb->ne[1])) < 0)
        goto fail;
    long layers = (long)cJSON_GetObjectItem(r.cfg, r.a->gpt2 ? "n_layer" : "num_hidden_layers")->valuedouble;
    long heads = (long)cJSON_GetObjectItem(r.cfg, r.a->gpt2 ? "n_head" : "num_attention_heads")->valuedouble;
    long kv_heads = r.a->gpt2 || r.a->neox ? heads : (long)cJSON_GetObjectItem(r.cfg, "num_key_value_heads")->valuedouble;
    if (!tsout) {   /* the config alone */
        free(arch);
        *gout = g, *config = r.cfg;
        return 0;
    }
    /* block_count must be what the tensors hold (a checkpoint's, not
     * the config alone): a small file claiming
     * millions of blocks would otherwise have the engine allocate them all
     * before it finds the first missing tensor (found by fuzz_gguf) */
    long last = -1;
    for (size_t i = 0; i < nt; i++) {
        const char *tn = gguf_tensor_at(g, i)->name;
        char *end;
        long l = strncmp(tn, "blk.", 4) ? -1 : strtol(tn + 4, &end, 10);
        if (l > last && l < layers)
            last = l;
    }
    if (last + 1 != layers) {
        rc = ys_fail(err, YS_EINPUT, "%s: key \"%s.block_count\" is %ld, but the tensors stop at block %ld", path,
                     r.a->gguf, layers, last);
        goto fail;
    }
    if (!(ts = calloc(nt ? nt : 1, sizeof *ts))) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nt; i++, n++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        ckpt_gguf_tensor *o = &ts[n];
        char hf[256];
        int block;
        const char *base = "";
        if (!strcmp(t->name, "rope_freqs.weight") ||   /* read into the config (rope_freqs, phi3_config) */
            (r.a->phi3 && (!strcmp(t->name, "rope_factors_short.weight") || !strcmp(t->name, "rope_factors_long.weight")))) {
            n--;
            continue;
        }
        if ((rc = map_name(&r, t->name, layers, hf, sizeof hf, &block, &base)) < 0)
            goto fail;
        if (!(o->name = strdup(hf))) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            goto fail;
        }
        switch ((int)t->type) {
        case GGML_F32: o->dtype = CKPT_F32; break;
        case GGML_F16: o->dtype = CKPT_F16; break;
        case GGML_BF16: o->dtype = CKPT_BF16; break;
        default:
            if (!gguf_dequant_supported((int)t->type)) {
                rc = ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\": type %s is not supported (F32, F16, BF16, "
                             "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)", path, t->name,
                             gguf_type_name((int)t->type));
                goto fail;
            }
            o->dtype = CKPT_GGML;
            o->ggml_type = (int)t->type;
        }
        if (t->ndim > 2 && t->ne[2] * t->ne[3] != 1) {
            rc = ys_fail(err, YS_EINPUT, "%s: tensor \"%.100s\" has %d dimensions (at most 2 used)", path, t->name,
                         t->ndim);
            goto fail;
        }
        o->ndim = t->ndim == 1 ? 1 : 2;
        o->shape[0] = o->ndim == 1 ? t->ne[0] : t->ne[1];
        o->shape[1] = o->ndim == 1 ? 0 : t->ne[0];
        o->numel = t->nelem;
        o->raw = t->data;
        if (r.a->permute_qk && (!strcmp(base, "attn_q") || !strcmp(base, "attn_k")) &&
            (rc = unpermute(&r, t, !strcmp(base, "attn_q") ? heads : kv_heads, o)) < 0)
            goto fail;
        if (r.a->neox && !strcmp(base, "attn_qkv") && (rc = neox_qkv(&r, t, heads, o)) < 0)
            goto fail;
        size_t bl = strlen(base);
        if (r.a->gemma && bl >= 4 && !strcmp(base + bl - 4, "norm") && (rc = minus_one(&r, t, o)) < 0)
            goto fail;
    }
    free(arch);
    *gout = g, *config = r.cfg, *tsout = ts, *nout = n;
    return 0;
fail:
    free(arch);
    free_tensors(ts, n + (ts && n < nt ? 1 : 0));
    cJSON_Delete(r.cfg);
    gguf_close(g);
    return rc;
}
