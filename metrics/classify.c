#include "classify.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double cls_accuracy(const int *pred, const int *ref, size_t n)
{
    if (n == 0)
        return NAN;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += pred[i] == ref[i];
    return (double)ok / (double)n;
}

static double safe_div(double a, double b) { return b == 0 ? 0.0 : a / b; }

/* sklearn's F: (1 + b²)·P·R / (b²·P + R), a zero denominator counting as 1. */
static double fscore(double p, double r)
{
    double denom = p + r;
    if (denom == 0.0)
        denom = 1;
    return 2 * p * r / denom;
}

int cls_prf(const int *pred, const int *ref, size_t n, int nlabels, cls_average avg, int pos,
            double *precision, double *recall, double *f1, ys_error *err)
{
    int64_t *tp = calloc((size_t)nlabels + 1, sizeof *tp);
    int64_t *ps = calloc((size_t)nlabels + 1, sizeof *ps);
    int64_t *ts = calloc((size_t)nlabels + 1, sizeof *ts);
    if (!tp || !ps || !ts) {
        free(tp), free(ps), free(ts);
        return ys_fail(err, YS_ENOMEM, "out of memory in classification metrics");
    }
    for (size_t i = 0; i < n; i++) {
        ps[pred[i]]++;
        ts[ref[i]]++;
        tp[ref[i]] += pred[i] == ref[i];
    }
    if (avg == CLS_BINARY || avg == CLS_MICRO) {
        double t = 0, p = 0, s = 0;
        if (avg == CLS_BINARY) {
            if (pos >= 0 && pos < nlabels)
                t = (double)tp[pos], p = (double)ps[pos], s = (double)ts[pos];
        } else {
            for (int l = 0; l < nlabels; l++)
                t += (double)tp[l], p += (double)ps[l], s += (double)ts[l];
        }
        *precision = safe_div(t, p);
        *recall = safe_div(t, s);
        *f1 = fscore(*precision, *recall);
    } else {
        double sp = 0, sr = 0, sf = 0, wsum = 0;
        for (int l = 0; l < nlabels; l++) {
            double p = safe_div((double)tp[l], (double)ps[l]);
            double r = safe_div((double)tp[l], (double)ts[l]);
            double w = avg == CLS_WEIGHTED ? (double)ts[l] : 1.0;
            sp += w * p, sr += w * r, sf += w * fscore(p, r), wsum += w;
        }
        *precision = safe_div(sp, wsum);
        *recall = safe_div(sr, wsum);
        *f1 = safe_div(sf, wsum);
    }
    free(tp), free(ps), free(ts);
    return 0;
}

int cls_matthews(const int *pred, const int *ref, size_t n, int nlabels, double *out, ys_error *err)
{
    /* sklearn's multiclass MCC from the confusion matrix's margins:
     * (c·s − t·p) / sqrt((s² − p·p)(s² − t·t)), 0 when undefined. */
    double *t = calloc((size_t)nlabels + 1, sizeof *t), *p = calloc((size_t)nlabels + 1, sizeof *p);
    if (!t || !p) {
        free(t), free(p);
        return ys_fail(err, YS_ENOMEM, "out of memory in Matthews correlation");
    }
    double c = 0, s = (double)n;
    for (size_t i = 0; i < n; i++) {
        t[ref[i]]++;
        p[pred[i]]++;
        c += pred[i] == ref[i];
    }
    double tp = 0, pp = 0, tt = 0;
    for (int l = 0; l < nlabels; l++)
        tp += t[l] * p[l], pp += p[l] * p[l], tt += t[l] * t[l];
    double cov_ytyp = c * s - tp, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
    *out = cov_ypyp * cov_ytyt == 0 ? 0.0 : cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
    free(t), free(p);
    return 0;
}

double cls_pearson(const double *x, const double *y, size_t n)
{
    if (n < 2)
        return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    int constx = 1, consty = 1;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
        constx &= x[i] == x[0];
        consty &= y[i] == y[0];
    }
    if (constx || consty)
        return NAN;
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

typedef struct {
    double v;
    size_t i;
} ranked;

static int by_value(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* scipy.stats.rankdata(method="average"): ranks from 1, ties share the mean. */
static int average_ranks(const double *v, size_t n, double *rank)
{
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < n; i++)
        r[i].v = v[i], r[i].i = i;
    qsort(r, n, sizeof *r, by_value);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && r[j + 1].v == r[i].v)
            j++;
        double avg = (double)(i + j) / 2.0 + 1.0;
        for (size_t k = i; k <= j; k++)
            rank[r[k].i] = avg;
        i = j + 1;
    }
    free(r);
    return 0;
}

int cls_spearman(const double *x, const double *y, size_t n, double *out, ys_error *err)
{
    double *rx = malloc((n ? n : 1) * sizeof *rx), *ry = malloc((n ? n : 1) * sizeof *ry);
    if (!rx || !ry || average_ranks(x, n, rx) < 0 || average_ranks(y, n, ry) < 0) {
        free(rx), free(ry);
        return ys_fail(err, YS_ENOMEM, "out of memory in Spearman correlation");
    }
    *out = cls_pearson(rx, ry, n);
    free(rx), free(ry);
    return 0;
}

int cls_parse_average(const char *name, cls_average *out)
{
    static const char *names[] = {"binary", "macro", "micro", "weighted"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (cls_average)i;
            return 0;
        }
    return -1;
}
