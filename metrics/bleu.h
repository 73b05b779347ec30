/* bleu.h — BLEU exactly as sacrebleu 2.x (2.6.0) computes it.
 *
 * Per sample, bleu_stats holds sacrebleu's sufficient statistics (system and
 * closest reference length, matched and total n-grams of orders 1-4); a
 * corpus score is bleu_score_from over the sum of every sample's stats, and
 * sentence BLEU is the same function over one sample's stats.
 * Text is lower-cased (optionally, Python's str.lower), right-stripped and
 * tokenized (mtok) before n-grams are counted. Inputs must be valid UTF-8.
 * A bleu_ctx holds reusable scratch memory: create one per thread, free it
 * with bleu_ctx_free. Functions return 0 or YS_ENOMEM.
 */
#ifndef YS_BLEU_H
#define YS_BLEU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtok.h"
#include "ys_error.h"

#define BLEU_ORDER 4
#define BLEU_SACREBLEU_VERSION "2.6.0"

typedef enum { BLEU_SMOOTH_EXP, BLEU_SMOOTH_FLOOR, BLEU_SMOOTH_ADDK, BLEU_SMOOTH_NONE } bleu_smooth;

typedef struct {
    mtok_kind tokenize;      /* default MTOK_13A */
    bleu_smooth smooth;      /* default BLEU_SMOOTH_EXP */
    double smooth_value;     /* NAN: sacrebleu's default (floor 0.1, add-k 1) */
    bool lowercase;
    bool effective_order;    /* corpus level; sentence level may override */
} bleu_options;

typedef struct {
    int64_t sys_len, ref_len;
    int64_t correct[BLEU_ORDER], total[BLEU_ORDER];
} bleu_stats;

typedef struct {
    double score;                 /* 0-100 */
    double counts[BLEU_ORDER];    /* as sacrebleu reports them (add-k adds k) */
    double totals[BLEU_ORDER];
    double precisions[BLEU_ORDER];
    double bp, ratio;
    int64_t sys_len, ref_len;
} bleu_score;

typedef struct bleu_ctx bleu_ctx;

void bleu_options_default(bleu_options *o);
bleu_ctx *bleu_ctx_new(void);
void bleu_ctx_free(bleu_ctx *c);

/* Statistics of one hypothesis against nrefs references (nrefs >= 1). */
int bleu_sample_stats(bleu_ctx *c, const bleu_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, bleu_stats *out, ys_error *err);
void bleu_stats_add(bleu_stats *acc, const bleu_stats *s);
/* BLEU from (summed) statistics; effective_order as sacrebleu's flag. */
void bleu_score_from(const bleu_stats *s, const bleu_options *o, bool effective_order,
                     bleu_score *out);
/* sacrebleu's signature, e.g. nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0;
 * nrefs < 0 prints "var" (samples with different numbers of references). */
void bleu_signature(const bleu_options *o, bool effective_order, int nrefs, char *buf, size_t cap);
int bleu_parse_smooth(const char *name, bleu_smooth *out);

#endif
