/* yardstick score — metrics on a predictions file, no model needed.
 *
 *   yardstick score --input preds.jsonl --metrics bleu,rouge [--json] [--per-sample F]
 *   yardstick score bleu|chrf -i hyps.txt -r refs.txt [-r refs2.txt ...] [--json]
 *
 * Input is validated line by line before anything is printed: a bad line is
 * one error naming file, line and field, exit code 3, and no score. The
 * per-sample file is written beside its final name and renamed only when the
 * whole input scored, so a failed run leaves no partial output behind.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glue.h"
#include "jsonl_line.h"
#include "mtok.h"
#include "scorer.h"
#include "ys_json.h"
#include "ys_unicode.h"

static const char score_help[] =
    "usage: yardstick score --input FILE --metrics LIST [options]\n"
    "       yardstick score bleu|chrf -i HYPS -r REFS [-r REFS2 ...] [options]\n"
    "\n"
    "Score predictions against references. Each input line is a JSON object with\n"
    "\"prediction\" and \"references\" (array) or \"reference\" (one value).\n"
    "\n"
    "  --input FILE              JSON Lines predictions file\n"
    "  --metrics LIST            comma-separated: bleu chrf rouge meteor squad exact_match accuracy\n"
    "                            precision recall f1 matthews_correlation pearsonr spearmanr\n"
    "  --json                    print one JSON object keyed by metric name\n"
    "  --per-sample FILE         write per-sample scores, one JSON line per input line\n"
    "  --prediction-field NAME   (default prediction)\n"
    "  --references-field NAME   (default references)\n"
    "  --reference-field NAME    (default reference)\n"
    "  --bootstrap N --seed S    standard errors and 95%% intervals (bootstrap for corpus\n"
    "                            metrics, analytic for means)\n"
    "BLEU (sacrebleu flags):\n"
    "  --tokenize 13a|intl|char|none  --smooth-method exp|floor|add-k|none\n"
    "  --smooth-value X  --lowercase  --effective-order\n"
    "chrF:\n"
    "  --chrf-char-order N (6)  --chrf-word-order N (0; 2 = chrF++)  --chrf-beta N (2)\n"
    "  --chrf-lowercase  --chrf-whitespace  --chrf-eps-smoothing\n"
    "ROUGE:  --rouge-stem | --no-rouge-stem (default off, as HF evaluate)\n"
    "METEOR: --meteor-tokenize space|13a|intl (default space: str.split(\" \"))\n"
    "        --wordnet-dir DIR (default $YS_WORDNET_DIR, else /usr/share/wordnet)\n"
    "exact_match:  --ignore-case  --ignore-punctuation  --ignore-numbers\n"
    "              --regexes-to-ignore REGEX (repeatable, PCRE2)\n"
    "classification:  --average binary|macro|micro|weighted (binary)  --pos-label L (1)\n"
    "  --glue TASK               GLUE's metrics for TASK (cola: MCC; mrpc, qqp: F1 and accuracy;\n"
    "                            stsb: Pearson and Spearman; others: accuracy)\n"
    "plain-text mode:  -i FILE hypotheses, -r FILE references (repeatable), line-aligned\n";

typedef struct {
    const char *input, *metrics, *per_sample;
    const char *pred_field, *refs_field, *ref_field;
    bool json;
    const char *plain_metric;
    const char *hyp_file;
    const char *ref_files[16];
    int nref_files;
    const char *regexes[32];
    int nregexes;
    scorer_options so;
} score_args;

static int parse_args(int argc, char **argv, score_args *a)
{
    memset(a, 0, sizeof *a);
    scorer_options_default(&a->so);
    a->pred_field = "prediction";
    a->refs_field = "references";
    a->ref_field = "reference";
    int i = 1;
    if (argc > 1 && argv[1][0] != '-') {
        a->plain_metric = argv[1];
        if (strcmp(a->plain_metric, "bleu") && strcmp(a->plain_metric, "chrf"))
            return cli_usage_error("score", "plain-text mode supports bleu and chrf, not '%s'", argv[1]);
        i = 2;
    }
    for (; i < argc; i++) {
        const char *v;
        long n = 0;
        double d = 0;
        int r;
#define OPT(name, takes) ((r = cli_opt(argc, argv, &i, name, takes, &v)) != 0)
        if (OPT("--help", false) || OPT("-h", false)) {
            fputs(score_help, stdout);
            exit(EXIT_OK);
        } else if (OPT("--input", true)) a->input = v;
        else if (OPT("--metrics", true)) a->metrics = v;
        else if (OPT("--json", false)) a->json = true;
        else if (OPT("--per-sample", true)) a->per_sample = v;
        else if (OPT("--prediction-field", true)) a->pred_field = v;
        else if (OPT("--references-field", true)) a->refs_field = v;
        else if (OPT("--reference-field", true)) a->ref_field = v;
        else if (OPT("-i", true)) a->hyp_file = v;
        else if (OPT("-r", true)) {
            if (r > 0 && a->nref_files < 16)
                a->ref_files[a->nref_files++] = v;
        } else if (OPT("--tokenize", true)) {
            if (r > 0 && mtok_parse(v, &a->so.bleu.tokenize) < 0)
                return cli_usage_error("score", "--tokenize must be 13a, intl, char or none");
        } else if (OPT("--smooth-method", true)) {
            if (r > 0 && bleu_parse_smooth(v, &a->so.bleu.smooth) < 0)
                return cli_usage_error("score", "--smooth-method must be exp, floor, add-k or none");
        } else if (OPT("--smooth-value", true)) {
            if (r > 0 && cli_parse_double(v, &a->so.bleu.smooth_value) < 0)
                return cli_usage_error("score", "--smooth-value needs a number");
        } else if (OPT("--lowercase", false)) a->so.bleu.lowercase = true;
        else if (OPT("--effective-order", false)) a->so.bleu.effective_order = true;
        else if (OPT("--chrf-char-order", true)) {
            if (r > 0 && cli_parse_int(v, 0, 16, &n) < 0)
                return cli_usage_error("score", "--chrf-char-order needs an integer 0..16");
            a->so.chrf.char_order = (int)n;
        } else if (OPT("--chrf-word-order", true)) {
            if (r > 0 && cli_parse_int(v, 0, 16, &n) < 0)
                return cli_usage_error("score", "--chrf-word-order needs an integer 0..16");
            a->so.chrf.word_order = (int)n;
        } else if (OPT("--chrf-beta", true)) {
            if (r > 0 && cli_parse_int(v, 0, 1000, &n) < 0)
                return cli_usage_error("score", "--chrf-beta needs a non-negative integer");
            a->so.chrf.beta = (int)n;
        } else if (OPT("--chrf-lowercase", false)) a->so.chrf.lowercase = true;
        else if (OPT("--chrf-whitespace", false)) a->so.chrf.whitespace = true;
        else if (OPT("--chrf-eps-smoothing", false)) a->so.chrf.eps_smoothing = true;
        else if (OPT("--rouge-stem", false)) a->so.rouge_stem = true;
        else if (OPT("--no-rouge-stem", false)) a->so.rouge_stem = false;
        else if (OPT("--ignore-case", false)) a->so.em.ignore_case = true;
        else if (OPT("--ignore-punctuation", false)) a->so.em.ignore_punctuation = true;
        else if (OPT("--ignore-numbers", false)) a->so.em.ignore_numbers = true;
        else if (OPT("--regexes-to-ignore", true)) {
            if (r > 0 && a->nregexes < 32)
                a->regexes[a->nregexes++] = v;
        } else if (OPT("--average", true)) {
            if (r > 0 && cls_parse_average(v, &a->so.average) < 0)
                return cli_usage_error("score", "--average must be binary, macro, micro or weighted");
        } else if (OPT("--pos-label", true)) a->so.pos_label = v;
        else if (OPT("--glue", true)) {
            const glue_convention *g = r > 0 ? glue_lookup(v) : NULL;
            if (r > 0 && !g)
                return cli_usage_error("score", "--glue: '%s' is not a GLUE task (cola sst2 mrpc qqp stsb mnli "
                                                "mnli_mismatch qnli rte wnli)", v);
            if (g)
                a->metrics = g->metrics;
        }
        else if (OPT("--wordnet-dir", true)) a->so.wordnet_dir = v;
        else if (OPT("--meteor-tokenize", true)) {
            mtok_kind k;
            if (r > 0 && strcmp(v, "space") == 0)
                a->so.meteor_tokenize = -1;
            else if (r > 0 && (mtok_parse(v, &k) < 0 || (k != MTOK_13A && k != MTOK_INTL)))
                return cli_usage_error("score", "--meteor-tokenize must be space, 13a or intl");
            else if (r > 0)
                a->so.meteor_tokenize = (int)k;
        }
        else if (OPT("--bootstrap", true)) {
            if (r > 0 && cli_parse_int(v, 0, 1000000, &n) < 0)
                return cli_usage_error("score", "--bootstrap needs a number of resamples");
            a->so.bootstrap = (int)n;
        } else if (OPT("--seed", true)) {
            /* range-checked before the conversion, which is undefined
             * for a negative or too large double (clang's UBSan) */
            if (r > 0 && (cli_parse_double(v, &d) < 0 || !(d >= 0 && d < 18446744073709551616.0) || d != floor(d)))
                return cli_usage_error("score", "--seed needs an integer");
            a->so.seed = (uint64_t)d;
        } else {
            return cli_usage_error("score", "unknown option '%s'", argv[i]);
        }
        if (r < 0)
            return cli_usage_error("score", "option %s needs a value", argv[i]);
#undef OPT
    }
    if (!a->so.wordnet_dir)
        a->so.wordnet_dir = getenv("YS_WORDNET_DIR");
    a->so.em.regexes_to_ignore = a->regexes;
    a->so.em.nregexes = (size_t)a->nregexes;
    if (a->plain_metric) {
        if (!a->hyp_file || a->nref_files == 0)
            return cli_usage_error("score", "plain-text mode needs -i HYPS and at least one -r REFS");
        a->metrics = a->plain_metric;
    } else if (!a->input || !a->metrics) {
        return cli_usage_error("score", "--input and --metrics are required");
    }
    return 0;
}

/* One JSON value as a scorer value; NULL kind check failure sets err. */
static int to_value(const cJSON *j, scorer_value *v)
{
    if (cJSON_IsString(j)) {
        v->kind = SV_TEXT, v->text = j->valuestring;
    } else if (cJSON_IsNumber(j)) {
        v->kind = SV_NUMBER, v->num = j->valuedouble;
    } else if (cJSON_IsBool(j)) {
        v->kind = SV_BOOL, v->num = cJSON_IsTrue(j);
    } else {
        return -1;
    }
    return 0;
}

static const char *json_type(const cJSON *j)
{
    return cJSON_IsNull(j) ? "null" : cJSON_IsArray(j) ? "an array" : cJSON_IsObject(j) ? "an object" : "of another type";
}

/* Score one parsed line. */
static int score_object(const score_args *a, scorer *s, const cJSON *obj, char **sample_json, ys_error *err)
{
    if (!cJSON_IsObject(obj))
        return ys_fail(err, YS_EINPUT, "line is not a JSON object");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, a->pred_field);
    if (!p)
        return ys_fail(err, YS_EINPUT, "missing field '%s'", a->pred_field);
    scorer_value pred;
    if (to_value(p, &pred) < 0)
        return ys_fail(err, YS_EINPUT, "field '%s' is %s, expected a string, number or boolean", a->pred_field, json_type(p));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(obj, a->refs_field);
    const cJSON *r1 = cJSON_GetObjectItemCaseSensitive(obj, a->ref_field);
    scorer_value stack[8], *refs = stack;
    size_t nrefs;
    if (rs) {
        if (!cJSON_IsArray(rs))
            return ys_fail(err, YS_EINPUT, "field '%s' is %s, expected an array", a->refs_field, json_type(rs));
        nrefs = (size_t)cJSON_GetArraySize(rs);
        if (nrefs == 0)
            return ys_fail(err, YS_EINPUT, "field '%s' is an empty array", a->refs_field);
        if (nrefs > 8 && !(refs = malloc(nrefs * sizeof *refs)))
            return ys_fail(err, YS_ENOMEM, "out of memory");
        size_t k = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, rs) {
            if (to_value(it, &refs[k]) < 0) {
                if (refs != stack)
                    free(refs);
                return ys_fail(err, YS_EINPUT, "field '%s' item %zu is %s, expected a string, number or boolean",
                               a->refs_field, k, json_type(it));
            }
            k++;
        }
    } else if (r1) {
        nrefs = 1;
        if (to_value(r1, &refs[0]) < 0)
            return ys_fail(err, YS_EINPUT, "field '%s' is %s, expected a string, number or boolean", a->ref_field, json_type(r1));
    } else {
        return ys_fail(err, YS_EINPUT, "missing field '%s' (or '%s')", a->refs_field, a->ref_field);
    }
    int rc = scorer_add(s, &pred, refs, nrefs, sample_json, err);
    if (refs != stack)
        free(refs);
    return rc;
}

static int check_utf8(const char *line, size_t len, ys_error *err)
{
    /* ASCII cannot be invalid: skip it eight bytes at a time (most lines
     * are all ASCII), and decode only from the first byte >= 0x80 on. */
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, line + i, 8);
        if (w & 0x8080808080808080ULL)
            break;
    }
    size_t bad = uni_invalid_at(line + i, len - i);
    if (bad != (size_t)-1)
        return ys_fail(err, YS_EINPUT, "invalid UTF-8 at byte %zu", i + bad + 1);
    return 0;
}

static int prefix_error(ys_error *err, const char *file, long line)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return ys_fail(err, err->code, "%s:%ld: %s", file, line, msg);
}

/* Stream the JSONL input through the scorer. */
static int run_jsonl(const score_args *a, scorer *s, FILE *per, ys_error *err)
{
    FILE *f = strcmp(a->input, "-") == 0 ? stdin : fopen(a->input, "rb");
    if (!f)
        return ys_fail(err, YS_EIO, "%s: cannot open: %s", a->input, strerror(errno));
    char *line = NULL, *scan_buf = NULL;
    size_t cap = 0, scan_cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        if ((rc = check_utf8(line, (size_t)len, err)) < 0)
            break;
        if (memchr(line, 0, (size_t)len)) {
            rc = ys_fail(err, YS_EINPUT, "NUL byte in line");
            break;
        }
        char *sj = NULL;
        /* Every line passes the one strict grammar first (ys_json.h), so the
         * fast path and cJSON read only lines they agree on; \u0000 and
         * duplicate keys are refused here (the file:line prefix is added
         * below). */
        {
            ys_error jerr = {0};
            if (ys_json_check(line, (size_t)len, "", 1, &jerr) < 0) {
                /* drop the ":1: " of the one-line check: file:line is added below */
                rc = ys_fail(err, jerr.code, "%s", strncmp(jerr.msg, ":1: ", 4) ? jerr.msg : jerr.msg + 4);
                break;
            }
        }
        /* The usual line shape without cJSON's tree (jsonl_line.h); any
         * other line, and every error, goes through cJSON below. */
        if ((size_t)len + 1 > scan_cap) {
            char *nb = realloc(scan_buf, (size_t)len + 1);
            if (!nb) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
            scan_buf = nb;
            scan_cap = (size_t)len + 1;
        }
        jl_sample js;
        if (jl_scan(line, (size_t)len, a->pred_field, a->refs_field, a->ref_field, scan_buf, &js)) {
            scorer_value pred = {SV_TEXT, js.pred, 0}, refs[JL_MAX_REFS];
            for (size_t k = 0; k < js.nrefs; k++)
                refs[k] = (scorer_value){SV_TEXT, js.refs[k], 0};
            rc = scorer_add(s, &pred, refs, js.nrefs, per ? &sj : NULL, err);
            if (rc == 0 && per)
                fprintf(per, "%s\n", sj);
            free(sj);
            continue;
        }
        /* checked above; parsed here so that of repeated keys the last wins */
        cJSON *obj = NULL;
        if ((rc = ys_json_parse(line, (size_t)len, "", 1, &obj, err)) < 0)
            break;
        rc = score_object(a, s, obj, per ? &sj : NULL, err);
        if (rc == 0 && per)
            fprintf(per, "%s\n", sj);
        free(sj);
        cJSON_Delete(obj);
    }
    if (rc < 0 && err->code != YS_EIO)
        prefix_error(err, a->input, lineno);
    free(line);
    free(scan_buf);
    if (f != stdin)
        fclose(f);
    if (rc == 0 && scorer_count(s) == 0)
        rc = ys_fail(err, YS_EINPUT, "%s: no samples to score", a->input);
    return rc;
}

/* Plain-text mode: line-aligned hypothesis and reference files. */
static int run_plain(const score_args *a, scorer *s, FILE *per, ys_error *err)
{
    FILE *files[17];
    const char *names[17];
    int nf = 1 + a->nref_files, rc = 0;
    names[0] = a->hyp_file;
    for (int k = 0; k < a->nref_files; k++)
        names[k + 1] = a->ref_files[k];
    for (int k = 0; k < nf; k++) {
        files[k] = fopen(names[k], "rb");
        if (!files[k]) {
            rc = ys_fail(err, YS_EIO, "%s: cannot open: %s", names[k], strerror(errno));
            while (k-- > 0)
                fclose(files[k]);
            return rc;
        }
    }
    char *lines[17] = {0};
    size_t caps[17] = {0};
    long lineno = 0;
    for (;;) {
        int ended = 0;
        ssize_t lens[17];
        for (int k = 0; k < nf; k++) {
            lens[k] = getline(&lines[k], &caps[k], files[k]);
            ended += lens[k] < 0;
        }
        if (ended == nf)
            break;
        lineno++;
        if (ended) {
            for (int k = 0; k < nf; k++)
                if (lens[k] < 0) {
                    rc = ys_fail(err, YS_EINPUT, "%s has %ld lines but %s has more: files must be line-aligned",
                                 names[k], lineno - 1, names[k == 0 ? 1 : 0]);
                    break;
                }
            break;
        }
        scorer_value pred, refs[16];
        for (int k = 0; k < nf; k++) {
            if (lens[k] > 0 && lines[k][lens[k] - 1] == '\n')
                lines[k][--lens[k]] = 0;
            if (check_utf8(lines[k], (size_t)lens[k], err) < 0) {
                rc = prefix_error(err, names[k], lineno);
                break;
            }
            scorer_value *v = k == 0 ? &pred : &refs[k - 1];
            v->kind = SV_TEXT;
            v->text = lines[k];
        }
        if (rc)
            break;
        char *sj = NULL;
        if ((rc = scorer_add(s, &pred, refs, (size_t)a->nref_files, per ? &sj : NULL, err)) < 0) {
            prefix_error(err, names[0], lineno);
            break;
        }
        if (per)
            fprintf(per, "%s\n", sj);
        free(sj);
    }
    for (int k = 0; k < nf; k++) {
        free(lines[k]);
        fclose(files[k]);
    }
    if (rc == 0 && lineno == 0)
        rc = ys_fail(err, YS_EINPUT, "%s: no lines to score", names[0]);
    return rc;
}

static void print_text(const scorer *s, const scorer_options *o, const scorer_headline *h, size_t nh)
{
    for (size_t k = 0; k < nh; k++) {
        if (strcmp(h[k].name, "bleu") == 0) {
            printf("%s\n", scorer_bleu_line(s));
        } else if (strcmp(h[k].name, "chrf") == 0) {
            char name[32];
            chrf_name(&o->chrf, name, sizeof name);
            printf("%s = %.2f\n", name, h[k].value);
        } else {
            /* "squad.f1", but plain "rougeL" and "accuracy" */
            char label[64];
            if (strcmp(h[k].metric, h[k].name) == 0 || strcmp(h[k].metric, "rouge") == 0)
                snprintf(label, sizeof label, "%s", h[k].name);
            else
                snprintf(label, sizeof label, "%s.%s", h[k].metric, h[k].name);
            if (isnan(h[k].value))
                printf("%s = undefined\n", label);
            else
                printf("%s = %.4f\n", label, h[k].value);
        }
        if (!isnan(h[k].stderr_))
            printf("  stderr %.4f, 95%% CI [%.4f, %.4f]\n", h[k].stderr_, h[k].ci_low, h[k].ci_high);
    }
}

int cmd_score(int argc, char **argv)
{
    score_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    ys_error err = {0};
    scorer *s = scorer_new(a.metrics, &a.so, &err);
    if (!s)
        return cli_fail(&err);
    FILE *per = NULL;
    char tmp[4096] = "";
    if (a.per_sample) {
        snprintf(tmp, sizeof tmp, "%s.partial", a.per_sample);
        if (!(per = fopen(tmp, "w"))) {
            fprintf(stderr, "yardstick: %s: cannot write: %s\n", tmp, strerror(errno));
            scorer_free(s);
            return EXIT_BADINPUT;
        }
    }
    rc = a.plain_metric ? run_plain(&a, s, per, &err) : run_jsonl(&a, s, per, &err);
    char *json = NULL;
    const scorer_headline *heads = NULL;
    size_t nh = 0;
    if (rc == 0)
        rc = scorer_finish(s, &json, &heads, &nh, &err);
    if (per) {
        if (fclose(per) != 0 && rc == 0)
            rc = ys_fail(&err, YS_EIO, "%s: write failed", tmp);
        if (rc == 0 && rename(tmp, a.per_sample) != 0)
            rc = ys_fail(&err, YS_EIO, "%s: cannot rename to %s: %s", tmp, a.per_sample, strerror(errno));
        if (rc != 0)
            remove(tmp);
    }
    if (rc != 0) {
        free(json);
        scorer_free(s);
        return cli_fail(&err);
    }
    if (a.json)
        printf("%s\n", json);
    else
        print_text(s, &a.so, heads, nh);
    free(json);
    scorer_free(s);
    return EXIT_OK;
}
