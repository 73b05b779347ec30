#!/usr/bin/python3
"""random.Random(seed).sample(range(n), k), drawn several times from one
generator as lm-eval's sampler does, for the C restatement (pyrandom.c):
small pools (the pool method), large ones (the set method), k > 5 (the
larger threshold), seeds above 2**32. Usage: gen_pyrandom.py OUT.json"""
import json
import random
import sys

cases = []
for seed, n, k, times in [(1234, 10, 3, 4), (1234, 7473, 5, 3), (1234, 100, 26, 2), (0, 30, 11, 3),
                          (42, 1, 1, 2), (2**40 + 7, 5000, 6, 3), (1234, 22, 22, 1), (99, 86, 6, 2)]:
    r = random.Random(seed)
    cases.append({"seed": seed, "n": n, "k": k, "draws": [r.sample(range(n), k) for _ in range(times)]})
with open(sys.argv[1], "w") as f:
    json.dump(cases, f)
    f.write("\n")
