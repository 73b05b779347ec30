/* unicode_tables.h — the shapes of the generated tables (unicode_tables.c,
 * written by gen_unicode.py); private to ys_unicode.c. */
#ifndef YS_UNICODE_TABLES_H
#define YS_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* code points lo .. (next run's lo - 1) share props (bits: see the top of
 * unicode_tables.c) */
typedef struct { uint32_t lo, props; } uni_run;
/* one code point's corrected answer */
typedef struct { uint32_t cp, value; } uni_fix;
/* one code point's mapping: len code points at uni_pool[off] */
typedef struct { uint32_t cp; uint16_t off, len; } uni_map;
typedef struct { uint32_t a, b, c; } uni_comp;

extern const uni_run uni_runs[];
extern const size_t uni_runs_len;
extern const uni_fix uni_gc8_fix[], uni_gc9_fix[], uni_py_fix[];
extern const size_t uni_gc8_fix_len, uni_gc9_fix_len, uni_py_fix_len;
extern const unsigned char uni_ascii_flags[128];
extern const uni_map uni_lower_map[], uni_py_lower_fix[], uni_decomp9[];
extern const size_t uni_lower_map_len, uni_py_lower_fix_len, uni_decomp9_len;
extern const uni_comp uni_comp9[];
extern const size_t uni_comp9_len;
extern const uint32_t uni_pool[];

#endif
