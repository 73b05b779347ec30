/* yardstick tasks list | show NAME | validate FILE... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prompt.h"
#include "registry.h"
#include "task.h"
#include "taskdirs.h"

static const char tasks_help[] =
    "usage: yardstick tasks list [--include-path DIR]...\n"
    "       yardstick tasks show NAME [--data-dir DIR] [--num-fewshot K] [--include-path DIR]...\n"
    "       yardstick tasks validate FILE... [--include-path DIR]...\n"
    "\n"
    "Task specs are JSON files (see tasks/task.h). Built-in specs ship with yardstick;\n"
    "add your own with --include-path DIR or YARDSTICK_TASKS=DIR[:DIR]. `show` prints\n"
    "the spec and a rendered example prompt (from --data-dir or $YARDSTICK_DATA, else\n"
    "from the bundled sample data); `validate` checks specs and renders every sample.\n";

static int list(const taskdirs *dirs)
{
    task_registry *r;
    ys_error err = {0};
    if (taskdirs_registry(dirs, &r, &err) < 0)
        return cli_fail(&err);
    const char *const *names;
    size_t n = treg_names(r, &names);
    printf("%-20s %-22s %s\n", "task", "type", "description");
    for (size_t i = 0; i < n; i++) {
        char *path = treg_find(r, names[i], NULL);
        task_spec *t = NULL;
        if (path && task_load(path, &t, &err) == 0) {
            char desc[72];
            snprintf(desc, sizeof desc, "%s", t->description ? t->description : "");
            if (t->description && strlen(t->description) >= sizeof desc)
                strcpy(desc + sizeof desc - 4, "...");
            printf("%-20s %-22s %s\n", names[i], task_is_group(t) ? "group" : task_output_name(t->output), desc);
        } else {
            printf("%-20s %-22s (invalid: %s)\n", names[i], "?", err.msg);
        }
        task_free(t);
        free(path);
    }
    treg_free(r);
    return EXIT_OK;
}

/* Render every document of every split of t's sample data; 0 or an error. */
static int check_samples(const task_spec *t, const char *samples_dir, ys_error *err)
{
    for (size_t s = 0; s < t->nsplits; s++) {
        task_docs docs;
        int rc = task_docs_load(t, t->split_names[s], NULL, samples_dir, 0, false, &docs, err);
        if (rc < 0)
            return rc;
        py_random rng;
            pyr_seed(&rng, 1);
        for (size_t i = 0; i < docs.n && rc == 0; i++) {
            task_prompt p;
            rc = task_prompt_build(t, &docs.docs[i], NULL, SIZE_MAX, 0, &rng, &p, err);
            if (rc == 0)
                task_prompt_free(&p);
        }
        if (rc == 0 && docs.n == 0)
            rc = ys_fail(err, YS_EINPUT, "%s: no documents", docs.path);
        task_docs_free(&docs);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A group spec's members are looked up with the spec's own directory first
 * (where its sibling specs are), then where `run` would look: a group that
 * reaches itself would recurse forever at run time, so it fails here. */
static int check_group(const char *file, const task_spec *t, const char *const *include,
                       size_t ninclude, ys_error *err)
{
    const char *dirs[TASKDIRS_MAX];
    char *own = strdup(file);
    if (!own)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    char *slash = strrchr(own, '/');
    if (slash)
        *slash = '\0';
    dirs[0] = slash ? own : ".";
    for (size_t i = 0; i < ninclude && i + 1 < TASKDIRS_MAX - 4; i++)
        dirs[i + 1] = include[i];
    taskdirs td;
    taskdirs_init(&td, dirs, ninclude + 1 < TASKDIRS_MAX - 4 ? ninclude + 1 : TASKDIRS_MAX - 4);
    task_registry *reg = NULL;
    int rc = taskdirs_registry(&td, &reg, err);
    if (rc == 0)
        rc = treg_check_group(reg, t->name, (const char *const *)t->members, t->nmembers, err);
    treg_free(reg);
    taskdirs_free(&td);
    free(own);
    return rc;
}

static int validate(int argc, char **argv, int first, const char *const *include, size_t ninclude)
{
    int bad = 0, files = 0;
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-') {
            /* --include-path's value is not a spec file */
            if (!strcmp(argv[i], "--include-path") || !strcmp(argv[i], "--data-dir") ||
                !strcmp(argv[i], "--num-fewshot"))
                i++;
            continue;
        }
        files++;
        ys_error err = {0};
        task_spec *t;
        int rc = task_load(argv[i], &t, &err);
        if (rc == 0 && !task_is_group(t)) {
            char *samples = taskdirs_samples_for(argv[i]);
            rc = check_samples(t, samples, &err);
            free(samples);
        } else if (rc == 0) {
            rc = check_group(argv[i], t, include, ninclude, &err);
        }
        if (rc < 0) {
            fprintf(stderr, "yardstick: %s\n", err.msg);
            bad = 1;
        } else {
            printf("%s: ok (%s)\n", argv[i], task_is_group(t) ? "group" : task_output_name(t->output));
        }
        task_free(t);
    }
    if (!files)
        return cli_usage_error("tasks", "validate needs one or more spec files");
    return bad ? EXIT_BADINPUT : EXIT_OK;
}

static int show(const taskdirs *dirs, const char *name, const char *data_dir, int fewshot)
{
    task_registry *r;
    ys_error err = {0};
    if (taskdirs_registry(dirs, &r, &err) < 0)
        return cli_fail(&err);
    char *path = treg_find(r, name, &err);
    treg_free(r);
    if (!path)
        return cli_fail(&err);
    task_spec *t;
    int rc = task_load(path, &t, &err);
    if (rc < 0) {
        free(path);
        return cli_fail(&err);
    }
    FILE *f = fopen(path, "rb");
    char line[4096];
    printf("# %s\n", path);
    while (f && fgets(line, sizeof line, f))
        fputs(line, stdout);
    if (f)
        fclose(f);
    if (!task_is_group(t)) {
        char *samples = taskdirs_samples_for(path);
        task_docs docs, pool;
        memset(&pool, 0, sizeof pool);
        rc = task_docs_load(t, t->eval_split, data_dir, samples, 1, false, &docs, &err);
        int k = fewshot >= 0 ? fewshot : t->num_fewshot;
        const char *fs_split = t->fewshot_split ? t->fewshot_split : t->eval_split;
        if (rc == 0 && k > 0)
            rc = task_docs_load(t, fs_split, data_dir, samples, 0, false, &pool, &err);
        if (rc == 0 && docs.n) {
            py_random rng;
            pyr_seed(&rng, 1234);
            task_prompt p;
            rc = task_prompt_build(t, &docs.docs[0], k > 0 ? &pool : NULL, SIZE_MAX, k, &rng, &p, &err);
            if (rc == 0) {
                printf("\n# example prompt (%s%s, first document, %d-shot)\n%s", docs.path,
                       docs.sample ? ", SAMPLE data" : "", k, p.context);
                for (size_t c = 0; c < p.nchoices; c++)
                    printf("\n# choice %zu%s: \"%s\"", c, (int)c == p.gold ? " (gold)" : "", p.choices[c]);
                if (p.nrefs)
                    printf("\n# reference: %s", p.refs[0]);
                if (p.cls_text) {
                    /* what an encoder classifier reads instead (classification block) */
                    printf("\n# classifier input: \"%s\"", p.cls_text);
                    if (p.cls_pair)
                        printf(" / \"%s\"", p.cls_pair);
                    if (t->ncls_labels && p.gold >= 0 && (size_t)p.gold < t->ncls_labels)
                        printf("\n# classifier gold class: %s", t->cls_labels[p.gold]);
                    else if (!t->ncls_labels && !isnan(p.gold_number))
                        printf("\n# classifier gold score: %g", p.gold_number);
                }
                printf("\n");
                task_prompt_free(&p);
            }
        }
        task_docs_free(&docs);
        task_docs_free(&pool);
        free(samples);
    }
    task_free(t);
    free(path);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}

int cmd_tasks(int argc, char **argv)
{
    const char *include[TASKDIRS_MAX], *data_dir = NULL, *verb = NULL, *name = NULL;
    size_t ninclude = 0;
    long fewshot = -1;
    int first_file = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(tasks_help, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--include-path", true, &v)) > 0) {
            if (ninclude < TASKDIRS_MAX - 4)
                include[ninclude++] = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--data-dir", true, &v)) > 0) {
            data_dir = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--num-fewshot", true, &v)) > 0) {
            if (cli_parse_int(v, 0, 1000, &fewshot) < 0)
                return cli_usage_error("tasks", "--num-fewshot needs a count");
        } else if (r < 0) {
            return cli_usage_error("tasks", "option %s needs a value", argv[i]);
        } else if (argv[i][0] == '-') {
            return cli_usage_error("tasks", "unknown option '%s'", argv[i]);
        } else if (!verb) {
            verb = argv[i];
            first_file = i + 1;
        } else if (!name) {
            name = argv[i];
        }
    }
    if (verb && !strcmp(verb, "validate"))
        return validate(argc, argv, first_file, include, ninclude);
    taskdirs dirs;
    taskdirs_init(&dirs, include, ninclude);
    int rc;
    if (verb && !strcmp(verb, "list"))
        rc = list(&dirs);
    else if (verb && !strcmp(verb, "show") && name)
        rc = show(&dirs, name, taskdirs_data_dir(data_dir), (int)fewshot);
    else
        rc = cli_usage_error("tasks", "expected list, show NAME or validate FILE...");
    taskdirs_free(&dirs);
    return rc;
}
