/* ys_reserve.h — grow a malloc'd array to hold at least n elements, doubling
 * its capacity (counted in elements), for the metrics' reusable scratch
 * buffers. Returns 0, or -1 when out of memory (the array is unchanged). */
#ifndef YS_RESERVE_H
#define YS_RESERVE_H

#include <stdlib.h>

static inline int ys_reserve(void **p, size_t *cap, size_t n, size_t el)
{
    if (*cap >= n)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < n)
        c *= 2;
    void *np = realloc(*p, c * el);
    if (!np)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

#endif
