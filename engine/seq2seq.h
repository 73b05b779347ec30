/* seq2seq.h — encoder-decoder models from a Hugging Face checkpoint folder,
 * evaluated in fp32 on the CPU, as transformers 4.40-4.47 computes them.
 *
 * Architectures (config.json "architectures", else "model_type"):
 *   T5ForConditionalGeneration  RMS norm, relative position buckets (block 0
 *                      of each stack owns the bias table), no 1/sqrt(d)
 *                      scaling, "relu" or "gated-gelu" MLP, tied head
 *                      rescaled by d_model^-0.5 (or a separate lm_head)
 *   BartForConditionalGeneration  learned positions (offset 2),
 *                      layernorm_embedding, post-LN blocks, final_logits_bias
 *   MarianMTModel      sinusoidal positions (read, or computed when the
 *                      tensor is absent), scale_embedding, post-LN blocks
 * Anything else fails to load with a message listing these.
 *
 * Generation follows HF generate(): greedy, or beam search with
 * BeamSearchScorer's rules (2*num_beams candidates, EOS candidates ranked
 * below num_beams dropped, score = sum_logprobs / generated_len^length_penalty
 * with generated_len counting the EOS, early_stopping True/False/"never"),
 * and the logits processors no_repeat_ngram_size, bad_words_ids (single
 * tokens), min length, forced BOS/EOS. Defaults come from the folder's
 * generation_config.json when present, else from config.json (as HF).
 * The folder's single-token bad_words_ids (Marian's [[pad]]) always apply;
 * generation refuses (YS_EUSAGE) a folder with multi-token ones.
 *
 * Determinism: as model.h — a pair's log-probabilities are bitwise the same
 * whatever batch it is scored in and whatever thread count is used, and so
 * are generated ids. Every projection is a gm_run (gemm.h, weights packed
 * at load), whose result for a row depends on that row alone: scoring puts
 * the rows of all pairs of a group through each projection together;
 * attention runs per pair (or beam), the same sgemm calls whichever thread
 * runs them. Decoding is one row per step, or one per beam, the beams'
 * rows sharing each projection without perturbing each other.
 *
 * Threads, ownership: as model.h. s2s_load returns a model freed with
 * s2s_free; a model is used by one thread at a time. Output buffers are the
 * caller's, except s2s_generate's *out (malloc'd, the caller frees).
 * Errors: 0 or a negative YS_E* code with err filled (bad ids are YS_EINPUT
 * naming the pair and position).
 */
#ifndef YS_ENGINE_SEQ2SEQ_H
#define YS_ENGINE_SEQ2SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct s2s_model s2s_model;

typedef struct s2s_info {
    const char *arch;
    int vocab, d_model, enc_layers, dec_layers, heads, ffn;
    int32_t decoder_start_id, eos_id, pad_id;
    int max_source_positions;   /* 0 = unlimited (T5) */
} s2s_info;

typedef struct s2s_gen_opts {
    size_t max_new_tokens;
    size_t min_new_tokens;      /* EOS suppressed before this many tokens */
    int num_beams;              /* 1 = greedy */
    double length_penalty;
    int early_stopping;         /* 0 False, 1 True, 2 "never" */
    int no_repeat_ngram_size;   /* 0 = off */
    int32_t forced_bos_id, forced_eos_id;   /* -1 none */
    /* greedy only: called after each token with the tokens generated so
     * far; nonzero stops (that token stays in the output) */
    int (*stop)(const int32_t *generated, size_t n, void *user);
    void *stop_user;
} s2s_gen_opts;

/* 1 when dir holds a supported encoder-decoder config, 0 when it holds
 * something else (e.g. a decoder-only model), < 0 when config.json cannot
 * be read. Only config.json is read. */
int s2s_supports(const char *dir, ys_error *err);
/* Load and validate (every tensor present with its config-implied shape). */
int s2s_load(const char *dir, s2s_model **out, ys_error *err);
/* s2s_load with a PEFT LoRA adapter merged at load (model.h,
 * model_load_adapter; NULL: none). */
int s2s_load_adapter(const char *dir, const char *adapter_dir, s2s_model **out, ys_error *err);
void s2s_free(s2s_model *m);
const s2s_info *s2s_get_info(const s2s_model *m);
/* Resize the thread pool (n < 1 means eng_default_threads()). */
int s2s_set_threads(s2s_model *m, int n, ys_error *err);
/* The folder's generation defaults (see the top comment); stop = NULL. */
void s2s_gen_defaults(const s2s_model *m, s2s_gen_opts *o);

/* For pair s: logprobs[s][i] = log P(dec[s][i+1] | src[s], dec[s][0..i]),
 * i < dec_lens[s]-1 (dec[s][0] is normally decoder_start_id), in double
 * from fp32 logits; greedy[s][i] = 1 when dec[s][i+1] is the argmax (first
 * index on ties). greedy (or an entry of it) may be NULL. */
int s2s_logprobs(s2s_model *m, const int32_t *const *src, const size_t *src_lens,
                 const int32_t *const *dec, const size_t *dec_lens, size_t n,
                 double *const *logprobs, uint8_t *const *greedy, ys_error *err);

/* Generate from src; *out (malloc'd, caller frees) holds the ids after
 * decoder_start_id, including the EOS when one was generated — HF's
 * sequences[0][1:]. o NULL = s2s_gen_defaults. */
int s2s_generate(s2s_model *m, const int32_t *src, size_t n_src, const s2s_gen_opts *o,
                 int32_t **out, size_t *n_out, ys_error *err);

/* ---- batched (continuous) generation ---------------------------------------
 * As model.h's model_batch, for encoder-decoders: a step encodes the
 * sources of the requests that join (their rows sharing each encoder
 * projection, up to ~4096 source rows per step, at least one request),
 * then runs one decoder step over every active request's rows — one for a
 * greedy request, one per beam for beam search (a request's beams are rows
 * of the batch) — and applies each request's own processors and search.
 * A finished request leaves and the next waiting one takes its slot.
 * Every request's ids (and logits, score) are bitwise those of
 * s2s_generate on it alone, whatever the batch size, thread count,
 * neighbours and arrival order; s2s_generate is a batch of one.
 * Memory: a request's decoder caches (one, or 2 x num_beams) hold
 * max_new_tokens + 1 positions, allocated when it joins; when that fails
 * with other requests active, it waits and the capacity shrinks
 * (s2s_gen_batch_capacity). */
typedef struct s2s_request {
    /* in (the caller's, valid until done) */
    const int32_t *src;
    size_t n_src;
    s2s_gen_opts opts;     /* s2s_gen_defaults, then the caller's changes */
    float *logits;         /* greedy only: NULL or max_new_tokens x vocab, each step's raw logits */
    /* out, when done: out malloc'd (the caller frees), as s2s_generate's */
    int32_t *out;
    size_t n_out;
    double score;          /* beams: the chosen hypothesis' score; greedy: 0 */
    int done;
} s2s_request;

typedef struct s2s_gen_batch s2s_gen_batch;

int s2s_gen_batch_new(s2s_model *m, size_t max_active, s2s_gen_batch **out, ys_error *err);
/* Frees the batch and the outputs of requests it has not finished. */
void s2s_gen_batch_free(s2s_gen_batch *b);
/* Queue r, validating its options and source (s2s_generate's errors:
 * YS_EUSAGE, YS_EINPUT; then r is not queued). */
int s2s_gen_batch_add(s2s_gen_batch *b, s2s_request *r, ys_error *err);
size_t s2s_gen_batch_pending(const s2s_gen_batch *b);
size_t s2s_gen_batch_capacity(const s2s_gen_batch *b);
/* One step; the requests finished in it go to done[0..*n_done) (room for
 * max_active). After an error the batch is unusable (free it). */
int s2s_gen_batch_step(s2s_gen_batch *b, s2s_request **done, size_t *n_done, ys_error *err);

#endif
