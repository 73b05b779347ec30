/* tok_internal.h — private pieces shared by tokenizer.c, tok_bpe.c and
 * tok_nfc.c. Not part of the engine API. */
#ifndef YS_TOK_INTERNAL_H
#define YS_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <math.h>

#include "tokenizer.h"
#include "ys_error.h"
#include "ys_unicode.h" /* UTF-8 and every Unicode property the tokenizers use */

/* ---- growable byte buffer ------------------------------------------- */
typedef struct {
    char *p;
    size_t n, cap;
} tok_buf;
int tok_buf_reserve(tok_buf *b, size_t extra);
int tok_buf_put(tok_buf *b, const void *s, size_t n);
void tok_buf_free(tok_buf *b);

/* ---- growable int32 vector ------------------------------------------ */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ivec;
int tok_ivec_push(tok_ivec *v, int32_t x);

/* ---- string -> int32 hash map (keys are copied into one pool) -------- */
typedef struct {
    uint32_t *slots;    /* index+1 into entries, 0 = empty */
    size_t mask;
    struct tok_smap_ent { uint32_t off, len; int32_t val; uint32_t hash; } *ents;
    size_t n, cap;
    tok_buf pool;
} tok_smap;
int tok_smap_put(tok_smap *m, const char *k, size_t n, int32_t val); /* overwrites */
int32_t tok_smap_get(const tok_smap *m, const char *k, size_t n);    /* -1 if absent */
void tok_smap_free(tok_smap *m);
uint32_t tok_hash(const char *k, size_t n);

/* ---- UTF-8 (the rest is ys_unicode.h's) ------------------------------ */
/* Append s[0..n) to b the way Rust's String::from_utf8_lossy does
 * (each maximal invalid subpart becomes U+FFFD). */
int tok_utf8_lossy(tok_buf *b, const unsigned char *s, size_t n);

/* ---- NFC (tok_nfc.c) --------------------------------------------------- */
/* Does s (valid UTF-8) possibly change under NFC? false = certainly not. */
bool tok_nfc_may_change(const char *s, size_t n);
/* Append NFC(s) to out. */
int tok_nfc_append(tok_buf *out, const char *s, size_t n);

/* ---- BPE model ----------------------------------------------------------- */
typedef struct tok_bpe tok_bpe;
typedef struct {
    /* symbol scratch for one word */
    int32_t *id;
    uint32_t *len;
    int32_t *prev, *next;
    uint32_t *rank; /* rank of the pair starting at each symbol */
    int32_t *nid;   /* and the id it merges into */
    uint64_t *heap; /* (rank << 32) | pos */
    size_t cap, hcap;
} tok_bpe_scratch;
void tok_bpe_scratch_free(tok_bpe_scratch *s);

/* Build a BPE model. vocab maps piece strings to ids; merges are pairs of
 * piece strings. When byte_level is true, pieces are in the GPT-2
 * byte-to-unicode alphabet and words handed to tok_bpe_word are raw bytes. */
typedef struct {
    int32_t unk_id;
    bool fuse_unk, byte_fallback, ignore_merges, byte_level;
} tok_bpe_opts;
tok_bpe *tok_bpe_new(const tok_bpe_opts *o);
int tok_bpe_add_piece(tok_bpe *m, const char *piece, size_t n, int32_t id, ys_error *err);
int tok_bpe_add_merge(tok_bpe *m, const char *a, size_t an, const char *b, size_t bn,
                      uint32_t rank, ys_error *err);
int tok_bpe_finish(tok_bpe *m, ys_error *err);
void tok_bpe_free(tok_bpe *m);
int32_t tok_bpe_n_ids(const tok_bpe *m);            /* max id + 1 */
const char *tok_bpe_piece(const tok_bpe *m, int32_t id, size_t *len); /* NULL if none */
int32_t tok_bpe_lookup(const tok_bpe *m, const char *piece, size_t n); /* by piece string */
/* Tokenize one word, appending ids. */
int tok_bpe_word(const tok_bpe *m, const char *w, size_t n, tok_bpe_scratch *s, tok_ivec *out);

/* GPT-2 byte <-> unicode alphabet (pure functions, no tables) */
uint32_t tok_byte_to_cp(unsigned b);
int tok_cp_to_byte(uint32_t cp); /* -1 if cp is not in the alphabet */

/* ---- HF's character classes (tok_unicode.c says whose Unicode version) -- */
/* BERT's notion of punctuation: ASCII punctuation or a Unicode 8.0 P* char. */
bool tok_is_bert_punct(uint32_t cp);
/* A combining mark (M*) of Unicode 9.0: what StripAccents drops. */
bool tok_is_mark(uint32_t cp);
/* Append NFD(s) to out (canonical decomposition + canonical ordering). */
int tok_nfd_append(tok_buf *out, const char *s, size_t n);

/* BertNormalizer options and the pass itself (into out, which is reset). */
typedef struct {
    bool clean_text, chinese, strip_accents, lowercase;
} tok_bert_norm;
int tok_bert_normalize(const tok_bert_norm *o, const char *s, size_t n, tok_buf *out);

/* ---- SentencePiece precompiled charsmap (tok_unigram.c) --------------- */
typedef struct {
    uint32_t *units;
    size_t nunits;
    char *norm;   /* the NUL-separated replacement strings */
    size_t nnorm;
} tok_charsmap;
/* Parse the base64 text of precompiled_charsmap. */
int tok_charsmap_load(tok_charsmap *m, const char *b64, ys_error *err);
void tok_charsmap_free(tok_charsmap *m);
/* Append the normalization of s (valid UTF-8) to out, as HF's Precompiled
 * normalizer does (per grapheme, see tok_unigram.c). */
int tok_charsmap_apply(const tok_charsmap *m, const char *s, size_t n, tok_buf *out);

/* ---- WordPiece and Unigram models (tok_wordpiece.c, tok_unigram.c) ---- */
typedef struct tok_wp tok_wp;
tok_wp *tok_wp_new(const char *prefix, size_t max_chars);
int tok_wp_add_piece(tok_wp *m, const char *piece, size_t n, int32_t id);
/* unk must be in the vocabulary once all pieces are added */
int tok_wp_finish(tok_wp *m, const char *unk, ys_error *err);
void tok_wp_free(tok_wp *m);
int32_t tok_wp_n_ids(const tok_wp *m);
const char *tok_wp_piece(const tok_wp *m, int32_t id, size_t *len);
int32_t tok_wp_lookup(const tok_wp *m, const char *piece, size_t n);
/* Tokenize one word, appending ids; scratch is a caller-kept buffer. */
int tok_wp_word(const tok_wp *m, const char *w, size_t n, tok_buf *scratch, tok_ivec *out);

typedef struct tok_uni tok_uni;
/* The double serde_json's default parser gives for the JSON number whose
 * correctly rounded value is d (see tok_unigram.c). */
double tok_serde_f64(double d);
tok_uni *tok_uni_new(int32_t unk_id, bool byte_fallback);
/* pieces are added in id order (the id is the position) */
int tok_uni_add_piece(tok_uni *m, const char *piece, size_t n, double score);
int tok_uni_finish(tok_uni *m, ys_error *err);
void tok_uni_free(tok_uni *m);
int32_t tok_uni_n_ids(const tok_uni *m);
const char *tok_uni_piece(const tok_uni *m, int32_t id, size_t *len);
int32_t tok_uni_lookup(const tok_uni *m, const char *piece, size_t n);
typedef struct {
    double *score;
    int32_t *id;
    uint32_t *from;
    uint32_t *seg; /* backtracked pieces: start, end, is_unk triples */
    size_t cap;
} tok_uni_scratch;
void tok_uni_scratch_free(tok_uni_scratch *s);
int tok_uni_word(const tok_uni *m, const char *w, size_t n, tok_uni_scratch *s, tok_ivec *out);

/* ---- tokenizer components (built by tok_load.c, run by tokenizer.c) --- */
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

/* ------------------------------------------------------------ components */
enum { N_PREPEND, N_REPLACE, N_NFC, N_STRIP, N_BERT, N_PRECOMPILED, N_NFD, N_NFKC, N_NFKD, N_LOWERCASE, N_STRIP_ACCENTS };
typedef struct {
    int kind;
    char *a, *b; /* prepend text / replace pattern -> content */
    size_t an, bn;
    bool left, right;
    tok_bert_norm bert;
    tok_charsmap *cmap;
} norm_op;

enum { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS };
enum { P_SPLIT, P_BYTELEVEL, P_METASPACE, P_BERT, P_WSSPLIT };
enum { PS_ALWAYS, PS_FIRST, PS_NEVER };
typedef struct {
    int kind;
    pcre2_code *re; /* Split pattern, or ByteLevel's GPT-2 regex */
    bool jit;
    int behavior;
    bool invert;
    bool add_prefix_space, use_regex; /* ByteLevel */
    char repl[8];                      /* Metaspace replacement */
    size_t repl_n;
    int prepend;
    bool split;
} pre_op;

enum { D_BYTELEVEL, D_REPLACE, D_BYTEFALLBACK, D_FUSE, D_STRIP, D_METASPACE, D_WORDPIECE };
typedef struct {
    int kind;
    char *a, *b;
    size_t an, bn;
    char ch[8]; /* Strip content / Metaspace replacement */
    size_t chn;
    int start, stop;
    int prepend;
    bool cleanup;
} dec_op;

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    bool lstrip, rstrip, single_word, normalized, special;
} added_tok;

typedef struct {
    int32_t child, sibling, tok; /* tok: index into added, -1 */
    unsigned char byte;
} trie_node;
typedef struct {
    trie_node *nodes;
    size_t n, cap;
    uint8_t first[32]; /* bitmap of first bytes */
} trie;

/* One post-processor template: the pieces in order. seq is 0 (sequence A),
 * 1 (sequence B) or -1 (a special token id). */
typedef struct {
    int32_t id;
    int8_t seq;
    int8_t type_id;
} tmpl_piece;
typedef struct {
    tmpl_piece *v;
    size_t n;
    size_t nspecial;
} tmpl;

enum { M_BPE, M_WORDPIECE, M_UNIGRAM };
struct tok_tokenizer {
    int model;
    tok_bpe *bpe;
    tok_wp *wp;
    tok_uni *uni;
    tmpl single, pair; /* post-processor; also used without special tokens for the type ids */
    int32_t pad;
    bool byte_level;
    norm_op *norms;
    size_t nnorm;
    pre_op *pres;
    size_t npre;
    dec_op *decs;
    size_t ndec;
    bool has_decoder;
    added_tok *added;
    size_t nadded;
    trie raw, normed;
    tok_ivec pre_ids, post_ids;
    int32_t bos, eos;
    int32_t *added_of_id; /* id -> index into added, -1 */
    size_t nids;
};

int tok_trie_add(trie *t, const char *s, size_t n, int32_t tok);
/* Run the normalizers over s[0..n), leaving the result in *out (reset);
 * *lead_cut (may be NULL) gets the bytes Strip removed from the front. */
int tok_normalize_buf(const struct tok_tokenizer *t, const char *s, size_t n, tok_buf *out, size_t *lead_cut);

/* ---- tokenizer.json readers (tok_load.c, tok_steps.c) -------------------
 * A JSON member's string (NULL unless a string), boolean (def unless a
 * boolean), and token id: an integer in [-1, 2^31 - 1), else INT32_MIN —
 * checked before the conversion, which for 1e300 would be undefined. */
static inline const char *tok_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static inline bool tok_jbool(const cJSON *o, const char *k, bool def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}
static inline int32_t tok_jid(const cJSON *v)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    return d >= -1 && d < 2147483647.0 && d == floor(d) ? (int32_t)d : INT32_MIN;
}
/* GPT-2's pre-tokenizer pattern (ByteLevel with use_regex, and vocab.json
 * + merges.txt folders) */
#define TOK_GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* op's regex from a HF (Oniguruma) pattern, or the literal string */
int tok_compile_re(pre_op *op, const char *pattern, bool literal, ys_error *err);
/* The steps of a tokenizer.json: normalizer, pre_tokenizer and decoder
 * (each may be null or a Sequence), post_processor's templates (*have:
 * whether it gave any; tok_default_templates otherwise). tok_steps.c. */
int tok_load_normalizer(tok_tokenizer *t, const cJSON *n, ys_error *err);
int tok_load_pretok(tok_tokenizer *t, const cJSON *n, ys_error *err);
int tok_load_decoder(tok_tokenizer *t, const cJSON *n, ys_error *err);
int tok_load_post(tok_tokenizer *t, const cJSON *n, bool *have, ys_error *err);
int tok_default_templates(tok_tokenizer *t, ys_error *err);
/* Append one pre-tokenizer / decoder step (taken over; freed on failure). */
int tok_add_pre(tok_tokenizer *t, pre_op *op, ys_error *err);
int tok_add_dec(tok_tokenizer *t, dec_op *op, ys_error *err);
void tok_tmpl_free(tmpl *tp);
static inline int32_t tok_lookup_any(const tok_tokenizer *t, const char *s) { return s ? tok_token_id(t, s) : -1; }

/* ---- GGUF vocabularies (tok_gguf.c) ------------------------------------
 * The tokenizer of the GGUF file at path as the tokenizer.json it stands
 * for (*root, the caller's), with its bos/eos/padding ids (-1: none). */
struct cJSON;
int tok_gguf_json(const char *path, struct cJSON **root, int32_t *bos, int32_t *eos, int32_t *pad, ys_error *err);

#endif
