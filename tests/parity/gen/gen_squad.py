#!/usr/bin/python3
"""Generate SQuAD v1.1 EM/F1 parity vectors with the official evaluate-v1.1.py.

Usage (from the repository root):
    SQUAD_EVAL=/tmp/refs/squad/evaluate-v1.1.py /usr/bin/python3 tests/parity/gen/gen_squad.py

SQUAD_EVAL must be the path of an unmodified official `evaluate-v1.1.py`
(see README.md for where it came from). Its functions `exact_match_score`,
`f1_score` and `metric_max_over_ground_truths` are called as is.
Writes tests/parity/vectors/squad.jsonl.
"""

import importlib.util
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "vectors")
sys.path.insert(0, HERE)
import corpus  # noqa: E402

path = os.environ.get("SQUAD_EVAL")
if not path:
    sys.exit("gen_squad.py: set SQUAD_EVAL to the path of the official SQuAD "
             "evaluate-v1.1.py; see tests/parity/gen/README.md")
if not os.path.isfile(path):
    sys.exit(f"gen_squad.py: SQUAD_EVAL={path} is not a file")
spec = importlib.util.spec_from_file_location("squad_eval_v11", path)
ev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ev)


def case(prediction, references):
    em = ev.metric_max_over_ground_truths(ev.exact_match_score, prediction, references)
    f1 = ev.metric_max_over_ground_truths(ev.f1_score, prediction, references)
    return {"prediction": prediction, "references": references,
            "exact_match": float(em), "f1": float(f1)}


HAND = [
    ("Denver Broncos", ["Denver Broncos", "The Denver Broncos", "Denver Broncos "]),
    ("the Denver Broncos", ["Denver Broncos"]),
    ("The Broncos", ["Denver Broncos"]),
    ("", ["Denver Broncos"]),
    ("", [""]),
    ("the", ["a"]),
    ("the a an", [""]),
    ("The", ["the"]),
    ("!!!", ["???"]),
    ("Santa Clara, California", ["Santa Clara, California", "Levi's Stadium",
                                 "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California."]),
    ("Levis Stadium", ["Levi's Stadium"]),
    ("Levi’s Stadium", ["Levi's Stadium"]),
    ("“Denver”", ["Denver"]),
    ("\"Denver\"", ["Denver"]),
    ("Denver—Broncos", ["Denver Broncos"]),
    ("Denver-Broncos", ["DenverBroncos"]),
    ("state-of-the-art", ["state of the art"]),
    ("state-of-the-art", ["stateoftheart"]),
    ("1,000", ["1000"]),
    ("1,000.50", ["100050"]),
    ("3.14", ["314"]),
    ("10,000 people", ["10000 people"]),
    ("$3.99", ["3.99"]),
    ("€20", ["20"]),
    ("20 €", ["20"]),
    ("the the the", ["the"]),
    ("cat cat cat", ["cat"]),
    ("cat", ["cat cat cat"]),
    ("a cat", ["the cat"]),
    ("anthem", ["an them"]),
    ("theater", ["the ater"]),
    ("The Theatre", ["theatre"]),
    ("thé café", ["thé café"]),
    ("the’s", ["s"]),
    ("the’ cat", ["’ cat"]),
    ("l'homme", ["lhomme"]),
    ("an‐apple", ["apple"]),
    ("Über", ["über"]),
    ("ÜBER STRASSE", ["über straße"]),
    ("İstanbul", ["istanbul"]),
    ("ΟΔΟΣ", ["οδος"]),
    ("ΟΔΟΣ", ["οδοσ"]),
    ("北京", ["北京"]),
    ("北京大学", ["北京 大学"]),
    ("中文，标点。", ["中文标点"]),
    ("東京 Tokyo", ["Tokyo"]),
    ("서울", ["서울 특별시"]),
    ("  leading and trailing  ", ["leading and trailing"]),
    ("tabs\tand\nnewlines", ["tabs and newlines"]),
    ("non\u00a0breaking", ["non breaking"]),
    ("ideographic\u3000space", ["ideographic space"]),
    ("zero\u200bwidth", ["zero width"]),
    ("unit\x1fsep", ["unit sep"]),
    ("vt\x0bff\x0c", ["vt ff"]),
    ("(1990)", ["1990"]),
    ("[citation needed]", ["citation needed"]),
    ("a.m.", ["am"]),
    ("U.S.", ["US"]),
    ("C++", ["C"]),
    ("50%", ["50"]),
    ("x_y", ["xy"]),
    ("back\\slash", ["backslash"]),
    ("¿Qué?", ["qué"]),
    ("¡Sí!", ["sí"]),
    ("…", [""]),
    ("— – …", [""]),
    ("Emoji 😀", ["emoji"]),
    ("one two three four", ["four three two one"]),
    ("one two", ["one two three four five six seven eight"]),
    ("one two three four five six seven eight", ["one two"]),
    ("Denver", ["Broncos", "Denver Broncos", "the Denver"]),
    ("AnThe", ["anthe"]),
    ("a", ["a"]),
    ("an", ["An"]),
    ("A", [""]),
]


def rand_answer(rng):
    r = rng.random()
    if r < 0.1:
        return rng.choice(corpus.TRICKY)
    if r < 0.2:
        return corpus.rand_sentence(rng, 1, 3, pools=[(2, corpus.NUMBERS), (1, corpus.WORDS)])
    if r < 0.3:
        return corpus.rand_sentence(rng, 1, 6, pools=[(1, corpus.PUNCT_TOKENS), (2, corpus.WORDS),
                                                      (1, corpus.HYPHEN_APOS)])
    if r < 0.35:
        return corpus.rand_sentence(rng, 1, 6, pools=[(1, corpus.ACCENTED), (1, corpus.CJK)])
    if r < 0.40:
        return corpus.long_text(rng, rng.randint(50, 200))
    return corpus.rand_sentence(rng, 1, 8)


def main():
    rng = random.Random(20240604)
    out = [case(p, r) for p, r in HAND]
    for t in corpus.TRICKY:
        out.append(case(t, [t]))
        out.append(case(t, [rng.choice(corpus.TRICKY), rand_answer(rng)]))
    for _ in range(450):
        base = rand_answer(rng)
        refs = [base]
        for _ in range(rng.choice([0, 0, 1, 2, 3, 4])):
            refs.append(corpus.perturb(rng, base, 0.5) if rng.random() < 0.7 else rand_answer(rng))
        rng.shuffle(refs)
        r = rng.random()
        if r < 0.05:
            pred = ""
        elif r < 0.15:
            pred = base
        elif r < 0.25:
            pred = corpus.mutate_case(rng, base)
        elif r < 0.30:
            pred = rng.choice(["the ", "a ", "An ", "The "]) + base + rng.choice(["", ".", "!", " ."])
        elif r < 0.35:
            pred = rand_answer(rng)
        else:
            pred = corpus.perturb(rng, base)
        out.append(case(pred, refs))
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "squad.jsonl"), "w", encoding="utf-8") as f:
        for c in out:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"squad.jsonl: {len(out)} lines")


if __name__ == "__main__":
    main()
