/* ys_json.h — the one JSON grammar every yardstick reader accepts.
 *
 * cJSON alone is lenient in ways that let bad input through silently: it
 * takes any byte up to 0x20 as white space, numbers such as "01", "1." or
 * "+1", raw control characters inside strings, and it keeps duplicate keys
 * (its look-ups then return the first, Python's json the last). And it
 * cuts a string at "\u0000". So every reader of outside JSON (datasets,
 * `score` input, task specs, results files, config.json, tokenizer.json,
 * adapter and generation configs, safetensors headers) first passes the
 * text through ys_json_check, and only then hands it to cJSON, which
 * parses a checked text the same way the check read it.
 *
 * The grammar is RFC 8259 exactly, plus these rules of our own:
 *   - of duplicate keys in one object the last wins, as in Python's json
 *     (the reference implementations' reader): ys_json_parse drops the
 *     earlier copies from the tree, so every cJSON look-up sees the last;
 *     the dataset readers, which walk the members themselves, keep the
 *     last too (tasks/dataset.h);
 *   - "\u0000" is an error: our strings are C strings and a NUL would cut
 *     them silently;
 *   - strings must be valid UTF-8 (no overlong forms, no encoded or lone
 *     escaped surrogates), and nesting is limited to YS_JSON_MAX_DEPTH.
 *
 * Errors are YS_EINPUT with "WHERE:LINE: malformed JSON near column COL
 * (what)", or "WHERE:LINE: column COL: what" for NUL, UTF-8 and depth (LINE
 * counted from `first_line`, the line the text starts on, for JSONL).
 */
#ifndef YS_JSON_H
#define YS_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ys_error.h"

#define YS_JSON_MAX_DEPTH 512

/* Check text[0..len) as one JSON value with optional white space around
 * it (duplicate keys are accepted: see above). */
int ys_json_check(const char *text, size_t len, const char *where, long first_line, ys_error *err);

/* ys_json_check, then cJSON; *out is the parsed value (cJSON_Delete it). */
int ys_json_parse(const char *text, size_t len, const char *where, long first_line, cJSON **out,
                  ys_error *err);

/* "an object", "an array", "a string", "a number", "a boolean" or "null":
 * for messages saying what was found where something else was expected. */
const char *ys_json_kind(const cJSON *v);

/* A JSON number as an integer in [lo, hi] (both within ±2^53), or YS_EINPUT naming `where` and
 * `field`: a fraction, a value out of range (which would overflow the
 * conversion) or another type is refused, never truncated. */
int ys_json_int(const cJSON *v, long long lo, long long hi, const char *where, const char *field,
                long long *out, ys_error *err);

#endif
