/* seq2seq_load.c — loading T5, BART and Marian encoder-decoders: the
 * architecture and configuration from config.json, the generation defaults
 * from generation_config.json, every tensor bound with the shape the
 * configuration implies, every projection packed for gemm.h (the mapped
 * pages given back), and freeing. The forward passes and scoring are in
 * seq2seq.c; the decoding strategies in seq2seq_gen.c. */
#include "ys_json.h"
#include "seq2seq_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_pack.h"
#include "threads.h"

static const char SUPPORTED[] = "T5ForConditionalGeneration, BartForConditionalGeneration, MarianMTModel";

static const struct { const char *arch, *type; s2s_arch a; } ARCHS[] = {
    {"T5ForConditionalGeneration", "t5", ARCH_T5},
    {"BartForConditionalGeneration", "bart", ARCH_BART},
    {"MarianMTModel", "marian", ARCH_MARIAN},
};
#define NARCHS (sizeof ARCHS / sizeof ARCHS[0])

/* ---- configuration ------------------------------------------------------- */

/* The architecture named by a parsed config.json: 0 and *a set, 1 when it is
 * not one of ours (*name = what it says, for the message). */
static int arch_of(const cJSON *cfg, s2s_arch *a, const char **name)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    *name = "(none)";
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0))) {
        *name = cJSON_GetArrayItem(archs, 0)->valuestring;
        for (size_t i = 0; i < NARCHS; i++)
            if (!strcmp(*name, ARCHS[i].arch))
                return *a = ARCHS[i].a, 0;
        return 1;
    }
    if (cJSON_IsString(type)) {
        *name = type->valuestring;
        for (size_t i = 0; i < NARCHS; i++)
            if (!strcmp(*name, ARCHS[i].type))
                return *a = ARCHS[i].a, 0;
    }
    return 1;
}

int s2s_supports(const char *dir, ys_error *err)
{
    cJSON *cfg;
    int r = ckpt_model_config(dir, &cfg, err);   /* a GGUF file's too: a decoder, never ours */
    if (r < 0)
        return r;
    s2s_arch a;
    const char *name;
    int rc = arch_of(cfg, &a, &name) == 0;
    cJSON_Delete(cfg);
    return rc;
}

static int cfg_id(s2s_model *m, const char *key, long dflt, int32_t *out, ys_error *err)
{
    long v;
    int rc = ckpt_config_int(m->ck, key, dflt, &v, err);
    if (rc < 0)
        return rc;
    if (v < -1 || v >= m->info.vocab)
        return ys_fail(err, YS_EINPUT, "%s/config.json: \"%s\" %ld outside the vocabulary [0, %d)",
                       ckpt_dir(m->ck), key, v, m->info.vocab);
    *out = (int32_t)v;
    return 0;
}

static int config_t5(s2s_model *m, ys_error *err)
{
    s2s_info *mi = &m->info;
    const char *dir = ckpt_dir(m->ck), *ff;
    int rc;
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "d_model", 0, &mi->d_model, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_layers", 0, &mi->enc_layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_decoder_layers", mi->enc_layers, &mi->dec_layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "num_heads", 0, &mi->heads, err)) || (rc = ckpt_config_dim(m->ck, "d_ff", 0, &mi->ffn, err)) ||
        (rc = ckpt_config_dim(m->ck, "d_kv", mi->d_model / mi->heads, &m->hd, err)) ||
        (rc = ckpt_config_dim(m->ck, "relative_attention_num_buckets", 32, &m->nbuckets, err)) ||
        (rc = ckpt_config_dim(m->ck, "relative_attention_max_distance", 128, &m->maxdist, err)))
        return rc;
    if ((rc = ckpt_config_num(m->ck, "layer_norm_epsilon", 1e-6, &m->eps, err)) < 0 ||
        (rc = ckpt_config_str(m->ck, "feed_forward_proj", "relu", &ff, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "tie_word_embeddings", 1, &m->tied, err)) < 0)
        return rc;
    if (!strcmp(ff, "relu"))
        m->act = ACT_RELU;
    else if (!strcmp(ff, "gated-gelu"))
        m->act = ACT_GELU_TANH, m->gated = 1;   /* HF maps gated-gelu to gelu_new */
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: feed_forward_proj \"%.40s\" is not supported "
                       "(relu, gated-gelu)", dir, ff);
    if (m->nbuckets < 4 || m->maxdist < m->nbuckets / 4 + 1)
        return ys_fail(err, YS_EINPUT, "%s/config.json: relative_attention_num_buckets %d / max_distance %d "
                       "out of range", dir, m->nbuckets, m->maxdist);
    m->embed_scale = 1.0f;
    m->out_scale = m->tied ? (float)(1.0 / sqrt((double)mi->d_model)) : 1.0f;
    mi->max_source_positions = 0;
    int32_t pad;
    if ((rc = cfg_id(m, "pad_token_id", 0, &pad, err)) || (rc = cfg_id(m, "eos_token_id", 1, &mi->eos_id, err)) ||
        (rc = cfg_id(m, "decoder_start_token_id", pad, &mi->decoder_start_id, err)))
        return rc;
    mi->pad_id = pad;
    return 0;
}

static int config_bart(s2s_model *m, ys_error *err)
{
    s2s_info *mi = &m->info;
    const char *dir = ckpt_dir(m->ck), *act;
    int rc, dheads = 0, dffn = 0, scale, norm_before;
    if ((rc = ckpt_config_dim(m->ck, "vocab_size", 0, &mi->vocab, err)) || (rc = ckpt_config_dim(m->ck, "d_model", 0, &mi->d_model, err)) ||
        (rc = ckpt_config_dim(m->ck, "encoder_layers", 0, &mi->enc_layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "decoder_layers", 0, &mi->dec_layers, err)) ||
        (rc = ckpt_config_dim(m->ck, "encoder_attention_heads", 0, &mi->heads, err)) ||
        (rc = ckpt_config_dim(m->ck, "decoder_attention_heads", 0, &dheads, err)) ||
        (rc = ckpt_config_dim(m->ck, "encoder_ffn_dim", 0, &mi->ffn, err)) ||
        (rc = ckpt_config_dim(m->ck, "decoder_ffn_dim", 0, &dffn, err)) ||
        (rc = ckpt_config_dim(m->ck, "max_position_embeddings", 0, &mi->max_source_positions, err)))
        return rc;
    if (dheads != mi->heads || dffn != mi->ffn)
        return ys_fail(err, YS_EINPUT, "%s/config.json: encoder and decoder with different head counts or "
                       "ffn widths are not supported", dir);
    if (mi->d_model % mi->heads)
        return ys_fail(err, YS_EINPUT, "%s/config.json: d_model %d is not a multiple of %d heads", dir,
                       mi->d_model, mi->heads);
    m->hd = mi->d_model / mi->heads;
    m->eps = 1e-5;   /* nn.LayerNorm's default; BART does not configure it */
    if ((rc = ckpt_config_str(m->ck, "activation_function", "gelu", &act, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "scale_embedding", 0, &scale, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "normalize_before", 0, &norm_before, err)) < 0 ||
        (rc = ckpt_config_bool(m->ck, "tie_word_embeddings", 1, &m->tied, err)) < 0)
        return rc;
    if (!strcmp(act, "gelu"))
        m->act = ACT_GELU_ERF;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        m->act = ACT_GELU_TANH;
    else if (!strcmp(act, "relu"))
        m->act = ACT_RELU;
    else if (!strcmp(act, "swish") || !strcmp(act, "silu"))
        m->act = ACT_SILU;
    else
        return ys_fail(err, YS_EINPUT, "%s/config.json: activation_function \"%.40s\" is not supported "
                       "(gelu, gelu_new, relu, swish)", dir, act);
    if (norm_before)
        return ys_fail(err, YS_EINPUT, "%s/config.json: normalize_before (pre-LN, mBART-style) is not supported",
                       dir);
    m->embed_scale = scale ? (float)sqrt((double)mi->d_model) : 1.0f;
    m->out_scale = 1.0f;
    int32_t pad;
    if ((rc = cfg_id(m, "pad_token_id", 1, &pad, err)) ||
        (rc = cfg_id(m, "eos_token_id", 2, &mi->eos_id, err)) ||
        (rc = cfg_id(m, "decoder_start_token_id", m->arch == ARCH_BART ? 2 : pad, &mi->decoder_start_id, err)))
        return rc;
    mi->pad_id = pad;
    return 0;
}

/* ---- generation defaults ----------------------------------------------------
 * HF uses generation_config.json when the folder has one and otherwise the
 * generation keys of config.json, then GenerationConfig's own defaults. */

static int gen_int(const cJSON *src, const char *file, const char *key, long dflt, long *out, ys_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (!v || cJSON_IsNull(v))
        return *out = dflt, 0;
    /* the range first: converting 1e300 to long is undefined behaviour */
    if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= 1e9) || v->valuedouble != floor(v->valuedouble))
        return ys_fail(err, YS_EINPUT, "%s: \"%s\" must be an integer", file, key);
    *out = (long)v->valuedouble;
    return 0;
}

static int load_gen_defaults(s2s_model *m, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/generation_config.json", ckpt_dir(m->ck));
    /* generation_config.json is optional: without it config.json decides */
    int rc = 0;
    cJSON *own = NULL;
    if (access(path, F_OK) == 0 && (rc = ckpt_read_json(path, &own, err)) < 0)
        return rc;
    const cJSON *src = own ? own : ckpt_config(m->ck);
    if (!own)
        snprintf(path, sizeof path, "%s/config.json", ckpt_dir(m->ck));
    s2s_gen_opts *g = &m->gen;
    long max_new = 0, max_len = 0, min_new = 0, min_len = 0, beams = 1, ngram = 0, bos = -1, eos = -1;
    if ((rc = gen_int(src, path, "max_new_tokens", 0, &max_new, err)) ||
        (rc = gen_int(src, path, "max_length", 20, &max_len, err)) ||
        (rc = gen_int(src, path, "min_new_tokens", 0, &min_new, err)) ||
        (rc = gen_int(src, path, "min_length", 0, &min_len, err)) ||
        (rc = gen_int(src, path, "num_beams", 1, &beams, err)) ||
        (rc = gen_int(src, path, "no_repeat_ngram_size", 0, &ngram, err)) ||
        (rc = gen_int(src, path, "forced_bos_token_id", -1, &bos, err)) ||
        (rc = gen_int(src, path, "forced_eos_token_id", -1, &eos, err)))
        goto out;
    /* lengths count the decoder start token in HF (max_length, min_length) */
    g->max_new_tokens = max_new > 0 ? (size_t)max_new : max_len > 1 ? (size_t)(max_len - 1) : 0;
    g->min_new_tokens = min_new > 0 ? (size_t)min_new : min_len > 1 ? (size_t)(min_len - 1) : 0;
    g->num_beams = beams < 1 ? 1 : (int)beams;
    g->no_repeat_ngram_size = ngram < 0 ? 0 : (int)ngram;
    if (bos >= m->info.vocab || eos >= m->info.vocab || bos < -1 || eos < -1) {
        rc = ys_fail(err, YS_EINPUT, "%s: forced_bos/eos_token_id outside the vocabulary", path);
        goto out;
    }
    g->forced_bos_id = (int32_t)bos;
    g->forced_eos_id = (int32_t)eos;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, "length_penalty");
    /* a value of another type was silently the default: refuse it */
    if (v && !cJSON_IsNull(v) && !cJSON_IsNumber(v)) {
        rc = ys_fail(err, YS_EINPUT, "%s: \"length_penalty\" must be a number, found %s", path, ys_json_kind(v));
        goto out;
    }
    g->length_penalty = cJSON_IsNumber(v) ? v->valuedouble : 1.0;
    v = cJSON_GetObjectItemCaseSensitive(src, "early_stopping");
    if (v && !cJSON_IsNull(v) && !cJSON_IsBool(v) && !(cJSON_IsString(v) && !strcmp(v->valuestring, "never"))) {
        rc = ys_fail(err, YS_EINPUT, "%s: \"early_stopping\" must be true, false or \"never\"", path);
        goto out;
    }
    g->early_stopping = cJSON_IsTrue(v) ? 1 : cJSON_IsString(v) && !strcmp(v->valuestring, "never") ? 2 : 0;
    g->stop = NULL;
    g->stop_user = NULL;

    /* bad_words_ids: [[id], ...]; longer entries (multi-token phrases) are
     * remembered so generation can refuse rather than ignore them */
    const cJSON *bw = cJSON_GetObjectItemCaseSensitive(src, "bad_words_ids"), *e;
    if (cJSON_IsArray(bw)) {
        m->bad = calloc((size_t)cJSON_GetArraySize(bw) + 1, sizeof *m->bad);
        if (!m->bad) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(e, bw) {
            const cJSON *id = cJSON_GetArrayItem(e, 0);
            if (!cJSON_IsArray(e) || !cJSON_IsNumber(id) || id->valuedouble < 0 ||
                id->valuedouble >= m->info.vocab) {
                rc = ys_fail(err, YS_EINPUT, "%s: bad_words_ids must list token ids in the vocabulary", path);
                goto out;
            }
            if (cJSON_GetArraySize(e) == 1)
                m->bad[m->nbad++] = (int32_t)id->valuedouble;
            else
                m->bad_multi = 1;
        }
    }
out:
    cJSON_Delete(own);
    return rc;
}

/* ---- weights --------------------------------------------------------------- */

#define NEED(ndim, d0, d1, dst, ...) \
    (snprintf(n, sizeof n, __VA_ARGS__), (rc = ckpt_need(m->ck, n, ndim, d0, d1, dst, err)) != 0)
#define NEED_SRC(ndim, d0, d1, dst, ...) \
    (snprintf(n, sizeof n, __VA_ARGS__), (rc = ckpt_need_src(m->ck, n, ndim, d0, d1, dst, err)) != 0)

static int bind_t5_attn(s2s_model *m, attn_w *a, const char *p, ys_error *err)
{
    int64_t d = m->info.d_model, in = m->inner;
    char n[320];   /* p (< 256 bytes) and a suffix */
    int rc;
    if (NEED_SRC(2, in, d, &a->wq, "%s.q.weight", p) || NEED_SRC(2, in, d, &a->wk, "%s.k.weight", p) ||
        NEED_SRC(2, in, d, &a->wv, "%s.v.weight", p) || NEED_SRC(2, d, in, &a->wo, "%s.o.weight", p))
        return rc;
    return 0;
}

static int bind_t5_ff(s2s_model *m, block *B, const char *p, ys_error *err)
{
    int64_t d = m->info.d_model, F = m->info.ffn;
    char n[320];   /* p (< 256 bytes) and a suffix */
    int rc;
    if (m->gated ? (NEED_SRC(2, F, d, &B->fc1, "%s.wi_0.weight", p) || NEED_SRC(2, F, d, &B->fc1_gate, "%s.wi_1.weight", p))
                 : NEED_SRC(2, F, d, &B->fc1, "%s.wi.weight", p))
        return rc;
    if (NEED_SRC(2, d, F, &B->fc2, "%s.wo.weight", p))
        return rc;
    return 0;
}

static int bind_t5(s2s_model *m, ys_error *err)
{
    const s2s_info *mi = &m->info;
    int64_t d = mi->d_model;
    char n[256], p[256];
    int rc;
    const char *emb = ckpt_get(m->ck, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
    if (NEED(2, mi->vocab, d, &m->embed, "%s", emb) ||
        NEED(1, d, 0, &m->enc_final.w, "encoder.final_layer_norm.weight") ||
        NEED(1, d, 0, &m->dec_final.w, "decoder.final_layer_norm.weight") ||
        NEED(2, m->nbuckets, mi->heads, &m->enc_rel,
             "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight") ||
        NEED(2, m->nbuckets, mi->heads, &m->dec_rel,
             "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"))
        return rc;
    m->lm_head = (ckpt_src){m->embed, CKPT_F32, 0};   /* tied: the embedding's F32 view, needed anyway */
    if (!m->tied && NEED_SRC(2, mi->vocab, d, &m->lm_head, "lm_head.weight"))
        return rc;
    for (int l = 0; l < mi->enc_layers; l++) {
        block *B = &m->enc[l];
        snprintf(p, sizeof p, "encoder.block.%d.layer.0.SelfAttention", l);
        if ((rc = bind_t5_attn(m, &B->self, p, err)))
            return rc;
        snprintf(p, sizeof p, "encoder.block.%d.layer.1.DenseReluDense", l);
        if ((rc = bind_t5_ff(m, B, p, err)) ||
            NEED(1, d, 0, &B->ln_self.w, "encoder.block.%d.layer.0.layer_norm.weight", l) ||
            NEED(1, d, 0, &B->ln_ff.w, "encoder.block.%d.layer.1.layer_norm.weight", l))
            return rc;
    }
    for (int l = 0; l < mi->dec_layers; l++) {
        block *B = &m->dec[l];
        snprintf(p, sizeof p, "decoder.block.%d.layer.0.SelfAttention", l);
        if ((rc = bind_t5_attn(m, &B->self, p, err)))
            return rc;
        snprintf(p, sizeof p, "decoder.block.%d.layer.1.EncDecAttention", l);
        if ((rc = bind_t5_attn(m, &B->cross, p, err)))
            return rc;
        snprintf(p, sizeof p, "decoder.block.%d.layer.2.DenseReluDense", l);
        if ((rc = bind_t5_ff(m, B, p, err)) ||
            NEED(1, d, 0, &B->ln_self.w, "decoder.block.%d.layer.0.layer_norm.weight", l) ||
            NEED(1, d, 0, &B->ln_cross.w, "decoder.block.%d.layer.1.layer_norm.weight", l) ||
            NEED(1, d, 0, &B->ln_ff.w, "decoder.block.%d.layer.2.layer_norm.weight", l))
            return rc;
    }
    return 0;
}

static int bind_bart_attn(s2s_model *m, attn_w *a, const char *p, ys_error *err)
{
    int64_t d = m->info.d_model;
    char n[320];   /* p (< 256 bytes) and a suffix */
    int rc;
    if (NEED_SRC(2, d, d, &a->wq, "%s.q_proj.weight", p) || NEED(1, d, 0, &a->bq, "%s.q_proj.bias", p) ||
        NEED_SRC(2, d, d, &a->wk, "%s.k_proj.weight", p) || NEED(1, d, 0, &a->bk, "%s.k_proj.bias", p) ||
        NEED_SRC(2, d, d, &a->wv, "%s.v_proj.weight", p) || NEED(1, d, 0, &a->bv, "%s.v_proj.bias", p) ||
        NEED_SRC(2, d, d, &a->wo, "%s.out_proj.weight", p) || NEED(1, d, 0, &a->bo, "%s.out_proj.bias", p))
        return rc;
    return 0;
}

static int bind_ln(s2s_model *m, norm_w *w, const char *p, ys_error *err)
{
    int64_t d = m->info.d_model;
    char n[320];   /* p (< 256 bytes) and a suffix */
    int rc;
    if (NEED(1, d, 0, &w->w, "%s.weight", p) || NEED(1, d, 0, &w->b, "%s.bias", p))
        return rc;
    return 0;
}

/* Marian's sinusoids (HF's layout): column j < ceil(d/2) is sin(pos * f_j),
 * the rest cos(pos * f_(j - ceil(d/2))), f_i = 10000^(-2i/d); computed in
 * double and rounded once, as HF builds it with numpy then stores fp32. */
static float *sinusoids(size_t npos, size_t d)
{
    float *t = malloc(npos * d * sizeof *t);
    size_t half = (d + 1) / 2;
    for (size_t p = 0; t && p < npos; p++)
        for (size_t j = 0; j < d; j++) {
            size_t i = j < half ? j : j - half;   /* angle index: even column 2i / odd column 2i+1 */
            double a = (double)p / pow(10000.0, (double)(2 * i) / (double)d);
            t[p * d + j] = (float)(j < half ? sin(a) : cos(a));
        }
    return t;
}

static int bind_bart(s2s_model *m, ys_error *err)
{
    const s2s_info *mi = &m->info;
    int64_t d = mi->d_model, F = mi->ffn, P = mi->max_source_positions;
    char n[256], p[256];
    int rc;
    const char *emb = ckpt_get(m->ck, "model.shared.weight") ? "model.shared.weight"
                                                             : "model.encoder.embed_tokens.weight";
    if (NEED(2, mi->vocab, d, &m->embed, "%s", emb))
        return rc;
    m->lm_head = (ckpt_src){m->embed, CKPT_F32, 0};   /* tied: the embedding's F32 view, needed anyway */
    if (!m->tied && NEED_SRC(2, mi->vocab, d, &m->lm_head, "lm_head.weight"))
        return rc;
    if (ckpt_get(m->ck, "final_logits_bias") && NEED(2, 1, mi->vocab, &m->logits_bias, "final_logits_bias"))
        return rc;
    if (m->arch == ARCH_BART) {
        /* learned positions, rows offset by 2 (a quirk of the original
         * fairseq model HF preserves) */
        if (NEED(2, P + 2, d, &m->enc_pos, "model.encoder.embed_positions.weight") ||
            NEED(2, P + 2, d, &m->dec_pos, "model.decoder.embed_positions.weight") ||
            (rc = bind_ln(m, &m->enc_ln_emb, "model.encoder.layernorm_embedding", err)) ||
            (rc = bind_ln(m, &m->dec_ln_emb, "model.decoder.layernorm_embedding", err)))
            return rc;
        m->pos_offset = 2;
    } else {
        const char *which[2] = {"model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight"};
        const float **dst[2] = {&m->enc_pos, &m->dec_pos};
        for (int i = 0; i < 2; i++) {
            if (ckpt_get(m->ck, which[i])) {
                if (NEED(2, P, d, dst[i], "%s", which[i]))
                    return rc;
                continue;
            }
            if (!m->sin_pos && !(m->sin_pos = sinusoids((size_t)P, (size_t)d)))
                return ys_fail(err, YS_ENOMEM, "out of memory");
            *dst[i] = m->sin_pos;
        }
    }
    for (int side = 0; side < 2; side++) {
        const char *s = side ? "decoder" : "encoder";
        for (int l = 0; l < (side ? mi->dec_layers : mi->enc_layers); l++) {
            block *B = side ? &m->dec[l] : &m->enc[l];
            snprintf(p, sizeof p, "model.%s.layers.%d.self_attn", s, l);
            if ((rc = bind_bart_attn(m, &B->self, p, err)))
                return rc;
            snprintf(p, sizeof p, "model.%s.layers.%d.self_attn_layer_norm", s, l);
            if ((rc = bind_ln(m, &B->ln_self, p, err)))
                return rc;
            if (side) {
                snprintf(p, sizeof p, "model.%s.layers.%d.encoder_attn", s, l);
                if ((rc = bind_bart_attn(m, &B->cross, p, err)))
                    return rc;
                snprintf(p, sizeof p, "model.%s.layers.%d.encoder_attn_layer_norm", s, l);
                if ((rc = bind_ln(m, &B->ln_cross, p, err)))
                    return rc;
            }
            snprintf(p, sizeof p, "model.%s.layers.%d.final_layer_norm", s, l);
            if ((rc = bind_ln(m, &B->ln_ff, p, err)) ||
                NEED_SRC(2, F, d, &B->fc1, "model.%s.layers.%d.fc1.weight", s, l) ||
                NEED(1, F, 0, &B->fc1_b, "model.%s.layers.%d.fc1.bias", s, l) ||
                NEED_SRC(2, d, F, &B->fc2, "model.%s.layers.%d.fc2.weight", s, l) ||
                NEED(1, d, 0, &B->fc2_b, "model.%s.layers.%d.fc2.bias", s, l))
                return rc;
        }
    }
    return 0;
}
#undef NEED
#undef NEED_SRC

/* Every projection and the head packed once for gm_run (gemm.h), on the
 * pool, the checkpoint's pages given back as they are packed (ckpt_pack.h):
 * the resident size stays about one copy of the weights. A tied head is
 * also the embedding, read from its F32 view. */
static size_t attn_jobs(attn_w *a, size_t d, size_t in, gm_job *j)
{
    j[0] = ckpt_pack_linear(&a->pq, a->wq, d, in);
    j[1] = ckpt_pack_linear(&a->pk, a->wk, d, in);
    j[2] = ckpt_pack_linear(&a->pv, a->wv, d, in);
    j[3] = ckpt_pack_linear(&a->po, a->wo, in, d);
    return 4;
}

static size_t block_jobs(block *B, int cross, int gated, size_t d, size_t in, size_t F, gm_job *j)
{
    size_t n = attn_jobs(&B->self, d, in, j);
    if (cross)
        n += attn_jobs(&B->cross, d, in, j + n);
    j[n++] = ckpt_pack_linear(&B->p1, B->fc1, d, F);
    if (gated)
        j[n++] = ckpt_pack_linear(&B->pgate, B->fc1_gate, d, F);
    j[n++] = ckpt_pack_linear(&B->p2, B->fc2, F, d);
    return n;
}

static int pack_weights(s2s_model *m, ys_error *err)
{
    size_t d = (size_t)m->info.d_model, in = (size_t)m->inner, F = (size_t)m->info.ffn, n = 0;
    gm_job *j = malloc(((size_t)(m->info.enc_layers + m->info.dec_layers) * 11 + 1) * sizeof *j);
    if (!j)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    j[n++] = ckpt_pack_linear(&m->phead, m->lm_head, d, (size_t)m->info.vocab);
    for (int l = 0; l < m->info.enc_layers; l++)
        n += block_jobs(&m->enc[l], 0, m->gated, d, in, F, j + n);
    for (int l = 0; l < m->info.dec_layers; l++)
        n += block_jobs(&m->dec[l], 1, m->gated, d, in, F, j + n);
    int rc = ckpt_pack_all(m->ck, m->pool, j, n);
    free(j);
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory packing the weights") : 0;
}

static void free_block(block *B)
{
    attn_w *a[2] = {&B->self, &B->cross};
    for (int i = 0; i < 2; i++)
        gm_free(&a[i]->pq), gm_free(&a[i]->pk), gm_free(&a[i]->pv), gm_free(&a[i]->po);
    gm_free(&B->p1), gm_free(&B->pgate), gm_free(&B->p2);
}

static void free_packed(s2s_model *m)
{
    for (int l = 0; m->enc && l < m->info.enc_layers; l++)
        free_block(&m->enc[l]);
    for (int l = 0; m->dec && l < m->info.dec_layers; l++)
        free_block(&m->dec[l]);
    gm_free(&m->phead);
}

static void free_exes(s2s_model *m)
{
    kn_pool_free(m->pool);
    m->pool = NULL;
}

/* The pool of `threads` threads (gm_run and attention share out its work). */
static int alloc_pool(s2s_model *m, int threads, ys_error *err)
{
    if (threads < 1)
        threads = eng_default_threads();
    free_exes(m);
    if (kn_pool_new(threads, &m->blas, &m->pool))
        return ys_fail(err, YS_ENOMEM, "out of memory creating %d threads", threads);
    m->exe = (s2s_exe){m->pool};
    return 0;
}

int s2s_load(const char *dir, s2s_model **out, ys_error *err) { return s2s_load_adapter(dir, NULL, out, err); }

int s2s_load_adapter(const char *dir, const char *adapter_dir, s2s_model **out, ys_error *err)
{
    *out = NULL;
    s2s_model *m = calloc(1, sizeof *m);
    if (!m)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = ckpt_open_adapted(dir, adapter_dir, &m->ck, err);
    const char *name;
    if (rc == 0 && arch_of(ckpt_config(m->ck), &m->arch, &name) != 0)
        rc = ys_fail(err, YS_EINPUT, "%s/config.json: architecture \"%.60s\" is not a supported "
                     "encoder-decoder (supported: %s)", dir, name, SUPPORTED);
    if (rc == 0) {
        snprintf(m->archname, sizeof m->archname, "%s", ARCHS[m->arch].arch);
        m->info.arch = m->archname;
        rc = m->arch == ARCH_T5 ? config_t5(m, err) : config_bart(m, err);
    }
    if (rc == 0) {
        m->inner = m->info.heads * m->hd;
        m->enc = calloc((size_t)m->info.enc_layers, sizeof *m->enc);
        m->dec = calloc((size_t)m->info.dec_layers, sizeof *m->dec);
        if (!m->enc || !m->dec)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = m->arch == ARCH_T5 ? bind_t5(m, err) : bind_bart(m, err);
    if (rc == 0)
        rc = load_gen_defaults(m, err);
    if (rc == 0)
        rc = eng_blas_open(&m->blas, err);
    if (rc == 0)
        rc = alloc_pool(m, 0, err);
    if (rc == 0)
        rc = pack_weights(m, err);
    if (rc == 0)
        rc = ckpt_adapter_check(m->ck, err);
    if (rc != 0) {
        s2s_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void s2s_free(s2s_model *m)
{
    if (!m)
        return;
    free_exes(m);
    free_packed(m);
    free(m->ws);
    if (m->blas.handle)
        eng_blas_close(&m->blas);
    free(m->enc);
    free(m->dec);
    free(m->sin_pos);
    free(m->bad);
    ckpt_close(m->ck);
    free(m);
}

const s2s_info *s2s_get_info(const s2s_model *m) { return &m->info; }

int s2s_set_threads(s2s_model *m, int n, ys_error *err) { return alloc_pool(m, n, err); }

void s2s_gen_defaults(const s2s_model *m, s2s_gen_opts *o) { *o = m->gen; }
