/* The runner's run loop: resolve the tasks, pick and load the engine, build
 * every task's requests, run the classifier, log-likelihood and generation
 * passes, score, store and report (see runner_internal.h for who does what). */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"
#include "runner_internal.h"
#include "taskdirs.h"

/* ---- shared helpers ------------------------------------------------------ */

void *rn_calloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

double rn_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void rn_progress(const run_state *st, const char *what, size_t done, size_t total, double t0)
{
    if (!st->o->progress)
        return;
    static const char spin[] = "|/-\\";
    double now = rn_now_s(), rate = now > t0 ? (double)done / (now - t0) : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r%c %s %zu/%zu  %.1f/s  ETA %.0fs   ", spin[done % 4], what, done, total, rate, eta);
    if (done == total)
        fprintf(stderr, "\n");
}

/* ---- tasks --------------------------------------------------------------- */

/* A task by name, or a group and (recursively) its members. */
/* fewshot: a group's few-shot count for its members (lm-eval's
 * leaderboard runs each task with its own), -1 for the spec's own. */
static int load_task(run_state *st, const task_registry *reg, const char *name, int fewshot, ys_error *err)
{
    for (size_t i = 0; i < st->ntasks; i++)
        if (!strcmp(st->tasks[i].spec->name, name)) {
            if (fewshot >= 0)
                st->tasks[i].num_fewshot = fewshot;
            return 0; /* asked twice (directly and through a group) */
        }
    char *path = treg_find(reg, name, err);
    if (!path)
        return YS_EUSAGE;
    task_spec *spec;
    int rc = task_load(path, &spec, err);
    if (rc < 0) {
        free(path);
        return rc;
    }
    if (task_is_group(spec)) {
        /* a group reaching itself would expand forever */
        rc = treg_check_group(reg, spec->name, (const char *const *)spec->members, spec->nmembers, err);
        if (rc < 0) {
            task_free(spec);
            free(path);
            return rc;
        }
        char **members = rn_calloc(spec->nmembers, sizeof *members);
        char ***gm = realloc(st->group_members, (st->ngroups + 1) * sizeof *gm);
        char **gn = realloc(st->groups, (st->ngroups + 1) * sizeof *gn);
        size_t *gc = realloc(st->group_nmembers, (st->ngroups + 1) * sizeof *gc);
        char **ga = realloc(st->group_aggregate, (st->ngroups + 1) * sizeof *ga);
        char ***gam = realloc(st->group_agg_metrics, (st->ngroups + 1) * sizeof *gam);
        if (gam)
            st->group_agg_metrics = gam;
        size_t *gan = realloc(st->group_nagg, (st->ngroups + 1) * sizeof *gan);
        if (gan)
            st->group_nagg = gan;
        if (gm)
            st->group_members = gm;
        if (gn)
            st->groups = gn;
        if (gc)
            st->group_nmembers = gc;
        if (ga)
            st->group_aggregate = ga;
        if (!members || !gm || !gn || !gc || !ga || !gam || !gan) {
            free(members);
            task_free(spec);
            free(path);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < spec->nmembers; i++)
            members[i] = strdup(spec->members[i]);
        st->groups[st->ngroups] = strdup(spec->name);
        st->group_members[st->ngroups] = members;
        st->group_nmembers[st->ngroups] = spec->nmembers;
        st->group_aggregate[st->ngroups] = strdup(spec->aggregate);
        st->group_agg_metrics[st->ngroups] = rn_calloc(spec->nagg_metrics, sizeof(char *));
        st->group_nagg[st->ngroups] = 0;
        for (size_t i = 0; i < spec->nagg_metrics && st->group_agg_metrics[st->ngroups]; i++)
            st->group_agg_metrics[st->ngroups][st->group_nagg[st->ngroups]++] = strdup(spec->agg_metrics[i]);
        st->ngroups++;
        for (size_t i = 0; i < spec->nmembers && rc == 0; i++)
            rc = load_task(st, reg, spec->members[i],
                           spec->member_fewshot && spec->member_fewshot[i] >= 0 ? spec->member_fewshot[i] : fewshot, err);
        task_free(spec);
        free(path);
        return rc;
    }
    task_run *p = realloc(st->tasks, (st->ntasks + 1) * sizeof *p);
    if (!p) {
        task_free(spec);
        free(path);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    st->tasks = p;
    task_run *t = &st->tasks[st->ntasks++];
    memset(t, 0, sizeof *t);
    t->spec = spec;
    t->num_fewshot = fewshot;
    t->spec_path = path;
    t->samples_dir = taskdirs_samples_for(path);
    return 0;
}

/* ---- the run ------------------------------------------------------------- */

void rn_free_state(run_state *st)
{
    for (size_t i = 0; i < st->ntasks; i++) {
        task_run *t = &st->tasks[i];
        for (size_t d = 0; t->prompts && d < t->n; d++) {
            task_prompt_free(&t->prompts[d]);
            if (t->gen)
                free(t->gen[d]);
            if (t->sample_metrics)
                free(t->sample_metrics[d]);
            if (t->predictions)
                free(t->predictions[d]);
        }
        free(t->prompts), free(t->gen), free(t->sample_metrics), free(t->predictions);
        free(t->ll), free(t->off), free(t->greedy), free(t->doc_ll), free(t->first_ids);
        for (size_t d = 0; t->cls_ids && d < t->n; d++)
            free(t->cls_ids[d]), free(t->cls_types[d]);
        free(t->cls_ids), free(t->cls_types), free(t->cls_lens), free(t->cls_logits), free(t->cls_map);
        for (size_t m = 0; m < t->nresults; m++)
            free(t->metric_names[m]);
        task_docs_free(&t->docs);
        task_docs_free(&t->pool);
        task_free(t->spec);
        free(t->spec_path), free(t->samples_dir);
        kld_set_free(&t->kld);
    }
    free(st->tasks);
    for (size_t g = 0; g < st->ngroups; g++) {
        for (size_t i = 0; i < st->group_nmembers[g]; i++)
            free(st->group_members[g][i]);
        free(st->group_members[g]), free(st->groups[g]), free(st->group_aggregate[g]);
        for (size_t i = 0; st->group_agg_metrics && i < st->group_nagg[g]; i++)
            free(st->group_agg_metrics[g][i]);
        if (st->group_agg_metrics)
            free(st->group_agg_metrics[g]);
    }
    free(st->group_members), free(st->groups), free(st->group_nmembers), free(st->group_aggregate);
    free(st->group_agg_metrics), free(st->group_nagg);
    for (size_t i = 0; i < st->nreqs; i++)
        free(st->reqs[i].ids);
    free(st->reqs);
    model_prefix_cache_free(st->pc);
    model_free(st->m);
    model_free(st->kl_base);
    enc_free(st->enc);
    s2s_free(st->s2s);
    for (int i = 0; st->label_names && i < st->num_labels; i++)
        free(st->label_names[i]);
    free(st->label_names);
    tok_free(st->tok);
    rs_close(st->store);
}

int rn_load_tasks(run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    taskdirs dirs;
    taskdirs_init(&dirs, o->include, o->ninclude);
    task_registry *reg = NULL;
    int rc = taskdirs_registry(&dirs, &reg, err);
    char *list = rc == 0 ? strdup(o->tasks) : NULL, *save = NULL;
    if (rc == 0 && !list)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    size_t names = 0;
    for (char *name = list ? strtok_r(list, ",", &save) : NULL; name && rc == 0; name = strtok_r(NULL, ",", &save))
        names++, rc = load_task(st, reg, name, -1, err);
    /* "--tasks ,," would run nothing and exit 0 */
    if (rc == 0 && names == 0)
        rc = ys_fail(err, YS_EUSAGE, "--tasks '%s' names no task (see 'yardstick tasks list')", o->tasks);
    free(list);
    treg_free(reg);
    taskdirs_free(&dirs);
    return rc;
}

int run_tasks(const run_options *o, int64_t *run_id, ys_error *err)
{
    *run_id = 0;
    double t0 = rn_now_s(), engine = 0;
    /* with ranks, rank 0 alone has the store, the base of --kl-base and
     * the outputs; every rank loads the model and builds the requests */
    bool lead = rn_dist_leader(o->dist);
    run_state st;
    memset(&st, 0, sizeof st);
    st.o = o;
    rn_compute_name(o, st.compute, sizeof st.compute);
    /* tasks first: a typo should fail before the model loads */
    int rc = rn_load_tasks(&st, err);
    if (rc == 0)
        rc = rn_model_kind(&st, err);
    if (rc == 0 && (o->quantize || o->quantize_head || o->compute_bf16 || o->compute_int8) && st.kind != RN_DECODER)
        rc = ys_fail(err, YS_EUSAGE, "--quantize and --compute are for decoder-only models; %s is not one",
                     o->model_dir);
    for (size_t i = 0; i < st.ntasks && rc == 0; i++)
        rc = rn_check_task_fits(&st, st.tasks[i].spec, err);
    if (rc == 0)   /* --pipeline: what stages do not compute, before any weights load */
        rc = rn_pipe_check(&st, err);
    if (rc == 0)
        rc = tok_load(o->model_dir, &st.tok, err);
    /* a base that cannot be compared should fail before any weights load */
    bool kl = o->kl_base && !o->rescore;
    if (rc == 0 && kl)
        rc = rn_kl_base_check(&st, err);
    if (rc == 0 && !o->rescore)
        rc = rn_load_engine(&st, err);
    if (rc == 0 && kl && lead)
        rc = rn_kl_base_load(&st, err);
    if (rc == 0 && o->rescore)
        rc = rn_read_limits(&st, err);
    if (rc == 0) {
        st.eot = tok_eos_id(st.tok);
        if (st.eot < 0)
            st.eot = tok_bos_id(st.tok);
        if (st.eot < 0)
            st.eot = 0;
    }
    if (rc == 0 && o->db && lead && (rc = rn_model_hashes(&st, err)) == 0)
        RN_STORE_CALL(&st, rc, rn_begin_run(&st, err));
    for (size_t i = 0; i < st.ntasks && rc == 0; i++)
        rc = rn_prepare_task(&st, &st.tasks[i], err);
    if (rc == 0 && kl && lead)
        rc = rn_kl_base_fits(&st, err);
    /* a doubled BOS (template text plus tokenizer) is a classic wrong score */
    int32_t bos = st.tok ? tok_bos_id(st.tok) : -1;
    for (size_t i = 0; i < st.ntasks && rc == 0 && lead; i++) {
        const task_run *t = &st.tasks[i];
        if (bos >= 0 && t->nfirst >= 2 && t->first_ids[0] == bos && t->first_ids[1] == bos)
            fprintf(stderr, "yardstick: warning: task %s: the prompt starts with two BOS tokens\n", t->spec->name);
    }
    /* every rank ready, or every rank stops here (runner_dist.h) */
    rc = rn_dist_agree(o->dist, rc, err);
    if (rc == 0)
        rc = rn_run_classifications(&st, &engine, err);
    if (rc == 0)
        rc = rn_run_loglikelihoods(&st, &engine, err);
    /* after the model's own answers are in the cache: a failure here
     * loses none of them */
    if (rc == 0 && kl && lead)
        rc = rn_run_kl_base(&st, &engine, err);
    if (rc == 0)
        rc = rn_run_generations(&st, &engine, err);
    if (!lead) {
        /* the other ranks' answers are with rank 0 */
        rn_free_state(&st);
        return rc;
    }
    for (size_t i = 0; i < st.ntasks && rc == 0; i++) {
        task_run *t = &st.tasks[i];
        rc = t->cls                                 ? rn_score_cls(&st, t, err)
             : t->spec->output == OUT_MULTIPLE_CHOICE ? rn_score_mc(&st, t, err)
             : t->spec->output == OUT_ROLLING       ? rn_score_rolling(t, err)
             : t->spec->output == OUT_LOGLIKELIHOOD ? rn_score_ll(&st, t, err)
                                                    : rn_score_generate(t, o->seed, err);
    }
    if (rc == 0 && st.store)
        RN_STORE_CALL(&st, rc, rn_store_run(&st, err));
    else if (st.store && st.run_id > 0)
        rs_run_end(st.store, st.run_id, "failed", NULL);
    *run_id = st.run_id;
    if (rc == 0 && o->output)
        rc = rn_write_outputs(&st, *run_id, err);
    if (rc == 0 && st.cached)
        fprintf(stderr, "%zu responses reused from the cache\n", st.cached);
    if (rc == 0)
        rn_print_summary(&st, rn_now_s() - t0, engine);
    rn_free_state(&st);
    return rc;
}
