/* seq2seq_internal.h — what seq2seq_load.c (loading), seq2seq.c (encoder,
 * decoder, scoring) and seq2seq_gen.c (greedy and beam search) share. Not a
 * public API. */
#ifndef YS_ENGINE_SEQ2SEQ_INTERNAL_H
#define YS_ENGINE_SEQ2SEQ_INTERNAL_H

#include "checkpoint.h"
#include "gemm.h"
#include "kernels.h"
#include "seq2seq.h"

typedef enum { ARCH_T5, ARCH_BART, ARCH_MARIAN } s2s_arch;
typedef enum { ACT_RELU, ACT_GELU_ERF, ACT_GELU_TANH, ACT_SILU } s2s_act;

typedef struct attn_w {
    ckpt_src wq, wk, wv, wo;        /* as stored: only read to be packed */
    const float *bq, *bk, *bv, *bo;                        /* biases: BART only */
    gm_weights pq, pk, pv, po;                             /* wq ... wo packed (owned) */
} attn_w;
typedef struct norm_w { const float *w, *b; } norm_w;                                   /* b NULL: T5 RMS */

typedef struct block {
    attn_w self, cross;             /* cross: decoder blocks only */
    norm_w ln_self, ln_cross, ln_ff;
    ckpt_src fc1, fc1_gate, fc2;                         /* T5: wi (wi_0), wi_1, wo; as stored */
    const float *fc1_b, *fc2_b;
    gm_weights p1, pgate, p2;                            /* fc1, fc1_gate, fc2 packed (owned) */
} block;

/* Where projections and attention run: the model's pool. Work is shared
 * inside each call (a group of scored pairs, a greedy step, the beams of a
 * step); gm_run results and the attention sgemm calls do not depend on the
 * thread count, so neither do the numbers (gemm.h, kernels.h). */
typedef struct s2s_exe {
    kn_pool *pool;
} s2s_exe;

struct s2s_model {
    ckpt *ck;
    s2s_info info;
    s2s_arch arch;
    char archname[64];
    int hd, inner;                  /* head dim, heads * hd */
    double eps;
    s2s_act act;
    int gated, tied;
    int nbuckets, maxdist;          /* T5 relative positions */
    float embed_scale, out_scale;
    const float *embed, *logits_bias;
    ckpt_src lm_head;               /* as stored (only packed); the embedding when tied */
    gm_weights phead;               /* lm_head packed (owned) */
    const float *enc_pos, *dec_pos; /* BART: learned [P+2, d]; Marian: sinusoids [P, d] */
    float *sin_pos;                 /* computed Marian table (owned) */
    int pos_offset;
    norm_w enc_ln_emb, dec_ln_emb, enc_final, dec_final;
    const float *enc_rel, *dec_rel; /* T5 [nbuckets, heads] */
    block *enc, *dec;
    s2s_gen_opts gen;               /* the folder's defaults */
    int32_t *bad;                   /* single-token bad_words_ids */
    size_t nbad;
    int bad_multi;                  /* a multi-token entry exists (unsupported) */
    eng_blas blas;
    kn_pool *pool;
    s2s_exe exe;                    /* {pool} */
    float *ws;                      /* scoring workspace, kept between calls (owned) */
    size_t ws_cap;                  /* its size in floats */
};

/* Decoder state of one sequence (or beam): the source's cross-attention K/V
 * per layer (shared between forks) and a self-attention cache. */
typedef struct s2s_state {
    size_t S;
    float *ck, *cv;                 /* [layers][S][inner] */
    int owns_cross;
    size_t cap, len;
    float *sk, *sv;                 /* [layers][cap][inner] */
} s2s_state;

/* Encoder output [S, d], malloc'd. */
int s2s_encode(s2s_model *m, const s2s_exe *ex, const int32_t *src, size_t S, float **enc_out, ys_error *err);
/* A state for a source encoded as enc [S, d], with room for cap decoder tokens. */
int s2s_state_new(s2s_model *m, const s2s_exe *ex, const float *enc, size_t S, size_t cap, s2s_state **out, ys_error *err);
/* A copy sharing src's cross K/V. */
int s2s_state_fork(const s2s_model *m, const s2s_state *src, s2s_state **out, ys_error *err);
/* dst's self cache := src's (same capacity, same source). */
void s2s_state_copy(const s2s_model *m, s2s_state *dst, const s2s_state *src);
void s2s_state_free(s2s_state *st);
/* Append ids[0..T) and leave the final hidden states (T5: rescaled when
 * tied) in *hidden [T, d], malloc'd. */
int s2s_decode(s2s_model *m, const s2s_exe *ex, s2s_state *st, const int32_t *ids, size_t T, float **hidden, ys_error *err);
/* s2s_decode of one token ids[i] for each of st[0..n), the n rows sharing
 * each projection; *hidden [n, d], malloc'd. */
int s2s_decode_step(s2s_model *m, const s2s_exe *ex, s2s_state *const *st, const int32_t *ids, size_t n,
                    float **hidden, ys_error *err);
/* A state for a source of S tokens with room for cap decoder tokens,
 * its cross K/V not computed yet (s2s_start_many). */
int s2s_state_alloc(const s2s_model *m, size_t S, size_t cap, s2s_state **out, ys_error *err);
/* s2s_encode + the cross K/V of s2s_state_new for n sources at once (source
 * i into st[i], allocated for its length), their rows sharing every
 * projection: the same bits as one at a time. */
int s2s_start_many(s2s_model *m, const s2s_exe *ex, const int32_t *const *src, s2s_state *const *st, size_t n,
                   ys_error *err);
void s2s_vocab_proj(s2s_model *m, const s2s_exe *ex, const float *hidden, size_t rows, float *logits);

#endif
