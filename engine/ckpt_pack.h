/* ckpt_pack.h — a checkpoint's matrices packed for gemm.h, as every engine
 * does at load: each matrix read as stored (F32, or F16/BF16 converted as
 * it is packed; ckpt_need_src), and the mapped pages of each finished span
 * given back (ckpt_release), so the resident size stays about one fp32
 * copy of the weights.
 *
 * The jobs' packed copies are allocated by ckpt_pack_all and owned by the
 * caller (gm_free). Errors: ckpt_pack_all returns 0, YS_ENOMEM or
 * YS_EUSAGE (see ckpt_pack_job), leaving nothing allocated on failure. */
#ifndef YS_ENGINE_CKPT_PACK_H
#define YS_ENGINE_CKPT_PACK_H

#include "checkpoint.h"
#include "gemm.h"

/* The job packing src's matrix (from element `off` on: a column range of
 * a fused tensor) in layout with row stride ldw into *pw. A CKPT_GGML
 * source (a GGUF file's blocks) is kept as blocks (gemm.h GM_GGML): only
 * KN_OUT_IN with ldw == k and off a multiple of k (whole rows), else
 * ckpt_pack_all returns YS_EUSAGE. */
gm_job ckpt_pack_job(gm_weights *pw, ckpt_src src, size_t off, size_t ldw, kn_layout layout, size_t k,
                     size_t out);
/* The common case: a whole nn.Linear weight [out, k]. */
gm_job ckpt_pack_linear(gm_weights *pw, ckpt_src w, size_t k, size_t out);

/* gm_pack_all on pool, giving the checkpoint's pages back as it goes. */
int ckpt_pack_all(const ckpt *c, kn_pool *pool, const gm_job *jobs, size_t n);

#endif
