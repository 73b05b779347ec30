/* tok_load.c — reading tokenizer.json (or GPT-2's vocab.json + merges.txt)
 * into the components tokenizer.c runs; tokenizer_config.json for bos/eos.
 * See tokenizer.h for the contract. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "tok_internal.h"
#include "ys_json.h"
#include "ys_unicode.h"

/* A token id from JSON: an integer in [-1, 2^31 - 1), else INT32_MIN. The
 * check comes before the conversion, which for 1e300 would be undefined. */
static int32_t jid(const cJSON *v)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    return d >= -1 && d < 2147483647.0 && d == floor(d) ? (int32_t)d : INT32_MIN;
}
#include "tokenizer.h"

/* ----------------------------------------------------------- small utils */
static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

static char *read_all(const char *path, size_t *len, ys_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ys_fail(err, YS_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    tok_buf b = {0};
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (tok_buf_put(&b, tmp, k)) {
            fclose(f);
            tok_buf_free(&b);
            ys_fail(err, YS_ENOMEM, "%s: out of memory", path);
            return NULL;
        }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        tok_buf_free(&b);
        ys_fail(err, YS_EIO, "%s: read error", path);
        return NULL;
    }
    if (!b.p && tok_buf_put(&b, "", 0)) {
        ys_fail(err, YS_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

/* Oniguruma (what HF uses) and PCRE2 agree on these patterns except for
 * \s: Oniguruma's Unicode \s also matches U+0085, PCRE2's does not. */
#define WS_CLASS "\\t-\\r\\x{85}\\p{Z}"
static char *onig_to_pcre2(const char *p, ys_error *err)
{
    tok_buf b = {0};
    bool in_class = false;
    size_t n = strlen(p);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int rc = 0;
        if (c == '\\' && i + 1 < n) {
            char d = p[++i];
            if (d == 's') rc = tok_buf_put(&b, in_class ? WS_CLASS : "[" WS_CLASS "]", in_class ? strlen(WS_CLASS) : strlen(WS_CLASS) + 2);
            else if (d == 'S' && !in_class) rc = tok_buf_put(&b, "[^" WS_CLASS "]", strlen(WS_CLASS) + 3);
            else if (d == 'S' || d == 'h' || d == 'H') {
                tok_buf_free(&b);
                ys_fail(err, YS_EINPUT, "tokenizer: regex escape \\%c is not supported in pattern %s", d, p);
                return NULL;
            } else {
                char two[2] = {'\\', d};
                rc = tok_buf_put(&b, two, 2);
            }
        } else {
            if (c == '[' && in_class && i + 1 < n && p[i + 1] != ':') {
                tok_buf_free(&b);
                ys_fail(err, YS_EINPUT, "tokenizer: nested character classes are not supported in pattern %s", p);
                return NULL;
            }
            if (c == '[' && !in_class) {
                in_class = true;
                rc = tok_buf_put(&b, "[", 1);
                if (i + 1 < n && p[i + 1] == '^') rc |= tok_buf_put(&b, "^", 1), i++;
                if (i + 1 < n && p[i + 1] == ']') rc |= tok_buf_put(&b, "\\]", 2), i++;
                if (rc) break;
                continue;
            }
            if (c == ']' && in_class) in_class = false;
            rc = tok_buf_put(&b, &c, 1);
        }
        if (rc) {
            tok_buf_free(&b);
            ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
            return NULL;
        }
    }
    if (!b.p && tok_buf_put(&b, "", 0)) return NULL;
    return b.p;
}

static int compile_re(pre_op *op, const char *pattern, bool literal, ys_error *err)
{
    char *conv = NULL;
    const char *src = pattern;
    uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK;
    if (literal) opts |= PCRE2_LITERAL;
    else {
        opts |= PCRE2_UCP;
        conv = onig_to_pcre2(pattern, err);
        if (!conv) return err && err->code ? err->code : YS_ENOMEM;
        src = conv;
        opts |= PCRE2_MULTILINE;
    }
    int ec;
    PCRE2_SIZE eo;
    op->re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
    free(conv);
    if (!op->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return ys_fail(err, YS_EINPUT, "tokenizer: pre-tokenizer regex %s: %s at offset %zu", pattern,
                       (char *)msg, (size_t)eo);
    }
    op->jit = pcre2_jit_compile(op->re, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

/* ------------------------------------------------------------------ trie */
int tok_trie_add(trie *t, const char *s, size_t n, int32_t tok)
{
    if (!t->nodes) {
        t->cap = 64;
        t->nodes = malloc(t->cap * sizeof *t->nodes);
        if (!t->nodes) return YS_ENOMEM;
        t->nodes[0] = (trie_node){-1, -1, -1, 0};
        t->n = 1;
    }
    if (!n) return 0;
    t->first[(unsigned char)s[0] >> 3] |= (uint8_t)(1u << ((unsigned char)s[0] & 7));
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int32_t ch = t->nodes[cur].child;
        while (ch >= 0 && t->nodes[ch].byte != c) ch = t->nodes[ch].sibling;
        if (ch < 0) {
            if (t->n == t->cap) {
                trie_node *p = realloc(t->nodes, t->cap * 2 * sizeof *p);
                if (!p) return YS_ENOMEM;
                t->nodes = p;
                t->cap *= 2;
            }
            ch = (int32_t)t->n++;
            t->nodes[ch] = (trie_node){-1, t->nodes[cur].child, -1, c};
            t->nodes[cur].child = ch;
        }
        cur = ch;
    }
    if (t->nodes[cur].tok < 0) t->nodes[cur].tok = tok;
    return 0;
}

static void tmpl_free(tmpl *tp);

void tok_free(tok_tokenizer *t)
{
    if (!t) return;
    tok_bpe_free(t->bpe);
    for (size_t i = 0; i < t->nnorm; i++) {
        free(t->norms[i].a), free(t->norms[i].b);
        if (t->norms[i].cmap) tok_charsmap_free(t->norms[i].cmap), free(t->norms[i].cmap);
    }
    free(t->norms);
    for (size_t i = 0; i < t->npre; i++)
        if (t->pres[i].re) pcre2_code_free(t->pres[i].re);
    free(t->pres);
    for (size_t i = 0; i < t->ndec; i++) free(t->decs[i].a), free(t->decs[i].b);
    free(t->decs);
    for (size_t i = 0; i < t->nadded; i++) free(t->added[i].content);
    free(t->added);
    free(t->raw.nodes);
    free(t->normed.nodes);
    tmpl_free(&t->single);
    tmpl_free(&t->pair);
    tok_wp_free(t->wp);
    tok_uni_free(t->uni);
    free(t->added_of_id);
    free(t);
}

/* ------------------------------------------------------------------ load */
#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static int load_normalizer(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: normalizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
        {
            int rc = load_normalizer(t, it, err);
            if (rc) return rc;
        }
        return 0;
    }
    norm_op op;
    memset(&op, 0, sizeof op);
    if (!strcmp(type, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (!p) return ys_fail(err, YS_EINPUT, "tokenizer: Prepend normalizer without 'prepend'");
        op.kind = N_PREPEND;
        op.a = strdup(p);
        op.an = strlen(p);
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *s = jstr(pat, "String"), *content = jstr(n, "content");
        if (!s || !content)
            return ys_fail(err, YS_EINPUT, "tokenizer: normalizer Replace with a Regex pattern is not supported");
        op.kind = N_REPLACE;
        op.a = strdup(s);
        op.an = strlen(s);
        op.b = strdup(content);
        op.bn = strlen(content);
    } else if (!strcmp(type, "NFC")) {
        op.kind = N_NFC;
    } else if (!strcmp(type, "NFD")) {
        op.kind = N_NFD;
    } else if (!strcmp(type, "Lowercase")) {
        op.kind = N_LOWERCASE;
    } else if (!strcmp(type, "StripAccents")) {
        op.kind = N_STRIP_ACCENTS;
    } else if (!strcmp(type, "BertNormalizer")) {
        op.kind = N_BERT;
        op.bert.clean_text = jbool(n, "clean_text", true);
        op.bert.chinese = jbool(n, "handle_chinese_chars", true);
        op.bert.lowercase = jbool(n, "lowercase", true);
        /* strip_accents null (or absent) follows lowercase, as in HF */
        op.bert.strip_accents = jbool(n, "strip_accents", op.bert.lowercase);
    } else if (!strcmp(type, "Precompiled")) {
        const char *b64 = jstr(n, "precompiled_charsmap");
        if (!b64) return ys_fail(err, YS_EINPUT, "tokenizer: Precompiled normalizer without precompiled_charsmap");
        op.kind = N_PRECOMPILED;
        op.cmap = malloc(sizeof *op.cmap);
        if (!op.cmap) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        int rc = tok_charsmap_load(op.cmap, b64, err);
        if (rc) {
            free(op.cmap);
            return rc;
        }
    } else if (!strcmp(type, "Strip")) {
        op.kind = N_STRIP;
        op.left = jbool(n, "strip_left", true);
        op.right = jbool(n, "strip_right", true);
    } else {
        return ys_fail(err, YS_EINPUT, "tokenizer: normalizer '%s' is not supported", type);
    }
    if ((op.kind == N_PREPEND || op.kind == N_REPLACE) && (!op.a || (op.kind == N_REPLACE && !op.b))) {
        free(op.a), free(op.b);
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    norm_op *p = realloc(t->norms, (t->nnorm + 1) * sizeof *p);
    if (!p) {
        free(op.a), free(op.b);
        if (op.cmap) tok_charsmap_free(op.cmap), free(op.cmap);
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    t->norms = p;
    t->norms[t->nnorm++] = op;
    return 0;
}

static int prepend_scheme(const cJSON *n)
{
    const char *s = jstr(n, "prepend_scheme");
    if (s) return !strcmp(s, "first") ? PS_FIRST : !strcmp(s, "never") ? PS_NEVER : PS_ALWAYS;
    return jbool(n, "add_prefix_space", true) ? PS_ALWAYS : PS_NEVER;
}

static int add_pre(tok_tokenizer *t, pre_op *op, ys_error *err)
{
    pre_op *p = realloc(t->pres, (t->npre + 1) * sizeof *p);
    if (!p) {
        if (op->re) pcre2_code_free(op->re);
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    t->pres = p;
    t->pres[t->npre++] = *op;
    return 0;
}

static int load_pretok(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: pre_tokenizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "pretokenizers"))
        {
            int rc = load_pretok(t, it, err);
            if (rc) return rc;
        }
        return 0;
    }
    if (t->byte_level)
        return ys_fail(err, YS_EINPUT, "tokenizer: pre-tokenizer '%s' after ByteLevel is not supported", type);
    pre_op op;
    memset(&op, 0, sizeof op);
    int rc;
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *re = jstr(pat, "Regex"), *str = jstr(pat, "String");
        const char *beh = jstr(n, "behavior");
        if (!re && !str) return ys_fail(err, YS_EINPUT, "tokenizer: Split pre-tokenizer without a pattern");
        op.kind = P_SPLIT;
        op.invert = jbool(n, "invert", false);
        if (!beh || !strcmp(beh, "Isolated")) op.behavior = B_ISOLATED;
        else if (!strcmp(beh, "Removed")) op.behavior = B_REMOVED;
        else if (!strcmp(beh, "MergedWithPrevious")) op.behavior = B_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext")) op.behavior = B_MERGED_NEXT;
        else if (!strcmp(beh, "Contiguous")) op.behavior = B_CONTIGUOUS;
        else return ys_fail(err, YS_EINPUT, "tokenizer: Split behavior '%s' is not supported", beh);
        if ((rc = compile_re(&op, re ? re : str, !re, err))) return rc;
    } else if (!strcmp(type, "BertPreTokenizer")) {
        op.kind = P_BERT;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        op.kind = P_WSSPLIT;
    } else if (!strcmp(type, "ByteLevel")) {
        op.kind = P_BYTELEVEL;
        op.add_prefix_space = jbool(n, "add_prefix_space", true);
        op.use_regex = jbool(n, "use_regex", true);
        if (op.use_regex && (rc = compile_re(&op, GPT2_PATTERN, false, err))) return rc;
        t->byte_level = true;
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = jstr(n, "replacement");
        op.kind = P_METASPACE;
        if (!r) r = "\xE2\x96\x81";
        op.repl_n = strlen(r);
        if (!op.repl_n || op.repl_n > 4) return ys_fail(err, YS_EINPUT, "tokenizer: Metaspace replacement must be one character");
        memcpy(op.repl, r, op.repl_n);
        op.prepend = prepend_scheme(n);
        op.split = jbool(n, "split", true);
    } else {
        return ys_fail(err, YS_EINPUT, "tokenizer: pre-tokenizer '%s' is not supported", type);
    }
    return add_pre(t, &op, err);
}

static int add_dec(tok_tokenizer *t, dec_op *op, ys_error *err)
{
    dec_op *p = realloc(t->decs, (t->ndec + 1) * sizeof *p);
    if (!p) {
        free(op->a), free(op->b);
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    t->decs = p;
    t->decs[t->ndec++] = *op;
    return 0;
}

static int load_decoder(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    t->has_decoder = true;
    const char *type = jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: decoder without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "decoders"))
        {
            int rc = load_decoder(t, it, err);
            if (rc) return rc;
        }
        return 0;
    }
    dec_op op;
    memset(&op, 0, sizeof op);
    if (!strcmp(type, "ByteLevel")) op.kind = D_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) op.kind = D_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) op.kind = D_FUSE;
    else if (!strcmp(type, "WordPiece")) {
        const char *pre = jstr(n, "prefix");
        op.kind = D_WORDPIECE;
        op.a = strdup(pre ? pre : "##");
        if (!op.a) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        op.an = strlen(op.a);
        op.cleanup = jbool(n, "cleanup", true);
    }
    else if (!strcmp(type, "Replace")) {
        const char *s = jstr(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String"), *content = jstr(n, "content");
        if (!s || !content) return ys_fail(err, YS_EINPUT, "tokenizer: decoder Replace with a Regex pattern is not supported");
        op.kind = D_REPLACE;
        op.a = strdup(s);
        op.b = strdup(content);
        if (!op.a || !op.b) {
            free(op.a), free(op.b);
            return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        }
        op.an = strlen(s);
        op.bn = strlen(content);
    } else if (!strcmp(type, "Strip")) {
        const char *c = jstr(n, "content");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(n, "start"), *sp = cJSON_GetObjectItemCaseSensitive(n, "stop");
        op.kind = D_STRIP;
        if (!c || !*c || strlen(c) > 4) return ys_fail(err, YS_EINPUT, "tokenizer: Strip decoder needs a one-character content");
        op.chn = strlen(c);
        memcpy(op.ch, c, op.chn);
        op.start = cJSON_IsNumber(st) ? st->valueint : 0;
        op.stop = cJSON_IsNumber(sp) ? sp->valueint : 0;
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = jstr(n, "replacement");
        op.kind = D_METASPACE;
        if (!r) r = "\xE2\x96\x81";
        op.chn = strlen(r);
        if (!op.chn || op.chn > 4) return ys_fail(err, YS_EINPUT, "tokenizer: Metaspace replacement must be one character");
        memcpy(op.ch, r, op.chn);
        op.prepend = prepend_scheme(n);
    } else {
        return ys_fail(err, YS_EINPUT, "tokenizer: decoder '%s' is not supported", type);
    }
    return add_dec(t, &op, err);
}

static int32_t lookup_any(const tok_tokenizer *t, const char *s)
{
    return s ? tok_token_id(t, s) : -1;
}

static int tmpl_add(tmpl *tp, int32_t id, int seq, int type_id)
{
    tmpl_piece *v = realloc(tp->v, (tp->n + 1) * sizeof *v);
    if (!v) return YS_ENOMEM;
    tp->v = v;
    tp->v[tp->n++] = (tmpl_piece){id, (int8_t)seq, (int8_t)type_id};
    if (seq < 0) tp->nspecial++;
    return 0;
}

static void tmpl_free(tmpl *tp)
{
    free(tp->v);
    memset(tp, 0, sizeof *tp);
}

/* TemplateProcessing's "single" or "pair" list */
static int load_template(tmpl *tp, const cJSON *list, const cJSON *specials, ys_error *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *x = sq ? sq : sp;
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(x, "type_id");
        int type_id = cJSON_IsNumber(ty) ? ty->valueint : 0;
        const char *name = jstr(x, "id");
        if (!name) return ys_fail(err, YS_EINPUT, "tokenizer: TemplateProcessing piece without an id");
        if (sq) {
            if (strcmp(name, "A") && strcmp(name, "B"))
                return ys_fail(err, YS_EINPUT, "tokenizer: TemplateProcessing sequence '%s' (only A, B)", name);
            if (tmpl_add(tp, -1, name[0] == 'B', type_id)) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
            continue;
        }
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(specials, name);
        const cJSON *idl = cJSON_GetObjectItemCaseSensitive(def, "ids");
        if (!cJSON_IsArray(idl))
            return ys_fail(err, YS_EINPUT, "tokenizer: TemplateProcessing special token '%s' has no ids", name);
        const cJSON *id;
        cJSON_ArrayForEach(id, idl) {
            if (jid(id) < 0)
                return ys_fail(err, YS_EINPUT, "tokenizer: TemplateProcessing special token '%s' has an invalid id", name);
            if (tmpl_add(tp, jid(id), -1, type_id))
                return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        }
    }
    return 0;
}

/* Post-processors become two templates (single, pair); ByteLevel only trims
 * offsets, so a Sequence may hold ByteLevel plus one template-like one. */
/* without a post-processor HF concatenates A and B, B with type id 1 */
static int default_templates(tok_tokenizer *t, ys_error *err)
{
    tmpl_free(&t->single);
    tmpl_free(&t->pair);
    if (tmpl_add(&t->single, -1, 0, 0) || tmpl_add(&t->pair, -1, 0, 0) || tmpl_add(&t->pair, -1, 1, 1))
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    return 0;
}

static int load_post(tok_tokenizer *t, const cJSON *n, bool *have, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: post_processor without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "processors"))
        {
            int rc = load_post(t, it, have, err);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0; /* only trims offsets */
    if (*have) return ys_fail(err, YS_EINPUT, "tokenizer: a Sequence of several template post-processors is not supported");
    *have = true;
    tmpl_free(&t->single);
    tmpl_free(&t->pair);
    int rc = 0;
    if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(n, "special_tokens");
        rc = load_template(&t->single, cJSON_GetObjectItemCaseSensitive(n, "single"), specials, err);
        if (!rc) rc = load_template(&t->pair, cJSON_GetObjectItemCaseSensitive(n, "pair"), specials, err);
        return rc;
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(n, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(n, "sep");
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2)
            return ys_fail(err, YS_EINPUT, "tokenizer: %s without cls/sep", type);
        int32_t c = jid(cJSON_GetArrayItem(cls, 1)), sp = jid(cJSON_GetArrayItem(sep, 1));
        if (c < 0 || sp < 0)
            return ys_fail(err, YS_EINPUT, "tokenizer: %s cls/sep ids are not valid ids", type);
        /* BERT: [CLS] A [SEP] B [SEP], B and its [SEP] of type 1;
         * RoBERTa: <s> A </s></s> B </s>, every type id 0 */
        bool bert = type[0] == 'B';
        rc = tmpl_add(&t->single, c, -1, 0) || tmpl_add(&t->single, -1, 0, 0) || tmpl_add(&t->single, sp, -1, 0) ||
             tmpl_add(&t->pair, c, -1, 0) || tmpl_add(&t->pair, -1, 0, 0) || tmpl_add(&t->pair, sp, -1, 0) ||
             (!bert && tmpl_add(&t->pair, sp, -1, 0)) || tmpl_add(&t->pair, -1, 1, bert) ||
             tmpl_add(&t->pair, sp, -1, bert);
        return rc ? ys_fail(err, YS_ENOMEM, "tokenizer: out of memory") : 0;
    }
    return ys_fail(err, YS_EINPUT, "tokenizer: post-processor '%s' is not supported", type);
}

static int add_added(tok_tokenizer *t, const char *content, int32_t id, bool lstrip, bool rstrip, bool single,
                     bool normalized, bool special, ys_error *err)
{
    added_tok *p = realloc(t->added, (t->nadded + 1) * sizeof *p);
    if (!p) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    t->added = p;
    added_tok *a = &t->added[t->nadded];
    a->content = strdup(content);
    if (!a->content) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    a->len = strlen(content);
    a->id = id;
    a->lstrip = lstrip, a->rstrip = rstrip, a->single_word = single, a->normalized = normalized, a->special = special;
    t->nadded++;
    return 0;
}

/* build tries and the id -> added map once the model and normalizer exist */
static int finish_added(tok_tokenizer *t, ys_error *err)
{
    size_t nids = (size_t)(t->model == M_WORDPIECE ? tok_wp_n_ids(t->wp)
                           : t->model == M_UNIGRAM ? tok_uni_n_ids(t->uni) : tok_bpe_n_ids(t->bpe));
    for (size_t i = 0; i < t->nadded; i++)
        if ((size_t)t->added[i].id + 1 > nids) nids = (size_t)t->added[i].id + 1;
    t->nids = nids;
    t->added_of_id = malloc((nids ? nids : 1) * sizeof *t->added_of_id);
    if (!t->added_of_id) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < nids; i++) t->added_of_id[i] = -1;
    if (tok_trie_add(&t->raw, "", 0, -1) || tok_trie_add(&t->normed, "", 0, -1))
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < t->nadded; i++) {
        added_tok *a = &t->added[i];
        t->added_of_id[a->id] = (int32_t)i;
        if (!a->len) continue;
        int rc;
        if (a->normalized && t->nnorm) {
            /* the normalized trie holds the normalized form of the content */
            tok_buf nb = {0};
            rc = tok_normalize_buf(t, a->content, a->len, &nb, NULL);
            if (!rc) rc = tok_trie_add(&t->normed, nb.p, nb.n, (int32_t)i);
            tok_buf_free(&nb);
        } else {
            rc = tok_trie_add(a->normalized ? &t->normed : &t->raw, a->content, a->len, (int32_t)i);
        }
        if (rc) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    return 0;
}

static int32_t config_token(const tok_tokenizer *t, const cJSON *cfg, const char *key, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    *present = v != NULL;
    if (cJSON_IsString(v)) return lookup_any(t, v->valuestring);
    if (cJSON_IsObject(v)) return lookup_any(t, jstr(v, "content"));
    return -1;
}

static void load_config_file(tok_tokenizer *t, const char *dir, bool legacy);
static void load_config(tok_tokenizer *t, const char *dir, bool legacy)
{
    load_config_file(t, dir, legacy);
    /* no padding config and no pad_token: the usual names */
    if (t->pad < 0) t->pad = lookup_any(t, "[PAD]");
    if (t->pad < 0) t->pad = lookup_any(t, "<pad>");
}

static void load_config_file(tok_tokenizer *t, const char *dir, bool legacy)
{
    t->bos = t->eos = -1;
    bool have_bos = false, have_eos = false;
    if (t->single.n && t->single.v[0].seq < 0) t->bos = t->single.v[0].id;
    if (legacy) {
        t->bos = t->eos = lookup_any(t, "<|endoftext|>");
    }
    size_t dl = strlen(dir);
    char *path = malloc(dl + 32);
    if (!path) return;
    snprintf(path, dl + 32, "%s/tokenizer_config.json", dir);
    size_t len;
    char *txt = read_all(path, &len, NULL);
    free(path);
    if (!txt) return;
    /* optional: a malformed tokenizer_config.json leaves the defaults (as
     * before), but it is read with the one grammar all the same */
    cJSON *cfg = NULL;
    ys_json_parse(txt, len, "tokenizer_config.json", 1, &cfg, NULL);
    free(txt);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return;
    }
    int32_t b = config_token(t, cfg, "bos_token", &have_bos);
    int32_t e = config_token(t, cfg, "eos_token", &have_eos);
    bool have_pad;
    int32_t p = config_token(t, cfg, "pad_token", &have_pad);
    if (have_bos) t->bos = b;
    if (have_eos) t->eos = e;
    if (t->pad < 0 && have_pad) t->pad = p;
    cJSON_Delete(cfg);
}

static int load_wordpiece(tok_tokenizer *t, const cJSON *model, const cJSON *vocab, const char *path, ys_error *err)
{
    const char *prefix = jstr(model, "continuing_subword_prefix"), *unk = jstr(model, "unk_token");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    t->wp = tok_wp_new(prefix ? prefix : "##", cJSON_IsNumber(mx) ? (size_t)(mx->valuedouble >= 0 && mx->valuedouble < 1e9 ? mx->valuedouble : 100) : 100);
    if (!t->wp) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (jid(it) < 0)
            return ys_fail(err, YS_EINPUT, "%s: vocab entry '%s' is not a valid id", path, it->string);
        if (tok_wp_add_piece(t->wp, it->string, strlen(it->string), jid(it)))
            return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    return tok_wp_finish(t->wp, unk ? unk : "[UNK]", err);
}

static int load_unigram(tok_tokenizer *t, const cJSON *model, const cJSON *vocab, const char *path, ys_error *err)
{
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    if (cJSON_IsNumber(unk) && jid(unk) == INT32_MIN)
        return ys_fail(err, YS_EINPUT, "%s: model.unk_id is not a valid id", path);
    t->uni = tok_uni_new(cJSON_IsNumber(unk) ? jid(unk) : -1, jbool(model, "byte_fallback", false));
    if (!t->uni) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        const cJSON *p = cJSON_GetArrayItem(it, 0), *sc = cJSON_GetArrayItem(it, 1);
        if (!cJSON_IsArray(it) || !cJSON_IsString(p) || !cJSON_IsNumber(sc))
            return ys_fail(err, YS_EINPUT, "%s: Unigram vocab entries must be [piece, score]", path);
        if (tok_uni_add_piece(t->uni, p->valuestring, strlen(p->valuestring), tok_serde_f64(sc->valuedouble)))
            return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    return tok_uni_finish(t->uni, err);
}

/* A parsed tokenizer.json (root, freed here), `path` naming it in messages. */
static int load_root(tok_tokenizer *t, cJSON *root, const char *path, ys_error *err)
{
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = ys_fail(err, YS_EINPUT, "%s: top level is %s, not a JSON object", path, ys_json_kind(root));
        cJSON_Delete(root);
        return rc;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *mtype = jstr(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    /* files written by old versions have no model type: HF then tries BPE
     * (needs merges), WordPiece (vocab object + its options), Unigram
     * (vocab as [piece, score] pairs) */
    if (!cJSON_IsObject(model)) rc = ys_fail(err, YS_EINPUT, "%s: no 'model'", path);
    else if (mtype) {
        if (!strcmp(mtype, "BPE")) t->model = M_BPE;
        else if (!strcmp(mtype, "WordPiece")) t->model = M_WORDPIECE;
        else if (!strcmp(mtype, "Unigram")) t->model = M_UNIGRAM;
        else rc = ys_fail(err, YS_EINPUT, "%s: model type '%s' is not supported (BPE, WordPiece, Unigram)", path, mtype);
    } else if (cJSON_IsArray(merges)) t->model = M_BPE;
    else if (cJSON_IsObject(vocab) && cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix"))
        t->model = M_WORDPIECE;
    else if (cJSON_IsArray(vocab)) t->model = M_UNIGRAM;
    else rc = ys_fail(err, YS_EINPUT, "%s: model without a type is neither BPE, WordPiece nor Unigram", path);
    if (rc) goto done;
    if (t->model == M_BPE && (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)))
        rc = ys_fail(err, YS_EINPUT, "%s: BPE model needs 'vocab' (object) and 'merges' (array)", path);
    else if (t->model == M_WORDPIECE && !cJSON_IsObject(vocab))
        rc = ys_fail(err, YS_EINPUT, "%s: WordPiece model needs 'vocab' (object)", path);
    else if (t->model == M_UNIGRAM && !cJSON_IsArray(vocab))
        rc = ys_fail(err, YS_EINPUT, "%s: Unigram model needs 'vocab' ([piece, score] pairs)", path);
    if (rc) goto done;
    if (t->model == M_BPE) {
        const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
        const char *pre = jstr(model, "continuing_subword_prefix"), *suf = jstr(model, "end_of_word_suffix");
        if (cJSON_IsNumber(drop) && drop->valuedouble > 0) {
            rc = ys_fail(err, YS_EINPUT, "%s: BPE dropout is not supported", path);
            goto done;
        }
        if ((pre && *pre) || (suf && *suf)) {
            rc = ys_fail(err, YS_EINPUT, "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", path);
            goto done;
        }
    }
    /* components first: ByteLevel decides how the vocabulary is keyed */
    if ((rc = load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err))) goto done;
    if ((rc = load_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err))) goto done;
    if ((rc = load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), err))) goto done;
    if (t->model == M_WORDPIECE) {
        if ((rc = load_wordpiece(t, model, vocab, path, err))) goto done;
    } else if (t->model == M_UNIGRAM) {
        if ((rc = load_unigram(t, model, vocab, path, err))) goto done;
    } else {
        tok_bpe_opts o = {-1, jbool(model, "fuse_unk", false), jbool(model, "byte_fallback", false),
                          jbool(model, "ignore_merges", false), t->byte_level};
        const char *unk = jstr(model, "unk_token");
        if (unk) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(vocab, unk);
            if (jid(u) < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: unk_token '%s' is not in the vocabulary", path, unk);
                goto done;
            }
            o.unk_id = jid(u);
        }
        t->bpe = tok_bpe_new(&o);
        if (!t->bpe) {
            rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
            goto done;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, vocab)
        {
            if (jid(it) < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: vocab entry '%s' is not a valid id", path, it->string);
                goto done;
            }
            if ((rc = tok_bpe_add_piece(t->bpe, it->string, strlen(it->string), jid(it), err))) goto done;
        }
        uint32_t rank = 0;
        cJSON_ArrayForEach(it, merges)
        {
            if (cJSON_IsString(it)) {
                const char *s = it->valuestring, *sp = strchr(s, ' ');
                if (!sp) {
                    rc = ys_fail(err, YS_EINPUT, "%s: merge %u '%s' is not 'a b'", path, rank, s);
                    goto done;
                }
                rc = tok_bpe_add_merge(t->bpe, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, err);
            } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
                const char *a = cJSON_GetArrayItem(it, 0)->valuestring, *b = cJSON_GetArrayItem(it, 1)->valuestring;
                rc = tok_bpe_add_merge(t->bpe, a, strlen(a), b, strlen(b), rank, err);
            } else {
                rc = ys_fail(err, YS_EINPUT, "%s: merge %u is neither 'a b' nor [a, b]", path, rank);
            }
            if (rc) goto done;
            rank++;
        }
        if ((rc = tok_bpe_finish(t->bpe, err))) goto done;
    }
    {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))
        {
            const char *content = jstr(it, "content");
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
            if (!content || jid(id) < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: added token without content or id", path);
                goto done;
            }
            if ((rc = add_added(t, content, jid(id), jbool(it, "lstrip", false), jbool(it, "rstrip", false),
                                jbool(it, "single_word", false), jbool(it, "normalized", true), jbool(it, "special", false),
                                err)))
                goto done;
        }
    }
    {
        bool have = false;
        if ((rc = load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), &have, err))) goto done;
        if (!have && (rc = default_templates(t, err))) goto done;
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(pad, "pad_id");
        if (cJSON_IsNumber(pid) && jid(pid) < 0)
            rc = ys_fail(err, YS_EINPUT, "%s: padding.pad_id is not a valid id", path);
        if (rc) goto done;
        if (cJSON_IsNumber(pid)) t->pad = jid(pid);
    }
    rc = finish_added(t, err);
done:
    cJSON_Delete(root);
    return rc;
}

static int load_json(tok_tokenizer *t, const char *path, ys_error *err)
{
    size_t len;
    char *txt = read_all(path, &len, err);
    if (!txt) return err ? err->code : YS_EIO;
    cJSON *root = NULL;
    int rc = ys_json_parse(txt, len, path, 1, &root, err);
    free(txt);
    if (rc < 0) return rc;
    return load_root(t, root, path, err);
}

static int load_legacy(tok_tokenizer *t, const char *vocab_path, const char *merges_path, ys_error *err)
{
    pre_op op;
    memset(&op, 0, sizeof op);
    op.kind = P_BYTELEVEL;
    op.use_regex = true;
    int rc = compile_re(&op, GPT2_PATTERN, false, err);
    if (rc || (rc = add_pre(t, &op, err))) return rc;
    t->byte_level = true;
    t->has_decoder = true;
    dec_op d;
    memset(&d, 0, sizeof d);
    d.kind = D_BYTELEVEL;
    if ((rc = add_dec(t, &d, err))) return rc;
    tok_bpe_opts o = {-1, false, false, false, true};
    t->bpe = tok_bpe_new(&o);
    if (!t->bpe) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    size_t len;
    char *txt = read_all(vocab_path, &len, err);
    if (!txt) return err ? err->code : YS_EIO;
    cJSON *v = NULL;
    int prc = ys_json_parse(txt, len, vocab_path, 1, &v, err);
    free(txt);
    if (prc < 0) return prc;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return ys_fail(err, YS_EINPUT, "%s: not a JSON object", vocab_path);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (jid(it) < 0) rc = ys_fail(err, YS_EINPUT, "%s: entry '%s' is not a valid id", vocab_path, it->string);
        else rc = tok_bpe_add_piece(t->bpe, it->string, strlen(it->string), jid(it), err);
        if (rc) break;
    }
    cJSON_Delete(v);
    if (rc) return rc;
    txt = read_all(merges_path, &len, err);
    if (!txt) return err ? err->code : YS_EIO;
    /* merges.txt is not JSON: its UTF-8 is checked here, as the strict
     * JSON check does for tokenizer.json and vocab.json */
    size_t bad = uni_invalid_at(txt, len);
    if (bad != (size_t)-1) {
        size_t ln = 1;
        for (size_t k = 0; k < bad; k++)
            ln += txt[k] == '\n';
        unsigned byte = (unsigned char)txt[bad];
        free(txt);
        return ys_fail(err, YS_EINPUT, "%s:%zu: invalid UTF-8 (byte 0x%02X)", merges_path, ln, byte);
    }
    uint32_t rank = 0;
    size_t line = 0;
    for (char *p = txt; p < txt + len && !rc;) {
        char *e = memchr(p, '\n', (size_t)(txt + len - p));
        if (!e) e = txt + len;
        line++;
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r') n--;
        if (n && !(n >= 8 && memcmp(p, "#version", 8) == 0)) {
            char *sp = memchr(p, ' ', n);
            if (!sp || memchr(sp + 1, ' ', (size_t)(p + n - sp - 1)))
                rc = ys_fail(err, YS_EINPUT, "%s:%zu: a merge line must be 'a b'", merges_path, line);
            else
                rc = tok_bpe_add_merge(t->bpe, p, (size_t)(sp - p), sp + 1, (size_t)(p + n - sp - 1), rank++, err);
        }
        p = e + 1;
    }
    free(txt);
    if (rc || (rc = tok_bpe_finish(t->bpe, err))) return rc;
    int32_t eot = tok_bpe_lookup(t->bpe, "<|endoftext|>", 13);
    if (eot >= 0 && (rc = add_added(t, "<|endoftext|>", eot, false, false, false, true, true, err))) return rc;
    if ((rc = default_templates(t, err))) return rc;
    return finish_added(t, err);
}

/* An error about a tokenizer file names that file: components report
 * "tokenizer: decoder 'X' is not supported", which says nothing about
 * which file of which model (issue 15: every error locates its input). */
static int located(int rc, const char *path, ys_error *err)
{
    if (rc >= 0 || !err || rc == YS_ENOMEM || !strncmp(err->msg, path, strlen(path)))
        return rc;
    char m[sizeof err->msg];
    snprintf(m, sizeof m, "%s", strncmp(err->msg, "tokenizer: ", 11) ? err->msg : err->msg + 11);
    return ys_fail(err, rc, "%s: %s", path, m);
}

/* A file that starts with GGUF's magic. */
static bool is_gguf(const char *path)
{
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

bool tok_available(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return false;
    if (S_ISREG(st.st_mode)) {
        if (!is_gguf(path)) return true;
        gguf *g;
        if (gguf_open(path, &g, NULL)) return false;
        bool has = gguf_find(g, "tokenizer.ggml.model") != NULL;
        gguf_close(g);
        return has;
    }
    size_t n = strlen(path) + 32;
    char *p = malloc(n);
    if (!p) return false;
    snprintf(p, n, "%s/tokenizer.json", path);
    bool ok = stat(p, &st) == 0;
    snprintf(p, n, "%s/vocab.json", path);
    ok = ok || stat(p, &st) == 0;
    free(p);
    return ok;
}

int tok_load(const char *dir_or_file, tok_tokenizer **out, ys_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(dir_or_file, &st) != 0) return ys_fail(err, YS_EIO, "%s: %s", dir_or_file, strerror(errno));
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    t->pad = -1;
    size_t dl = strlen(dir_or_file);
    char *dir = malloc(dl + 32), *a = malloc(dl + 32), *b = malloc(dl + 32);
    int rc = 0;
    bool legacy = false, gguf = false;
    if (!dir || !a || !b) rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    else if (S_ISDIR(st.st_mode)) {
        snprintf(dir, dl + 32, "%s", dir_or_file);
        snprintf(a, dl + 32, "%s/tokenizer.json", dir_or_file);
        if (stat(a, &st) == 0) rc = located(load_json(t, a, err), a, err);
        else {
            snprintf(a, dl + 32, "%s/vocab.json", dir_or_file);
            snprintf(b, dl + 32, "%s/merges.txt", dir_or_file);
            if (stat(a, &st) != 0 || stat(b, &st) != 0)
                rc = ys_fail(err, YS_EIO, "%s: neither tokenizer.json nor vocab.json + merges.txt", dir_or_file);
            else {
                legacy = true;
                rc = load_legacy(t, a, b, err);
                if (rc < 0 && err && strncmp(err->msg, b, strlen(b))) rc = located(rc, a, err);
            }
        }
    } else if (is_gguf(dir_or_file)) {
        /* a GGUF file: the tokenizer in its metadata, its own bos/eos */
        cJSON *root = NULL;
        int32_t bos, eos, pad;
        if ((rc = tok_gguf_json(dir_or_file, &root, &bos, &eos, &pad, err)) == 0 &&
            (rc = load_root(t, root, dir_or_file, err)) == 0) {
            t->bos = bos, t->eos = eos;
            if (pad >= 0) t->pad = pad;
            gguf = true;
        }
    } else {
        snprintf(dir, dl + 32, "%s", dir_or_file);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else strcpy(dir, ".");
        rc = located(load_json(t, dir_or_file, err), dir_or_file, err);
    }
    if (!rc && !gguf) load_config(t, dir, legacy);
    free(dir);
    free(a);
    free(b);
    if (rc) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

