/* model_stage.c — a decoder cut into pipeline stages (model.h, "pipeline
 * stages"): the public face of what model_load.c (loading a block of
 * layers) and model.c (the passes with rows in and out) do for a stage.
 *
 * Why the stages run model.c's own scoring loop instead of a loop of their
 * own: the bits of a row depend only on that row and its sequence's keys
 * and values, so any way of cutting a batch into passes would do — but
 * every stage must make the same passes, in the same order, for the rows
 * one stage hands on to be the rows the next expects. Letting each stage
 * plan its passes with the same function over the same batch (and no
 * prefix cache, whose hits could differ between processes) makes that so
 * by construction, and keeps one copy of the grouping and of the shared-
 * prefix logic. Generation through stages is model_batch.c's: there the
 * last stage's batch plans every step and the others run its plans. */
#include "model_internal.h"

#include <string.h>

int stage_in(const model *m, const stage_io *io, size_t R, const float **in, ys_error *err)
{
    *in = NULL;
    if (!io || !m->no_embed)
        return 0;
    if (io->rows + R > io->nin)
        return ys_fail(err, YS_EINPUT, "the stage before sent %zu rows, this batch needs more", io->nin);
    *in = io->in + io->rows * (size_t)m->info.hidden;
    return 0;
}

void stage_out(const model *m, stage_io *io, const float *hidden, size_t R)
{
    if (!io)
        return;
    if (m->no_head)
        memcpy(io->out + io->rows * (size_t)m->info.hidden, hidden, R * (size_t)m->info.hidden * sizeof *hidden);
    io->rows += R;
}

/* The passes over a batch with rows in and out (count: only counted). */
static int stage_pass(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq, const size_t *from,
                      const float *in, size_t nin, float *out, size_t *rows, int count, double *const *logprobs,
                      uint8_t *const *greedy, ys_error *err)
{
    stage_io io = {in, nin, out, 0, count};
    int rc = model_logprobs_io(m, NULL, seqs, lens, nseq, from, logprobs, greedy, NULL, &io, err);
    *rows = io.rows;
    if (rc == 0 && !count && m->no_embed && io.rows != nin)
        rc = ys_fail(err, YS_EINPUT, "the stage before sent %zu rows for a batch of %zu", nin, io.rows);
    return rc;
}

int model_load_stage(const char *dir, const model_opts *opts, int stage, int nstages, model **out, ys_error *err)
{
    *out = NULL;
    if (nstages < 1 || stage < 0 || stage >= nstages)
        return ys_fail(err, YS_EUSAGE, "pipeline stage %d of %d does not exist", stage, nstages);
    /* an adapter is merged at open into copies of every tensor it targets,
     * all layers' on every stage: the memory a stage is meant to save */
    if (nstages > 1 && opts && opts->adapter_dir)
        return ys_fail(err, YS_EUSAGE, "pipeline stages do not load adapters (merge the adapter into the "
                                       "checkpoint first)");
    return model_load_part(dir, opts, stage, nstages, out, err);
}

void model_stage_range(const model *m, int *l0, int *l1, int *total)
{
    *l0 = m->layer0;
    *l1 = m->layer0 + m->info.layers;
    *total = m->layers_all;
}

int model_stage_rows(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq, const size_t *from,
                     size_t *rows, ys_error *err)
{
    return stage_pass(m, seqs, lens, nseq, from, NULL, 0, NULL, rows, 1, NULL, NULL, err);
}

int model_stage_logprobs(model *m, const int32_t *const *seqs, const size_t *lens, size_t nseq, const size_t *from,
                         const float *in, size_t nin, float *out, double *const *logprobs, uint8_t *const *greedy,
                         ys_error *err)
{
    if ((in != NULL) != (m->no_embed != 0) || (out != NULL) != (m->no_head != 0) || (!m->no_head && !logprobs))
        return ys_fail(err, YS_EUSAGE, "stage [%d, %d) of %d layers: rows in %s, rows out %s", m->layer0,
                       m->layer0 + m->info.layers, m->layers_all, m->no_embed ? "needed" : "not taken",
                       m->no_head ? "needed" : "not made (log-probabilities instead)");
    size_t rows = 0;
    return stage_pass(m, seqs, lens, nseq, from, in, nin, out, &rows, 0, logprobs, greedy, err);
}
