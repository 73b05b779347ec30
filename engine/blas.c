#include "blas.h"

#include <dlfcn.h>
#include <string.h>

int eng_blas_open(eng_blas *b, ys_error *err)
{
    memset(b, 0, sizeof *b);
    const char *paths[] = {YS_OPENBLAS_PATH, "libopenblas.so.0"};
    const char *why = "";
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && !b->handle; i++) {
        b->handle = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!b->handle)
            why = dlerror();
    }
    if (!b->handle)
        return ys_fail(err, YS_ERESOURCE, "cannot load OpenBLAS (%s): install Debian's libopenblas0 (%s)",
                       YS_OPENBLAS_PATH, why ? why : "");
    /* POSIX allows converting dlsym's object pointer to a function pointer;
     * the memcpy keeps -Wpedantic quiet about it. */
    void *s = dlsym(b->handle, "cblas_sgemm"), *t = dlsym(b->handle, "openblas_set_num_threads");
    void *v = dlsym(b->handle, "cblas_sgemv");
    if (!s || !t || !v) {
        eng_blas_close(b);
        return ys_fail(err, YS_ERESOURCE, "%s lacks cblas_sgemm or openblas_set_num_threads", YS_OPENBLAS_PATH);
    }
    memcpy(&b->sgemm, &s, sizeof s);
    memcpy(&b->set_num_threads, &t, sizeof t);
    memcpy(&b->sgemv, &v, sizeof v);
    return 0;
}

void eng_blas_close(eng_blas *b)
{
    if (b->handle)
        dlclose(b->handle);
    memset(b, 0, sizeof *b);
}
