/* model_internal.h — what model_load.c (the architecture table,
 * configuration, weight binding, packing, load and free), model_rope.c
 * (RoPE frequencies), model.c (the forward pass and scoring) and
 * model_batch.c (generation) share. Not a public API.
 *
 * One decoder forward pass serves every family: what differs between
 * GPT-2, Llama, Mistral, Qwen2/3, Gemma 1/2/3, Phi-3 and GPT-NeoX is data —
 * the norm kind, the residual layout, the MLP's activation and gating, how
 * q/k/v are stored, q/k norms, the RoPE variant and how much of a head it
 * rotates, soft-caps, per-layer sliding windows and RoPE bases — filled in
 * by model_load.c from the architecture table and config.json. */
#ifndef YS_ENGINE_MODEL_INTERNAL_H
#define YS_ENGINE_MODEL_INTERNAL_H

#include "checkpoint.h"
#include "gemm.h"
#include "kernels.h"
#include "model.h"

/* Residual layout of a block. */
typedef enum {
    RES_SEQUENTIAL,   /* x += attn(n1(x)); x += mlp(n2(x))                         GPT-2, Llama, ... */
    RES_PARALLEL,     /* x += attn(n1(x)) + mlp(n2(x)), both from the same x      GPT-NeoX (Pythia) */
    RES_SANDWICH,     /* x += n_ao(attn(n1(x))); x += n_mo(mlp(n2(x)))             Gemma 2 and 3 */
} res_kind;

/* How q, k, v come out of the attention projections. */
typedef enum {
    QKV_SPLIT,        /* three matrices (or column/row ranges of one fused tensor) */
    QKV_HEADS,        /* one product whose output is per head [q | k | v] (GPT-NeoX) */
} qkv_kind;

typedef enum {
    ROPE_NONE,        /* GPT-2: learned positions */
    ROPE_DEFAULT, ROPE_LINEAR, ROPE_DYNAMIC, ROPE_LLAMA3, ROPE_YARN, ROPE_LONGROPE,
} rope_type;

/* One RoPE: the frequencies of the first `dim` dimensions of a head (the
 * rest pass through), HF's rotate_half pairing (i, i + dim/2). Static
 * types have their frequencies computed once (inv_freq); dynamic and
 * longrope depend on the length of the call (rope_freqs). */
typedef struct rope_cfg {
    rope_type type;
    int dim;                  /* rotated dimensions per head: even, <= head_dim */
    double theta;
    double factor;            /* linear, dynamic, llama3, yarn */
    int max_pos;              /* dynamic: max_position_embeddings */
    int orig_max;             /* longrope: original_max_position_embeddings */
    double attn_factor;       /* yarn, longrope: cos and sin are multiplied by it */
    double *inv_freq;         /* dim/2 frequencies of a static type (owned) */
    double *short_f, *long_f; /* longrope's dim/2 factors (owned) */
} rope_cfg;

typedef struct layer {
    /* norms: n1 before attention, n2 before the MLP; sandwich layouts also
     * norm the attention output (ao) and the MLP output (mo). Gemma's
     * (1 + w) weights are stored already added (owned, see model.owned).
     * Biases only for LayerNorm. q/k norms act on each head (head_dim). */
    const float *n1_w, *n1_b, *n2_w, *n2_b, *ao_w, *mo_w, *qn_w, *kn_w;
    /* the matrices as stored (ckpt_src; only read once, to be packed) and
     * their biases as F32 views */
    ckpt_src wq, wk, wv, wqkv, wo, w_gate, w_up, w_gate_up, w_down;
    const float *bq, *bk, *bv, *bqkv, *bo, *b_up, *b_down;
    /* the projections packed for gm_run (owned): pq holds the fused
     * per-head qkv under QKV_HEADS; pgate is the MLP's first (or only)
     * input matrix, pup the gated half, pdown the output */
    gm_weights pq, pk, pv, po, pgate, pup, pdown;
    int window;               /* sliding window of this layer (0: none) */
    const rope_cfg *rope;     /* this layer's RoPE (Gemma 3: local or global) */
} layer;

typedef enum { NORM_LAYER, NORM_RMS } norm_kind;

struct model {
    ckpt *ck;
    model_info info;
    char arch[64];
    /* the description (model_load.c) */
    norm_kind norm;
    res_kind res;
    qkv_kind qkv;
    int gated;                /* MLP: act(x Wg) * (x Wu), else act(x W1 + b) */
    gm_act mlp_act;           /* GM_ACT_* for the gate (or only) product... */
    int silu;                 /* ...or SiLU (vm_silu_mul), gated only */
    double eps;               /* norm epsilon */
    float embed_scale;        /* Gemma: sqrt(hidden) in fp32; 0 = none */
    float attn_scale;         /* softmax scale of q.k (GPT-2's per-layer divisor apart) */
    int scale_attn_by_layer;  /* GPT-2 option */
    float attn_softcap;       /* Gemma 2: cap * tanh(s / cap) on the scores; 0 = none */
    float final_softcap;      /* Gemma 2: the same on the logits */
    rope_cfg rope[2];         /* [0] every layer's, [1] Gemma 3's local layers */
    int rope_by_len;          /* the frequencies depend on the call's length (dynamic, longrope) */
    size_t rope_reset;        /* Phi-3: generation recomputes the sequence when it grows past this */

    ckpt_src wte;             /* the embedding [V, H] as stored; an untied one's rows are read
                                 from it (embed_row), never copied whole */
    const float *pos_embed;   /* GPT-2 wpe [n_positions, H] */
    const float *final_w, *final_b;
    ckpt_src lm_head;         /* [V, H]: wte when tied */
    gm_weights phead;         /* lm_head packed (owned) */
    int tied;                 /* lm_head is embed: rows are read from phead */
    layer *layers;
    float **owned;            /* arrays the model made at load ((1 + w) norms) */
    size_t nowned;
    eng_blas blas;            /* OpenBLAS, opened at load (blas.h); attention */
    kn_pool *pool;
    /* a pipeline stage (model_stage.c): layers holds the decoder's layers
     * [layer0, layer0 + info.layers) of layers_all; a stage after the first
     * takes hidden rows instead of embedding ids (no_embed), one before the
     * last hands its residual rows on instead of the final norm and head
     * (no_head). All zero: the whole model. */
    int layer0, layer1, layers_all, no_embed, no_head;
};

struct model_kv {
    size_t cap, len, kvdim;
    int layers;
    float *k, *v;             /* [layers][cap][kvdim] */
};

/* model_rope.c. rope_config fills r (whose dim and theta the caller has
 * set) from `scaling`, a rope_scaling / rope_parameters object of
 * config.json (NULL or without a type: the default rotation), cfg being the
 * whole config (max_position_embeddings, Phi-3's top-level
 * original_max_position_embeddings). An unknown type or a missing or
 * malformed field is a YS_EINPUT naming dir/config.json and the field.
 * rope_freqs gives the dim/2 frequencies and the cos/sin factor of a call
 * whose positions end at seq_len (exclusive); rope_same says whether two
 * such lengths get the same ones. rope_free releases r's arrays. */
int rope_config(const cJSON *cfg, const cJSON *scaling, const char *dir, rope_cfg *r, ys_error *err);
void rope_freqs(const rope_cfg *r, size_t seq_len, double *inv_freq, double *attn_factor);
int rope_same(const rope_cfg *r, size_t len_a, size_t len_b);
void rope_free(rope_cfg *r);

/* model_load.c: model_load_opts for stage `stage` of nstages (0 of 1: the
 * whole model); model_load_stage checks the arguments. */
int model_load_part(const char *dir, const model_opts *opts, int stage, int nstages, model **out, ys_error *err);

/* A pipeline stage's rows in model_logprobs_io: the rows of the forward
 * passes, in the order the passes make them (the grouping depends only on
 * the sequences, so every stage of a pipeline makes the same passes), come
 * from in[0 .. nin) when m is not the first stage (no_embed) and go to out
 * when it is not the last (no_head; logprobs and greedy are then not
 * touched); rows counts them. count: nothing is computed, only rows
 * counted. model_stage.c: stage_in gives the next pass's R rows from in
 * (NULL for the first stage or io NULL; YS_EINPUT when in runs out),
 * stage_out hands a pass's rows on. */
typedef struct stage_io {
    const float *in;
    size_t nin;
    float *out;
    size_t rows;
    int count;
} stage_io;
int stage_in(const model *m, const stage_io *io, size_t R, const float **in, ys_error *err);
void stage_out(const model *m, stage_io *io, const float *hidden, size_t R);

/* ---- the forward pass (model.c), shared with batched generation
 * (model_batch.c) ---- */

/* One sequence's part of a (batched) forward pass: T tokens at positions
 * pos0.., hidden rows row0.. of the call. Its keys and values for
 * positions [0, pos0 + T) are at k/v + l * lstride for layer l (row stride
 * kvdim). When from_k is not NULL, k/v is scratch holding one layer
 * (lstride 0) and the pos0 prefix rows are copied in before each layer
 * from from_k/from_v + l * from_lstride (a cached prefix). rope_len is the
 * length whose RoPE frequencies the rows get when they depend on it
 * (dynamic, longrope; 0: pos0 + T, the call's own, as HF's KV-cached
 * generation has it). */
typedef struct fwd_item {
    const int32_t *ids;
    size_t T, pos0, row0;
    float *k, *v;
    size_t lstride;
    const float *from_k, *from_v;
    size_t from_lstride;
    size_t rope_len;
} fwd_item;

/* Scratch of forward passes, kept across the calls of one scoring or
 * generation request so that its large buffers are allocated, and their
 * pages faulted in, once per request instead of once per call. Capacity:
 * T rows per call (all sequences), ctx positions of one sequence, scratch
 * rows of keys/values for the sequences whose keys are not kept (sum of
 * their pos0 + T), nthr threads' attention scores. */
typedef struct fwd_ws {
    size_t T, ctx, scratch, nthr;
    float *x, *xb, *xb2, *tmp, *q, *qkv, *att, *hb, *hu, *kt, *vt, *scores, *ks, *vs;
} fwd_ws;
void ws_free(fwd_ws *w);
/* Room in w for T rows, ctx positions of one sequence, scratch key/value
 * rows (YS_ENOMEM otherwise). */
int ws_reserve(const model *m, fwd_ws *w, size_t T, size_t ctx, size_t scratch, ys_error *err);
/* The forward pass of n sequences at once (model.c says how; in: a stage
 * after the first's input rows), *hidden pointing into ws. */
int forward_many(model *m, fwd_ws *ws, const fwd_item *it, size_t n, const float *in, const float **hidden,
                 ys_error *err);
/* logits[rows, V] = hidden[rows, H] lm_head^T; Gemma 2's final soft-cap of
 * one row of logits in place. */
void vocab_proj(model *m, const float *hidden, size_t rows, float *logits);
void softcap_row(const model *m, float *z);

/* model.c: model_logprobs_cached, and a pipeline stage's part of it (io
 * not NULL, without a prefix cache). */
int model_logprobs_io(model *m, model_prefix_cache *pc, const int32_t *const *seqs, const size_t *lens, size_t nseq,
                      const size_t *from, double *const *logprobs, uint8_t *const *greedy, float *const *logits,
                      stage_io *io, ys_error *err);

/* prefix_cache.c: c's block size when c can keep blocks (not NULL, a
 * budget of at least one block, a RoPE that does not depend on the
 * length), else 0. */
size_t pc_storing_block(const model_prefix_cache *c);
/* How many tokens a lookup of ids[0 .. limit) would give now (nothing
 * copied, counted or touched). */
size_t pc_peek(const model_prefix_cache *c, const int32_t *ids, size_t limit);

#endif
