/* fuzz_tokenizer — tokenizer.json of every model type (BPE byte-level and
 * SentencePiece style, WordPiece, Unigram; normalizers, pre-tokenizers,
 * post-processors, decoders, added tokens) and GPT-2's legacy vocab.json +
 * merges.txt.
 *
 * Input layout: byte 0 picks the form; the rest is split at the first
 * "\n#~#\n" (or not at all) into two parts.
 *   even: part 1 is tokenizer.json; part 2, when present, is
 *         tokenizer_config.json;
 *   odd:  part 1 is vocab.json, part 2 merges.txt.
 * A tokenizer that loads encodes a fixed set of texts (ASCII, accents,
 * CJK, emoji, a NUL, special-token spellings, white space runs) alone and
 * as a pair with truncation, and decodes the ids back, with and without
 * special tokens. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tokenizer.h"

#define T(s) {s, sizeof(s) - 1}
static const struct {
    const char *s;
    size_t n;
} texts[] = {
    T("Hello world, it's 2024!"),
    T("  leading and   inner   spaces\t\ttabs\nnewline "),
    T("caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 e\xcc\x81"),
    T("<s> </s> <unk> [CLS] [SEP] <|endoftext|> <pad> [MASK]"),
    T("a\0b"),
    T(""),
};

static void exercise(const tok_tokenizer *t)
{
    ys_error err = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok_encode(t, texts[i].s, texts[i].n, i & 1, &ids, &n, &err) == 0) {
            char *back = NULL;
            if (tok_decode(t, ids, n, false, &back, &err) == 0)
                free(back);
            back = NULL;
            if (tok_decode(t, ids, n, true, &back, &err) == 0)
                free(back);
            for (size_t k = 0; k < n; k++)
                (void)tok_piece(t, ids[k]);
        }
        free(ids);
    }
    int32_t *a = NULL, *types = NULL;
    size_t n = 0;
    if (tok_encode_pair(t, texts[0].s, texts[0].n, texts[2].s, texts[2].n, true, 12, &a, &types, &n, &err) == 0) {
        free(a);
        free(types);
    }
    int32_t odd[] = {-1, 0, 1, 2, 255, 256, 1000000};
    char *back = NULL;
    if (tok_decode(t, odd, sizeof odd / sizeof odd[0], false, &back, &err) == 0)
        free(back);
    (void)tok_bos_id(t), (void)tok_eos_id(t), (void)tok_pad_id(t), (void)tok_vocab_size(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *sep = "\n#~#\n";
    const uint8_t *p1 = data + 1, *p2 = NULL;
    size_t n1 = size - 1, n2 = 0;
    const uint8_t *cut = NULL;
    for (size_t i = 0; !cut && i + 5 <= n1; i++)
        if (memcmp(p1 + i, sep, 5) == 0)
            cut = p1 + i;
    if (cut) {
        p2 = cut + 5;
        n2 = (size_t)(data + size - p2);
        n1 = (size_t)(cut - p1);
    }
    char buf[512];
    const char *dir = fz_subdir(buf, sizeof buf, (data[0] & 1) ? "tok_legacy" : "tok_json");
    if (data[0] & 1) {
        fz_write(dir, "vocab.json", p1, n1);
        fz_write(dir, "merges.txt", p2 ? (const void *)p2 : "", n2);
    } else {
        fz_write(dir, "tokenizer.json", p1, n1);
        if (p2)
            fz_write(dir, "tokenizer_config.json", p2, n2);
        else
            fz_unlink(dir, "tokenizer_config.json");
    }
    tok_tokenizer *t = NULL;
    ys_error err = {0};
    if (tok_load(dir, &t, &err) == 0) {
        exercise(t);
        tok_free(t);
    }
    return 0;
}
