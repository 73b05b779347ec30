#include "taskdirs.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add(taskdirs *d, const char *dir)
{
    if (d->n < TASKDIRS_MAX && dir && *dir)
        d->dirs[d->n++] = strdup(dir);
}

void taskdirs_init(taskdirs *d, const char *const *include, size_t ninclude)
{
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < ninclude; i++)
        add(d, include[i]);
    const char *env = getenv("YARDSTICK_TASKS");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
            add(d, tok);
        free(copy);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char installed[PATH_MAX + 64];
        snprintf(installed, sizeof installed, "%s/../share/yardstick/tasks/builtin", dirname(exe));
        add(d, installed);
    }
    add(d, YS_TASKS_SOURCE_DIR "/builtin");
}

void taskdirs_free(taskdirs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->dirs[i]);
    d->n = 0;
}

int taskdirs_registry(const taskdirs *d, task_registry **out, ys_error *err)
{
    return treg_new((const char *const *)d->dirs, d->n, out, err);
}

char *taskdirs_samples_for(const char *spec_path)
{
    char *copy = strdup(spec_path);
    if (!copy)
        return NULL;
    size_t len = strlen(spec_path) + 32;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s/../samples", dirname(copy));
    free(copy);
    return out;
}

const char *taskdirs_data_dir(const char *flag)
{
    if (flag)
        return flag;
    const char *env = getenv("YARDSTICK_DATA");
    return env && *env ? env : NULL;
}
