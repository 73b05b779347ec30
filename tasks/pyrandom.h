/* pyrandom.h — Python's random.Random, as far as few-shot sampling needs it.
 *
 * lm-evaluation-harness draws few-shot examples with
 * random.Random(seed).sample(docs, n), one generator per task that runs
 * through the documents in order. To reproduce its prompts exactly this
 * module restates CPython's generator (MT19937 seeded with init_by_array
 * from the integer's 32-bit words, as random.seed(int) does),
 * getrandbits(k <= 32), _randbelow (rejection on n.bit_length() bits) and
 * Random.sample (the pool method for small populations, the set method
 * otherwise, with CPython's threshold 21 + 4**ceil(log4(3k)) for k > 5).
 * The results are checked against /usr/bin/python3 in test_pyrandom.
 * Pure functions of the state; no allocation except in pyr_sample.
 */
#ifndef YS_PYRANDOM_H
#define YS_PYRANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t mt[624];
    int mti;
} py_random;

/* random.Random(seed) for a non-negative integer seed. */
void pyr_seed(py_random *r, uint64_t seed);
/* random.getrandbits(k), 1 <= k <= 32. */
uint32_t pyr_getrandbits(py_random *r, int k);
/* random._randbelow(n), n >= 1. */
uint64_t pyr_randbelow(py_random *r, uint64_t n);
/* random.sample(range(n), k) into out[0..k): the indices Python picks, in
 * its order. Returns 0, or -1 when k > n or out of memory. */
int pyr_sample(py_random *r, size_t n, size_t k, size_t *out);

#endif
