/* ckpt_gguf.h — internal to the checkpoint module: a GGUF file read as a
 * Hugging Face checkpoint (checkpoint.h "GGUF files" has the contract).
 *
 * ckpt_gguf_read opens path (gguf.h validates the container) and gives
 * what ckpt_open needs to build a checkpoint from it: a config.json
 * written from the metadata, and every tensor under its Hugging Face name
 * and shape, pointing into the mapping — or, for the tensors llama.cpp's
 * converter reorders (the Q/K rows of the llama architecture), into a
 * malloc'd copy in the stored type with the order undone (`owned`, the
 * caller's to free). On success *g, *config and *ts (n entries, names
 * malloc'd) are the caller's; on failure nothing is left allocated. With
 * ts NULL only the container and the config are made. */
#ifndef YS_ENGINE_CKPT_GGUF_H
#define YS_ENGINE_CKPT_GGUF_H

#include <cjson/cJSON.h>

#include "checkpoint.h"
#include "gguf.h"

typedef struct ckpt_gguf_tensor {
    char *name;
    ckpt_dtype dtype;
    int ggml_type;        /* CKPT_GGML: the block type */
    int ndim;
    int64_t shape[2];
    size_t numel;
    const void *raw;
    void *owned;          /* raw's allocation when it is a reordered copy, else NULL */
} ckpt_gguf_tensor;

int ckpt_gguf_read(const char *path, gguf **g, cJSON **config, ckpt_gguf_tensor **ts, size_t *n, ys_error *err);

#endif
