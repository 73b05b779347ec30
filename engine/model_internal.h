/* model_internal.h — what model_load.c (configuration, weight binding,
 * packing, load and free) and model.c (the forward pass, scoring and
 * generation) share: the model and KV cache structures. Not a public API. */
#ifndef YS_ENGINE_MODEL_INTERNAL_H
#define YS_ENGINE_MODEL_INTERNAL_H

#include "checkpoint.h"
#include "gemm.h"
#include "kernels.h"
#include "model.h"

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

#endif
