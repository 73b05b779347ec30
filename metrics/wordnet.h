/* wordnet.h — read-only WordNet 3.0 lookups over Debian's wordnet-base
 * files, matching NLTK 3.8's `wordnet.synsets(word)` (all parts of speech,
 * morphy with the exception lists and detachment rules).
 *
 * wordnet_open maps the index.*, data.* and *.exc files of `dir` (NULL: the
 * compiled default YS_WORDNET_DIR) without parsing them, so it is cheap;
 * lookups binary-search the sorted index files. A missing or incomplete
 * directory gives YS_ERESOURCE with a message naming the directory and the
 * missing file. An open handle is immutable: it may be shared by threads.
 * Lemma names returned by lookups point into the handle's mapped files and
 * stay valid until wordnet_close.
 */
#ifndef YS_WORDNET_H
#define YS_WORDNET_H

#include <stddef.h>

#include "ys_error.h"

typedef struct wordnet wordnet;

/* One lemma name as stored in WordNet ('_' between words, adjective markers
 * such as "(a)" removed, case kept); not NUL-terminated. */
typedef struct {
    const char *str;
    size_t len;
} wordnet_name;

/* A growable list owned by the caller: start zeroed, reuse across lookups,
 * release with wordnet_names_free. */
typedef struct {
    wordnet_name *items;
    size_t count, cap;
} wordnet_names;

/* The directory used when wordnet_open gets NULL. */
const char *wordnet_default_dir(void);

/* Open the WordNet 3.0 database in dir. On success *out owns the mapping. */
int wordnet_open(const char *dir, wordnet **out, ys_error *err);
void wordnet_close(wordnet *wn);

/* Replace names' contents with the distinct lemma names (first occurrence
 * order) of every synset NLTK's wordnet.synsets(word) returns; word is UTF-8
 * of len bytes and is lower-cased first as NLTK does. Returns 0, or YS_ENOMEM. */
int wordnet_lemma_names(const wordnet *wn, const char *word, size_t len, wordnet_names *names,
                        ys_error *err);

void wordnet_names_free(wordnet_names *names);

#endif
