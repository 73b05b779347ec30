/* fuzz_checkpoint — the safetensors reader (checkpoint.h): a file's header
 * and byte ranges, and a sharded checkpoint's index.
 *
 * The first byte picks what the rest of the input is:
 *   even: model.safetensors of a folder whose config.json is {} — opened
 *         with ckpt_open and ckpt_open_weights, and every tensor asked for
 *         its F32 view (the F16/BF16/F64 conversions read the data area);
 *   odd:  model.safetensors.index.json next to the two real shards of
 *         tests/data/models/gpt2_sharded.
 * A failure to open is the expected answer to most inputs; what may not
 * happen is a crash, a sanitizer report, or a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "fuzz_util.h"

static void use(ckpt *c)
{
    ys_error err = {0};
    for (size_t i = 0; i < ckpt_count(c); i++) {
        const ckpt_tensor *t = ckpt_at(c, i);
        const ckpt_tensor *v = NULL;
        if (ckpt_require(c, t->name, t->ndim, t->shape, &v, &err) == 0 && v->numel) {
            /* touch the first and last floats of the view */
            volatile float x = v->data[0] + v->data[v->numel - 1];
            (void)x;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char dirbuf[512];
    const char *dir = fz_subdir(dirbuf, sizeof dirbuf, (data[0] & 1) ? "sharded" : "single");
    static int ready;
    if (!ready) {
        char d2[512];
        const char *sh = fz_subdir(d2, sizeof d2, "sharded");
        fz_copy(YS_SOURCE_DIR "/tests/data/models/gpt2_sharded/model-00001-of-00002.safetensors", sh,
                "model-00001-of-00002.safetensors");
        fz_copy(YS_SOURCE_DIR "/tests/data/models/gpt2_sharded/model-00002-of-00002.safetensors", sh,
                "model-00002-of-00002.safetensors");
        fz_write(sh, "config.json", "{}", 2);
        const char *si = fz_subdir(d2, sizeof d2, "single");
        fz_write(si, "config.json", "{}", 2);
        ready = 1;
    }
    ys_error err = {0};
    ckpt *c = NULL;
    if (data[0] & 1) {
        fz_write(dir, "model.safetensors.index.json", data + 1, size - 1);
    } else {
        fz_write(dir, "model.safetensors", data + 1, size - 1);
        if (ckpt_open_weights(dir, "model.safetensors", &c, &err) == 0)
            use(c);
        ckpt_close(c);
        c = NULL;
    }
    if (ckpt_open(dir, &c, &err) == 0)
        use(c);
    ckpt_close(c);
    return 0;
}
