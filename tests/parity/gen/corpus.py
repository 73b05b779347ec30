"""Deterministic test-text generator shared by the parity vector generators.

Nothing here comes from a reference implementation: the word list and the
tricky strings are written for yardstick. Every function takes an explicit
``random.Random`` so that the generators are reproducible.
"""

import random

# Plain English words, including many morphological variants so that the
# Porter stemmer (rouge use_stemmer=True) has something to do.
WORDS = """
the a an of to and in on at by for with from into over under about after
before between through during without within against among
cat cats dog dogs house houses city cities country countries child children
man men woman women idea ideas system systems model models network networks
nation national nationally nationalization nationalize nations
run runs running runner ran rerun
walk walks walked walking walker
play plays played playing player players playful
jump jumps jumped jumping
happy happily happiness unhappy
quick quickly quicker quickest
slow slowly slower slowest
connect connected connecting connection connections connective
generate generated generating generation generations generator
relate related relating relation relational relationship
organize organized organizing organization organizations
compute computed computing computation computational computer computers
translate translated translating translation translations translator
evaluate evaluated evaluating evaluation evaluations
argue argued arguing argument arguments
agree agreed agreeing agreement agreements
hope hoped hoping hopeful hopefully hopeless
care cared caring careful carefully careless
use used using useful usefully usefulness
study studies studied studying student students
try tries tried trying
fly flies flew flying
easy easily easier easiest
good better best well
bad worse worst badly
make makes made making maker
take takes took taken taking
go goes went gone going
see sees saw seen seeing
say says said saying
know knows knew known knowing knowledge
think thinks thought thinking thinker
is are was were be been being has have had having do does did doing
not no yes very really quite rather too also only just even still
this that these those there here where when why how what which who whom
it its they them their he she his her we us our you your i me my
big bigger biggest small smaller smallest large larger largest
new newer newest old older oldest young younger youngest
red green blue yellow black white
one two three four five six seven eight nine ten hundred thousand million
time times year years day days week weeks month months hour hours
language languages sentence sentences word words letter letters
score scores scored scoring metric metrics measure measured measurement
reference references hypothesis hypotheses candidate candidates
test tests tested testing tester
result results resulting resulted
parity precision recall accuracy
sing sings sang sung singing singer
build builds built building buildings
write writes wrote written writing writer
read reads reading reader readers
conditional conditionally conditioning
rational rationality rationalize
operate operated operating operation operational operator
formal formality formalize formally
sensitive sensitivity sensitively
effective effectively effectiveness
adjust adjustable adjustment
depend dependent dependence dependency
electric electrical electricity electrician
hopping hopped hopper
caresses ponies ties cats feed agreed disabled matting mating meeting
milling messing meetings plastered motoring sing conflated troubling
sized hopping tanned falling hissing fizzed failing filing happy sky
generously analogously vietnamization predication operator feudalism
decisiveness hopefulness callousness formaliti sensitiviti sensibiliti
triplicate formative formalize electriciti electrical hopeful goodness
revival allowance inference airliner gyroscopic adjustable defensible
irritant replacement adjustment dependent adoption homologou communism
activate angulariti homologous effective bowdlerize probate rate cease
controlling rolling oscillators generalizations
""".split()

ACCENTED = """
café naïve résumé façade déjà vu über Straße Müller Größe señor año
niño jalapeño crème brûlée São Paulo Zürich Ångström Øresund Łódź
ÉCOLE Élève élève İstanbul ıI Σίσυφος ΟΔΟΣ Ελληνικά Москва привет
Ærø œuvre ﬁnance Kelvin«K» ﬀ Ǆemal ǅ ß ẞ
""".split()

CJK = """
中文 汉字 北京 我们 今天 天气 很好 学习 语言 模型 评估 测试
日本語 ひらがな カタカナ 東京 こんにちは ありがとう 評価
한국어 서울 안녕하세요 감사합니다 평가 모델
""".split()

NUMBERS = """
1,000.50 3.14 10,000 1.5 0.001 42 2024 1,000 100,000,000 -5 +7 3-4 1990s
12.5% $3.99 €20 £5 ¥100 7.0. 1.2.3 10:30 1/2 2nd 3rd 4th 98.6°F
""".split()

HYPHEN_APOS = """
state-of-the-art well-known e-mail co-operate self-driving long-term
x-ray mother-in-law twenty-one re-evaluate non-trivial up-to-date
don't won't can't isn't it's I'm you're they've we'd she'll o'clock
rock'n'roll ma'am y'all cats' children's James's l'homme aujourd'hui
don’t it’s I’m can’t O’Neill
""".split()

PUNCT_TOKENS = """
, . ! ? ; : ... “ ” ‘ ’ — – … « » ¿ ¡ € ™ © ® § ¶ • · ( ) [ ] { } " ' - _
/ \\ | @ # % ^ & * + = < > ~ ` ° ± × ÷ → ← ¬ ¤ ¢ 「 」 『 』 。 、 ！ ？ ： ；
""".split()

# Hand-written tricky strings (used as standalone texts and mixed into
# generated cases).
TRICKY = [
    "",
    " ",
    "   ",
    "\t",
    "a",
    "A",
    "word",
    "Word.",
    "the",
    "The the THE tHe",
    "a an the",
    "An apple a day.",
    "the the the the the the the the",
    "cat cat cat cat cat",
    "Hello, world!",
    "Hello ,world !",
    "  leading and trailing spaces  ",
    "\tTabs\tbetween\twords\t",
    "multiple    spaces     between   words",
    "mixed \t tabs \t\t and  spaces",
    "Line one.\nLine two.\nLine three.",
    "trailing newline\n",
    "\nleading newline",
    "double\n\nnewline",
    "Windows\r\nline ending",
    "The price is 1,000.50 dollars, not 10,000.",
    "Pi is 3.14, e is 2.718.",
    "In 1990, 3.5% of 10,000 people agreed.",
    "Version 1.2.3-beta was released on 2024-01-15.",
    "He paid $3.99 (plus €2.50 tax).",
    "It ended 3-4 after 90 minutes.",
    "The year 2000.",
    "state-of-the-art models are well-known",
    "A state of the art model",
    "don't do that, it's John's",
    "Don’t use curly apostrophes, it’s O’Neill’s",
    "“Quoted text” — with an em dash… and «guillemets»",
    "¿Qué pasa? ¡Nada!",
    "Price: €20 ™ © ®",
    "€ ™ © ® § ¶",
    "…",
    "“”",
    "—",
    "«»",
    "Café naïve résumé façade",
    "CAFÉ NAÏVE RÉSUMÉ",
    "Straße STRASSE straße",
    "İstanbul ISTANBUL istanbul",
    "ΟΔΟΣ οδος Σίσυφος",
    "Kelvin sign: 5 K and ﬁnance ﬀ",
    "中文测试句子，没有空格。",
    "我们今天去北京。",
    "日本語のテキスト、句読点。",
    "こんにちは、世界！",
    "한국어 문장입니다.",
    "안녕하세요, 세계!",
    "Mixed 中文 and English words 日本語 text",
    "Model GPT-4 得分 95.5 分",
    "Emoji 😀 test 👍🏽 done",
    "tab\tseparated\tvalues",
    "non\u00a0breaking\u00a0space",
    "ideographic\u3000space",
    "thin\u2009space and zero\u200bwidth",
    "en\u2002space em\u2003space",
    "unit\x1fseparator and record\x1eseparator",
    "vertical\x0btab and form\x0cfeed",
    "&quot;escaped&quot; &amp; &lt;tags&gt;",
    "<skipped> token here",
    "hyphen-\nated line break",
    "ends with tokenized period .",
    "(parenthesized) [bracketed] {braced}",
    "(hi) 'quoted' \"double\"",
    "a.b.c,d,e",
    "U.S.A. and e.g. i.e. etc.",
    "email@example.com http://example.com/path?q=1&r=2",
    "C++ and C# are languages; so is F#.",
    "50% of 1/2 is 1/4",
    "x^2 + y^2 = z^2",
    "under_score and back\\slash",
    "ALL CAPS SENTENCE HERE",
    "MiXeD CaSe WoRdS",
    "running runner runs ran",
    "connection connections connected connecting",
    "generously analogously happily",
    "nationalization organizations relational",
    "caresses ponies ties",
    "The cats are running quickly through the gardens.",
    "A cat runs quick through a garden.",
    "12345",
    "1 2 3 4 5",
    "one two three four five",
    "!!!",
    "...",
    "?",
    "- - -",
    "'",
]


def rand_word(rng, pools=None):
    """Pick one word; ``pools`` is a list of (weight, list) pairs."""
    if pools is None:
        pools = DEFAULT_POOLS
    total = sum(w for w, _ in pools)
    x = rng.random() * total
    for w, pool in pools:
        if x < w:
            return rng.choice(pool)
        x -= w
    return rng.choice(pools[-1][1])


DEFAULT_POOLS = [
    (80, WORDS),
    (5, ACCENTED),
    (3, CJK),
    (4, NUMBERS),
    (4, HYPHEN_APOS),
    (4, PUNCT_TOKENS),
]

PLAIN_POOLS = [(95, WORDS), (5, PUNCT_TOKENS[:6])]


def rand_sentence(rng, min_len=1, max_len=20, pools=None, capitalize=None,
                  end_punct=None):
    n = rng.randint(min_len, max_len)
    words = [rand_word(rng, pools) for _ in range(n)]
    if capitalize is None:
        capitalize = rng.random() < 0.6
    if capitalize and words and words[0][:1].isalpha():
        words[0] = words[0][:1].upper() + words[0][1:]
    s = " ".join(words)
    if end_punct is None:
        end_punct = rng.random() < 0.6
    if end_punct and s:
        s += rng.choice([".", ".", ".", "!", "?", " .", "…", "。"])
    return s


def mutate_case(rng, s):
    r = rng.random()
    if r < 0.3:
        return s.upper()
    if r < 0.6:
        return s.lower()
    return "".join(c.upper() if rng.random() < 0.3 else c for c in s)


def mutate_whitespace(rng, s):
    words = s.split(" ")
    seps = [" ", "  ", "\t", " \t ", "   "]
    out = words[0] if words else ""
    for w in words[1:]:
        out += rng.choice(seps) + w
    r = rng.random()
    if r < 0.3:
        out = "  " + out
    elif r < 0.5:
        out = out + " \t "
    elif r < 0.6:
        out = "\t" + out + "  "
    return out


def perturb(rng, s, strength=None, pools=None):
    """Produce a 'hypothesis' from a reference-like sentence."""
    if strength is None:
        strength = rng.random()
    words = s.split()
    out = []
    for w in words:
        r = rng.random()
        if r < strength * 0.25:
            continue  # drop
        if r < strength * 0.5:
            out.append(rand_word(rng, pools))  # replace
            continue
        out.append(w)
        if rng.random() < strength * 0.15:
            out.append(rand_word(rng, pools))  # insert
    if len(out) > 2 and rng.random() < strength * 0.5:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    res = " ".join(out)
    if rng.random() < 0.1:
        res = mutate_case(rng, res)
    if rng.random() < 0.1:
        res = mutate_whitespace(rng, res)
    return res


def long_text(rng, n_words, pools=None):
    return " ".join(rand_word(rng, pools) for _ in range(n_words))


def multi_line(rng, n_lines, min_len=2, max_len=15, pools=None):
    return "\n".join(rand_sentence(rng, min_len, max_len, pools)
                     for _ in range(n_lines))


def text(rng, pools=None):
    """A random text: usually a sentence, sometimes a tricky string or a
    long line."""
    r = rng.random()
    if r < 0.12:
        return rng.choice(TRICKY)
    if r < 0.14:
        return long_text(rng, rng.randint(1000, 1300), pools)
    if r < 0.20:
        return rand_sentence(rng, 1, 2, pools)
    if r < 0.25:
        return mutate_whitespace(rng, rand_sentence(rng, 2, 12, pools))
    if r < 0.30:
        return mutate_case(rng, rand_sentence(rng, 2, 12, pools))
    return rand_sentence(rng, 3, 25, pools)
