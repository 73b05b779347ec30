#!/usr/bin/python3
"""Parity vectors from NLTK 3.8 (Debian python3-nltk): Porter stemmer,
WordNet synonym lookup and METEOR.

Run from the repository root with Debian's interpreter, after building an
NLTK_DATA folder with setup_nltk_wordnet.sh:

    NLTK_DATA=/tmp/nltk_data /usr/bin/python3 tests/parity/gen/gen_nltk.py [porter|wordnet|meteor ...]

Output is deterministic (fixed seeds, sorted inputs) and written to
tests/parity/vectors/{porter,wordnet,meteor}.jsonl.
"""
import json
import os
import random
import sys

import nltk
from nltk.corpus import wordnet as wn
from nltk.stem.porter import PorterStemmer
from nltk.translate.meteor_score import meteor_score

OUT_DIR = os.path.join("tests", "parity", "vectors")


def write_jsonl(name, rows):
    path = os.path.join(OUT_DIR, name)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} cases", file=sys.stderr)


def wordnet_words():
    """Sorted single-word lemma names of WordNet (lower-cased)."""
    names = {n.lower() for n in wn.all_lemma_names() if "_" not in n}
    return sorted(names)


def exception_words():
    """Inflected forms listed in the *.exc files."""
    words = set()
    for pos in ("noun", "verb", "adj", "adv"):
        with wn.open(f"{pos}.exc") as f:
            for line in f:
                parts = line.split()
                if parts:
                    words.add(parts[0])
    return sorted(words)


# Every suffix some Porter rule (or NLTK extension) looks at.
PORTER_SUFFIXES = [
    "sses", "ies", "ss", "s", "eed", "ed", "ing", "ied", "at", "bl", "iz", "y",
    "ational", "tional", "enci", "anci", "izer", "bli", "abli", "alli", "entli",
    "eli", "ousli", "ization", "ation", "ator", "alism", "iveness", "fulness",
    "ousness", "aliti", "iviti", "biliti", "fulli", "logi", "icate", "ative",
    "alize", "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic",
    "able", "ible", "ant", "ement", "ment", "ent", "sion", "tion", "ion", "ou",
    "ism", "ate", "iti", "ous", "ive", "ize", "e", "ll", "*d",
]
PORTER_STEMS = ["", "b", "a", "tr", "ab", "feed", "hop", "cont", "relat", "form",
                "sens", "happ", "generaliz", "y", "oy", "ey", "syzyg", "geo",
                "theo", "archaeo", "fil", "ro", "cat", "pon", "ti", "sp",
                "d", "zz", "ca", "ha", "ceas", "controll", "é", "naïv", "ñ"]
NLTK_SPECIAL = ["sky", "skies", "dying", "lying", "tying", "news", "innings",
                "inning", "outings", "outing", "cannings", "canning", "howe",
                "proceed", "exceed", "succeed", "dies", "died", "ties", "tied",
                "lies", "lied", "spied", "flies", "cries", "enjoy", "by", "spy",
                "fly", "try", "happy", "sly", "generically", "generalli",
                "digitalli", "geology", "theology", "archaeology", "analogi",
                "fulli", "hopefulli", "rationalli", "a*d", "oo*d", "x*ded",
                "ba*ding", "*d", "**d", "feed", "agreed", "bled", "sing",
                "plastered", "motoring", "conflated", "troubled", "sized",
                "hopping", "tanned", "falling", "hissing", "fizzed", "failing",
                "filing", "controlling", "rolling", "probate", "rate", "cease"]
NON_ASCII = ["café", "cafés", "naïve", "naïvety", "résumés", "señoras", "jalapeños",
             "übermäßig", "größer", "straße", "çalışıyor", "niño", "niños", "ëy",
             "aëy", "éy", "ée", "ing", "éing", "ééing", "ééed", "bééd", "ññing",
             "わたし", "日本語", "東京は", "ぁぁ", "ぁぁing", "ぁぁed", "ぁぁs", "aぁぁing", "oššed", "ałłing", "ullll",
             "кошки", "собаки", "λόγος", "émotional", "réalization", "dé",
             "é", "éé", "éés", "ǆs", "ﬁles", "ﬂies", "ßs", "ı", "ıes", "i̇ng",
             "🙂", "🙂s", "🙂🙂ing", "a🙂ed", "x😀y", "ãy", "øy", "çy", "ĳs",
             "ǅ", "ωing", "œuvres", "æsthetic"]


def porter_words():
    rng = random.Random(20240601)
    words = set()
    wnw = wordnet_words()
    words.update(rng.sample(wnw, 1500))
    # Inflected forms of a sample of base words.
    bases = rng.sample([w for w in wnw if w.isalpha() and len(w) > 2], 120)
    for b in bases:
        for suf in ("s", "es", "ed", "ing", "er", "est", "ly", "ness", "ment",
                    "ation", "ational", "izer", "ization", "ful", "fully"):
            words.add(b + suf)
    words.update(exception_words()[::4])
    for stem in PORTER_STEMS:
        for suf in PORTER_SUFFIXES:
            words.add(stem + suf)
    words.update(NLTK_SPECIAL)
    words.update(NON_ASCII)
    # Short words and y-words.
    letters = "abeiosty"
    for a in letters:
        words.add(a)
        for b in letters:
            words.add(a + b)
            for c in "aeyst":
                words.add(a + b + c)
    words.update(rng.sample([w for w in wnw if w.endswith("y")], 300))
    words.add("")
    words.add("yyyy")
    words.add("y" * 70)
    words.add("ab" * 40 + "ational")
    words.add("é" * 70 + "ing")
    return sorted(w for w in words if w == w.lower())


def gen_porter():
    stemmer = PorterStemmer()
    rows = [{"word": w, "stem": stemmer.stem(w)} for w in porter_words()]
    write_jsonl("porter.jsonl", rows)


WORDNET_SPECIAL = [
    "geese", "ran", "better", "best", "worse", "went", "was", "were", "are", "is",
    "been", "mice", "children", "feet", "teeth", "women", "men", "oxen", "bought",
    "dog", "dogs", "cats", "running", "ran", "runs", "happier", "happiest", "flies",
    "boxes", "churches", "dishes", "wolves", "buses", "quizzes", "ladies", "leaves",
    "firemen", "axes", "aurar", "diastemata", "involucra", "offer", "offers",
    "sudatoria", "ice", "ice_cream", "hot_dog", "us", "u.s.", "a", "i", "the", "of",
    "and", "to", "in", "it", "not", "no", "car", "cars", "automobile", "quick",
    "quickly", "fast", "fastest", "good", "well", "gooder", "big", "bigger", "biggest",
    "large", "larger", "hot", "hotter", "ate", "eaten", "eating", "eats", "sang",
    "sung", "singing", "swam", "children's", "rock'n'roll", "e-mail", "x-ray",
    "20th", "1", "10", "3d", "", " ", "_", "-", "'", "s", "es", "ing", "ed", "er",
    "est", "ses", "ies", "men", "ches", "sses", "ssses", "eseseses", "sesesesing",
    "bussesses", "happi", "gener", "gui", "action", "ensur", "militari", "alway",
    "obei", "command", "parti", "heed", "forev", "Dog", "GEESE", "Running",
    "Better", "ICE_CREAM", "\u212aitten", "caf\u00e9", "na\u00efve", "\u00c9t\u00e9",
    "\u65e5\u672c", "stra\u00dfe", "running(a)", "out(p)", "dog n",
]


def wordnet_lemmas(word):
    names = {l.name() for s in wn.synsets(word) for l in s.lemmas()}
    return sorted(n for n in names if "_" not in n)


def gen_wordnet():
    rng = random.Random(20240602)
    wnw = wordnet_words()
    words = set(WORDNET_SPECIAL)
    words.update(rng.sample(wnw, 900))
    words.update(rng.sample(exception_words(), 300))
    bases = rng.sample([w for w in wnw if w.isalpha() and len(w) > 2], 120)
    for b in bases:
        for suf in ("s", "es", "ed", "ing", "er", "est", "ies", "men", "ses", "ves"):
            words.add(b + suf)
    stemmer = PorterStemmer()
    words.update(stemmer.stem(w) for w in rng.sample(wnw, 300))
    rows = [{"word": w, "lemmas": wordnet_lemmas(w)} for w in sorted(words)]
    write_jsonl("wordnet.jsonl", rows)


def example_sentences():
    """Deterministic natural sentences: WordNet's usage examples."""
    out = []
    for ss in wn.all_synsets("v"):
        for ex in ss.examples():
            if 5 <= len(ex.split()) <= 30:
                out.append(ex)
    return out


def synonym_swap(rng, words):
    """Replace some words by a WordNet synonym (single-word lemma)."""
    out = []
    for w in words:
        syns = sorted({l.name() for s in wn.synsets(w) for l in s.lemmas()
                       if "_" not in l.name() and l.name().lower() != w.lower()})
        if syns and rng.random() < 0.5:
            out.append(rng.choice(syns))
        else:
            out.append(w)
    return out


def inflect(rng, words):
    out = []
    for w in words:
        r = rng.random()
        if w.isalpha() and r < 0.2:
            out.append(w + "s")
        elif w.isalpha() and r < 0.3:
            out.append(w + "ing")
        elif w.isalpha() and r < 0.4:
            out.append(w + "ed")
        else:
            out.append(w)
    return out


def reorder(rng, words):
    words = list(words)
    if len(words) > 3:
        k = rng.randrange(1, len(words) - 1)
        words = words[k:] + words[:k]
    if len(words) > 5 and rng.random() < 0.5:
        i, j = sorted(rng.sample(range(len(words)), 2))
        words[i], words[j] = words[j], words[i]
    return words


def drop_and_repeat(rng, words):
    out = []
    for w in words:
        r = rng.random()
        if r < 0.15:
            continue
        out.append(w)
        if r > 0.9:
            out.append(w)
    return out


def case_mix(rng, words):
    return [w.upper() if rng.random() < 0.2 else (w.capitalize() if rng.random() < 0.2 else w)
            for w in words]


PERTURB = [synonym_swap, inflect, reorder, drop_and_repeat, case_mix]

METEOR_FIXED = [
    ("It is a guide to action which ensures that the military always obeys the commands of the party",
     ["It is a guide to action that ensures that the military will forever heed Party commands",
      "It is the guiding principle which guarantees the military forces always being under the command of the Party",
      "It is the practical guide for the army always to heed the directions of the party"]),
    ("It is to insure the troops forever hearing the activity guidebook that party direct",
     ["It is a guide to action that ensures that the military will forever heed Party commands"]),
    ("non matching hypothesis", ["this is a cat"]),
    ("", ["this is a cat"]),
    ("this is a cat", [""]),
    ("", [""]),
    (" ", [" "]),
    ("a", ["a"]),
    ("a", ["b"]),
    ("cat", ["cats"]),
    ("dog", ["domestic_dog"]),
    ("dog", ["hound"]),
    ("quick", ["fast"]),
    ("the cat sat", ["the  cat sat"]),
    ("the  cat  sat ", ["the cat sat"]),
    ("the the the the", ["the"]),
    ("the", ["the the the the"]),
    ("a b c d e f", ["f e d c b a"]),
    ("a b c d e f", ["a b c", "d e f", "a b c d e f"]),
    ("geese ran better", ["goose run good"]),
    ("the geese were running", ["a goose is running"]),
    ("he bought cars", ["he purchased automobiles"]),
    ("Café au lait", ["café AU LAIT"]),
    ("naïve résumé", ["NAÏVE RÉSUMÉ"]),
    ("İstanbul straße", ["i̇stanbul STRASSE"]),
    ("東京 は 日本 の 首都 です", ["日本 の 首都 は 東京 です"]),
    ("東京は日本の首都です", ["東京は日本の首都です"]),
    ("Σίσυφος ΟΔΥΣΣΕΥΣ", ["σίσυφος οδυσσευς"]),
    ("happy happiness happily", ["happiness happy happier"]),
    ("running runs ran", ["run run run"]),
    ("\tcat\t", ["cat"]),
    ("cat\ndog", ["cat dog"]),
]


def meteor_cases():
    rng = random.Random(20240603)
    sents = example_sentences()
    cases = [(h, list(r)) for h, r in METEOR_FIXED]
    for _ in range(420):
        ref = rng.choice(sents)
        words = ref.split(" ")
        for f in rng.sample(PERTURB, rng.randint(1, 3)):
            words = f(rng, words)
        hyp = " ".join(words)
        refs = [ref]
        r = rng.random()
        if r < 0.3:
            refs.append(rng.choice(sents))
        elif r < 0.4:
            refs = [rng.choice(sents), ref, " ".join(synonym_swap(rng, ref.split(" ")))]
        if rng.random() < 0.5:
            hyp, refs = refs[0], [hyp] + refs[1:]
        cases.append((hyp, refs))
    # Long sentences: several examples joined, lightly perturbed.
    for _ in range(60):
        ref = " ".join(rng.sample(sents, rng.randint(3, 6)))
        words = ref.split(" ")
        for f in rng.sample(PERTURB, 2):
            words = f(rng, words)
        cases.append((" ".join(words), [ref]))
    # Unrelated pairs (mostly function-word matches).
    for _ in range(40):
        cases.append((rng.choice(sents), [rng.choice(sents), rng.choice(sents)]))
    return cases


def meteor_of(hyp, refs):
    return meteor_score([r.split(" ") for r in refs], hyp.split(" "))


def gen_meteor():
    rows = [{"prediction": h, "references": r, "score": meteor_of(h, r)}
            for h, r in meteor_cases()]
    write_jsonl("meteor.jsonl", rows)


def bench_pairs(n=3000, seed=7):
    """n hypothesis/reference pairs of about 25 words (for timing)."""
    rng = random.Random(seed)
    sents = example_sentences()
    pairs = []
    for _ in range(n):
        ref = " ".join(rng.sample(sents, 3)).split(" ")[:25]
        words = ref
        for f in rng.sample(PERTURB, 2):
            words = f(rng, words)
        pairs.append((" ".join(words), [" ".join(ref)]))
    return pairs


GENERATORS = {"porter": gen_porter, "wordnet": gen_wordnet, "meteor": gen_meteor}


def main(argv):
    if wn.get_version() != "3.0":
        sys.exit("NLTK's WordNet is not 3.0; run setup_nltk_wordnet.sh and set NLTK_DATA")
    assert nltk.__version__ == "3.8", nltk.__version__
    names = argv[1:] or list(GENERATORS)
    for name in names:
        GENERATORS[name]()


if __name__ == "__main__":
    main(sys.argv)
