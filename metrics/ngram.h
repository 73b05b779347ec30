/* ngram.h — a small open-addressing table of byte-string keys with counts,
 * the workhorse of BLEU, chrF, ROUGE and SQuAD statistics.
 *
 * Keys are spans of caller-owned text (never copied): the caller keeps the
 * text alive while the table is in use. Each entry carries a hypothesis
 * count, the running count in the current reference, and the maximum over
 * references seen so far. ng_free releases the table's own memory only.
 *
 * Speed matters here (a few hundred lookups per sentence pair), so:
 *  - probing reads only a compact array of 32-bit hash tags; the entry
 *    itself (and a byte comparison) is touched only when the tag matches;
 *  - ng_reset clears only the slots that were used (listed in `live`), so
 *    a table sized for a long sentence costs nothing on a short one;
 *  - callers that can compute a key's hash incrementally (an n-gram's hash
 *    from its tokens' hashes) pass it to ng_get_h. A table must be used with
 *    one hash function throughout: either always ng_get, or always ng_get_h
 *    with the caller's own function of the key bytes.
 */
#ifndef YS_NGRAM_H
#define YS_NGRAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *key;
    uint32_t len;
    uint32_t stamp;   /* which reference ref_cur belongs to */
    int64_t hyp;      /* count in the hypothesis */
    int64_t ref_cur;  /* count in the reference being scanned */
    int64_t ref_max;  /* max count over references so far */
    int order;        /* n-gram order, for callers that mix orders */
} ng_entry;

typedef struct {
    ng_entry *slots;
    uint32_t *tags;   /* per slot: 0 empty, else hash bits with the top bit set */
    uint32_t *live;   /* slot index of every key, in insertion order */
    size_t cap, used; /* live[0 .. used) are the occupied slots */
} ng_table;

/* Empty the table keeping at least room for `expect` keys; -1 on OOM. */
int ng_reset(ng_table *t, size_t expect);
/* Find key, inserting a zeroed entry when insert is set; NULL when absent
 * (or on OOM when inserting). */
ng_entry *ng_get(ng_table *t, const char *key, size_t len, int insert);
/* As ng_get with the key's 64-bit hash supplied by the caller. */
ng_entry *ng_get_h(ng_table *t, const char *key, size_t len, uint64_t hash, int insert);
/* The hash ng_get uses: fast on short keys (8 bytes per step). */
uint64_t ng_hash(const char *key, size_t len);
/* Mix one more 64-bit value into a running hash (for n-grams built from
 * token or code point hashes). */
static inline uint64_t ng_hash_step(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}
void ng_free(ng_table *t);

#endif
