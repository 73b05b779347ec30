/* threads.h — how many threads the engine uses by default: every core the
 * process may run on (sched_getaffinity, so a container's CPU limit counts),
 * at least one. Callers pass --threads N to override. */
#ifndef YS_ENGINE_THREADS_H
#define YS_ENGINE_THREADS_H

int eng_default_threads(void);

#endif
