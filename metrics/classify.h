/* classify.h — classification and regression metrics as scikit-learn 1.2 and
 * scipy 1.10 compute them (accuracy, precision/recall/F1 with binary, macro,
 * micro and weighted averages, Matthews correlation, Pearson, Spearman with
 * average ranks on ties).
 *
 * Labels are integer ids 0..nlabels-1 assigned by the caller (the label set
 * is the union of predictions and references, as sklearn's). A zero
 * denominator gives 0.0, sklearn's zero_division="warn" result. Correlations
 * of a constant input, or of fewer than two points, are NaN (undefined).
 * Functions that allocate return 0 or YS_ENOMEM.
 */
#ifndef YS_CLASSIFY_H
#define YS_CLASSIFY_H

#include <stddef.h>

#include "ys_error.h"

typedef enum { CLS_BINARY, CLS_MACRO, CLS_MICRO, CLS_WEIGHTED } cls_average;

double cls_accuracy(const int *pred, const int *ref, size_t n);
/* Precision, recall and F1 (0..1). For CLS_BINARY, pos is the positive
 * label's id (it may be absent from the data: then its scores are 0). */
int cls_prf(const int *pred, const int *ref, size_t n, int nlabels, cls_average avg, int pos,
            double *precision, double *recall, double *f1, ys_error *err);
int cls_matthews(const int *pred, const int *ref, size_t n, int nlabels, double *out, ys_error *err);
double cls_pearson(const double *x, const double *y, size_t n);
int cls_spearman(const double *x, const double *y, size_t n, double *out, ys_error *err);
int cls_parse_average(const char *name, cls_average *out);

#endif
