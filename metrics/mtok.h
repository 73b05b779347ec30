/* mtok.h — sacrebleu's word tokenizers, shared by BLEU, chrF's callers and
 * METEOR's --meteor-tokenize option.
 *
 * mtok_apply reproduces sacrebleu 2.x: `13a` (mteval-v13a: entity
 * unescaping, ASCII punctuation split, period/comma/dash rules), `intl`
 * (mteval-v14 international: \p{P} not next to a digit, \p{S}), `char`
 * (every non-space code point a token) and `none`. The result is the tokens
 * joined by single spaces, as sacrebleu's tokenizer returns them (for `none`
 * the white-space-separated words: BLEU splits on white space anyway).
 * The input must be valid UTF-8 (the caller checks); the returned string is
 * malloc'd and the caller frees it; NULL means out of memory.
 */
#ifndef YS_MTOK_H
#define YS_MTOK_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MTOK_13A, MTOK_INTL, MTOK_CHAR, MTOK_NONE } mtok_kind;

char *mtok_apply(mtok_kind kind, const char *s, size_t n, size_t *out_len);

/* Reusable memory for mtok_apply_scratch; zero-initialize it, keep one per
 * thread (or per text that must stay alive), free with mtok_scratch_free. */
typedef struct {
    char *out, *a, *b;
    size_t out_cap, a_cap, b_cap;
    uint32_t *ca, *cb;          /* code point buffers of the intl tokenizer */
    size_t ca_cap, cb_cap;
} mtok_scratch;

/* As mtok_apply without allocating per call: the NUL-terminated result is
 * sc->out, valid until the next call with sc. Returns its length, or
 * (size_t)-1 when memory runs out. */
size_t mtok_apply_scratch(mtok_kind kind, const char *s, size_t n, mtok_scratch *sc);
/* For callers that split the result on white space anyway (BLEU): the
 * tokenizer's text before its final ' '.join(text.split()), so tokens may
 * be separated by runs of (Unicode) white space, with some before and
 * after. Returns a pointer into sc (or s itself for `none`) with *len
 * bytes, not NUL-terminated, valid until the next call with sc; NULL when
 * memory runs out. */
const char *mtok_apply_unjoined(mtok_kind kind, const char *s, size_t n, mtok_scratch *sc, size_t *len);
void mtok_scratch_free(mtok_scratch *sc);
/* "13a" / "intl" / "char" / "none" → kind; returns -1 for an unknown name. */
int mtok_parse(const char *name, mtok_kind *kind);
const char *mtok_name(mtok_kind kind);

/* Python's str.rstrip(): length of s without trailing Unicode white space. */
size_t mtok_rstrip_len(const char *s, size_t n);
/* Python's str.split() on Unicode white space: calls fn for each token
 * (a span of s) in order; returns the number of tokens. */
size_t mtok_split(const char *s, size_t n,
                  void (*fn)(const char *tok, size_t len, void *ctx), void *ctx);
/* Length of the Unicode white space code point at s (0 when none). */
size_t mtok_space_at(const char *s, size_t n);

#endif
