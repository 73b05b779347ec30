/* tokenizer.h — Hugging Face tokenizers (tokenizer.json) in C: the same ids
 * and the same decoded text as the Rust library (tokenizers 0.23).
 *
 * Supported: models BPE (byte-level GPT-2/Llama 3/Qwen/o200k style, and
 * SentencePiece style with byte_fallback, unk fusing, ignore_merges),
 * WordPiece (BERT) and Unigram (T5; old files without a model type too);
 * normalizers Sequence, NFC, NFD, Lowercase, StripAccents, Prepend, Replace
 * (string pattern), Strip, BertNormalizer, Precompiled (SentencePiece
 * charsmap); pre-tokenizers Sequence, Split (regex run by PCRE2, or
 * string), ByteLevel, Metaspace, BertPreTokenizer, WhitespaceSplit;
 * post-processors TemplateProcessing, ByteLevel, RobertaProcessing,
 * BertProcessing, Sequence (ByteLevel + one of those); decoders ByteLevel,
 * Replace, ByteFallback, Fuse, Strip, Metaspace, WordPiece, Sequence;
 * single texts and pairs, longest-first truncation; added tokens matched
 * before the model with their lstrip/rstrip/normalized/special flags; the
 * legacy GPT-2 pair vocab.json + merges.txt. Anything else fails to load
 * with YS_EINPUT and a message naming the component.
 *
 * Contract:
 * - tok_load reads a tokenizer.json file, or a directory holding
 *   tokenizer.json (else vocab.json + merges.txt); tokenizer_config.json
 *   next to it, when present, names bos/eos/pad. *out is owned by the caller
 *   and released with tok_free. A GGUF file gives the tokenizer in its
 *   metadata (byte-level BPE, tokenizer.ggml.model "gpt2", with the
 *   pre-tokenizers gpt-2, llama-bpe, qwen2; tok_gguf.c), bos/eos/pad and
 *   add_bos/add_eos from the same metadata.
 * - A loaded tokenizer is immutable: any number of threads may call
 *   tok_encode/tok_decode/tok_piece on it concurrently (each call keeps its
 *   own scratch).
 * - tok_encode: text is UTF-8 of len bytes (it may contain NUL bytes);
 *   invalid UTF-8 fails with YS_EINPUT. On success *ids is malloc'd (the
 *   caller frees it; it is non-NULL even when *n == 0).
 *   add_special_tokens applies the post-processor (e.g. Llama's BOS).
 * - tok_decode equals HF decode(ids, skip_special_tokens); *text is a
 *   malloc'd NUL-terminated UTF-8 string the caller frees. Ids that name no
 *   token are skipped, as HF does.
 * - Errors: 0 or a negative YS_E* code with err filled (err may be NULL).
 */
#ifndef YS_TOKENIZER_H
#define YS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct tok_tokenizer tok_tokenizer;

int tok_load(const char *dir_or_file, tok_tokenizer **out, ys_error *err);
/* Would tok_load find a tokenizer at path: a folder with tokenizer.json or
 * vocab.json, a tokenizer.json file, or a GGUF file whose metadata holds
 * one (tokenizer.ggml.model)? Whether it loads is tok_load's to say. */
bool tok_available(const char *path);
void tok_free(tok_tokenizer *t);

int tok_encode(const tok_tokenizer *t, const char *text, size_t len, bool add_special_tokens,
               int32_t **ids, size_t *n, ys_error *err);
/* Encode one text or a pair (b == NULL: single). add_special_tokens applies the
 * post-processor's single or pair template. max_length > 0 truncates longest-first
 * (HF TruncationStrategy::LongestFirst, stride 0, direction right) so that the
 * result including special tokens has at most max_length tokens; 0 = no truncation.
 * *ids and *type_ids are malloc'd, caller frees both (type_ids may be NULL to skip).
 * As HF: type ids come from the template even without special tokens; when
 * the special tokens alone exceed max_length the sequences are only cut
 * to about max_length tokens each, at word boundaries (HF's early stop),
 * so the result can be longer than max_length. tok_encode(t, s, n, add,
 * ...) is tok_encode_pair(t, s, n, NULL, 0, add, 0, ...). */
int tok_encode_pair(const tok_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                    bool add_special_tokens, size_t max_length,
                    int32_t **ids, int32_t **type_ids, size_t *n, ys_error *err);
int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
               char **text, ys_error *err);
/* The same, also giving the length (the text may contain U+0000). */
int tok_decode_len(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                   char **text, size_t *len, ys_error *err);

/* ---- long texts, in bounded memory ----------------------------------------
 * Encoding keeps per-word scratch for the whole text (tens of bytes per
 * input byte), so these two cut the text at boundaries that are checked to
 * be token boundaries, and encode the pieces separately:
 *
 * A boundary b is accepted when encoding text[b-M, b+M) in one piece gives
 * the same ids as encoding text[b-M, b) and text[b, b+M) separately (the
 * right half as a continuation, not as the start of a text: Metaspace's
 * "first" prefix is not applied to it), with M = TOK_CUT_MARGIN bytes (or
 * what there is) on each side. Candidates are positions after a newline,
 * else after a space, else any character boundary. Every tokenizer
 * this library supports pre-tokenizes and encodes the pieces it cuts at
 * white space independently, so the tokens of a text agree with its
 * pieces' beyond a few bytes from a cut; the check makes sure of the cut
 * itself. A tokenizer that carries state across a whole text (a Strip or
 * Prepend normalizer, ByteLevel's add_prefix_space) fails the check at
 * every candidate, and is then encoded whole, as tok_encode does.
 *
 * tok_encode_long: tok_encode's ids for a text of any length, encoded in
 * pieces of about TOK_CHUNK bytes (peak memory: the ids plus one piece's
 * scratch, instead of the whole text's).
 * tok_encode_from: the ids of text[start, len) as the tail of the text's
 * encoding — returns 1 and *ids when the boundary at start is accepted, 0
 * (nothing allocated) when it is not (then only encoding the whole text
 * gives the tail); start 0 is always 1. No special tokens. */
#define TOK_CUT_MARGIN 4096
#define TOK_CHUNK (1u << 20)
int tok_encode_long(const tok_tokenizer *t, const char *text, size_t len, bool add_special_tokens, int32_t **ids,
                    size_t *n, ys_error *err);
int tok_encode_from(const tok_tokenizer *t, const char *text, size_t len, size_t start, int32_t **ids, size_t *n,
                    ys_error *err);

/* The token's string as stored in the vocabulary (byte-level pieces are in
 * the GPT-2 alphabet, e.g. "Ġthe"); added tokens give their content. NULL
 * for an id that names no token. Valid as long as the tokenizer. */
const char *tok_piece(const tok_tokenizer *t, int32_t id);
/* Id of a piece or added token, -1 if none. */
int32_t tok_token_id(const tok_tokenizer *t, const char *piece);
/* One more than the largest id of the model vocabulary or added tokens. */
size_t tok_vocab_size(const tok_tokenizer *t);
/* From tokenizer_config.json when present, else from the post-processor
 * template (BOS) or GPT-2's <|endoftext|> for the legacy files; -1 if none. */
int32_t tok_bos_id(const tok_tokenizer *t);
int32_t tok_eos_id(const tok_tokenizer *t);
/* The padding token: tokenizer.json's padding.pad_id, else
 * tokenizer_config.json's pad_token, else a "[PAD]" or "<pad>" token; -1 if
 * none. Encoding never pads: the caller pads with this id (type id 0). */
int32_t tok_pad_id(const tok_tokenizer *t);
/* Is id an added token flagged special (skipped by skip_special)? */
bool tok_is_special(const tok_tokenizer *t, int32_t id);

#endif
