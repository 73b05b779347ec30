#include "pyrandom.h"

#include <stdlib.h>

/* MT19937 as in CPython's _randommodule.c (itself Matsumoto and
 * Nishimura's reference code). */
static void init_genrand(py_random *r, uint32_t s)
{
    r->mt[0] = s;
    for (int i = 1; i < 624; i++)
        r->mt[i] = 1812433253U * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = 624;
}

static void init_by_array(py_random *r, const uint32_t *key, size_t len)
{
    init_genrand(r, 19650218U);
    size_t i = 1, j = 0, k = 624 > len ? 624 : len;
    for (; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525U)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= 624)
            r->mt[0] = r->mt[623], i = 1;
        if (j >= len)
            j = 0;
    }
    for (k = 623; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941U)) - (uint32_t)i;
        i++;
        if (i >= 624)
            r->mt[0] = r->mt[623], i = 1;
    }
    r->mt[0] = 0x80000000U;
}

void pyr_seed(py_random *r, uint64_t seed)
{
    /* random.seed(int): the absolute value's 32-bit words, least
     * significant first, at least one */
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    init_by_array(r, key, key[1] ? 2 : 1);
}

static uint32_t genrand(py_random *r)
{
    static const uint32_t mag01[2] = {0, 0x9908b0dfU};
    uint32_t y;
    if (r->mti >= 624) {
        int kk;
        for (kk = 0; kk < 624 - 397; kk++) {
            y = (r->mt[kk] & 0x80000000U) | (r->mt[kk + 1] & 0x7fffffffU);
            r->mt[kk] = r->mt[kk + 397] ^ (y >> 1) ^ mag01[y & 1];
        }
        for (; kk < 623; kk++) {
            y = (r->mt[kk] & 0x80000000U) | (r->mt[kk + 1] & 0x7fffffffU);
            r->mt[kk] = r->mt[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1];
        }
        y = (r->mt[623] & 0x80000000U) | (r->mt[0] & 0x7fffffffU);
        r->mt[623] = r->mt[396] ^ (y >> 1) ^ mag01[y & 1];
        r->mti = 0;
    }
    y = r->mt[r->mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

uint32_t pyr_getrandbits(py_random *r, int k)
{
    return genrand(r) >> (32 - k);
}

uint64_t pyr_randbelow(py_random *r, uint64_t n)
{
    int k = 0;
    while (k < 64 && (n >> k))
        k++;
    for (;;) {
        /* getrandbits(k) for k > 32 fills 32-bit words, low word first */
        uint64_t v;
        if (k <= 32) {
            v = pyr_getrandbits(r, k);
        } else {
            uint64_t lo = genrand(r);
            v = lo | ((uint64_t)(genrand(r) >> (64 - k)) << 32);
        }
        if (v < n)
            return v;
    }
}

int pyr_sample(py_random *r, size_t n, size_t k, size_t *out)
{
    if (k > n)
        return -1;
    size_t setsize = 21;
    if (k > 5) {
        /* 4 ** ceil(log(3k, 4)); 3k is never a power of 4 */
        size_t p = 1;
        while (p < 3 * k)
            p *= 4;
        setsize += p;
    }
    if (n <= setsize) {
        size_t *pool = malloc((n ? n : 1) * sizeof *pool);
        if (!pool)
            return -1;
        for (size_t i = 0; i < n; i++)
            pool[i] = i;
        for (size_t i = 0; i < k; i++) {
            size_t j = (size_t)pyr_randbelow(r, n - i);
            out[i] = pool[j];
            pool[j] = pool[n - i - 1];
        }
        free(pool);
        return 0;
    }
    for (size_t i = 0; i < k; i++) {
        size_t j;
        for (;;) {
            j = (size_t)pyr_randbelow(r, n);
            size_t m = 0;
            while (m < i && out[m] != j)
                m++;
            if (m == i)
                break;
        }
        out[i] = j;
    }
    return 0;
}
