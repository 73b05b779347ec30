/* tok_gguf.c — the tokenizer a GGUF file carries in its metadata, as the
 * tokenizer.json it stands for (tok_internal.h, tok_gguf_json).
 *
 * A GGUF vocabulary (llama.cpp's convert_hf_to_gguf.py writes it; read at
 * llama.cpp c392e50, facts only) is: tokenizer.ggml.model ("gpt2" for
 * byte-level BPE), tokenizer.ggml.pre (the pre-tokenizer's name),
 * tokens (every id's piece, added tokens included), token_type (1 normal,
 * 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), merges ("a b"),
 * bos/eos/padding_token_id and add_bos/add_eos_token. What it leaves out —
 * the pre-tokenizer's regex, the normalizer, ignore_merges — is implied by
 * the pre-tokenizer name, and is written here as the tokenizer.json of
 * that family has it (the Hugging Face files of GPT-2, Llama 3 and Qwen2/3
 * were read for it). A name this file does not know is an error naming it,
 * never a guess. The result then loads through tok_load's one path, so a
 * GGUF tokenizer is the tokenizer.json tokenizer of the same model. */
#include "tok_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gguf.h"
#include "ys_unicode.h"

/* The split regexes of the byte-level families (tokenizer.json's). */
static const char LLAMA3_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct pre_family {
    const char *name;       /* tokenizer.ggml.pre */
    const char *split_re;   /* a Split before a regex-less ByteLevel, or NULL: GPT-2's ByteLevel regex */
    int nfc;                /* an NFC normalizer */
    int ignore_merges;
} pre_family;

static const pre_family PRES[] = {
    {"gpt-2", NULL, 0, 0},
    {"llama-bpe", LLAMA3_RE, 0, 1},
    {"qwen2", QWEN2_RE, 1, 0},
};

static cJSON *byte_level(int use_regex)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "type", "ByteLevel") || !cJSON_AddFalseToObject(o, "add_prefix_space") ||
              !cJSON_AddBoolToObject(o, "use_regex", use_regex))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *pre_tokenizer(const pre_family *f)
{
    if (!f->split_re)
        return byte_level(1);
    cJSON *seq = cJSON_CreateObject(), *list = seq ? cJSON_AddArrayToObject(seq, "pretokenizers") : NULL;
    cJSON *split = cJSON_CreateObject(), *pat = split ? cJSON_AddObjectToObject(split, "pattern") : NULL;
    cJSON *bl = byte_level(0);
    int ok = list && pat && bl && cJSON_AddStringToObject(seq, "type", "Sequence") &&
             cJSON_AddStringToObject(split, "type", "Split") && cJSON_AddStringToObject(pat, "Regex", f->split_re) &&
             cJSON_AddStringToObject(split, "behavior", "Isolated") && cJSON_AddFalseToObject(split, "invert");
    if (!ok) {
        cJSON_Delete(seq), cJSON_Delete(split), cJSON_Delete(bl);
        return NULL;
    }
    cJSON_AddItemToArray(list, split);
    cJSON_AddItemToArray(list, bl);
    return seq;
}

/* {"SpecialToken": {"id": piece, "type_id": 0}} or {"Sequence": {"id": "A", ...}} */
static int template_item(cJSON *arr, const char *kind, const char *id)
{
    cJSON *it = cJSON_CreateObject(), *in = it ? cJSON_AddObjectToObject(it, kind) : NULL;
    if (!in || !cJSON_AddStringToObject(in, "id", id) || !cJSON_AddNumberToObject(in, "type_id", 0)) {
        cJSON_Delete(it);
        return -1;
    }
    cJSON_AddItemToArray(arr, it);
    return 0;
}

/* add_bos/add_eos: a TemplateProcessing around the single sequence (a
 * pair gets the same around each part, as Llama 3's file has it). */
/* special_tokens[piece] = {"id": piece, "ids": [id], "tokens": [piece]} */
static int special_entry(cJSON *sp, const char *piece, int32_t id)
{
    if (cJSON_GetObjectItemCaseSensitive(sp, piece))
        return 0;
    cJSON *e = cJSON_AddObjectToObject(sp, piece);
    cJSON *ids = e ? cJSON_AddArrayToObject(e, "ids") : NULL, *toks = e ? cJSON_AddArrayToObject(e, "tokens") : NULL;
    if (!ids || !toks || !cJSON_AddStringToObject(e, "id", piece) ||
        !cJSON_AddItemToArray(ids, cJSON_CreateNumber(id)) || !cJSON_AddItemToArray(toks, cJSON_CreateString(piece)))
        return -1;
    return 0;
}

static int post_processor(cJSON *root, const gguf_str *bos, const gguf_str *eos, int32_t bos_id, int32_t eos_id,
                          char *bbuf, char *ebuf)
{
    if (!bos && !eos)
        return 0;
    cJSON *pp = cJSON_AddObjectToObject(root, "post_processor");
    cJSON *single = pp ? cJSON_AddArrayToObject(pp, "single") : NULL, *pair = pp ? cJSON_AddArrayToObject(pp, "pair") : NULL;
    cJSON *sp = pp ? cJSON_AddObjectToObject(pp, "special_tokens") : NULL;
    if (!single || !pair || !sp || !cJSON_AddStringToObject(pp, "type", "TemplateProcessing"))
        return -1;
    if (bos) {
        memcpy(bbuf, bos->p, bos->len);
        bbuf[bos->len] = 0;
    }
    if (eos) {
        memcpy(ebuf, eos->p, eos->len);
        ebuf[eos->len] = 0;
    }
    if ((bos && special_entry(sp, bbuf, bos_id)) || (eos && special_entry(sp, ebuf, eos_id)))
        return -1;
    for (int part = 0; part < 3; part++) {   /* single: A; pair: A then B */
        cJSON *arr = part == 0 ? single : pair;
        if ((bos && template_item(arr, "SpecialToken", bbuf)) ||
            template_item(arr, "Sequence", part == 2 ? "B" : "A") || (eos && template_item(arr, "SpecialToken", ebuf)))
            return -1;
    }
    /* the pair's second part has type id 1 */
    int n = cJSON_GetArraySize(pair);
    for (int i = n / 2; i < n; i++) {
        cJSON *it = cJSON_GetArrayItem(pair, i);
        cJSON_ReplaceItemInObject(it->child, "type_id", cJSON_CreateNumber(1));
    }
    return 0;
}

static int oom(ys_error *err) { return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory"); }

/* An id key: present, an integer naming a token; *out -1 when absent. */
static int token_id(const gguf *g, const char *key, uint64_t ntok, int32_t *out, ys_error *err)
{
    long v;
    int rc = gguf_get_int(g, key, -1, &v, err);
    *out = -1;
    if (rc < 0)
        return rc;
    if (rc == 1)
        return 0;
    if (v < 0 || (uint64_t)v >= ntok)
        return ys_fail(err, YS_EINPUT, "%s: key \"%s\": %ld names no token (%llu tokens)", gguf_path(g), key, v,
                       (unsigned long long)ntok);
    *out = (int32_t)v;
    return 0;
}

/* ---- SentencePiece BPE (tokenizer.ggml.model "llama") ----------------------
 *
 * What the converter writes (_create_vocab_sentencepiece): every piece of
 * the SentencePiece model with its score and type (1 normal, 2 unknown,
 * 3 control, 5 unused, 6 byte "<0xAB>"), then the added tokens of
 * tokenizer_config.json as control (special) or user-defined (4) with
 * score -1000 and, for user-defined ones, "▁" written as a space; no
 * merges; add_space_prefix (SentencePiece's add_dummy_prefix: false for
 * Gemma). Hugging Face's tokenizer.json of the same model (its
 * SpmConverter) is a byte-fallback BPE whose merges are every split of
 * every piece into two pieces (at character boundaries), ordered by the
 * score of the joined piece, highest first; ties in the order of the
 * joined piece's id, then the two parts' ids. Those merges are rebuilt
 * here from the scores (for the Mistral, Phi-3 and Gemma 2 files this
 * gives their tokenizer.json's merge list exactly). Around the model:
 *   - normalizer: spaces to "▁", and a "▁" prepended (to each piece of
 *     text between added tokens, as llama.cpp does) when add_space_prefix;
 *   - decoder: "▁" to space, byte fallback, fuse, and the prepended space
 *     stripped again when add_space_prefix;
 *   - control, unknown and user-defined tokens are matched before the
 *     model, as tokenizer.json's added tokens (special: control and
 *     unknown); a user-defined token gets its "▁" back, which is how
 *     tokenizer.json has it and how the model can form it;
 *   - Phi-3 files (general.architecture phi3): llama.cpp strips white
 *     space after every special token but <unk>, <s> and <|endoftext|>,
 *     and after </s>, which is what Phi-3's tokenizer.json says with rstrip. */

typedef struct piece_map {
    int32_t *slot;        /* token ids, -1 empty */
    size_t mask;
    char **text;          /* each id's piece, NUL-terminated */
    size_t *len;
} piece_map;

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* The id of a piece (the last id that has it, as a Python dict built in id
 * order keeps), or -1. */
static int32_t pm_get(const piece_map *m, const char *p, size_t n)
{
    for (size_t i = fnv1a(p, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i];
        if (id < 0)
            return -1;
        if (m->len[id] == n && !memcmp(m->text[id], p, n))
            return id;
    }
}

static int pm_put(piece_map *m, int32_t id)
{
    for (size_t i = fnv1a(m->text[id], m->len[id]) & m->mask;; i = (i + 1) & m->mask) {
        int32_t o = m->slot[i];
        if (o < 0 || (m->len[o] == m->len[id] && !memcmp(m->text[o], m->text[id], m->len[id]))) {
            m->slot[i] = id;
            return 0;
        }
    }
}

static void pm_free(piece_map *m, size_t n)
{
    for (size_t i = 0; m->text && i < n; i++)
        free(m->text[i]);
    free(m->text), free(m->len), free(m->slot);
}

typedef struct spm_merge {
    float score;
    int32_t piece, l, r;
    int32_t ll, lr;       /* the parts' lengths in characters */
} spm_merge;

/* transformers' generate_merges: a stable sort on (score, len(left),
 * len(right)), all descending, of the merges listed piece by piece in id
 * order, each piece's by (left id, right id). The lengths decide between
 * pieces of one score: the converter gives every added token -1000, and
 * Gemma 3's runs of "▁" (user-defined, formed by merges) must merge
 * longest first, as its tokenizer.json does. */
static int merge_cmp(const void *a, const void *b)
{
    const spm_merge *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->ll != y->ll)
        return x->ll > y->ll ? -1 : 1;
    if (x->lr != y->lr)
        return x->lr > y->lr ? -1 : 1;
    if (x->piece != y->piece)
        return x->piece < y->piece ? -1 : 1;
    if (x->l != y->l)
        return x->l < y->l ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}

static int add_str_or_pair(cJSON *ml, const char *l, const char *r)
{
    if (!strchr(l, ' ') && !strchr(r, ' ')) {
        size_t a = strlen(l), b = strlen(r);
        char *s = malloc(a + b + 2);
        if (!s)
            return -1;
        memcpy(s, l, a), s[a] = ' ', memcpy(s + a + 1, r, b + 1);
        cJSON *v = cJSON_CreateString(s);
        free(s);
        return v && cJSON_AddItemToArray(ml, v) ? 0 : -1;
    }
    cJSON *pair = cJSON_CreateArray();
    if (!pair || !cJSON_AddItemToArray(pair, cJSON_CreateString(l)) ||
        !cJSON_AddItemToArray(pair, cJSON_CreateString(r)) || !cJSON_AddItemToArray(ml, pair)) {
        cJSON_Delete(pair);
        return -1;
    }
    return 0;
}

static cJSON *str_replace_op(const char *type, const char *key, const char *from, const char *to)
{
    cJSON *o = cJSON_CreateObject(), *pat = o ? cJSON_AddObjectToObject(o, "pattern") : NULL;
    if (!pat || !cJSON_AddStringToObject(o, "type", type) || !cJSON_AddStringToObject(pat, key, from) ||
        !cJSON_AddStringToObject(o, "content", to)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int simple_op(cJSON *arr, const char *type)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "type", type) || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return -1;
    }
    return 0;
}

#define SPM_SPACE "\xE2\x96\x81"   /* U+2581, SentencePiece's space */

/* The normalizer and decoder of a SentencePiece BPE (see above). */
static int spm_components(cJSON *root, int prefix)
{
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON *nl = norm ? cJSON_AddArrayToObject(norm, "normalizers") : NULL;
    if (!nl || !cJSON_AddStringToObject(norm, "type", "Sequence"))
        return -1;
    if (prefix) {
        cJSON *pre = cJSON_CreateObject();
        if (!pre || !cJSON_AddStringToObject(pre, "type", "Prepend") || !cJSON_AddStringToObject(pre, "prepend", SPM_SPACE) ||
            !cJSON_AddItemToArray(nl, pre)) {
            cJSON_Delete(pre);
            return -1;
        }
    }
    cJSON *rep = str_replace_op("Replace", "String", " ", SPM_SPACE);
    if (!rep || !cJSON_AddItemToArray(nl, rep)) {
        cJSON_Delete(rep);
        return -1;
    }
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON *dl = dec ? cJSON_AddArrayToObject(dec, "decoders") : NULL;
    if (!dl || !cJSON_AddStringToObject(dec, "type", "Sequence"))
        return -1;
    rep = str_replace_op("Replace", "String", SPM_SPACE, " ");
    if (!rep || !cJSON_AddItemToArray(dl, rep)) {
        cJSON_Delete(rep);
        return -1;
    }
    if (simple_op(dl, "ByteFallback") || simple_op(dl, "Fuse"))
        return -1;
    if (prefix) {
        cJSON *st = cJSON_CreateObject();
        if (!st || !cJSON_AddStringToObject(st, "type", "Strip") || !cJSON_AddStringToObject(st, "content", " ") ||
            !cJSON_AddNumberToObject(st, "start", 1) || !cJSON_AddNumberToObject(st, "stop", 0) ||
            !cJSON_AddItemToArray(dl, st)) {
            cJSON_Delete(st);
            return -1;
        }
    }
    return 0;
}

/* A user-defined piece back in SentencePiece's form: the converter wrote
 * its "▁" as spaces (a SentencePiece piece holds no space). malloc'd. */
static char *spm_piece(const gguf_str *s, int64_t type, size_t *len)
{
    size_t sp = 0;
    if (type == 4)
        for (size_t i = 0; i < s->len; i++)
            sp += s->p[i] == ' ';
    char *o = malloc(s->len + 2 * sp + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < s->len; i++) {
        if (type == 4 && s->p[i] == ' ')
            memcpy(w, SPM_SPACE, 3), w += 3;
        else
            *w++ = s->p[i];
    }
    *w = 0;
    *len = (size_t)(w - o);
    return o;
}

/* Phi-3's right-stripped tokens (llama.cpp's per-model attributes). */
static int phi3_rstrip(const char *piece, int64_t type)
{
    if (!strcmp(piece, "</s>"))
        return 1;
    if (!strcmp(piece, "<unk>") || !strcmp(piece, "<s>") || !strcmp(piece, "<|endoftext|>"))
        return 0;
    return type == 3 || type == 4;
}

static int spm_json(const gguf *g, const gguf_value *toks, const gguf_value *types, cJSON **out, ys_error *err)
{
    const char *path = gguf_path(g);
    const gguf_value *scores;
    int rc = gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_F32, &scores, err);
    if (rc)
        return rc == 1 ? ys_fail(err, YS_EINPUT, "%s: a SentencePiece vocabulary needs tokenizer.ggml.scores", path) : rc;
    if (scores->n != toks->n)
        return ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.scores has %llu entries for %llu tokens", path,
                       (unsigned long long)scores->n, (unsigned long long)toks->n);
    int prefix;
    long unk = -1;
    char *arch = NULL;
    if ((rc = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", 1, &prefix, err)) < 0 ||
        (rc = gguf_get_int(g, "tokenizer.ggml.unknown_token_id", -1, &unk, err)) < 0 ||
        (rc = gguf_get_str(g, "general.architecture", "", &arch, err)) < 0)
        return rc;
    int phi3 = !strcmp(arch, "phi3");
    free(arch);
    size_t n = (size_t)toks->n;
    if (unk < -1 || unk >= (long)n)
        return ys_fail(err, YS_EINPUT, "%s: key \"tokenizer.ggml.unknown_token_id\": %ld names no token", path, unk);
    piece_map pm = {0};
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    spm_merge *mg = NULL;
    size_t nm = 0, mcap = 0;
    cJSON *root = NULL;
    pm.mask = cap - 1;
    pm.slot = malloc(cap * sizeof *pm.slot);
    pm.text = calloc(n, sizeof *pm.text);
    pm.len = calloc(n, sizeof *pm.len);
    if (!pm.slot || !pm.text || !pm.len)
        goto oom;
    memset(pm.slot, 0xff, cap * sizeof *pm.slot);
    for (size_t i = 0; i < n; i++) {
        const gguf_str *s = &toks->strs[i];
        int64_t type = types ? gguf_arr_int(types, i) : 1;
        double sc = gguf_arr_num(scores, i);
        if (memchr(s->p, 0, s->len)) {
            rc = ys_fail(err, YS_EINPUT, "%s: token %zu holds a NUL byte", path, i);
            goto fail;
        }
        if (uni_invalid_at(s->p, s->len) != (size_t)-1) {
            rc = ys_fail(err, YS_EINPUT, "%s: token %zu is not valid UTF-8", path, i);
            goto fail;
        }
        if (!isfinite(sc)) {
            rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.scores[%zu] is not a finite number", path, i);
            goto fail;
        }
        if (!(pm.text[i] = spm_piece(s, type, &pm.len[i])))
            goto oom;
        pm_put(&pm, (int32_t)i);
        if (unk < 0 && type == 2)
            unk = (long)i;
    }
    /* every split of every piece into two pieces, at character boundaries */
    for (size_t i = 0; i < n; i++) {
        const char *p = pm.text[i];
        size_t len = pm.len[i];
        int32_t chars = 0, left = 0;
        for (size_t k = 0; k < len; k++)
            chars += ((unsigned char)p[k] & 0xC0) != 0x80;
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)p[k] & 0xC0) == 0x80)
                continue;
            left++;
            int32_t l = pm_get(&pm, p, k), r = l >= 0 ? pm_get(&pm, p + k, len - k) : -1;
            if (r < 0)
                continue;
            if (nm == mcap) {
                spm_merge *nmg = realloc(mg, (mcap = mcap ? 2 * mcap : 4096) * sizeof *mg);
                if (!nmg)
                    goto oom;
                mg = nmg;
            }
            mg[nm++] = (spm_merge){(float)gguf_arr_num(scores, i), (int32_t)i, l, r, left, chars - left};
        }
    }
    if (nm)
        qsort(mg, nm, sizeof *mg, merge_cmp);

    root = cJSON_CreateObject();
    cJSON *m = root ? cJSON_AddObjectToObject(root, "model") : NULL;
    cJSON *vocab = m ? cJSON_AddObjectToObject(m, "vocab") : NULL, *ml = m ? cJSON_AddArrayToObject(m, "merges") : NULL;
    cJSON *added = root ? cJSON_AddArrayToObject(root, "added_tokens") : NULL;
    if (!ml || !vocab || !added || !cJSON_AddStringToObject(m, "type", "BPE") ||
        !cJSON_AddTrueToObject(m, "byte_fallback") || !cJSON_AddTrueToObject(m, "fuse_unk") ||
        (unk >= 0 && !cJSON_AddStringToObject(m, "unk_token", pm.text[unk])) || spm_components(root, prefix))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        int64_t type = types ? gguf_arr_int(types, i) : 1;
        if (type == 2 || type == 3 || type == 4) {
            cJSON *a = cJSON_CreateObject();
            if (!a || !cJSON_AddNumberToObject(a, "id", (double)i) || !cJSON_AddStringToObject(a, "content", pm.text[i]) ||
                !cJSON_AddFalseToObject(a, "normalized") || !cJSON_AddBoolToObject(a, "special", type != 4) ||
                !cJSON_AddBoolToObject(a, "rstrip", phi3 && phi3_rstrip(pm.text[i], type)) ||
                !cJSON_AddItemToArray(added, a)) {
                cJSON_Delete(a);
                goto oom;
            }
        }
        if (!cJSON_AddNumberToObject(vocab, pm.text[i], (double)i))
            goto oom;
    }
    for (size_t i = 0; i < nm; i++)
        if (add_str_or_pair(ml, pm.text[mg[i].l], pm.text[mg[i].r]))
            goto oom;
    free(mg);
    pm_free(&pm, n);
    *out = root;
    return 0;
oom:
    rc = oom(err);
fail:
    free(mg);
    pm_free(&pm, n);
    cJSON_Delete(root);
    return rc;
}

int tok_gguf_json(const char *path, cJSON **out, int32_t *bos, int32_t *eos, int32_t *pad, ys_error *err)
{
    *out = NULL;
    gguf *g;
    int rc = gguf_open(path, &g, err);
    if (rc)
        return rc;
    char *model = NULL, *pre = NULL;
    const gguf_value *toks, *types = NULL, *merges;
    cJSON *root = NULL;
    if ((rc = gguf_get_str(g, "tokenizer.ggml.model", NULL, &model, err)) != 0 ||
        (rc = gguf_get_str(g, "tokenizer.ggml.pre", "default", &pre, err)) < 0) {
        if (rc == 1)
            rc = ys_fail(err, YS_EINPUT, "%s: no tokenizer in the file (key \"tokenizer.ggml.model\" is missing)", path);
        goto out;
    }
    int spm = !strcmp(model, "llama");
    if (!spm && strcmp(model, "gpt2")) {
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.model \"%.40s\" is not supported (gpt2: byte-level BPE, "
                     "llama: SentencePiece BPE)", path, model);
        goto out;
    }
    const pre_family *fam = NULL;
    for (size_t i = 0; i < sizeof PRES / sizeof PRES[0]; i++)
        if (!strcmp(pre, PRES[i].name))
            fam = &PRES[i];
    if (!fam && !spm) {
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.pre \"%.40s\" is not supported (gpt-2, llama-bpe, qwen2)", path,
                     pre);
        goto out;
    }
    if (spm && strcmp(pre, "default")) {   /* the converter writes "default" for every SentencePiece vocabulary */
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.pre \"%.40s\" with a SentencePiece vocabulary is not "
                     "supported (default)", path, pre);
        goto out;
    }
    if ((rc = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &toks, err)) != 0 ||
        (!spm && (rc = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_STRING, &merges, err)) != 0) ||
        (rc = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_I32, &types, err)) < 0) {
        if (rc == 1)
            rc = ys_fail(err, YS_EINPUT, "%s: the tokenizer lacks tokenizer.ggml.tokens%s", path,
                         spm ? "" : " or tokenizer.ggml.merges");
        goto out;
    }
    rc = 0;
    if (types && types->n != toks->n) {
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", path,
                     (unsigned long long)types->n, (unsigned long long)toks->n);
        goto out;
    }
    if (toks->n == 0 || toks->n > INT32_MAX) {
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.tokens has %llu tokens", path, (unsigned long long)toks->n);
        goto out;
    }
    int add_bos = 0, add_eos = 0;
    if ((rc = token_id(g, "tokenizer.ggml.bos_token_id", toks->n, bos, err)) < 0 ||
        (rc = token_id(g, "tokenizer.ggml.eos_token_id", toks->n, eos, err)) < 0 ||
        (rc = token_id(g, "tokenizer.ggml.padding_token_id", toks->n, pad, err)) < 0 ||
        /* llama.cpp adds bos by default to a SentencePiece vocabulary */
        (rc = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", spm && *bos >= 0, &add_bos, err)) < 0 ||
        (rc = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", 0, &add_eos, err)) < 0)
        goto out;
    rc = 0;
    if ((add_bos && *bos < 0) || (add_eos && *eos < 0)) {
        rc = ys_fail(err, YS_EINPUT, "%s: add_%s_token without its token id", path, add_bos && *bos < 0 ? "bos" : "eos");
        goto out;
    }

    if (spm) {
        if ((rc = spm_json(g, toks, types, &root, err)) < 0)
            goto out;
        goto template;
    }
    root = cJSON_CreateObject();
    cJSON *m = root ? cJSON_AddObjectToObject(root, "model") : NULL;
    cJSON *vocab = m ? cJSON_AddObjectToObject(m, "vocab") : NULL, *ml = m ? cJSON_AddArrayToObject(m, "merges") : NULL;
    cJSON *added = root ? cJSON_AddArrayToObject(root, "added_tokens") : NULL;
    cJSON *pt = pre_tokenizer(fam), *dec = byte_level(1);
    if (!ml || !vocab || !added || !pt || !dec || !cJSON_AddStringToObject(m, "type", "BPE") ||
        !cJSON_AddBoolToObject(m, "ignore_merges", fam->ignore_merges)) {
        cJSON_Delete(pt), cJSON_Delete(dec);
        rc = oom(err);
        goto out;
    }
    cJSON_AddItemToObject(root, "pre_tokenizer", pt);
    cJSON_AddItemToObject(root, "decoder", dec);
    if (fam->nfc) {
        cJSON *nf = cJSON_AddObjectToObject(root, "normalizer");
        if (!nf || !cJSON_AddStringToObject(nf, "type", "NFC")) {
            rc = oom(err);
            goto out;
        }
    }
    char *buf = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < toks->n && !rc; i++) {
        const gguf_str *s = &toks->strs[i];
        if (s->len + 1 > cap) {
            char *nb = realloc(buf, cap = s->len + 64);
            if (!nb) {
                rc = oom(err);
                break;
            }
            buf = nb;
        }
        if (memchr(s->p, 0, s->len)) {
            rc = ys_fail(err, YS_EINPUT, "%s: token %llu holds a NUL byte", path, (unsigned long long)i);
            break;
        }
        /* tokenizer.json's pieces are checked by the strict JSON reader;
         * these come straight from the file (found by fuzz_gguf) */
        if (uni_invalid_at(s->p, s->len) != (size_t)-1) {
            rc = ys_fail(err, YS_EINPUT, "%s: token %llu is not valid UTF-8", path, (unsigned long long)i);
            break;
        }
        memcpy(buf, s->p, s->len);
        buf[s->len] = 0;
        int64_t type = types ? gguf_arr_int(types, i) : 1;
        /* control and user-defined tokens are matched before the model, as
         * tokenizer.json's added tokens (special: control only) */
        if (type == 3 || type == 4) {
            cJSON *a = cJSON_CreateObject();
            if (!a || !cJSON_AddNumberToObject(a, "id", (double)i) || !cJSON_AddStringToObject(a, "content", buf) ||
                !cJSON_AddFalseToObject(a, "normalized") || !cJSON_AddBoolToObject(a, "special", type == 3)) {
                cJSON_Delete(a);
                rc = oom(err);
                break;
            }
            cJSON_AddItemToArray(added, a);
        }
        /* (a piece repeated in the list: the BPE model's map keeps the last id) */
        if (!cJSON_AddNumberToObject(vocab, buf, (double)i))
            rc = oom(err);
    }
    for (uint64_t i = 0; i < merges->n && !rc; i++) {
        const gguf_str *s = &merges->strs[i];
        if (s->len + 1 > cap) {
            char *nb = realloc(buf, cap = s->len + 64);
            if (!nb) {
                rc = oom(err);
                break;
            }
            buf = nb;
        }
        memcpy(buf, s->p, s->len);
        buf[s->len] = 0;
        if (strlen(buf) != s->len || !strchr(buf, ' ') || uni_invalid_at(buf, s->len) != (size_t)-1)
            rc = ys_fail(err, YS_EINPUT, "%s: merge %llu is not \"a b\"", path, (unsigned long long)i);
        else if (!cJSON_AddItemToArray(ml, cJSON_CreateString(buf)))
            rc = oom(err);
    }
    free(buf);
    if (rc)
        goto out;
template:;
    char bbuf[1024], ebuf[1024];
    const gguf_str *bs = add_bos ? &toks->strs[*bos] : NULL, *es = add_eos ? &toks->strs[*eos] : NULL;
    if ((bs && bs->len >= sizeof bbuf) || (es && es->len >= sizeof ebuf)) {
        rc = ys_fail(err, YS_EINPUT, "%s: the bos/eos token is too long", path);
        goto out;
    }
    if (post_processor(root, bs, es, *bos, *eos, bbuf, ebuf)) {
        rc = oom(err);
        goto out;
    }
    *out = root;
    root = NULL;
out:
    cJSON_Delete(root);
    free(model);
    free(pre);
    gguf_close(g);
    return rc;
}
