/* Bad input, one regression per failure class of issue 15: each runs the
 * binary on a malformed input and checks the documented exit code, a
 * message that names the file and the place, an empty stdout and no
 * output file left behind. Every input here crashed, ran past a buffer or
 * scored silently before its fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "testsupport.h"

/* Run `yardstick ARGS` in the scratch directory; return its exit status
 * with stdout and stderr in malloc'd strings. */
static int run(const char *args, char **out, char **errtext)
{
    int rc = ts_ys(args, out, errtext);
    if (!*out)
        *out = strdup("");
    return rc;
}

/* The input must be refused with exit code `want`, nothing on stdout, and
 * every needle in stderr. */
static void expect_refusal(const char *args, int want, const char *const *needles)
{
    char *out, *err;
    int rc = run(args, &out, &err);
    if (rc != want)
        fail_msg("yardstick %s: exit %d, want %d\nstdout: %s\nstderr: %s", args, rc, want, out, err);
    if (out[0])
        fail_msg("yardstick %s: stdout should be empty, got:\n%s", args, out);
    for (size_t i = 0; needles && needles[i]; i++)
        if (!strstr(err, needles[i]))
            fail_msg("yardstick %s: stderr lacks \"%s\":\n%s", args, needles[i], err);
    free(out), free(err);
}

/* ---- class 1: task groups that include themselves ------------------------ */

static void test_group_cycles(void **state)
{
    (void)state;
    char dir[600], args[2048];
    snprintf(dir, sizeof dir, "%s/cyc", ts_scratch());
    snprintf(args, sizeof args, "mkdir -p %s", dir);
    assert_int_equal(system(args), 0);
    ts_write_file(ts_path("cyc/selfy.json"), "{\"name\": \"selfy\", \"group\": [\"selfy\"]}\n");
    ts_write_file(ts_path("cyc/ping.json"), "{\"name\": \"ping\", \"group\": [\"sst2\", \"pong\"]}\n");
    ts_write_file(ts_path("cyc/pong.json"), "{\"name\": \"pong\", \"group\": [\"ping\"]}\n");
    ts_write_file(ts_path("cyc/outer.json"), "{\"name\": \"outer\", \"group\": [\"ping\"]}\n");

    /* run: refused before any model loads (no --model needed to get there) */
    snprintf(args, sizeof args, "run --include-path %s --tasks selfy --db r.db", dir);
    expect_refusal(args, 3, (const char *const[]){"task group cycle: selfy -> selfy", "selfy.json", NULL});
    snprintf(args, sizeof args, "run --include-path %s --tasks outer --db r.db", dir);
    expect_refusal(args, 3, (const char *const[]){"ping -> pong -> ping", "pong.json", NULL});
    assert_int_equal(access(ts_path("r.db"), F_OK), -1);

    /* tasks validate finds the same cycles, the members found beside the file */
    snprintf(args, sizeof args, "tasks validate %s/selfy.json", dir);
    expect_refusal(args, 3, (const char *const[]){"selfy -> selfy", NULL});
    snprintf(args, sizeof args, "tasks validate %s/ping.json", dir);
    expect_refusal(args, 3, (const char *const[]){"ping -> pong -> ping", NULL});

    /* a group sharing a member with another (a diamond) is not a cycle */
    ts_write_file(ts_path("cyc/d1.json"), "{\"name\": \"d1\", \"group\": [\"sst2\", \"cola\"]}\n");
    ts_write_file(ts_path("cyc/d2.json"), "{\"name\": \"d2\", \"group\": [\"d1\", \"sst2\", \"d1\"]}\n");
    char *out, *err;
    snprintf(args, sizeof args, "tasks validate %s/d2.json", dir);
    if (run(args, &out, &err) != 0)
        fail_msg("diamond refused: %s", err);
    free(out), free(err);
}

/* ---- classes 2-4: JSON types, one strict grammar, NUL --------------------- */

static void test_json_consumers(void **state)
{
    (void)state;
    /* results import: a task whose value is an array crashed */
    ts_write_file(ts_path("arr.json"), "{\"model_name\": \"m\", \"results\": {\"sst2\": [1, 2]}}\n");
    expect_refusal("import arr.json --db imp.db", 3,
                   (const char *const[]){"arr.json: results.sst2: expected an object", "found an array", NULL});
    ts_write_file(ts_path("str.json"), "{\"model_name\": \"m\", \"results\": {\"sst2\": {\"acc,none\": [0.5]}}}\n");
    expect_refusal("import str.json --db imp.db", 3,
                   (const char *const[]){"results.sst2.acc,none: expected a number, found an array", NULL});
    ts_write_file(ts_path("big.json"), "{\"model_name\": \"m\", \"results\": {\"sst2\": {\"acc,none\": 0.5}},"
                                       " \"n-samples\": {\"sst2\": {\"effective\": 1e300}}}\n");
    expect_refusal("import big.json --db imp.db", 3,
                   (const char *const[]){"n-samples.sst2: field 'effective' must be an integer", NULL});

    /* score: \u0000 cut the prediction ("a" matched "a" with exit 0) */
    ts_write_file(ts_path("nul.jsonl"), "{\"prediction\": \"a\\u0000b\", \"references\": [\"a\"]}\n");
    expect_refusal("score --input nul.jsonl --metrics exact_match", 3,
                   (const char *const[]){"nul.jsonl:1: column 18: \\u0000 (NUL) is not supported", NULL});
    /* a control byte outside strings: white space to cJSON, an error here */
    ts_write_file(ts_path("ctl.jsonl"), "{\"prediction\": \"a\", \"references\": [\"a\"]}\n"
                                        "{\"prediction\":\x01 \"a\", \"references\": [\"a\"]}\n");
    expect_refusal("score --input ctl.jsonl --metrics exact_match --per-sample per.jsonl", 3,
                   (const char *const[]){"ctl.jsonl:2: malformed JSON near column 15 (control character outside a string)", NULL});
    assert_int_equal(access(ts_path("per.jsonl"), F_OK), -1); /* no partial per-sample file */
    /* duplicate keys: the last wins, as Python's json (and the dataset readers) */
    ts_write_file(ts_path("dup.jsonl"), "{\"prediction\": \"x\", \"prediction\": \"a\", \"references\": [\"a\"]}\n");
    char *out, *err;
    assert_int_equal(run("score --input dup.jsonl --metrics exact_match --json", &out, &err), 0);
    if (!strstr(out, "\"exact_match\": {\"score\": 1.0}"))
        fail_msg("duplicate key: the last should win:\n%s", out);
    free(out), free(err);

    /* a task name with NUL was cut; a spec with a control byte was read */
    ts_write_file(ts_path("nulname.json"), "{\"name\": \"ss\\u0000t2\", \"group\": [\"sst2\"]}\n");
    expect_refusal("tasks validate nulname.json", 3,
                   (const char *const[]){"nulname.json:1: column 13: \\u0000 (NUL) is not supported", NULL});
    ts_write_file(ts_path("ctlspec.json"), "{\"name\": \"g\",\x02 \"group\": [\"sst2\"]}\n");
    expect_refusal("tasks validate ctlspec.json", 3,
                   (const char *const[]){"ctlspec.json:1: malformed JSON near column 14 (control character outside a string)", NULL});
}

/* ---- class 7: silent empties and usage slips ------------------------------ */

static void test_empty_and_usage(void **state)
{
    (void)state;
    char args[2048];
    expect_refusal("run --tasks ,, --db e.db", 2, (const char *const[]){"--tasks ',,' names no task", NULL});
    expect_refusal("run --tasks , --db e.db", 2, (const char *const[]){"names no task", NULL});
    assert_int_equal(access(ts_path("e.db"), F_OK), -1);
    snprintf(args, sizeof args, "generate --model %s/tests/data/models/tiny --prompt hi --temperature nan", YS_SOURCE_DIR);
    expect_refusal(args, 2, (const char *const[]){"--temperature", NULL});
    snprintf(args, sizeof args, "generate --model %s/tests/data/models/bart --prompt hi --length-penalty NaN", YS_SOURCE_DIR);
    expect_refusal(args, 2, (const char *const[]){"--length-penalty", NULL});
    expect_refusal("compare --baseline 1 --candidate 2 --max-drop acc=nan --db e.db", 2,
                   (const char *const[]){"--max-drop", NULL});
    expect_refusal("compare --baseline 1 --candidate 2 --alpha inf --db e.db", 2, (const char *const[]){"--alpha", NULL});

    /* an eval split with a header and no rows scored n = 0 with exit 0 */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/emp/specs %s/emp/data/emp %s/emp/samples/emp", ts_scratch(), ts_scratch(),
             ts_scratch());
    assert_int_equal(system(cmd), 0);
    ts_write_file(ts_path("emp/samples/emp/dev.tsv"), "sentence\tlabel\ngood\t1\n");
    ts_write_file(ts_path("emp/specs/emptysplit.json"),
                  "{\"name\": \"emptysplit\", \"dataset\": {\"format\": \"tsv\", \"header\": true,"
                  " \"eval_split\": \"validation\", \"files\": {\"validation\": \"emp/dev.tsv\"},"
                  " \"samples\": {\"validation\": \"emp/dev.tsv\"}},"
                  " \"output_type\": \"multiple_choice\", \"doc_to_text\": \"{{sentence}}\","
                  " \"doc_to_choice\": [\"a\", \"b\"], \"doc_to_target\": \"{{label}}\","
                  " \"metrics\": [{\"metric\": \"acc\"}]}\n");
    ts_write_file(ts_path("emp/data/emp/dev.tsv"), "sentence\tlabel\n");
    snprintf(args, sizeof args, "run --include-path emp/specs --data-dir emp/data --tasks emptysplit --no-db --output o.json");
    expect_refusal(args, 3, (const char *const[]){"emp/dev.tsv: task emptysplit: the validation split has no documents", NULL});
    assert_int_equal(access(ts_path("o.json"), F_OK), -1);
    ts_write_file(ts_path("emp/data/emp/dev.tsv"), "");
    expect_refusal(args, 3, (const char *const[]){"has no documents", NULL});
    /* asked for, it runs and says n = 0 */
    char *out, *err;
    snprintf(args, sizeof args, "run --include-path emp/specs --data-dir emp/data --tasks emptysplit --no-db --allow-empty");
    int rc = run(args, &out, &err);
    if (rc != 0)
        fail_msg("--allow-empty: exit %d\n%s", rc, err);
    free(out), free(err);
    /* kld --tasks reads the same splits: refused, or n = 0 when asked */
    char tiny[600];
    snprintf(tiny, sizeof tiny, "%s/tests/data/models/tiny", YS_SOURCE_DIR);
    snprintf(args, sizeof args, "kld --base %s --model %s --include-path emp/specs --data-dir emp/data --tasks emptysplit",
             tiny, tiny);
    expect_refusal(args, 3, (const char *const[]){"emp/dev.tsv: task emptysplit: the validation split has no documents", NULL});
    snprintf(args, sizeof args, "kld --base %s --model %s --text x --allow-empty", tiny, tiny);
    expect_refusal(args, 2, (const char *const[]){"--allow-empty go with --tasks", NULL});
    ts_write_file(ts_path("emp/data/emp/full.tsv"), "sentence\tlabel\ngood movie\t1\nbad one\t0\n");
    ts_write_file(ts_path("emp/specs/fullsplit.json"),
                  "{\"name\": \"fullsplit\", \"dataset\": {\"format\": \"tsv\", \"header\": true,"
                  " \"eval_split\": \"validation\", \"files\": {\"validation\": \"emp/full.tsv\"},"
                  " \"samples\": {\"validation\": \"emp/full.tsv\"}},"
                  " \"output_type\": \"multiple_choice\", \"doc_to_text\": \"{{sentence}}\","
                  " \"doc_to_choice\": [\"a\", \"b\"], \"doc_to_target\": \"{{label}}\","
                  " \"metrics\": [{\"metric\": \"acc\"}]}\n");
    snprintf(args, sizeof args,
             "kld --base %s --model %s --include-path emp/specs --data-dir emp/data --tasks emptysplit,fullsplit "
             "--allow-empty --json",
             tiny, tiny);
    rc = run(args, &out, &err);
    if (rc != 0)
        fail_msg("kld --allow-empty: exit %d\n%s", rc, err);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *tasks = cJSON_GetObjectItem(j, "tasks");
    assert_true(cJSON_IsArray(tasks) && cJSON_GetArraySize(tasks) == 2);
    int seen_empty = 0;
    for (const cJSON *t = tasks->child; t; t = t->next) {
        const cJSON *name = cJSON_GetObjectItem(t, "task"), *kld = cJSON_GetObjectItem(t, "kld");
        assert_true(cJSON_IsString(name));
        if (!strcmp(name->valuestring, "emptysplit")) {
            /* no positions: no statistics, and its metric compared on n = 0 */
            seen_empty = 1;
            assert_true(cJSON_IsNull(kld));
            const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "metrics"), 0);
            assert_true(cJSON_GetObjectItem(m, "n_paired")->valuedouble == 0);
        } else {
            assert_true(cJSON_GetObjectItem(kld, "positions")->valuedouble > 0);
        }
    }
    assert_true(seen_empty);
    cJSON_Delete(j);
    free(out), free(err);
}

/* ---- classes 5, 6: tokenizer files and checkpoint numbers ---------------- */

/* A copy of the tiny model in the scratch directory with `from` replaced
 * by `to` (once) in one of its files. */
static void bad_copy(const char *dir, const char *file, const char *from, const char *to)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf %s/%s && cp -r %s/tests/data/models/tiny %s/%s", ts_scratch(), dir, YS_SOURCE_DIR,
             ts_scratch(), dir);
    assert_int_equal(system(cmd), 0);
    char rel[600];
    snprintf(rel, sizeof rel, "%s/%s", dir, file);
    size_t len;
    char *text = ts_read_file(ts_path(rel), &len);
    assert_non_null(text);
    char *at = strstr(text, from);
    if (!at)
        fail_msg("%s lacks %s", file, from);
    size_t cap = len + strlen(to) + 1;
    char *out = malloc(cap);
    snprintf(out, cap, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    ts_write_file(ts_path(rel), out);
    free(text), free(out);
}

static void test_model_files(void **state)
{
    (void)state;
    /* a vocabulary key ending in a bare UTF-8 lead byte: the decoder read
     * past the key; now the file is refused where the byte is */
    bad_copy("tk", "tokenizer.json", "\"vocab\": {", "\"vocab\": {\"x\xe2\": 999, ");
    expect_refusal("tokenize --model tk hello", 3,
                   (const char *const[]){"tk/tokenizer.json:1: column", "invalid UTF-8 inside a string", NULL});
    bad_copy("tk", "tokenizer.json", "\"vocab\": {", "\"vocab\": {\"zzqq\": 1e300, ");
    expect_refusal("tokenize --model tk hello", 3, (const char *const[]){"vocab entry 'zzqq' is not a valid id", NULL});
    bad_copy("tk", "tokenizer.json", "\"id\": 456,", "\"id\": \"456\",");
    expect_refusal("tokenize --model tk hello", 3, (const char *const[]){"tokenizer.json", NULL});

    /* GPT-2's legacy vocab.json + merges.txt: merges.txt is not JSON and is
     * checked on its own */
    char mk[1024];
    snprintf(mk, sizeof mk, "mkdir -p %s/lg", ts_scratch());
    assert_int_equal(system(mk), 0);
    ts_write_file(ts_path("lg/vocab.json"), "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    ts_write_file(ts_path("lg/merges.txt"), "#version: 0.2\na b\n\xe2 b\n");
    expect_refusal("tokenize --model lg ab", 3, (const char *const[]){"lg/merges.txt:3: invalid UTF-8 (byte 0xE2)", NULL});
    ts_write_file(ts_path("lg/vocab.json"), "{\"a\": 0, \"b\": 1, \"a\xe2\": 2}");
    expect_refusal("tokenize --model lg ab", 3, (const char *const[]){"lg/vocab.json:1: column 20: invalid UTF-8", NULL});

    /* a negative epsilon ran and printed NaN with exit 0 */
    bad_copy("eps", "config.json", "\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": -1");
    expect_refusal("generate --model eps --prompt hi --max-tokens 1", 3,
                   (const char *const[]){"eps/config.json: \"layer_norm_epsilon\" must not be negative", NULL});
    /* huge numbers overflowed the float-to-int conversion */
    bad_copy("huge", "config.json", "\"n_layer\": 2", "\"n_layer\": 9223372036854775808");
    expect_refusal("generate --model huge --prompt hi --max-tokens 1", 3,
                   (const char *const[]){"huge/config.json: \"n_layer\" must be an integer", NULL});
    bad_copy("huge", "config.json", "\"n_layer\": 2", "\"n_layer\": 1e300");
    expect_refusal("generate --model huge --prompt hi --max-tokens 1", 3, (const char *const[]){"\"n_layer\"", NULL});
    bad_copy("huge", "config.json", "\"n_embd\": 32", "\"n_embd\": [32]");
    expect_refusal("generate --model huge --prompt hi --max-tokens 1", 3, (const char *const[]){"\"n_embd\"", NULL});

    /* generation_config.json: a mistyped value was silently the default,
     * and a huge integer was converted before its range was checked */
    char gc[1024];
    snprintf(gc, sizeof gc, "rm -rf %s/gen && cp -r %s/tests/data/models/bart %s/gen", ts_scratch(), YS_SOURCE_DIR,
             ts_scratch());
    assert_int_equal(system(gc), 0);
    ts_write_file(ts_path("gen/generation_config.json"), "{\"length_penalty\": \"2.0\"}\n");
    expect_refusal("generate --model gen --prompt-ids \"5 6\" --max-tokens 1", 3,
                   (const char *const[]){"gen/generation_config.json: \"length_penalty\" must be a number, found a string", NULL});
    ts_write_file(ts_path("gen/generation_config.json"), "{\"max_length\": 1e300}\n");
    expect_refusal("generate --model gen --prompt-ids \"5 6\" --max-tokens 1", 3,
                   (const char *const[]){"gen/generation_config.json: \"max_length\" must be an integer", NULL});

    /* a safetensors header "{}": undefined behaviour before the error */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s/st && cp -r %s/tests/data/models/tiny %s/st && printf '\\002\\000\\000\\000\\000\\000\\000\\000{}' > %s/st/model.safetensors",
             ts_scratch(), YS_SOURCE_DIR, ts_scratch(), ts_scratch());
    assert_int_equal(system(cmd), 0);
    expect_refusal("generate --model st --prompt hi --max-tokens 1", 3, (const char *const[]){"st: the safetensors files hold no tensors", NULL});
}

/* ---- class 8: data errors name file, JSON path and field ----------------- */

static void test_squad_no_answers(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/sq/squad", ts_scratch());
    assert_int_equal(system(cmd), 0);
    ts_write_file(ts_path("sq/squad/dev-v1.1.json"),
                  "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"ctx here\", \"qas\": ["
                  "{\"id\": \"1\", \"question\": \"q?\", \"answers\": [{\"text\": \"ctx\", \"answer_start\": 0}]},"
                  " {\"id\": \"2\", \"question\": \"q2?\", \"answers\": []}]}]}], \"version\": \"1.1\"}\n");
    /* before: "field 'references' is empty", no file, no place */
    expect_refusal("run --tasks squad --data-dir sq --no-db --output sq.json", 3,
                   (const char *const[]){"sq/squad/dev-v1.1.json: data[0].paragraphs[0].qas[1].answers: field 'answers' is empty",
                                         NULL});
    assert_int_equal(access(ts_path("sq.json"), F_OK), -1);
}

/* ---- class 9: a locked database is "busy" (exit 4), not bad input ------- */

static void test_locked_db(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(run("runs list --db lk.db", &out, &err), 0); /* creates the store */
    free(out), free(err);
    ts_write_file(ts_path("ok.json"), "{\"model_name\": \"m\", \"results\": {\"sst2\": {\"acc,none\": 0.5}}}\n");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(ts_path("lk.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    expect_refusal("import ok.json --db lk.db --db-timeout 0.3", 4,
                   (const char *const[]){"lk.db", "locked by another writer", "--db-timeout", NULL});
    expect_refusal("runs list --db lk.db --db-timeout 0", 4, (const char *const[]){"locked by another writer", NULL});
    expect_refusal("run --tasks sst2 --limit 1 --db lk.db --db-timeout 0.2", 4,
                   (const char *const[]){"locked by another writer", NULL});
    expect_refusal("import ok.json --db lk.db --db-timeout nan", 2, (const char *const[]){"--db-timeout", NULL});
    /* the readers of the store take the same option */
    expect_refusal("report --db lk.db --db-timeout 0.2", 4, (const char *const[]){"locked by another writer", NULL});
    expect_refusal("compare --baseline 1 --candidate 2 --db lk.db --db-timeout 0", 4,
                   (const char *const[]){"locked by another writer", NULL});
    expect_refusal("report --db lk.db --db-timeout -1", 2, (const char *const[]){"--db-timeout", NULL});
    expect_refusal("compare --baseline 1 --candidate 2 --db lk.db --db-timeout x", 2,
                   (const char *const[]){"--db-timeout", NULL});
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    /* released, the same import goes through */
    assert_int_equal(run("import ok.json --db lk.db --db-timeout 0.3", &out, &err), 0);
    free(out), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_cycles),
        cmocka_unit_test(test_json_consumers),
        cmocka_unit_test(test_empty_and_usage),
        cmocka_unit_test(test_locked_db),
        cmocka_unit_test(test_model_files),
        cmocka_unit_test(test_squad_no_answers),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
