/* testsupport.h — helpers shared by the cmocka tests.
 *
 * Parity vectors are JSON Lines files produced by the reference
 * implementations (tests/parity/gen); ts_load_jsonl reads one whole file into
 * a cJSON array the caller frees with cJSON_Delete. ts_run runs a shell
 * command and returns its exit status with stdout captured into a malloc'd
 * string the caller frees.
 */
#ifndef YS_TESTSUPPORT_H
#define YS_TESTSUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

/* Parse every line of a JSONL file; fails the test if the file is missing. */
cJSON *ts_load_jsonl(const char *path);
/* Parse one whole JSON file; fails the test if it is missing or malformed. */
cJSON *ts_load_json(const char *path);
/* Path of a vector file in tests/parity/vectors (static buffer). */
const char *ts_vector(const char *name);
/* Number field of obj, failing the test when absent. JSON null gives NAN. */
double ts_num(const cJSON *obj, const char *key);
/* Assert |got - want| <= tol (NAN equals NAN), with a message naming what. */
void ts_close(double got, double want, double tol, const char *what, const char *ctx);
/* Run `cmd` through /bin/sh; *out gets stdout (malloc'd, may be NULL). */
int ts_run(const char *cmd, char **out);
/* Read a whole file into a malloc'd NUL-terminated buffer, or NULL. */
char *ts_read_file(const char *path, size_t *len);
/* Write a string to a file (fails the test on error). */
void ts_write_file(const char *path, const char *text);
/* A copy of the model folder src (config and weights linked) in dir whose
 * tokenizer.json swaps the pieces of ids 300 and 301: same sizes, another
 * vocabulary (the tokenizer-mismatch cases of kld and run --kl-base). */
void ts_swapped_tokenizer_copy(const char *src, const char *dir);
/* Run the yardstick binary under test with args (a shell fragment) in the
 * scratch folder: *out gets its stdout (malloc'd; out NULL: discarded), its
 * stderr goes to <scratch>/stderr.txt, replaced (ts_ys) or appended to
 * (ts_ys_log: one log across several runs), and with err not NULL the
 * file is read back into *err (malloc'd). Returns the exit status. */
int ts_ys(const char *args, char **out, char **err);
int ts_ys_log(const char *args, char **out);
/* Every value a results store holds but the runs' times and provenance,
 * one line per row, doubles as their bit patterns (malloc'd): two stores
 * are the same results when their dumps are equal. */
char *ts_dump_store(const char *path);
/* The text of the sample log `run --log-samples` wrote for task into the
 * scratch folder's subfolder sub (its name has a time stamp; malloc'd). */
char *ts_samples_log(const char *sub, const char *task);
/* The same log's lines as a JSON array (ts_load_jsonl). */
cJSON *ts_samples_jsonl(const char *sub, const char *task);
/* Is ../shared present (tests that need it skip otherwise)? */
int ts_have_shared(void);

/* A fresh scratch directory per test program, /tmp/ys_test_<pid>: pass
 * ts_scratch_setup / ts_scratch_teardown to cmocka_run_group_tests (or call
 * them from the group's own setup). ts_path gives a file inside it (from a
 * few rotating static buffers, so several can be used in one call). */
int ts_scratch_setup(void **state);
int ts_scratch_teardown(void **state);
const char *ts_scratch(void);
const char *ts_path(const char *name);

#endif
