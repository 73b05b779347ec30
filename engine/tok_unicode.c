/* tok_unicode.c — the character classes of HF tokenizers' BERT normalizer
 * and pre-tokenizer, and the BERT normalizer itself, on ys_unicode.
 *
 * The Unicode version of each class is that of the Rust crate HF tokenizers
 * 0.23 takes it from:
 * - control (Cc|Cf|Co), punctuation (P*) and non-spacing marks (Mn): the
 *   unicode_categories crate 0.1.1, Unicode 8.0 (so characters added later
 *   are in none of the classes);
 * - combining marks (M*, the StripAccents normalizer) and NFD/NFC:
 *   unicode-normalization-alignments 0.1.12, Unicode 9.0;
 * - lowercase: Rust's char::to_lowercase, Unicode 15.0 here (the standard
 *   library may be newer); white space: Rust's char::is_whitespace;
 * - grapheme clusters (the SentencePiece Precompiled normalizer):
 *   unicode-segmentation, Unicode 15.0 here (the crate is 16.0 and also has
 *   GB9c, irrelevant because that normalizer only looks at graphemes
 *   shorter than 6 bytes). */
#include <string.h>

#include "tok_internal.h"

static bool is_other(uint32_t c)
{
    if (c < 0x80) /* every character goes through here: ASCII's Cc inline */
        return c < 0x20 || c == 0x7F;
    int g = uni_category(c, UNI_V8_0);
    return g == UNI_CC || g == UNI_CF || g == UNI_CO;
}

bool tok_is_bert_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
               (c >= 0x7B && c <= 0x7E);
    int g = uni_category(c, UNI_V8_0);
    return g >= UNI_PC && g <= UNI_PO;
}

static bool is_mn(uint32_t c) { return uni_category(c, UNI_V8_0) == UNI_MN; }

bool tok_is_mark(uint32_t c)
{
    int g = uni_category(c, UNI_V9_0);
    return g >= UNI_MN && g <= UNI_ME;
}

/* BERT's CJK ideograph blocks (the ranges HF and the original BERT use;
 * not every CJK character: Hangul, kana and CJK punctuation are not in) */
static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int put_cp(tok_buf *b, uint32_t c)
{
    char tmp[4];
    return tok_buf_put(b, tmp, uni_encode(c, tmp));
}

/* HF's order: clean_text, CJK spacing, strip accents (NFD then drop Mn),
 * lowercase. Each pass is per character, so passes 1-2 and 3-4 are fused. */
int tok_bert_normalize(const tok_bert_norm *o, const char *s, size_t n, tok_buf *out)
{
    tok_buf a = {0}, d = {0};
    int rc = tok_buf_put(&a, "", 0);
    for (size_t i = 0; i < n && !rc;) {
        uint32_t c;
        size_t l = uni_decode_valid(s + i, &c);
        if (o->clean_text) {
            if (c == 0 || c == 0xFFFD) { i += l; continue; }
            if (c != '\t' && c != '\n' && c != '\r' && is_other(c)) {
                i += l;
                continue;
            }
            if (uni_is_white_space(c)) c = ' ';
        }
        if (o->chinese && is_cjk(c)) rc = tok_buf_put(&a, " ", 1) || put_cp(&a, c) || tok_buf_put(&a, " ", 1);
        else if (c == ' ') rc = tok_buf_put(&a, " ", 1);
        else rc = tok_buf_put(&a, s + i, l);
        i += l;
    }
    const char *src = a.p;
    size_t sn = a.n;
    if (!rc && o->strip_accents) {
        rc = tok_buf_put(&d, "", 0) || tok_nfd_append(&d, a.p, a.n);
        src = d.p;
        sn = d.n;
    }
    out->n = 0;
    if (!rc) rc = tok_buf_put(out, "", 0);
    for (size_t i = 0; i < sn && !rc;) {
        uint32_t c;
        size_t l = uni_decode_valid(src + i, &c);
        if (o->strip_accents && c >= 0x300 && is_mn(c)) { i += l; continue; }
        uint32_t low[3];
        int nl = o->lowercase ? uni_to_lower(c, low) : 0;
        if (nl > 1 || (nl == 1 && low[0] != c))
            for (int k = 0; k < nl && !rc; k++) rc = put_cp(out, low[k]);
        else
            rc = tok_buf_put(out, src + i, l);
        i += l;
    }
    tok_buf_free(&a);
    tok_buf_free(&d);
    return rc ? YS_ENOMEM : 0;
}
