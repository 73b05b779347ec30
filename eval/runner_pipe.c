/* The runner's pipeline stages (--pipeline K; runner_dist.h says how the
 * ranks of a group share a pass): what a run must be for stages to compute
 * it, loading this rank's stage, and this rank's part of one batch of the
 * log-likelihood pass. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runner_internal.h"

int rn_pipe_check(const run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    int K = rn_dist_stages(o->dist);
    if (K == 1)
        return 0;
    /* what stages compute today: a decoder's log-likelihoods; anything
     * else is refused up front rather than computed otherwise */
    static const char supported[] = "--pipeline runs decoder-only language models (safetensors folders) on "
                                    "log-likelihood tasks (multiple choice, loglikelihood, rolling perplexity)";
    struct stat sb;
    if (st->kind != RN_DECODER)
        return ys_fail(err, YS_EUSAGE, "%s; %s is %s", supported, o->model_dir,
                       st->kind == RN_CLASSIFIER ? "an encoder classifier" : "an encoder-decoder");
    if (stat(o->model_dir, &sb) == 0 && S_ISREG(sb.st_mode))
        return ys_fail(err, YS_EUSAGE, "%s; %s is a GGUF file", supported, o->model_dir);
    if (o->adapter_dir)
        return ys_fail(err, YS_EUSAGE, "%s, without --adapter (merge the adapter into the checkpoint first)",
                       supported);
    if (o->kl_base)
        return ys_fail(err, YS_EUSAGE, "%s, without --kl-base", supported);
    for (size_t i = 0; i < st->ntasks; i++)
        if (st->tasks[i].spec->output == OUT_GENERATE)
            return ys_fail(err, YS_EUSAGE, "%s; task %s generates text (run it without --pipeline)", supported,
                           st->tasks[i].spec->name);
    return 0;
}

int rn_pipe_load(run_state *st, const model_opts *mo, ys_error *err)
{
    const rn_dist *d = st->o->dist;
    return model_load_stage(st->o->model_dir, mo, rn_dist_stage(d), rn_dist_stages(d), &st->m, err);
}

/* This rank's stage of the batch that begins at item `at` of the pass: the
 * rows of the stage before (but on the first), this stage's layers, and
 * the rows to the next stage, or (the last) lp and gr as
 * model_logprobs_cached gives them. */
int rn_pipe_logprobs(run_state *st, uint64_t at, const int32_t *const *seqs, const size_t *lens, size_t nb,
                     const size_t *froms, double *const *lp, uint8_t *const *gr, ys_error *err)
{
    rn_dist *d = st->o->dist;
    int stage = rn_dist_stage(d), K = rn_dist_stages(d);
    size_t H = (size_t)model_get_info(st->m)->hidden, rows = 0, nin = 0, n = 0;
    void *in = NULL, *out = NULL;
    int rc = 0;
    if (d->stage_t0 == 0)   /* the pass begins for this stage (a later stage's wait for rows counts) */
        d->stage_t0 = rn_now_s();
    if (stage > 0 && (rc = rn_dist_take_on(d, at, &in, &n, err)) == 0) {
        nin = (n - RN_PIPE_HEAD) / (H * sizeof(float));
        if (nin * H * sizeof(float) != n - RN_PIPE_HEAD)
            rc = ys_fail(err, YS_EINPUT, "rank %d (the stage before) sent %zu bytes of rows, not whole rows",
                         d->rank - 1, n - RN_PIPE_HEAD);
    }
    double t0 = rn_now_s();
    if (rc == 0 && stage < K - 1) {
        /* the next stage's rows: as many as this stage takes, or (the
         * first) as the batch makes */
        if (stage == 0)
            rc = model_stage_rows(st->m, seqs, lens, nb, froms, &rows, err);
        else
            rows = nin;
        if (rc == 0 && !(out = malloc(RN_PIPE_HEAD + rows * H * sizeof(float))))
            rc = ys_fail(err, YS_ENOMEM, "out of memory for %zu rows", rows);
    }
    /* (the rows follow a 16-byte head: malloc's alignment holds for them) */
    const float *rin = in ? (const float *)((char *)in + RN_PIPE_HEAD) : NULL;
    float *rout = out ? (float *)((char *)out + RN_PIPE_HEAD) : NULL;
    if (rc == 0)
        rc = model_stage_logprobs(st->m, seqs, lens, nb, froms, rin, nin, rout, stage == K - 1 ? lp : NULL,
                                  stage == K - 1 ? gr : NULL, err);
    double t1 = rn_now_s();
    d->stage_busy_s += t1 - t0;
    free(in);
    if (rc == 0 && out)
        rc = rn_dist_pass_on(d, at, out, RN_PIPE_HEAD + rows * H * sizeof(float), err);
    else
        free(out);
    d->stage_wall_s = rn_now_s() - d->stage_t0;
    return rc;
}
