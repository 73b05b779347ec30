/* checkpoint.h — a Hugging Face checkpoint folder: config.json plus
 * safetensors weights, either one `model.safetensors` or shards listed in
 * `model.safetensors.index.json` (its "weight_map" names, per tensor, the
 * shard file in the same folder).
 *
 * Loading: every safetensors file is memory-mapped read-only. Tensors stored
 * as F32 (and 4-byte aligned in the file) are used in place, straight from
 * the mapping. F16, BF16 and F64 tensors get a malloc'd F32 copy, owned by
 * the checkpoint, the first time ckpt_require/ckpt_need asks for one —
 * not at open, because the engines pack their big matrices straight from
 * the stored half-precision bytes (ckpt_need_src, gemm.h) and a float copy
 * of those would only be copied again (a BF16 GPT-2 small held 4.9x its
 * file that way). Integer and F8 dtypes are accepted by the validator (so
 * such a file still opens) but have no F32 view: ckpt_require refuses them.
 * ckpt_tensor.data is NULL until a view exists; .raw always points at the
 * stored bytes.
 *
 * Validation at open, before any tensor is used — each failure a YS_EINPUT
 * (YS_EIO for unreadable files) whose message names the file and tensor:
 *   - header length: >= 2, and 8 + length <= file size, and <= 100 MB;
 *   - header is a JSON object; each entry (except "__metadata__") has a known
 *     "dtype", a "shape" of non-negative integers, and "data_offsets"
 *     [begin, end] with begin <= end inside the data area;
 *   - product(shape) * dtype size == end - begin (with overflow checks);
 *   - no two tensors' byte ranges overlap; no name appears twice (also
 *     across shards); every tensor of the index is in the shard it names;
 *   - shard names in the index are plain file names (no '/' , no "..").
 * The architecture-level check (every tensor the model needs is present with
 * the shape config.json implies) is ckpt_require, called by model.c.
 *
 * Ownership: ckpt_open returns a checkpoint the caller frees with
 * ckpt_close. Tensors, names and config values point into the checkpoint and
 * live until ckpt_close. ckpt_require and ckpt_need may create a tensor's
 * F32 view, so call them from one thread at a time (the engines do, while
 * loading); everything else only reads, from any number of threads.
 *
 * Host byte order must be little-endian (as safetensors is); ckpt_open fails
 * cleanly otherwise.
 *
 * Code: checkpoint.c (open, close, lookup, config), ckpt_safetensors.c,
 * ckpt_gguf.c, ckpt_release.c, ckpt_adapter.c; ckpt_internal.h.
 */
#ifndef YS_ENGINE_CHECKPOINT_H
#define YS_ENGINE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "gguf.h"
#include "ys_error.h"

#define CKPT_MAX_DIMS 8

typedef enum ckpt_dtype {
    CKPT_F64, CKPT_F32, CKPT_F16, CKPT_BF16,
    CKPT_I64, CKPT_I32, CKPT_I16, CKPT_I8, CKPT_U8, CKPT_BOOL,
    CKPT_F8_E4M3, CKPT_F8_E5M2,
    CKPT_U16, CKPT_U32, CKPT_U64,
    CKPT_GGML,            /* a GGUF file's quantized blocks (ggml_type says which; gguf.h) */
} ckpt_dtype;

typedef struct ckpt_tensor {
    const char *name;     /* as in the safetensors header */
    const char *file;     /* the file's base name, for error messages */
    ckpt_dtype dtype;     /* the dtype stored in the file */
    int ndim;
    int64_t shape[CKPT_MAX_DIMS];
    size_t numel;
    const float *data;    /* F32 view (in place, or converted by
                             ckpt_require/ckpt_need), else NULL; numel floats */
    const void *raw;      /* the stored bytes in the mapping */
    int ggml_type;        /* CKPT_GGML: the block type (gguf.h) */
} ckpt_tensor;

typedef struct ckpt ckpt;

/* Open and validate the checkpoint folder `dir`. On success *out owns the
 * mappings and converted copies; on failure *out is NULL and err says why.
 *
 * GGUF files: when `dir` is a regular file it is read as GGUF (gguf.h
 * validates it; ckpt_gguf.c says how): ckpt_config is a config.json
 * written from its metadata (architectures, sizes, norm epsilon, RoPE
 * base and scaling, tie_word_embeddings) and its tensors have the names
 * and shapes of the Hugging Face checkpoint it was converted from, their
 * bytes in the file's one mapping (llama's q/k rows, which the converter
 * reorders, in a reordered copy). Matrices are nn.Linear's [out, in], for
 * GPT-2 too (ckpt_gguf tells the engine). Architectures: llama, qwen2,
 * qwen3, gpt2, gptneox; tensor types F32, F16, BF16, and the quantized types
 * gguf_dequant computes (CKPT_GGML, kept as blocks). Anything else in the
 * file is a YS_EINPUT naming the key or tensor. */
int ckpt_open(const char *dir, ckpt **out, ys_error *err);
void ckpt_close(ckpt *c);

/* The tensor called `name`, or NULL. */
const ckpt_tensor *ckpt_get(const ckpt *c, const char *name);
size_t ckpt_count(const ckpt *c);
const ckpt_tensor *ckpt_at(const ckpt *c, size_t i);

/* Look up `name` and check it has an F32 view and exactly the ndim/shape
 * given (shape[i] < 0 means "any"). On failure returns YS_EINPUT with a
 * message naming the folder, tensor and expected vs. found shape. */
int ckpt_require(const ckpt *c, const char *name, int ndim, const int64_t *shape,
                 const ckpt_tensor **out, ys_error *err);

/* The GGUF container when ckpt_open was given a GGUF file, else NULL. */
const gguf *ckpt_gguf(const ckpt *c);

/* The folder given to ckpt_open. */
const char *ckpt_dir(const ckpt *c);
/* The parsed config.json (owned by the checkpoint). */
const cJSON *ckpt_config(const ckpt *c);

/* Config accessors. Each returns 0 and sets *out when `key` is present with
 * the right type; returns 1 and sets *out = dflt when it is absent or JSON
 * null; returns YS_EINPUT (naming config.json and the key) when it has the
 * wrong type (or, for ckpt_config_int, is not an integer). */
int ckpt_config_int(const ckpt *c, const char *key, long dflt, long *out, ys_error *err);
int ckpt_config_num(const ckpt *c, const char *key, double dflt, double *out, ys_error *err);
int ckpt_config_bool(const ckpt *c, const char *key, int dflt, int *out, ys_error *err);
/* The configuration of the model at `path` without its weights: a
 * folder's config.json, or the config a GGUF file's metadata gives (as
 * ckpt_open would make it). *out is the caller's (cJSON_Delete); errors
 * as ckpt_read_json's, or the GGUF reading's. */
int ckpt_model_config(const char *path, cJSON **out, ys_error *err);
/* Read and parse a JSON file that must hold an object (config.json,
 * generation_config.json). *out is the caller's (cJSON_Delete). YS_EIO when
 * it cannot be read, YS_EINPUT when it is not a JSON object; both name the
 * file. */
int ckpt_read_json(const char *path, cJSON **out, ys_error *err);

/* A dimension: a positive integer below 2^24, or dflt when absent and
 * dflt > 0. Missing or out of range is YS_EINPUT naming config.json and the
 * key. */
int ckpt_config_dim(const ckpt *c, const char *key, long dflt, int *out, ys_error *err);
/* ckpt_require for a 1-D (d1 ignored) or 2-D tensor, giving its F32 data
 * (*out NULL on failure). */
int ckpt_need(const ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1, const float **out,
              ys_error *err);
/* *out points into the config (or is dflt). */
int ckpt_config_str(const ckpt *c, const char *key, const char *dflt, const char **out,
                    ys_error *err);

const char *ckpt_dtype_name(ckpt_dtype t);

/* A tensor's stored elements for a consumer that converts as it reads (the
 * engines' weight packing): dtype CKPT_F16, CKPT_BF16 or CKPT_GGML (a
 * GGUF file's blocks of ggml_type, rows of whole blocks) with p into the
 * mapping, or CKPT_F32 with p an F32 view (in place, or converted for F64
 * and unaligned F32). A CKPT_GGML tensor's F32 view (ckpt_require,
 * ckpt_need) is its exact dequantization (gguf_dequant), made on request:
 * the engines ask for it only for small tensors (norms, biases). */
typedef struct ckpt_src {
    const void *p;
    ckpt_dtype dtype;
    int ggml_type;
} ckpt_src;

/* ckpt_need without making an F32 copy of a half-precision tensor. */
int ckpt_need_src(const ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1, ckpt_src *out,
                  ys_error *err);

/* Give back the resident memory of `bytes` at `data` when they lie in a
 * mapped file (a tensor used or packed from the mapping): the whole pages inside the
 * range are dropped with madvise(MADV_DONTNEED). The mapping is read-only
 * and private, so nothing is lost: a later read faults the bytes back in
 * from the file. For a model that has copied a tensor (e.g. packed it),
 * this keeps its resident size from doubling. Returns the bytes released
 * (0 for converted copies, ranges outside the mappings, or when madvise
 * fails — all harmless). */
size_t ckpt_release(const ckpt *c, const void *data, size_t bytes);

/* ---- adapters --------------------------------------------------------------
 * ckpt_open_adapted opens `dir` with the PEFT LoRA adapter folder
 * `adapter_dir` applied (lora.h has the rules; adapter_dir NULL is
 * ckpt_open). Every tensor an adapter module targets is merged at open,
 * W + scaling * B @ A computed into a malloc'd fp32 copy in the stored
 * layout: ckpt_get, ckpt_require, ckpt_need and ckpt_need_src give it
 * with dtype CKPT_F32 (fused tensors such as GPT-2's c_attn as a whole).
 * A modules_to_save tensor is the adapter's copy instead of the base's
 * (its own dtype). A saved head of a tied decoder (GPT-2, Llama, Mistral,
 * Qwen2) is added as "lm_head.weight" and config.json's
 * tie_word_embeddings is set to false in the parsed config, as the peft
 * model is untied: the head is the trained copy, the embedding the base's.
 * The base pages a merge read are given back at once (ckpt_release).
 *
 * Memory: a merged copy is freed when its bytes are released — at once by
 * a ckpt_release covering it whole, or by disjoint releases covering it
 * (the row slices of a packed nn.Linear weight); else by ckpt_adapter_check
 * once released ranges cover it (GPT-2's c_attn is packed as three strided
 * column ranges, each spanning every row: while one is released another
 * may still be reading). So a
 * merged tensor must not be read after it has been released; the engines
 * pack and never read a projection again. The resident size is then one
 * fp32 copy of the weights, as without an adapter.
 *
 * ckpt_adapter_check, called by an engine once it has bound and packed
 * its weights: YS_EINPUT when an adapter tensor was never used (its target
 * was not asked for by ckpt_require/ckpt_need/ckpt_need_src: the model
 * does not read that tensor), naming the adapter tensor; 0 without an
 * adapter. */
int ckpt_open_adapted(const char *dir, const char *adapter_dir, ckpt **out, ys_error *err);
int ckpt_adapter_check(const ckpt *c, ys_error *err);
/* The adapter folder given to ckpt_open_adapted, or NULL. */
const char *ckpt_adapter_dir(const ckpt *c);
/* A warning for the caller to show ("" when none) when adapter_dir's
 * base_model_name_or_path does not name dir; see lora_name_warning. */
void ckpt_adapter_warning(const char *dir, const char *adapter_dir, char *buf, size_t cap);

/* One safetensors file of `dir` without config.json (ckpt_config is an
 * empty object): an adapter's weights. Validated as ckpt_open does. */
int ckpt_open_weights(const char *dir, const char *file, ckpt **out, ys_error *err);

#endif
