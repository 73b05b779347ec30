/* yardstick tokenize — a tokenizer.json from the command line: ids and
 * pieces of a text, or a JSON Lines file of texts. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "encoder.h"
#include "model_cli.h"
#include "seq2seq.h"
#include "perplexity.h"
#include "tokenizer.h"
#include "ys_json.h"
#include "ys_unicode.h"

static const char tokenize_help[] =
    "usage: yardstick tokenize --model DIR [--json] [--no-special-tokens] (TEXT | --file F)\n"
    "       yardstick tokenize --model DIR --jsonl F\n"
    "\n"
    "Token ids and pieces of TEXT (or the whole of file F), special tokens added as\n"
    "the tokenizer's post-processor does unless --no-special-tokens. --jsonl F reads\n"
    "lines {\"text\": ..., \"add_special_tokens\": true|false} and prints one line each,\n"
    "{\"ids\": [...], \"decoded\": ...}, decoded with special tokens kept.\n";


/* print false: only check every line (so that a bad line fails before
 * anything is printed: no partial output); true: encode and print. */
static int tokenize_jsonl(const tok_tokenizer *t, const char *path, bool print, ys_error *err)
{
    char *text = cli_read_file(path, NULL, err);
    if (!text)
        return -1;
    long lineno = 0;
    int rc = 0;
    for (char *line = text; *line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (*line) {
            cJSON *o = NULL;
            rc = ys_json_parse(line, strlen(line), path, lineno, &o, err);
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(o, "text");
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "add_special_tokens");
            if (rc < 0) {
                /* err names path:line: column and what */
            } else if (!cJSON_IsObject(o) || !cJSON_IsString(tx)) {
                rc = ys_fail(err, YS_EINPUT, "%s:%ld: missing string field 'text'", path, lineno);
            } else if (sp && !cJSON_IsBool(sp)) {
                rc = ys_fail(err, YS_EINPUT, "%s:%ld: field 'add_special_tokens' is not a boolean", path, lineno);
            } else if (print) {
                int32_t *ids = NULL;
                size_t n = 0;
                char *dec = NULL;
                if ((rc = tok_encode(t, tx->valuestring, strlen(tx->valuestring), sp ? cJSON_IsTrue(sp) : true, &ids, &n,
                                     err)) == 0 &&
                    (rc = tok_decode(t, ids, n, false, &dec, err)) == 0) {
                    fputs("{\"ids\": ", stdout);
                    mc_print_ids_json(ids, n);
                    fputs(", \"decoded\": ", stdout);
                    mc_print_json_string(dec);
                    fputs("}\n", stdout);
                } else {
                    char m[sizeof err->msg];
                    snprintf(m, sizeof m, "%s", err->msg);
                    ys_fail(err, err->code, "%s:%ld: %s", path, lineno, m);
                }
                free(ids);
                free(dec);
            }
            cJSON_Delete(o);
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(text);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    model_args a;
    int rc = mc_parse_model_args("tokenize", argc, argv, tokenize_help,
                              " --model --json --file --jsonl --no-special-tokens TEXT ", &a);
    if (rc)
        return rc;
    if (!!a.text + !!a.file + !!a.jsonl != 1)
        return cli_usage_error("tokenize", "give exactly one of TEXT, --file F or --jsonl F");
    ys_error err = {0};
    tok_tokenizer *t;
    if (tok_load(a.model, &t, &err) < 0)
        return cli_fail(&err);
    if (a.jsonl) {
        rc = tokenize_jsonl(t, a.jsonl, false, &err);
        if (rc == 0)
            rc = tokenize_jsonl(t, a.jsonl, true, &err);
        tok_free(t);
        return rc < 0 ? cli_fail(&err) : EXIT_OK;
    }
    size_t len;
    char *text = a.file ? cli_read_file(a.file, &len, &err) : strdup(a.text);
    if (!text) {
        tok_free(t);
        return cli_fail(&err);
    }
    if (!a.file)
        len = strlen(text);
    int32_t *ids = NULL;
    size_t n = 0;
    /* a long text in checked pieces: tok_encode's ids in bounded scratch */
    rc = tok_encode_long(t, text, len, !a.no_special, &ids, &n, &err);
    if (rc == 0) {
        if (a.json) {
            fputs("{\"ids\": ", stdout);
            mc_print_ids_json(ids, n);
            fputs(", \"pieces\": [", stdout);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fputs(", ", stdout);
                const char *p = tok_piece(t, ids[i]);
                mc_print_json_string(p ? p : "");
            }
            fputs("]}\n", stdout);
        } else {
            for (size_t i = 0; i < n; i++) {
                const char *p = tok_piece(t, ids[i]);
                printf("%d\t%s\n", ids[i], p ? p : "");
            }
        }
    }
    free(ids);
    free(text);
    tok_free(t);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
