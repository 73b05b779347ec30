/* taskdirs.h — where the CLI looks for task specs: --include-path
 * directories, then $YARDSTICK_TASKS (colon-separated), then the built-in
 * specs installed beside the binary (../share/yardstick/tasks/builtin), then
 * the source tree's tasks/builtin. A spec's sample data lives in
 * ../samples relative to its directory. */
#ifndef YS_TASKDIRS_H
#define YS_TASKDIRS_H

#include <stddef.h>

#include "registry.h"

#define TASKDIRS_MAX 32

typedef struct {
    char *dirs[TASKDIRS_MAX];
    size_t n;
} taskdirs;

/* include: the --include-path values (may be NULL). */
void taskdirs_init(taskdirs *d, const char *const *include, size_t ninclude);
void taskdirs_free(taskdirs *d);
int taskdirs_registry(const taskdirs *d, task_registry **out, ys_error *err);
/* The sample directory for a spec file (malloc'd). */
char *taskdirs_samples_for(const char *spec_path);
/* The data directory: --data-dir, else $YARDSTICK_DATA, else NULL (samples). */
const char *taskdirs_data_dir(const char *flag);

#endif
