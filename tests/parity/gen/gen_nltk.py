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


GENERATORS = {"porter": gen_porter}


def main(argv):
    if wn.get_version() != "3.0":
        sys.exit("NLTK's WordNet is not 3.0; run setup_nltk_wordnet.sh and set NLTK_DATA")
    assert nltk.__version__ == "3.8", nltk.__version__
    names = argv[1:] or list(GENERATORS)
    for name in names:
        GENERATORS[name]()


if __name__ == "__main__":
    main(sys.argv)
