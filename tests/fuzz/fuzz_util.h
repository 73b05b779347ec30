/* fuzz_util.h — what the libFuzzer harnesses share: a private scratch
 * folder per process (the parsers under test read files and folders, so a
 * harness writes its input there), and quiet stdio for the harnesses that
 * call a whole command.
 *
 * Header-only and static: each harness is one program, built only with
 * -DYS_FUZZ=ON (clang, -fsanitize=fuzzer). Failing to set up the scratch
 * folder aborts: that is the harness's environment, not an input, and a
 * fuzzer that silently tests nothing would be worse. */
#ifndef YS_FUZZ_UTIL_H
#define YS_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The process's scratch folder, made on first use. libFuzzer runs inputs
 * one after the other in one process (and -fork/-jobs use one process per
 * worker), so one folder per process is never shared. */
static inline const char *fz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ys_fuzz_scratch.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* dir/name as a path in buf. */
static inline const char *fz_path(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

/* Write data[0..len) to dir/name (replacing it). */
static inline void fz_write(const char *dir, const char *name, const void *data, size_t len)
{
    char p[512];
    FILE *f = fopen(fz_path(p, sizeof p, dir, name), "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        abort();
}

/* Copy the file src to dir/name. */
static inline void fz_copy(const char *src, const char *dir, const char *name)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        abort();
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536)))
            abort();
        size_t got = fread(buf + n, 1, cap - n, f);
        if (!got)
            break;
        n += got;
    }
    fclose(f);
    fz_write(dir, name, buf, n);
    free(buf);
}

/* A fresh empty subfolder dir/name of the scratch folder (files in it from
 * an earlier input are removed; subfolders are not used by the harnesses). */
static inline const char *fz_subdir(char *buf, size_t cap, const char *name)
{
    fz_path(buf, cap, fz_dir(), name);
    mkdir(buf, 0700);
    return buf;
}

static inline void fz_unlink(const char *dir, const char *name)
{
    char p[512];
    unlink(fz_path(p, sizeof p, dir, name));
}

/* Send stdout to /dev/null: the commands print their results, which would
 * only slow the fuzzer. (Their error messages go to stderr: run with
 * -close_fd_mask=2 to silence those; libFuzzer keeps its own report.) */
static inline void fz_quiet(void)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0)
        abort();
    fflush(stdout);
    dup2(fd, STDOUT_FILENO);
    close(fd);
}

#endif
