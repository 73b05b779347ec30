/* tok_load.c — reading tokenizer.json (or GPT-2's vocab.json + merges.txt)
 * into the components tokenizer.c runs; tokenizer_config.json for bos/eos.
 * See tokenizer.h for the contract. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tok_internal.h"
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

void tok_free(tok_tokenizer *t)
{
    if (!t) return;
    tok_bpe_free(t->bpe);
    for (size_t i = 0; i < t->nnorm; i++) free(t->norms[i].a), free(t->norms[i].b);
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
    free(t->pre_ids.v);
    free(t->post_ids.v);
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

static int load_post(tok_tokenizer *t, const cJSON *n, ys_error *err)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return ys_fail(err, YS_EINPUT, "tokenizer: post_processor without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "processors"))
        {
            int rc = load_post(t, it, err);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0; /* only trims offsets */
    tok_ivec pre = {0}, post = {0};
    int rc = 0;
    if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(n, "single");
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(n, "special_tokens");
        bool seen_seq = false;
        const cJSON *it;
        cJSON_ArrayForEach(it, single)
        {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) {
                seen_seq = true;
                continue;
            }
            const char *name = jstr(sp, "id");
            const cJSON *def = name ? cJSON_GetObjectItemCaseSensitive(specials, name) : NULL;
            const cJSON *idl = cJSON_GetObjectItemCaseSensitive(def, "ids");
            if (!cJSON_IsArray(idl)) {
                rc = ys_fail(err, YS_EINPUT, "tokenizer: TemplateProcessing special token '%s' has no ids", name ? name : "?");
                break;
            }
            const cJSON *x;
            cJSON_ArrayForEach(x, idl) rc |= tok_ivec_push(seen_seq ? &post : &pre, (int32_t)x->valuedouble);
        }
    } else if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(n, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(n, "sep");
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2)
            rc = ys_fail(err, YS_EINPUT, "tokenizer: %s without cls/sep", type);
        else {
            rc |= tok_ivec_push(&pre, (int32_t)cJSON_GetArrayItem(cls, 1)->valuedouble);
            rc |= tok_ivec_push(&post, (int32_t)cJSON_GetArrayItem(sep, 1)->valuedouble);
        }
    } else {
        rc = ys_fail(err, YS_EINPUT, "tokenizer: post-processor '%s' is not supported", type);
    }
    /* a later processor wraps the result of the earlier ones */
    for (size_t i = 0; !rc && i < t->pre_ids.n; i++) rc = tok_ivec_push(&pre, t->pre_ids.v[i]);
    for (size_t i = 0; !rc && i < post.n; i++) rc = tok_ivec_push(&t->post_ids, post.v[i]);
    if (!rc) {
        free(t->pre_ids.v);
        t->pre_ids = pre;
        pre.v = NULL;
    }
    free(pre.v);
    free(post.v);
    if (rc == YS_ENOMEM) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    return rc;
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
    size_t nids = (size_t)tok_bpe_n_ids(t->bpe);
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

static void load_config(tok_tokenizer *t, const char *dir, bool legacy)
{
    t->bos = t->eos = -1;
    bool have_bos = false, have_eos = false;
    if (t->pre_ids.n) t->bos = t->pre_ids.v[0];
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
    cJSON *cfg = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!cfg) return;
    int32_t b = config_token(t, cfg, "bos_token", &have_bos);
    int32_t e = config_token(t, cfg, "eos_token", &have_eos);
    if (have_bos) t->bos = b;
    if (have_eos) t->eos = e;
    cJSON_Delete(cfg);
}

static int load_json(tok_tokenizer *t, const char *path, ys_error *err)
{
    size_t len;
    char *txt = read_all(path, &len, err);
    if (!txt) return err ? err->code : YS_EIO;
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!root) return ys_fail(err, YS_EINPUT, "%s: not valid JSON", path);
    int rc = 0;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *mtype = jstr(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(model)) rc = ys_fail(err, YS_EINPUT, "%s: no 'model'", path);
    else if (mtype && strcmp(mtype, "BPE"))
        rc = ys_fail(err, YS_EINPUT, "%s: model type '%s' is not supported (only BPE)", path, mtype);
    else if (!mtype && !cJSON_IsArray(merges))
        rc = ys_fail(err, YS_EINPUT, "%s: model without a type and without merges is not supported (only BPE)", path);
    else if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        rc = ys_fail(err, YS_EINPUT, "%s: BPE model needs 'vocab' (object) and 'merges' (array)", path);
    if (rc) goto done;
    {
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
    {
        tok_bpe_opts o = {-1, jbool(model, "fuse_unk", false), jbool(model, "byte_fallback", false),
                          jbool(model, "ignore_merges", false), t->byte_level};
        const char *unk = jstr(model, "unk_token");
        if (unk) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(vocab, unk);
            if (!cJSON_IsNumber(u)) {
                rc = ys_fail(err, YS_EINPUT, "%s: unk_token '%s' is not in the vocabulary", path, unk);
                goto done;
            }
            o.unk_id = (int32_t)u->valuedouble;
        }
        t->bpe = tok_bpe_new(&o);
        if (!t->bpe) {
            rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
            goto done;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, vocab)
        {
            if (!cJSON_IsNumber(it)) {
                rc = ys_fail(err, YS_EINPUT, "%s: vocab entry '%s' is not a number", path, it->string);
                goto done;
            }
            if ((rc = tok_bpe_add_piece(t->bpe, it->string, strlen(it->string), (int32_t)it->valuedouble, err))) goto done;
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
            if (!content || !cJSON_IsNumber(id) || id->valuedouble < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: added token without content or id", path);
                goto done;
            }
            if ((rc = add_added(t, content, (int32_t)id->valuedouble, jbool(it, "lstrip", false), jbool(it, "rstrip", false),
                                jbool(it, "single_word", false), jbool(it, "normalized", true), jbool(it, "special", false),
                                err)))
                goto done;
        }
    }
    if ((rc = load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err))) goto done;
    rc = finish_added(t, err);
done:
    cJSON_Delete(root);
    return rc;
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
    cJSON *v = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return ys_fail(err, YS_EINPUT, "%s: not a JSON object", vocab_path);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsNumber(it)) rc = ys_fail(err, YS_EINPUT, "%s: entry '%s' is not a number", vocab_path, it->string);
        else rc = tok_bpe_add_piece(t->bpe, it->string, strlen(it->string), (int32_t)it->valuedouble, err);
        if (rc) break;
    }
    cJSON_Delete(v);
    if (rc) return rc;
    txt = read_all(merges_path, &len, err);
    if (!txt) return err ? err->code : YS_EIO;
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
    return finish_added(t, err);
}

int tok_load(const char *dir_or_file, tok_tokenizer **out, ys_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(dir_or_file, &st) != 0) return ys_fail(err, YS_EIO, "%s: %s", dir_or_file, strerror(errno));
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    size_t dl = strlen(dir_or_file);
    char *dir = malloc(dl + 32), *a = malloc(dl + 32), *b = malloc(dl + 32);
    int rc = 0;
    bool legacy = false;
    if (!dir || !a || !b) rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    else if (S_ISDIR(st.st_mode)) {
        snprintf(dir, dl + 32, "%s", dir_or_file);
        snprintf(a, dl + 32, "%s/tokenizer.json", dir_or_file);
        if (stat(a, &st) == 0) rc = load_json(t, a, err);
        else {
            snprintf(a, dl + 32, "%s/vocab.json", dir_or_file);
            snprintf(b, dl + 32, "%s/merges.txt", dir_or_file);
            if (stat(a, &st) != 0 || stat(b, &st) != 0)
                rc = ys_fail(err, YS_EIO, "%s: neither tokenizer.json nor vocab.json + merges.txt", dir_or_file);
            else {
                legacy = true;
                rc = load_legacy(t, a, b, err);
            }
        }
    } else {
        snprintf(dir, dl + 32, "%s", dir_or_file);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else strcpy(dir, ".");
        rc = load_json(t, dir_or_file, err);
    }
    if (!rc) load_config(t, dir, legacy);
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

