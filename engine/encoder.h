/* encoder.h — encoder-only sequence classifiers from a Hugging Face
 * checkpoint folder, evaluated in fp32 on the CPU.
 *
 * Architectures (config.json "architectures"[0]):
 *   BertForSequenceClassification     word + position + token-type embeddings,
 *                                     post-LN blocks, pooler (tanh dense on
 *                                     [CLS]), classifier
 *   RobertaForSequenceClassification  BERT's encoder; positions start at
 *                                     pad_token_id + 1 (pad tokens take
 *                                     position pad_token_id, as HF does), head
 *                                     = dense + tanh on <s>, out_proj
 *   DistilBertForSequenceClassification  no token types; pre_classifier +
 *                                     ReLU on [CLS], classifier
 * hidden_act / activation: gelu (erf), gelu_new, gelu_pytorch_tanh,
 * gelu_fast, relu; anything else (and BERT's relative position embeddings)
 * fails to load with a message saying so. num_labels is the length of
 * id2label (else "num_labels", else 2); 1 means regression (the logit is the
 * score, e.g. STS-B).
 *
 * Sequences are computed at their own length, no padding: the logits equal
 * HF's for the same sequence in a padded batch with an attention mask.
 *
 * Determinism (as model.h): a sequence's logits are bitwise the same
 * whatever batch it is in and whatever thread count the model uses — every
 * projection is gemm.h's packed GEMM, whose result for a row does not
 * depend on the other rows it is computed with (a fixed fma order per
 * element), attention is per (sequence, head, row tile). A batch runs in
 * chunks of ~512 tokens, layer by layer, each projection one GEMM over all
 * the chunk's rows, the threads sharing out a chunk's work or, with enough
 * chunks, taking whole chunks; none of that changes a sequence's bits.
 *
 * Threads and ownership as model.h: the model owns a pool (default
 * eng_default_threads()); calls on one model must not overlap. enc_load
 * returns a model the caller frees with enc_free; it keeps the checkpoint
 * mapped until then, and also holds a packed copy of every projection
 * weight (all but the embeddings: ~340 MB more for BERT-base), made at
 * load. The info (labels included) lives as long as the model. Output
 * buffers are the caller's.
 */
#ifndef YS_ENGINE_ENCODER_H
#define YS_ENGINE_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct enc_model enc_model;

typedef struct enc_info {
    const char *arch;          /* "BertForSequenceClassification", ... */
    int vocab, hidden, layers, heads, ffn;
    int max_positions;         /* usable tokens per sequence (RoBERTa: max_position_embeddings - pad - 1) */
    int type_vocab;            /* 0 when the model has no token types (DistilBERT) */
    int num_labels;            /* 1 = regression */
    const char *const *labels; /* id2label names, num_labels entries ("LABEL_0" ... when absent) */
    int32_t pad_id;            /* config pad_token_id, -1 if none */
} enc_info;

/* 1 when dir/config.json names an architecture enc_load supports, 0 when
 * not, <0 (YS_EIO / YS_EINPUT) when config.json cannot be read or parsed.
 * Cheap: reads config.json only. */
int enc_supports(const char *dir, ys_error *err);

/* Load and validate (every tensor present with its config-implied shape). */
int enc_load(const char *dir, enc_model **out, ys_error *err);
/* enc_load with a PEFT LoRA adapter merged at load (model.h,
 * model_load_adapter; NULL: none). */
int enc_load_adapter(const char *dir, const char *adapter_dir, enc_model **out, ys_error *err);
void enc_free(enc_model *m);
const enc_info *enc_get_info(const enc_model *m);
/* Resize the thread pool (n < 1 means eng_default_threads()). */
int enc_set_threads(enc_model *m, int n, ys_error *err);

/* logits[s] receives num_labels floats for sequence s. type_ids may be NULL
 * (all zeros), or type_ids[s] NULL for one sequence. Token ids out of range,
 * type ids >= type_vocab (any nonzero type id for DistilBERT), empty
 * sequences or sequences longer than max_positions are YS_EINPUT naming
 * sequence and position; nothing is computed then. */
int enc_classify(enc_model *m, const int32_t *const *ids, const int32_t *const *type_ids,
                 const size_t *lens, size_t nseq, float *const *logits, ys_error *err);

#endif
