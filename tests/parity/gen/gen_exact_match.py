#!/usr/bin/python3
"""Generate exact_match parity vectors with Hugging Face evaluate's
metrics/exact_match/exact_match.py (the logic lm-evaluation-harness reuses).

Usage (from the repository root):
    HF_EXACT_MATCH=/tmp/refs/hf-evaluate/metrics/exact_match/exact_match.py \
        /usr/bin/python3 tests/parity/gen/gen_exact_match.py

HF_EXACT_MATCH is the path of that file, exported unmodified from the public
repository huggingface/evaluate (see README.md for the commit). Only its
`evaluate` and `datasets` imports are replaced by small stubs (they are used
for metadata only); `ExactMatch._compute` runs unchanged, with numpy.
Writes tests/parity/vectors/exact_match.jsonl.
"""

import importlib.util
import json
import os
import random
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "vectors")
sys.path.insert(0, HERE)
import corpus  # noqa: E402

import numpy as np  # noqa: E402

path = os.environ.get("HF_EXACT_MATCH")
if not path:
    sys.exit("gen_exact_match.py: set HF_EXACT_MATCH to the path of "
             "huggingface/evaluate's metrics/exact_match/exact_match.py; "
             "see tests/parity/gen/README.md")
if not os.path.isfile(path):
    sys.exit(f"gen_exact_match.py: HF_EXACT_MATCH={path} is not a file")


# ---- stubs for the metadata-only imports
def _install_stubs():
    ev = types.ModuleType("evaluate")

    class Metric:
        pass

    class MetricInfo:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    def add_start_docstrings(*docstr):
        def deco(fn):
            return fn
        return deco

    ev.Metric = Metric
    ev.MetricInfo = MetricInfo
    ev.utils = types.SimpleNamespace(
        file_utils=types.SimpleNamespace(add_start_docstrings=add_start_docstrings))
    ds = types.ModuleType("datasets")
    ds.Features = lambda *a, **k: None
    ds.Value = lambda *a, **k: None
    sys.modules["evaluate"] = ev
    sys.modules["datasets"] = ds


_install_stubs()
spec = importlib.util.spec_from_file_location("hf_exact_match", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
METRIC = mod.ExactMatch()


def case(preds, refs, ignore_case=False, ignore_punctuation=False,
         ignore_numbers=False, regexes_to_ignore=None):
    res = METRIC._compute(predictions=preds, references=refs,
                          regexes_to_ignore=regexes_to_ignore,
                          ignore_case=ignore_case,
                          ignore_punctuation=ignore_punctuation,
                          ignore_numbers=ignore_numbers)
    em = float(res["exact_match"])
    assert em == em, "NaN exact match"
    return {"predictions": list(preds), "references": list(refs),
            "options": {"ignore_case": ignore_case, "ignore_punctuation": ignore_punctuation,
                        "ignore_numbers": ignore_numbers, "regexes_to_ignore": regexes_to_ignore},
            "exact_match": em}


REGEX_SETS = [
    None,
    ["the "],
    ["the ", "yell", "YELL"],
    [r"\s+"],
    [r"^\s+|\s+$"],
    [r"[.,!?]"],
    [r"\d+"],
    [r"(?i)the\s"],
    [r"\bthe\b", r"\ba\b", r"\ban\b"],
    [r"^answer:\s*"],
    [r"\.$"],
    [r"[“”\"']"],
    ["x"],
    [r"\W"],
    [""],
]

HAND_PAIRS = [
    ("the cat", "the cat"), ("cat?", "the cat"), ("theater", "theater"),
    ("yelling", "YELLING"), ("agent", "agent007"), ("The cat sat on the mat?", "The cat sat on the mat."),
    ("It's like comparing apples and oranges.", "It's like comparing oranges and apples."),
    ("", ""), ("", " "), (" ", ""), ("a ", "a"), ("a", "a "), ("a\t", "a"), ("a\n", "a"),
    ("a\x00", "a"), ("a\x00b", "ab"), ("\x00", ""),
    ("Café", "café"), ("CAFÉ", "café"), ("STRASSE", "straße"), ("İ", "i̇"), ("ΟΔΟΣ", "οδος"),
    ("ΟΔΟΣ", "οδοσ"), ("ﬁ", "fi"), ("\u212a", "k"),
    ("“quoted”", "quoted"), ("\"quoted\"", "quoted"), ("it’s", "its"), ("it's", "its"),
    ("1,000.50", "100050"), ("3.14", "314"), ("10,000", "10000"), ("١٢٣", ""), ("²", ""),
    ("answer: 42", "42"), ("Answer: 42", "42"), ("42.", "42"), ("forty-two", "fortytwo"),
    ("state-of-the-art", "state of the art"), ("北京", "北京"), ("北京。", "北京"),
    ("日本語", "にほんご"), ("한국어!", "한국어"), ("¿Qué?", "qué"), ("€20", "20"),
    ("tab\tsep", "tab sep"), ("multi  space", "multi space"), ("  lead", "lead"),
    ("Emoji 😀", "emoji 😀"), ("x_y", "xy"), ("back\\slash", "backslash"),
    ("a-b", "ab"), ("(a)", "a"), ("[a]", "a"), ("{a}", "a"), ("a|b", "ab"), ("a~b", "ab"),
    ("A1B2C3", "abc"), ("abc123", "ABC"), ("the", ""), ("The answer", "answer"),
    # numpy fixed-width quirk: np.char.lower keeps the array's item size, so a
    # lower-casing that lengthens a string ('İ' -> 'i' + U+0307) is truncated.
    ("İ", "i"), ("xİ", "xi"), ("İstanbul", "istanbul"), ("İİ", "i̇i̇"),
]


def rand_str(rng):
    r = rng.random()
    if r < 0.25:
        return rng.choice(corpus.TRICKY)
    if r < 0.4:
        return corpus.rand_sentence(rng, 1, 3, pools=[(2, corpus.NUMBERS), (1, corpus.WORDS),
                                                      (1, corpus.PUNCT_TOKENS)])
    if r < 0.5:
        return corpus.rand_sentence(rng, 1, 4, pools=[(1, corpus.ACCENTED), (1, corpus.CJK),
                                                      (1, corpus.HYPHEN_APOS)])
    return corpus.rand_sentence(rng, 1, 10)


def variant(rng, s):
    r = rng.random()
    if r < 0.25:
        return s
    if r < 0.4:
        return corpus.mutate_case(rng, s)
    if r < 0.55:
        return s.replace(".", "").replace(",", "").replace("!", "").replace("?", "")
    if r < 0.65:
        return "".join(c for c in s if not c.isdigit())
    if r < 0.72:
        return "the " + s
    if r < 0.8:
        return s + rng.choice([" ", ".", "!", "\t", "\x00", "  "])
    if r < 0.85:
        return "answer: " + s
    if r < 0.9:
        return corpus.mutate_whitespace(rng, s)
    return rand_str(rng)


def main():
    rng = random.Random(20240606)
    out = []
    flag_sets = [(c, p, n) for c in (False, True) for p in (False, True) for n in (False, True)]
    # Every single hand pair under every flag combination (no regexes), then
    # grouped with regexes.
    for p, r in HAND_PAIRS:
        for c, pu, nu in flag_sets:
            out.append(case([p], [r], c, pu, nu, None))
    for regs in REGEX_SETS:
        for c, pu, nu in flag_sets:
            idx = rng.sample(range(len(HAND_PAIRS)), 12)
            preds = [HAND_PAIRS[i][0] for i in idx]
            refs = [HAND_PAIRS[i][1] for i in idx]
            out.append(case(preds, refs, c, pu, nu, regs))
    # Random batches.
    for _ in range(200):
        n = rng.choice([1, 1, 2, 3, 5, 10, 20, 50])
        refs = [rand_str(rng) for _ in range(n)]
        preds = [variant(rng, s) for s in refs]
        c, pu, nu = rng.choice(flag_sets)
        regs = rng.choice(REGEX_SETS)
        out.append(case(preds, refs, c, pu, nu, regs))

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "exact_match.jsonl"), "w", encoding="utf-8") as f:
        for c in out:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"exact_match.jsonl: {len(out)} cases (numpy {np.__version__})")


if __name__ == "__main__":
    main()
