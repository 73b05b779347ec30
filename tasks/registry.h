/* registry.h — finding task specs by name.
 *
 * A registry is a list of directories searched in order (the user's
 * --include-path and $YARDSTICK_TASKS first, the built-in specs last), each
 * holding NAME.json files; the first directory with a name wins, so users
 * can override a built-in task. Nothing is parsed until asked for.
 * treg_new copies the directory list; free with treg_free.
 */
#ifndef YS_REGISTRY_H
#define YS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "ys_error.h"

typedef struct task_registry task_registry;

int treg_new(const char *const *dirs, size_t ndirs, task_registry **out, ys_error *err);
void treg_free(task_registry *r);
/* Every task name, sorted, without duplicates (valid until treg_free). */
size_t treg_names(const task_registry *r, const char *const **names);
/* The spec file for name (malloc'd), or NULL: then err says so and lists
 * the closest known names. */
char *treg_find(const task_registry *r, const char *name, ys_error *err);

#endif
