/* lmeval_filter.h — lm-evaluation-harness's "regex" answer filter.
 *
 * lmf_regex restates RegexFilter (lm_eval/filters/extraction.py): all
 * non-overlapping matches of the pattern, as Python's re.findall returns
 * them (the whole match when the pattern has no group, group 1 when it has
 * one, the tuple of groups otherwise); the group_select-th one (negative
 * counts from the end, -1 = last; out of range = the fallback); a tuple
 * becomes its first non-empty group (none: the fallback); the result is
 * str.strip()'d. No match at all gives the fallback ("[invalid]" in
 * lm-eval). Patterns are PCRE2 with UTF and Unicode properties, which read
 * the patterns lm-eval's tasks use (character classes, groups,
 * alternation, (?s)) as Python's re does. After an empty match the next
 * search starts one character on (Python would also try a non-empty match
 * at the same place; no lm-eval answer pattern can match empty).
 * *out is malloc'd. Errors: YS_EINPUT for a pattern that does not
 * compile, YS_ENOMEM.
 */
#ifndef YS_LMEVAL_FILTER_H
#define YS_LMEVAL_FILTER_H

#include "ys_error.h"

int lmf_regex(const char *pattern, int group_select, const char *fallback, const char *text, char **out,
              ys_error *err);

#endif
