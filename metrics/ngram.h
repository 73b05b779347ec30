/* ngram.h — a small open-addressing table of byte-string keys with counts,
 * the workhorse of BLEU and chrF statistics.
 *
 * Keys are spans of caller-owned text (never copied): the caller keeps the
 * text alive while the table is in use. Each entry carries a hypothesis
 * count, the running count in the current reference, and the maximum over
 * references seen so far. ng_free releases the table's own memory only.
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
    size_t cap, used;
} ng_table;

/* Empty the table keeping at least room for `expect` keys; -1 on OOM. */
int ng_reset(ng_table *t, size_t expect);
/* Find key, inserting a zeroed entry when insert is set; NULL when absent
 * (or on OOM when inserting). */
ng_entry *ng_get(ng_table *t, const char *key, size_t len, int insert);
void ng_free(ng_table *t);

#endif
