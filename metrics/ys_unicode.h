/* ys_unicode.h — the little Unicode the metrics need, matching Python.
 *
 * The references are Python programs, so "white space", "lower case" and
 * "punctuation" mean exactly what Python says they mean: str.isspace(),
 * str.lower() and the `regex` module's \p{N}/\p{P}/\p{S}. The tables in
 * unicode_tables.c are generated from that Python (gen_unicode_tables.py).
 *
 * UTF-8 helpers never allocate. uni_lower_utf8 returns a malloc'd string the
 * caller frees (NULL only when allocation fails).
 */
#ifndef YS_UNICODE_H
#define YS_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint32_t lo, hi; } uni_range;
typedef struct { uint32_t lo, hi; int32_t delta; uint32_t step; } uni_caserun;
typedef struct { uint32_t from; uint32_t n; uint32_t to[3]; } uni_multimap;

/* Decode one code point from s[0..n); returns bytes used (>= 1), or 0 when
 * the bytes there are not valid UTF-8 (overlong, surrogate, truncated). */
size_t uni_decode(const char *s, size_t n, uint32_t *cp);
/* Encode cp into out (room for 4 bytes); returns bytes written. */
size_t uni_encode(uint32_t cp, char *out);
/* Offset of the first invalid byte, or (size_t)-1 when s is valid UTF-8. */
size_t uni_invalid_at(const char *s, size_t n);

int uni_is_space(uint32_t cp);   /* Python str.isspace() */
int uni_is_word(uint32_t cp);    /* Python re's \w (str patterns) */
int uni_is_n(uint32_t cp);       /* regex \p{N} */
int uni_is_p(uint32_t cp);       /* regex \p{P} */
int uni_is_s(uint32_t cp);       /* regex \p{S} */
/* Python str.lower() of one code point: writes 1..3 code points to out and
 * returns how many. */
int uni_lower(uint32_t cp, uint32_t out[3]);
/* Python str.lower() of a UTF-8 string (invalid bytes are copied as is). */
char *uni_lower_utf8(const char *s, size_t n, size_t *out_len);
/* The same into a caller's reusable buffer *buf of *cap bytes (grown with
 * realloc when needed; both may start as NULL/0, the caller frees *buf).
 * The result is NUL-terminated; returns its length, or (size_t)-1 when
 * allocation fails. */
size_t uni_lower_utf8_into(const char *s, size_t n, char **buf, size_t *cap);
/* Is the byte (< 0x80) Python white space / a \w character? Table lookups
 * for hot loops that handle ASCII inline and call the functions above only
 * for other code points. */
static inline int uni_ascii_space(unsigned char c)
{
    extern const unsigned char uni_ascii_flags[128];
    return uni_ascii_flags[c] & 1;
}
static inline int uni_ascii_word(unsigned char c)
{
    extern const unsigned char uni_ascii_flags[128];
    return uni_ascii_flags[c] & 2;
}

#endif
