/* porter.c — NLTK's Porter stemmer (NLTK_EXTENSIONS mode), see porter.h.
 *
 * The word is decoded into an array of code points because NLTK measures
 * lengths and compares letters per code point; every suffix the algorithm
 * knows is ASCII, so non-ASCII letters simply behave as consonants. All the
 * rules only ever rewrite the end of the word and never make it longer than
 * the input, so the steps edit one buffer in place (`w`, length `*n`).
 */
#include "porter.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ys_unicode.h"

/* A byte that is not valid UTF-8 is kept as one unit tagged with this bit,
 * so it can be written back unchanged. */
#define RAW_BYTE 0x80000000u
#define STACK_UNITS 64

static bool is_vowel(uint32_t c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* Porter's consonant test: 'y' is a consonant at the start of a word or
 * after a vowel, so along a run of y's the answer alternates. */
static bool is_cons(const uint32_t *w, size_t i)
{
    size_t j = i;
    while (j > 0 && w[j] == 'y')
        j--;
    bool cons = w[j] == 'y' ? true : !is_vowel(w[j]);
    return ((i - j) % 2) ? !cons : cons;
}

/* m in [C](VC){m}[V]: the number of vowel-to-consonant transitions. */
static int measure(const uint32_t *w, size_t n)
{
    int m = 0;
    bool prev_cons = true;
    for (size_t i = 0; i < n; i++) {
        bool c;
        if (is_vowel(w[i]))
            c = false;
        else if (w[i] == 'y')
            c = i == 0 ? true : !prev_cons;
        else
            c = true;
        if (i > 0 && !prev_cons && c)
            m++;
        prev_cons = c;
    }
    return m;
}

static bool has_vowel(const uint32_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_cons(w, i))
            return true;
    return false;
}

static bool ends_double_cons(const uint32_t *w, size_t n)
{
    return n >= 2 && w[n - 1] == w[n - 2] && is_cons(w, n - 1);
}

/* Condition *o, plus NLTK's extension that a two-letter vowel-consonant
 * stem also counts. */
static bool ends_cvc(const uint32_t *w, size_t n)
{
    if (n >= 3 && is_cons(w, n - 3) && !is_cons(w, n - 2) && is_cons(w, n - 1) &&
        w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y')
        return true;
    return n == 2 && !is_cons(w, 0) && is_cons(w, 1);
}

static bool ends_with_n(const uint32_t *w, size_t n, const char *suf, size_t k)
{
    if (k > n)
        return false;
    for (size_t i = k; i-- > 0;) /* from the end: most words fail at once */
        if (w[n - k + i] != (unsigned char)suf[i])
            return false;
    return true;
}

static bool ends_with(const uint32_t *w, size_t n, const char *suf)
{
    return ends_with_n(w, n, suf, strlen(suf));
}

/* Replace the last `drop` units with the ASCII string `rep`. */
static void replace_tail(uint32_t *w, size_t *n, size_t drop, const char *rep)
{
    *n -= drop;
    for (; *rep; rep++)
        w[(*n)++] = (unsigned char)*rep;
}

typedef enum { C_NONE, C_M_GT0, C_M_GT1, C_ION, C_LOGI } cond_kind;

typedef struct {
    const char *suffix, *rep;
    size_t suffix_len;
    cond_kind cond;
} rule;

/* A rule with its suffix length computed at compile time. */
#define RULE(suf, rep, cond) {suf, rep, sizeof(suf) - 1, cond}

/* Does the condition hold for the stem w[0..stem_n) of the word w[0..n)? */
static bool cond_holds(cond_kind c, const uint32_t *w, size_t stem_n, size_t n)
{
    switch (c) {
    case C_NONE:
        return true;
    case C_M_GT0:
        return measure(w, stem_n) > 0;
    case C_M_GT1:
        return measure(w, stem_n) > 1;
    case C_ION:
        return measure(w, stem_n) > 1 && (w[stem_n - 1] == 's' || w[stem_n - 1] == 't');
    case C_LOGI: /* the 'l' stays with the stem: measure of word minus "ogi" */
        return measure(w, n - 3) > 0;
    }
    return false;
}

/* The first rule whose suffix matches decides: it applies when its condition
 * holds, and otherwise the word is left alone (later rules are not tried). */
static void apply_rules(uint32_t *w, size_t *n, const rule *rules, size_t count)
{
    for (size_t r = 0; r < count; r++) {
        size_t k = rules[r].suffix_len;
        if (!ends_with_n(w, *n, rules[r].suffix, k))
            continue;
        if (cond_holds(rules[r].cond, w, *n - k, *n))
            replace_tail(w, n, k, rules[r].rep);
        return;
    }
}

static void step1a(uint32_t *w, size_t *n)
{
    if (*n == 4 && ends_with(w, *n, "ies")) { /* 'dies' -> 'die', not 'di' */
        replace_tail(w, n, 3, "ie");
        return;
    }
    static const rule rules[] = {
        RULE("sses", "ss", C_NONE), RULE("ies", "i", C_NONE), RULE("ss", "ss", C_NONE), RULE("s", "", C_NONE),
    };
    apply_rules(w, n, rules, sizeof rules / sizeof rules[0]);
}

/* The tidy-up after removing -ed/-ing. NLTK lists the double-consonant rule
 * as the pseudo-suffix "*d"; when the word does not end in a double
 * consonant it is compared as a literal suffix, so a word ending in "*d"
 * becomes its stem plus 'd'. That quirk is reproduced. */
static void step1b_tidy(uint32_t *w, size_t *n)
{
    static const rule grow[] = {RULE("at", "ate", C_NONE), RULE("bl", "ble", C_NONE), RULE("iz", "ize", C_NONE)};
    for (size_t r = 0; r < 3; r++)
        if (ends_with(w, *n, grow[r].suffix)) {
            replace_tail(w, n, 2, grow[r].rep);
            return;
        }
    if (ends_double_cons(w, *n) || ends_with(w, *n, "*d")) {
        uint32_t last = w[*n - 1];
        if (last != 'l' && last != 's' && last != 'z') {
            w[*n - 2] = last; /* stem[:-2] + last letter */
            *n -= 1;
        }
        return;
    }
    if (measure(w, *n) == 1 && ends_cvc(w, *n))
        replace_tail(w, n, 0, "e");
}

static void step1b(uint32_t *w, size_t *n)
{
    if (ends_with(w, *n, "ied")) { /* 'died' -> 'die' but 'spied' -> 'spi' */
        replace_tail(w, n, 3, *n == 4 ? "ie" : "i");
        return;
    }
    if (ends_with(w, *n, "eed")) {
        if (measure(w, *n - 3) > 0)
            *n -= 1;
        return;
    }
    static const char *const sufs[] = {"ed", "ing"};
    for (size_t s = 0; s < 2; s++) {
        size_t k = strlen(sufs[s]);
        if (ends_with(w, *n, sufs[s]) && has_vowel(w, *n - k)) {
            *n -= k;
            step1b_tidy(w, n);
            return;
        }
    }
}

/* NLTK: y -> i only after a consonant, and not when the stem is a single
 * letter ('happy' -> 'happi', 'enjoy' and 'by' unchanged). */
static void step1c(uint32_t *w, size_t *n)
{
    if (ends_with(w, *n, "y") && *n - 1 > 1 && is_cons(w, *n - 2))
        w[*n - 1] = 'i';
}

static void step2(uint32_t *w, size_t *n)
{
    /* NLTK tries ALLI -> AL first and feeds the result through step 2 again. */
    while (ends_with(w, *n, "alli") && measure(w, *n - 4) > 0)
        replace_tail(w, n, 4, "al");
    static const rule rules[] = {
        RULE("ational", "ate", C_M_GT0), RULE("tional", "tion", C_M_GT0), RULE("enci", "ence", C_M_GT0),
        RULE("anci", "ance", C_M_GT0),   RULE("izer", "ize", C_M_GT0),    RULE("bli", "ble", C_M_GT0),
        RULE("alli", "al", C_M_GT0),     RULE("entli", "ent", C_M_GT0),   RULE("eli", "e", C_M_GT0),
        RULE("ousli", "ous", C_M_GT0),   RULE("ization", "ize", C_M_GT0), RULE("ation", "ate", C_M_GT0),
        RULE("ator", "ate", C_M_GT0),    RULE("alism", "al", C_M_GT0),    RULE("iveness", "ive", C_M_GT0),
        RULE("fulness", "ful", C_M_GT0), RULE("ousness", "ous", C_M_GT0), RULE("aliti", "al", C_M_GT0),
        RULE("iviti", "ive", C_M_GT0),   RULE("biliti", "ble", C_M_GT0),  RULE("fulli", "ful", C_M_GT0),
        RULE("logi", "log", C_LOGI),
    };
    apply_rules(w, n, rules, sizeof rules / sizeof rules[0]);
}

static void step3(uint32_t *w, size_t *n)
{
    static const rule rules[] = {
        RULE("icate", "ic", C_M_GT0), RULE("ative", "", C_M_GT0), RULE("alize", "al", C_M_GT0),
        RULE("iciti", "ic", C_M_GT0), RULE("ical", "ic", C_M_GT0), RULE("ful", "", C_M_GT0),
        RULE("ness", "", C_M_GT0),
    };
    apply_rules(w, n, rules, sizeof rules / sizeof rules[0]);
}

static void step4(uint32_t *w, size_t *n)
{
    static const rule rules[] = {
        RULE("al", "", C_M_GT1),   RULE("ance", "", C_M_GT1), RULE("ence", "", C_M_GT1), RULE("er", "", C_M_GT1),
        RULE("ic", "", C_M_GT1),   RULE("able", "", C_M_GT1), RULE("ible", "", C_M_GT1), RULE("ant", "", C_M_GT1),
        RULE("ement", "", C_M_GT1), RULE("ment", "", C_M_GT1), RULE("ent", "", C_M_GT1), RULE("ion", "", C_ION),
        RULE("ou", "", C_M_GT1),   RULE("ism", "", C_M_GT1),  RULE("ate", "", C_M_GT1),  RULE("iti", "", C_M_GT1),
        RULE("ous", "", C_M_GT1),  RULE("ive", "", C_M_GT1),  RULE("ize", "", C_M_GT1),
    };
    apply_rules(w, n, rules, sizeof rules / sizeof rules[0]);
}

/* Unlike the other steps both E rules are tried (m>1, then m=1 and not *o). */
static void step5a(uint32_t *w, size_t *n)
{
    if (!ends_with(w, *n, "e"))
        return;
    int m = measure(w, *n - 1);
    if (m > 1 || (m == 1 && !ends_cvc(w, *n - 1)))
        *n -= 1;
}

static void step5b(uint32_t *w, size_t *n)
{
    if (ends_with(w, *n, "ll") && measure(w, *n - 1) > 1)
        *n -= 1;
}

/* NLTK's table of irregular forms, checked before anything else. */
static const char *irregular(const char *word, size_t len)
{
    static const char *const pairs[][2] = {
        {"sky", "sky"},       {"skies", "sky"},       {"dying", "die"},     {"lying", "lie"},
        {"tying", "tie"},     {"news", "news"},       {"innings", "inning"}, {"inning", "inning"},
        {"outings", "outing"}, {"outing", "outing"},  {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},     {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (strlen(pairs[i][0]) == len && memcmp(pairs[i][0], word, len) == 0)
            return pairs[i][1];
    return NULL;
}

static size_t decode(const char *word, size_t len, uint32_t *w)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = uni_decode(word + i, len - i, &cp);
        if (k == 0) {
            cp = RAW_BYTE | (unsigned char)word[i];
            k = 1;
        }
        w[n++] = cp;
        i += k;
    }
    return n;
}

static size_t encode(const uint32_t *w, size_t n, char *out)
{
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] & RAW_BYTE)
            out[b++] = (char)(w[i] & 0xff);
        else
            b += uni_encode(w[i], out + b);
    }
    out[b] = '\0';
    return b;
}

static size_t copy_word(const char *word, size_t len, char *out)
{
    memcpy(out, word, len);
    out[len] = '\0';
    return len;
}

size_t porter_stem(const char *word, size_t len, char *out)
{
    const char *irr = irregular(word, len);
    if (irr)
        return copy_word(irr, strlen(irr), out);

    uint32_t stack[STACK_UNITS];
    uint32_t *w = stack;
    if (len > STACK_UNITS) { /* at most one unit per byte */
        w = malloc(len * sizeof *w);
        if (!w)
            return copy_word(word, len, out);
    }
    size_t n = decode(word, len, w);
    if (n <= 2) { /* NLTK leaves one- and two-letter words alone */
        if (w != stack)
            free(w);
        return copy_word(word, len, out);
    }
    step1a(w, &n);
    step1b(w, &n);
    step1c(w, &n);
    step2(w, &n);
    step3(w, &n);
    step4(w, &n);
    step5a(w, &n);
    step5b(w, &n);
    size_t b = encode(w, n, out);
    if (w != stack)
        free(w);
    return b;
}
