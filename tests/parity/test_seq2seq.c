/* test_seq2seq.c — engine/seq2seq.h against float64 PyTorch references
 * (tests/data/models/{t5,t5v11,bart,marian}/expected.json, written by
 * tests/parity/gen/gen_seq2seq_models.py): per-token decoder
 * log-probabilities within 1e-4, greedy and beam-search outputs identical
 * token for token, the folder's generation defaults; then the determinism
 * contract (batch and thread invariance) and the error cases. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seq2seq.h"

static const char *const MODELS[] = {"t5", "t5v11", "bart", "marian"};
#define NMODELS (sizeof MODELS / sizeof MODELS[0])
#define TOL 1e-4
#define MAXP 16
#define MAXG 64

typedef struct pair {
    int32_t *src, *dec;
    size_t ns, nd;
    double *lp;
    int *greedy;
} pair;

typedef struct gcase {
    char label[96];
    int defaults;
    int32_t src[64], want[64];
    size_t ns, nw;
    s2s_gen_opts o;
} gcase;

typedef struct fixture {
    const char *name;
    char dir[1024];
    s2s_model *m;
    pair p[MAXP];
    size_t np;
    gcase g[MAXG];
    size_t ng;
    s2s_gen_opts defaults;
} fixture;

static size_t ids_of(const cJSON *a, int32_t *out, size_t cap)
{
    size_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        assert_true(n < cap);
        out[n++] = (int32_t)v->valuedouble;
    }
    return n;
}

static int32_t *ids_alloc(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *p = calloc(*n + 1, sizeof *p);
    ids_of(a, p, *n + 1);
    return p;
}

static s2s_gen_opts opts_of(const cJSON *o)
{
    s2s_gen_opts g = {0};
    g.max_new_tokens = (size_t)ts_num(o, "max_new");
    g.min_new_tokens = (size_t)ts_num(o, "min_new");
    g.num_beams = (int)ts_num(o, "num_beams");
    g.length_penalty = ts_num(o, "length_penalty");
    const cJSON *es = cJSON_GetObjectItem(o, "early_stopping");
    g.early_stopping = cJSON_IsTrue(es) ? 1 : cJSON_IsString(es) ? 2 : 0;
    g.no_repeat_ngram_size = (int)ts_num(o, "no_repeat_ngram_size");
    const cJSON *b = cJSON_GetObjectItem(o, "forced_bos"), *e = cJSON_GetObjectItem(o, "forced_eos");
    g.forced_bos_id = cJSON_IsNumber(b) ? (int32_t)b->valuedouble : -1;
    g.forced_eos_id = cJSON_IsNumber(e) ? (int32_t)e->valuedouble : -1;
    return g;
}

static void load_fixture(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    snprintf(f->dir, sizeof f->dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
    ys_error err = {0};
    if (s2s_load(f->dir, &f->m, &err))
        fail_msg("%s: s2s_load: %s", name, err.msg);
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.json", f->dir);
    cJSON *j = ts_load_json(path);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "pairs")) {
        assert_true(f->np < MAXP);
        pair *p = &f->p[f->np++];
        p->src = ids_alloc(cJSON_GetObjectItem(e, "src"), &p->ns);
        p->dec = ids_alloc(cJSON_GetObjectItem(e, "dec"), &p->nd);
        p->lp = calloc(p->nd, sizeof *p->lp);
        p->greedy = calloc(p->nd, sizeof *p->greedy);
        size_t i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "logprobs")) p->lp[i++] = v->valuedouble;
        assert_int_equal(i, p->nd - 1);
        i = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "greedy")) p->greedy[i++] = (int)v->valuedouble;
    }
    f->defaults = opts_of(cJSON_GetObjectItem(j, "defaults"));
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "generate")) {
        assert_true(f->ng < MAXG);
        gcase *g = &f->g[f->ng++];
        snprintf(g->label, sizeof g->label, "%s", cJSON_GetObjectItem(e, "label")->valuestring);
        g->defaults = cJSON_IsTrue(cJSON_GetObjectItem(e, "defaults"));
        g->ns = ids_of(cJSON_GetObjectItem(e, "src"), g->src, 64);
        g->nw = ids_of(cJSON_GetObjectItem(e, "tokens"), g->want, 64);
        g->o = opts_of(cJSON_GetObjectItem(e, "opts"));
    }
    cJSON_Delete(j);
}

static void free_fixture(fixture *f)
{
    for (size_t i = 0; i < f->np; i++) {
        free(f->p[i].src);
        free(f->p[i].dec);
        free(f->p[i].lp);
        free(f->p[i].greedy);
    }
    s2s_free(f->m);
}

/* Score pairs `which` of f as one batch into lp/gr. */
static void score(fixture *f, const size_t *which, size_t n, double **lp, uint8_t **gr)
{
    const int32_t *src[MAXP], *dec[MAXP];
    size_t ns[MAXP], nd[MAXP];
    for (size_t i = 0; i < n; i++) {
        const pair *p = &f->p[which[i]];
        src[i] = p->src, ns[i] = p->ns, dec[i] = p->dec, nd[i] = p->nd;
    }
    ys_error err = {0};
    if (s2s_logprobs(f->m, src, ns, dec, nd, n, lp, gr, &err))
        fail_msg("%s: s2s_logprobs: %s", f->name, err.msg);
}

static void test_logprobs(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        double *lp[MAXP];
        uint8_t *gr[MAXP];
        size_t which[MAXP], ntok = 0;
        for (size_t i = 0; i < f.np; i++) {
            which[i] = i;
            lp[i] = calloc(f.p[i].nd, sizeof **lp);
            gr[i] = calloc(f.p[i].nd, 1);
        }
        score(&f, which, f.np, lp, gr);
        double maxd = 0;
        for (size_t i = 0; i < f.np; i++) {
            for (size_t t = 0; t + 1 < f.p[i].nd; t++, ntok++) {
                double d = fabs(lp[i][t] - f.p[i].lp[t]);
                maxd = d > maxd ? d : maxd;
                if (d > TOL)
                    fail_msg("%s: pair %zu token %zu: logprob %.9f, reference %.9f", f.name, i, t + 1, lp[i][t],
                             f.p[i].lp[t]);
                if (gr[i][t] != f.p[i].greedy[t])
                    fail_msg("%s: pair %zu token %zu: greedy flag %d, reference %d", f.name, i, t + 1, gr[i][t],
                             f.p[i].greedy[t]);
            }
            free(lp[i]);
            free(gr[i]);
        }
        print_message("%-7s %zu pairs, %zu tokens: max |logprob diff| %.2e\n", f.name, f.np, ntok, maxd);
        free_fixture(&f);
    }
}

static void expect_tokens(const fixture *f, const gcase *g, const int32_t *got, size_t n)
{
    if (n == g->nw && memcmp(got, g->want, n * sizeof *got) == 0)
        return;
    char a[512] = "", b[512] = "";
    for (size_t i = 0; i < n && strlen(a) < 480; i++)
        snprintf(a + strlen(a), sizeof a - strlen(a), " %d", (int)got[i]);
    for (size_t i = 0; i < g->nw && strlen(b) < 480; i++)
        snprintf(b + strlen(b), sizeof b - strlen(b), " %d", (int)g->want[i]);
    fail_msg("%s [%s]: generated%s; reference%s", f->name, g->label, a, b);
}

static void test_generate(void **state)
{
    (void)state;
    size_t total = 0, beams = 0;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        /* the folder's defaults are what the reference derived */
        s2s_gen_opts d;
        s2s_gen_defaults(f.m, &d);
        assert_int_equal(d.max_new_tokens, f.defaults.max_new_tokens);
        assert_int_equal(d.min_new_tokens, f.defaults.min_new_tokens);
        assert_int_equal(d.num_beams, f.defaults.num_beams);
        assert_true(d.length_penalty == f.defaults.length_penalty);
        assert_int_equal(d.early_stopping, f.defaults.early_stopping);
        assert_int_equal(d.no_repeat_ngram_size, f.defaults.no_repeat_ngram_size);
        assert_int_equal(d.forced_bos_id, f.defaults.forced_bos_id);
        assert_int_equal(d.forced_eos_id, f.defaults.forced_eos_id);
        assert_null(d.stop);
        for (size_t i = 0; i < f.ng; i++) {
            const gcase *g = &f.g[i];
            int32_t *out = NULL;
            size_t n = 0;
            ys_error err = {0};
            /* defaults: NULL opts must mean the folder's defaults */
            if (s2s_generate(f.m, g->src, g->ns, g->defaults ? NULL : &g->o, &out, &n, &err))
                fail_msg("%s [%s]: s2s_generate: %s", f.name, g->label, err.msg);
            expect_tokens(&f, g, out, n);
            free(out);
            total++;
            beams += g->o.num_beams > 1;
        }
        free_fixture(&f);
    }
    print_message("%zu generations (%zu beam searches) identical to the reference\n", total, beams);
}

static int stop_at_2(const int32_t *gen, size_t n, void *user)
{
    (void)gen;
    ++*(int *)user;
    return n == 2;
}

/* The stop callback ends greedy decoding, keeping the token that triggered
 * it; max_new_tokens 0 generates nothing. */
static void test_stop_and_limits(void **state)
{
    (void)state;
    fixture f;
    load_fixture(&f, "t5");
    const gcase *g = NULL;
    for (size_t i = 0; i < f.ng && !g; i++)
        if (f.g[i].o.num_beams == 1 && f.g[i].nw >= 3 && !f.g[i].defaults)
            g = &f.g[i];
    assert_non_null(g);
    s2s_gen_opts o = g->o;
    int calls = 0;
    o.stop = stop_at_2;
    o.stop_user = &calls;
    int32_t *out;
    size_t n;
    ys_error err = {0};
    assert_int_equal(s2s_generate(f.m, g->src, g->ns, &o, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(calls, 2);
    assert_memory_equal(out, g->want, 2 * sizeof *out);
    free(out);
    o = g->o;
    o.max_new_tokens = 0;
    assert_int_equal(s2s_generate(f.m, g->src, g->ns, &o, &out, &n, &err), 0);
    assert_int_equal(n, 0);
    free(out);
    free_fixture(&f);
}

/* A pair's log-probabilities are bitwise the same alone, in a batch, in
 * another batch, and with 1 or 3 threads; generation too. The probes are
 * the pairs with a 70-token source and an 80-token target (two row tiles). */
static void test_determinism(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        size_t probes[2] = {4, 5};
        for (int k = 0; k < 2; k++) {
            size_t pr = probes[k], nd = f.p[pr].nd;
            double *lp[4][3];
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 3; j++)
                    lp[r][j] = calloc(nd + 128, sizeof(double));
            size_t alone[] = {pr}, batch3[] = {2, pr, 3}, other[] = {pr, 1};
            ys_error err = {0};
            score(&f, alone, 1, lp[0], NULL);
            score(&f, batch3, 3, (double *[]){lp[1][1], lp[1][0], lp[1][2]}, NULL);
            score(&f, other, 2, lp[2], NULL);
            assert_int_equal(s2s_set_threads(f.m, 1, &err), 0);
            score(&f, alone, 1, lp[3], NULL);
            assert_int_equal(s2s_set_threads(f.m, 3, &err), 0);
            for (int r = 1; r < 4; r++)
                if (memcmp(lp[0][0], lp[r][0], (nd - 1) * sizeof(double)))
                    fail_msg("%s: pair %zu: log-probabilities differ in run %d", f.name, pr, r);
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 3; j++)
                    free(lp[r][j]);
        }
        /* a beam search with 1 and 3 threads */
        const gcase *g = &f.g[f.ng - 1];
        int32_t *a, *b;
        size_t na, nb;
        ys_error err = {0};
        assert_int_equal(s2s_set_threads(f.m, 1, &err), 0);
        assert_int_equal(s2s_generate(f.m, g->src, g->ns, &g->o, &a, &na, &err), 0);
        assert_int_equal(s2s_set_threads(f.m, 3, &err), 0);
        assert_int_equal(s2s_generate(f.m, g->src, g->ns, &g->o, &b, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        free(a);
        free(b);
        free_fixture(&f);
    }
}

/* A folder in the scratch directory with the t5 weights and a config
 * edited by `edit` (a JSON object merged over the original). */
static const char *make_variant(const char *tag, const char *model, const char *key, const char *json_value)
{
    char src[1100], dst[1100], cmd[4096];
    snprintf(src, sizeof src, "%s/tests/data/models/%s", YS_SOURCE_DIR, model);
    snprintf(dst, sizeof dst, "%s", ts_path(tag));
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && ln -sf '%s/model.safetensors' '%s/model.safetensors'", dst, src, dst);
    assert_int_equal(ts_run(cmd, NULL), 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", src);
    char *text = ts_read_file(path, NULL);
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    cJSON_DeleteItemFromObject(cfg, key);
    cJSON_AddItemToObject(cfg, key, cJSON_Parse(json_value));
    char *out = cJSON_Print(cfg);
    snprintf(path, sizeof path, "%s/config.json", dst);
    ts_write_file(path, out);
    free(out);
    cJSON_Delete(cfg);
    static char keep[4][1100];
    static int k;
    k = (k + 1) % 4;
    snprintf(keep[k], sizeof keep[k], "%s", dst);
    return keep[k];
}

static void test_errors(void **state)
{
    (void)state;
    ys_error err = {0};
    s2s_model *m = NULL;
    char dir[1100];

    /* s2s_supports: ours vs a decoder-only model vs no folder */
    snprintf(dir, sizeof dir, "%s/tests/data/models/t5", YS_SOURCE_DIR);
    assert_int_equal(s2s_supports(dir, &err), 1);
    snprintf(dir, sizeof dir, "%s/tests/data/models/gpt2", YS_SOURCE_DIR);
    assert_int_equal(s2s_supports(dir, &err), 0);
    assert_true(s2s_supports("/nonexistent/model", &err) < 0);

    /* an unsupported architecture is named, with the supported list */
    assert_int_equal(s2s_load(dir, &m, &err), YS_EINPUT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "GPT2LMHeadModel"));
    assert_non_null(strstr(err.msg, "T5ForConditionalGeneration, BartForConditionalGeneration, MarianMTModel"));

    /* a missing tensor: a config asking for a third encoder block */
    const char *v = make_variant("t5_3layers", "t5", "num_layers", "3");
    assert_int_equal(s2s_load(v, &m, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "encoder.block.2.layer.0.SelfAttention.q.weight"));
    /* a misshapen one: d_ff 65 */
    v = make_variant("t5_dff", "t5", "d_ff", "65");
    assert_int_equal(s2s_load(v, &m, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "DenseReluDense.wi.weight"));
    /* an unsupported option of a supported family */
    v = make_variant("t5_silu", "t5", "feed_forward_proj", "\"gated-silu\"");
    assert_int_equal(s2s_load(v, &m, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "feed_forward_proj"));

    /* without its generation_config.json, marian's defaults come from
     * config.json (num_beams 6, max_length 40); a multi-token bad word is
     * refused at generation rather than ignored */
    v = make_variant("marian_badwords", "marian", "bad_words_ids", "[[99], [5, 6]]");
    assert_int_equal(s2s_load(v, &m, &err), 0);
    s2s_gen_opts dflt;
    s2s_gen_defaults(m, &dflt);
    assert_int_equal(dflt.num_beams, 6);
    assert_int_equal(dflt.max_new_tokens, 39);
    assert_int_equal(dflt.forced_eos_id, 0);
    int32_t one[2] = {5, 0}, *gen = NULL;
    size_t ngen;
    assert_int_equal(s2s_generate(m, one, 2, NULL, &gen, &ngen, &err), YS_EUSAGE);
    assert_non_null(strstr(err.msg, "bad_words_ids"));
    assert_null(gen);
    s2s_free(m);
    m = NULL;

    /* bad ids */
    snprintf(dir, sizeof dir, "%s/tests/data/models/bart", YS_SOURCE_DIR);
    assert_int_equal(s2s_load(dir, &m, &err), 0);
    int32_t src[3] = {5, 6, 100}, dec[3] = {2, 7, -1}, good_src[2] = {5, 6}, good_dec[2] = {2, 7};
    double lp0[4], lp1[4];
    double *lps[2] = {lp0, lp1};
    const int32_t *S[2] = {good_src, src}, *D[2] = {good_dec, good_dec};
    size_t ns[2] = {2, 3}, nd[2] = {2, 2};
    assert_int_equal(s2s_logprobs(m, S, ns, D, nd, 2, lps, NULL, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "pair 1"));
    assert_non_null(strstr(err.msg, "source token 2: id 100"));
    S[1] = good_src, ns[1] = 2, D[1] = dec, nd[1] = 3;
    assert_int_equal(s2s_logprobs(m, S, ns, D, nd, 2, lps, NULL, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "decoder token 2: id -1"));
    nd[1] = 0;
    assert_int_equal(s2s_logprobs(m, S, ns, D, nd, 2, lps, NULL, &err), YS_EINPUT);
    /* a source longer than max_position_embeddings (128) */
    int32_t longsrc[129] = {0};
    S[1] = longsrc, ns[1] = 129, nd[1] = 2, D[1] = good_dec;
    assert_int_equal(s2s_logprobs(m, S, ns, D, nd, 2, lps, NULL, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "128 positions"));

    int32_t *out = NULL;
    size_t n;
    s2s_gen_opts o;
    s2s_gen_defaults(m, &o);
    o.forced_bos_id = 100;
    assert_int_equal(s2s_generate(m, good_src, 2, &o, &out, &n, &err), YS_EUSAGE);
    s2s_gen_defaults(m, &o);
    o.num_beams = 0;
    assert_int_equal(s2s_generate(m, good_src, 2, &o, &out, &n, &err), YS_EUSAGE);
    assert_int_equal(s2s_generate(m, src, 3, NULL, &out, &n, &err), YS_EINPUT);
    assert_int_equal(s2s_generate(m, src, 0, NULL, &out, &n, &err), YS_EINPUT);
    assert_null(out);
    const s2s_info *mi = s2s_get_info(m);
    assert_string_equal(mi->arch, "BartForConditionalGeneration");
    assert_int_equal(mi->vocab, 100);
    assert_int_equal(mi->decoder_start_id, 2);
    assert_int_equal(mi->eos_id, 2);
    assert_int_equal(mi->pad_id, 1);
    assert_int_equal(mi->max_source_positions, 128);
    s2s_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_stop_and_limits),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
