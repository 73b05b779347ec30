/* lora.h — a PEFT LoRA adapter folder read as a list of edits to a base
 * checkpoint's tensors; ckpt_adapter.c applies them (ckpt_open_adapted).
 *
 * The folder: adapter_config.json (peft_type "LORA") and
 * adapter_model.safetensors, as peft's save_pretrained writes them. Keys
 * are "base_model.model.<module>.lora_A.weight" [r, in] and
 * ".lora_B.weight" [out, r] for an adapted Linear/Conv1D, and
 * "base_model.model.<module>.<param>" for a module of modules_to_save (its
 * trained copy replaces the base tensor). <module> is the module's name in
 * the Hugging Face model class; when the checkpoint stores the tensor
 * without the class's first component (hub GPT-2 files: "h.0..." for
 * "transformer.h.0..."), that name is used.
 *
 * The merge is peft's: W' = W + scaling * (B @ A), transposed for a GPT-2
 * Conv1D weight (stored [in, out]: peft forces fan_in_fan_out on Conv1D and
 * off on Linear whatever the config says, and so does this). scaling =
 * alpha / r, or alpha / sqrt(r) with use_rslora, r and alpha taken from
 * rank_pattern / alpha_pattern when a pattern matches the module name.
 * Which modules are adapted follows peft's check_target_module_exists:
 * target_modules a list (exact name or "." + suffix), or a string (a full
 * regular-expression match, PCRE2), minus exclude_modules and
 * modules_to_save, restricted by layers_to_transform / layers_pattern. A
 * lora_A/lora_B pair of a module the config does not select is an error
 * (peft would drop it with a warning; here it means a broken adapter).
 *
 * Refused, each with a YS_EINPUT naming the folder, file and field:
 * another peft_type, use_dora, bias other than "none", lora_bias, LoRA on
 * an embedding (lora_embedding_A/B), layer_replication,
 * trainable_token_indices, target_parameters, use_qalora,
 * alora_invocation_tokens (aLoRA), arrow_config, a lone
 * adapter_model.bin (pickled weights are never read), a missing or
 * misshapen tensor, a rank that disagrees with r / rank_pattern, a target
 * the base checkpoint does not have.
 *
 * Ownership: lora_open returns an adapter freed with lora_close; edits and
 * their tensors live until then. Nothing here prints; a mismatch of
 * base_model_name_or_path with the base folder is only a warning text
 * (lora_name_warning), for the caller to show.
 */
#ifndef YS_ENGINE_LORA_H
#define YS_ENGINE_LORA_H

#include <stddef.h>

#include "checkpoint.h"

typedef struct lora lora;

typedef enum { LORA_MERGE, LORA_REPLACE } lora_kind;

typedef struct lora_edit {
    lora_kind kind;
    char *target;             /* the base checkpoint's tensor name */
    char *module;             /* peft's module name (messages) */
    /* LORA_MERGE */
    const ckpt_tensor *a, *b; /* lora_A [r, in], lora_B [out, r] (F32 views) */
    double scaling;
    int conv1d;               /* base stored [in, out] (GPT-2 Conv1D) */
    /* LORA_REPLACE: the adapter's tensor; `adds` when the base has none
     * (the head of a tied model: it becomes untied) */
    const ckpt_tensor *with;
    int adds;
} lora_edit;

/* Read and validate adapter_dir against the opened base checkpoint. */
int lora_open(const char *adapter_dir, const ckpt *base, lora **out, ys_error *err);
void lora_close(lora *l);

size_t lora_count(const lora *l);
const lora_edit *lora_at(const lora *l, size_t i);
/* The adapter's own tensors (their mapping, for ckpt_release). */
const ckpt *lora_weights(const lora *l);
const char *lora_dir(const lora *l);

/* dst (base->numel floats, the base's layout) = the base tensor merged
 * with e. base is the stored tensor (F32/F16/BF16/F64). */
void lora_merge(const lora_edit *e, const ckpt_tensor *base, float *dst);

/* When adapter_dir's base_model_name_or_path does not name base_dir (as a
 * path relative to the adapter folder or the working directory, by its
 * last path component, or as the "org/name" of a hub cache folder), a
 * one-line warning in buf; "" otherwise (and when the field is absent or
 * the config cannot be read: lora_open reports that). */
void lora_name_warning(const char *base_dir, const char *adapter_dir, char *buf, size_t cap);

#endif
