#!/usr/bin/python3
"""McNemar exact-test vectors from scipy.stats.binomtest (Debian's scipy).
Run from the repository root: /usr/bin/python3 tests/parity/gen/gen_mcnemar.py"""
import json
import random

from scipy.stats import binomtest

rng = random.Random(5)
cases = [(0, 0), (1, 0), (0, 1), (1, 1), (5, 5), (3, 7), (10, 2), (0, 20), (25, 40), (100, 130),
         (500, 540), (1000, 1100), (7, 0), (2, 9)]
for _ in range(60):
    n = rng.choice([1, 2, 5, 10, 30, 100, 400, 2000])
    b = rng.randint(0, n)
    cases.append((b, n - b))
with open("tests/parity/vectors/mcnemar.jsonl", "w") as f:
    for b, c in cases:
        p = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
        f.write(json.dumps({"b": b, "c": c, "p": p}) + "\n")
