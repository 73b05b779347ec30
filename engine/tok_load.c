/* tok_load.c — reading tokenizer.json (or GPT-2's vocab.json + merges.txt)
 * into the components tokenizer.c runs (the pipeline steps through
 * tok_steps.c); tokenizer_config.json for bos/eos. See tokenizer.h for the
 * contract. */
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

/* ----------------------------------------------------------- small utils */
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
    tok_tmpl_free(&t->single);
    tok_tmpl_free(&t->pair);
    tok_wp_free(t->wp);
    tok_uni_free(t->uni);
    free(t->added_of_id);
    free(t);
}

/* ------------------------------------------------------------------ load */

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
    if (cJSON_IsString(v)) return tok_lookup_any(t, v->valuestring);
    if (cJSON_IsObject(v)) return tok_lookup_any(t, tok_jstr(v, "content"));
    return -1;
}

static void load_config_file(tok_tokenizer *t, const char *dir, bool legacy);
static void load_config(tok_tokenizer *t, const char *dir, bool legacy)
{
    load_config_file(t, dir, legacy);
    /* no padding config and no pad_token: the usual names */
    if (t->pad < 0) t->pad = tok_lookup_any(t, "[PAD]");
    if (t->pad < 0) t->pad = tok_lookup_any(t, "<pad>");
}

static void load_config_file(tok_tokenizer *t, const char *dir, bool legacy)
{
    t->bos = t->eos = -1;
    bool have_bos = false, have_eos = false;
    if (t->single.n && t->single.v[0].seq < 0) t->bos = t->single.v[0].id;
    if (legacy) {
        t->bos = t->eos = tok_lookup_any(t, "<|endoftext|>");
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
    const char *prefix = tok_jstr(model, "continuing_subword_prefix"), *unk = tok_jstr(model, "unk_token");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    t->wp = tok_wp_new(prefix ? prefix : "##", cJSON_IsNumber(mx) ? (size_t)(mx->valuedouble >= 0 && mx->valuedouble < 1e9 ? mx->valuedouble : 100) : 100);
    if (!t->wp) return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (tok_jid(it) < 0)
            return ys_fail(err, YS_EINPUT, "%s: vocab entry '%s' is not a valid id", path, it->string);
        if (tok_wp_add_piece(t->wp, it->string, strlen(it->string), tok_jid(it)))
            return ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
    }
    return tok_wp_finish(t->wp, unk ? unk : "[UNK]", err);
}

static int load_unigram(tok_tokenizer *t, const cJSON *model, const cJSON *vocab, const char *path, ys_error *err)
{
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    if (cJSON_IsNumber(unk) && tok_jid(unk) == INT32_MIN)
        return ys_fail(err, YS_EINPUT, "%s: model.unk_id is not a valid id", path);
    t->uni = tok_uni_new(cJSON_IsNumber(unk) ? tok_jid(unk) : -1, tok_jbool(model, "byte_fallback", false));
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
    const char *mtype = tok_jstr(model, "type");
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
        const char *pre = tok_jstr(model, "continuing_subword_prefix"), *suf = tok_jstr(model, "end_of_word_suffix");
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
    if ((rc = tok_load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err))) goto done;
    if ((rc = tok_load_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err))) goto done;
    if ((rc = tok_load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), err))) goto done;
    if (t->model == M_WORDPIECE) {
        if ((rc = load_wordpiece(t, model, vocab, path, err))) goto done;
    } else if (t->model == M_UNIGRAM) {
        if ((rc = load_unigram(t, model, vocab, path, err))) goto done;
    } else {
        tok_bpe_opts o = {-1, tok_jbool(model, "fuse_unk", false), tok_jbool(model, "byte_fallback", false),
                          tok_jbool(model, "ignore_merges", false), t->byte_level};
        const char *unk = tok_jstr(model, "unk_token");
        if (unk) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(vocab, unk);
            if (tok_jid(u) < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: unk_token '%s' is not in the vocabulary", path, unk);
                goto done;
            }
            o.unk_id = tok_jid(u);
        }
        t->bpe = tok_bpe_new(&o);
        if (!t->bpe) {
            rc = ys_fail(err, YS_ENOMEM, "tokenizer: out of memory");
            goto done;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, vocab)
        {
            if (tok_jid(it) < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: vocab entry '%s' is not a valid id", path, it->string);
                goto done;
            }
            if ((rc = tok_bpe_add_piece(t->bpe, it->string, strlen(it->string), tok_jid(it), err))) goto done;
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
            const char *content = tok_jstr(it, "content");
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
            if (!content || tok_jid(id) < 0) {
                rc = ys_fail(err, YS_EINPUT, "%s: added token without content or id", path);
                goto done;
            }
            if ((rc = add_added(t, content, tok_jid(id), tok_jbool(it, "lstrip", false), tok_jbool(it, "rstrip", false),
                                tok_jbool(it, "single_word", false), tok_jbool(it, "normalized", true), tok_jbool(it, "special", false),
                                err)))
                goto done;
        }
    }
    {
        bool have = false;
        if ((rc = tok_load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), &have, err))) goto done;
        if (!have && (rc = tok_default_templates(t, err))) goto done;
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(pad, "pad_id");
        if (cJSON_IsNumber(pid) && tok_jid(pid) < 0)
            rc = ys_fail(err, YS_EINPUT, "%s: padding.pad_id is not a valid id", path);
        if (rc) goto done;
        if (cJSON_IsNumber(pid)) t->pad = tok_jid(pid);
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
    int rc = tok_compile_re(&op, TOK_GPT2_PATTERN, false, err);
    if (rc || (rc = tok_add_pre(t, &op, err))) return rc;
    t->byte_level = true;
    t->has_decoder = true;
    dec_op d;
    memset(&d, 0, sizeof d);
    d.kind = D_BYTELEVEL;
    if ((rc = tok_add_dec(t, &d, err))) return rc;
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
        if (tok_jid(it) < 0) rc = ys_fail(err, YS_EINPUT, "%s: entry '%s' is not a valid id", vocab_path, it->string);
        else rc = tok_bpe_add_piece(t->bpe, it->string, strlen(it->string), tok_jid(it), err);
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
    if ((rc = tok_default_templates(t, err))) return rc;
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

