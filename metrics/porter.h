/* porter.h — the Porter stemmer exactly as NLTK 3.8's PorterStemmer() in its
 * default NLTK_EXTENSIONS mode (irregular-form table, the 'ies'/'ied' and
 * 'y'-after-consonant extensions, 'alli' and 'logi' rules, words of one or two
 * characters left alone).
 *
 * Contract: `word` holds `len` bytes of UTF-8 that the caller has already
 * lower-cased (Python's str.lower, e.g. uni_lower_utf8); it need not be
 * NUL-terminated. Like NLTK, the stemmer counts code points, not bytes; any
 * byte that is not valid UTF-8 counts as one consonant and is copied as is.
 * `out` must have room for len + 1 bytes (a stem is never longer than its
 * word); the stem is written NUL-terminated and its length in bytes is
 * returned. Words of up to 64 code points use no heap memory; longer ones
 * allocate scratch space and, should that fail, are returned unchanged.
 * Thread-safe: no state is kept between calls.
 */
#ifndef YS_PORTER_H
#define YS_PORTER_H

#include <stddef.h>

size_t porter_stem(const char *word, size_t len, char *out);

#endif
