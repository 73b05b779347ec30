#include "registry.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "task.h"

struct task_registry {
    char **dirs;
    size_t ndirs;
    char **names; /* sorted, unique */
    char **paths; /* parallel: the winning file */
    size_t n;
};

int treg_new(const char *const *dirs, size_t ndirs, task_registry **out, ys_error *err)
{
    *out = NULL;
    task_registry *r = calloc(1, sizeof *r);
    if (!r || !(r->dirs = calloc(ndirs + 1, sizeof *r->dirs)))
        goto oom;
    size_t cap = 64;
    r->names = malloc(cap * sizeof *r->names);
    r->paths = malloc(cap * sizeof *r->paths);
    if (!r->names || !r->paths)
        goto oom;
    for (size_t d = 0; d < ndirs; d++) {
        if (!(r->dirs[r->ndirs++] = strdup(dirs[d])))
            goto oom;
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue; /* a missing optional directory is not an error */
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t len = strlen(e->d_name);
            if (len <= 5 || strcmp(e->d_name + len - 5, ".json"))
                continue;
            char *name = strndup(e->d_name, len - 5);
            if (!name) {
                closedir(dir);
                goto oom;
            }
            bool seen = false;
            for (size_t i = 0; i < r->n && !seen; i++)
                seen = !strcmp(r->names[i], name);
            if (seen) {
                free(name);
                continue;
            }
            if (r->n == cap) {
                cap *= 2;
                char **a = realloc(r->names, cap * sizeof *a);
                if (a)
                    r->names = a;
                char **b = a ? realloc(r->paths, cap * sizeof *b) : NULL;
                if (b)
                    r->paths = b;
                if (!a || !b) {
                    free(name);
                    closedir(dir);
                    goto oom;
                }
            }
            size_t plen = strlen(dirs[d]) + len + 2;
            char *path = malloc(plen);
            if (!path) {
                free(name);
                closedir(dir);
                goto oom;
            }
            snprintf(path, plen, "%s/%s", dirs[d], e->d_name);
            r->names[r->n] = name;
            r->paths[r->n++] = path;
        }
        closedir(dir);
    }
    /* sort names and paths together */
    for (size_t i = 1; i < r->n; i++)
        for (size_t j = i; j > 0 && strcmp(r->names[j - 1], r->names[j]) > 0; j--) {
            char *t = r->names[j];
            r->names[j] = r->names[j - 1], r->names[j - 1] = t;
            t = r->paths[j];
            r->paths[j] = r->paths[j - 1], r->paths[j - 1] = t;
        }
    *out = r;
    return 0;
oom:
    treg_free(r);
    return ys_fail(err, YS_ENOMEM, "out of memory");
}

void treg_free(task_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ndirs; i++)
        free(r->dirs[i]);
    for (size_t i = 0; i < r->n; i++)
        free(r->names[i]), free(r->paths[i]);
    free(r->dirs), free(r->names), free(r->paths);
    free(r);
}

size_t treg_names(const task_registry *r, const char *const **names)
{
    *names = (const char *const *)r->names;
    return r->n;
}

/* Levenshtein distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 64;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (a[i - 1] != b[j - 1]);
            size_t best = sub < up + 1 ? sub : up + 1;
            row[j] = best < row[j - 1] + 1 ? best : row[j - 1] + 1;
            diag = up;
        }
    }
    return row[lb];
}

char *treg_find(const task_registry *r, const char *name, ys_error *err)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->names[i], name))
            return strdup(r->paths[i]);
    /* the three closest names, as a hint */
    char hint[256] = "";
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, at[3] = {0, 0, 0};
    for (size_t i = 0; i < r->n; i++) {
        size_t d = edit_distance(name, r->names[i]);
        for (int k = 0; k < 3; k++)
            if (d < best[k]) {
                for (int m = 2; m > k; m--)
                    best[m] = best[m - 1], at[m] = at[m - 1];
                best[k] = d, at[k] = i;
                break;
            }
    }
    for (int k = 0; k < 3; k++)
        if (best[k] != SIZE_MAX && best[k] <= strlen(name) / 2 + 2) {
            strncat(hint, k && hint[0] ? ", " : "", sizeof hint - strlen(hint) - 1);
            strncat(hint, r->names[at[k]], sizeof hint - strlen(hint) - 1);
        }
    ys_fail(err, YS_EUSAGE, "unknown task '%s'%s%s%s (see 'yardstick tasks list')", name,
            hint[0] ? "; did you mean " : "", hint, hint[0] ? "?" : "");
    return NULL;
}

/* Depth-first walk over group membership. `path` holds the groups being
 * expanded (the chain from the root); `done` marks registry entries whose
 * whole subtree is already known to be acyclic, so shared subgroups (the
 * MMLU categories under several suites) are walked once. The depth is at
 * most the number of registry entries plus one, since a repeat on the path
 * stops the walk. */
typedef struct {
    const task_registry *r;
    const char **path;
    size_t depth;
    bool *done;
} cycle_walk;

static int cycle_fail(cycle_walk *w, const char *again, ys_error *err)
{
    char chain[400] = "";
    size_t from = 0;
    while (from < w->depth && strcmp(w->path[from], again))
        from++;
    for (size_t i = from; i < w->depth; i++) {
        strncat(chain, w->path[i], sizeof chain - strlen(chain) - 1);
        strncat(chain, " -> ", sizeof chain - strlen(chain) - 1);
    }
    strncat(chain, again, sizeof chain - strlen(chain) - 1);
    const char *last = w->path[w->depth - 1];
    const char *file = last;
    for (size_t i = 0; i < w->r->n; i++)
        if (!strcmp(w->r->names[i], last))
            file = w->r->paths[i];
    return ys_fail(err, YS_EINPUT, "task group cycle: %s (group '%s' in %s includes '%s')", chain,
                   last, file, again);
}

static int cycle_visit(cycle_walk *w, const char *name, const char *const *members, size_t nmembers,
                       ys_error *err)
{
    w->path[w->depth++] = name;
    int rc = 0;
    for (size_t m = 0; m < nmembers && rc == 0; m++) {
        const char *child = members[m];
        for (size_t k = 0; k < w->depth && rc == 0; k++)
            if (!strcmp(w->path[k], child))
                rc = cycle_fail(w, child, err);
        if (rc)
            break;
        size_t at = SIZE_MAX;
        for (size_t i = 0; i < w->r->n && at == SIZE_MAX; i++)
            if (!strcmp(w->r->names[i], child))
                at = i;
        if (at == SIZE_MAX || w->done[at])
            continue;
        task_spec *t = NULL;
        if (task_load(w->r->paths[at], &t, NULL) == 0 && task_is_group(t))
            rc = cycle_visit(w, child, (const char *const *)t->members,
                             t->nmembers, err);
        if (rc == 0)
            w->done[at] = true;
        task_free(t);
    }
    w->depth--;
    return rc;
}

int treg_check_group(const task_registry *r, const char *name, const char *const *members,
                     size_t nmembers, ys_error *err)
{
    cycle_walk w = {r, calloc(r->n + 2, sizeof *w.path), 0, calloc(r->n + 1, sizeof *w.done)};
    int rc = w.path && w.done ? cycle_visit(&w, name, members, nmembers, err)
                              : ys_fail(err, YS_ENOMEM, "out of memory");
    free(w.path), free(w.done);
    return rc;
}
