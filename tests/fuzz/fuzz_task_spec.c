/* fuzz_task_spec — task spec files and their templates, through the
 * command that checks them: `yardstick tasks validate FILE` (task_load, the
 * registry's group-cycle check, and every document of the spec's sample
 * data rendered into prompts: templates, filters, choices, label maps,
 * few-shot examples).
 *
 * The input is the spec, written as builtin/fz.json in a folder whose
 * samples/ is the real tasks/samples, so a spec naming a bundled sample
 * file (as the built-in ones do) renders real documents; its group
 * members are looked up among the built-in specs. A second pass renders
 * the spec's doc_to_text once more against a document of odd fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_util.h"
#include "task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char spec[512];
    if (!spec[0]) {
        fz_quiet();
        char d[512], link[600];
        fz_subdir(d, sizeof d, "spec");
        snprintf(link, sizeof link, "%s/samples", d);
        if (symlink(YS_SOURCE_DIR "/tasks/samples", link) != 0)
            abort();
        snprintf(link, sizeof link, "%s/builtin", d);
        mkdir(link, 0700);
        snprintf(spec, sizeof spec, "%s/fz.json", link);
    }
    FILE *f = fopen(spec, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        abort();
    char *argv[] = {"tasks", "validate", spec, NULL};
    cmd_tasks(3, argv);

    task_spec *t = NULL;
    ys_error err = {0};
    if (task_load(spec, &t, &err) == 0 && !task_is_group(t) && t->doc_to_text) {
        const char *names[] = {"", "label", "a b", "{{", "choices"};
        const char *values[] = {"x", "-1", "\xf0\x9f\x98\x80", "}}", "[\"a\", 1, null]"};
        char *out = NULL;
        if (task_render(t->doc_to_text, names, values, 5, &out, &err) == 0)
            free(out);
    }
    task_free(t);
    return 0;
}
