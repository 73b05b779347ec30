/* dataset.c — streaming readers for TSV, CSV, JSON Lines, SQuAD JSON and
 * plain/WikiText files. See dataset.h for the contract.
 *
 * Every line-based format goes through next_line(), which is the single place
 * that counts lines, drops the BOM, strips "\n" / "\r\n" and rejects NUL bytes
 * and invalid UTF-8; the format parsers above it only see clean text. A row's
 * strings are appended NUL-separated to one growing pool (`pool`) and the
 * pointers are fixed up when the row is complete, because the pool may move
 * while it grows.
 */
#include "dataset.h"
#include "ys_json.h"
#include "ys_unicode.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

enum ds_format { F_TSV, F_CSV, F_JSONL, F_SQUAD, F_TEXT };

typedef struct {
    char *p;
    size_t n, cap;
} ds_buf;

struct ds_reader {
    char *path;
    enum ds_format fmt;
    FILE *f;
    bool skip_bad;
    bool split_headings; /* text: cut at " = Title = " lines */

    /* The current physical line, terminator removed; eol is what ended it
     * ("\n", "\r\n", "\r" or "" at the end of the file). */
    char *line;
    size_t line_cap, len;
    const char *eol;
    long lineno;
    bool eof;

    /* tsv/csv column names; NULL until the header or first row fixes them. */
    char **names;
    size_t nnames;

    /* The row being built: its strings in pool, their start offsets in offs. */
    ds_buf pool;
    size_t *offs;
    size_t noffs, offs_cap;
    const char **nptr, **vptr;
    size_t ptr_cap;
    long row_line;

    size_t index, skipped;
    int failed; /* sticky error code, with its message */
    char failmsg[sizeof(((ys_error *)0)->msg)];

    /* text */
    ds_buf doc, out;
    long doc_line;
    bool done;

    /* squad-json: the whole tree and a cursor over article/paragraph/qa. */
    cJSON *root;
    const cJSON *art, *para, *qa;
    const char *title, *context;
    bool art_open;
    size_t ia, ip, iq;
};

static const char *const k_squad_names[] = {"id",      "title",   "context",
                                            "question", "answers", "answer_start"};
static const char *const k_text_names[] = {"text"};

/* ---- small helpers -------------------------------------------------- */

static int nomem(ds_reader *r, ys_error *err)
{
    return ys_fail(err, YS_ENOMEM, "%s: out of memory", r->path);
}

static int buf_add(ds_buf *b, const char *s, size_t n)
{
    /* Keep one spare byte so the content can always be NUL-terminated. */
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n\f\v", s[i]))
            return false;
    return true;
}

/* 1-based line and column of byte offset off in a whole-file buffer. */
static void line_col(const char *s, size_t off, long *line, size_t *col)
{
    long l = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n')
            l++, start = i + 1;
    *line = l;
    *col = off - start + 1;
}

/* ---- physical lines ------------------------------------------------- */

/* Read the next line into r->line: 1 when read, 0 at the end, negative on
 * error. Columns in messages are 1-based byte columns of the line as written
 * in the file (so they count a BOM on line 1). */
static int next_line(ds_reader *r, ys_error *err)
{
    if (r->eof)
        return 0;
    errno = 0;
    ssize_t got = getline(&r->line, &r->line_cap, r->f);
    if (got < 0) {
        if (ferror(r->f))
            return ys_fail(err, YS_EIO, "%s: read error: %s", r->path,
                           strerror(errno ? errno : EIO));
        r->eof = true;
        r->len = 0;
        r->eol = "";
        return 0;
    }
    r->lineno++;
    char *s = r->line;
    size_t n = (size_t)got;
    const char *z = memchr(s, 0, n);
    if (z)
        return ys_fail(err, YS_EINPUT, "%s:%ld: NUL byte at column %zu", r->path, r->lineno,
                       (size_t)(z - s) + 1);
    size_t bad = uni_invalid_at(s, n);
    if (bad != SIZE_MAX)
        return ys_fail(err, YS_EINPUT, "%s:%ld: invalid UTF-8 at column %zu (byte 0x%02X)",
                       r->path, r->lineno, bad + 1, (unsigned)(unsigned char)s[bad]);
    if (r->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        memmove(s, s + 3, n - 3 + 1);
        n -= 3;
    }
    r->eol = "";
    if (n && s[n - 1] == '\n') {
        n--;
        r->eol = "\n";
        if (n && s[n - 1] == '\r')
            n--, r->eol = "\r\n";
    } else if (n && s[n - 1] == '\r') {
        n--, r->eol = "\r"; /* last line of the file ending in a lone CR */
    }
    s[n] = 0;
    r->len = n;
    return 1;
}

/* ---- row assembly --------------------------------------------------- */

static void row_reset(ds_reader *r)
{
    r->pool.n = 0;
    r->noffs = 0;
}

/* Start a new string in the pool. */
static int str_begin(ds_reader *r)
{
    if (r->noffs == r->offs_cap) {
        size_t cap = r->offs_cap ? r->offs_cap * 2 : 16;
        size_t *o = realloc(r->offs, cap * sizeof *o);
        if (!o)
            return -1;
        r->offs = o;
        r->offs_cap = cap;
    }
    r->offs[r->noffs++] = r->pool.n;
    return 0;
}

/* End the current string (its terminating NUL becomes part of the pool). */
static int str_end(ds_reader *r)
{
    if (buf_add(&r->pool, "", 0) < 0)
        return -1;
    r->pool.n++; /* keep the NUL buf_add wrote */
    return 0;
}

static int str_add(ds_reader *r, const char *s, size_t n)
{
    if (str_begin(r) < 0 || buf_add(&r->pool, s, n) < 0 || str_end(r) < 0)
        return -1;
    return 0;
}

static int ensure_ptrs(ds_reader *r, size_t n)
{
    if (n <= r->ptr_cap)
        return 0;
    size_t cap = r->ptr_cap ? r->ptr_cap : 16;
    while (cap < n)
        cap *= 2;
    const char **a = realloc(r->nptr, cap * sizeof *a);
    if (!a)
        return -1;
    r->nptr = a;
    const char **b = realloc(r->vptr, cap * sizeof *b);
    if (!b)
        return -1;
    r->vptr = b;
    r->ptr_cap = cap;
    return 0;
}

/* Fill *row from the pool. names == NULL means the pool alternates
 * name, value (JSON Lines); otherwise the pool holds only the values. */
static int emit(ds_reader *r, ds_row *row, const char *const *names, ys_error *err)
{
    size_t nf = names ? r->noffs : r->noffs / 2;
    if (ensure_ptrs(r, nf ? nf : 1) < 0)
        return nomem(r, err);
    for (size_t i = 0; i < nf; i++) {
        if (names) {
            r->nptr[i] = names[i];
            r->vptr[i] = r->pool.p + r->offs[i];
        } else {
            r->nptr[i] = r->pool.p + r->offs[2 * i];
            r->vptr[i] = r->pool.p + r->offs[2 * i + 1];
        }
    }
    row->index = r->index++;
    row->line = r->row_line;
    row->nfields = nf;
    row->names = r->nptr;
    row->values = r->vptr;
    return 1;
}

/* ---- tsv / csv ------------------------------------------------------ */

/* TSV: every TAB separates two fields; quotes mean nothing. */
static int split_tsv(ds_reader *r, ys_error *err)
{
    const char *s = r->line;
    size_t start = 0;
    for (size_t i = 0; i <= r->len; i++) {
        if (i == r->len || s[i] == '\t') {
            if (str_add(r, s + start, i - start) < 0)
                return nomem(r, err);
            start = i + 1;
        }
    }
    r->row_line = r->lineno;
    return 0;
}

/* CSV: one record, which may continue over several lines inside quotes. */
static int parse_csv(ds_reader *r, ys_error *err)
{
    r->row_line = r->lineno;
    size_t pos = 0;
    for (;;) {
        size_t column = r->noffs + 1;
        if (str_begin(r) < 0)
            return nomem(r, err);
        if (pos < r->len && r->line[pos] == '"') {
            long open_line = r->lineno;
            pos++;
            for (;;) {
                const char *q = memchr(r->line + pos, '"', r->len - pos);
                if (!q) {
                    /* The field goes on past this line: keep the line break
                     * exactly as written, as Python's csv does. */
                    if (buf_add(&r->pool, r->line + pos, r->len - pos) < 0 ||
                        buf_add(&r->pool, r->eol, strlen(r->eol)) < 0)
                        return nomem(r, err);
                    int rc = next_line(r, err);
                    if (rc < 0)
                        return rc;
                    if (rc == 0)
                        return ys_fail(err, YS_EINPUT,
                                       "%s:%ld: column %zu: quoted field is never closed",
                                       r->path, open_line, column);
                    pos = 0;
                    continue;
                }
                size_t qi = (size_t)(q - r->line);
                if (buf_add(&r->pool, r->line + pos, qi - pos) < 0)
                    return nomem(r, err);
                if (qi + 1 < r->len && r->line[qi + 1] == '"') {
                    if (buf_add(&r->pool, "\"", 1) < 0)
                        return nomem(r, err);
                    pos = qi + 2;
                    continue;
                }
                pos = qi + 1;
                break;
            }
            if (pos < r->len && r->line[pos] != ',')
                return ys_fail(err, YS_EINPUT,
                               "%s:%ld: column %zu: unexpected character after closing quote",
                               r->path, r->lineno, column);
        } else {
            /* Unquoted: up to the next comma; a '"' here is literal. */
            const char *c = memchr(r->line + pos, ',', r->len - pos);
            size_t end = c ? (size_t)(c - r->line) : r->len;
            if (buf_add(&r->pool, r->line + pos, end - pos) < 0)
                return nomem(r, err);
            pos = end;
        }
        if (str_end(r) < 0)
            return nomem(r, err);
        if (pos >= r->len)
            return 0;
        pos++; /* the comma */
    }
}

/* Read the next non-blank record into the pool: 1, 0 at the end, or < 0. */
static int next_record(ds_reader *r, ys_error *err)
{
    for (;;) {
        int rc = next_line(r, err);
        if (rc <= 0)
            return rc;
        if (r->len == 0)
            continue;
        row_reset(r);
        rc = r->fmt == F_TSV ? split_tsv(r, err) : parse_csv(r, err);
        return rc < 0 ? rc : 1;
    }
}

static int set_names(ds_reader *r, char *const *src, size_t n, bool index_names)
{
    r->names = calloc(n ? n : 1, sizeof *r->names);
    if (!r->names)
        return -1;
    r->nnames = n;
    for (size_t i = 0; i < n; i++) {
        char num[32];
        if (index_names)
            snprintf(num, sizeof num, "%zu", i);
        r->names[i] = strdup(index_names ? num : src[i]);
        if (!r->names[i])
            return -1;
    }
    return 0;
}

static int next_delimited(ds_reader *r, ds_row *row, ys_error *err)
{
    for (;;) {
        int rc = next_record(r, err);
        if (rc <= 0)
            return rc;
        if (!r->names && set_names(r, NULL, r->noffs, true) < 0)
            return nomem(r, err);
        if (r->noffs != r->nnames) {
            if (r->skip_bad) {
                r->skipped++;
                continue;
            }
            return ys_fail(err, YS_EINPUT, "%s:%ld: expected %zu columns, found %zu", r->path,
                           r->row_line, r->nnames, r->noffs);
        }
        return emit(r, row, (const char *const *)r->names, err);
    }
}

/* Header line (if any) and caller-given names. */
static int open_delimited(ds_reader *r, const ds_options *o, ys_error *err)
{
    if (o->header) {
        int rc = next_record(r, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 0; /* empty file: no header, no rows */
        if (o->columns && r->noffs != o->ncolumns)
            return ys_fail(err, YS_EINPUT,
                           "%s:%ld: header has %zu columns but %zu column names were given",
                           r->path, r->row_line, r->noffs, o->ncolumns);
        if (!o->columns) {
            char **hdr = malloc((r->noffs ? r->noffs : 1) * sizeof *hdr);
            if (!hdr)
                return nomem(r, err);
            for (size_t i = 0; i < r->noffs; i++)
                hdr[i] = r->pool.p + r->offs[i];
            int bad = set_names(r, hdr, r->noffs, false);
            free(hdr);
            if (bad < 0)
                return nomem(r, err);
        }
    }
    if (o->columns && set_names(r, (char *const *)o->columns, o->ncolumns, false) < 0)
        return nomem(r, err);
    return 0;
}

/* ---- jsonl ---------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t i)
{
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    return i;
}

/* s[i] is the opening '"'; return the offset just past the closing one. The
 * scan matches cJSON's own (a backslash always takes the next byte along),
 * and the line is known to be valid, so it cannot run off the end. */
static size_t skip_string(const char *s, size_t i)
{
    for (i++; s[i] && s[i] != '"'; i++)
        if (s[i] == '\\' && s[i + 1])
            i++;
    return s[i] ? i + 1 : i;
}

/* End offset of the JSON value starting at s[i]. */
static size_t skip_value(const char *s, size_t i)
{
    if (s[i] == '"')
        return skip_string(s, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (s[i]) {
            if (s[i] == '"') {
                i = skip_string(s, i);
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if (s[i] == '}' || s[i] == ']')
                depth--;
            i++;
            if (depth == 0)
                break;
        }
        return i;
    }
    while (s[i] && !strchr(",}] \t\r\n", s[i]))
        i++;
    return i;
}

/* Pool gets name, value pairs. cJSON gives the decoded keys and strings; for
 * every other value the raw text is cut out of the line by walking it in step
 * with cJSON's member list (same order, duplicates included), so numbers
 * come back as written instead of as cJSON would re-print them. */
static int jsonl_fields(ds_reader *r, const cJSON *obj, ys_error *err)
{
    const char *s = r->line;
    size_t i = skip_ws(s, 0) + 1; /* past '{' */
    row_reset(r);
    for (const cJSON *c = obj->child; c; c = c->next) {
        i = skip_ws(s, i);
        if (s[i] == ',')
            i = skip_ws(s, i + 1);
        i = skip_string(s, i);       /* the key */
        i = skip_ws(s, i) + 1;       /* ':' */
        i = skip_ws(s, i);
        size_t v0 = i;
        i = skip_value(s, i);
        int bad = str_add(r, c->string, strlen(c->string));
        if (!bad)
            bad = cJSON_IsString(c) ? str_add(r, c->valuestring, strlen(c->valuestring))
                                    : str_add(r, s + v0, i - v0);
        if (bad)
            return nomem(r, err);
    }
    r->row_line = r->lineno;
    return 0;
}

static int next_jsonl(ds_reader *r, ds_row *row, ys_error *err)
{
    for (;;) {
        int rc = next_line(r, err);
        if (rc <= 0)
            return rc;
        /* blank means JSON white space only: a line of \f or \v is a
         * control character outside a string, refused below */
        if (r->len == strspn(r->line, " \t\r\n"))
            continue;
        /* the one strict grammar (ys_json.h): the walk in jsonl_fields
         * reads the line by the same rules cJSON then parses it with.
         * Checked, not ys_json_parse: the walk needs every member, repeats
         * included, in step with the text (the row keeps the last). */
        cJSON *obj = NULL;
        rc = ys_json_check(r->line, r->len, r->path, r->lineno, err);
        if (rc == 0 && !(obj = cJSON_ParseWithLength(r->line, r->len)))
            return nomem(r, err);
        if (!cJSON_IsObject(obj)) {
            if (r->skip_bad) {
                cJSON_Delete(obj);
                r->skipped++;
                continue;
            }
            if (!obj)
                return rc;
            const char *kind = ys_json_kind(obj);
            cJSON_Delete(obj);
            return ys_fail(err, YS_EINPUT, "%s:%ld: expected a JSON object, found %s", r->path,
                           r->lineno, kind);
        }
        rc = jsonl_fields(r, obj, err);
        cJSON_Delete(obj);
        if (rc < 0)
            return rc;
        return emit(r, row, NULL, err);
    }
}

/* ---- squad-json ----------------------------------------------------- */

static int open_squad(ds_reader *r, ys_error *err)
{
    ds_buf all = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, r->f)) > 0)
        if (buf_add(&all, chunk, got) < 0) {
            free(all.p);
            return nomem(r, err);
        }
    if (ferror(r->f)) {
        free(all.p);
        return ys_fail(err, YS_EIO, "%s: read error", r->path);
    }
    if (!all.p && buf_add(&all, "", 0) < 0)
        return nomem(r, err);

    int rc = 0;
    long line;
    size_t col;
    const char *z = memchr(all.p, 0, all.n);
    size_t bad = uni_invalid_at(all.p, all.n);
    if (z) {
        line_col(all.p, (size_t)(z - all.p), &line, &col);
        rc = ys_fail(err, YS_EINPUT, "%s:%ld: NUL byte at column %zu", r->path, line, col);
    } else if (bad != SIZE_MAX) {
        line_col(all.p, bad, &line, &col);
        rc = ys_fail(err, YS_EINPUT, "%s:%ld: invalid UTF-8 at column %zu (byte 0x%02X)", r->path,
                     line, col, (unsigned)(unsigned char)all.p[bad]);
    } else {
        /* a byte-order mark is allowed before SQuAD's JSON (it is not JSON) */
        size_t skip = all.n >= 3 && memcmp(all.p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        rc = ys_json_parse(all.p + skip, all.n - skip, r->path, 1, &r->root, err);
    }
    free(all.p);
    if (rc < 0)
        return rc;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(r->root, "data");
    if (!cJSON_IsArray(data))
        return ys_fail(err, YS_EINPUT, "%s: field 'data' missing or not an array (not SQuAD JSON)",
                       r->path);
    r->art = data->child;
    return 0;
}

/* Member `key` of obj when it has the JSON type `want`, else an error naming
 * the JSON path of obj. */
static int squad_get(ds_reader *r, const cJSON *obj, const char *key, int want,
                     const cJSON **out, const char *where, ys_error *err)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v || (v->type & 0xFF) != want)
        return ys_fail(err, YS_EINPUT, "%s: %s: field '%s' missing or not %s", r->path, where, key,
                       want == cJSON_String  ? "a string"
                       : want == cJSON_Array ? "an array"
                                             : "a number");
    *out = v;
    return 0;
}

static int enter_article(ds_reader *r, ys_error *err)
{
    char where[96];
    snprintf(where, sizeof where, "data[%zu]", r->ia);
    const cJSON *title = NULL, *paras = NULL;
    int rc = squad_get(r, r->art, "title", cJSON_String, &title, where, err);
    if (!rc)
        rc = squad_get(r, r->art, "paragraphs", cJSON_Array, &paras, where, err);
    if (rc)
        return rc;
    r->title = title->valuestring;
    r->para = paras->child;
    r->ip = 0;
    r->art_open = true;
    return 0;
}

static int enter_paragraph(ds_reader *r, ys_error *err)
{
    char where[96];
    snprintf(where, sizeof where, "data[%zu].paragraphs[%zu]", r->ia, r->ip);
    const cJSON *ctx = NULL, *qas = NULL;
    int rc = squad_get(r, r->para, "context", cJSON_String, &ctx, where, err);
    if (!rc)
        rc = squad_get(r, r->para, "qas", cJSON_Array, &qas, where, err);
    if (rc)
        return rc;
    r->context = ctx->valuestring;
    r->qa = qas->child;
    r->iq = 0;
    return 0;
}

/* Append `arr` printed compactly by cJSON to the pool as one string. */
static int add_printed(ds_reader *r, cJSON *arr, ys_error *err)
{
    char *txt = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    int bad = !txt || str_add(r, txt, strlen(txt)) < 0;
    free(txt);
    return bad ? nomem(r, err) : 0;
}

static int emit_question(ds_reader *r, ds_row *row, ys_error *err)
{
    char where[128];
    snprintf(where, sizeof where, "data[%zu].paragraphs[%zu].qas[%zu]", r->ia, r->ip, r->iq);
    const cJSON *q = r->qa;
    const cJSON *id = NULL, *question = NULL, *answers = NULL;
    int rc = squad_get(r, q, "id", cJSON_String, &id, where, err);
    if (!rc)
        rc = squad_get(r, q, "question", cJSON_String, &question, where, err);
    if (!rc)
        rc = squad_get(r, q, "answers", cJSON_Array, &answers, where, err);
    if (rc)
        return rc;
    /* a question without answers has no reference to score against; the
     * scorer would only say "references is empty" without a place. SQuAD
     * 2.0 marks its unanswerable questions, which are let through. */
    if (!answers->child && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "is_impossible")))
        return ys_fail(err, YS_EINPUT, "%s: %s.answers: field 'answers' is empty (a question needs at least one answer)",
                       r->path, where);
    cJSON *texts = cJSON_CreateArray(), *starts = cJSON_CreateArray();
    size_t k = 0;
    for (const cJSON *a = answers->child; a; a = a->next, k++) {
        char aw[160];
        snprintf(aw, sizeof aw, "%s.answers[%zu]", where, k);
        const cJSON *text = NULL, *start = NULL;
        rc = squad_get(r, a, "text", cJSON_String, &text, aw, err);
        if (!rc)
            rc = squad_get(r, a, "answer_start", cJSON_Number, &start, aw, err);
        if (rc) {
            cJSON_Delete(texts);
            cJSON_Delete(starts);
            return rc;
        }
        if (texts)
            cJSON_AddItemToArray(texts, cJSON_CreateString(text->valuestring));
        if (starts)
            cJSON_AddItemToArray(starts, cJSON_CreateNumber(start->valuedouble));
    }
    row_reset(r);
    if (str_add(r, id->valuestring, strlen(id->valuestring)) < 0 ||
        str_add(r, r->title, strlen(r->title)) < 0 ||
        str_add(r, r->context, strlen(r->context)) < 0 ||
        str_add(r, question->valuestring, strlen(question->valuestring)) < 0) {
        cJSON_Delete(texts);
        cJSON_Delete(starts);
        return nomem(r, err);
    }
    if ((rc = add_printed(r, texts, err)) < 0) {
        cJSON_Delete(starts);
        return rc;
    }
    if ((rc = add_printed(r, starts, err)) < 0)
        return rc;
    r->qa = q->next;
    r->iq++;
    r->row_line = 0;
    return emit(r, row, k_squad_names, err);
}

/* Walk article → paragraph → question, entering each level lazily so that
 * empty articles and paragraphs are passed over. */
static int next_squad(ds_reader *r, ds_row *row, ys_error *err)
{
    for (;;) {
        if (r->qa)
            return emit_question(r, row, err);
        if (r->para) { /* this paragraph is done */
            r->para = r->para->next;
            r->ip++;
            if (r->para) {
                int rc = enter_paragraph(r, err);
                if (rc < 0)
                    return rc;
                continue;
            }
        }
        if (r->art_open) { /* this article is done */
            r->art = r->art->next;
            r->ia++;
            r->art_open = false;
        }
        if (!r->art)
            return 0;
        int rc = enter_article(r, err);
        if (rc == 0 && r->para)
            rc = enter_paragraph(r, err);
        if (rc < 0)
            return rc;
    }
}

/* ---- text ----------------------------------------------------------- */

/* " = Title = ": exactly one '=' on each side, so " = = Section = = " (a
 * subsection) and content lines that merely start with " = " do not count. */
static bool is_heading(const char *s, size_t n)
{
    return n >= 7 && memcmp(s, " = ", 3) == 0 && memcmp(s + n - 3, " = ", 3) == 0 &&
           s[3] != '=' && s[n - 4] != '=';
}

static int doc_add_line(ds_reader *r, ys_error *err)
{
    if (r->doc.n == 0)
        r->doc_line = r->lineno;
    if (buf_add(&r->doc, r->line, r->len) < 0 || (*r->eol && buf_add(&r->doc, "\n", 1) < 0))
        return nomem(r, err);
    return 0;
}

/* Hand out the finished document in r->out (0 when it is only white space).
 * The row points straight at r->out, which stays put until the next call. */
static int emit_doc(ds_reader *r, ds_row *row, long line, ys_error *err)
{
    if (r->out.n == 0 || is_blank(r->out.p, r->out.n))
        return 0;
    if (ensure_ptrs(r, 1) < 0)
        return nomem(r, err);
    r->nptr[0] = k_text_names[0];
    r->vptr[0] = r->out.p; /* buf_add keeps it NUL-terminated */
    row->index = r->index++;
    row->line = line;
    row->nfields = 1;
    row->names = r->nptr;
    row->values = r->vptr;
    return 1;
}

static int next_text(ds_reader *r, ds_row *row, ys_error *err)
{
    for (;;) {
        int rc = next_line(r, err);
        if (rc < 0)
            return rc;
        if (rc == 0 || (r->split_headings && r->doc.n > 0 && is_heading(r->line, r->len))) {
            if (rc == 0 && r->done)
                return 0;
            /* Swap the finished document out so the heading can start the
             * next one while the row still points at the old text. */
            ds_buf t = r->out;
            r->out = r->doc;
            r->doc = t;
            r->doc.n = 0;
            long line = r->doc_line;
            if (rc == 0)
                r->done = true;
            else if ((rc = doc_add_line(r, err)) < 0)
                return rc;
            rc = emit_doc(r, row, line, err);
            if (rc != 0 || r->done)
                return rc;
            continue;
        }
        if ((rc = doc_add_line(r, err)) < 0)
            return rc;
    }
}

/* ---- public API ----------------------------------------------------- */

int ds_open(const char *path, const ds_options *o, ds_reader **out, ys_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !o || !out || !o->format)
        return ys_fail(err, YS_EUSAGE, "ds_open: path, options, format and out are required");
    static const struct {
        const char *name;
        enum ds_format fmt;
    } formats[] = {{"tsv", F_TSV},
                   {"csv", F_CSV},
                   {"jsonl", F_JSONL},
                   {"squad-json", F_SQUAD},
                   {"text", F_TEXT}};
    size_t k = 0, nformats = sizeof formats / sizeof formats[0];
    while (k < nformats && strcmp(formats[k].name, o->format) != 0)
        k++;
    if (k == nformats)
        return ys_fail(err, YS_EUSAGE,
                       "%s: unknown dataset format '%s' (expected tsv, csv, jsonl, squad-json "
                       "or text)",
                       path, o->format);
    enum ds_format fmt = formats[k].fmt;
    bool delimited = fmt == F_TSV || fmt == F_CSV;
    /* Options that a format would silently ignore are refused, so that a
     * mistake in a task spec shows up at once. */
    if (!delimited && (o->header || o->columns || o->ncolumns))
        return ys_fail(err, YS_EUSAGE, "%s: header and columns apply only to tsv and csv", path);
    if ((o->ncolumns > 0) != (o->columns != NULL))
        return ys_fail(err, YS_EUSAGE, "%s: columns and ncolumns must be given together", path);
    for (size_t i = 0; i < o->ncolumns; i++)
        if (!o->columns[i])
            return ys_fail(err, YS_EUSAGE, "%s: column name %zu is NULL", path, i);
    if (o->text_split && fmt != F_TEXT)
        return ys_fail(err, YS_EUSAGE, "%s: text_split applies only to text", path);
    bool headings = true;
    if (o->text_split) {
        if (strcmp(o->text_split, "none") == 0)
            headings = false;
        else if (strcmp(o->text_split, "headings") != 0)
            return ys_fail(err, YS_EUSAGE,
                           "%s: unknown text_split '%s' (expected headings or none)", path,
                           o->text_split);
    }
    if (o->skip_bad_rows && !(delimited || fmt == F_JSONL))
        return ys_fail(err, YS_EUSAGE, "%s: skip_bad_rows applies only to tsv, csv and jsonl",
                       path);

    ds_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return ys_fail(err, YS_ENOMEM, "%s: out of memory", path);
    }
    r->fmt = fmt;
    r->skip_bad = o->skip_bad_rows;
    r->split_headings = headings;
    r->eol = "";
    r->f = fopen(path, "rb");
    if (!r->f) {
        int e = errno;
        ds_close(r);
        return ys_fail(err, YS_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    int rc = 0;
    if (delimited)
        rc = open_delimited(r, o, err);
    else if (fmt == F_SQUAD)
        rc = open_squad(r, err);
    if (rc < 0) {
        ds_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int ds_next(ds_reader *r, ds_row *row, ys_error *err)
{
    if (!r || !row)
        return ys_fail(err, YS_EUSAGE, "ds_next: reader and row are required");
    if (r->failed) {
        if (err) {
            err->code = r->failed;
            memcpy(err->msg, r->failmsg, sizeof err->msg);
        }
        return r->failed;
    }
    ys_error local = {0};
    int rc;
    switch (r->fmt) {
    case F_TSV:
    case F_CSV:
        rc = next_delimited(r, row, &local);
        break;
    case F_JSONL:
        rc = next_jsonl(r, row, &local);
        break;
    case F_SQUAD:
        rc = next_squad(r, row, &local);
        break;
    default:
        rc = next_text(r, row, &local);
        break;
    }
    if (rc < 0) {
        r->failed = rc;
        memcpy(r->failmsg, local.msg, sizeof r->failmsg);
        if (err)
            *err = local;
    }
    return rc;
}

const char *ds_field(const ds_row *row, const char *name)
{
    if (!row || !name)
        return NULL;
    for (size_t i = row->nfields; i-- > 0;)
        if (strcmp(row->names[i], name) == 0)
            return row->values[i];
    return NULL;
}

size_t ds_skipped(const ds_reader *r)
{
    return r ? r->skipped : 0;
}

void ds_close(ds_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    for (size_t i = 0; r->names && i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    free(r->line);
    free(r->pool.p);
    free(r->offs);
    free(r->nptr);
    free(r->vptr);
    free(r->doc.p);
    free(r->out.p);
    cJSON_Delete(r->root);
    free(r->path);
    free(r);
}
