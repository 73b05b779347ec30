/* model.h — decoder-only language models from a Hugging Face checkpoint
 * folder, evaluated in fp32 on the CPU.
 *
 * Architectures (config.json "architectures", else "model_type"):
 *   GPT2LMHeadModel    learned positions, pre-LN LayerNorm, GELU (tanh) MLP,
 *                      Conv1D weights [in, out], lm_head tied to wte
 *   LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM,
 *   GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM,
 *   GPTNeoXForCausalLM
 *                      one pass driven by a per-architecture description
 *                      (model_internal.h): RMSNorm ((1 + w) for Gemma) or
 *                      LayerNorm, sequential, parallel or sandwich residual,
 *                      gated (SiLU, GELU) or plain MLP, separate or fused
 *                      q/k/v, per-head q/k norms, RoPE of a fraction of each
 *                      head with every rope_scaling type transformers knows
 *                      (default, linear, dynamic, llama3, yarn, longrope),
 *                      attention and logit soft-caps, per-layer sliding
 *                      windows and RoPE bases
 * Anything else fails to load with a message listing these. Unsupported
 * options of a supported family (mlp_bias, Qwen's use_sliding_window,
 * another hidden_act or rope_scaling type) fail the same way rather than
 * compute something else. With a RoPE whose frequencies depend on the
 * length of the call (dynamic, longrope), model_logprobs rotates a sequence
 * as one call over its inputs (seqs[s][0 .. lens[s]-1)) would, and
 * model_step and model_generate rotate each call's tokens by that call's
 * end, as HF's cached generation does (Phi-3: model_generate recomputes
 * the whole sequence once when it grows past the pretrained length, as
 * Phi3ForCausalLM's generate does).
 *
 * Determinism: a sequence's log-probabilities and logits are bitwise the
 * same whatever batch it is scored in, whichever sequences share the batch,
 * whatever thread count the model uses, and whatever CPU it runs on: the
 * projections and the vocabulary head are gemm.h's packed GEMM (weights
 * packed at load), whose result for a row depends only on that row, and
 * attention is kernels.h's exact tile, whose result for a query row
 * depends only on that row and its keys and values. So a position's
 * numbers do not depend on how the sequence was cut into calls either:
 * scoring from any `from`, scoring behind a shared or cached prefix, and
 * KV-cached generation (model_step, model_generate) give the bits of
 * scoring the whole sequence — except with a RoPE whose frequencies depend
 * on the length of the call (dynamic, longrope; see above), where the
 * rotation itself differs.
 *
 * Memory: packing copies every projection weight; the checkpoint's mapped
 * pages of the packed tensors are then released (ckpt_release), so the
 * resident size is about one copy of the weights, not two. F16 and BF16
 * matrices stay 16-bit in the packed copy (gemm.h widens them exactly in
 * its kernels: the same bits as fp32 panels of the same values), so a
 * half-precision checkpoint costs about its file size, not twice it.
 *
 * Threads: the model owns a pool of `threads` threads (default
 * eng_default_threads()). Entry points call openblas_set_num_threads(1),
 * which is process-wide OpenBLAS state. A model is used by one thread at a
 * time (calls on one model must not overlap); separate models are
 * independent.
 *
 * Ownership: model_load returns a model the caller frees with model_free; it
 * keeps the checkpoint (mapped weights) open until then. Output buffers are
 * always the caller's.
 */
#ifndef YS_ENGINE_MODEL_H
#define YS_ENGINE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct model model;

typedef struct model_info {
    const char *arch;      /* "GPT2LMHeadModel", "LlamaForCausalLM", ... */
    int vocab, hidden, layers, heads, kv_heads, head_dim, ffn;
    int max_positions;     /* GPT-2: n_positions (a hard limit); others: 0 */
    int sliding_window;    /* 0 = none */
} model_info;

/* Load and validate (every tensor present with its config-implied shape). */
int model_load(const char *dir, model **out, ys_error *err);
/* model_load with the PEFT LoRA adapter folder adapter_dir merged into the
 * weights at load (checkpoint.h, ckpt_open_adapted; NULL: none): scoring
 * then runs at the base model's speed. An adapter tensor the model never
 * reads fails the load. */
int model_load_adapter(const char *dir, const char *adapter_dir, model **out, ys_error *err);

/* Round-to-nearest weight quantization at load (gemm.h, "Quantization",
 * gives the exact function): every matrix of the transformer blocks —
 * not the embeddings, and the LM head only when asked (quantize_head) — as
 * int8 per output channel, or
 * int4 in groups of `group_size` along the input with a zero point
 * (MODEL_Q_INT4) or symmetric (MODEL_Q_INT4_SYM). Activations stay fp32:
 * the result is the function of the dequantized weights. */
typedef enum { MODEL_Q_NONE, MODEL_Q_INT8, MODEL_Q_INT4, MODEL_Q_INT4_SYM } model_quant;
/* "int8", "int4", "int4-sym" -> *q; YS_EUSAGE naming the choices otherwise. */
int model_quant_parse(const char *s, model_quant *q, ys_error *err);
const char *model_quant_name(model_quant q);

/* Everything model_load can be asked for; zero-initialised = model_load. */
typedef struct model_opts {
    const char *adapter_dir;  /* PEFT LoRA folder merged at load, or NULL */
    int f32_weights;          /* 1: F16/BF16 matrices widened to fp32 panels at load (twice the
                                 memory, the same results; the engine before 16-bit panels) */
    model_quant quantize;     /* MODEL_Q_NONE: the weights as stored */
    model_quant quantize_head;/* the LM head too, by the same function (int4: group_size), as
                                 llama-quantize's output tensor; a tied model then reads its input
                                 embedding as stored. MODEL_Q_NONE: the head as stored */
    int group_size;           /* int4: k per group, 32 or 128 (0: 128) */
    int compute_bf16;         /* 1: every projection and the head in BF16 dot products (gemm.h,
                                 GM_BF16DOT: weights and activations rounded to BF16, fp32
                                 accumulation), as GPU evaluation in bfloat16; not with quantize */
    int compute_int8;         /* 1: with quantize, the quantized matrices in int8 dot products
                                 (gemm.h, GM_I8DOT: activations quantized per block of 32, exact
                                 integer sums), as llama.cpp computes; without quantize, a GGUF
                                 file's quantized tensors (head included) as GM_GGML_I8 */
} model_opts;
int model_load_opts(const char *dir, const model_opts *opts, model **out, ys_error *err);
void model_free(model *m);
const model_info *model_get_info(const model *m);
/* Resize the model's thread pool (n < 1 means eng_default_threads()). */
int model_set_threads(model *m, int n, ys_error *err);

/* Score nseq sequences. For sequence s, with f = from ? from[s] : 1
 * (1 <= f <= lens[s], clamped up to 1):
 *   logprobs[s][i] = log P(seqs[s][f + i] | seqs[s][0 .. f+i-1]), i < lens[s]-f
 * computed from fp32 logits z as z - max - log(sum exp(z - max)): the exps
 * in fp32 (vmath.h), their sum and the rest in double.
 * Optional outputs (the array, or any entry of it, may be NULL):
 *   greedy[s][i] = 1 when seqs[s][f+i] is the argmax of those logits (first
 *                  index wins ties, as torch.argmax), else 0
 *   logits[s]    = (lens[s]-f) x vocab floats, the raw logits for the same
 *                  positions
 * Sequences are scored independently (see Determinism): consecutive short
 * ones share forward passes (their rows go through each projection
 * together, up to ~1024 scored tokens at a time) with the same bits as
 * alone, and a sequence with the same `from` and the same first from-1
 * tokens as the one before it reuses that prefix's keys and values instead
 * of recomputing them (the choices of a multiple-choice question: pass
 * them adjacently).
 * A token id outside the vocabulary, an empty sequence, or a GPT-2
 * sequence longer than n_positions + 1 (the last token is only predicted,
 * never input) is a YS_EINPUT naming the sequence and position. */
int model_logprobs(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq,
                   const size_t *from, double *const *logprobs, uint8_t *const *greedy,
                   float *const *logits, ys_error *err);

/* ---- pipeline stages ------------------------------------------------------
 * A model too big for one machine is scored by K processes, each holding a
 * contiguous block of the decoder's layers (model_stage.c). The K blocks
 * hold about equal shares of the weights, the head counted as the layers
 * its vocabulary x hidden weights make, each at least one layer
 * (model_load.c); stage s loads its block, the embedding only when s == 0,
 * the final norm and the head only when s == K-1, and binds, validates and
 * packs only those tensors (the other tensors' bytes stay unread in the
 * mapped files), so its memory is its share of the weights. Adapters and
 * GGUF files are refused (YS_EUSAGE). model_get_info gives the stage's
 * number of layers; model_stage_range the range.
 *
 * Scoring: every stage is called with the same batch (seqs, lens, nseq,
 * from, as model_logprobs takes it). The first stage embeds the ids and
 * runs its layers; every stage but the last writes `rows` rows of H floats
 * (the residual stream after its last layer) to out, which the next stage
 * takes as in (nin rows); the last stage writes logprobs and greedy as
 * model_logprobs does. The rows a batch makes are fixed by the batch
 * (model_stage_rows; the same on every stage), and a row's arithmetic is
 * the whole model's, so a chain of stages gives bitwise the whole model's
 * log-probabilities (tests/unit/test_model_stage.c). Stages keep no state
 * between calls (no prefix cache: the keys and values of a batch's shared
 * prefixes are computed once within the batch, as model_logprobs does).
 *
 * Generation: a model_batch on every stage, run step by step with
 * model_batch_plan and model_batch_pass (model.h, "batched generation"):
 * the last stage's batch holds the requests and makes every decision, the
 * others follow its plans ("pipeline stages: generation" below). model_step, model_generate and
 * model_batch_step refuse a stage. */
int model_load_stage(const char *dir, const model_opts *opts, int stage, int nstages, model **out, ys_error *err);
/* This stage's layers [*l0, *l1) of *total (a whole model: [0, L) of L). */
void model_stage_range(const model *m, int *l0, int *l1, int *total);
/* The rows a batch passes between stages. */
int model_stage_rows(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq, const size_t *from,
                     size_t *rows, ys_error *err);
/* One stage's part of scoring a batch: in (nin rows) is NULL on the first
 * stage, out (room for model_stage_rows rows) NULL on the last, and
 * logprobs/greedy are only written by the last. */
int model_stage_logprobs(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq, const size_t *from,
                         const float *in, size_t nin, float *out, double *const *logprobs, uint8_t *const *greedy,
                         ys_error *err);

/* ---- prefix cache ---------------------------------------------------------
 * Keys and values of token prefixes kept across calls, so that requests
 * beginning with the same tokens (a task's few-shot demonstrations and
 * instructions, the context shared by a question's choices) compute them
 * once. Granularity: whole blocks of `block` tokens from position 0 (0:
 * MODEL_PREFIX_BLOCK); a lookup returns the longest cached run of whole
 * blocks that begins the given tokens. Memory: at most budget_bytes of
 * blocks (each layers x block x kv_heads x head_dim x 2 floats plus its
 * tokens), the least recently used blocks evicted first (a block only
 * after the blocks that extend it); a budget smaller than one block keeps
 * nothing and only counts (stats). Exact: the cached keys and values are
 * the bits a whole computation has (Determinism), so every output with the
 * cache is bitwise the output without it. With a RoPE whose frequencies
 * depend on the call's length (dynamic, longrope) nothing is cached (a
 * prefix's keys depend on the whole sequence there).
 * Ownership: the caller (a runner) creates the cache for one model, passes
 * it to the calls that may use it, and frees it before the model. It is
 * used by one thread at a time, like the model. */
#define MODEL_PREFIX_BLOCK 16
typedef struct model_prefix_cache model_prefix_cache;

typedef struct model_prefix_stats {
    uint64_t tokens_input;     /* input tokens of the sequences scored through the cache */
    uint64_t tokens_computed;  /* of them, computed by forward passes (the rest: the cache's, or a
                                  prefix shared with the sequence before, model_logprobs) */
    uint64_t tokens_served;    /* copied from the cache */
    uint64_t tokens_asked;     /* prefix tokens looked up */
    uint64_t lookups, stored_blocks, evicted_blocks;
    size_t blocks, bytes;      /* held now */
} model_prefix_stats;

int model_prefix_cache_new(const model *m, size_t budget_bytes, size_t block, model_prefix_cache **out,
                           ys_error *err);
void model_prefix_cache_free(model_prefix_cache *c);
void model_prefix_cache_stats(const model_prefix_cache *c, model_prefix_stats *st);
/* The default budget in MB: 1/16 of the machine's physical memory, within
 * [64, 2048]. */
size_t model_prefix_cache_default_mb(void);

/* model_logprobs through a prefix cache (NULL: model_logprobs): each
 * sequence's prefix (the tokens before from - 1) is looked up, only its
 * uncached part computed, and its whole blocks stored. Same outputs. */
int model_logprobs_cached(model *m, model_prefix_cache *pc, const int32_t *const *seqs, const size_t *lens,
                          size_t nseq, const size_t *from, double *const *logprobs, uint8_t *const *greedy,
                          float *const *logits, ys_error *err);

/* Low level (generation's prefill, and model_logprobs_cached):
 * lookup copies the longest cached prefix of ids[0 .. limit) into layer l's
 * rows k/v + l * lstride (row stride kv_heads x head_dim floats, from
 * position 0) and returns its length (a multiple of the block, 0 on a miss
 * or c NULL). store keeps the whole blocks of ids[0 .. n) whose keys and
 * values are at k/v the same way (blocks already cached are only touched).
 * attach does a lookup into an empty KV cache, leaving at least the last
 * of ids[0 .. n) to compute, and sets its length: model_step then computes
 * the rest and gives the logits a whole prefill gives. store_kv stores a KV
 * cache's positions [0, its length), whose tokens are ids. */
size_t model_prefix_cache_lookup(model_prefix_cache *c, const int32_t *ids, size_t limit, float *k, float *v,
                                 size_t lstride);
void model_prefix_cache_store(model_prefix_cache *c, const int32_t *ids, size_t n, const float *k, const float *v,
                              size_t lstride);
typedef struct model_kv model_kv;
size_t model_prefix_cache_attach(model_prefix_cache *c, const int32_t *ids, size_t n, model_kv *kv);
void model_prefix_cache_store_kv(model_prefix_cache *c, const int32_t *ids, const model_kv *kv);
/* (model_logprobs_cached's token accounting; input and computed tokens) */
void model_prefix_cache_count(model_prefix_cache *c, size_t input_tokens, size_t computed_tokens);

/* ---- KV cache ------------------------------------------------------------
 * A cache holds keys/values for up to `capacity` positions of one
 * sequence. model_step appends n tokens (a prompt, or one generated token)
 * and writes the logits of the last of them into `logits` (vocab floats;
 * NULL skips the vocabulary projection). */
typedef struct model_kv model_kv;

int model_kv_new(const model *m, size_t capacity, model_kv **out, ys_error *err);
void model_kv_free(model_kv *kv);
size_t model_kv_len(const model_kv *kv);
/* Forget positions >= n (n <= current length), e.g. to reuse a prefix. */
void model_kv_truncate(model_kv *kv, size_t n);
int model_step(model *m, model_kv *kv, const int32_t *ids, size_t n, float *logits, ys_error *err);

/* ---- generation ---------------------------------------------------------- */
typedef struct model_sampling {
    float temperature;  /* <= 0: greedy (argmax, first index on ties) */
    int top_k;          /* keep the k most likely tokens; 0 = all */
    float top_p;        /* keep the smallest set with mass >= top_p; >= 1 = all */
    uint64_t seed;      /* the whole random stream; same seed, same tokens */
} model_sampling;

/* Called after each new token with everything generated so far; return
 * nonzero to stop (the token that triggered it stays in the output). */
typedef int (*model_stop_fn)(const int32_t *generated, size_t n, void *user);

/* Generate up to max_new tokens after prompt[0..n_prompt) (n_prompt >= 1)
 * into out[0..max_new); *n_out = how many. sampling NULL = greedy; stop may
 * be NULL. */
int model_generate(model *m, const int32_t *prompt, size_t n_prompt, size_t max_new,
                   const model_sampling *sampling, model_stop_fn stop, void *user,
                   int32_t *out, size_t *n_out, ys_error *err);

/* ---- batched (continuous) generation --------------------------------------
 * A batch decodes many requests together: each model_batch_step is ONE
 * forward pass over the rows of every active request — the whole prompt of
 * a request that has just joined (prefill), one row for each request that
 * is decoding (Phi-3: the whole sequence at its longrope switch) — then a
 * token for each from the logits of its last row. A request that finishes
 * (stop callback, max_new, GPT-2's position limit) leaves, and the next
 * waiting one (first added, first admitted) takes its slot in the next step.
 *
 * A request's ids and logits are bitwise those of model_generate on it
 * alone, whatever batch size, thread count, neighbours and arrival order:
 * the rows of a request are fed exactly as model_generate feeds them,
 * gemm.h's result for a row depends on that row alone, attention is per
 * request, and sampling draws from the request's own stream (its seed).
 * model_generate is a batch of one.
 *
 * Memory: a request's KV cache holds its prompt + max_new positions
 * (clamped to GPT-2's n_positions), allocated when it is admitted and
 * freed when it finishes. When that allocation fails while other requests
 * are active, the request waits for them and the batch's capacity shrinks
 * to what fitted (model_batch_capacity); only a request that cannot be
 * admitted into an empty batch fails (YS_ENOMEM). Prompts join a step up
 * to ~1024 prompt rows at a time (at least one prompt per step), which
 * bounds the activations of a pass. */
typedef struct model_request {
    /* in (the caller's memory, kept valid until the request is done) */
    const int32_t *prompt;       /* n_prompt >= 1 ids */
    size_t n_prompt, max_new;
    model_sampling sampling;     /* temperature <= 0: greedy */
    model_stop_fn stop;          /* may be NULL; called on the caller's thread */
    void *user;
    int32_t *out;                /* room for max_new ids */
    float *logits;               /* NULL, or max_new x vocab: the logits each token came from */
    /* out */
    size_t n_out;
    int done;
} model_request;

typedef struct model_batch model_batch;

/* A batch of at most max_active (>= 1) requests decoding together (on a
 * pipeline stage before the last: a follower of the last stage's plans,
 * "pipeline stages: generation"). */
int model_batch_new(model *m, size_t max_active, model_batch **out, ys_error *err);
void model_batch_free(model_batch *b);
/* Queue r (validated here: a prompt of >= 1 ids inside the vocabulary, and
 * no longer than GPT-2's n_positions — YS_EINPUT otherwise, r not queued).
 * r->n_out and r->done are reset. */
int model_batch_add(model_batch *b, model_request *r, ys_error *err);
/* Prompts through a prefix cache (NULL: none; the caller's, used by one
 * thread at a time, outliving the batch): a joining request's prompt
 * starts after the longest run of whole blocks the cache holds, and its
 * whole blocks are stored after its prefill; a prompt that shares more
 * blocks with one joining in the same step than the cache has waits one
 * step for them. Outputs stay bitwise the same (the cached keys and values
 * are the bits computing them gives). */
void model_batch_set_prefix_cache(model_batch *b, model_prefix_cache *pc);
/* Requests queued or decoding. */
size_t model_batch_pending(const model_batch *b);
/* The current limit on active requests (max_active, or less after a KV
 * allocation failed). */
size_t model_batch_capacity(const model_batch *b);
/* Admit waiting requests, run one pass, choose one token per active
 * request. The requests that finished in this step are written to
 * done[0..*n_done) (done must have room for max_active), in slot order;
 * each has done = 1 and its n_out ids in out. A request with max_new == 0
 * finishes at admission without a pass. After an error the batch is
 * unusable (free it). */
int model_batch_step(model_batch *b, model_request **done, size_t *n_done, ys_error *err);

/* ---- pipeline stages: generation --------------------------------------------
 * model_batch_step in two halves, for pipeline stages ("pipeline stages"
 * above has the loading). A step's plan is what every stage must agree on: for each
 * active slot, in slot order, the slot, whether its request joins now
 * (fresh: a new KV cache of cap positions), the position pos0 of its first
 * row (the cache keeps [0, pos0): Phi-3's recomputation cuts it to 0) and
 * its rows' token ids (plan.ids, item after item; rows in all).
 *
 * On the last stage (or a whole model) the batch holds the requests:
 * model_batch_plan admits waiting ones (done and *n_done as in
 * model_batch_step: a request with max_new == 0) and returns the step's
 * plan (its arrays are the batch's, valid until its next call); then
 * model_batch_pass with that same plan runs the pass — from the stage
 * before's rows `in` (nin of them, one per plan row) on a last stage,
 * embedding the ids on a whole model — and chooses a token per slot:
 * finished requests to done (room for max_active), as model_batch_step.
 * A plan with n == 0 needs no pass.
 * On a stage before the last the batch has no requests (model_batch_add
 * and model_batch_plan refuse it): model_batch_pass runs the last stage's
 * plan on its layers — embedding the ids on the first stage, from `in` on
 * the others — and writes the residual stream of every plan row to out
 * (rows x hidden floats), keeping its layers' KV caches per slot: made
 * when the slot is fresh, cut to pos0, freed when the slot is not in the
 * plan (its request left), and grown beyond max_active when the plan's
 * slots need it. A plan it cannot follow (a slot it does not hold at
 * pos0, rows that do not add up) is YS_EINPUT; a KV cache that does not
 * fit is YS_ENOMEM (the batch is then unusable).
 * Every stage's rows are the whole model's, so the last stage's logits and
 * tokens are bitwise model_batch_step's (tests/unit/test_model_stage.c). */
typedef struct model_plan_item {
    uint32_t slot, fresh;
    uint64_t pos0, rows, cap;
} model_plan_item;

typedef struct model_plan {
    size_t n, rows;
    const model_plan_item *items;
    const int32_t *ids;
} model_plan;

int model_batch_plan(model_batch *b, model_plan *plan, model_request **done, size_t *n_done, ys_error *err);
int model_batch_pass(model_batch *b, const model_plan *plan, const float *in, size_t nin, float *out,
                     model_request **done, size_t *n_done, ys_error *err);

#endif
