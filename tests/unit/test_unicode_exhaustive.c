/* test_unicode_exhaustive.c — every Unicode answer the metrics and the
 * tokenizers get, for every code point 0..0x10FFFF, folded into one digest
 * per property and compared with digests recorded from the implementation
 * before the two Unicode modules became one (metrics/ys_unicode.c with
 * Python 3.11's answers, engine/tok_unicode.c and tok_nfc.c with HF
 * tokenizers' Unicode 8.0 / 9.0 / 15.0 ones). A digest that changes means a
 * metric or a tokenizer would answer differently for some code point: the
 * message names the property; print_message shows the new value.
 *
 * Properties the old code kept private (the grapheme break class, the
 * combining class, composition, the final-sigma context) are recorded by
 * their effect, through probes: the cluster lengths of the code point next
 * to one representative of every break class, the canonical order of the
 * code point after marks of several combining classes, NFC/NFD of the code
 * point alone, Python's lower() of "cΣ" and "AcΣ".
 *
 * UTF-8: every buffer of 1 to 3 bytes, and 4-byte buffers with every lead
 * byte from 0xF0 and the boundary continuation values, through decoding,
 * validation offsets, lossy conversion and re-encoding.
 *
 * The PROBE_* lines below are the only place that names the functions: the
 * digests were recorded with the old ones (the tokenizers' classes were
 * tok_uc_in over tok_uc_other/tok_uc_mn/tok_uc_mark, white space
 * tok_is_rust_whitespace, UTF-8 tok_utf8_valid_at/invalid_at/dec/enc,
 * clusters tok_grapheme_len); since the merge both sides call ys_unicode. */
#include "testsupport.h"
#include "tok_internal.h"
#include "ys_unicode.h"

#include <stdio.h>
#include <string.h>

/* ---- the functions under test ------------------------------------------ */
#define PROBE_PY_SPACE(c) (uni_is_space(c) != 0)
#define PROBE_PY_WORD(c) (uni_is_word(c) != 0)
#define PROBE_PY_N(c) (uni_is_n(c) != 0)
#define PROBE_PY_P(c) (uni_is_p(c) != 0)
#define PROBE_PY_S(c) (uni_is_s(c) != 0)
#define PROBE_PY_ASCII_SPACE(b) (uni_ascii_space(b) != 0)
#define PROBE_PY_ASCII_WORD(b) (uni_ascii_word(b) != 0)
#define PROBE_PY_LOWER(c, out) uni_lower(c, out)
#define PROBE_PY_LOWER_UTF8(s, n, buf, cap) uni_lower_utf8_into(s, n, buf, cap)
#define PROBE_TOK_PUNCT(c) tok_is_bert_punct(c)
#define PROBE_TOK_OTHER(c) is_any3(uni_category(c, UNI_V8_0), UNI_CC, UNI_CF, UNI_CO)
#define PROBE_TOK_MN(c) (uni_category(c, UNI_V8_0) == UNI_MN)
#define PROBE_TOK_MARK(c) tok_is_mark(c)
#define PROBE_TOK_WS(c) uni_is_white_space(c)
#define PROBE_DEC(s, n, cp) uni_decode(s, n, cp)
#define PROBE_ENC(c, out) uni_encode(c, out)
#define PROBE_INVALID_AT(s, n) uni_invalid_at(s, n)
#define PROBE_TOK_VALID_AT(s, n) uni_decode((const char *)(s), n, &(uint32_t){0})
#define PROBE_TOK_INVALID_AT(s, n) uni_invalid_at(s, n)
#define PROBE_TOK_DEC(s, cp) uni_decode_valid((const char *)(s), cp)
#define PROBE_TOK_ENC(c, out) uni_encode(c, out)
#define PROBE_TOK_LOSSY(b, s, n) tok_utf8_lossy(b, s, n)
static bool is_any3(int g, int a, int b, int c) { return g == a || g == b || g == c; }
/* ------------------------------------------------------------------------- */

#define MAXCP 0x110000u

/* FNV-1a, 64 bits: order-sensitive, so a moved answer changes it too */
typedef struct { uint64_t h; } dig;
static void d_init(dig *d) { d->h = 0xcbf29ce484222325ull; }
static void d_bytes(dig *d, const void *p, size_t n)
{
    const unsigned char *u = p;
    for (size_t i = 0; i < n; i++) {
        d->h ^= u[i];
        d->h *= 0x100000001b3ull;
    }
}
static void d_u32(dig *d, uint32_t x) { d_bytes(d, &x, sizeof x); }
static void d_sz(dig *d, size_t x) { d_u32(d, (uint32_t)x); }

static int check(const char *name, const dig *d, uint64_t want)
{
    print_message("%-22s 0x%016llxull\n", name, (unsigned long long)d->h);
    if (d->h != want) {
        print_error("%s: digest 0x%016llx, recorded 0x%016llx\n", name, (unsigned long long)d->h,
                    (unsigned long long)want);
        return 1;
    }
    return 0;
}

static bool surrogate(uint32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

static void test_python_classes(void **state)
{
    (void)state;
    dig sp, wd, n, p, s, asc, low;
    d_init(&sp), d_init(&wd), d_init(&n), d_init(&p), d_init(&s), d_init(&asc), d_init(&low);
    for (uint32_t c = 0; c < MAXCP; c++) {
        d_u32(&sp, PROBE_PY_SPACE(c));
        d_u32(&wd, PROBE_PY_WORD(c));
        d_u32(&n, PROBE_PY_N(c));
        d_u32(&p, PROBE_PY_P(c));
        d_u32(&s, PROBE_PY_S(c));
        uint32_t out[3] = {0, 0, 0};
        int m = PROBE_PY_LOWER(c, out);
        d_u32(&low, (uint32_t)m);
        for (int k = 0; k < m; k++) d_u32(&low, out[k]);
    }
    for (unsigned b = 0; b < 128; b++) {
        d_u32(&asc, PROBE_PY_ASCII_SPACE((unsigned char)b));
        d_u32(&asc, PROBE_PY_ASCII_WORD((unsigned char)b));
    }
    int bad = check("py isspace", &sp, 0x8fed7eb891e831e4ull) + check("py \\w", &wd, 0x645dad5cb70b94a5ull) +
              check("regex \\p{N}", &n, 0xdefdeceace0d4674ull) + check("regex \\p{P}", &p, 0x6eac03f63ccf92f5ull) +
              check("regex \\p{S}", &s, 0x030685b9d1dd8f15ull) + check("py ascii flags", &asc, 0x0bb0f709094a7994ull) +
              check("py lower", &low, 0x092b1df76b7d324bull);
    assert_int_equal(bad, 0);
}

/* str.lower() of whole strings: the code point alone, then the final-sigma
 * context probes (cased? case-ignorable?), and invalid bytes copied */
static void test_python_lower_strings(void **state)
{
    (void)state;
    dig alone, sig;
    d_init(&alone), d_init(&sig);
    char *buf = NULL;
    size_t cap = 0;
    for (uint32_t c = 0; c < MAXCP; c++) {
        if (surrogate(c)) continue;
        char in[16];
        size_t k = PROBE_ENC(c, in);
        size_t m = PROBE_PY_LOWER_UTF8(in, k, &buf, &cap);
        assert_true(m != (size_t)-1);
        d_sz(&alone, m);
        d_bytes(&alone, buf, m);
        /* "cΣ": final sigma iff c is cased and not case-ignorable */
        memcpy(in + k, "\xCE\xA3", 2);
        m = PROBE_PY_LOWER_UTF8(in, k + 2, &buf, &cap);
        d_bytes(&sig, buf + m - 2, 2);
        /* "AcΣ": final sigma iff c is case-ignorable or cased */
        in[0] = 'A';
        k = 1 + PROBE_ENC(c, in + 1);
        memcpy(in + k, "\xCE\xA3", 2);
        m = PROBE_PY_LOWER_UTF8(in, k + 2, &buf, &cap);
        d_bytes(&sig, buf + m - 2, 2);
        /* "AΣc": not final iff c is cased (after skipping ignorables) */
        memcpy(in + 1, "\xCE\xA3", 2);
        k = 3 + PROBE_ENC(c, in + 3);
        m = PROBE_PY_LOWER_UTF8(in, k, &buf, &cap);
        d_bytes(&sig, buf + 1, 2);
    }
    for (unsigned b = 0x80; b < 0x100; b++) {
        char in[3] = {'A', (char)b, 'B'};
        size_t m = PROBE_PY_LOWER_UTF8(in, 3, &buf, &cap);
        d_sz(&alone, m);
        d_bytes(&alone, buf, m);
    }
    free(buf);
    int bad = check("py lower utf8", &alone, 0x853a542fe054188eull) + check("py final sigma", &sig, 0x766c345b55ad58caull);
    assert_int_equal(bad, 0);
}

static void test_tokenizer_classes(void **state)
{
    (void)state;
    dig pu, ot, mn, mk, ws, low;
    d_init(&pu), d_init(&ot), d_init(&mn), d_init(&mk), d_init(&ws), d_init(&low);
    tok_bert_norm lc = {false, false, false, true};
    tok_buf out = {0};
    for (uint32_t c = 0; c < MAXCP; c++) {
        d_u32(&pu, PROBE_TOK_PUNCT(c));
        d_u32(&ot, PROBE_TOK_OTHER(c));
        d_u32(&mn, PROBE_TOK_MN(c));
        d_u32(&mk, PROBE_TOK_MARK(c));
        d_u32(&ws, PROBE_TOK_WS(c));
        if (surrogate(c)) continue;
        char in[4];
        size_t k = PROBE_TOK_ENC(c, in);
        assert_int_equal(tok_bert_normalize(&lc, in, k, &out), 0);
        d_sz(&low, out.n);
        d_bytes(&low, out.p, out.n);
    }
    tok_buf_free(&out);
    int bad = check("bert punct", &pu, 0xd5707377f5191575ull) + check("bert other", &ot, 0xaa390746d06bf604ull) +
              check("bert Mn", &mn, 0xd139a55eb3211e04ull) + check("strip-accents marks", &mk, 0xac53326f8c253134ull) +
              check("rust whitespace", &ws, 0xf17d63d0031204c4ull) + check("rust lowercase", &low, 0x191c92970111fd8eull);
    assert_int_equal(bad, 0);
}

/* One code point of every grapheme break class (and Extended_Pictographic) */
static const uint32_t gcb_probe[] = {'a', '\r', '\n', 0x01, 0x0300, 0x200D, 0x1F1E6, 0x0600,
                                     0x0903, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x1F600};

static void test_graphemes(void **state)
{
    (void)state;
    dig g;
    d_init(&g);
    size_t np = sizeof gcb_probe / sizeof gcb_probe[0];
    for (uint32_t c = 0; c < MAXCP; c++) {
        if (surrogate(c)) continue;
        for (size_t q = 0; q < np; q++) {
            char s[16];
            size_t a = PROBE_TOK_ENC(c, s);
            size_t n = a + PROBE_TOK_ENC(gcb_probe[q], s + a);
            d_sz(&g, uni_grapheme_len(s, n, 0)); /* c then probe */
            size_t b = PROBE_TOK_ENC(gcb_probe[q], s);
            n = b + PROBE_TOK_ENC(c, s + b);
            d_sz(&g, uni_grapheme_len(s, n, 0)); /* probe then c */
        }
        /* GB11: Extended_Pictographic ZWJ c; GB12: RI RI c */
        char s[16];
        size_t n = PROBE_TOK_ENC(0x1F600, s);
        n += PROBE_TOK_ENC(0x200D, s + n);
        n += PROBE_TOK_ENC(c, s + n);
        d_sz(&g, uni_grapheme_len(s, n, 0));
        n = PROBE_TOK_ENC(0x1F1E6, s);
        n += PROBE_TOK_ENC(0x1F1E6, s + n);
        n += PROBE_TOK_ENC(c, s + n);
        d_sz(&g, uni_grapheme_len(s, n, 0));
    }
    assert_int_equal(check("grapheme clusters", &g, 0x8df1bbeb31a510a8ull), 0);
}

/* Marks of combining classes 1, 7, 9, 10, 19, 202, 220, 230, 232, 240 (last:
 * the one probe for every code point): whether c moves before each tells
 * its class up to these boundaries */
static const uint32_t ccc_probe[] = {0x0334, 0x093C, 0x094D, 0x05B0, 0x05B9, 0x0327, 0x0316, 0x0301, 0x0315, 0x0345};

static void test_normalization(void **state)
{
    (void)state;
    dig mc, nfc, nfd, ord;
    d_init(&mc), d_init(&nfc), d_init(&nfd), d_init(&ord);
    tok_buf out = {0};
    for (uint32_t c = 0; c < MAXCP; c++) {
        if (surrogate(c)) continue;
        char s[16];
        size_t k = PROBE_TOK_ENC(c, s);
        d_u32(&mc, tok_nfc_may_change(s, k));
        out.n = 0;
        assert_int_equal(tok_nfc_append(&out, s, k), 0);
        d_sz(&nfc, out.n);
        d_bytes(&nfc, out.p, out.n);
        out.n = 0;
        assert_int_equal(tok_nfd_append(&out, s, k), 0);
        d_sz(&nfd, out.n);
        d_bytes(&nfd, out.p, out.n);
        /* only code points from U+0300 can have a combining class; one
         * probe (class 240, the highest but for U+0345 itself) tells zero
         * from non-zero for all, the ten the class of those NFC may touch */
        if (c < 0x300) continue;
        size_t nprobe = tok_nfc_may_change(s, k) ? sizeof ccc_probe / sizeof ccc_probe[0] : 1;
        for (size_t q = sizeof ccc_probe / sizeof ccc_probe[0] - nprobe; q < sizeof ccc_probe / sizeof ccc_probe[0]; q++) {
            size_t n = PROBE_TOK_ENC(ccc_probe[q], s);
            n += PROBE_TOK_ENC(c, s + n);
            out.n = 0;
            assert_int_equal(tok_nfd_append(&out, s, n), 0);
            d_sz(&ord, out.n);
            d_bytes(&ord, out.p, out.n);
        }
    }
    tok_buf_free(&out);
    int bad = check("nfc may change", &mc, 0xcd0d1c87cdbed874ull) + check("nfc", &nfc, 0x66fb474f6198749full) +
              check("nfd", &nfd, 0xc990203aa75d0050ull) + check("canonical order", &ord, 0xd984c3b4ae0d21f9ull);
    assert_int_equal(bad, 0);
}

/* All UTF-8 functions on one buffer */
static void utf8_case(dig *d, tok_buf *lossy, const unsigned char *s, size_t n)
{
    uint32_t cp = 0xFFFFFFFFu;
    size_t k = PROBE_DEC((const char *)s, n, &cp);
    d_sz(d, k);
    d_u32(d, k ? cp : 0);
    size_t v = PROBE_TOK_VALID_AT(s, n);
    d_sz(d, v);
    d_sz(d, PROBE_INVALID_AT((const char *)s, n));
    d_sz(d, PROBE_TOK_INVALID_AT((const char *)s, n));
    if (v) {
        uint32_t c2;
        d_sz(d, PROBE_TOK_DEC(s, &c2));
        d_u32(d, c2);
        char e[4];
        size_t m = PROBE_ENC(c2, e);
        d_bytes(d, e, m);
        m = PROBE_TOK_ENC(c2, e);
        d_bytes(d, e, m);
    }
    lossy->n = 0;
    assert_int_equal(PROBE_TOK_LOSSY(lossy, s, n), 0);
    d_sz(d, lossy->n);
    d_bytes(d, lossy->p, lossy->n);
}

static void test_utf8(void **state)
{
    (void)state;
    dig d;
    d_init(&d);
    tok_buf lossy = {0};
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        utf8_case(&d, &lossy, s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            utf8_case(&d, &lossy, s, 2);
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                utf8_case(&d, &lossy, s, 3);
            }
        }
    }
    static const unsigned char edge[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    for (unsigned a = 0xF0; a < 0x100; a++)
        for (size_t b = 0; b < sizeof edge; b++)
            for (size_t c = 0; c < sizeof edge; c++)
                for (size_t e = 0; e < sizeof edge; e++) {
                    s[0] = (unsigned char)a, s[1] = edge[b], s[2] = edge[c], s[3] = edge[e];
                    utf8_case(&d, &lossy, s, 4);
                }
    /* every encodable value through both encoders */
    for (uint32_t c = 0; c < MAXCP; c++) {
        char e[4];
        size_t m = PROBE_ENC(c, e);
        d_bytes(&d, e, m);
        m = PROBE_TOK_ENC(c, e);
        d_bytes(&d, e, m);
    }
    tok_buf_free(&lossy);
    assert_int_equal(check("utf-8", &d, 0xdff163a6e7359b45ull), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_classes),   cmocka_unit_test(test_python_lower_strings),
        cmocka_unit_test(test_tokenizer_classes), cmocka_unit_test(test_graphemes),
        cmocka_unit_test(test_normalization),    cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
