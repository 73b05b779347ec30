#include "exact_match.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "ys_unicode.h"

struct em_matcher {
    em_options opt;
    pcre2_code **re;
    size_t nre;
};

em_matcher *em_create(const em_options *o, ys_error *err)
{
    em_matcher *m = calloc(1, sizeof *m);
    if (!m) {
        ys_fail(err, YS_ENOMEM, "out of memory");
        return NULL;
    }
    m->opt = *o;
    m->re = calloc(o->nregexes ? o->nregexes : 1, sizeof *m->re);
    if (!m->re) {
        free(m);
        ys_fail(err, YS_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < o->nregexes; i++) {
        int code;
        PCRE2_SIZE off;
        m->re[i] = pcre2_compile((PCRE2_SPTR)o->regexes_to_ignore[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
        m->nre = i + 1;
        if (!m->re[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof msg);
            ys_fail(err, YS_EUSAGE, "regex to ignore '%s': %s at offset %zu", o->regexes_to_ignore[i],
                    (char *)msg, (size_t)off);
            em_free(m);
            return NULL;
        }
    }
    return m;
}

void em_free(em_matcher *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nre; i++)
        pcre2_code_free(m->re[i]);
    free(m->re);
    free(m);
}

/* Remove every match of re from s (re.sub(pattern, "", s)); s is replaced. */
static int strip_regex(const pcre2_code *re, char **s)
{
    size_t cap = strlen(*s) + 1;
    char *out = malloc(cap);
    if (!out)
        return -1;
    for (;;) {
        PCRE2_SIZE len = cap;
        int rc = pcre2_substitute(re, (PCRE2_SPTR)*s, PCRE2_ZERO_TERMINATED, 0,
                                  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL, NULL,
                                  (PCRE2_SPTR) "", 0, (PCRE2_UCHAR *)out, &len);
        if (rc == PCRE2_ERROR_NOMEMORY) {
            char *nb = realloc(out, cap = len + 1);
            if (!nb) {
                free(out);
                return -1;
            }
            out = nb;
            continue;
        }
        if (rc < 0) {
            free(out);
            return -1;
        }
        break;
    }
    free(*s);
    *s = out;
    return 0;
}

static char *transform(const em_matcher *m, const char *text)
{
    char *s = strdup(text);
    for (size_t i = 0; s && i < m->nre; i++)
        if (strip_regex(m->re[i], &s) < 0) {
            free(s);
            return NULL;
        }
    if (s && m->opt.ignore_case) {
        char *low = uni_lower_utf8(s, strlen(s), NULL);
        free(s);
        s = low;
    }
    if (s && (m->opt.ignore_punctuation || m->opt.ignore_numbers)) {
        size_t k = 0;
        for (size_t i = 0; s[i]; i++) {
            unsigned char c = (unsigned char)s[i];
            int punct = c < 128 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c);
            int digit = c >= '0' && c <= '9';
            if ((m->opt.ignore_punctuation && punct) || (m->opt.ignore_numbers && digit))
                continue;
            s[k++] = s[i];
        }
        s[k] = 0;
    }
    return s;
}

int em_sample(const em_matcher *m, const char *prediction, const char *const *refs, size_t nrefs,
              double *out, ys_error *err)
{
    *out = 0.0;
    char *p = transform(m, prediction);
    if (!p)
        return ys_fail(err, YS_ENOMEM, "out of memory in exact match");
    for (size_t r = 0; r < nrefs && *out == 0.0; r++) {
        char *q = transform(m, refs[r]);
        if (!q) {
            free(p);
            return ys_fail(err, YS_ENOMEM, "out of memory in exact match");
        }
        *out = strcmp(p, q) == 0;
        free(q);
    }
    free(p);
    return 0;
}
