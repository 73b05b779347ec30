/* jsonl_line.h — a strict, allocation-free reader for the usual shape of a
 * `yardstick score` input line: one JSON object whose prediction is a
 * string and whose references are an array of strings (or whose one
 * reference is a string), any other fields being strings, numbers,
 * booleans or null.
 *
 * It is a fast path only. Whenever it returns 1, cJSON would have parsed the
 * line and given the same strings; anything it is not sure of (nested
 * values, an escape it does not decode, white space other than JSON's,
 * a field of interest repeated, missing or not text, more than
 * JL_MAX_REFS references) returns 0, and the caller parses the line with
 * cJSON, which produces the values or the error message (file:line:field)
 * exactly as before. The line is not modified; decoded strings go into
 * `buf`, which must have room for len + 1 bytes, and the pointers in *out
 * point into it.
 */
#ifndef YS_JSONL_LINE_H
#define YS_JSONL_LINE_H

#include <stddef.h>

#define JL_MAX_REFS 16

typedef struct {
    const char *pred;
    const char *refs[JL_MAX_REFS];
    size_t nrefs;
} jl_sample;

int jl_scan(const char *line, size_t len, const char *pred_field, const char *refs_field,
            const char *ref_field, char *buf, jl_sample *out);

#endif
