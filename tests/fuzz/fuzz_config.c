/* fuzz_config — config.json as each engine reads it: the decoder
 * (model.h), the encoder classifiers (encoder.h) and the encoder-decoders
 * (seq2seq.h), range checks included (issue 15: negative epsilons, huge
 * numbers overflowing a conversion).
 *
 * The first byte picks one of the fixture checkpoints of tests/data/models
 * (its weights, generation_config.json when it has one); the rest of the
 * input is its config.json. The folder is loaded by the engine the config
 * names — the same choice `yardstick` makes (enc_supports, s2s_supports,
 * else the decoder) — and a loaded decoder scores three tokens, so that
 * values used only when computing (rope scaling, softcaps) are reached. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "fuzz_util.h"
#include "model.h"
#include "seq2seq.h"

static const char *const models[] = {
    "tiny", "gpt2", "gpt2_sharded", "llama", "llama3_rope", "llama_dynamic", "llama_f16_tied",
    "llama_linear", "mistral", "qwen2", "qwen3_yarn", "gemma", "gemma2", "gemma3", "phi3",
    "pythia", "neox_seq", "bert_cls", "bert_stsb", "distilbert_cls", "roberta_cls", "t5",
    "t5v11", "bart", "marian",
};
#define NMODELS (sizeof models / sizeof models[0])

static const char *const files[] = {
    "model.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors", "generation_config.json",
};

/* One folder per fixture, made once: its weight files copied, config.json
 * written per input. */
static const char *model_dir(size_t k, char *buf, size_t cap)
{
    static unsigned char ready[NMODELS];
    char name[64];
    snprintf(name, sizeof name, "cfg_%s", models[k]);
    const char *dir = fz_subdir(buf, cap, name);
    if (!ready[k]) {
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char src[512];
            snprintf(src, sizeof src, "%s/tests/data/models/%s/%s", YS_SOURCE_DIR, models[k], files[i]);
            if (access(src, R_OK) == 0)
                fz_copy(src, dir, files[i]);
        }
        ready[k] = 1;
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char buf[512];
    const char *dir = model_dir(data[0] % NMODELS, buf, sizeof buf);
    fz_write(dir, "config.json", data + 1, size - 1);
    ys_error err = {0};
    if (enc_supports(dir, &err) == 1) {
        enc_model *m = NULL;
        if (enc_load(dir, &m, &err) == 0)
            enc_free(m);
    } else if (s2s_supports(dir, &err) == 1) {
        s2s_model *m = NULL;
        if (s2s_load(dir, &m, &err) == 0)
            s2s_free(m);
    } else {
        model *m = NULL;
        if (model_load(dir, &m, &err) == 0) {
            int32_t ids[3] = {1, 2, 3};
            const int32_t *seqs[1] = {ids};
            size_t lens[1] = {3};
            double lp[2];
            double *lps[1] = {lp};
            model_set_threads(m, 1, &err);
            model_logprobs(m, seqs, lens, 1, NULL, lps, NULL, NULL, &err);
            model_free(m);
        }
    }
    return 0;
}
