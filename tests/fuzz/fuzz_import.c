/* fuzz_import — `yardstick import`'s reader of lm-evaluation-harness
 * results files (rs_import_lmeval), into an in-memory store, and the way
 * back out (rs_run_to_lmeval, rs_results_get), which reads what the import
 * stored. Issue 15 found an array where a task's object was expected
 * crashing it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "runs.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rs_store *s;
    ys_error err = {0};
    if (!s && rs_open(":memory:", &s, &err) < 0)
        abort();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int64_t run = 0;
    if (rs_import_lmeval(s, text, "fuzz.json", (size & 1) ? "m" : NULL, "0", &run, &err) == 0) {
        char *json = NULL;
        if (rs_run_to_lmeval(s, run, &json, &err) == 0)
            free(json);
        rs_result_row *rows = NULL;
        size_t n = 0;
        if (rs_results_get(s, run, &rows, &n, &err) == 0)
            rs_result_rows_free(rows, n);
        if (rs_run_delete(s, run, &err) < 0)
            abort();
    }
    free(text);
    return 0;
}
