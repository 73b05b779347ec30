/* `yardstick run` on every built-in task with each decoder architecture of
 * gen_arch_models.py (Llama 3 / linear / dynamic RoPE, Qwen3, Gemma 1/2/3,
 * Phi-3, GPT-NeoX): the parity checkpoints (vocabulary 96) are widened here
 * to the bundled tiny model's tokenizer (457 ids: embedding and head rows
 * repeated, every other tensor as stored, in its stored dtype) so that a
 * real tokenizer drives them; every task must run and report finite
 * scores, and a second run must give byte-identical results from the
 * response cache. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static const char *const ARCHS[] = {"llama3_rope", "llama_linear", "llama_dynamic", "qwen3_yarn", "gemma",
                                    "gemma2", "gemma3", "phi3", "pythia", "neox_seq"};
#define VOCAB 457

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Copy the fixture `name` into dir with a VOCAB-row embedding and head. */
static void widen(const char *name, const char *dir)
{
    char path[1536];
    snprintf(path, sizeof path, "%s/tests/data/models/%s/model.safetensors", YS_SOURCE_DIR, name);
    size_t n;
    unsigned char *buf = (unsigned char *)ts_read_file(path, &n);
    assert_non_null(buf);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    const unsigned char *data = buf + 8 + hl;
    cJSON *h = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hl);
    assert_non_null(h);
    size_t cap = 2 * n + (size_t)VOCAB * 4096, off = 0;
    unsigned char *out = malloc(cap);
    cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__"))
            continue;
        cJSON *shape = cJSON_GetObjectItem(e, "shape"), *offs = cJSON_GetObjectItem(e, "data_offsets");
        size_t b0 = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble, b1 = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        size_t len = b1 - b0;
        int widen_it = cJSON_GetArraySize(shape) == 2 && cJSON_GetArrayItem(shape, 0)->valueint == 96 &&
                       (strstr(e->string, "embed") || !strcmp(e->string, "lm_head.weight"));
        size_t start = off;
        if (widen_it) {
            size_t row = len / 96;
            for (int r = 0; r < VOCAB; r++, off += row)
                memcpy(out + off, data + b0 + (size_t)(r % 96) * row, row);
            cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(VOCAB));
        } else {
            memcpy(out + off, data + b0, len);
            off += len;
        }
        assert_true(off <= cap);
        cJSON_ReplaceItemInArray(offs, 0, cJSON_CreateNumber((double)start));
        cJSON_ReplaceItemInArray(offs, 1, cJSON_CreateNumber((double)off));
    }
    char *hdr = cJSON_PrintUnformatted(h);
    size_t hn = strlen(hdr), pad = (8 - hn % 8) % 8;
    unsigned char *file = malloc(8 + hn + pad + off);
    uint64_t len8 = hn + pad;
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)(len8 >> (8 * i));
    memcpy(file + 8, hdr, hn);
    memset(file + 8 + hn, ' ', pad);
    memcpy(file + 8 + hn + pad, out, off);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_bytes(path, file, 8 + hn + pad + off);
    free(file), free(hdr), free(out), free(buf);
    cJSON_Delete(h);

    snprintf(path, sizeof path, "%s/tests/data/models/%s/config.json", YS_SOURCE_DIR, name);
    cJSON *cfg = ts_load_json(path);
    cJSON_ReplaceItemInObject(cfg, "vocab_size", cJSON_CreateNumber(VOCAB));
    cJSON_ReplaceItemInObject(cfg, "bos_token_id", cJSON_CreateNumber(VOCAB - 1));
    cJSON_ReplaceItemInObject(cfg, "eos_token_id", cJSON_CreateNumber(VOCAB - 1));
    char *txt = cJSON_Print(cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    ts_write_file(path, txt);
    free(txt);
    cJSON_Delete(cfg);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp %s/tests/data/models/tiny/tokenizer.json %s/tests/data/models/tiny/tokenizer_config.json %s/",
             YS_SOURCE_DIR, YS_SOURCE_DIR, dir);
    assert_int_equal(ts_run(cmd, NULL), 0);
}

static void test_run_every_arch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++) {
        char dir[512], cmd[4096];
        snprintf(dir, sizeof dir, "%s/%s", ts_scratch(), ARCHS[i]);
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        assert_int_equal(ts_run(cmd, NULL), 0);
        widen(ARCHS[i], dir);
        for (int pass = 0; pass < 2; pass++) {
            snprintf(cmd, sizeof cmd, "%s run --model %s --limit 3 --db %s/r.db --output %s/out%d.json >%s/log%d.txt 2>&1",
                     YS_BINARY, dir, dir, dir, pass, dir, pass);
            int rc = ts_run(cmd, NULL);
            if (rc != 0) {
                snprintf(cmd, sizeof cmd, "%s/log%d.txt", dir, pass);
                char *log = ts_read_file(cmd, NULL);
                fail_msg("%s: yardstick run exited %d:\n%s", ARCHS[i], rc, log ? log : "");
            }
        }
        snprintf(cmd, sizeof cmd, "%s/out0.json", dir);
        cJSON *r = ts_load_json(cmd);
        const cJSON *res = cJSON_GetObjectItem(r, "results"), *task;
        int ntasks = 0;
        cJSON_ArrayForEach(task, res) {
            const cJSON *v;
            ntasks++;
            cJSON_ArrayForEach(v, task)
                if (cJSON_IsNumber(v) && !isfinite(v->valuedouble) && !strstr(v->string, "stderr"))
                    fail_msg("%s: task %s: %s is not finite", ARCHS[i], task->string, v->string);
        }
        if (ntasks < 17)
            fail_msg("%s: %d tasks in the results, expected every built-in task", ARCHS[i], ntasks);
        /* the second run answers from the cache: the same results */
        snprintf(cmd, sizeof cmd, "%s/out1.json", dir);
        cJSON *r2 = ts_load_json(cmd);
        if (!cJSON_Compare(res, cJSON_GetObjectItem(r2, "results"), 1))
            fail_msg("%s: the second (cached) run's results differ", ARCHS[i]);
        cJSON_Delete(r2);
        cJSON_Delete(r);
        print_message("%-13s %d tasks\n", ARCHS[i], ntasks);
    }
}

/* The window of a decoder's rolling perplexity is lm-evaluation-harness's
 * max_length, config.json's max_position_embeddings here: the same model
 * with another value scores WikiText differently, and with the value a
 * document exceeds, differently from one it fits. */
static double wikitext_word_ppl(const char *dir)
{
    char cmd[4096], path[1100];
    snprintf(cmd, sizeof cmd, "%s run --model %s --tasks wikitext --limit 1 --no-db --output %s/w.json >/dev/null 2>&1",
             YS_BINARY, dir, dir);
    assert_int_equal(ts_run(cmd, NULL), 0);
    snprintf(path, sizeof path, "%s/w.json", dir);
    cJSON *j = ts_load_json(path);
    double v = ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "results"), "wikitext"), "word_perplexity,none");
    cJSON_Delete(j);
    return v;
}

static void test_window(void **state)
{
    (void)state;
    double ppl[3];
    const int windows[] = {64, 128, 100000};
    for (int i = 0; i < 3; i++) {
        char dir[512], cmd[1200], path[600];
        snprintf(dir, sizeof dir, "%s/win%d", ts_scratch(), windows[i]);
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        assert_int_equal(ts_run(cmd, NULL), 0);
        widen("gemma", dir);
        snprintf(path, sizeof path, "%s/config.json", dir);
        cJSON *cfg = ts_load_json(path);
        cJSON_ReplaceItemInObject(cfg, "max_position_embeddings", cJSON_CreateNumber(windows[i]));
        char *txt = cJSON_Print(cfg);
        ts_write_file(path, txt);
        free(txt);
        cJSON_Delete(cfg);
        ppl[i] = wikitext_word_ppl(dir);
    }
    assert_true(ppl[0] != ppl[1] && ppl[1] != ppl[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run_every_arch), cmocka_unit_test(test_window)};
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
