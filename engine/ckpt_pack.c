/* ckpt_pack.c — see ckpt_pack.h. */
#include "ckpt_pack.h"

gm_job ckpt_pack_job(gm_weights *pw, ckpt_src src, size_t off, size_t ldw, kn_layout layout, size_t k,
                     size_t out)
{
    if (src.dtype == CKPT_GGML) {   /* whole rows of blocks, kept as they are (gemm.h, "GGUF blocks") */
        size_t block, bytes;
        gguf_type_size(src.ggml_type, &block, &bytes);
        size_t rowb = block ? k / block * bytes : 0;
        return (gm_job){.pw = pw, .w = (const unsigned char *)src.p + (ldw ? off / ldw : 0) * rowb, .ldw = ldw,
                        .layout = layout, .k = k, .out = out, .dtype = GM_GGML, .packed = GM_GGML,
                        .ggml_type = src.ggml_type};
    }
    gm_dtype t = src.dtype == CKPT_F16 ? GM_F16 : src.dtype == CKPT_BF16 ? GM_BF16 : GM_F32;
    size_t es = t == GM_F32 ? 4 : 2;
    /* a half-precision matrix stays half precision (gemm.h widens it exactly) */
    return (gm_job){.pw = pw, .w = (const unsigned char *)src.p + off * es, .ldw = ldw, .layout = layout, .k = k,
                    .out = out, .dtype = t, .packed = t};
}

gm_job ckpt_pack_linear(gm_weights *pw, ckpt_src w, size_t k, size_t out)
{
    return ckpt_pack_job(pw, w, 0, k, KN_OUT_IN, k, out);
}

static void release(void *c, const void *src, size_t bytes) { ckpt_release(c, src, bytes); }

int ckpt_pack_all(const ckpt *c, kn_pool *pool, const gm_job *jobs, size_t n)
{
    return gm_pack_all(pool, jobs, n, release, (void *)c);
}
