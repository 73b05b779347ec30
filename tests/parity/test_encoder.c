/* test_encoder.c — engine/encoder.c's classifiers against float64 PyTorch
 * references (tests/data/models/{bert_cls,bert_stsb,roberta_cls,
 * distilbert_cls}/expected.json, written by
 * tests/parity/gen/gen_encoder_models.py), the determinism contract of
 * encoder.h (a sequence's logits are bitwise the same alone, in any batch,
 * with any thread count), and load/input errors. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encoder.h"

static const char *const MODELS[] = {"bert_cls", "bert_stsb", "roberta_cls", "distilbert_cls"};
#define NMODELS (sizeof MODELS / sizeof MODELS[0])
#define MAXSEQ 16
#define TOL 1e-4

typedef struct seq {
    int32_t *ids, *tt;   /* tt NULL when the reference used none */
    size_t n;
    double *logits;      /* expected, num_labels */
} seq;

typedef struct fixture {
    const char *name;
    char dir[1024];
    enc_model *m;
    seq s[MAXSEQ];
    size_t nseq;
    int num_labels;
} fixture;

static int32_t *int_array(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *v = calloc(*n + 1, sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = (int32_t)e->valuedouble;
    return v;
}

static void load_fixture(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    snprintf(f->dir, sizeof f->dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
    ys_error err = {0};
    if (enc_load(f->dir, &f->m, &err))
        fail_msg("%s: enc_load: %s", name, err.msg);
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.json", f->dir);
    cJSON *j = ts_load_json(path);
    f->num_labels = (int)ts_num(j, "num_labels");
    assert_int_equal(enc_get_info(f->m)->num_labels, f->num_labels);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "sequences")) {
        assert_true(f->nseq < MAXSEQ);
        seq *s = &f->s[f->nseq++];
        s->ids = int_array(cJSON_GetObjectItem(e, "ids"), &s->n);
        const cJSON *tt = cJSON_GetObjectItem(e, "type_ids");
        size_t ntt;
        s->tt = cJSON_IsArray(tt) ? int_array(tt, &ntt) : NULL;
        if (s->tt)
            assert_int_equal(ntt, s->n);
        s->logits = calloc((size_t)f->num_labels, sizeof *s->logits);
        size_t i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "logits")) s->logits[i++] = v->valuedouble;
        assert_int_equal(i, f->num_labels);
    }
    cJSON_Delete(j);
}

static void free_fixture(fixture *f)
{
    for (size_t i = 0; i < f->nseq; i++) {
        free(f->s[i].ids);
        free(f->s[i].tt);
        free(f->s[i].logits);
    }
    enc_free(f->m);
}

/* Classify the given sequences of f (by index) as one batch into out[i]. */
static void classify(fixture *f, const size_t *which, size_t n, float **out)
{
    const int32_t *ids[MAXSEQ], *tt[MAXSEQ];
    size_t lens[MAXSEQ];
    for (size_t i = 0; i < n; i++) {
        ids[i] = f->s[which[i]].ids;
        tt[i] = f->s[which[i]].tt;
        lens[i] = f->s[which[i]].n;
    }
    ys_error err = {0};
    if (enc_classify(f->m, ids, tt, lens, n, out, &err))
        fail_msg("%s: enc_classify: %s", f->name, err.msg);
}

static float **alloc_out(size_t n, int labels)
{
    float **o = calloc(n, sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = calloc((size_t)labels, sizeof **o);
    return o;
}

static void free_out(float **o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(o[i]);
    free(o);
}

/* Every sequence as one batch and each alone, against the reference. */
static void test_parity(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        size_t which[MAXSEQ];
        for (size_t i = 0; i < f.nseq; i++)
            which[i] = i;
        float **batch = alloc_out(f.nseq, f.num_labels), **alone = alloc_out(f.nseq, f.num_labels);
        classify(&f, which, f.nseq, batch);
        for (size_t i = 0; i < f.nseq; i++)
            classify(&f, &which[i], 1, &alone[i]);
        double maxd = 0;
        for (size_t i = 0; i < f.nseq; i++)
            for (int j = 0; j < f.num_labels; j++) {
                double d = fabs(batch[i][j] - f.s[i].logits[j]);
                maxd = d > maxd ? d : maxd;
                if (d > TOL)
                    fail_msg("%s: sequence %zu (%zu tokens) logit %d: %.7f, reference %.7f", f.name, i, f.s[i].n, j,
                             batch[i][j], f.s[i].logits[j]);
                if (memcmp(&batch[i][j], &alone[i][j], sizeof(float)) != 0)
                    fail_msg("%s: sequence %zu logit %d differs alone and in the batch", f.name, i, j);
            }
        print_message("%-15s %zu sequences x %d labels: max |logit diff| %.2e\n", f.name, f.nseq, f.num_labels,
                      maxd);
        free_out(batch, f.nseq);
        free_out(alone, f.nseq);
        free_fixture(&f);
    }
}

/* What enc_get_info reports, from config.json. */
static void test_info(void **state)
{
    (void)state;
    fixture f;
    load_fixture(&f, "bert_cls");
    const enc_info *i = enc_get_info(f.m);
    assert_string_equal(i->arch, "BertForSequenceClassification");
    assert_int_equal(i->vocab, 100);
    assert_int_equal(i->hidden, 32);
    assert_int_equal(i->layers, 2);
    assert_int_equal(i->heads, 4);
    assert_int_equal(i->ffn, 64);
    assert_int_equal(i->max_positions, 72);
    assert_int_equal(i->type_vocab, 2);
    assert_int_equal(i->pad_id, 0);
    assert_int_equal(i->num_labels, 3);
    assert_string_equal(i->labels[0], "entailment");
    assert_string_equal(i->labels[1], "neutral");
    assert_string_equal(i->labels[2], "contradiction");
    free_fixture(&f);

    load_fixture(&f, "roberta_cls");
    i = enc_get_info(f.m);
    assert_int_equal(i->max_positions, 72);   /* max_position_embeddings 74 - pad 1 - 1 */
    assert_int_equal(i->type_vocab, 1);
    assert_int_equal(i->pad_id, 1);
    assert_int_equal(i->num_labels, 2);       /* num_labels, no id2label */
    assert_string_equal(i->labels[0], "LABEL_0");
    assert_string_equal(i->labels[1], "LABEL_1");
    free_fixture(&f);

    load_fixture(&f, "distilbert_cls");
    i = enc_get_info(f.m);
    assert_string_equal(i->arch, "DistilBertForSequenceClassification");
    assert_int_equal(i->type_vocab, 0);
    assert_string_equal(i->labels[1], "POSITIVE");
    free_fixture(&f);

    load_fixture(&f, "bert_stsb");
    assert_int_equal(enc_get_info(f.m)->num_labels, 1);
    free_fixture(&f);
}

/* The longest sequence (72 tokens: two row tiles) and a short one, alone
 * and in batches of different makeup, with 1, 2 and 3 threads (a batch of
 * at least two sequences per thread runs one sequence per thread, smaller
 * ones over tiles): bitwise the same logits. */
static void test_determinism(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        size_t probe = 6, shortp = 2;   /* 72 and 5 tokens */
        assert_int_equal(f.s[probe].n, 72);
        size_t alone[] = {probe}, alone_s[] = {shortp}, small[] = {shortp, probe, 4};
        size_t big[MAXSEQ], nbig = 0;
        for (size_t i = f.nseq; i-- > 0;)
            big[nbig++] = i;              /* reversed: probe and short sit elsewhere */
        float **ref = alloc_out(2, f.num_labels), **got = alloc_out(MAXSEQ, f.num_labels);
        ys_error err = {0};
        assert_int_equal(enc_set_threads(f.m, 1, &err), 0);
        classify(&f, alone, 1, &ref[0]);
        classify(&f, alone_s, 1, &ref[1]);
        size_t L = (size_t)f.num_labels * sizeof(float);
        for (int threads = 1; threads <= 3; threads++) {
            assert_int_equal(enc_set_threads(f.m, threads, &err), 0);
            classify(&f, alone, 1, got);
            if (memcmp(got[0], ref[0], L))
                fail_msg("%s: probe alone differs with %d threads", f.name, threads);
            classify(&f, small, 3, got);
            if (memcmp(got[1], ref[0], L) || memcmp(got[0], ref[1], L))
                fail_msg("%s: batch of 3 differs with %d threads", f.name, threads);
            classify(&f, big, nbig, got);
            if (memcmp(got[nbig - 1 - probe], ref[0], L) || memcmp(got[nbig - 1 - shortp], ref[1], L))
                fail_msg("%s: batch of %zu differs with %d threads", f.name, nbig, threads);
        }
        /* a batch of many chunks (encoder.c runs ~512 tokens at a time;
         * with at least two chunks per thread each thread takes whole
         * chunks): 150 sequences cycling through the fixtures, so copies
         * of the probe land at different places in different chunks */
        size_t nhuge = 150, L2 = (size_t)f.num_labels;
        const int32_t **hids = calloc(nhuge, sizeof *hids), **htt = calloc(nhuge, sizeof *htt);
        size_t *hlens = calloc(nhuge, sizeof *hlens), tokens = 0;
        float **hout = alloc_out(nhuge, f.num_labels);
        for (size_t i = 0; i < nhuge; i++) {
            const seq *s = &f.s[(i * 3) % f.nseq];
            hids[i] = s->ids, htt[i] = s->tt, hlens[i] = s->n;
            tokens += s->n;
        }
        assert_true(tokens > 3 * 1024);
        for (int threads = 1; threads <= 3; threads++) {
            assert_int_equal(enc_set_threads(f.m, threads, &err), 0);
            assert_int_equal(enc_classify(f.m, hids, htt, hlens, nhuge, hout, &err), 0);
            for (size_t i = 0; i < nhuge; i++) {
                size_t which = (i * 3) % f.nseq;
                float one[8];
                float *po[] = {one};
                classify(&f, &which, 1, po);
                if (memcmp(one, hout[i], L2 * sizeof(float)))
                    fail_msg("%s: sequence %zu of the large batch differs from alone (%d threads)", f.name, i,
                             threads);
            }
        }
        free(hids);
        free(htt);
        free(hlens);
        free_out(hout, nhuge);
        free_out(ref, 2);
        free_out(got, MAXSEQ);
        free_fixture(&f);
    }
}

/* ---- load errors: copies of bert_cls with an edited header / config ---- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* dir <- bert_cls's weights without tensor `drop` / with `reshape` given
 * `shape`, and config.json = bert_cls's with `key` replaced by the JSON
 * `value` (all optional). */
static void variant(const char *dir, const char *drop, const char *reshape, const char *shape, const char *key,
                    const char *value)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/data/models/bert_cls/model.safetensors", YS_SOURCE_DIR);
    size_t n;
    char *buf = ts_read_file(path, &n);
    assert_non_null(buf);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | (unsigned char)buf[i];
    cJSON *h = cJSON_ParseWithLength(buf + 8, (size_t)hl);
    assert_non_null(h);
    if (drop)
        cJSON_DeleteItemFromObject(h, drop);
    if (reshape)
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, reshape), "shape", cJSON_Parse(shape));
    char *hdr = cJSON_PrintUnformatted(h);
    size_t nh = strlen(hdr), data = n - 8 - (size_t)hl;
    char *out = malloc(8 + nh + data);
    for (int i = 0; i < 8; i++)
        out[i] = (char)(unsigned char)((uint64_t)nh >> (8 * i));
    memcpy(out + 8, hdr, nh);
    memcpy(out + 8 + nh, buf + 8 + hl, data);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_file(path, out, 8 + nh + data);
    free(out);
    free(hdr);
    cJSON_Delete(h);
    free(buf);

    snprintf(path, sizeof path, "%s/tests/data/models/bert_cls/config.json", YS_SOURCE_DIR);
    char *text = ts_read_file(path, NULL);
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    assert_non_null(cfg);
    if (key) {
        cJSON_DeleteItemFromObject(cfg, key);
        cJSON_AddItemToObject(cfg, key, cJSON_Parse(value));
    }
    text = cJSON_Print(cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, text, strlen(text));
    free(text);
    cJSON_Delete(cfg);
}

static void expect_load_fail(const char *dir, const char *needle1, const char *needle2)
{
    enc_model *m = NULL;
    ys_error err = {0};
    int rc = enc_load(dir, &m, &err);
    if (rc != YS_EINPUT)
        fail_msg("expected YS_EINPUT, got %d (%s)", rc, err.msg);
    assert_null(m);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("message lacks \"%s\" / \"%s\": %s", needle1, needle2 ? needle2 : "", err.msg);
}

static void test_load_errors(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", ts_path("bert"));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);

    variant(dir, NULL, NULL, NULL, NULL, NULL);
    enc_model *m;
    ys_error err = {0};
    assert_int_equal(enc_load(dir, &m, &err), 0);   /* the unedited copy loads */
    enc_free(m);
    assert_int_equal(enc_supports(dir, &err), 1);

    variant(dir, "bert.encoder.layer.1.output.dense.bias", NULL, NULL, NULL, NULL);
    expect_load_fail(dir, "missing tensor bert.encoder.layer.1.output.dense.bias", NULL);
    variant(dir, "bert.pooler.dense.weight", NULL, NULL, NULL, NULL);
    expect_load_fail(dir, "missing tensor bert.pooler.dense.weight", NULL);
    variant(dir, NULL, "classifier.weight", "[32, 3]", NULL, NULL);
    expect_load_fail(dir, "tensor classifier.weight has shape [32, 3], config.json implies [3, 32]",
                     "model.safetensors");
    /* more labels in config.json than the classifier has */
    variant(dir, NULL, NULL, NULL, "id2label", "{\"0\": \"a\", \"1\": \"b\", \"2\": \"c\", \"3\": \"d\"}");
    expect_load_fail(dir, "classifier.weight has shape [3, 32], config.json implies [4, 32]", NULL);
    variant(dir, NULL, NULL, NULL, "id2label", "{\"0\": \"a\", \"2\": \"c\"}");
    expect_load_fail(dir, "id2label entry \"2\"", NULL);

    variant(dir, NULL, NULL, NULL, "architectures", "[\"BertForMaskedLM\"]");
    expect_load_fail(dir, "architecture \"BertForMaskedLM\" is not a supported encoder classifier",
                     "BertForSequenceClassification, RobertaForSequenceClassification, "
                     "DistilBertForSequenceClassification");
    assert_int_equal(enc_supports(dir, &err), 0);
    variant(dir, NULL, NULL, NULL, "architectures", "null");
    expect_load_fail(dir, "architecture \"(none)\"", NULL);
    variant(dir, NULL, NULL, NULL, "hidden_act", "\"silu\"");
    expect_load_fail(dir, "hidden_act \"silu\" is not supported", "gelu_new");
    variant(dir, NULL, NULL, NULL, "position_embedding_type", "\"relative_key\"");
    expect_load_fail(dir, "position_embedding_type \"relative_key\" is not supported", NULL);
    variant(dir, NULL, NULL, NULL, "num_attention_heads", "5");
    expect_load_fail(dir, "not a multiple of 5 heads", NULL);
    variant(dir, NULL, NULL, NULL, "hidden_size", "\"32\"");
    expect_load_fail(dir, "\"hidden_size\" must be an integer", NULL);

    /* enc_supports on the other checkpoints and on no checkpoint at all */
    char p[1100];
    snprintf(p, sizeof p, "%s/tests/data/models/gpt2", YS_SOURCE_DIR);
    assert_int_equal(enc_supports(p, &err), 0);
    snprintf(p, sizeof p, "%s/tests/data/models/distilbert_cls", YS_SOURCE_DIR);
    assert_int_equal(enc_supports(p, &err), 1);
    snprintf(p, sizeof p, "%s/no/such/dir", YS_SOURCE_DIR);
    assert_int_equal(enc_supports(p, &err), YS_EIO);
    assert_non_null(strstr(err.msg, "config.json"));
}

/* ---- input errors -------------------------------------------------------- */

static void expect_input_fail(enc_model *m, const int32_t *ids, const int32_t *tt, size_t n, const char *needle)
{
    int32_t ok_ids[] = {2, 5, 6};
    const int32_t *seqs[] = {ok_ids, ids}, *tts[] = {NULL, tt};
    size_t lens[] = {3, n};
    float a[4], b[4];
    float *out[] = {a, b};
    ys_error err = {0};
    int rc = enc_classify(m, seqs, tts, lens, 2, out, &err);
    if (rc != YS_EINPUT)
        fail_msg("expected YS_EINPUT, got %d (%s)", rc, err.msg);
    if (!strstr(err.msg, needle))
        fail_msg("message lacks \"%s\": %s", needle, err.msg);
}

static void test_input_errors(void **state)
{
    (void)state;
    fixture f;
    load_fixture(&f, "bert_cls");
    int32_t ids[80] = {0}, tt[80] = {0};
    expect_input_fail(f.m, ids, NULL, 73, "sequence 1: 73 tokens exceed the model's 72 positions");
    expect_input_fail(f.m, ids, NULL, 0, "sequence 1: empty");
    ids[3] = 100;
    expect_input_fail(f.m, ids, NULL, 5, "sequence 1 position 3: token id 100 outside the vocabulary [0, 100)");
    ids[3] = -1;
    expect_input_fail(f.m, ids, NULL, 5, "sequence 1 position 3: token id -1");
    ids[3] = 7;
    tt[4] = 2;
    expect_input_fail(f.m, ids, tt, 5, "sequence 1 position 4: token type id 2 outside [0, 2)");
    tt[4] = 1;   /* valid for BERT */
    float a[3], b[3];
    float *out[] = {a, b};
    const int32_t *seqs[] = {ids, ids}, *tts[] = {tt, NULL};
    size_t lens[] = {5, 5};
    ys_error err = {0};
    assert_int_equal(enc_classify(f.m, seqs, tts, lens, 2, out, &err), 0);
    assert_true(memcmp(a, b, sizeof a) != 0);   /* the type ids are used */
    free_fixture(&f);

    load_fixture(&f, "roberta_cls");
    expect_input_fail(f.m, ids, tt, 5, "token type id 1 outside [0, 1)");
    free_fixture(&f);
    load_fixture(&f, "distilbert_cls");
    expect_input_fail(f.m, ids, tt, 5, "token type id 1, but DistilBertForSequenceClassification has no token types");
    /* all-zero type ids are accepted (and mean nothing) */
    memset(tt, 0, sizeof tt);
    tts[0] = tt;
    assert_int_equal(enc_classify(f.m, seqs, tts, lens, 2, out, &err), 0);
    assert_memory_equal(a, b, 2 * sizeof(float));
    free_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_input_errors),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
