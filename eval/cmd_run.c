/* yardstick run — score a checkpoint on tasks (see runner.h). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "model.h"
#include "model_cli.h"
#include "runner.h"
#include "runner_dist.h"
#include "threads.h"
#include "runs.h"
#include "store.h"
#include "taskdirs.h"

#define DEFAULT_TASKS "glue,superglue-lite,squad,wikitext,summarization,translation_de_en"

static const char run_help[] =
    "usage: yardstick run [--model DIR [--adapter DIR] [[--quantize Q] [--quantize-head Q] [--group-size G] [--compute int8] | --compute bf16 | --compute int8]] [--kl-base DIR]\n"
    "                     [--tasks LIST] [--limit N] [--num-fewshot K] [--fewshot-sampler S]\n"
    "                     [--batch-size B] [--prefix-cache-mb N] [--threads T] [--seed S] [--db results.db]\n"
    "                     [--output results.json] [--log-samples] [--data-dir DIR]\n"
    "                     [--include-path DIR]... [--skip-bad-rows] [--allow-empty] [--no-db] [--db-timeout S]\n"
    "                     [--pipeline K]\n"
    "       yardstick run --resume RUN_ID [--db results.db] [--output ...] [--log-samples]\n"
    "\n"
    "Score a Hugging Face checkpoint folder on tasks (names or groups, comma-separated;\n"
    "see 'yardstick tasks list'). Official data files are read from --data-dir (or\n"
    "$YARDSTICK_DATA); without one, each task runs on its bundled sample data, and the\n"
    "output says so. With no arguments: the bundled tiny model on the sample tasks\n"
    "(" DEFAULT_TASKS "), into yardstick-results.db.\n"
    "Results go to the store (--db, default yardstick-results.db) and, with --output,\n"
    "to an lm-evaluation-harness-style results JSON; --log-samples writes\n"
    "samples_<task>_<time>.jsonl beside it. Finished engine responses are cached in\n"
    "the store as the run goes: --resume RUN_ID finishes an interrupted run with its\n"
    "own settings, recomputing nothing that was done.\n"
    "--adapter DIR merges a PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) into the model at load (lm-evaluation-harness's peft=):\n"
    "the store records it as the model BASE+ADAPTER with both content hashes, so two\n"
    "adapters on one base are two models and never share cached responses.\n"
    "--quantize int8|int4|int4-sym [--group-size 32|128] quantizes a decoder's block\n"
    "matrices at load by round-to-nearest, activations fp32 (see `yardstick logprobs\n"
    "--help`); the quantized model is another model in the store (\"NAME@int4-g128\").\n"
    "--quantize-head int8|int4|int4-sym quantizes its LM head too (\"NAME@int4-g32-head-int8\").\n"
    "--compute bf16 runs a decoder's projections with BF16 dot products (\"NAME@bf16\").\n"
    "--kl-base DIR also scores every multiple-choice and rolling-perplexity request with\n"
    "DIR (a decoder as stored, sharing the model's tokenizer) and reports per task the\n"
    "metric kld_mean: the mean KL(base || model) over the whole vocabulary at each\n"
    "continuation token, ± llama.cpp's uncertainty, n = positions (generation tasks:\n"
    "not measured). --adapter/--quantize/--compute apply to --model only.\n"
    "--fewshot-sampler random|first_n draws every task's few-shot examples that way\n"
    "instead of as its spec says: random (lm-eval's default sampler: seeded, per\n"
    "document) or first_n (the few-shot split's first K documents, the same for every\n"
    "document; lm-eval's FirstNSampler).\n"
    "--prefix-cache-mb N keeps the keys and values of prompt prefixes (few-shot\n"
    "demonstrations, a question's shared context) in up to N MB, so that requests that\n"
    "begin alike compute them once (decoders' log-likelihood and generation requests;\n"
    "0: off; default: 1/16 of the machine's memory, within 64..2048 MB). Results are\n"
    "bitwise the same with and without it; the summary says how many prompt tokens it\n"
    "served.\n"
    "--batch-size B (1..64): scoring computes up to B requests per engine call (default\n"
    "8); generation decodes up to B requests together, continuous batching (default 64),\n"
    "fewer when their KV caches would not fit in half the available memory (a message\n"
    "says so). Results do not depend on B.\n"
    "--pipeline K (under mpirun or srun, a multiple of K ranks): consecutive ranks form\n"
    "pipelines of K stages, each rank loading only its block of a decoder's layers (the\n"
    "embedding on the first, the head on the last), for models bigger than one machine;\n"
    "the pipelines share the requests as ranks do. Decoder-only safetensors models, on\n"
    "log-likelihood and generation tasks (the last stage chooses each step's tokens and\n"
    "sends them back to the first); the same results, bit for bit.\n";

/* A run's settings as stored (malloc'd JSON text). */
static int resume_text(const run_options *o, int64_t id, char **text, ys_error *err)
{
    rs_store *s;
    int rc = rs_open_wait(o->db, o->db_timeout_ms ? o->db_timeout_ms : RS_DEFAULT_TIMEOUT_MS, &s, err);
    if (rc < 0)
        return rc;
    rs_run_info info;
    rc = rs_run_get(s, id, &info, err);
    rs_close(s);
    if (rc < 0)
        return rc;
    *text = strdup(info.settings ? info.settings : "");
    rs_run_info_free(&info, 1);
    return *text ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
}

/* Read a run's settings back from the store for --resume (over MPI ranks,
 * rank 0 reads the store and the others get the text: only rank 0 touches
 * it). The strings live in *json, which the caller frees with cJSON_Delete. */
static int resume_settings(run_options *o, int64_t id, cJSON **json, const char **include, ys_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = rn_dist_leader(o->dist) ? resume_text(o, id, &text, err) : 0;
    if (rc == 0 && text)
        len = strlen(text) + 1;
    void *p = text;
    if ((rc = rn_dist_share_bytes(o->dist, rc, &p, &len, err)) < 0) {
        free(p);
        return rc;
    }
    text = p;
    cJSON *set = len && text[len - 1] == 0 ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *model = cJSON_GetObjectItem(set, "model"), *tasks = cJSON_GetObjectItem(set, "tasks");
    if (!cJSON_IsString(model) || !cJSON_IsString(tasks)) {
        cJSON_Delete(set);
        return ys_fail(err, YS_EINPUT, "%s: run %lld has no resumable settings (was it imported?)", o->db, (long long)id);
    }
    o->model_dir = model->valuestring;
    const cJSON *ad = cJSON_GetObjectItem(set, "adapter");
    o->adapter_dir = cJSON_IsString(ad) ? ad->valuestring : NULL;
    const cJSON *qz = cJSON_GetObjectItem(set, "quantize"), *gs = cJSON_GetObjectItem(set, "group_size");
    o->quantize = cJSON_IsString(qz) ? qz->valuestring : NULL;
    o->group_size = cJSON_IsNumber(gs) ? gs->valueint : 0;
    const cJSON *qh = cJSON_GetObjectItem(set, "quantize_head");
    o->quantize_head = cJSON_IsString(qh) ? qh->valuestring : NULL;
    const cJSON *cp = cJSON_GetObjectItem(set, "compute");
    o->compute_bf16 = cJSON_IsString(cp) && !strcmp(cp->valuestring, "bf16");
    o->compute_int8 = cJSON_IsString(cp) && !strcmp(cp->valuestring, "int8");
    const cJSON *kb = cJSON_GetObjectItem(set, "kl_base");
    o->kl_base = cJSON_IsString(kb) ? kb->valuestring : NULL;
    o->tasks = tasks->valuestring;
    o->limit = (long)cJSON_GetObjectItem(set, "limit")->valuedouble;
    o->num_fewshot = cJSON_GetObjectItem(set, "num_fewshot")->valueint;
    const cJSON *fsm = cJSON_GetObjectItem(set, "fewshot_sampler");
    o->fewshot_sampler = cJSON_IsString(fsm) ? fsm->valuestring : NULL;
    o->batch_size = cJSON_GetObjectItem(set, "batch_size")->valueint;
    o->seed = (uint64_t)cJSON_GetObjectItem(set, "seed")->valuedouble;
    o->skip_bad_rows = cJSON_IsTrue(cJSON_GetObjectItem(set, "skip_bad_rows"));
    o->allow_empty = cJSON_IsTrue(cJSON_GetObjectItem(set, "allow_empty"));
    const cJSON *dd = cJSON_GetObjectItem(set, "data_dir");
    o->data_dir = cJSON_IsString(dd) ? dd->valuestring : NULL;
    const cJSON *it;
    o->ninclude = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(set, "include")) {
        if (cJSON_IsString(it) && o->ninclude < TASKDIRS_MAX - 4)
            include[o->ninclude++] = it->valuestring;
    }
    o->resume_run = id;
    *json = set;
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The bundled tiny model: installed beside the binary, else the source tree. */
static const char *tiny_model(char *buf, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        snprintf(buf, cap, "%s/../share/yardstick/models/tiny", exe);
        if (is_dir(buf))
            return buf;
    }
    return YS_TINY_MODEL_DIR;
}

/* Over MPI ranks (runner_dist.h) with --threads unset: a rank the
 * launcher bound to cores uses those (the engine's default), an unbound
 * one its share of the host's cores, so that the ranks on one host do not
 * run more threads than it has cores. */
static int rank_threads(const rn_dist *d)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = eng_default_threads(), local = rn_dist_local_size(d);
    if (online > 0 && mine < online)
        return mine;
    return mine / local > 1 ? mine / local : 1;
}

/* After run_tasks failed on this rank: the message (once: a rank whose
 * error rank 0 reports stays quiet), and when the ranks were already
 * sharing work, the end of the whole job, which cannot finish without this
 * rank. What finished is in the store. */
static int run_failed(rn_dist *d, const ys_error *err)
{
    if (rn_dist_quiet(d))
        return err->code == YS_EUSAGE ? EXIT_USAGE : err->code == YS_EBUSY ? EXIT_BUSY : EXIT_BADINPUT;
    if (!d || d->size == 1 || !d->engaged)
        return cli_fail(err);
    fprintf(stderr, "yardstick: rank %d of %d on %s: %s\n"
                    "yardstick: ending the job; the responses finished so far are in the store (rank 0's): run the "
                    "same command again (any number of ranks) to continue\n",
            d->rank, d->size, d->hosts && d->hosts[d->rank] ? d->hosts[d->rank] : "?",
            err->msg[0] ? err->msg : "unknown error");
    int code = err->code == YS_EUSAGE ? EXIT_USAGE : err->code == YS_EBUSY ? EXIT_BUSY : EXIT_BADINPUT;
#ifdef YS_HAVE_MPI
    fflush(stderr);
    rn_mpi_abort(d, code);
#endif
    return code;
}

static int cmd_run_ranks(int argc, char **argv, rn_dist *dist);

/* Distinct hosts among the ranks. */
static int hosts_count(const rn_dist *d)
{
    int n = 0;
    for (int r = 0; r < d->size; r++) {
        bool seen = false;
        for (int q = 0; q < r && !seen; q++)
            seen = d->hosts && d->hosts[q] && d->hosts[r] && !strcmp(d->hosts[q], d->hosts[r]);
        n += !seen;
    }
    return n;
}

/* With --pipeline: rank 0 prints each stage's utilisation, its busy
 * seconds over the seconds from its first batch to the end of its last
 * (summed over the groups). Every rank calls it. */
static int pipe_stats(rn_dist *d)
{
    int K = rn_dist_stages(d);
    if (K == 1)
        return 0;
    int *busy = calloc((size_t)d->size, sizeof *busy), *wall = calloc((size_t)d->size, sizeof *wall);
    ys_error err = {0};
    int rc = busy && wall ? 0 : ys_fail(&err, YS_ENOMEM, "out of memory");
    /* milliseconds: allgather_int's ints (24 days at most) */
    double cap = (double)INT_MAX;
    int b_ms = (int)fmin(d->stage_busy_s * 1e3, cap), w_ms = (int)fmin(d->stage_wall_s * 1e3, cap);
    if (rc == 0)
        rc = d->ops->allgather_int(d->impl, b_ms, busy, &err);
    if (rc == 0)
        rc = d->ops->allgather_int(d->impl, w_ms, wall, &err);
    if (rc == 0 && rn_dist_leader(d)) {
        fprintf(stderr, "pipeline: %d group%s of %d stages; stage utilisation (busy / wall of its batches):",
                d->size / K, d->size / K == 1 ? "" : "s", K);
        for (int s = 0; s < K; s++) {
            long b = 0, w = 0;
            for (int r = s; r < d->size; r += K)
                b += busy[r], w += wall[r];
            fprintf(stderr, " %.3f (%.2f s of %.2f s)", w > 0 ? (double)b / (double)w : 0.0, b / 1e3, w / 1e3);
        }
        fprintf(stderr, "\n");
    }
    free(busy), free(wall);
    if (rc < 0 && rn_dist_leader(d))
        cli_fail(&err);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    int launched = rn_dist_launched();
#ifdef YS_HAVE_MPI
    /* MPI only when a launcher started us: alone, this binary is the
     * one-process yardstick (no MPI start-up, no launcher needed) */
    if (launched) {
        rn_dist *dist = NULL;
        ys_error err = {0};
        if (rn_mpi_open(&argc, &argv, &dist, &err) < 0)
            return cli_fail(&err);
        int rc = cmd_run_ranks(argc, argv, dist);
        rn_mpi_close(dist);
        return rc;
    }
#else
    /* N copies of one job would each run all of it into one store */
    if (launched > 1)
        return cli_usage_error("run", "started as one of %d processes (mpirun, srun), but this yardstick was built "
                                      "without MPI: build with -DYS_MPI=ON to share a run between processes",
                               launched);
#endif
    return cmd_run_ranks(argc, argv, NULL);
}

static int cmd_run_ranks(int argc, char **argv, rn_dist *dist)
{
    run_options o = {0};
    o.dist = dist;
    const char *include[TASKDIRS_MAX];
    o.include = include;
    o.num_fewshot = -1;
    o.batch_size = 8;
    o.prefix_cache_mb = -1;
    o.seed = 1234;
    o.db = "yardstick-results.db";
    o.tasks = DEFAULT_TASKS;
    const char *data_dir = NULL;
    bool no_db = false;
    long resume = 0, pipeline = 1;
    model_quant qz = MODEL_Q_NONE, qz_head = MODEL_Q_NONE;   /* o.quantize, o.quantize_head as parsed */
    char tiny[4200];
    o.model_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r = 0;
        long n;
        bool qhead = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(run_help, stdout);
            return EXIT_OK;
        }
#define OPT(name, val) (r == 0 && (r = cli_opt(argc, argv, &i, name, val, &v)) > 0)
        if (OPT("--model", true))
            o.model_dir = v;
        else if (OPT("--adapter", true))
            o.adapter_dir = v;
        else if (OPT("--kl-base", true))
            o.kl_base = v;
        else if (OPT("--quantize", true) || (qhead = OPT("--quantize-head", true))) {
            model_quant *q = qhead ? &qz_head : &qz;
            ys_error qe = {0};
            if (model_quant_parse(v, q, &qe) < 0)
                return cli_usage_error("run", "%s: %s", qhead ? "--quantize-head" : "--quantize", qe.msg);
            *(qhead ? &o.quantize_head : &o.quantize) = *q == MODEL_Q_NONE ? NULL : v;
        } else if (OPT("--compute", true)) {
            if ((r = mc_parse_compute("run", v, &o.compute_bf16, &o.compute_int8)) != 0)
                return r;
        } else if (OPT("--group-size", true)) {
            if ((r = mc_parse_group_size("run", v, &o.group_size)) != 0)
                return r;
        }
        else if (OPT("--tasks", true))
            o.tasks = v;
        else if (OPT("--data-dir", true))
            data_dir = v;
        else if (OPT("--db", true))
            o.db = v;
        else if (OPT("--output", true))
            o.output = v;
        else if (OPT("--include-path", true)) {
            if (o.ninclude < TASKDIRS_MAX - 4)
                include[o.ninclude++] = v;
        } else if (OPT("--log-samples", false))
            o.log_samples = true;
        else if (OPT("--skip-bad-rows", false))
            o.skip_bad_rows = true;
        else if (OPT("--allow-empty", false))
            o.allow_empty = true;
        else if (OPT("--db-timeout", true)) {
            int ms;
            if (cli_parse_db_timeout(v, &ms) < 0)
                return cli_usage_error("run", "--db-timeout needs seconds (0 to 86400)");
            /* 0 means "do not wait": keep it distinct from "unset" */
            o.db_timeout_ms = ms ? ms : -1;
        }
        else if (OPT("--no-db", false))
            no_db = true;
        else if (OPT("--resume", true)) {
            if (cli_parse_int(v, 1, 1L << 62, &n) < 0)
                return cli_usage_error("run", "--resume needs a run id (see 'yardstick runs list')");
            resume = n;
        }
        else if (OPT("--limit", true)) {
            if (cli_parse_int(v, 1, 1L << 40, &n) < 0)
                return cli_usage_error("run", "--limit needs a positive count");
            o.limit = n;
        } else if (OPT("--num-fewshot", true)) {
            if (cli_parse_int(v, 0, 1000, &n) < 0)
                return cli_usage_error("run", "--num-fewshot needs a count");
            o.num_fewshot = (int)n;
        } else if (OPT("--batch-size", true)) {
            if (cli_parse_int(v, 1, 64, &n) < 0)
                return cli_usage_error("run", "--batch-size needs 1..64");
            o.batch_size = (int)n;
            o.batch_size_set = true;
        } else if (OPT("--fewshot-sampler", true)) {
            if (strcmp(v, "random") && strcmp(v, "first_n"))
                return cli_usage_error("run", "--fewshot-sampler is random or first_n");
            o.fewshot_sampler = v;
        } else if (OPT("--prefix-cache-mb", true)) {
            if (cli_parse_int(v, 0, 1L << 30, &n) < 0)
                return cli_usage_error("run", "--prefix-cache-mb needs a size in MB (0: off)");
            o.prefix_cache_mb = n;
        } else if (OPT("--pipeline", true)) {
            if (cli_parse_int(v, 1, 1 << 20, &pipeline) < 0)
                return cli_usage_error("run", "--pipeline needs the number of stages (ranks per pipeline)");
        } else if (OPT("--threads", true)) {
            if (cli_parse_int(v, 1, 1024, &n) < 0)
                return cli_usage_error("run", "--threads needs a positive count");
            o.threads = (int)n;
        } else if (OPT("--seed", true)) {
            if (cli_parse_int(v, 0, 1L << 62, &n) < 0)
                return cli_usage_error("run", "--seed needs a non-negative integer");
            o.seed = (uint64_t)n;
        } else if (r < 0) {
            return cli_usage_error("run", "option %s needs a value", argv[i]);
        } else {
            return cli_usage_error("run", "unknown argument '%s'", argv[i]);
        }
#undef OPT
    }
    if (o.adapter_dir && !o.model_dir)
        return cli_usage_error("run", "--adapter needs the base model: give --model DIR");
    int pr = mc_check_precision("run", qz, qz_head, o.group_size, o.compute_bf16, o.compute_int8, o.model_dir);
    if (pr != 0)
        return pr;
    if (!o.model_dir)
        o.model_dir = tiny_model(tiny, sizeof tiny);
    o.data_dir = taskdirs_data_dir(data_dir);
    if (no_db)
        o.db = NULL;
    cJSON *resumed = NULL;
    ys_error err = {0};
    if (resume) {
        if (!o.db)
            return cli_usage_error("run", "--resume needs the store (--db)");
        if (resume_settings(&o, resume, &resumed, include, &err) < 0)
            return run_failed(dist, &err);
    }
    if (o.log_samples && !o.output)
        return cli_usage_error("run", "--log-samples writes beside --output FILE: give one");
    if (rn_dist_pipeline(dist, (int)pipeline, &err) < 0) {
        /* every rank meets it: rank 0 says it */
        if (!rn_dist_leader(dist))
            return EXIT_USAGE;
        return cli_usage_error("run", "%s", err.msg);
    }
    o.progress = isatty(2) && rn_dist_leader(dist);
    if (dist && !o.threads)
        o.threads = rank_threads(dist);
    int64_t run_id = 0;
    int rc = run_tasks(&o, &run_id, &err);
    cJSON_Delete(resumed);
    if (rc < 0)
        return run_failed(dist, &err);
    if (pipe_stats(dist) < 0)
        return EXIT_BADINPUT;
    if (dist && rn_dist_leader(dist))
        fprintf(stderr, "computed by %d MPI ranks on %d host%s\n", dist->size, hosts_count(dist),
                hosts_count(dist) == 1 ? "" : "s");
    if (run_id)
        fprintf(stderr, "stored as run %lld in %s\n", (long long)run_id, o.db);
    return EXIT_OK;
}

static const char rescore_help[] =
    "usage: yardstick rescore RUN [--db results.db] [--output results.json] [--log-samples]\n"
    "\n"
    "Recompute a finished run's filters and metrics from its cached engine responses,\n"
    "without running the model (its tokenizer and config.json are read), e.g. after\n"
    "changing a task's answer filters or metrics. The run's samples and results are\n"
    "rewritten.\n";

int cmd_rescore(int argc, char **argv)
{
    run_options o = {0};
    const char *include[TASKDIRS_MAX];
    o.include = include;
    o.db = "yardstick-results.db";
    long id = 0, n;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(rescore_help, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--db", true, &v)) > 0) {
            o.db = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--output", true, &v)) > 0) {
            o.output = v;
        } else if (r == 0 && (r = cli_opt(argc, argv, &i, "--log-samples", false, &v)) > 0) {
            o.log_samples = true;
        } else if (r < 0) {
            return cli_usage_error("rescore", "option %s needs a value", argv[i]);
        } else if (argv[i][0] != '-' && !id && cli_parse_int(argv[i], 1, 1L << 62, &n) == 0) {
            id = n;
        } else {
            return cli_usage_error("rescore", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!id)
        return cli_usage_error("rescore", "expected a run id (see 'yardstick runs list')");
    /* no model runs: nothing to share, and N copies would rewrite one run */
    if (rn_dist_launched() > 1)
        return cli_usage_error("rescore", "runs no model: run it as one process, not under mpirun or srun");
    if (o.log_samples && !o.output)
        return cli_usage_error("rescore", "--log-samples writes beside --output FILE: give one");
    ys_error err = {0};
    cJSON *resumed = NULL;
    if (resume_settings(&o, id, &resumed, include, &err) < 0)
        return cli_fail(&err);
    o.rescore = true;
    int64_t run_id = 0;
    int rc = run_tasks(&o, &run_id, &err);
    cJSON_Delete(resumed);
    if (rc < 0)
        return cli_fail(&err);
    fprintf(stderr, "rescored run %lld in %s\n", (long long)run_id, o.db);
    return EXIT_OK;
}
