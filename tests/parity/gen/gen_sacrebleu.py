#!/usr/bin/python3
"""Generate BLEU and chrF parity vectors with the real sacrebleu 2.6.0.

Usage (from the repository root):
    SACREBLEU_DIR=/tmp/refs/sacrebleu-2.6.0 /usr/bin/python3 tests/parity/gen/gen_sacrebleu.py

SACREBLEU_DIR must point at an exported tree of mjpost/sacrebleu tag v2.6.0
(the folder that contains the `sacrebleu` package). See README.md.
Writes tests/parity/vectors/bleu.jsonl and tests/parity/vectors/chrf.jsonl.
"""

import itertools
import json
import logging
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "vectors")
sys.path.insert(0, HERE)
import corpus  # noqa: E402

ref_dir = os.environ.get("SACREBLEU_DIR")
if not ref_dir:
    sys.exit("gen_sacrebleu.py: set SACREBLEU_DIR to an exported sacrebleu v2.6.0 "
             "tree (the folder containing the `sacrebleu` package); see "
             "tests/parity/gen/README.md")
sys.path.insert(0, ref_dir)
import sacrebleu  # noqa: E402
from sacrebleu.metrics import BLEU, CHRF  # noqa: E402

if sacrebleu.__version__ != "2.6.0":
    sys.exit(f"gen_sacrebleu.py: expected sacrebleu 2.6.0, got {sacrebleu.__version__}")
if not os.path.abspath(sacrebleu.__file__).startswith(os.path.abspath(ref_dir)):
    sys.exit(f"gen_sacrebleu.py: sacrebleu imported from {sacrebleu.__file__}, "
             f"not from SACREBLEU_DIR")

# sentence_score() warns about effective_order on every call; silence it.
logging.getLogger("sacrebleu").setLevel(logging.CRITICAL)

TOKENIZERS = ["13a", "intl", "char", "none"]
SMOOTHS = ["exp", "floor", "add-k", "none"]


# ---------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------

def sample_text(rng, long_ok):
    """One base sentence for a sample."""
    r = rng.random()
    if r < 0.10:
        return rng.choice(corpus.TRICKY)
    if long_ok and r < 0.11:
        return corpus.long_text(rng, rng.randint(1000, 1100))
    if r < 0.17:
        return corpus.rand_sentence(rng, 1, 2)
    if r < 0.22:
        return corpus.mutate_whitespace(rng, corpus.rand_sentence(rng, 2, 12))
    if r < 0.27:
        return corpus.mutate_case(rng, corpus.rand_sentence(rng, 2, 12))
    if r < 0.30:
        return corpus.rand_sentence(rng, 3, 15, pools=[(1, corpus.CJK), (1, corpus.PUNCT_TOKENS)])
    if r < 0.33:
        return corpus.rand_sentence(rng, 3, 15, pools=[(2, corpus.NUMBERS), (1, corpus.WORDS)])
    if r < 0.36:
        return corpus.rand_sentence(rng, 3, 15, pools=[(1, corpus.HYPHEN_APOS), (1, corpus.ACCENTED), (1, corpus.WORDS)])
    return corpus.rand_sentence(rng, 3, 25)


def make_sample(rng, n_refs, mode, long_ok):
    """Return (hyp, [refs]) for one sample."""
    base = sample_text(rng, long_ok)
    refs = [base]
    for _ in range(n_refs - 1):
        r = rng.random()
        if r < 0.7:
            refs.append(corpus.perturb(rng, base, strength=rng.random() * 0.6))
        elif r < 0.85:
            refs.append(sample_text(rng, False))
        else:
            refs.append(rng.choice(["", base, corpus.mutate_case(rng, base)]))
    rng.shuffle(refs)
    if mode == "empty_hyp":
        hyp = rng.choice(["", "", " ", "\t"])
    elif mode == "empty_ref":
        refs[rng.randrange(n_refs)] = ""
        hyp = corpus.perturb(rng, base)
    elif mode == "all_refs_empty":
        refs = [""] * n_refs
        hyp = corpus.perturb(rng, base)
    elif mode == "longer_hyp":
        hyp = base + " " + corpus.rand_sentence(rng, 5, 30)
    elif mode == "identical":
        hyp = base
    elif mode == "unrelated":
        hyp = sample_text(rng, False)
    else:
        r = rng.random()
        if r < 0.05:
            hyp = ""
        elif r < 0.12:
            hyp = base
        elif r < 0.18:
            hyp = base + " " + corpus.rand_sentence(rng, 3, 15)
        elif r < 0.22:
            hyp = corpus.mutate_case(rng, base)
        elif r < 0.25:
            hyp = corpus.mutate_whitespace(rng, base)
        else:
            hyp = corpus.perturb(rng, base)
    return hyp, refs


def make_corpus(rng, n_samples, n_refs, mode="mixed", long_ok=True):
    hyps, refs = [], []
    for _ in range(n_samples):
        m = mode
        if mode == "mixed":
            m = rng.choice(["normal"] * 8 + ["empty_hyp", "empty_ref", "longer_hyp",
                                             "identical", "unrelated"])
        h, r = make_sample(rng, n_refs, m, long_ok)
        hyps.append(h)
        refs.append(r)
    return hyps, refs


def rand_n_samples(rng):
    r = rng.random()
    if r < 0.35:
        return 1
    if r < 0.7:
        return rng.randint(2, 6)
    return rng.randint(7, 30)


def transpose(refs):
    """Per-sample refs -> sacrebleu's reference streams."""
    n_refs = len(refs[0])
    assert 1 <= n_refs <= 4 and all(len(r) == n_refs for r in refs), refs
    return [[sample[i] for sample in refs] for i in range(n_refs)]


# ---------------------------------------------------------------------------
# BLEU
# ---------------------------------------------------------------------------

def bleu_dict(s):
    return {
        "score": s.score,
        "counts": list(s.counts),
        "totals": list(s.totals),
        "precisions": list(s.precisions),
        "bp": s.bp,
        "ratio": s.ratio,
        "sys_len": s.sys_len,
        "ref_len": s.ref_len,
    }


def bleu_case(name, options, hyps, refs):
    kw = dict(options)
    bleu = BLEU(tokenize=kw["tokenize"], smooth_method=kw["smooth_method"],
                smooth_value=kw["smooth_value"], lowercase=kw["lowercase"],
                effective_order=kw["effective_order"])
    corpus_score = bleu.corpus_score(hyps, transpose(refs))
    signature = str(bleu.get_signature())
    sentences = []
    for h, r in zip(hyps, refs):
        sentences.append(bleu_dict(bleu.sentence_score(h, r)))
    return {
        "name": name,
        "options": options,
        "hyps": hyps,
        "refs": refs,
        "corpus": bleu_dict(corpus_score),
        "sentences": sentences,
        "signature": signature,
    }


def smooth_value_for(rng, method):
    if method in ("floor", "add-k"):
        return rng.choice([None, None, None, 0.1, 0.01, 0.5, 1, 2, 0.25, 0])
    # ignored by exp/none; mostly null, sometimes a value to prove it is ignored
    return rng.choice([None] * 6 + [0.1, 1])


def gen_bleu(path):
    rng = random.Random(20240601)
    cases = []
    combos = list(itertools.product(TOKENIZERS, SMOOTHS, [False, True], [False, True]))
    idx = 0
    # Every option combination, several data sets each.
    for rep in range(5):
        for tok, sm, lc, eff in combos:
            opts = {"tokenize": tok, "smooth_method": sm,
                    "smooth_value": smooth_value_for(rng, sm),
                    "lowercase": lc, "effective_order": eff}
            n_refs = rng.choice([1, 1, 1, 2, 2, 3, 4])
            hyps, refs = make_corpus(rng, rand_n_samples(rng), n_refs,
                                     long_ok=(rng.random() < 0.15))
            cases.append(bleu_case(f"grid{rep}_{tok}_{sm}_lc{int(lc)}_eff{int(eff)}_{idx}",
                                   opts, hyps, refs))
            idx += 1

    def rand_opts():
        sm = rng.choice(SMOOTHS)
        return {"tokenize": rng.choice(TOKENIZERS), "smooth_method": sm,
                "smooth_value": smooth_value_for(rng, sm),
                "lowercase": rng.random() < 0.5,
                "effective_order": rng.random() < 0.5}

    # Edge-case corpora, each under a few option sets.
    special = []
    special.append(("empty_hyp_single", [""], [["The cat sat on the mat."]]))
    special.append(("empty_ref_single", ["The cat sat on the mat."], [[""]]))
    special.append(("both_empty", [""], [[""]]))
    special.append(("all_empty_corpus", ["", "", ""], [["", ""], ["", ""], ["", ""]]))
    special.append(("single_word_match", ["cat"], [["cat"]]))
    special.append(("single_word_mismatch", ["cat"], [["dog"]]))
    special.append(("two_words", ["the cat"], [["the cat"]]))
    special.append(("three_words", ["the cat sat"], [["the cat sat"]]))
    special.append(("repeated_words", ["the the the the the the the"],
                    [["the cat is on the mat", "there is a cat on the mat"]]))
    special.append(("hyp_longer", ["the cat sat on the mat and then it slept for a very long time"],
                    [["the cat sat on the mat"]]))
    special.append(("closest_ref_tie", ["a b c d e"], [["a b c d", "a b c d e f"]]))
    special.append(("closest_ref_tie2", ["a b c d e f"], [["a b c d e f g h", "a b c d"]]))
    special.append(("no_match_at_all", ["xyz uvw"], [["abc def ghi"]]))
    special.append(("only_unigram_match", ["cat dog bird fish"], [["fish bird dog cat"]]))
    special.append(("tokenized_period", ["It is done .", "Yes ."], [["It is done."], ["Yes."]]))
    special.append(("entities_13a", ["&quot;Hi&quot; &amp; &lt;b&gt; <skipped> ok"],
                    [["\"Hi\" & <b> ok"]]))
    special.append(("newlines", ["hyphen-\nated line\nbreak here"], [["hyphenated line break here"]]))
    special.append(("numbers", ["It costs 1,000.50 dollars, or 3.14 per 10,000 units."],
                    [["It costs 1,000.50 dollars , or 3.14 per 10,000 units ."]]))
    special.append(("numbers_end", ["The year was 2000.", "Pi is 3.14."],
                    [["The year was 2000 ."], ["Pi is 3.14 ."]]))
    special.append(("unicode_punct", ["“Quoted” — yes… «non» ¿qué? ¡sí! €5 ™ ©"],
                    [["\"Quoted\" - yes... <<non>> que? si! 5 EUR TM (c)"]]))
    special.append(("cjk", ["我们今天去北京。", "日本語のテキスト、句読点。", "한국어 문장입니다."],
                    [["我们明天去北京。"], ["日本語のテキスト。"], ["한국어 문장."]]))
    special.append(("cjk_mixed", ["Model GPT-4 得分 95.5 分 in 北京"], [["Model GPT-4 得分 96 分 in 北京"]]))
    special.append(("accents_case", ["CAFÉ NAÏVE Straße İstanbul ΟΔΟΣ"], [["café naïve straße istanbul οδος"]]))
    special.append(("hyphenation", ["state-of-the-art well-known e-mail 3-4"],
                    [["state of the art well known email 3 - 4"]]))
    special.append(("contractions", ["don't won't it's John's don’t"], [["do n't will not it is John 's don't"]]))
    special.append(("whitespace", ["  leading\tand   trailing \t ", "a\u00a0b\u3000c"],
                    [["leading and trailing"], ["a b c"]]))
    special.append(("emoji", ["Emoji 😀 test 👍🏽 done"], [["Emoji 😀 test 👍 done"]]))
    special.append(("mixed_case", ["ThE CaT SaT"], [["the cat sat"]]))
    special.append(("empty_ref_among_refs", ["the cat"], [["", "the cat sat", "a cat"]]))
    lw = corpus.long_text(rng, 1200)
    special.append(("very_long_line", [corpus.perturb(rng, lw, 0.2)], [[lw]]))
    lw2 = corpus.long_text(rng, 1050)
    special.append(("very_long_line_2refs", [lw2], [[corpus.perturb(rng, lw2, 0.3), corpus.perturb(rng, lw2, 0.1)]]))
    for name, hyps, refs in special:
        n_opt = 6
        for k in range(n_opt):
            opts = rand_opts()
            if k == 0:
                opts.update(tokenize="13a", smooth_method="exp", smooth_value=None,
                            lowercase=False, effective_order=False)
            if k == 1:
                opts.update(tokenize="13a", smooth_method="exp", smooth_value=None,
                            lowercase=False, effective_order=True)
            cases.append(bleu_case(f"special_{name}_{k}", opts, hyps, refs))

    # A few large corpora (~300 samples).
    for k, opts in enumerate([
            {"tokenize": "13a", "smooth_method": "exp", "smooth_value": None,
             "lowercase": False, "effective_order": False},
            {"tokenize": "intl", "smooth_method": "floor", "smooth_value": None,
             "lowercase": True, "effective_order": True},
            {"tokenize": "char", "smooth_method": "add-k", "smooth_value": None,
             "lowercase": False, "effective_order": True},
            {"tokenize": "none", "smooth_method": "none", "smooth_value": None,
             "lowercase": False, "effective_order": False}]):
        n_refs = [1, 2, 1, 3][k]
        hyps, refs = make_corpus(rng, rng.randint(290, 310), n_refs, long_ok=False)
        cases.append(bleu_case(f"large_{k}", opts, hyps, refs))

    with open(path, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    return len(cases)


# ---------------------------------------------------------------------------
# chrF
# ---------------------------------------------------------------------------

def chrf_case(name, options, hyps, refs):
    chrf = CHRF(char_order=options["char_order"], word_order=options["word_order"],
                beta=options["beta"], lowercase=options["lowercase"],
                whitespace=options["whitespace"], eps_smoothing=options["eps_smoothing"])
    cs = chrf.corpus_score(hyps, transpose(refs))
    signature = str(chrf.get_signature())
    sentences = [{"score": chrf.sentence_score(h, r).score} for h, r in zip(hyps, refs)]
    return {"name": name, "options": options, "hyps": hyps, "refs": refs,
            "corpus": {"score": cs.score}, "sentences": sentences,
            "signature": signature}


def gen_chrf(path):
    rng = random.Random(20240602)
    cases = []
    flags = list(itertools.product([False, True], repeat=3))
    idx = 0
    # Main grid: char_order 6, word_order 0/2, beta 1/2/3, all flag combinations.
    for rep in range(4):
        for wo in (0, 2):
            for beta in (2, 1, 3):
                if beta != 2 and rep >= 2:
                    continue
                for lc, ws, eps in flags:
                    opts = {"char_order": 6, "word_order": wo, "beta": beta,
                            "lowercase": lc, "whitespace": ws, "eps_smoothing": eps}
                    n_refs = rng.choice([1, 1, 1, 2, 2, 3, 4])
                    hyps, refs = make_corpus(rng, rand_n_samples(rng), n_refs,
                                             long_ok=(rng.random() < 0.1))
                    cases.append(chrf_case(f"grid{rep}_c6_w{wo}_b{beta}_lc{int(lc)}_ws{int(ws)}_eps{int(eps)}_{idx}",
                                           opts, hyps, refs))
                    idx += 1
    # Other orders.
    for co in (1, 2, 3, 4, 5, 8, 10):
        for wo in (0, 1, 2, 3):
            for _ in range(2):
                lc, ws, eps = rng.choice(flags)
                opts = {"char_order": co, "word_order": wo, "beta": rng.choice([1, 2, 2, 3]),
                        "lowercase": lc, "whitespace": ws, "eps_smoothing": eps}
                hyps, refs = make_corpus(rng, rand_n_samples(rng), rng.choice([1, 2, 3]),
                                         long_ok=False)
                cases.append(chrf_case(f"orders_c{co}_w{wo}_{idx}", opts, hyps, refs))
                idx += 1
    # Edge cases under every flag combination (chrF and chrF++).
    special = [
        ("empty_hyp", [""], [["The cat sat on the mat."]]),
        ("empty_ref", ["The cat sat on the mat."], [[""]]),
        ("both_empty", [""], [[""]]),
        ("whitespace_only", [" \t "], [["  "]]),
        ("single_char", ["a"], [["a"]]),
        ("single_word", ["cat"], [["cats"]]),
        ("short_vs_order", ["ab cd"], [["ab ce"]]),
        ("repeated", ["the the the the the"], [["the cat the mat"]]),
        ("hyp_longer", ["the cat sat on the mat and then it slept for a long time"], [["the cat sat"]]),
        ("punct_split", ["(hi) 'quoted' word. ,comma end!"], [["hi quoted word comma end"]]),
        ("punct_only_words", ["! ? . ,", "..."], [["! ?", "."], ["..", ". ."]]),
        ("unicode_punct", ["“Quoted” — yes… «non» ¿qué? ¡sí! €5 ™ ©"], [["\"Quoted\" - yes... non que? si! 5 TM"]]),
        ("cjk", ["我们今天去北京。", "日本語のテキスト", "한국어 문장입니다."], [["我们明天去北京。"], ["日本語"], ["한국어 문장."]]),
        ("accents_case", ["CAFÉ NAÏVE Straße İstanbul ΟΔΟΣ"], [["café naïve straße istanbul οδος"]]),
        ("numbers", ["1,000.50 3.14 10,000"], [["1000.50 3,14 10.000"]]),
        ("hyphen_apos", ["state-of-the-art don't it's"], [["state of the art do not it is"]]),
        ("tabs_spaces", ["a\tb  c   d", "  lead trail  "], [["a b c d"], ["lead trail"]]),
        ("multi_refs", ["the quick brown fox"], [["a quick brown dog", "the slow brown fox", "", "the quick brown fox jumps"]]),
        ("emoji", ["Emoji 😀 test 👍🏽"], [["Emoji 😀 test 👍"]]),
    ]
    for name, hyps, refs in special:
        for wo in (0, 2):
            for lc, ws, eps in flags:
                opts = {"char_order": 6, "word_order": wo, "beta": 2,
                        "lowercase": lc, "whitespace": ws, "eps_smoothing": eps}
                cases.append(chrf_case(f"special_{name}_w{wo}_lc{int(lc)}_ws{int(ws)}_eps{int(eps)}",
                                       opts, hyps, refs))
    lw = corpus.long_text(rng, 1100)
    for wo in (0, 2):
        opts = {"char_order": 6, "word_order": wo, "beta": 2, "lowercase": False,
                "whitespace": False, "eps_smoothing": False}
        cases.append(chrf_case(f"very_long_line_w{wo}", opts, [corpus.perturb(rng, lw, 0.2)], [[lw]]))
    for k, opts in enumerate([
            {"char_order": 6, "word_order": 0, "beta": 2, "lowercase": False, "whitespace": False, "eps_smoothing": False},
            {"char_order": 6, "word_order": 2, "beta": 2, "lowercase": False, "whitespace": False, "eps_smoothing": False},
            {"char_order": 6, "word_order": 2, "beta": 2, "lowercase": True, "whitespace": True, "eps_smoothing": True}]):
        hyps, refs = make_corpus(rng, rng.randint(290, 310), [1, 2, 1][k], long_ok=False)
        cases.append(chrf_case(f"large_{k}", opts, hyps, refs))

    with open(path, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    return len(cases)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    n = gen_bleu(os.path.join(OUT_DIR, "bleu.jsonl"))
    print(f"bleu.jsonl: {n} cases")
    n = gen_chrf(os.path.join(OUT_DIR, "chrf.jsonl"))
    print(f"chrf.jsonl: {n} cases")


if __name__ == "__main__":
    main()
