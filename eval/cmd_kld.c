/* yardstick kld — the KL divergence of a model's next-token distributions
 * from a base model's, position by position over the whole vocabulary,
 * with the statistics llama.cpp's `perplexity --kl-divergence` prints
 * (metrics/kld.h has the definitions and the commit they were read at). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "encoder.h"
#include "kld.h"
#include "kld_cli.h"
#include "model_cli.h"
#include "seq2seq.h"
#include "tokenizer.h"

static const char kld_help[] =
    "usage: yardstick kld --base DIR --model DIR2 [--adapter A] [[--quantize Q] [--quantize-head Q] [--group-size G] [--compute int8] | --compute bf16 | --compute int8] (--text F [--ctx N] [--stride S] | --ids F |\n"
    "                     --tasks LIST [--limit N] [--num-fewshot K] [--data-dir D] [--include-path P] [--seed S (1234)]\n"
    "                     [--allow-empty])\n"
    "                     [--threads T] [--json] [--per-token]\n"
    "\n"
    "For every scored position, KL(base || model) over the whole vocabulary and the\n"
    "statistics llama.cpp's `perplexity --kl-divergence` prints: PPL of both models and\n"
    "their ratio, mean/median/percentiles/max KLD, Δp = p_model - p_base of the observed\n"
    "token (mean, RMS, percentiles), and how often both models' top token agree.\n"
    "--adapter, --quantize and --quantize-head apply to --model only (--base DIR --model DIR --quantize int4\n"
    "answers \"what would int4 cost\"). Both models must be decoders sharing a tokenizer.\n"
    "\n"
    "  --text F   the whole file tokenized with the base's tokenizer (with its special\n"
    "             tokens), scored in windows as `yardstick perplexity` does: windows of\n"
    "             --ctx tokens every --stride tokens, each token scored once, in the first\n"
    "             window that reaches it (not llama.cpp's second-half-of-each-chunk rule)\n"
    "  --ids F    one sequence of token ids per line, scored from position 1\n"
    "  --tasks L  the continuation tokens of the log-likelihood requests `yardstick run`\n"
    "             builds for the tasks, a KLD row per task, and each task's metrics for\n"
    "             both models with the compare command's paired tests; an eval split\n"
    "             without documents is bad data (exit 3) unless --allow-empty (n = 0)\n"
    "  --json     one JSON object (fractions, not percentages)\n"
    "  --per-token  with --json: every position's kld, nll, nll_base, p_diff, same_top\n";

/* ---- the shared scoring ---------------------------------------------------- */

int kld_set_add(kld_set *s, const kld_pos *p, ys_error *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *a = realloc(s->kv, cap * sizeof *a);
        if (a)
            s->kv = a;
        double *b = a ? realloc(s->dv, cap * sizeof *b) : NULL;
        if (b)
            s->dv = b;
        if (!a || !b)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        s->cap = cap;
    }
    s->kv[s->n] = p->kld, s->dv[s->n] = p->p_diff;
    s->n++;
    kld_acc_add(&s->acc, p);
    return 0;
}

void kld_set_free(kld_set *s)
{
    free(s->kv), free(s->dv);
    memset(s, 0, sizeof *s);
}

static int ensure_rows(kld_run *r, size_t rows, ys_error *err)
{
    if (rows <= r->cap_rows)
        return 0;
    free(r->lb), free(r->lm), free(r->lpb), free(r->lpm), free(r->grb), free(r->grm);
    r->lb = malloc(rows * r->vocab * sizeof *r->lb);
    r->lm = malloc(rows * r->vocab * sizeof *r->lm);
    r->lpb = malloc(rows * sizeof *r->lpb), r->lpm = malloc(rows * sizeof *r->lpm);
    r->grb = malloc(rows), r->grm = malloc(rows);
    if (!r->lb || !r->lm || !r->lpb || !r->lpm || !r->grb || !r->grm) {
        r->cap_rows = 0;
        return ys_fail(err, YS_ENOMEM, "out of memory for the logits of %zu positions (vocabulary %zu)", rows,
                       r->vocab);
    }
    r->cap_rows = rows;
    return 0;
}

static int keep_pos(kld_run *r, const kld_pos *p, int32_t seq, int32_t at, int32_t tok, ys_error *err)
{
    if (r->npos == r->cap_pos) {
        size_t cap = r->cap_pos ? r->cap_pos * 2 : 1024;
        kld_pos *a = realloc(r->pos, cap * sizeof *a);
        if (a)
            r->pos = a;
        int32_t(*w)[3] = a ? realloc(r->where, cap * sizeof *w) : NULL;
        if (w)
            r->where = w;
        if (!a || !w)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        r->cap_pos = cap;
    }
    r->pos[r->npos] = *p;
    r->where[r->npos][0] = seq, r->where[r->npos][1] = at, r->where[r->npos][2] = tok;
    r->npos++;
    return 0;
}

int kld_score(kld_run *r, const int32_t *const *seqs, const size_t *lens, const size_t *from, size_t nseq,
              int32_t seq_index, kld_set *const *extra, double *ll_base, double *ll_model, uint8_t *greedy_base,
              uint8_t *greedy_model, ys_error *err)
{
    size_t rows = 0;
    for (size_t s = 0; s < nseq; s++)
        rows += lens[s] - from[s];
    float **lb = malloc((nseq + 1) * sizeof *lb), **lm = malloc((nseq + 1) * sizeof *lm);
    double **pb = malloc((nseq + 1) * sizeof *pb), **pm = malloc((nseq + 1) * sizeof *pm);
    uint8_t **gb = malloc((nseq + 1) * sizeof *gb), **gm = malloc((nseq + 1) * sizeof *gm);
    int rc = lb && lm && pb && pm && gb && gm ? ensure_rows(r, rows, err) : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t s = 0, off = 0; rc == 0 && s < nseq; off += lens[s] - from[s], s++) {
        lb[s] = r->lb + off * r->vocab, lm[s] = r->lm + off * r->vocab;
        pb[s] = r->lpb + off, pm[s] = r->lpm + off;
        gb[s] = r->grb + off, gm[s] = r->grm + off;
    }
    if (rc == 0)
        rc = model_logprobs(r->base, seqs, lens, nseq, from, pb, gb, lb, err);
    if (rc == 0)
        rc = model_logprobs(r->model, seqs, lens, nseq, from, pm, gm, lm, err);
    for (size_t s = 0; rc == 0 && s < nseq; s++) {
        double sb = 0, sm = 0;
        uint8_t ab = 1, am = 1;
        for (size_t i = 0; rc == 0 && i < lens[s] - from[s]; i++) {
            int32_t tok = seqs[s][from[s] + i];
            kld_pos p;
            rc = kld_position_logits(lb[s] + i * r->vocab, lm[s] + i * r->vocab, r->vocab, tok, &p, err);
            if (rc == 0)
                rc = kld_set_add(&r->total, &p, err);
            if (rc == 0 && extra && extra[s])
                rc = kld_set_add(extra[s], &p, err);
            if (rc == 0 && r->keep)
                rc = keep_pos(r, &p, seq_index + (int32_t)s, (int32_t)(from[s] + i), tok, err);
            sb += pb[s][i], sm += pm[s][i];
            ab &= gb[s][i], am &= gm[s][i];
        }
        if (ll_base)
            ll_base[s] = sb;
        if (ll_model)
            ll_model[s] = sm;
        if (greedy_base)
            greedy_base[s] = ab;
        if (greedy_model)
            greedy_model[s] = am;
    }
    free(lb), free(lm), free(pb), free(pm), free(gb), free(gm);
    return rc;
}

static void kld_run_free(kld_run *r)
{
    free(r->lb), free(r->lm), free(r->lpb), free(r->lpm), free(r->grb), free(r->grm);
    free(r->pos), free(r->where);
    kld_set_free(&r->total);
    model_free(r->base), model_free(r->model);
}

/* ---- checks -------------------------------------------------------------- */

/* Decoders only: a classifier or an encoder-decoder has no next-token
 * distribution over a shared vocabulary to compare. */
int kld_check_decoder(const char *dir, const char *role, ys_error *err)
{
    int r = enc_supports(dir, err);
    if (r > 0)
        return ys_fail(err, YS_EUSAGE, "the KL divergence compares decoder-only language models; %s %s is an encoder classifier",
                       role, dir);
    if (r == 0 && (r = s2s_supports(dir, err)) > 0)
        return ys_fail(err, YS_EUSAGE, "the KL divergence compares decoder-only language models; %s %s is an "
                                       "encoder-decoder", role, dir);
    return r < 0 ? r : 0;
}

bool kld_has_tokenizer(const char *dir)
{
    char p[4096];
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode))
        return tok_available(dir);   /* a GGUF file: a tokenizer in its metadata, or none */
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (stat(p, &st) == 0)
        return true;
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    return stat(p, &st) == 0;
}

/* The same tokenizer: the same vocabulary, piece for piece, and the same
 * BOS/EOS (files may differ in formatting or unrelated fields, e.g. a
 * quantized copy's tokenizer_config.json). --text additionally checks that
 * both encode the text to the same ids (kld_text). */
int kld_same_vocabulary(const tok_tokenizer *a, const tok_tokenizer *b, const char *da, const char *db,
                        ys_error *err)
{
    size_t na = tok_vocab_size(a), nb = tok_vocab_size(b);
    if (na != nb)
        return ys_fail(err, YS_EINPUT, "the models do not share a tokenizer: %s has %zu tokens, %s has %zu", da, na, db,
                       nb);
    for (size_t i = 0; i < na; i++) {
        const char *pa = tok_piece(a, (int32_t)i), *pb = tok_piece(b, (int32_t)i);
        if ((pa == NULL) != (pb == NULL) || (pa && strcmp(pa, pb)))
            return ys_fail(err, YS_EINPUT, "the models do not share a tokenizer: token %zu is '%s' in %s but '%s' in %s",
                           i, pa ? pa : "(none)", da, pb ? pb : "(none)", db);
    }
    if (tok_bos_id(a) != tok_bos_id(b) || tok_eos_id(a) != tok_eos_id(b))
        return ys_fail(err, YS_EINPUT, "the models do not share a tokenizer: BOS/EOS ids %d/%d in %s, %d/%d in %s",
                       tok_bos_id(a), tok_eos_id(a), da, tok_bos_id(b), tok_eos_id(b), db);
    return 0;
}

/* ---- inputs --------------------------------------------------------------- */

static int kld_ids(kld_run *r, const char *path, ys_error *err)
{
    mc_id_lines in;
    int rc = mc_read_id_lines(path, NULL, 2, "needs at least two tokens to score a next token", &in, err);
    if (rc < 0)
        return rc;
    rc = mc_check_id_range(&in, path, (int32_t)r->vocab, "id", err);
    for (size_t s = 0; rc == 0 && s < in.n; s++) {
        size_t from = 1;
        const int32_t *seq = in.seqs[s];
        rc = kld_score(r, &seq, &in.lens[s], &from, 1, (int32_t)s, NULL, NULL, NULL, NULL, NULL, err);
    }
    mc_free_id_lines(&in);
    return rc;
}

static int kld_text(kld_run *r, const model_args *a, const char *base_dir, const tok_tokenizer *tb,
                    const tok_tokenizer *tm, size_t *ctx_out, size_t *stride_out, ys_error *err)
{
    size_t len;
    char *data = cli_read_file(a->text, &len, err);
    if (!data)
        return err->code ? err->code : YS_EIO;
    int32_t *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0;
    int rc = tok_encode(tb, data, len, true, &ids, &n, err);
    if (rc == 0)
        rc = tok_encode(tm, data, len, true, &ids2, &n2, err);
    if (rc == 0 && (n != n2 || memcmp(ids, ids2, n * sizeof *ids)))
        rc = ys_fail(err, YS_EINPUT, "the models do not share a tokenizer: %s and %s encode %s differently", base_dir,
                     a->model, a->text);
    free(ids2);
    if (rc == 0 && n < 2)
        rc = ys_fail(err, YS_EINPUT, "%s: fewer than two tokens", a->text);
    size_t ctx = 0, stride = 0;
    if (rc == 0) {
        /* the smaller of the two models' position limits */
        int mp = model_get_info(r->base)->max_positions, mq = model_get_info(r->model)->max_positions;
        int lim = mp > 0 && mq > 0 ? (mp < mq ? mp : mq) : mp > 0 ? mp : mq;
        ctx = a->ctx ? (size_t)a->ctx : lim > 0 ? (size_t)lim : 1024;
        if (lim > 0 && ctx > (size_t)lim)
            rc = ys_fail(err, YS_EUSAGE, "--ctx %zu exceeds the models' %d positions", ctx, lim);
        stride = a->stride ? (size_t)a->stride : ctx;
        if (rc == 0 && (ctx < 2 || stride > ctx || stride == 0))
            rc = ys_fail(err, YS_EUSAGE, "need 2 <= --ctx and 1 <= --stride <= --ctx");
    }
    /* the windows of `yardstick perplexity` (Hugging Face's guide): each
     * window ends ctx tokens after its start; it scores the tokens the
     * previous window did not reach */
    size_t prev_end = 0, done = 0, windows = rc == 0 ? (n - 1 + stride - 1) / stride : 0;
    for (size_t begin = 0; rc == 0 && prev_end < n; begin += stride) {
        size_t end = begin + ctx < n ? begin + ctx : n;
        size_t from = prev_end > begin ? prev_end - begin : 1;
        if (from < end - begin) {
            const int32_t *seq = ids + begin;
            size_t wlen = end - begin;
            size_t kept = r->npos;
            rc = kld_score(r, &seq, &wlen, &from, 1, 0, NULL, NULL, NULL, NULL, NULL, err);
            /* --per-token positions count from the start of the text */
            for (size_t i = kept; i < r->npos; i++)
                r->where[i][1] += (int32_t)begin;
        }
        prev_end = end;
        done++;
        if (windows > 8 && (done % 8 == 0 || prev_end == n))
            fprintf(stderr, "\rkld: window %zu/%zu", done, windows);
        if (end == n)
            break;
    }
    if (windows > 8)
        fprintf(stderr, "\n");
    *ctx_out = ctx, *stride_out = stride;
    free(ids), free(data);
    return rc;
}

/* ---- output --------------------------------------------------------------- */

static const char *const q_names[KLD_NQ] = {"99.9", "99.0", "95.0", "90.0", "10.0", "5.0", "1.0", "0.1"};
static const char *const q_dp_names[KLD_NQ_DP] = {"99.9", "99.0", "95.0", "90.0", "75.0",
                                                  "25.0", "10.0", "5.0",  "1.0",  "0.1"};

static void print_vu(const char *key, kld_vu v)
{
    printf("\"%s\": {\"value\": ", key);
    mc_print_num(v.value);
    fputs(", \"unc\": ", stdout);
    mc_print_num(v.unc);
    fputs("}", stdout);
}

static void print_summary_json(const kld_summary *s)
{
    printf("{\"positions\": %lld, ", (long long)s->count);
    print_vu("ppl_model", s->ppl_model), fputs(", ", stdout);
    print_vu("ppl_base", s->ppl_base), fputs(", ", stdout);
    fputs("\"cor_ln_ppl\": ", stdout), mc_print_num(s->cor_ln_ppl), fputs(", ", stdout);
    print_vu("ln_ppl_ratio", s->ln_ppl_ratio), fputs(", ", stdout);
    print_vu("ppl_ratio", s->ppl_ratio), fputs(", ", stdout);
    print_vu("ppl_diff", s->ppl_diff), fputs(", ", stdout);
    fputs("\"kld\": {\"mean\": ", stdout), mc_print_num(s->kld.value);
    fputs(", \"unc\": ", stdout), mc_print_num(s->kld.unc);
    fputs(", \"max\": ", stdout), mc_print_num(s->kld_max);
    fputs(", \"min\": ", stdout), mc_print_num(s->kld_min);
    fputs(", \"median\": ", stdout), mc_print_num(s->kld_median);
    fputs(", \"percentiles\": {", stdout);
    for (int i = 0; i < KLD_NQ; i++)
        printf("%s\"%s\": ", i ? ", " : "", q_names[i]), mc_print_num(s->kld_q[i]);
    fputs("}}, \"p_diff\": {\"mean\": ", stdout), mc_print_num(s->p_diff.value);
    fputs(", \"unc\": ", stdout), mc_print_num(s->p_diff.unc);
    fputs(", \"max\": ", stdout), mc_print_num(s->p_diff_max);
    fputs(", \"min\": ", stdout), mc_print_num(s->p_diff_min);
    fputs(", \"median\": ", stdout), mc_print_num(s->p_diff_median);
    fputs(", \"max_abs\": ", stdout), mc_print_num(s->max_abs_p_diff);
    fputs(", \"percentiles\": {", stdout);
    for (int i = 0; i < KLD_NQ_DP; i++)
        printf("%s\"%s\": ", i ? ", " : "", q_dp_names[i]), mc_print_num(s->p_diff_q[i]);
    fputs("}}, ", stdout);
    print_vu("p_diff_rms", s->p_diff_rms), fputs(", ", stdout);
    print_vu("same_top", s->same_top);
    fputs("}", stdout);
}

/* llama.cpp's final report, with its labels and formats. */
static void print_summary_text(const kld_summary *s)
{
    printf("====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s->ppl_model.value, s->ppl_model.unc);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s->ppl_base.value, s->ppl_base.unc);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s->cor_ln_ppl);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s->ln_ppl_ratio.value, s->ln_ppl_ratio.unc);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s->ppl_ratio.value, s->ppl_ratio.unc);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", s->ppl_diff.value, s->ppl_diff.unc);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", s->kld.value, s->kld.unc);
    printf("Maximum KLD: %10.6f\n", s->kld_max);
    for (int i = 0; i < 4; i++)
        printf("%-4s%%   KLD: %10.6f\n", q_names[i], s->kld_q[i]);
    printf("Median  KLD: %10.6f\n", s->kld_median);
    for (int i = 4; i < KLD_NQ; i++)
        printf("%4s%%   KLD: %10.6f\n", q_names[i], s->kld_q[i]);
    printf("Minimum KLD: %10.6f\n", s->kld_min);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * s->p_diff.value, 100.0 * s->p_diff.unc);
    printf("Maximum Δp: %6.3f%%\n", 100.0 * s->p_diff_max);
    for (int i = 0; i < 5; i++)
        printf("%4s%%   Δp: %6.3f%%\n", q_dp_names[i], 100.0 * s->p_diff_q[i]);
    printf("Median  Δp: %6.3f%%\n", 100.0 * s->p_diff_median);
    for (int i = 5; i < KLD_NQ_DP; i++)
        printf("%4s%%   Δp: %6.3f%%\n", q_dp_names[i], 100.0 * s->p_diff_q[i]);
    printf("Minimum Δp: %6.3f%%\n", 100.0 * s->p_diff_min);
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * s->p_diff_rms.value, 100.0 * s->p_diff_rms.unc);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * s->same_top.value, 100.0 * s->same_top.unc);
}

static int summarize(kld_set *s, kld_summary *out, ys_error *err)
{
    return kld_summarize(&s->acc, s->kv, s->dv, s->n, out, err);
}

static void print_tasks_text(kld_tasks_result *t)
{
    printf("\n%-24s %9s %12s %12s %10s %10s\n", "task", "positions", "mean KLD", "99% KLD", "RMS Δp", "same top");
    for (size_t i = 0; i < t->ntasks; i++) {
        kld_summary s;
        kld_task_stats *x = &t->tasks[i];
        if (x->set.n == 0 || summarize(&x->set, &s, NULL) < 0) {
            printf("%-24s %9d\n", x->task, 0);
            continue;
        }
        printf("%-24s %9lld %12.6f %12.6f %9.3f%% %9.3f%%\n", x->task, (long long)s.count, s.kld.value, s.kld_q[1],
               100 * s.p_diff_rms.value, 100 * s.same_top.value);
    }
    if (!t->nrows)
        return;
    printf("\n%-24s %-16s %10s %10s %10s %8s %8s  %s\n", "task", "metric", "base", "model", "Δ", "p", "p (Holm)",
           "test");
    for (size_t i = 0; i < t->nrows; i++) {
        const kld_metric_row *r = &t->rows[i];
        char p[32] = "-", ph[32] = "-";
        if (!isnan(r->p))
            snprintf(p, sizeof p, "%.4f", r->p), snprintf(ph, sizeof ph, "%.4f", r->p_holm);
        printf("%-24s %-16s %10.4f %10.4f %+10.4f %8s %8s  %s (n=%lld)\n", r->task, r->metric, r->base, r->model,
               r->delta, p, ph, r->test, (long long)r->n_paired);
    }
}

static void print_tasks_json(kld_tasks_result *t)
{
    fputs(", \"tasks\": [", stdout);
    for (size_t i = 0; i < t->ntasks; i++) {
        kld_task_stats *x = &t->tasks[i];
        printf("%s{\"task\": ", i ? ", " : "");
        mc_print_json_string(x->task);
        kld_summary s;
        fputs(", \"kld\": ", stdout);
        if (x->set.n && summarize(&x->set, &s, NULL) == 0)
            print_summary_json(&s);
        else
            fputs("null", stdout);
        fputs(", \"metrics\": [", stdout);
        int k = 0;
        for (size_t j = 0; j < t->nrows; j++) {
            const kld_metric_row *r = &t->rows[j];
            if (strcmp(r->task, x->task))
                continue;
            printf("%s{\"metric\": ", k++ ? ", " : "");
            mc_print_json_string(r->metric);
            fputs(", \"base\": ", stdout), mc_print_num(r->base);
            fputs(", \"model\": ", stdout), mc_print_num(r->model);
            fputs(", \"delta\": ", stdout), mc_print_num(r->delta);
            fputs(", \"p\": ", stdout), mc_print_num(r->p);
            fputs(", \"p_holm\": ", stdout), mc_print_num(r->p_holm);
            printf(", \"test\": \"%s\", \"n_paired\": %lld, \"higher_is_better\": %s}", r->test,
                   (long long)r->n_paired, r->higher_is_better ? "true" : "false");
        }
        fputs("]}", stdout);
    }
    fputs("]", stdout);
}

/* ---- the command ---------------------------------------------------------- */

typedef struct {
    const char *base, *tasks, *data_dir, *include[16];
    size_t ninclude;
    long limit, num_fewshot, seed;
    bool per_token, allow_empty;
} kld_extra;

/* kld's own options are taken out first; the rest are the engine
 * commands' options (model_cli.h). */
static int pre_parse(int argc, char **argv, kld_extra *x, int *nargc, char **nargv)
{
    memset(x, 0, sizeof *x);
    x->num_fewshot = -1;
    x->seed = 1234; /* run's default: the same few-shot examples */
    *nargc = 0;
    nargv[(*nargc)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        static const char *const opts[] = {"--base",  "--tasks",       "--data-dir", "--include-path",
                                           "--limit", "--num-fewshot", "--seed"};
        const char *v = NULL;
        int hit = 0;
        for (int k = 0; k < 7 && !hit; k++) {
            int r = cli_opt(argc, argv, &i, opts[k], true, &v);
            if (r < 0)
                return cli_usage_error("kld", "option %s needs a value", opts[k]);
            if (r == 0)
                continue;
            hit = 1;
            long n;
            if (k == 0)
                x->base = v;
            else if (k == 1)
                x->tasks = v;
            else if (k == 2)
                x->data_dir = v;
            else if (k == 3) {
                if (x->ninclude == 16)
                    return cli_usage_error("kld", "at most 16 --include-path folders");
                x->include[x->ninclude++] = v;
            } else if (cli_parse_int(v, 0, 1L << 40, &n) < 0)
                return cli_usage_error("kld", "%s needs a non-negative integer", opts[k]);
            else if (k == 4)
                x->limit = n;
            else if (k == 5)
                x->num_fewshot = n;
            else
                x->seed = n;
        }
        if (!hit && !strcmp(argv[i], "--per-token")) {
            x->per_token = true;
            hit = 1;
        }
        if (!hit && !strcmp(argv[i], "--allow-empty")) {
            x->allow_empty = true;
            hit = 1;
        }
        if (!hit)
            nargv[(*nargc)++] = argv[i];
    }
    nargv[*nargc] = NULL;
    return 0;
}

int cmd_kld(int argc, char **argv)
{
    kld_extra x;
    int nargc;
    char **nargv = malloc((size_t)(argc + 1) * sizeof *nargv);
    if (!nargv)
        return EXIT_BADINPUT;
    int rc = pre_parse(argc, argv, &x, &nargc, nargv);
    model_args a;
    if (rc == 0)
        rc = mc_parse_model_args("kld", nargc, nargv, kld_help,
                                 " --model --adapter --quantize --quantize-head --group-size --compute --json --text --ids --ctx --stride --threads ", &a);
    free(nargv);
    if (rc)
        return rc;
    if (!x.base)
        return cli_usage_error("kld", "--base DIR is required");
    if (!!a.text + !!a.ids + !!x.tasks != 1)
        return cli_usage_error("kld", "give exactly one of --text F, --ids F or --tasks LIST");
    if ((a.ctx || a.stride) && !a.text)
        return cli_usage_error("kld", "--ctx and --stride go with --text");
    if ((x.limit || x.num_fewshot >= 0 || x.data_dir || x.ninclude || x.seed != 1234 || x.allow_empty) && !x.tasks)
        return cli_usage_error("kld", "--limit, --num-fewshot, --data-dir, --include-path, --seed and --allow-empty go with --tasks");
    if (x.per_token && !a.json)
        return cli_usage_error("kld", "--per-token goes with --json");
    ys_error err = {0};
    if (kld_check_decoder(x.base, "--base", &err) < 0 || kld_check_decoder(a.model, "--model", &err) < 0)
        return cli_fail(&err);
    /* the tokenizers first: a mismatch should fail before the weights load */
    tok_tokenizer *tb = NULL, *tm = NULL;
    bool hb = kld_has_tokenizer(x.base), hm = kld_has_tokenizer(a.model);
    if (hb != hm)
        rc = ys_fail(&err, YS_EINPUT, "the models do not share a tokenizer: %s has %s, %s has %s", x.base,
                     hb ? "a tokenizer" : "none", a.model, hm ? "a tokenizer" : "none");
    else if (!hb && !a.ids)
        rc = ys_fail(&err, YS_EINPUT, "%s and %s have no tokenizer: only --ids can be scored", x.base, a.model);
    else if (!hb)
        fprintf(stderr, "yardstick: warning: neither %s nor %s has a tokenizer; only the vocabulary sizes are compared\n",
                x.base, a.model);
    if (rc == 0 && hb && (rc = tok_load(x.base, &tb, &err)) == 0 && (rc = tok_load(a.model, &tm, &err)) == 0)
        rc = kld_same_vocabulary(tb, tm, x.base, a.model, &err);
    kld_run r;
    memset(&r, 0, sizeof r);
    r.keep = x.per_token;
    if (rc == 0 && (rc = model_load(x.base, &r.base, &err)) == 0 && a.threads > 0)
        rc = model_set_threads(r.base, (int)a.threads, &err);
    if (rc == 0)
        rc = mc_load_model(&a, &r.model, &err);
    if (rc == 0) {
        int vb = model_get_info(r.base)->vocab, vm = model_get_info(r.model)->vocab;
        if (vb != vm)
            rc = ys_fail(&err, YS_EINPUT, "the models' vocabularies differ: %s has %d logits, %s has %d", x.base, vb,
                         a.model, vm);
        r.vocab = (size_t)vb;
    }
    size_t ctx = 0, stride = 0;
    kld_tasks_result tr;
    memset(&tr, 0, sizeof tr);
    if (rc == 0 && a.ids)
        rc = kld_ids(&r, a.ids, &err);
    else if (rc == 0 && a.text)
        rc = kld_text(&r, &a, x.base, tb, tm, &ctx, &stride, &err);
    else if (rc == 0) {
        kld_tasks_options o = {x.base, x.tasks, x.data_dir, x.include, x.ninclude, x.limit, (int)x.num_fewshot,
                               (uint64_t)x.seed, (int)a.threads, x.allow_empty};
        rc = kld_run_tasks(&r, &o, &tr, &err);
    }
    /* the buffers of the last window are not needed for the summary */
    free(r.lb), free(r.lm), r.lb = r.lm = NULL, r.cap_rows = 0;
    kld_summary s;
    if (rc == 0 && r.total.n == 0)
        rc = ys_fail(&err, YS_EINPUT, "no positions were scored");
    /* --per-token prints the positions in scoring order: the summary sorts
     * the set's own copies, never r.pos */
    if (rc == 0)
        rc = summarize(&r.total, &s, &err);
    if (rc == 0 && a.json) {
        fputs("{\"base\": ", stdout);
        mc_print_json_string(x.base);
        fputs(", \"model\": ", stdout);
        mc_print_json_string(a.model);
        fputs(", \"adapter\": ", stdout);
        if (a.adapter)
            mc_print_json_string(a.adapter);
        else
            fputs("null", stdout);
        if (a.text)
            printf(", \"ctx\": %zu, \"stride\": %zu", ctx, stride);
        fputs(", \"summary\": ", stdout);
        print_summary_json(&s);
        if (x.tasks)
            print_tasks_json(&tr);
        if (x.per_token) {
            fputs(", \"tokens\": [", stdout);
            for (size_t i = 0; i < r.npos; i++) {
                const kld_pos *p = &r.pos[i];
                printf("%s{\"seq\": %d, \"pos\": %d, \"token\": %d, \"kld\": ", i ? ", " : "", r.where[i][0],
                       r.where[i][1], r.where[i][2]);
                mc_print_num(p->kld);
                fputs(", \"nll\": ", stdout), mc_print_num(p->nll);
                fputs(", \"nll_base\": ", stdout), mc_print_num(p->nll_base);
                fputs(", \"p_diff\": ", stdout), mc_print_num(p->p_diff);
                printf(", \"same_top\": %s}", p->same_top ? "true" : "false");
            }
            fputs("]", stdout);
        }
        fputs("}\n", stdout);
    } else if (rc == 0) {
        printf("kld: base %s, model %s%s%s: %lld positions", x.base, a.model, a.adapter ? " + adapter " : "",
               a.adapter ? a.adapter : "", (long long)s.count);
        if (a.text)
            printf(" (ctx %zu, stride %zu)", ctx, stride);
        printf("\n");
        if (s.count < 100)
            printf("(fewer than 100 positions: llama.cpp would not print these statistics)\n");
        printf("\n");
        print_summary_text(&s);
        if (x.tasks)
            print_tasks_text(&tr);
    }
    kld_tasks_free(&tr);
    kld_run_free(&r);
    tok_free(tb), tok_free(tm);
    return rc < 0 ? cli_fail(&err) : EXIT_OK;
}
