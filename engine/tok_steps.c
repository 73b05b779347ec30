/* tok_steps.c — the pipeline steps of a tokenizer.json (normalizer,
 * pre-tokenizer, decoder, post-processor templates) read into the
 * tokenizer's step lists; tok_load.c reads the rest of the file (model,
 * added tokens, configuration) and calls these. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "ys_unicode.h"
#include "tokenizer.h"

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

int tok_compile_re(pre_op *op, const char *pattern, bool literal, ys_error *err)
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

/* ---------------------------------------------------------- normalizers */
int tok_load_normalizer(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = tok_jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: normalizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
        {
            int rc = tok_load_normalizer(t, it, err);
            if (rc) return rc;
        }
        return 0;
    }
    norm_op op;
    memset(&op, 0, sizeof op);
    if (!strcmp(type, "Prepend")) {
        const char *p = tok_jstr(n, "prepend");
        if (!p) return ys_fail(err, YS_EINPUT, "tokenizer: Prepend normalizer without 'prepend'");
        op.kind = N_PREPEND;
        op.a = strdup(p);
        op.an = strlen(p);
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *s = tok_jstr(pat, "String"), *content = tok_jstr(n, "content");
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
        op.bert.clean_text = tok_jbool(n, "clean_text", true);
        op.bert.chinese = tok_jbool(n, "handle_chinese_chars", true);
        op.bert.lowercase = tok_jbool(n, "lowercase", true);
        /* strip_accents null (or absent) follows lowercase, as in HF */
        op.bert.strip_accents = tok_jbool(n, "strip_accents", op.bert.lowercase);
    } else if (!strcmp(type, "Precompiled")) {
        const char *b64 = tok_jstr(n, "precompiled_charsmap");
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
        op.left = tok_jbool(n, "strip_left", true);
        op.right = tok_jbool(n, "strip_right", true);
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
    const char *s = tok_jstr(n, "prepend_scheme");
    if (s) return !strcmp(s, "first") ? PS_FIRST : !strcmp(s, "never") ? PS_NEVER : PS_ALWAYS;
    return tok_jbool(n, "add_prefix_space", true) ? PS_ALWAYS : PS_NEVER;
}

int tok_add_pre(tok_tokenizer *t, pre_op *op, ys_error *err)
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

int tok_load_pretok(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = tok_jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: pre_tokenizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "pretokenizers"))
        {
            int rc = tok_load_pretok(t, it, err);
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
        const char *re = tok_jstr(pat, "Regex"), *str = tok_jstr(pat, "String");
        const char *beh = tok_jstr(n, "behavior");
        if (!re && !str) return ys_fail(err, YS_EINPUT, "tokenizer: Split pre-tokenizer without a pattern");
        op.kind = P_SPLIT;
        op.invert = tok_jbool(n, "invert", false);
        if (!beh || !strcmp(beh, "Isolated")) op.behavior = B_ISOLATED;
        else if (!strcmp(beh, "Removed")) op.behavior = B_REMOVED;
        else if (!strcmp(beh, "MergedWithPrevious")) op.behavior = B_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext")) op.behavior = B_MERGED_NEXT;
        else if (!strcmp(beh, "Contiguous")) op.behavior = B_CONTIGUOUS;
        else return ys_fail(err, YS_EINPUT, "tokenizer: Split behavior '%s' is not supported", beh);
        if ((rc = tok_compile_re(&op, re ? re : str, !re, err))) return rc;
    } else if (!strcmp(type, "BertPreTokenizer")) {
        op.kind = P_BERT;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        op.kind = P_WSSPLIT;
    } else if (!strcmp(type, "ByteLevel")) {
        op.kind = P_BYTELEVEL;
        op.add_prefix_space = tok_jbool(n, "add_prefix_space", true);
        op.use_regex = tok_jbool(n, "use_regex", true);
        if (op.use_regex && (rc = tok_compile_re(&op, TOK_GPT2_PATTERN, false, err))) return rc;
        t->byte_level = true;
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = tok_jstr(n, "replacement");
        op.kind = P_METASPACE;
        if (!r) r = "\xE2\x96\x81";
        op.repl_n = strlen(r);
        if (!op.repl_n || op.repl_n > 4) return ys_fail(err, YS_EINPUT, "tokenizer: Metaspace replacement must be one character");
        memcpy(op.repl, r, op.repl_n);
        op.prepend = prepend_scheme(n);
        op.split = tok_jbool(n, "split", true);
    } else {
        return ys_fail(err, YS_EINPUT, "tokenizer: pre-tokenizer '%s' is not supported", type);
    }
    return tok_add_pre(t, &op, err);
}

int tok_add_dec(tok_tokenizer *t, dec_op *op, ys_error *err)
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

int tok_load_decoder(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    t->has_decoder = true;
    const char *type = tok_jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: decoder without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "decoders"))
        {
            int rc = tok_load_decoder(t, it, err);
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
        const char *pre = tok_jstr(n, "prefix");
        op.kind = D_WORDPIECE;
        op.a = strdup(pre ? pre : "##");
        if (!op.a) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        op.an = strlen(op.a);
        op.cleanup = tok_jbool(n, "cleanup", true);
    }
    else if (!strcmp(type, "Replace")) {
        const char *s = tok_jstr(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String"), *content = tok_jstr(n, "content");
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
        const char *c = tok_jstr(n, "content");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(n, "start"), *sp = cJSON_GetObjectItemCaseSensitive(n, "stop");
        op.kind = D_STRIP;
        if (!c || !*c || strlen(c) > 4) return ys_fail(err, YS_EINPUT, "tokenizer: Strip decoder needs a one-character content");
        op.chn = strlen(c);
        memcpy(op.ch, c, op.chn);
        op.start = cJSON_IsNumber(st) ? st->valueint : 0;
        op.stop = cJSON_IsNumber(sp) ? sp->valueint : 0;
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = tok_jstr(n, "replacement");
        op.kind = D_METASPACE;
        if (!r) r = "\xE2\x96\x81";
        op.chn = strlen(r);
        if (!op.chn || op.chn > 4) return ys_fail(err, YS_EINPUT, "tokenizer: Metaspace replacement must be one character");
        memcpy(op.ch, r, op.chn);
        op.prepend = prepend_scheme(n);
    } else {
        return ys_fail(err, YS_EINPUT, "tokenizer: decoder '%s' is not supported", type);
    }
    return tok_add_dec(t, &op, err);
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

void tok_tmpl_free(tmpl *tp)
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
        const char *name = tok_jstr(x, "id");
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
            if (tok_jid(id) < 0)
                return ys_fail(err, YS_EINPUT, "tokenizer: TemplateProcessing special token '%s' has an invalid id", name);
            if (tmpl_add(tp, tok_jid(id), -1, type_id))
                return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
        }
    }
    return 0;
}

/* Post-processors become two templates (single, pair); ByteLevel only trims
 * offsets, so a Sequence may hold ByteLevel plus one template-like one. */
/* without a post-processor HF concatenates A and B, B with type id 1 */
int tok_default_templates(tok_tokenizer *t, ys_error *err)
{
    tok_tmpl_free(&t->single);
    tok_tmpl_free(&t->pair);
    if (tmpl_add(&t->single, -1, 0, 0) || tmpl_add(&t->pair, -1, 0, 0) || tmpl_add(&t->pair, -1, 1, 1))
        return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    return 0;
}

int tok_load_post(tok_tokenizer *t, const cJSON *n, bool *have, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = tok_jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: post_processor without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "processors"))
        {
            int rc = tok_load_post(t, it, have, err);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0; /* only trims offsets */
    if (*have) return ys_fail(err, YS_EINPUT, "tokenizer: a Sequence of several template post-processors is not supported");
    *have = true;
    tok_tmpl_free(&t->single);
    tok_tmpl_free(&t->pair);
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
        int32_t c = tok_jid(cJSON_GetArrayItem(cls, 1)), sp = tok_jid(cJSON_GetArrayItem(sep, 1));
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

