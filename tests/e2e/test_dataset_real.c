/* Dataset readers on the real, byte-for-byte official files in ../shared/data
 * (see its SOURCES.md): official example counts, label distributions and
 * first/last rows. Skips when ../shared or a file is absent.
 *
 * The expected values were computed with Python: csv.reader(delimiter="\t",
 * quoting=csv.QUOTE_NONE) on files opened with encoding "utf-8-sig" for the
 * TSVs, json.loads per line for SuperGLUE, json.load for XQuAD, and for
 * WikiText the splitting rule of dataset.h (a heading line " = T = " with
 * exactly one '=' each side starts a document; white-space-only documents
 * are dropped). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "testsupport.h"

static const char *data_path(const char *rel)
{
    static char buf[2][1024];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/data/%s", YS_SHARED_DIR, rel);
    return buf[k];
}

/* The path of a shared file, or skip the test when it is not there. */
static const char *need(const char *rel)
{
    struct stat st;
    const char *p = data_path(rel);
    if (!ts_have_shared() || stat(p, &st) != 0) {
        print_message("skipping: %s not present\n", p);
        skip();
    }
    return p;
}

typedef struct {
    const char *field;   /* the field whose values are tallied */
    const char *value[3];
    size_t want[3];
    size_t got[3];
} tally;

/* Read every row: check the count, tally a field's values, and keep copies of
 * a few fields of the first and last rows for the caller to check. */
typedef struct {
    size_t rows;
    long last_line;
    char first[4][512];
    char last[4][512];
} summary;

static void read_all(const char *path, const ds_options *o, const char *const keep[4],
                     tally *t, summary *s)
{
    ds_reader *r = NULL;
    ys_error err = {0};
    if (ds_open(path, o, &r, &err) != 0)
        fail_msg("%s", err.msg);
    ds_row row;
    int rc;
    memset(s, 0, sizeof *s);
    while ((rc = ds_next(r, &row, &err)) == 1) {
        assert_int_equal(row.index, s->rows);
        for (int k = 0; k < 4 && keep[k]; k++) {
            const char *v = ds_field(&row, keep[k]);
            if (!v)
                fail_msg("%s:%ld: no field '%s'", path, row.line, keep[k]);
            snprintf(s->rows == 0 ? s->first[k] : s->last[k], 512, "%s", v);
        }
        if (t) {
            const char *v = ds_field(&row, t->field);
            assert_non_null(v);
            int j = 0;
            while (j < 3 && t->value[j] && strcmp(t->value[j], v) != 0)
                j++;
            if (j == 3 || !t->value[j])
                fail_msg("%s:%ld: unexpected %s '%s'", path, row.line, t->field, v);
            t->got[j]++;
        }
        s->rows++;
        s->last_line = row.line;
    }
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ds_skipped(r), 0);
    ds_close(r);
    if (t)
        for (int j = 0; j < 3 && t->value[j]; j++)
            if (t->got[j] != t->want[j])
                fail_msg("%s: %s '%s' %zu times, want %zu", path, t->field, t->value[j],
                         t->got[j], t->want[j]);
}

static ds_options tsv_header(void)
{
    ds_options o = {0};
    o.format = "tsv";
    o.header = true;
    return o;
}

static void test_sst2(void **state)
{
    (void)state;
    const char *p = need("glue/SST-2/dev.tsv");
    ds_options o = tsv_header();
    const char *keep[4] = {"sentence", "label"};
    tally t = {"label", {"1", "0"}, {444, 428}, {0}};
    summary s;
    read_all(p, &o, keep, &t, &s);
    assert_int_equal(s.rows, 872);
    assert_int_equal(s.last_line, 873);
    assert_string_equal(s.first[0], "it 's a charming and often affecting journey . ");
    assert_string_equal(s.first[1], "1");
    assert_string_equal(s.last[1], "1");
    assert_true(strncmp(s.last[0], "looking aristocratic , luminous yet careworn", 44) == 0);
}

static void test_cola(void **state)
{
    (void)state;
    const char *p = need("glue/CoLA/dev.tsv");
    const char *cols[] = {"source", "label", "mark", "sentence"};
    ds_options o = {0};
    o.format = "tsv";
    o.columns = cols;
    o.ncolumns = 4;
    const char *keep[4] = {"source", "label", "mark", "sentence"};
    tally t = {"label", {"1", "0"}, {721, 322}, {0}};
    summary s;
    read_all(p, &o, keep, &t, &s);
    assert_int_equal(s.rows, 1043); /* no header; the last line has no "\n" */
    assert_int_equal(s.last_line, 1043);
    assert_string_equal(s.first[0], "gj04");
    assert_string_equal(s.first[2], "");
    assert_string_equal(s.first[3], "The sailors rode the breeze clear of the rocks.");
    assert_string_equal(s.last[0], "w_80");
    assert_string_equal(s.last[3], "John talked to Bill about himself.");

    /* The authors' v1.1 out-of-domain file: also no final newline. */
    p = need("glue/CoLA/cola_public_1.1/raw/out_of_domain_dev.tsv");
    read_all(p, &o, keep, NULL, &s);
    assert_int_equal(s.rows, 516);
    p = need("glue/CoLA/cola_public_1.1/raw/in_domain_dev.tsv");
    read_all(p, &o, keep, NULL, &s);
    assert_int_equal(s.rows, 527);
}

static void test_mrpc(void **state)
{
    (void)state;
    const char *p = need("glue/MRPC/dev.tsv");
    ds_options o = tsv_header();
    /* "Quality" is the first header name only once the BOM is dropped. */
    const char *keep[4] = {"Quality", "#1 ID", "#2 String", "#1 String"};
    tally t = {"Quality", {"1", "0"}, {279, 129}, {0}};
    summary s;
    read_all(p, &o, keep, &t, &s);
    assert_int_equal(s.rows, 408);
    assert_string_equal(s.first[1], "1355540");
    /* A field starting with an unbalanced quote stays on its own line. */
    assert_string_equal(s.first[2],
                        "\" The foodservice pie business does not fit our long-term growth "
                        "strategy .");
    assert_string_equal(s.last[1], "485999");
    assert_string_equal(s.last[2],
                        "In Soviet times the Beatles ' music \" was considered propaganda of an "
                        "alien ideology .");

    /* The full test file (85 lines with an odd number of quotes) and
     * Microsoft's original (BOM, no final newline): 1725 pairs each. */
    const char *keep2[4] = {"Quality"};
    read_all(need("glue/MRPC/msr_paraphrase_test.txt"), &o, keep2, NULL, &s);
    assert_int_equal(s.rows, 1725);
    read_all(need("glue/MRPC/original_microsoft/msr_paraphrase_test.txt"), &o, keep2, NULL, &s);
    assert_int_equal(s.rows, 1725);
}

static void test_stsb(void **state)
{
    (void)state;
    const char *p = need("glue/STS-B/dev.tsv");
    ds_options o = tsv_header();
    const char *keep[4] = {"old_index", "sentence1", "score", "index"};
    summary s;
    read_all(p, &o, keep, NULL, &s);
    assert_int_equal(s.rows, 1500);
    assert_string_equal(s.first[0], "0000"); /* text, zero padding kept */
    assert_string_equal(s.first[1], "A man with a hard hat is dancing.");
    assert_string_equal(s.first[2], "5.000");
    assert_string_equal(s.last[3], "1499");
    assert_string_equal(s.last[1], "New video shows US police officers beating mentally-ill man");
    assert_string_equal(s.last[2], "0");
}

static void test_qnli_rte_wnli(void **state)
{
    (void)state;
    ds_options o = tsv_header();
    summary s;
    const char *keep[4] = {"index", "question", "label"};
    tally t = {"label", {"entailment", "not_entailment"}, {2702, 2761}, {0}};
    read_all(need("glue/QNLI/dev.tsv"), &o, keep, &t, &s);
    assert_int_equal(s.rows, 5463);
    assert_string_equal(s.first[1], "What came into force after the new constitution was herald?");
    assert_string_equal(s.last[0], "5462");
    assert_string_equal(s.last[1], "Who discovered this and where did they come from?");
    assert_string_equal(s.last[2], "not_entailment");

    const char *keep2[4] = {"index", "sentence2", "label"};
    tally t2 = {"label", {"entailment", "not_entailment"}, {146, 131}, {0}};
    read_all(need("glue/RTE/dev.tsv"), &o, keep2, &t2, &s);
    assert_int_equal(s.rows, 277);
    assert_string_equal(s.first[1], "Christopher Reeve had an accident.");
    assert_string_equal(s.first[2], "not_entailment");
    assert_string_equal(s.last[0], "276");
    assert_string_equal(s.last[1], "Greenpeace director said that peace is terrorism.");

    tally t3 = {"label", {"1", "0"}, {31, 40}, {0}};
    read_all(need("glue/WNLI/dev.tsv"), &o, keep2, &t3, &s);
    assert_int_equal(s.rows, 71);
    assert_string_equal(s.first[1], "The hair has to be cleaned.");
    assert_string_equal(s.last[0], "70");
    assert_string_equal(s.last[1], "Eric was not particularly eager to see it.");
}

/* MNLI and QQP are not in ../shared here: their official counts are checked
 * when someone has the files (GLUE's dev_matched 9815, dev_mismatched 9832,
 * QQP dev 40430), through the same reader the tasks use. */
static void test_mnli_qqp(void **state)
{
    (void)state;
    ds_options o = tsv_header();
    summary s;
    const char *keep[4] = {"sentence1", "sentence2", "gold_label"};
    read_all(need("glue/MNLI/dev_matched.tsv"), &o, keep, NULL, &s);
    assert_int_equal(s.rows, 9815);
    read_all(need("glue/MNLI/dev_mismatched.tsv"), &o, keep, NULL, &s);
    assert_int_equal(s.rows, 9832);
    const char *keep2[4] = {"question1", "question2", "is_duplicate"};
    read_all(need("glue/QQP/dev.tsv"), &o, keep2, NULL, &s);
    assert_int_equal(s.rows, 40430);
}

static void test_superglue(void **state)
{
    (void)state;
    ds_options o = {0};
    o.format = "jsonl";
    summary s;

    /* BoolQ labels are JSON booleans: their JSON text. */
    const char *kb[4] = {"question", "label", "idx"};
    tally tb = {"label", {"true", "false"}, {2033, 1237}, {0}};
    read_all(need("superglue/BoolQ/val.jsonl"), &o, kb, &tb, &s);
    assert_int_equal(s.rows, 3270);
    assert_string_equal(s.first[0], "does ethanol take more energy make that produces");
    assert_string_equal(s.first[1], "false");
    assert_string_equal(s.first[2], "0");
    assert_string_equal(s.last[0], "will there be a season 5 of shadowhunters");
    assert_string_equal(s.last[2], "3269");

    /* CB labels are strings: decoded, no quotes. */
    const char *kc[4] = {"hypothesis", "label", "idx"};
    tally tc = {"label", {"contradiction", "entailment", "neutral"}, {28, 23, 5}, {0}};
    read_all(need("superglue/CB/val.jsonl"), &o, kc, &tc, &s);
    assert_int_equal(s.rows, 56);
    assert_string_equal(s.first[0], "Valence was helping");
    assert_string_equal(s.first[1], "contradiction");
    assert_string_equal(s.last[0], "the guy's tailor was based in Dublin");
    assert_string_equal(s.last[1], "entailment");
    assert_string_equal(s.last[2], "55");

    /* COPA labels are integers. */
    const char *kp[4] = {"premise", "choice2", "question", "label"};
    tally tp = {"label", {"0", "1"}, {55, 45}, {0}};
    read_all(need("superglue/COPA/val.jsonl"), &o, kp, &tp, &s);
    assert_int_equal(s.rows, 100);
    assert_int_equal(s.last_line, 100);
    assert_string_equal(s.first[0], "The man turned on the faucet.");
    assert_string_equal(s.first[1], "Water flowed from the spout.");
    assert_string_equal(s.first[2], "effect");
    assert_string_equal(s.first[3], "1");
    assert_string_equal(s.last[0], "The woman was in a bad mood.");
}

static void test_xquad(void **state)
{
    (void)state;
    ds_options o = {0};
    o.format = "squad-json";
    const char *keep[4] = {"id", "title", "question", "answers"};
    summary s;
    read_all(need("squad/xquad/xquad.en.json"), &o, keep, NULL, &s);
    assert_int_equal(s.rows, 1190);
    assert_string_equal(s.first[0], "56beb4343aeaaa14008c925b");
    assert_string_equal(s.first[1], "Super_Bowl_50");
    assert_string_equal(s.first[2], "How many points did the Panthers defense surrender?");
    assert_string_equal(s.first[3], "[\"308\"]");
    assert_string_equal(s.last[0], "5737a25ac3c5551400e51f54");
    assert_string_equal(s.last[1], "Force");
    assert_string_equal(s.last[2], "What includes pressure terms when calculating area in volume?");
    assert_string_equal(s.last[3], "[\"formalism\"]");

    /* answer_start of the first question, and its context. */
    ds_reader *r = NULL;
    ys_error err = {0};
    assert_int_equal(ds_open(need("squad/xquad/xquad.en.json"), &o, &r, &err), 0);
    ds_row row;
    assert_int_equal(ds_next(r, &row, &err), 1);
    assert_string_equal(ds_field(&row, "answer_start"), "[34]");
    assert_true(strncmp(ds_field(&row, "context"), "The Panthers defense gave up just 308 points",
                        44) == 0);
    ds_close(r);
}

static void test_wikitext_and_ptb(void **state)
{
    (void)state;
    const char *p = need("lm/wikitext-2/test.txt");
    ds_options o = {0};
    o.format = "text";
    ds_reader *r = NULL;
    ys_error err = {0};
    assert_int_equal(ds_open(p, &o, &r, &err), 0);
    ds_row row;
    size_t docs = 0, bytes = 0;
    int rc;
    long lines[3] = {0};
    while ((rc = ds_next(r, &row, &err)) == 1) {
        const char *t = ds_field(&row, "text");
        if (docs < 3)
            lines[docs] = row.line;
        if (docs == 0)
            assert_true(strncmp(t, " = Robert <unk> = \n \n Robert <unk> is an English film", 52) ==
                        0);
        if (docs == 1)
            assert_true(strncmp(t, " = Du Fu = \n", 12) == 0);
        docs++;
        bytes += strlen(t);
        if (docs == 62) {
            assert_int_equal(row.line, 4304);
            assert_int_equal(strlen(t), 17589);
            assert_true(strncmp(t, " = The <unk> ( film ) = \n", 25) == 0);
        }
    }
    if (rc != 0)
        fail_msg("%s", err.msg);
    ds_close(r);
    assert_int_equal(docs, 62);
    assert_int_equal(lines[0], 2);
    assert_int_equal(lines[1], 33);
    assert_int_equal(lines[2], 117);
    /* Every byte but the leading " \n" (a blank pre-heading chunk) is kept. */
    assert_int_equal(bytes, 1256449 - 2);

    /* PTB as one document: the whole file, byte for byte. */
    o.text_split = "none";
    assert_int_equal(ds_open(need("lm/ptb/ptb.test.txt"), &o, &r, &err), 0);
    assert_int_equal(ds_next(r, &row, &err), 1);
    assert_int_equal(strlen(ds_field(&row, "text")), 449945);
    assert_int_equal(ds_next(r, &row, &err), 0);
    ds_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sst2),       cmocka_unit_test(test_cola),
        cmocka_unit_test(test_mrpc),       cmocka_unit_test(test_stsb),
        cmocka_unit_test(test_qnli_rte_wnli), cmocka_unit_test(test_superglue),
        cmocka_unit_test(test_mnli_qqp),
        cmocka_unit_test(test_xquad),      cmocka_unit_test(test_wikitext_and_ptb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
