#include "lmeval_filter.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ys_unicode.h"

/* one findall item: the byte span of the text it keeps, or none */
typedef struct {
    size_t a, b;
    int ok;
} item;

static char *stripped(const char *s, size_t a, size_t b)
{
    while (a < b) {
        uint32_t cp;
        size_t k = uni_decode(s + a, b - a, &cp);
        if (!k || !uni_is_space(cp))
            break;
        a += k;
    }
    while (b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80)
            st--;
        uint32_t cp;
        size_t k = uni_decode(s + st, b - st, &cp);
        if (!k || !uni_is_space(cp))
            break;
        b = st;
    }
    return strndup(s + a, b - a);
}

int lmf_regex(const char *pattern, int group_select, const char *fallback, const char *text, char **out,
              ys_error *err)
{
    *out = NULL;
    int code;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &eoff,
                                   NULL);
    if (!re)
        return ys_fail(err, YS_EINPUT, "regex filter: pattern '%s' does not compile", pattern);
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t len = strlen(text), cap = 16, n = 0, pos = 0;
    item *items = malloc(cap * sizeof *items);
    int rc = md && items ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    while (rc == 0 && pos <= len) {
        int m = pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (m < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        item it = {ov[0], ov[1], 1};
        if (ngroups >= 1) {
            /* one group: that group ("" when it did not take part);
             * several: the first non-empty one */
            it.ok = 0, it.a = it.b = 0;
            for (uint32_t g = 1; g <= ngroups; g++) {
                bool set = (int)g < m && ov[2 * g] != PCRE2_UNSET;
                if (ngroups == 1) {
                    it.ok = 1;
                    if (set)
                        it.a = ov[2 * g], it.b = ov[2 * g + 1];
                    break;
                }
                if (set && ov[2 * g + 1] > ov[2 * g]) {
                    it.ok = 1, it.a = ov[2 * g], it.b = ov[2 * g + 1];
                    break;
                }
            }
        }
        if (n == cap) {
            item *p = realloc(items, (cap *= 2) * sizeof *p);
            if (!p) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
            items = p;
        }
        items[n++] = it;
        if (ov[1] > ov[0]) {
            pos = ov[1];
        } else {
            /* empty match: on by one character */
            pos = ov[1] + 1;
            while (pos < len && ((unsigned char)text[pos] & 0xC0) == 0x80)
                pos++;
        }
    }
    if (rc == 0) {
        long idx = group_select < 0 ? (long)n + group_select : group_select;
        if (n == 0 || idx < 0 || idx >= (long)n || !items[idx].ok)
            *out = strdup(fallback);
        else
            *out = stripped(text, items[idx].a, items[idx].b);
        if (!*out)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    }
    free(items);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}
