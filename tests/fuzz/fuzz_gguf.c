/* fuzz_gguf — the GGUF reader (gguf.h) and what is made from its
 * metadata: the checkpoint and config (ckpt_gguf.c, every architecture's
 * keys, tensor names and transforms), the decoder model built on it, and
 * the tokenizer (tok_gguf.c: byte-level BPE and SentencePiece).
 *
 * The input is the whole file. It is opened as a container (every key and
 * tensor touched), as a checkpoint (every tensor's F32 view), as a model
 * (three tokens scored when its vocabulary is small) and as a tokenizer
 * (fixed texts encoded and decoded, odd ids decoded). A failure to open is
 * the expected answer to most inputs; what may not happen is a crash, a
 * sanitizer report, or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fuzz_util.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

static void container(const char *path)
{
    gguf *g = NULL;
    ys_error err = {0};
    if (gguf_open(path, &g, &err))
        return;
    volatile size_t sink = 0;
    volatile double dsink = 0;   /* any value, NaN and huge ones too: never converted to an integer */
    for (size_t i = 0; i < gguf_kv_count(g); i++) {
        const gguf_kv *kv = gguf_kv_at(g, i);
        sink += strlen(kv->key);
        if (kv->v.type == GGUF_ARRAY && kv->v.n && kv->v.elem != GGUF_STRING && kv->v.elem != GGUF_ARRAY)
            dsink += gguf_arr_num(&kv->v, kv->v.n - 1);
    }
    (void)dsink;
    for (size_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (t->nbytes)
            sink += ((const unsigned char *)t->data)[0] + ((const unsigned char *)t->data)[t->nbytes - 1];
    }
    (void)sink;
    gguf_close(g);
}

static void checkpoint(const char *path)
{
    ckpt *c = NULL;
    ys_error err = {0};
    if (ckpt_open(path, &c, &err))
        return;
    for (size_t i = 0; i < ckpt_count(c); i++) {
        const ckpt_tensor *t = ckpt_at(c, i), *v = NULL;
        if (t->numel <= (1u << 20) && ckpt_require(c, t->name, t->ndim, t->shape, &v, &err) == 0 && v->numel) {
            volatile float x = v->data[0] + v->data[v->numel - 1];
            (void)x;
        }
    }
    ckpt_close(c);
}

static void decoder(const char *path)
{
    model *m = NULL;
    ys_error err = {0};
    if (model_load(path, &m, &err))
        return;
    const model_info *mi = model_get_info(m);
    if (mi->vocab <= 4096 && mi->hidden <= 1024) {
        int32_t seq[3] = {0, 1 % mi->vocab, 2 % mi->vocab};
        const int32_t *seqs[1] = {seq};
        size_t lens[1] = {3};
        double lp[3];
        double *lps[1] = {lp};
        model_logprobs(m, seqs, lens, 1, NULL, lps, NULL, NULL, &err);
    }
    model_free(m);
}

static void tokenizer(const char *path)
{
    tok_tokenizer *t = NULL;
    ys_error err = {0};
    if (tok_load(path, &t, &err))
        return;
    static const char *const texts[] = {"", " ", "Hello world", "  two  spaces\n\ttab", "caf\xC3\xA9 \xE2\x96\x81x",
                                        "<s>a</s><unk>", "x\0y"};
    static const size_t lens[] = {0, 1, 11, 18, 11, 13, 3};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok_encode(t, texts[i], lens[i], i & 1, &ids, &n, &err) == 0) {
            char *s = NULL;
            size_t sl = 0;
            if (tok_decode_len(t, ids, n, i & 2, &s, &sl, &err) == 0)
                free(s);
        }
        free(ids);
    }
    int32_t odd[4] = {0, (int32_t)tok_vocab_size(t) - 1, (int32_t)tok_vocab_size(t) / 2, 3};
    char *s = NULL;
    size_t sl = 0;
    if (tok_vocab_size(t) > 3 && tok_decode_len(t, odd, 4, false, &s, &sl, &err) == 0)
        free(s);
    tok_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write(fz_dir(), "model.gguf", data, size);
    fz_path(path, sizeof path, fz_dir(), "model.gguf");
    container(path);
    checkpoint(path);
    decoder(path);
    tokenizer(path);
    return 0;
}
