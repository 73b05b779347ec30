/* dataset.h — stream the rows of one evaluation data file.
 *
 * A reader opens one file in a given format and yields rows, each a list of
 * (field name, string value) pairs plus the row's 0-based index and the
 * 1-based line of the file where it starts. Files are read line by line, so
 * memory stays flat as files grow (the SQuAD JSON, a single document, is
 * parsed whole).
 *
 * Formats (ds_options.format):
 *   "tsv"   split on TAB only, no quote handling: a '"' is an ordinary
 *           character (Python csv.QUOTE_NONE, which is how GLUE is read).
 *   "csv"   RFC 4180: fields may be quoted, "" is a literal quote, quoted
 *           fields may span lines (their line breaks are kept as written).
 *           A '"' inside an unquoted field is literal (as Python's csv);
 *           text after a closing quote is an error.
 *       Both: `header` true takes names from the first line; otherwise names
 *       are `columns` or, when those are absent, "0", "1", ... . With both a
 *       header and `columns`, the header is skipped and `columns` rename it
 *       (the counts must agree). Every row must have as many fields as there
 *       are names (without either, the first row fixes the count).
 *   "jsonl" one JSON object per line. A string value is returned decoded;
 *           any other value (number, true/false/null, array, object) as its
 *           JSON text exactly as written in the file ("1.0" stays "1.0").
 *   "squad-json"  SQuAD v1.1 (data → paragraphs → qas), one row per question
 *           with fields id, title, context, question, answers (JSON array of
 *           the answer texts) and answer_start (JSON array of the offsets).
 *           Its rows have line 0: the parsed tree keeps no positions, so its
 *           errors name a JSON path (data[3].paragraphs[0].qas[2]) instead.
 *           A question with no answers is an error (…qas[2].answers) unless
 *           it says "is_impossible": true (SQuAD 2.0's unanswerable ones).
 *   JSON (jsonl, squad-json) is read with the strict grammar of ys_json.h;
 *   of keys repeated in one object the last wins, as in Python's json.
 *   "text"  one field, `text`. text_split "headings" (the default) cuts the
 *           file before every top-level WikiText heading, a line " = Title = "
 *           with exactly one '=' on each side; "none" makes the whole file one
 *           document. A document keeps its lines verbatim, each ending in
 *           "\n" (CRLF is read as LF, as Python's text mode does).
 *
 * Shared rules: a UTF-8 BOM at the start of the file is dropped; CRLF is
 * accepted; a last line without "\n" is read; blank lines are skipped
 * (Python's csv.DictReader and json-lines readers do the same) and
 * white-space-only text documents are not returned. Invalid UTF-8 and NUL
 * bytes (also "\u0000" in JSON strings) are errors naming file:line.
 *
 * Errors: ds_open and ds_next return a negative YS_E* code and fill `err`
 * (which may be NULL): YS_EUSAGE for bad options, YS_EIO when the file cannot
 * be opened or read (the message names the path), YS_ENOMEM, and YS_EINPUT
 * for bad data with a message "path:line: ...". Nothing is printed. An error
 * from ds_next is final: later calls return it again.
 *
 * skip_bad_rows: a row with the wrong number of fields (tsv, csv) or a line
 * that is not a JSON object (jsonl) is skipped and counted (ds_skipped)
 * instead of failing. Encoding errors, CSV quoting errors and SQuAD
 * structure errors always fail.
 *
 * Ownership: ds_open copies everything it needs from the options (strings
 * included). A row's names and values belong to the reader and stay valid
 * until the next ds_next or ds_close.
 */
#ifndef YS_DATASET_H
#define YS_DATASET_H

#include <stdbool.h>
#include <stddef.h>

#include "ys_error.h"

typedef struct ds_options {
    const char *format;          /* "tsv" "csv" "jsonl" "squad-json" "text" */
    bool header;                 /* tsv/csv: first line holds the names */
    const char *const *columns;  /* tsv/csv: names given by the caller */
    size_t ncolumns;
    bool skip_bad_rows;          /* count and skip malformed rows */
    const char *text_split;      /* text: "headings" (NULL) or "none" */
} ds_options;

typedef struct ds_row {
    size_t index;                /* 0-based among the rows returned */
    long line;                   /* 1-based line where the row starts; 0 for squad-json */
    size_t nfields;
    const char *const *names;
    const char *const *values;   /* NUL-terminated UTF-8, never NULL */
} ds_row;

typedef struct ds_reader ds_reader;

/* Open `path` for reading with `opts`. On success *out owns the file. */
int ds_open(const char *path, const ds_options *opts, ds_reader **out, ys_error *err);

/* 1 and *row filled when a row was read, 0 at the end, negative on error. */
int ds_next(ds_reader *r, ds_row *row, ys_error *err);

/* Value of the field `name`, or NULL when the row has none. When a name
 * repeats (a JSON object or header with a duplicate key) the last one wins,
 * as in a Python dict. */
const char *ds_field(const ds_row *row, const char *name);

/* Rows skipped so far because of skip_bad_rows. */
size_t ds_skipped(const ds_reader *r);

/* Close the file and free everything (NULL is fine). */
void ds_close(ds_reader *r);

#endif
