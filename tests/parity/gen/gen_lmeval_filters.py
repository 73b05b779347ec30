#!/usr/bin/python3
"""Expected outputs of lm-eval's GSM8K answer filters and exact_match on
tricky answers, computed with Python's re exactly as lm-eval's RegexFilter
(findall, group_select, first non-empty group of a tuple, strip, fallback
"[invalid]") and exact_match (regexes_to_ignore removed in order from
prediction and reference, then lower-cased) do.
Usage: gen_lmeval_filters.py OUT.json"""
import json
import re
import sys

STRICT = r"#### (\-?[0-9\.\,]+)"
FLEX = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]
TEXTS = [
    "Natalia sold 48/2 = 24 clips in May.\n#### 72",
    "The answer is 1,234.",
    "So she makes $18 every day.",
    "It costs -5 dollars, so -5.",
    "#### -3.50\nQuestion: next",
    "First 3 apples, then 4 pears, so 7 in total. The answer is 7.",
    "Total: $1,000,000.00.",
    "no digits here",
    "#### 12\n#### 13",
    "x = 5\n\nThe answer is 5",
    "It takes 2.5 hours. ",
    "The result is 3 - 4 = -1",
    "Answer: 42.\n",
    "#### 1,5\u00a0",
    "He paid $ 7",
    "values 1. and 2.",
]


def regex_filter(pattern, group_select, text):
    m = re.compile(pattern).findall(text)
    if not m:
        return "[invalid]"
    m = m[group_select]
    if isinstance(m, tuple):
        m = [x for x in m if x]
        m = m[0] if m else "[invalid]"
    return m.strip()


def norm(s):
    for r in IGNORE:
        s = re.sub(r, "", s)
    return s.lower()


def main():
    refs = ["72", "1234", "18", "-5", "-3.5", "7", "1000000", "0", "12", "5", "2.5", "-1", "42", "15", "7", "2"]
    out = []
    for t, ref in zip(TEXTS, refs):
        gold = "Some working.\n#### " + ref
        s, f = regex_filter(STRICT, 0, t), regex_filter(FLEX, -1, t)
        out.append({"text": t, "reference": gold, "strict": s, "flexible": f,
                    "em_strict": float(norm(s) == norm(gold)), "em_flexible": float(norm(f) == norm(gold))})
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        json.dump({"strict": STRICT, "flexible": FLEX, "regexes_to_ignore": IGNORE, "cases": out}, fh,
                  ensure_ascii=False, indent=1)
        fh.write("\n")


main()
