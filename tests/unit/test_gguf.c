/* test_gguf.c — the GGUF container and dequantization (engine/gguf.h).
 *
 * tests/data/gguf/container.gguf and dequant.gguf come from
 * tests/parity/gen/gen_gguf.py (its own writer, checked by gguf-py's
 * reader; reference dequantization by gguf-py's numpy code). Malformed
 * files are every truncation of container.gguf plus files built here
 * byte by byte, each broken in one place: each must be a YS_EINPUT naming
 * the key or tensor, never a crash (the suite runs under ASan too). */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "gguf.h"

static const char *data_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/tests/data/gguf/%s", YS_SOURCE_DIR, name);
    return buf;
}

static gguf *open_ok(const char *path)
{
    gguf *g = NULL;
    ys_error err = {0};
    int rc = gguf_open(path, &g, &err);
    if (rc)
        fail_msg("gguf_open(%s): %d %s", path, rc, err.msg);
    return g;
}

/* ---- the valid file against the generator's description ----------------- */

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

/* Compare a parsed value with its JSON description (type: a code or
 * ["array", type]; value: decimal strings for integers, hex bits for
 * floats). */
static void check_value(const gguf_value *v, const cJSON *type, const cJSON *val, const char *key)
{
    if (cJSON_IsArray(type)) {
        const cJSON *et = cJSON_GetArrayItem(type, 1);
        if (v->type != GGUF_ARRAY)
            fail_msg("%s: not an array", key);
        int n = cJSON_GetArraySize(val);
        assert_int_equal(v->n, (uint64_t)n);
        int ecode = cJSON_IsArray(et) ? GGUF_ARRAY : et->valueint;
        assert_int_equal(v->elem, ecode);
        for (int i = 0; i < n; i++) {
            const cJSON *ev = cJSON_GetArrayItem(val, i);
            if (ecode == GGUF_ARRAY) {
                check_value(&v->items[i], et, ev, key);
            } else if (ecode == GGUF_STRING) {
                assert_int_equal(v->strs[i].len, strlen(ev->valuestring));
                assert_memory_equal(v->strs[i].p, ev->valuestring, v->strs[i].len);
            } else if (ecode == GGUF_BOOL) {
                assert_int_equal(gguf_arr_int(v, (uint64_t)i) != 0, cJSON_IsTrue(ev));
            } else if (ecode == GGUF_F32 || ecode == GGUF_F64) {
                char hex[32];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)bits_of(gguf_arr_num(v, (uint64_t)i)));
                assert_string_equal(hex, ev->valuestring);
            } else {
                char s[32];
                if (ecode == GGUF_U64)
                    snprintf(s, sizeof s, "%llu", (unsigned long long)gguf_arr_int(v, (uint64_t)i));
                else
                    snprintf(s, sizeof s, "%lld", (long long)gguf_arr_int(v, (uint64_t)i));
                assert_string_equal(s, ev->valuestring);
            }
        }
        return;
    }
    int code = type->valueint;
    assert_int_equal(v->type, code);
    char s[64];
    switch (code) {
    case GGUF_STRING:
        assert_int_equal(v->str.len, strlen(val->valuestring));
        assert_memory_equal(v->str.p, val->valuestring, v->str.len);
        return;
    case GGUF_BOOL:
        assert_int_equal(v->num.u, (uint64_t)cJSON_IsTrue(val));
        return;
    case GGUF_F32: case GGUF_F64:
        snprintf(s, sizeof s, "%016llx", (unsigned long long)bits_of(v->num.f));
        break;
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
        snprintf(s, sizeof s, "%llu", (unsigned long long)v->num.u);
        break;
    default:
        snprintf(s, sizeof s, "%lld", (long long)v->num.i);
    }
    if (strcmp(s, val->valuestring))
        fail_msg("%s: got %s, want %s", key, s, val->valuestring);
}

static void test_container(void **state)
{
    (void)state;
    cJSON *exp = ts_load_json(data_path("container.json"));
    gguf *g = open_ok(data_path("container.gguf"));
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), 64);
    size_t size;
    const uint8_t *base = gguf_bytes(g, &size);
    assert_int_equal(size, (size_t)ts_num(exp, "size"));

    const cJSON *kvs = cJSON_GetObjectItem(exp, "kvs");
    assert_int_equal(gguf_kv_count(g), (size_t)cJSON_GetArraySize(kvs));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, kvs) {
        const gguf_kv *kv = gguf_kv_at(g, (size_t)i++);
        const char *key = cJSON_GetObjectItem(e, "key")->valuestring;
        assert_string_equal(kv->key, key);
        assert_ptr_equal(gguf_find(g, key), kv);
        check_value(&kv->v, cJSON_GetObjectItem(e, "type"), cJSON_GetObjectItem(e, "value"), key);
    }
    assert_null(gguf_find(g, "no.such.key"));

    const cJSON *ts = cJSON_GetObjectItem(exp, "tensors");
    size_t data_off = (size_t)ts_num(exp, "data_offset");
    assert_int_equal(gguf_tensor_count(g), (size_t)cJSON_GetArraySize(ts));
    i = 0;
    cJSON_ArrayForEach(e, ts) {
        const gguf_tensor *t = gguf_tensor_at(g, (size_t)i++);
        assert_string_equal(t->name, cJSON_GetObjectItem(e, "name")->valuestring);
        assert_ptr_equal(gguf_find_tensor(g, t->name), t);
        assert_int_equal(t->type, (int)ts_num(e, "type"));
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        assert_int_equal(t->ndim, cJSON_GetArraySize(shape));
        size_t nel = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            int64_t want = d < t->ndim ? (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble : 1;
            assert_int_equal(t->ne[d], want);
            nel *= (size_t)want;
        }
        assert_int_equal(t->nelem, nel);
        assert_int_equal(t->offset, (uint64_t)ts_num(e, "offset"));
        assert_int_equal(t->nbytes, (size_t)ts_num(e, "nbytes"));
        assert_ptr_equal(t->data, base + data_off + t->offset);
        if (t->type == GGML_F32) {
            float f;
            memcpy(&f, t->data, 4);
            assert_true(f == (float)ts_num(e, "first_f32"));
        }
    }
    assert_null(gguf_find_tensor(g, "nope"));
    gguf_close(g);
    cJSON_Delete(exp);
}

static void test_typed_reads(void **state)
{
    (void)state;
    gguf *g = open_ok(data_path("container.gguf"));
    ys_error err = {0};
    long l;
    double d;
    int b;
    char *s;
    const gguf_value *arr;
    assert_int_equal(gguf_get_int(g, "t.u32", 0, &l, &err), 0);
    assert_int_equal(l, 4000000000L);
    assert_int_equal(gguf_get_int(g, "t.i8", 0, &l, &err), 0);
    assert_int_equal(l, -100);
    assert_int_equal(gguf_get_int(g, "absent", 42, &l, &err), 1);
    assert_int_equal(l, 42);
    /* 2^63 + 5 does not fit a long */
    assert_int_equal(gguf_get_int(g, "t.u64", 0, &l, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "t.u64"));
    assert_int_equal(gguf_get_int(g, "t.f32", 0, &l, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "t.f32"));
    assert_int_equal(gguf_get_num(g, "t.f32", 0, &d, &err), 0);
    assert_true(d == (double)0.1f);
    assert_int_equal(gguf_get_num(g, "t.i16", 0, &d, &err), 0);
    assert_true(d == -32000);
    assert_int_equal(gguf_get_num(g, "t.str", 0, &d, &err), YS_EINPUT);
    assert_int_equal(gguf_get_bool(g, "t.bool", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(gguf_get_bool(g, "t.u8", 0, &b, &err), YS_EINPUT);
    assert_int_equal(gguf_get_str(g, "t.str", NULL, &s, &err), 0);
    assert_string_equal(s, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83");
    free(s);
    assert_int_equal(gguf_get_str(g, "absent", "dflt", &s, &err), 1);
    assert_string_equal(s, "dflt");
    free(s);
    assert_int_equal(gguf_get_str(g, "absent", NULL, &s, &err), 1);
    assert_null(s);
    assert_int_equal(gguf_get_str(g, "t.u8", NULL, &s, &err), YS_EINPUT);
    assert_int_equal(gguf_get_arr(g, "arr.str", GGUF_STRING, &arr, &err), 0);
    assert_int_equal(arr->n, 4);
    assert_int_equal(gguf_get_arr(g, "arr.str", GGUF_I32, &arr, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "arr.str"));
    assert_int_equal(gguf_get_arr(g, "t.u8", -1, &arr, &err), YS_EINPUT);
    assert_int_equal(gguf_get_arr(g, "arr.nested2", -1, &arr, &err), 0);
    assert_int_equal(arr->items[0].items[1].n, 2);
    assert_int_equal(((const uint8_t *)arr->items[0].items[1].data)[1], 3);
    gguf_close(g);
}

/* ---- dequantization ------------------------------------------------------- */

static void test_dequant(void **state)
{
    (void)state;
    gguf *g = open_ok(data_path("dequant.gguf"));
    static const int types[] = {GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1,
                                GGML_Q5_0, GGML_Q5_1, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const char *name = gguf_type_name(types[k]);
        char ename[64];
        snprintf(ename, sizeof ename, "%s.expected", name);
        const gguf_tensor *t = gguf_find_tensor(g, name), *e = gguf_find_tensor(g, ename);
        if (!t || !e)
            fail_msg("dequant.gguf lacks %s", name);
        assert_int_equal(t->type, types[k]);
        assert_true(gguf_dequant_supported(types[k]));
        assert_int_equal(e->nelem, t->nelem);
        size_t row = (size_t)t->ne[0], rows = t->nelem / row, block, bytes;
        assert_int_equal(gguf_type_size(types[k], &block, &bytes), 0);
        float *got = malloc(row * sizeof *got);
        const uint8_t *want = e->data;
        /* row by row, as the engine reads a matrix */
        for (size_t r = 0; r < rows; r++) {
            assert_int_equal(gguf_dequant(types[k], (const uint8_t *)t->data + r * (row / block) * bytes, row, got), 0);
            for (size_t i = 0; i < row; i++) {
                uint32_t gb, wb;
                memcpy(&gb, &got[i], 4);
                memcpy(&wb, want + 4 * (r * row + i), 4);
                if (gb != wb)
                    fail_msg("%s row %zu value %zu: got %08x (%g), want %08x", name, r, i, gb, (double)got[i], wb);
            }
        }
        free(got);
    }
    /* not a whole number of blocks; a type without a dequantization */
    float y[64];
    uint8_t blk[34] = {0};
    assert_int_equal(gguf_dequant(GGML_Q8_0, blk, 16, y), YS_EUSAGE);
    assert_int_equal(gguf_dequant(GGML_Q2_K, blk, 256, y), YS_EUSAGE);
    assert_false(gguf_dequant_supported(GGML_Q8_1));
    assert_string_equal(gguf_type_name(GGML_Q6_K), "Q6_K");
    assert_string_equal(gguf_type_name(99), "?");
    gguf_close(g);
}

/* ---- products on blocks (gemm.h, GM_GGML) ---------------------------------
 * A matrix of each type's blocks (dequant.gguf's rows, paired and repeated
 * to 70 output rows of k = 1024: three panels, the last partial, so the
 * fused decode kernels take a pair and a single panel), packed as GM_GGML:
 * F16 and BF16 must give the bits of fp32 panels holding their values;
 * the quantized types (whose function factors the block scales out,
 * gemm.h) the same bits for one row, a few and many (the routes differ:
 * fused kernels up to 8 rows; L1 sub-block tiles up to 24; whole panels
 * beyond) on every instruction set, with a bias and accumulation, within
 * fp32 rounding of the fp32 panels' product (test_gemm.c checks the
 * function itself); and row 69 read back from the interleaved units gives
 * the row's dequantized values. */
static void test_gemm_blocks(void **state)
{
    (void)state;
    gguf *g = open_ok(data_path("dequant.gguf"));
    static const int types[] = {GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
                                GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_F16, GGML_BF16};
    const size_t out = 70, ns[] = {1, 2, 5, 9, 40};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const gguf_tensor *t = gguf_find_tensor(g, gguf_type_name(types[ti]));
        assert_non_null(t);
        /* rows of two stored rows each: k = 1024, past gemm's k blocking
         * (KC_MAX), which must not take these panels for fp32 ones */
        size_t k1 = (size_t)t->ne[0], rows = t->nelem / k1, rowb1 = t->nbytes / rows, k = 2 * k1, rowb = 2 * rowb1;
        unsigned char *blocks = malloc(out * rowb);
        float *deq = malloc(out * k * sizeof *deq), *bias = malloc(out * sizeof *bias);
        for (size_t r = 0; r < out; r++) {
            memcpy(blocks + r * rowb, (const unsigned char *)t->data + (r % rows) * rowb1, rowb1);
            memcpy(blocks + r * rowb + rowb1, (const unsigned char *)t->data + ((r + 1) % rows) * rowb1, rowb1);
            assert_int_equal(gguf_dequant(types[ti], blocks + r * rowb, k, deq + r * k), 0);
            bias[r] = (float)r * 0.25f - 3.0f;
        }
        gm_weights qw, fw;
        gm_job jobs[2] = {
            {.pw = &qw, .w = blocks, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_GGML,
             .packed = GM_GGML, .ggml_type = types[ti]},
            {.pw = &fw, .w = deq, .ldw = k, .layout = KN_OUT_IN, .k = k, .out = out, .dtype = GM_F32,
             .packed = GM_F32},
        };
        assert_int_equal(gm_pack_all(NULL, jobs, 2, NULL, NULL), 0);
        assert_int_equal(qw.dtype, GM_GGML);
        assert_int_equal(qw.rowb, rowb);
        float row[1024];
        gm_weights_row(&qw, 69, row);
        assert_memory_equal(row, deq + 69 * k, k * sizeof(float));
        gm_weights_row(&qw, 33, row);
        assert_memory_equal(row, deq + 33 * k, k * sizeof(float));
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            size_t n = ns[ni];
            float *x = malloc(n * k * sizeof *x), *y1 = malloc(n * out * sizeof *y1), *y2 = malloc(n * out * sizeof *y2);
            float *y0 = malloc(n * out * sizeof *y0);
            int quant = types[ti] != GGML_F16 && types[ti] != GGML_BF16;
            for (size_t i = 0; i < n * k; i++)
                x[i] = (float)((i * 7919) % 1001) / 500.0f - 1.0f;
            for (int isa = GM_ISA_AUTO; isa <= GM_ISA_AVX512; isa++) {
                for (size_t i = 0; i < n * out; i++)
                    y1[i] = y2[i] = (float)i;
                gm_call c1 = {.x = x, .ldx = k, .w = &qw, .bias = bias, .y = y1, .ldy = out, .n = n,
                              .accumulate = 1, .isa = (gm_isa)isa};
                gm_call c2 = c1;
                c2.w = &fw, c2.y = y2;
                gm_run(NULL, &c1);
                gm_run(NULL, &c2);
                if (isa == GM_ISA_AUTO)
                    memcpy(y0, y1, n * out * sizeof *y0);
                if (!quant && memcmp(y1, y2, n * out * sizeof *y1))
                    fail_msg("%s: n %zu isa %d: GM_GGML differs from fp32 panels", gguf_type_name(types[ti]), n, isa);
                if (quant && memcmp(y1, y0, n * out * sizeof *y1))
                    fail_msg("%s: n %zu isa %d: differs from the automatic path", gguf_type_name(types[ti]), n, isa);
                /* both within fp32 rounding of the exact product: a few
                 * ulps of the sum of |x w| (and of the added terms) */
                for (size_t i = 0; quant && i < n * out; i++) {
                    double mag = fabs((double)y2[i]);
                    for (size_t kk = 0; kk < k; kk++)
                        mag += fabs((double)x[i / out * k + kk] * deq[i % out * k + kk]);
                    if (fabs((double)y1[i] - y2[i]) > 1e-5 * mag)
                        fail_msg("%s: n %zu isa %d: %.9g, fp32 panels %.9g (sum |x w| %g)", gguf_type_name(types[ti]),
                                 n, isa, (double)y1[i], (double)y2[i], mag);
                }
            }
            free(x), free(y1), free(y2), free(y0);
        }
        /* what a GM_GGML job cannot be */
        gm_weights bad;
        gm_job bj = jobs[0];
        bj.pw = &bad, bj.ldw = 2 * k;
        assert_int_equal(gm_pack_all(NULL, &bj, 1, NULL, NULL), YS_EUSAGE);
        bj.ldw = k, bj.packed = GM_F32;
        assert_int_equal(gm_pack_all(NULL, &bj, 1, NULL, NULL), YS_EUSAGE);
        gm_free(&qw);
        gm_free(&fw);
        free(blocks), free(deq), free(bias);
    }
    gguf_close(g);
}

/* ---- malformed files ------------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void expect_fail_bytes(const void *p, size_t n, int code, const char *needle, const char *needle2)
{
    const char *path = ts_path("bad.gguf");
    write_file(path, p, n);
    gguf *g = NULL;
    ys_error err = {0};
    int rc = gguf_open(path, &g, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s) [%s]", code, rc, err.msg, needle ? needle : "");
    assert_null(g);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message lacks \"%s\": %s", needle, err.msg);
    if (needle2 && !strstr(err.msg, needle2))
        fail_msg("message lacks \"%s\": %s", needle2, err.msg);
}

/* every proper prefix of a valid file is refused */
static void test_truncations(void **state)
{
    (void)state;
    size_t n;
    char *all = ts_read_file(data_path("container.gguf"), &n);
    assert_non_null(all);
    for (size_t len = 0; len < n; len++)
        expect_fail_bytes(all, len, YS_EINPUT, NULL, NULL);
    /* truncated inside the tensor data: the message names the last tensor */
    expect_fail_bytes(all, n - 1, YS_EINPUT, "w.4d", "past the end");
    expect_fail_bytes(all, 600, YS_EINPUT, "metadata key #21", "past the end");
    expect_fail_bytes(all, 30, YS_EINPUT, "metadata keys cannot fit", NULL);
    free(all);
}

/* A file built byte by byte. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }   /* the host is little-endian (gguf_open checks) */
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void header(buf *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}
static void kv_u32(buf *b, const char *k, uint32_t v) { str(b, k); u32(b, GGUF_U32); u32(b, v); }
static void tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off)
{
    str(b, name);
    u32(b, nd);
    for (uint32_t i = 0; i < nd; i++)
        u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}
static void pad_to(buf *b, size_t a)
{
    while (b->n % a)
        put(b, "", 1);
}
static void zeros(buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(b, "", 1);
}
/* 64 bytes of slack are added, so that checks of counts against the file
 * size pass and the check under test is reached */
static void done(buf *b, int code, const char *needle, const char *needle2)
{
    zeros(b, 64);
    expect_fail_bytes(b->p, b->n, code, needle, needle2);
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void test_malformed(void **state)
{
    (void)state;
    buf b = {0};
    uint64_t ne4[] = {4}, ne32[] = {32}, ne64[] = {64}, ne_bad[] = {16};

    /* a good one first: the builder is right */
    header(&b, 3, 1, 1);
    kv_u32(&b, "a", 1);
    tinfo(&b, "t", 1, ne4, GGML_F32, 0);
    pad_to(&b, 32);
    zeros(&b, 16);
    write_file(ts_path("good.gguf"), b.p, b.n);
    gguf *g = open_ok(ts_path("good.gguf"));
    assert_int_equal(gguf_tensor_at(g, 0)->nbytes, 16);
    gguf_close(g);
    free(b.p);
    memset(&b, 0, sizeof b);
    /* version 2 reads the same */
    header(&b, 2, 0, 1);
    kv_u32(&b, "a", 1);
    write_file(ts_path("v2.gguf"), b.p, b.n);
    g = open_ok(ts_path("v2.gguf"));
    assert_int_equal(gguf_version(g), 2);
    gguf_close(g);
    free(b.p);
    memset(&b, 0, sizeof b);

    put(&b, "GGUX", 4), u32(&b, 3), u64(&b, 0), u64(&b, 0);
    done(&b, YS_EINPUT, "magic", NULL);
    header(&b, 1, 0, 0);
    done(&b, YS_EINPUT, "version 1", NULL);
    header(&b, 4, 0, 0);
    done(&b, YS_EINPUT, "version 4", NULL);
    /* huge counts in a small file: refused before any allocation */
    header(&b, 3, 0, UINT64_MAX);
    done(&b, YS_EINPUT, "metadata keys", NULL);
    header(&b, 3, 1ull << 60, 0);
    done(&b, YS_EINPUT, "tensors cannot fit", NULL);
    /* a key string longer than the file */
    header(&b, 3, 0, 1);
    u64(&b, 1ull << 62);
    zeros(&b, 64);
    done(&b, YS_EINPUT, "metadata key #0", "past the end");
    /* a string value longer than the file */
    header(&b, 3, 0, 1);
    str(&b, "s"), u32(&b, GGUF_STRING), u64(&b, UINT64_MAX);
    done(&b, YS_EINPUT, "key \"s\"", "past the end");
    /* an array count no file could hold */
    header(&b, 3, 0, 1);
    str(&b, "arr"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_U64), u64(&b, 1ull << 61);
    done(&b, YS_EINPUT, "key \"arr\"", "cannot fit");
    header(&b, 3, 0, 1);
    str(&b, "arr"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_STRING), u64(&b, 1000);
    done(&b, YS_EINPUT, "key \"arr\"", "cannot fit");
    /* unknown value and element types */
    header(&b, 3, 0, 1);
    str(&b, "x"), u32(&b, 13), u32(&b, 0);
    done(&b, YS_EINPUT, "key \"x\"", "unknown value type 13");
    header(&b, 3, 0, 1);
    str(&b, "x"), u32(&b, GGUF_ARRAY), u32(&b, 77), u64(&b, 0);
    done(&b, YS_EINPUT, "key \"x\"", "element type 77");
    /* arrays nested too deep (and an array of arrays truncated inside) */
    header(&b, 3, 0, 1);
    str(&b, "deep"), u32(&b, GGUF_ARRAY);
    for (int i = 0; i < GGUF_MAX_DEPTH + 1; i++)
        u32(&b, GGUF_ARRAY), u64(&b, 1);
    u32(&b, GGUF_U8), u64(&b, 0);
    zeros(&b, 64);
    done(&b, YS_EINPUT, "key \"deep\"", "nested");
    /* duplicate, empty and NUL-holding keys */
    header(&b, 3, 0, 2);
    kv_u32(&b, "k", 1), kv_u32(&b, "k", 2);
    done(&b, YS_EINPUT, "key \"k\" appears twice", NULL);
    header(&b, 3, 0, 1);
    kv_u32(&b, "", 1);
    done(&b, YS_EINPUT, "metadata key #0", "empty");
    header(&b, 3, 0, 1);
    u64(&b, 3), put(&b, "a\0b", 3), u32(&b, GGUF_U32), u32(&b, 1);
    done(&b, YS_EINPUT, "NUL", NULL);
    /* general.alignment: not a power of two, zero, wrong type */
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 3);
    done(&b, YS_EINPUT, "general.alignment", NULL);
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    done(&b, YS_EINPUT, "general.alignment", NULL);
    header(&b, 3, 0, 1);
    str(&b, "general.alignment"), u32(&b, GGUF_U64), u64(&b, 32);
    done(&b, YS_EINPUT, "general.alignment", NULL);
    /* tensor infos */
    header(&b, 3, 1, 0);
    tinfo(&b, "t0", 0, ne4, GGML_F32, 0);
    done(&b, YS_EINPUT, "tensor \"t0\"", "0 dimensions");
    header(&b, 3, 1, 0);
    {
        uint64_t ne5[] = {1, 1, 1, 1, 1};
        tinfo(&b, "t5", 5, ne5, GGML_F32, 0);
    }
    done(&b, YS_EINPUT, "tensor \"t5\"", "5 dimensions");
    header(&b, 3, 1, 0);
    tinfo(&b, "tq", 1, ne4, 99, 0);
    done(&b, YS_EINPUT, "tensor \"tq\"", "unknown tensor type 99");
    header(&b, 3, 1, 0);
    tinfo(&b, "tb", 1, ne_bad, GGML_Q4_0, 0);
    pad_to(&b, 32), zeros(&b, 64);
    done(&b, YS_EINPUT, "tensor \"tb\"", "blocks of 32");
    header(&b, 3, 1, 0);
    {
        uint64_t big[] = {1ull << 32, 1ull << 32};
        tinfo(&b, "tbig", 2, big, GGML_F32, 0);
    }
    done(&b, YS_EINPUT, "tensor \"tbig\"", "overflow");
    header(&b, 3, 1, 0);
    {
        uint64_t huge[] = {1ull << 62};
        tinfo(&b, "thuge", 1, huge, GGML_F32, 0);
    }
    pad_to(&b, 32), zeros(&b, 64);
    done(&b, YS_EINPUT, "tensor \"thuge\"", NULL);
    header(&b, 3, 1, 0);
    tinfo(&b, "tu", 1, ne4, GGML_F32, 8);
    pad_to(&b, 32), zeros(&b, 64);
    done(&b, YS_EINPUT, "tensor \"tu\"", "not a multiple of the alignment");
    header(&b, 3, 1, 0);
    tinfo(&b, "tp", 1, ne64, GGML_F32, 0);
    pad_to(&b, 32), zeros(&b, 100);
    done(&b, YS_EINPUT, "tensor \"tp\"", "past the end");
    header(&b, 3, 1, 0);
    tinfo(&b, "toff", 1, ne4, GGML_F32, UINT64_MAX - 31);
    pad_to(&b, 32), zeros(&b, 64);
    done(&b, YS_EINPUT, "tensor \"toff\"", "past the end");
    header(&b, 3, 2, 0);
    tinfo(&b, "dup", 1, ne4, GGML_F32, 0);
    tinfo(&b, "dup", 1, ne4, GGML_F32, 32);
    pad_to(&b, 32), zeros(&b, 64);
    done(&b, YS_EINPUT, "tensor \"dup\" appears twice", NULL);
    header(&b, 3, 2, 0);
    tinfo(&b, "a", 1, ne32, GGML_F32, 0);
    tinfo(&b, "b", 1, ne4, GGML_F32, 64);
    pad_to(&b, 32), zeros(&b, 128);
    done(&b, YS_EINPUT, "overlap", NULL);
    /* not a regular file / too short */
    expect_fail_bytes("GGUF", 4, YS_EINPUT, "24-byte", NULL);
    gguf *none = NULL;
    ys_error err = {0};
    assert_int_equal(gguf_open(ts_scratch(), &none, &err), YS_EINPUT);
    assert_int_equal(gguf_open(ts_path("missing.gguf"), &none, &err), YS_EIO);
    assert_null(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container),
        cmocka_unit_test(test_typed_reads),
        cmocka_unit_test(test_dequant),
        cmocka_unit_test(test_gemm_blocks),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
