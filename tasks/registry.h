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
/* Check that expanding the group `name` (members as given, so a spec file
 * that is not in the registry can be checked too) never reaches a group
 * already being expanded: a group that includes itself, directly or through
 * other groups, is YS_EINPUT naming the whole cycle ("a -> b -> a") and the
 * spec file that closes it. Members the registry does not know or cannot
 * load are left for the caller to report; only cycles fail here. */
int treg_check_group(const task_registry *r, const char *name, const char *const *members,
                     size_t nmembers, ys_error *err);

#endif
