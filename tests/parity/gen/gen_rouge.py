#!/usr/bin/python3
"""Generate ROUGE parity vectors with the real rouge-score 0.1.2.

Usage (from the repository root):
    ROUGE_SCORE_DIR=/tmp/refs/rouge-score-0.1.2 /usr/bin/python3 tests/parity/gen/gen_rouge.py

ROUGE_SCORE_DIR must point at a folder containing the unmodified
`rouge_score` package of rouge-score 0.1.2 (see README.md). Needs Debian's
python3-nltk, python3-absl, python3-numpy, python3-six.
Writes tests/parity/vectors/rouge.jsonl.
"""

import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "vectors")
sys.path.insert(0, HERE)
import corpus  # noqa: E402

ref_dir = os.environ.get("ROUGE_SCORE_DIR")
if not ref_dir:
    sys.exit("gen_rouge.py: set ROUGE_SCORE_DIR to a folder containing the "
             "rouge-score 0.1.2 `rouge_score` package; see tests/parity/gen/README.md")
sys.path.insert(0, ref_dir)
from rouge_score import rouge_scorer  # noqa: E402

if not os.path.abspath(rouge_scorer.__file__).startswith(os.path.abspath(ref_dir)):
    sys.exit(f"gen_rouge.py: rouge_score imported from {rouge_scorer.__file__}, "
             "not from ROUGE_SCORE_DIR")
if not hasattr(rouge_scorer.RougeScorer, "score_multi"):
    sys.exit("gen_rouge.py: this rouge_score has no score_multi; not 0.1.2")

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
SCORERS = {
    False: rouge_scorer.RougeScorer(TYPES, use_stemmer=False),
    True: rouge_scorer.RougeScorer(TYPES, use_stemmer=True),
}

# Word pools rich in suffixes that the Porter stemmer changes.
STEM_WORDS = [w for w in corpus.WORDS if len(w) > 3 and (
    w.endswith(("s", "ing", "ed", "ly", "ation", "ations", "ness", "ful", "ize",
                "ization", "al", "ity", "er", "ment", "ence", "ive", "ous", "able",
                "iti", "ies", "y")))]
STEM_POOLS = [(6, STEM_WORDS), (3, corpus.WORDS), (1, corpus.PUNCT_TOKENS[:8])]


def conv(score):
    return {"precision": float(score.precision), "recall": float(score.recall),
            "fmeasure": float(score.fmeasure)}


def sample(name, use_stemmer, prediction, references):
    scorer = SCORERS[use_stemmer]
    multi = scorer.score_multi(references, prediction)
    if len(references) == 1:
        single = scorer.score(references[0], prediction)
        for t in TYPES:
            assert tuple(single[t]) == tuple(multi[t]), (name, t, single[t], multi[t])
    return {"name": name, "use_stemmer": use_stemmer, "prediction": prediction,
            "references": references,
            "scores": {t: conv(multi[t]) for t in TYPES}}


def rand_text(rng, pools):
    r = rng.random()
    if r < 0.10:
        return rng.choice(corpus.TRICKY)
    if r < 0.30:
        return corpus.multi_line(rng, rng.randint(2, 6), 2, 14, pools)
    if r < 0.34:
        # multi-line with blank lines and whitespace-only lines
        lines = [corpus.rand_sentence(rng, 1, 10, pools) for _ in range(rng.randint(2, 5))]
        for _ in range(rng.randint(1, 3)):
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", " ", "\t", "...", "“”"]))
        return "\n".join(lines)
    if r < 0.38:
        return corpus.rand_sentence(rng, 1, 2, pools)
    if r < 0.42:
        return corpus.mutate_case(rng, corpus.rand_sentence(rng, 3, 15, pools))
    if r < 0.46:
        return corpus.mutate_whitespace(rng, corpus.rand_sentence(rng, 3, 15, pools))
    return corpus.rand_sentence(rng, 3, 30, pools)


def perturb_lines(rng, text, pools):
    lines = text.split("\n")
    out = [corpus.perturb(rng, ln, pools=pools) if rng.random() < 0.8 else ln for ln in lines]
    if len(out) > 1 and rng.random() < 0.4:
        rng.shuffle(out)
    if len(out) > 1 and rng.random() < 0.2:
        out = [" ".join(out)]  # joined into one line
    elif rng.random() < 0.1:
        out = " ".join(out).split(" ")
        out = [" ".join(out[i:i + 4]) for i in range(0, len(out), 4)]  # re-split lines
    return "\n".join(out)


def make(rng, use_stemmer, pools):
    base = rand_text(rng, pools)
    n_refs = rng.choice([1, 1, 1, 1, 2, 2, 3, 4])
    refs = [base]
    for _ in range(n_refs - 1):
        r = rng.random()
        if r < 0.7:
            refs.append(perturb_lines(rng, base, pools))
        elif r < 0.9:
            refs.append(rand_text(rng, pools))
        else:
            refs.append(rng.choice(["", base]))
    rng.shuffle(refs)
    r = rng.random()
    if r < 0.04:
        pred = rng.choice(["", " ", "\n", "...", "“” — …"])
    elif r < 0.08:
        pred = base
    elif r < 0.13:
        pred = base + "\n" + corpus.rand_sentence(rng, 3, 20, pools)
    elif r < 0.17:
        pred = rand_text(rng, pools)
    elif r < 0.20:
        refs[rng.randrange(len(refs))] = rng.choice(["", "!!!", "中文"])
        pred = perturb_lines(rng, base, pools)
    else:
        pred = perturb_lines(rng, base, pools)
    return pred, refs


def main():
    rng = random.Random(20240603)
    out = []

    handwritten = [
        ("empty_pred", "", ["The cat sat on the mat."]),
        ("empty_ref", "The cat sat on the mat.", [""]),
        ("both_empty", "", [""]),
        ("non_ascii_only", "中文 日本語 한국어", ["中文 日本語 한국어"]),
        ("punct_only", "“” — … « » ¿ ¡", ["!!! ???"]),
        ("single_word", "cat", ["cat"]),
        ("single_word_plural", "cats", ["cat"]),
        ("short_words_not_stemmed", "was has its", ["wa ha it"]),
        ("four_letter_stem", "runs cats dogs", ["run cat dog"]),
        ("stem_forms", "The connections were generously generating organizations",
         ["A connected generator organized generation"]),
        ("stem_forms2", "running runner runs ran happily happiness",
         ["run running ran happy happiness"]),
        ("stem_ly_ation", "nationally nationalization relational relation",
         ["national nationalize relate relations"]),
        ("accents", "Café naïve résumé", ["cafe naive resume"]),
        ("accents_split", "façade über", ["fa ade ber"]),
        ("kelvin_sign", "5 \u212a temperature", ["5 k temperature"]),
        ("dotted_i", "İstanbul", ["i stanbul"]),
        ("ligature", "ﬁnance ﬀ", ["finance ff"]),
        ("numbers", "It costs 1,000.50 dollars, or 3.14 per 10,000.",
         ["it costs 1 000 50 dollars or 3 14 per 10 000"]),
        ("hyphen", "state-of-the-art models", ["state of the art models"]),
        ("apostrophes", "don't won't it's John's don’t",
         ["don t won t it s john s don t"]),
        ("repeated", "the the the the the", ["the cat the mat the"]),
        ("hyp_longer", "the cat sat on the mat and then it slept for a very long time",
         ["the cat sat on the mat"]),
        ("whitespace", "  leading\tand   trailing \t ", ["leading and trailing"]),
        ("newlines_lsum", "First sentence.\nSecond Sentence.", ["Second sentence.\nFirst Sentence."]),
        ("newlines_joined", "First sentence. Second Sentence.", ["Second sentence. First Sentence."]),
        ("blank_lines", "\n\nfirst line\n\n\nsecond line\n\n", ["second line\nfirst line"]),
        ("crlf", "first line\r\nsecond line", ["first line\nsecond line"]),
        ("lsum_double_count", "a b c a b c\na b", ["a b c\na b c a"]),
        ("lsum_empty_lines_only", "\n\n", ["a b\nc d"]),
        ("mixed_cjk_latin", "Model GPT-4 得分 95.5 分", ["model gpt 4 95 5"]),
        ("multi_ref_tie", "the cat", ["the cat", "the cat", "cat the"]),
        ("multi_ref_best_differs", "the quick brown fox jumps",
         ["the quick brown", "quick brown fox jumps over", "fox jumps the quick brown"]),
        ("multi_ref_all_empty", "something here", ["", "", ""]),
        ("mixed_case", "MiXeD CaSe WoRdS", ["mixed case words"]),
        ("underscore", "under_score snake_case", ["under score snake case"]),
    ]
    lw = corpus.long_text(rng, 1100, pools=STEM_POOLS)
    handwritten.append(("very_long_line", corpus.perturb(rng, lw, 0.3), [lw]))
    lw2 = corpus.long_text(rng, 1000)
    handwritten.append(("very_long_line_2refs", lw2, [corpus.perturb(rng, lw2, 0.2), corpus.perturb(rng, lw2, 0.5)]))
    for t in corpus.TRICKY:
        handwritten.append((f"tricky_{len(handwritten)}", t, [rng.choice(corpus.TRICKY)]))
        handwritten.append((f"tricky_self_{len(handwritten)}", t, [t]))

    for stem in (False, True):
        for name, pred, refs in handwritten:
            out.append(sample(f"hand_{name}_stem{int(stem)}", stem, pred, refs))

    n_random = 520
    for i in range(n_random):
        stem = i % 2 == 1
        pools = STEM_POOLS if rng.random() < 0.5 else None
        pred, refs = make(rng, stem, pools)
        out.append(sample(f"rand_{i}_stem{int(stem)}", stem, pred, refs))

    # Same inputs with and without stemming, to isolate the stemmer.
    for i in range(80):
        pred, refs = make(rng, True, STEM_POOLS)
        out.append(sample(f"pair_{i}_stem0", False, pred, refs))
        out.append(sample(f"pair_{i}_stem1", True, pred, refs))

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "rouge.jsonl"), "w", encoding="utf-8") as f:
        for c in out:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    n_stem = sum(1 for c in out if c["use_stemmer"])
    print(f"rouge.jsonl: {len(out)} samples ({n_stem} stemmed)")


if __name__ == "__main__":
    main()
