/* Task specs: validation messages name file and key; templates and their
 * filters; few-shot prompts are seeded and byte-identical; content hashes;
 * SHA-256 against known digests; the registry's "did you mean". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prompt.h"
#include "registry.h"
#include "sha256.h"
#include "task.h"
#include "testsupport.h"

static int setup(void **state)
{
    if (ts_scratch_setup(state) != 0)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/specs %s/samples/t %s/samples/c", ts_scratch(), ts_scratch(), ts_scratch());
    return system(cmd);
}

static const char *good_spec =
    "{\"name\": \"t\", \"version\": 1, \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"validation\",\n"
    " \"files\": {\"validation\": \"t/val.jsonl\"}, \"samples\": {\"validation\": \"t/val.jsonl\"}},\n"
    " \"output_type\": \"multiple_choice\", \"doc_to_text\": \"Q: {{q|strip}}\\nA:\",\n"
    " \"doc_to_choice\": [\"no\", \"yes\"], \"doc_to_target\": \"{{label}}\", \"label_map\": {\"false\": 0, \"true\": 1},\n"
    " \"metrics\": [{\"metric\": \"acc\"}]}\n";

static void expect_spec_error(const char *text, const char *want)
{
    ts_write_file(ts_path("specs/bad.json"), text);
    task_spec *t;
    ys_error err = {0};
    assert_true(task_load(ts_path("specs/bad.json"), &t, &err) < 0);
    assert_null(t);
    if (!strstr(err.msg, "bad.json") || !strstr(err.msg, want))
        fail_msg("message '%s' lacks 'bad.json' or '%s'", err.msg, want);
}

static void test_spec_validation(void **state)
{
    (void)state;
    ts_write_file(ts_path("specs/t.json"), good_spec);
    task_spec *t;
    ys_error err = {0};
    assert_int_equal(task_load(ts_path("specs/t.json"), &t, &err), 0);
    assert_string_equal(t->name, "t");
    assert_int_equal((int)t->nchoices, 2);
    assert_string_equal(t->target_delimiter, " ");
    task_free(t);
    expect_spec_error("{\"name\": \"t\",\n \"dataset\": }", ":2: malformed JSON");
    expect_spec_error("{\"name\": \"t\", \"output_type\": \"multiple_choice\"}", "dataset: missing");
    expect_spec_error("{\"name\": \"t\", \"dataset\": {\"format\": \"xml\", \"eval_split\": \"v\", \"files\": {\"v\": \"a\"}, \"samples\": {\"v\": \"a\"}}}",
                      "dataset.format");
    expect_spec_error("{\"name\": \"t\", \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"v\", \"files\": {\"v\": \"a\"}}}",
                      "dataset.samples.v");
    /* a metric multiple_choice cannot compute */
    char s[2048];
    const char *m = strstr(good_spec, "\"acc\"");
    snprintf(s, sizeof s, "%.*s\"bleu\"%s", (int)(m - good_spec), good_spec, m + 5);
    ts_write_file(ts_path("specs/x.json"), s);
    assert_true(task_load(ts_path("specs/x.json"), &t, &err) < 0);
    assert_non_null(strstr(err.msg, "metrics[0].metric"));
    expect_spec_error("{\"name\": \"t\", \"group\": [\"a\"], \"aggregat\": \"mean\"}", "aggregat: unknown key");
    expect_spec_error("{\"name\": \"t\", \"group\": []}", "group: must list");
}

static void test_templates(void **state)
{
    (void)state;
    const char *names[] = {"premise", "q", "list", "name"};
    const char *values[] = {"The man fell.", "cause", "[\"a\", \"b\", 3]", "Émile Zola"};
    struct {
        const char *tmpl, *want;
    } cases[] = {
        {"{{premise|rstrip(.)}} {{q|map(cause:because,effect:therefore)}}", "The man fell because"},
        {"{{ premise | lower }}", "the man fell."},
        {"{{name|lower_first}}/{{name|upper}}", "émile Zola/ÉMILE ZOLA"},
        {"{{list|join(, )}}|{{list|first}}", "a, b, 3|a"},
        {"{{{{literal}}", "{{literal}}"},
        {"no fields", "no fields"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        ys_error err = {0};
        assert_int_equal(task_render(cases[i].tmpl, names, values, 4, &out, &err), 0);
        if (strcmp(out, cases[i].want))
            fail_msg("'%s' rendered '%s', want '%s'", cases[i].tmpl, out, cases[i].want);
        free(out);
    }
    char *out;
    ys_error err = {0};
    assert_true(task_render("{{missing}}", names, values, 4, &out, &err) < 0);
    assert_non_null(strstr(err.msg, "no field 'missing'"));
    assert_true(task_render("{{q|map(effect:therefore)}}", names, values, 4, &out, &err) < 0);
    assert_non_null(strstr(err.msg, "no entry for the value 'cause'"));
    assert_true(task_render("{{q|shout}}", names, values, 4, &out, &err) < 0);
    assert_non_null(strstr(err.msg, "unknown filter 'shout'"));
}

static void test_fewshot_is_seeded(void **state)
{
    (void)state;
    ts_write_file(ts_path("specs/t.json"), good_spec);
    char rows[4096] = "";
    for (int i = 0; i < 12; i++) {
        char line[128];
        snprintf(line, sizeof line, "{\"q\": \" question %d \", \"label\": %s}\n", i, i % 2 ? "true" : "false");
        strcat(rows, line);
    }
    ts_write_file(ts_path("samples/t/val.jsonl"), rows);
    task_spec *t;
    ys_error err = {0};
    assert_int_equal(task_load(ts_path("specs/t.json"), &t, &err), 0);
    task_docs docs;
    assert_int_equal(task_docs_load(t, "validation", NULL, ts_path("samples"), 0, false, &docs, &err), 0);
    assert_int_equal((int)docs.n, 12);
    assert_true(docs.sample);
    task_prompt a, b, c;
    py_random s1, s2, s3;
    pyr_seed(&s1, 42), pyr_seed(&s2, 42), pyr_seed(&s3, 43);
    assert_int_equal(task_prompt_build(t, &docs.docs[3], &docs, 3, 3, &s1, &a, &err), 0);
    assert_int_equal(task_prompt_build(t, &docs.docs[3], &docs, 3, 3, &s2, &b, &err), 0);
    assert_int_equal(task_prompt_build(t, &docs.docs[3], &docs, 3, 3, &s3, &c, &err), 0);
    assert_string_equal(a.context, b.context);
    assert_true(strcmp(a.context, c.context) != 0);
    /* three examples, each "Q: ...\nA: yes|no" and the delimiter, then the doc */
    int examples = 0;
    for (const char *p = a.context; (p = strstr(p, "\nA: ")); p++)
        examples++;
    assert_int_equal(examples, 3);
    assert_null(strstr(a.context, "question 3\nA: ")); /* never the document itself */
    assert_true(strlen(a.context) > strlen("Q: question 3\nA:"));
    assert_string_equal(a.context + strlen(a.context) - strlen("Q: question 3\nA:"), "Q: question 3\nA:");
    assert_int_equal(a.gold, 1);
    assert_string_equal(a.choices[1], " yes");
    task_prompt_free(&a), task_prompt_free(&b), task_prompt_free(&c);
    /* asking for more examples than the pool has is an error */
    assert_true(task_prompt_build(t, &docs.docs[0], &docs, 0, 12, &s1, &a, &err) < 0);
    /* the content hash follows the spec and the data */
    char h1[65], h2[65];
    const char *files[] = {docs.path};
    assert_int_equal(task_content_hash(t, files, 1, h1, &err), 0);
    ts_write_file(ts_path("samples/t/val.jsonl"), "{\"q\": \"changed\", \"label\": true}\n");
    assert_int_equal(task_content_hash(t, files, 1, h2, &err), 0);
    assert_true(strcmp(h1, h2) != 0);
    task_docs_free(&docs);
    /* a missing official file says where it looked and where to get it */
    assert_true(task_docs_load(t, "validation", ts_path("nodata"), ts_path("samples"), 0, false, &docs, &err) < 0);
    assert_non_null(strstr(err.msg, "t/val.jsonl"));
    assert_non_null(strstr(err.msg, "not found"));
    task_free(t);
}

/* The "classification" block: parsed, validated, rendered per document,
 * and the gold class found by label name (classification-only tasks) or by
 * the multiple-choice rules (tasks that run both ways). */
static void test_classification_block(void **state)
{
    (void)state;
    static const char *spec =
        "{\"name\": \"c\", \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"validation\",\n"
        " \"files\": {\"validation\": \"c/val.jsonl\"}, \"samples\": {\"validation\": \"c/val.jsonl\"}},\n"
        " \"output_type\": \"classification\", \"doc_to_target\": \"{{label}}\",\n"
        " \"classification\": {\"text\": \"{{premise|strip}}\", \"text_pair\": \"{{hypothesis}}\",\n"
        "   \"labels\": [\"entailment\", \"neutral\", \"contradiction\"], \"match\": \"name\"},\n"
        " \"metrics\": [{\"metric\": \"acc\"}, {\"metric\": \"f1_macro\"}]}\n";
    ts_write_file(ts_path("specs/c.json"), spec);
    ts_write_file(ts_path("samples/c/val.jsonl"),
                  "{\"premise\": \" A dog runs. \", \"hypothesis\": \"An animal moves.\", \"label\": \"entailment\"}\n"
                  "{\"premise\": \"It rains.\", \"hypothesis\": \"It is dry.\", \"label\": 2}\n"
                  "{\"premise\": \"x\", \"hypothesis\": \"y\", \"label\": \"maybe\"}\n");
    task_spec *t;
    ys_error err = {0};
    assert_int_equal(task_load(ts_path("specs/c.json"), &t, &err), 0);
    assert_true(t->has_cls);
    assert_int_equal((int)t->ncls_labels, 3);
    assert_string_equal(t->cls_match, "name");
    task_docs docs;
    assert_int_equal(task_docs_load(t, "validation", NULL, ts_path("samples"), 0, false, &docs, &err), 0);
    task_prompt p;
    py_random rng;
            pyr_seed(&rng, 1);
    assert_int_equal(task_prompt_build(t, &docs.docs[0], NULL, SIZE_MAX, 0, &rng, &p, &err), 0);
    assert_string_equal(p.cls_text, "A dog runs.");
    assert_string_equal(p.cls_pair, "An animal moves.");
    assert_string_equal(p.context, "A dog runs."); /* no doc_to_text: the text stands in */
    assert_int_equal(p.gold, 0);
    task_prompt_free(&p);
    assert_int_equal(task_prompt_build(t, &docs.docs[1], NULL, SIZE_MAX, 0, &rng, &p, &err), 0);
    assert_int_equal(p.gold, 2);
    task_prompt_free(&p);
    assert_true(task_prompt_build(t, &docs.docs[2], NULL, SIZE_MAX, 0, &rng, &p, &err) < 0);
    assert_non_null(strstr(err.msg, "'maybe' is not a class index"));
    task_docs_free(&docs);
    task_free(t);
    /* validation: the block is required, its keys checked, classes match choices */
    expect_spec_error("{\"name\": \"t\", \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"v\", \"files\": {\"v\": \"a\"}, "
                      "\"samples\": {\"v\": \"a\"}}, \"output_type\": \"classification\", \"doc_to_target\": \"x\", "
                      "\"metrics\": [{\"metric\": \"acc\"}]}",
                      "classification: output_type classification needs");
    expect_spec_error("{\"name\": \"t\", \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"v\", \"files\": {\"v\": \"a\"}, "
                      "\"samples\": {\"v\": \"a\"}}, \"output_type\": \"classification\", \"doc_to_target\": \"x\", "
                      "\"classification\": {\"text\": \"a\", \"labels\": [\"a\", \"b\"], \"matches\": \"name\"}, "
                      "\"metrics\": [{\"metric\": \"acc\"}]}",
                      "classification.matches: unknown key");
    expect_spec_error("{\"name\": \"t\", \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"v\", \"files\": {\"v\": \"a\"}, "
                      "\"samples\": {\"v\": \"a\"}}, \"output_type\": \"multiple_choice\", \"doc_to_text\": \"q\", "
                      "\"doc_to_choice\": [\"no\", \"yes\"], \"doc_to_target\": \"x\", "
                      "\"classification\": {\"text\": \"a\", \"labels\": [\"a\", \"b\", \"c\"]}, "
                      "\"metrics\": [{\"metric\": \"acc\"}]}",
                      "classification.labels: must name one class per choice");
    expect_spec_error("{\"name\": \"t\", \"dataset\": {\"format\": \"jsonl\", \"eval_split\": \"v\", \"files\": {\"v\": \"a\"}, "
                      "\"samples\": {\"v\": \"a\"}}, \"output_type\": \"classification\", \"doc_to_target\": \"x\", "
                      "\"classification\": {\"text\": \"a\", \"labels\": [\"a\", \"b\"]}, "
                      "\"metrics\": [{\"metric\": \"acc_norm\"}]}",
                      "metrics[0].metric");
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    struct {
        const char *in, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < 3; i++) {
        sha256_ctx c;
        char hex[65];
        sha256_init(&c);
        /* feed in uneven pieces to exercise the buffering */
        size_t n = strlen(v[i].in);
        for (size_t k = 0; k < n; k += 7)
            sha256_update(&c, v[i].in + k, n - k < 7 ? n - k : 7);
        sha256_final_hex(&c, hex);
        assert_string_equal(hex, v[i].hex);
    }
    sha256_ctx c;
    char hex[65];
    sha256_init(&c);
    char block[1000];
    memset(block, 'a', sizeof block);
    for (int i = 0; i < 1000; i++)
        sha256_update(&c, block, sizeof block);
    sha256_final_hex(&c, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_registry_suggests(void **state)
{
    (void)state;
    char builtin[600];
    snprintf(builtin, sizeof builtin, "%s/tasks/builtin", YS_SOURCE_DIR);
    const char *dirs[] = {ts_path("specs"), builtin};
    task_registry *r;
    ys_error err = {0};
    assert_int_equal(treg_new(dirs, 2, &r, &err), 0);
    char *p = treg_find(r, "sst2", &err);
    assert_non_null(p);
    free(p);
    p = treg_find(r, "t", &err); /* the user's directory comes first */
    assert_non_null(p);
    assert_non_null(strstr(p, "specs/t.json"));
    free(p);
    assert_null(treg_find(r, "mnlii", &err));
    assert_non_null(strstr(err.msg, "did you mean mnli"));
    treg_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_validation), cmocka_unit_test(test_templates),
        cmocka_unit_test(test_fewshot_is_seeded), cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_registry_suggests), cmocka_unit_test(test_classification_block),
    };
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}
