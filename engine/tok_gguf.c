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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gguf.h"

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
    if (strcmp(model, "gpt2")) {
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.model \"%.40s\" is not supported (gpt2: byte-level BPE)", path,
                     model);
        goto out;
    }
    const pre_family *fam = NULL;
    for (size_t i = 0; i < sizeof PRES / sizeof PRES[0]; i++)
        if (!strcmp(pre, PRES[i].name))
            fam = &PRES[i];
    if (!fam) {
        rc = ys_fail(err, YS_EINPUT, "%s: tokenizer.ggml.pre \"%.40s\" is not supported (gpt-2, llama-bpe, qwen2)", path,
                     pre);
        goto out;
    }
    if ((rc = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &toks, err)) != 0 ||
        (rc = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_STRING, &merges, err)) != 0 ||
        (rc = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_I32, &types, err)) < 0) {
        if (rc == 1)
            rc = ys_fail(err, YS_EINPUT, "%s: the tokenizer lacks tokenizer.ggml.tokens or tokenizer.ggml.merges", path);
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
        (rc = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", 0, &add_bos, err)) < 0 ||
        (rc = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", 0, &add_eos, err)) < 0)
        goto out;
    rc = 0;
    if ((add_bos && *bos < 0) || (add_eos && *eos < 0)) {
        rc = ys_fail(err, YS_EINPUT, "%s: add_%s_token without its token id", path, add_bos && *bos < 0 ? "bos" : "eos");
        goto out;
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
        if (strlen(buf) != s->len || !strchr(buf, ' '))
            rc = ys_fail(err, YS_EINPUT, "%s: merge %llu is not \"a b\"", path, (unsigned long long)i);
        else if (!cJSON_AddItemToArray(ml, cJSON_CreateString(buf)))
            rc = oom(err);
    }
    free(buf);
    if (rc)
        goto out;
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
