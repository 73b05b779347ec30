/* Dataset readers: every format quirk (BOM, CRLF, missing final newline,
 * blank lines, literal quotes in TSV, RFC 4180 quoting in CSV, raw JSON
 * scalars, SQuAD flattening, WikiText documents) and every error with its
 * exact "file:line: ..." message. Files are written into a temp dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "testsupport.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ys_dataset_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    return system(cmd);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Write n bytes (NULs allowed) to dir/name; return the path (rotating static
 * buffers, so a few can be alive at once). */
static const char *put_n(const char *name, const char *data, size_t n)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    FILE *f = fopen(buf[k], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return buf[k];
}

static const char *put(const char *name, const char *data)
{
    return put_n(name, data, strlen(data));
}

static ds_options fmt(const char *format)
{
    ds_options o = {0};
    o.format = format;
    return o;
}

static ds_reader *open_ok(const char *path, const ds_options *o)
{
    ds_reader *r = NULL;
    ys_error err = {0};
    int rc = ds_open(path, o, &r, &err);
    if (rc != 0)
        fail_msg("ds_open(%s) = %d: %s", path, rc, err.msg);
    return r;
}

static void next_ok(ds_reader *r, ds_row *row)
{
    ys_error err = {0};
    int rc = ds_next(r, row, &err);
    if (rc != 1)
        fail_msg("ds_next = %d, want a row: %s", rc, err.msg);
}

static void at_end(ds_reader *r)
{
    ds_row row;
    ys_error err = {0};
    int rc = ds_next(r, &row, &err);
    if (rc != 0)
        fail_msg("ds_next = %d, want end: %s", rc, err.msg);
    assert_int_equal(ds_next(r, &row, &err), 0); /* the end is final too */
}

static void field_is(const ds_row *row, const char *name, const char *want)
{
    const char *got = ds_field(row, name);
    if (!got)
        fail_msg("row %zu (line %ld): no field '%s'", row->index, row->line, name);
    if (strcmp(got, want) != 0)
        fail_msg("row %zu (line %ld): field '%s' = \"%s\", want \"%s\"", row->index, row->line,
                 name, got, want);
}

/* Read rows until an error; check how many came first, then the code and
 * the exact message (with "%s" standing for the file's path). */
static void expect_error(const char *path, const ds_options *o, size_t rows_before, int code,
                         const char *msg_fmt)
{
    char want[1024];
    snprintf(want, sizeof want, msg_fmt, path);
    ds_reader *r = open_ok(path, o);
    ds_row row;
    ys_error err = {0};
    size_t n = 0;
    int rc;
    while ((rc = ds_next(r, &row, &err)) == 1)
        n++;
    assert_int_equal(n, rows_before);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, want);
    /* An error is final: the next call repeats it. */
    ys_error again = {0};
    assert_int_equal(ds_next(r, &row, &again), code);
    assert_string_equal(again.msg, want);
    ds_close(r);
}

static void expect_open_error(const char *path, const ds_options *o, int code,
                              const char *msg_fmt)
{
    char want[1024];
    snprintf(want, sizeof want, msg_fmt, path);
    ds_reader *r = (ds_reader *)1;
    ys_error err = {0};
    assert_int_equal(ds_open(path, o, &r, &err), code);
    assert_null(r);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, want);
}

static size_t count_rows(const char *path, const ds_options *o)
{
    ds_reader *r = open_ok(path, o);
    ds_row row;
    ys_error err = {0};
    size_t n = 0;
    int rc;
    while ((rc = ds_next(r, &row, &err)) == 1)
        n++;
    if (rc != 0)
        fail_msg("%s: %s", path, err.msg);
    ds_close(r);
    return n;
}

/* ---- tsv ---------------------------------------------------------------- */

static void test_tsv_header_and_literal_quotes(void **state)
{
    (void)state;
    /* GLUE style: an odd number of quotes must not swallow the next lines,
     * trailing spaces stay, a trailing TAB makes an empty last field. */
    const char *p = put("a.tsv", "sentence\tlabel\n"
                                 "\" The pie business \t1\n"
                                 "it 's \"quoted\" \t0\n"
                                 "\t\n"
                                 "x\"\t1\n");
    ds_options o = fmt("tsv");
    o.header = true;
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(row.index, 0);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.nfields, 2);
    assert_string_equal(row.names[0], "sentence");
    assert_string_equal(row.names[1], "label");
    field_is(&row, "sentence", "\" The pie business ");
    field_is(&row, "label", "1");
    assert_null(ds_field(&row, "Label"));
    assert_null(ds_field(&row, "missing"));
    next_ok(r, &row);
    assert_int_equal(row.line, 3);
    field_is(&row, "sentence", "it 's \"quoted\" ");
    next_ok(r, &row);
    assert_int_equal(row.line, 4);
    field_is(&row, "sentence", "");
    field_is(&row, "label", "");
    next_ok(r, &row);
    assert_int_equal(row.index, 3);
    assert_int_equal(row.line, 5);
    field_is(&row, "sentence", "x\"");
    at_end(r);
    assert_int_equal(ds_skipped(r), 0);
    ds_close(r);
}

static void test_tsv_bom_crlf_no_final_newline_blank_lines(void **state)
{
    (void)state;
    /* MRPC: BOM before the first header name, label first. */
    const char *p = put("bom.tsv", "\xEF\xBB\xBFQuality\t#1 ID\t#2 String\r\n"
                                   "1\t702876\tHe said \" hello\r\n"
                                   "\r\n"
                                   "0\t2108705\tcaf\xC3\xA9 \xEF\xBB\xBF" "inside");
    ds_options o = fmt("tsv");
    o.header = true;
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_string_equal(row.names[0], "Quality"); /* no BOM in the name */
    field_is(&row, "Quality", "1");
    field_is(&row, "#2 String", "He said \" hello"); /* no CR left */
    next_ok(r, &row);
    assert_int_equal(row.line, 4); /* the blank line 3 is skipped */
    assert_int_equal(row.index, 1);
    /* A BOM that is not at the start of the file is data. */
    field_is(&row, "#2 String", "caf\xC3\xA9 \xEF\xBB\xBFinside");
    at_end(r);
    ds_close(r);

    /* Blank lines at the end (with or without CR) are ignored. */
    p = put("trail.tsv", "a\tb\n1\t2\n\n\r\n\n");
    assert_int_equal(count_rows(p, &o), 1);
    /* A file that is only a BOM, or empty, has no rows. */
    p = put("onlybom.tsv", "\xEF\xBB\xBF");
    assert_int_equal(count_rows(p, &o), 0);
    p = put("empty.tsv", "");
    assert_int_equal(count_rows(p, &o), 0);
    /* Header only. */
    p = put("hdr.tsv", "a\tb");
    assert_int_equal(count_rows(p, &o), 0);
}

static void test_tsv_without_header(void **state)
{
    (void)state;
    /* CoLA: no header, 4 columns, empty third column, no final newline. */
    const char *text = "gj04\t1\t\tOur friends won't buy this analysis.\n"
                       "gj04\t0\t*\tOne more pseudo generalization.";
    const char *p = put("cola.tsv", text);
    const char *cols[] = {"source", "label", "mark", "sentence"};
    ds_options o = fmt("tsv");
    o.columns = cols;
    o.ncolumns = 4;
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    field_is(&row, "mark", "");
    field_is(&row, "sentence", "Our friends won't buy this analysis.");
    next_ok(r, &row);
    assert_int_equal(row.line, 2);
    field_is(&row, "label", "0");
    field_is(&row, "mark", "*");
    field_is(&row, "sentence", "One more pseudo generalization.");
    at_end(r);
    ds_close(r);

    /* Without names the columns are "0", "1", ...; the first row fixes the
     * count. */
    o = fmt("tsv");
    r = open_ok(p, &o);
    next_ok(r, &row);
    assert_int_equal(row.nfields, 4);
    field_is(&row, "0", "gj04");
    field_is(&row, "3", "Our friends won't buy this analysis.");
    assert_null(ds_field(&row, "4"));
    next_ok(r, &row);
    at_end(r);
    ds_close(r);
}

static void test_tsv_header_renamed_by_columns(void **state)
{
    (void)state;
    const char *p = put("ren.tsv", "#1 ID\t#2 ID\n1\t2\n");
    const char *cols[] = {"id1", "id2"};
    ds_options o = fmt("tsv");
    o.header = true;
    o.columns = cols;
    o.ncolumns = 2;
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    field_is(&row, "id2", "2");
    assert_null(ds_field(&row, "#2 ID"));
    at_end(r);
    ds_close(r);

    const char *three[] = {"a", "b", "c"};
    o.columns = three;
    o.ncolumns = 3;
    expect_open_error(p, &o, YS_EINPUT, "%s:1: header has 2 columns but 3 column names were given");
}

static void test_tsv_wrong_column_count(void **state)
{
    (void)state;
    const char *p = put("bad.tsv", "a\tb\n1\t2\n\n1\t2\t3\n4\t5\n");
    ds_options o = fmt("tsv");
    o.header = true;
    expect_error(p, &o, 1, YS_EINPUT, "%s:4: expected 2 columns, found 3");

    p = put("bad2.tsv", "a\tb\n1\t2\nonly\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:3: expected 2 columns, found 1");

    /* Without a header the first row fixes the count. */
    o = fmt("tsv");
    p = put("bad3.tsv", "1\t2\t3\n4\t5\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:2: expected 3 columns, found 2");

    const char *cols[] = {"x", "y"};
    o.columns = cols;
    o.ncolumns = 2;
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: expected 2 columns, found 3");
}

static void test_tsv_skip_bad_rows(void **state)
{
    (void)state;
    const char *p = put("skip.tsv", "a\tb\n1\t2\n1\t2\t3\nx\n3\t4\n");
    ds_options o = fmt("tsv");
    o.header = true;
    o.skip_bad_rows = true;
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(row.index, 0);
    field_is(&row, "a", "1");
    next_ok(r, &row);
    assert_int_equal(row.index, 1); /* indexes stay dense */
    assert_int_equal(row.line, 5);  /* lines stay true */
    field_is(&row, "b", "4");
    at_end(r);
    assert_int_equal(ds_skipped(r), 2);
    ds_close(r);
}

/* ---- csv ---------------------------------------------------------------- */

static void test_csv_quoting(void **state)
{
    (void)state;
    const char *p = put("q.csv", "id,text,label\r\n"
                                 "1,\"a, b\",x\r\n"
                                 "2,\"say \"\"hi\"\"\",\"\"\r\n"
                                 "3,\"two\r\nlines\n and three\",y\r\n"
                                 "4,5\" tall,\r\n"
                                 "5,,\"last\"");
    ds_options o = fmt("csv");
    o.header = true;
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(row.line, 2);
    field_is(&row, "text", "a, b");
    field_is(&row, "label", "x");
    next_ok(r, &row);
    field_is(&row, "text", "say \"hi\"");
    field_is(&row, "label", "");
    next_ok(r, &row);
    assert_int_equal(row.line, 4); /* where the record starts */
    /* Line breaks inside quotes are kept exactly as written. */
    field_is(&row, "text", "two\r\nlines\n and three");
    field_is(&row, "label", "y");
    next_ok(r, &row);
    assert_int_equal(row.line, 7);
    field_is(&row, "text", "5\" tall"); /* a quote inside an unquoted field is literal */
    field_is(&row, "label", "");        /* trailing comma: empty last field */
    next_ok(r, &row);
    assert_int_equal(row.line, 8);
    field_is(&row, "text", "");
    field_is(&row, "label", "last");
    at_end(r);
    ds_close(r);

    /* Without a header; a BOM before a quoted first field. */
    p = put("nohdr.csv", "\xEF\xBB\xBF\"a\",b\n\nc,\"d\"\n");
    o = fmt("csv");
    r = open_ok(p, &o);
    next_ok(r, &row);
    field_is(&row, "0", "a");
    field_is(&row, "1", "b");
    next_ok(r, &row);
    assert_int_equal(row.line, 3);
    field_is(&row, "1", "d");
    at_end(r);
    ds_close(r);
}

static void test_csv_errors(void **state)
{
    (void)state;
    ds_options o = fmt("csv");
    o.header = true;
    const char *p = put("open.csv", "a,b\n1,2\n3,\"never\nclosed\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:3: column 2: quoted field is never closed");

    p = put("after.csv", "a,b\n\"x\"y,2\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:2: column 1: unexpected character after closing quote");

    /* The column count is checked per record, naming the record's first
     * line even when it spans several. */
    p = put("count.csv", "a,b\n1,\"x\ny\",3\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:2: expected 2 columns, found 3");

    /* A header problem surfaces at open. */
    p = put("hdr.csv", "\"a,b\n");
    expect_open_error(p, &o, YS_EINPUT, "%s:1: column 1: quoted field is never closed");

    o.skip_bad_rows = true;
    p = put("skip.csv", "a,b\n1,2,3\n\"4\",\"5\"\n");
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    field_is(&row, "a", "4");
    at_end(r);
    assert_int_equal(ds_skipped(r), 1);
    ds_close(r);
}

/* ---- jsonl -------------------------------------------------------------- */

static void test_jsonl_values(void **state)
{
    (void)state;
    const char *p = put("v.jsonl",
                        "\xEF\xBB\xBF{\"s\": \"caf\\u00e9 \\\"q\\\" \\\\u0000\", \"i\": 1, \"f\": 1.0,"
                        " \"e\": -2.5E+3, \"t\": true, \"b\": false, \"n\": null,"
                        " \"a\": [1, \"x,}]\" , {\"k\": []}], \"o\": {\"z\": \"\\n\"},"
                        " \"u\": \"\xE2\x80\x9C\"}\r\n"
                        "\n"
                        "   \n"
                        "{\"label\":0,\"label\":\"last\",\"big\":12345678901234567890}\n"
                        "{}");
    ds_options o = fmt("jsonl");
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(row.line, 1);
    assert_int_equal(row.nfields, 10);
    assert_string_equal(row.names[0], "s");
    field_is(&row, "s", "caf\xC3\xA9 \"q\" \\u0000"); /* an escaped backslash, not NUL */
    field_is(&row, "i", "1");
    field_is(&row, "f", "1.0"); /* raw text, not cJSON's "1" */
    field_is(&row, "e", "-2.5E+3");
    field_is(&row, "t", "true");
    field_is(&row, "b", "false");
    field_is(&row, "n", "null");
    field_is(&row, "a", "[1, \"x,}]\" , {\"k\": []}]");
    field_is(&row, "o", "{\"z\": \"\\n\"}"); /* escapes kept as written */
    field_is(&row, "u", "\xE2\x80\x9C");
    next_ok(r, &row);
    assert_int_equal(row.index, 1);
    assert_int_equal(row.line, 4);
    field_is(&row, "label", "last"); /* duplicate key: the last wins, as in Python */
    field_is(&row, "big", "12345678901234567890");
    next_ok(r, &row);
    assert_int_equal(row.line, 5);
    assert_int_equal(row.nfields, 0);
    at_end(r);
    ds_close(r);
}

static void test_jsonl_errors(void **state)
{
    (void)state;
    ds_options o = fmt("jsonl");
    const char *p = put("m.jsonl", "{\"a\": 1}\n{\"a\": }\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:2: malformed JSON near column 7 (invalid value)");
    p = put("m2.jsonl", "{\"a\": 1} x\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: malformed JSON near column 10 (text after the JSON value)");
    p = put("m3.jsonl", "{\"a\": 1,\n\"b\": 2}\n"); /* one object over two lines */
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: malformed JSON near column 9 (expected a string key)");
    p = put("arr.jsonl", "{}\n\n[1, 2]\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:3: expected a JSON object, found an array");
    p = put("str.jsonl", "\"x\"\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: expected a JSON object, found a string");
    p = put("nul.jsonl", "{\"a\": \"x\\\\\\u0000\"}\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: column 11: \\u0000 (NUL) is not supported");
    /* control bytes were white space to cJSON but not to the member walk,
     * which then read past the line or shifted a field name: one strict
     * grammar refuses them where they stand */
    p = put("ctl.jsonl", "{\"a\": 1}\n{\"a\":\x01 \"x\", \"b\": \"y\"}\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:2: malformed JSON near column 6 (control character outside a string)");
    p = put("ctl2.jsonl", "{\x01\"a\": \"x\"}\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: malformed JSON near column 2 (control character outside a string)");
    p = put("ctl4.jsonl", "{\"a\": 1}\n\f\n");
    expect_error(p, &o, 1, YS_EINPUT, "%s:2: malformed JSON near column 1 (control character outside a string)");
    p = put("ctl3.jsonl", "{\"a\": \"x\"}\x1f\n");
    expect_error(p, &o, 0, YS_EINPUT, "%s:1: malformed JSON near column 11 (control character outside a string)");

    o.skip_bad_rows = true;
    p = put("skip.jsonl", "{\"a\": 1}\n{bad\n[]\n7\n{\"a\": 2}\n");
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    next_ok(r, &row);
    assert_int_equal(row.index, 1);
    assert_int_equal(row.line, 5);
    field_is(&row, "a", "2");
    at_end(r);
    assert_int_equal(ds_skipped(r), 3);
    ds_close(r);
}

/* ---- encoding errors (every line format) -------------------------------- */

static void test_invalid_utf8_and_nul(void **state)
{
    (void)state;
    ds_options tsv = fmt("tsv"), csv = fmt("csv"), jsonl = fmt("jsonl"), text = fmt("text");
    tsv.header = true;
    const char *p = put("u1.tsv", "a\tb\nok\t1\nbad\xFF\t1\n");
    expect_error(p, &tsv, 1, YS_EINPUT, "%s:3: invalid UTF-8 at column 4 (byte 0xFF)");
    /* Overlong encoding of '/'. */
    p = put("u2.tsv", "a\tb\nx\t\xC0\xAF\n");
    expect_error(p, &tsv, 0, YS_EINPUT, "%s:2: invalid UTF-8 at column 3 (byte 0xC0)");
    /* A UTF-16 surrogate encoded in UTF-8 (CESU). */
    p = put("u3.csv", "x,\xED\xA0\x80\n");
    expect_error(p, &csv, 0, YS_EINPUT, "%s:1: invalid UTF-8 at column 3 (byte 0xED)");
    /* A sequence cut short by the end of the line. */
    p = put("u4.jsonl", "{}\n{\"a\": \"\xE2\x82\"}\n");
    expect_error(p, &jsonl, 1, YS_EINPUT, "%s:2: invalid UTF-8 at column 8 (byte 0xE2)");
    /* ... and by the end of the file; above U+10FFFF. */
    p = put("u5.txt", " = A = \nx\n\xF0\x9F\x98");
    expect_error(p, &text, 0, YS_EINPUT, "%s:3: invalid UTF-8 at column 1 (byte 0xF0)");
    p = put("u6.txt", "\xF4\x90\x80\x80\n");
    expect_error(p, &text, 0, YS_EINPUT, "%s:1: invalid UTF-8 at column 1 (byte 0xF4)");
    /* A column counts the BOM bytes on line 1. */
    p = put("u7.tsv", "\xEF\xBB\xBF" "a\xFE\n");
    expect_open_error(p, &tsv, YS_EINPUT, "%s:1: invalid UTF-8 at column 5 (byte 0xFE)");
    /* Valid 2-, 3- and 4-byte sequences pass. */
    p = put("ok.tsv", "a\tb\n\xC3\xA9\t\xE2\x82\xAC\xF0\x9F\x98\x80\n");
    assert_int_equal(count_rows(p, &tsv), 1);

    p = put_n("nul.tsv", "a\tb\nx\0y\t1\n", 11);
    expect_error(p, &tsv, 0, YS_EINPUT, "%s:2: NUL byte at column 2");
    p = put_n("nul.jsonl", "{\"a\": \"\0\"}\n", 11);
    expect_error(p, &jsonl, 0, YS_EINPUT, "%s:1: NUL byte at column 8");
}

/* ---- squad-json --------------------------------------------------------- */

static const char *k_squad =
    "{\"version\": \"1.1\", \"data\": [\n"
    " {\"title\": \"Empty\", \"paragraphs\": []},\n"
    " {\"title\": \"Super_Bowl_50\", \"paragraphs\": [\n"
    "  {\"context\": \"Broncos won \\\"it\\\".\", \"qas\": []},\n"
    "  {\"context\": \"Denver Broncos beat Carolina.\", \"qas\": [\n"
    "   {\"id\": \"q1\", \"question\": \"Who won?\",\n"
    "    \"answers\": [{\"answer_start\": 0, \"text\": \"Denver Broncos\"},\n"
    "                  {\"answer_start\": 7, \"text\": \"Broncos \\\"B\\\"\"}]},\n"
    "   {\"id\": \"q2\", \"question\": \"Caf\xC3\xA9?\", \"answers\": [], \"is_impossible\": true}]}]},\n"
    " {\"title\": \"T3\", \"paragraphs\": [{\"context\": \"c\", \"qas\": [\n"
    "   {\"id\": \"q3\", \"question\": \"q?\", \"answers\": [{\"text\": \"c\", \"answer_start\": "
    "0}]}]}]}\n"
    "]}\n";

static void test_squad_flattening(void **state)
{
    (void)state;
    const char *p = put("s.json", k_squad);
    ds_options o = fmt("squad-json");
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(row.index, 0);
    assert_int_equal(row.line, 0);
    assert_int_equal(row.nfields, 6);
    field_is(&row, "id", "q1");
    field_is(&row, "title", "Super_Bowl_50");
    field_is(&row, "context", "Denver Broncos beat Carolina.");
    field_is(&row, "question", "Who won?");
    field_is(&row, "answers", "[\"Denver Broncos\",\"Broncos \\\"B\\\"\"]");
    field_is(&row, "answer_start", "[0,7]");
    next_ok(r, &row);
    field_is(&row, "id", "q2");
    field_is(&row, "question", "Caf\xC3\xA9?");
    field_is(&row, "answers", "[]");
    field_is(&row, "answer_start", "[]");
    next_ok(r, &row);
    assert_int_equal(row.index, 2);
    field_is(&row, "id", "q3");
    field_is(&row, "title", "T3");
    field_is(&row, "answers", "[\"c\"]");
    at_end(r);
    ds_close(r);

    /* A BOM and no final newline are fine; an empty data array has no rows. */
    p = put("bom.json", "\xEF\xBB\xBF{\"data\": []}");
    assert_int_equal(count_rows(p, &o), 0);
}

static void test_squad_errors(void **state)
{
    (void)state;
    ds_options o = fmt("squad-json");
    const char *p = put("nodata.json", "{\"version\": \"1.1\"}");
    expect_open_error(p, &o, YS_EINPUT,
                      "%s: field 'data' missing or not an array (not SQuAD JSON)");
    p = put("bad.json", "{\"data\": [\n{\"title\": \"x\",\n \"paragraphs\": [}\n]}\n");
    expect_open_error(p, &o, YS_EINPUT, "%s:3: malformed JSON near column 17 (invalid value)");
    p = put("utf.json", "{\"data\": [\n{\"title\": \"\xC3\x28\"}]}\n");
    expect_open_error(p, &o, YS_EINPUT, "%s:2: invalid UTF-8 at column 12 (byte 0xC3)");
    p = put("nul.json", "{\"data\": [\n\n{\"title\": \"a\\u0000\"}]}\n");
    expect_open_error(p, &o, YS_EINPUT, "%s:3: column 13: \\u0000 (NUL) is not supported");

    /* Structure errors name the JSON path, after the rows before them. */
    p = put("noq.json", "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"c\", "
                        "\"qas\": [{\"id\": \"a\", \"question\": \"q\", \"answers\": [], \"is_impossible\": true},"
                        " {\"id\": \"b\", \"answers\": []}]}]}]}");
    expect_error(p, &o, 1, YS_EINPUT,
                 "%s: data[0].paragraphs[0].qas[1]: field 'question' missing or not a string");
    /* a question without answers is an error where it stands, unless it is
     * SQuAD 2.0's unanswerable kind */
    p = put("noans.json", "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"c\", "
                          "\"qas\": [{\"id\": \"a\", \"question\": \"q\", \"answers\": []}]}]}]}");
    expect_error(p, &o, 0, YS_EINPUT,
                 "%s: data[0].paragraphs[0].qas[0].answers: field 'answers' is empty (a question needs at least one answer)");
    p = put("notitle.json", "{\"data\": [{\"paragraphs\": []}]}");
    expect_error(p, &o, 0, YS_EINPUT, "%s: data[0]: field 'title' missing or not a string");
    p = put("ctx.json", "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"qas\": []}, "
                        "{\"context\": 3, \"qas\": []}]}]}");
    expect_error(p, &o, 0, YS_EINPUT,
                 "%s: data[0].paragraphs[0]: field 'context' missing or not a string");
    p = put("ans.json", "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"c\", "
                        "\"qas\": [{\"id\": \"a\", \"question\": \"q\", \"answers\": "
                        "[{\"text\": \"c\", \"answer_start\": 0}, {\"text\": \"c\", "
                        "\"answer_start\": \"0\"}]}]}]}]}");
    expect_error(p, &o, 0, YS_EINPUT,
                 "%s: data[0].paragraphs[0].qas[0].answers[1]: field 'answer_start' missing or "
                 "not a number");
}

/* ---- text --------------------------------------------------------------- */

static void test_text_wikitext_documents(void **state)
{
    (void)state;
    const char *p = put("w.txt", " \n"
                                 " = Robert Boulter = \n"
                                 " \n"
                                 " Robert is an actor . \n"
                                 " = = Career = = \n"
                                 " = <unk> for the next round \n"
                                 " = = = 2000 = = = \n"
                                 " = National record \n"
                                 " = Du Fu = \r\n"
                                 " Du Fu was a poet . \r\n"
                                 " =  = \n"
                                 " = x =\n"
                                 " = Last = \n"
                                 " end");
    ds_options o = fmt("text");
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row); /* the blank line before the first heading is dropped */
    assert_int_equal(row.index, 0);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.nfields, 1);
    assert_string_equal(row.names[0], "text");
    field_is(&row, "text", " = Robert Boulter = \n \n Robert is an actor . \n = = Career = = \n"
                           " = <unk> for the next round \n = = = 2000 = = = \n"
                           " = National record \n");
    next_ok(r, &row);
    assert_int_equal(row.line, 9);
    /* CRLF is read as LF. " =  = " (no title) and " = x =" (no space after
     * the last '=') are not headings. */
    field_is(&row, "text", " = Du Fu = \n Du Fu was a poet . \n =  = \n = x =\n");
    next_ok(r, &row);
    assert_int_equal(row.line, 13);
    field_is(&row, "text", " = Last = \n end"); /* no final newline: none added */
    at_end(r);
    ds_close(r);

    /* A blank-only document between headings cannot happen (a heading line
     * is not blank), but a blank-only file gives no documents. */
    p = put("blank.txt", " \n\n \t\n");
    assert_int_equal(count_rows(p, &o), 0);
    p = put("empty.txt", "");
    assert_int_equal(count_rows(p, &o), 0);

    /* Text before the first heading is a document of its own. */
    p = put("pre.txt", "intro\n = A = \nbody\n");
    r = open_ok(p, &o);
    next_ok(r, &row);
    assert_int_equal(row.line, 1);
    field_is(&row, "text", "intro\n");
    next_ok(r, &row);
    field_is(&row, "text", " = A = \nbody\n");
    at_end(r);
    ds_close(r);
}

static void test_text_whole_file(void **state)
{
    (void)state;
    const char *p = put("whole.txt", "\xEF\xBB\xBF = A = \r\nx\n\n = B = \ny");
    ds_options o = fmt("text");
    o.text_split = "none";
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(row.line, 1);
    field_is(&row, "text", " = A = \nx\n\n = B = \ny");
    at_end(r);
    ds_close(r);

    o.text_split = "headings";
    assert_int_equal(count_rows(p, &o), 2);
}

/* A long line and many rows go through the same fixed buffers. */
static void test_long_lines(void **state)
{
    (void)state;
    size_t n = 300000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    memcpy(big, "{\"t\": \"", 7);
    memset(big + 7, 'x', n);
    memcpy(big + 7 + n, "\", \"k\": 2}\n", 12);
    const char *p = put("big.jsonl", big);
    ds_options o = fmt("jsonl");
    ds_reader *r = open_ok(p, &o);
    ds_row row;
    next_ok(r, &row);
    assert_int_equal(strlen(ds_field(&row, "t")), n);
    field_is(&row, "k", "2");
    at_end(r);
    ds_close(r);
    free(big);
}

/* ---- options and open errors -------------------------------------------- */

static void test_options_and_open_errors(void **state)
{
    (void)state;
    const char *p = put("o.tsv", "a\n");
    ds_options o = fmt("xml");
    expect_open_error(p, &o, YS_EUSAGE,
                      "%s: unknown dataset format 'xml' (expected tsv, csv, jsonl, squad-json or "
                      "text)");
    o = fmt("jsonl");
    o.header = true;
    expect_open_error(p, &o, YS_EUSAGE, "%s: header and columns apply only to tsv and csv");
    const char *cols[] = {"a"};
    o = fmt("tsv");
    o.columns = cols;
    expect_open_error(p, &o, YS_EUSAGE, "%s: columns and ncolumns must be given together");
    o = fmt("text");
    o.text_split = "paragraphs";
    expect_open_error(p, &o, YS_EUSAGE,
                      "%s: unknown text_split 'paragraphs' (expected headings or none)");
    o = fmt("tsv");
    o.text_split = "none";
    expect_open_error(p, &o, YS_EUSAGE, "%s: text_split applies only to text");
    o = fmt("squad-json");
    o.skip_bad_rows = true;
    expect_open_error(p, &o, YS_EUSAGE, "%s: skip_bad_rows applies only to tsv, csv and jsonl");

    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such.tsv", dir);
    o = fmt("tsv");
    expect_open_error(missing, &o, YS_EIO, "%s: cannot open: No such file or directory");
    o = fmt("squad-json");
    expect_open_error(missing, &o, YS_EIO, "%s: cannot open: No such file or directory");
    /* A directory opens but cannot be read. */
    o = fmt("tsv");
    o.header = true;
    expect_open_error(dir, &o, YS_EIO, "%s: read error: Is a directory");

    ys_error err = {0};
    ds_reader *r = NULL;
    assert_int_equal(ds_open(p, NULL, &r, &err), YS_EUSAGE);
    assert_int_equal(ds_open(p, &o, &r, NULL), 0); /* err may be NULL */
    ds_close(r);
    ds_close(NULL);
    assert_int_equal(ds_skipped(NULL), 0);
    assert_null(ds_field(NULL, "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsv_header_and_literal_quotes),
        cmocka_unit_test(test_tsv_bom_crlf_no_final_newline_blank_lines),
        cmocka_unit_test(test_tsv_without_header),
        cmocka_unit_test(test_tsv_header_renamed_by_columns),
        cmocka_unit_test(test_tsv_wrong_column_count),
        cmocka_unit_test(test_tsv_skip_bad_rows),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_jsonl_values),
        cmocka_unit_test(test_jsonl_errors),
        cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_squad_flattening),
        cmocka_unit_test(test_squad_errors),
        cmocka_unit_test(test_text_wikitext_documents),
        cmocka_unit_test(test_text_whole_file),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_options_and_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
