/* fuzz_lora — the PEFT LoRA adapter reader (lora.h) and the merge
 * (ckpt_open_adapted): adapter_config.json (target_modules lists and
 * regular expressions, rank and alpha patterns, layers_to_transform,
 * modules_to_save, the refused features) and adapter_model.safetensors.
 *
 * Byte 0 picks a fixture adapter of tests/data/models (and so its base)
 * and which file the rest of the input replaces: bit 0 clear, the
 * config; set, the weights (the other file is the fixture's). */
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "fuzz_util.h"

static const char *const adapters[][2] = {
    {"lora_tiny_a", "tiny"},  {"lora_gpt2", "gpt2"},   {"lora_llama", "llama"},
    {"lora_gemma2", "gemma2"}, {"lora_phi3", "phi3"},   {"lora_pythia", "pythia"},
    {"lora_qwen2", "qwen2"},  {"lora_qwen3", "qwen3_yarn"},
};
#define NADAPTERS (sizeof adapters / sizeof adapters[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t k = (size_t)(data[0] >> 1) % NADAPTERS;
    char dbuf[512], src[512];
    const char *dir = fz_subdir(dbuf, sizeof dbuf, "adapter");
    const char *fixed = (data[0] & 1) ? "adapter_config.json" : "adapter_model.safetensors";
    const char *fuzzed = (data[0] & 1) ? "adapter_model.safetensors" : "adapter_config.json";
    snprintf(src, sizeof src, "%s/tests/data/models/%s/%s", YS_SOURCE_DIR, adapters[k][0], fixed);
    fz_copy(src, dir, fixed);
    fz_write(dir, fuzzed, data + 1, size - 1);
    char base[512];
    snprintf(base, sizeof base, "%s/tests/data/models/%s", YS_SOURCE_DIR, adapters[k][1]);
    ckpt *c = NULL;
    ys_error err = {0};
    if (ckpt_open_adapted(base, dir, &c, &err) == 0) {
        /* what an engine does: read every tensor, then the unused check */
        for (size_t i = 0; i < ckpt_count(c); i++) {
            const ckpt_tensor *t = ckpt_at(c, i), *v = NULL;
            ckpt_require(c, t->name, t->ndim, t->shape, &v, &err);
        }
        ckpt_adapter_check(c, &err);
        ckpt_close(c);
    }
    return 0;
}
