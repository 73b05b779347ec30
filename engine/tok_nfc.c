/* tok_nfc.c — Unicode NFC (canonical decomposition, canonical ordering,
 * canonical composition, Hangul done algorithmically) over ys_unicode's
 * normalization data of Unicode 9.0, not the latest: HF tokenizers
 * normalizes with 9.0 data (unicode-normalization-alignments 0.1.12), so a
 * later mark must stay a starter. Text made only of code points that NFC
 * never touches is recognised quickly and copied unchanged. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define SBASE 0xAC00u
#define LBASE 0x1100u
#define VBASE 0x1161u
#define TBASE 0x11A7u
#define LCOUNT 19u
#define VCOUNT 21u
#define TCOUNT 28u
#define NCOUNT (VCOUNT * TCOUNT)
#define SCOUNT (LCOUNT * NCOUNT)

static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    return uni_compose9(a, b);
}

bool tok_nfc_may_change(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0xCC) { i += u[i] < 0x80 ? 1 : 2; continue; } /* below U+0300 */
        uint32_t c;
        i += uni_decode_valid(s + i, &c);
        if (uni_nfc9_maybe(c)) return true;
    }
    return false;
}

/* NFD, then (when compose) canonical composition: NFC */
static int normal_form(tok_buf *out, const char *s, size_t n, bool compose_too)
{
    /* decompose: at most 4 code points per input code point (Hangul 3,
     * tables up to 4); the input has at most n code points */
    uint32_t *cp = malloc((4 * n + 1) * sizeof *cp);
    if (!cp) return YS_ENOMEM;
    size_t m = 0, i = 0;
    while (i < n) {
        uint32_t c;
        i += uni_decode_valid(s + i, &c);
        if (c >= SBASE && c < SBASE + SCOUNT) {
            uint32_t si = c - SBASE;
            cp[m++] = LBASE + si / NCOUNT;
            cp[m++] = VBASE + (si % NCOUNT) / TCOUNT;
            if (si % TCOUNT) cp[m++] = TBASE + si % TCOUNT;
            continue;
        }
        size_t dn;
        const uint32_t *d = uni_decomposition9(c, &dn);
        if (d) {
            for (size_t k = 0; k < dn; k++) cp[m++] = d[k];
        } else {
            cp[m++] = c;
        }
    }
    /* canonical ordering: stable insertion sort inside runs of non-starters */
    for (size_t k = 1; k < m; k++) {
        int ck = uni_ccc9(cp[k]);
        if (!ck) continue;
        size_t j = k;
        uint32_t x = cp[k];
        while (j > 0) {
            int cj = uni_ccc9(cp[j - 1]);
            if (cj <= ck) break;
            cp[j] = cp[j - 1];
            j--;
        }
        cp[j] = x;
    }
    /* canonical composition */
    size_t w = m;
    if (m && compose_too) {
        size_t starter = 0;
        int last = uni_ccc9(cp[0]) ? 256 : 0;
        bool have_starter = uni_ccc9(cp[0]) == 0;
        w = 1;
        for (size_t k = 1; k < m; k++) {
            uint32_t c = cp[k];
            int cc = uni_ccc9(c);
            uint32_t comp = have_starter ? compose(cp[starter], c) : 0;
            if (comp && (last < cc || last == 0)) {
                cp[starter] = comp;
                continue;
            }
            if (cc == 0) { starter = w; have_starter = true; }
            last = cc;
            cp[w++] = c;
        }
    }
    int rc = tok_buf_reserve(out, 4 * w);
    if (!rc) {
        for (size_t k = 0; k < w; k++) out->n += uni_encode(cp[k], out->p + out->n);
        out->p[out->n] = 0;
    }
    free(cp);
    return rc;
}

int tok_nfc_append(tok_buf *out, const char *s, size_t n)
{
    if (!tok_nfc_may_change(s, n)) return tok_buf_put(out, s, n);
    return normal_form(out, s, n, true);
}

int tok_nfd_append(tok_buf *out, const char *s, size_t n)
{
    /* nothing below U+00C0 decomposes or has a combining class */
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xC3) i++;
    if (i == n) return tok_buf_put(out, s, n);
    return normal_form(out, s, n, false);
}
