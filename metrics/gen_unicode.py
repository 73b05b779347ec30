#!/usr/bin/python3
"""Write metrics/unicode_tables.c: the one set of Unicode tables behind
metrics/ys_unicode.h, for the metrics (Python's answers) and the tokenizers
(HF tokenizers' answers) alike.

Source: the Unicode 15.0 Character Database of Debian's unicode-data
(/usr/share/unicode). From it, one table of runs of code points that share
every property the library needs (general category, the age bucket of
DerivedAge.txt, grapheme break class, White_Space, Numeric_Type, Cased,
Case_Ignorable, canonical combining class), one lower-case map (Unicode 15
full unconditional mapping: UnicodeData's simple one replaced by
SpecialCasing's unconditional ones) and the canonical decompositions and
compositions.

The older versions the callers follow are derived at lookup time from the
age bucket (a code point assigned later than the version has no properties
there), plus small generated tables of the code points whose answer still
differs:
- the tokenizers' Unicode 8.0 (control, punctuation, Mn: the
  unicode_categories crate 0.1.1) and 9.0 (marks, NFC:
  unicode-normalization-alignments 0.1.12) categories: the six and three
  code points whose general category changed since (UnicodeData.txt 8.0.0
  and 9.0.0 against 15.0.0; those files are not on the machine, so the lists
  are written out below);
- Python 3.11's (unicodedata 14.0) str.isspace, re's \\w, str.lower and the
  Cased / Case_Ignorable its final-sigma rule uses, and the `regex` module's
  \\p{N}/\\p{P}/\\p{S} (Debian's python3-regex 2022.10.31, regex 2.5.123,
  whose tables are Unicode 15.0): every code point where Python's answer
  differs from the rule applied to the Unicode 15 data is listed, asked of
  the Python itself.

Run with Debian's interpreter and python3-regex, from the repository root:
    /usr/bin/python3 metrics/gen_unicode.py
It checks that it runs on that Python (the tables would silently follow
another Unicode version otherwise).
"""
import re
import sys
import unicodedata

import regex

UCD = '/usr/share/unicode/'
MAXCP = 0x110000
OUT = 'metrics/unicode_tables.c'

if unicodedata.unidata_version != '14.0.0' or regex.__version__ != '2.5.123':
    sys.exit('run with Debian 12\'s /usr/bin/python3 (unicodedata 14.0.0) and python3-regex (2.5.123), not '
             f'unicodedata {unicodedata.unidata_version} / regex {regex.__version__}')

GC = ['Cn', 'Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Pc', 'Pd', 'Ps', 'Pe', 'Pi',
      'Pf', 'Po', 'Sm', 'Sc', 'Sk', 'So', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Cs', 'Co']
GCB = ['Other', 'CR', 'LF', 'Control', 'Extend', 'ZWJ', 'Regional_Indicator', 'Prepend', 'SpacingMark', 'L',
       'V', 'T', 'LV', 'LVT']  # then 14: Extended_Pictographic (never has another break class)
# age buckets: the versions callers ask about
AGE_8, AGE_9, AGE_14, AGE_15 = 0, 1, 2, 3
# General categories that changed between Unicode 8.0 / 9.0 and 15.0 for the
# code points of the tokenizers' classes (checked against the crates' tables)
UNICODE8_CATEGORY = {0x1734: 'Mn', 0x111C9: 'Po', 0x166D: 'Po', 0x1885: 'Mc', 0x1886: 'Mc', 0xA9BD: 'Mc'}
UNICODE9_CATEGORY = {0x111C9: 'Po', 0x1CF2: 'Mc', 0x1CF3: 'Mc'}
# bits of the props word (also in unicode_tables.c's header comment and ys_unicode.c)
B_GC, B_AGE, B_GCB, B_WS, B_NUM, B_CASED, B_CI, B_NFCU, B_CCC = 0, 5, 7, 11, 12, 13, 14, 15, 16
# bits of the Python answers (uni_py_fix)
PY_SPACE, PY_WORD, PY_N, PY_P, PY_S, PY_CASED, PY_CI = 1, 2, 4, 8, 16, 32, 64


def parse(path, want=None):
    """yield (lo, hi, value) from a UCD property file"""
    for line in open(UCD + path, encoding='utf-8'):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        f = [x.strip() for x in line.split(';')]
        lo, _, hi = f[0].partition('..')
        if want is None or f[1] == want:
            yield int(lo, 16), int(hi or lo, 16), f[1]


def flag(path, want):
    out = bytearray(MAXCP)
    for lo, hi, _ in parse(path, want):
        out[lo:hi + 1] = b'\1' * (hi - lo + 1)
    return out


age = bytearray([AGE_15]) * MAXCP
for lo, hi, v in parse('DerivedAge.txt'):
    ver = tuple(int(x) for x in v.split('.'))
    b = AGE_8 if ver <= (8, 0) else AGE_9 if ver <= (9, 0) else AGE_14 if ver <= (14, 0) else AGE_15
    age[lo:hi + 1] = bytes([b]) * (hi - lo + 1)

gc = bytearray(MAXCP)
ccc = bytearray(MAXCP)
decomp = {}
lower = {}
first = None
for line in open(UCD + 'UnicodeData.txt', encoding='utf-8'):
    f = line.rstrip('\n').split(';')
    cp = int(f[0], 16)
    if f[1].endswith(', First>'):
        first = cp
        continue
    lo = first if f[1].endswith(', Last>') else cp
    for c in range(lo, cp + 1):
        gc[c] = GC.index(f[2])
        ccc[c] = int(f[3])
    if f[5] and not f[5].startswith('<'):
        decomp[cp] = [int(x, 16) for x in f[5].split()]
    if f[13]:
        lower[cp] = [int(f[13], 16)]
for line in open(UCD + 'SpecialCasing.txt', encoding='utf-8'):
    f = [x.strip() for x in line.split('#', 1)[0].split(';')]
    if len(f) < 4 or (len(f) > 4 and f[4]):
        continue  # blank, or a conditional mapping (Rust's to_lowercase and Python's lower() skip them)
    cp, low = int(f[0], 16), [int(x, 16) for x in f[1].split()]
    if low != [cp]:
        lower[cp] = low
    else:
        lower.pop(cp, None)

gcb = bytearray(MAXCP)
for lo, hi, v in parse('auxiliary/GraphemeBreakProperty.txt'):
    gcb[lo:hi + 1] = bytes([GCB.index(v)]) * (hi - lo + 1)
for lo, hi, _ in parse('emoji/emoji-data.txt', 'Extended_Pictographic'):
    for c in range(lo, hi + 1):
        assert gcb[c] == 0
        gcb[c] = 14
ws = flag('PropList.txt', 'White_Space')
cased = flag('DerivedCoreProperties.txt', 'Cased')
ci = flag('DerivedCoreProperties.txt', 'Case_Ignorable')
num = bytearray(MAXCP)
for lo, hi, _ in parse('extracted/DerivedNumericType.txt'):
    num[lo:hi + 1] = b'\1' * (hi - lo + 1)
fce = flag('DerivedNormalizationProps.txt', 'Full_Composition_Exclusion')

# ---- NFC of the tokenizers: Unicode 9.0 (later code points are starters
# that never change); the stability policy keeps 9.0's decompositions,
# combining classes and exclusions for the older code points
SBASE, LBASE, VBASE, TBASE = 0xAC00, 0x1100, 0x1161, 0x11A7


def canon9(c):
    return decomp.get(c) if age[c] <= AGE_9 else None


def full9(c):
    d = canon9(c)
    return [c] if d is None else [x for y in d for x in full9(y)]


pairs, unsafe = [], bytearray(MAXCP)
decomps9 = []
for c in range(MAXCP):
    d = canon9(c)
    if age[c] <= AGE_9 and ccc[c]:
        unsafe[c] = 1
    if d is None:
        continue
    decomps9.append((c, full9(c)))
    if fce[c]:
        unsafe[c] = 1  # NFC(c) != c
    else:
        assert len(d) == 2
        pairs.append((d[0], d[1], c))
        unsafe[d[1]] = 1
for c in list(range(VBASE, VBASE + 21)) + list(range(TBASE + 1, TBASE + 28)):
    unsafe[c] = 1
pairs.sort()


# ---- the run table
def props(c):
    return (gc[c] << B_GC | age[c] << B_AGE | gcb[c] << B_GCB | ws[c] << B_WS | num[c] << B_NUM
            | cased[c] << B_CASED | ci[c] << B_CI | unsafe[c] << B_NFCU | ccc[c] << B_CCC)


runs = []
for c in range(MAXCP):
    p = props(c)
    if not runs or runs[-1][1] != p:
        runs.append((c, p))


# ---- Python: the rule on the Unicode 15 data, then the exceptions
def py_rule(c):
    """what ys_unicode.c derives for Python from the run table"""
    if 0xD800 <= c <= 0xDFFF:
        return 0  # Python can match a lone surrogate in a str; UTF-8 text never has one
    g = GC[gc[c]]
    out = 0
    old = age[c] <= AGE_14  # str methods and re: Unicode 14.0
    if old and ws[c]:
        out |= PY_SPACE
    if old and (g[0] == 'L' or num[c] or c == 0x5F):
        out |= PY_WORD
    if g[0] == 'N':  # the regex module: Unicode 15.0
        out |= PY_N
    if g[0] == 'P':
        out |= PY_P
    if g[0] == 'S':
        out |= PY_S
    # ys_unicode.c asks Case_Ignorable first (Python's final-sigma scan skips
    # ignorable code points before it looks for a cased one), so a code point
    # that is both counts as ignorable only
    if old and ci[c]:
        out |= PY_CI
    elif old and cased[c]:
        out |= PY_CASED
    return out


cat_n, cat_p, cat_s, word = regex.compile(r'\p{N}'), regex.compile(r'\p{P}'), regex.compile(r'\p{S}'), re.compile(r'\w')


def fin(s):
    return s.lower().endswith('\u03c2')


def py_truth(c):
    if 0xD800 <= c <= 0xDFFF:
        return 0
    ch = chr(c)
    out = 0
    out |= PY_SPACE if ch.isspace() else 0
    out |= PY_WORD if word.match(ch) else 0
    out |= PY_N if cat_n.match(ch) else 0
    out |= PY_P if cat_p.match(ch) else 0
    out |= PY_S if cat_s.match(ch) else 0
    # Final_Sigma's properties, read off str.lower() itself (Python does not
    # expose them): "cΣ" gives ς only when c is cased and not ignorable;
    # "AcΣ" when c is either
    is_cased = fin(ch + '\u03a3')
    out |= PY_CASED if is_cased else 0
    out |= PY_CI if not is_cased and fin('A' + ch + '\u03a3') else 0
    return out


py_fix = []
for c in range(MAXCP):
    r = py_rule(c)
    t = py_truth(c)
    if r != t:
        py_fix.append((c, r ^ t))


def lower15(c):
    return lower.get(c, [c])


py_lower_fix = []
for c in range(MAXCP):
    if 0xD800 <= c <= 0xDFFF:
        continue
    rule = lower15(c) if age[c] <= AGE_14 else [c]
    truth = [ord(x) for x in chr(c).lower()]
    if rule != truth:
        py_lower_fix.append((c, truth))

ascii_flags = []
for c in range(128):
    t = py_truth(c)
    ascii_flags.append((1 if t & PY_SPACE else 0) | (2 if t & PY_WORD else 0) | (4 if t & PY_N else 0)
                       | (8 if t & PY_P else 0) | (16 if t & PY_S else 0))

# ---- write
lines = []
w = lines.append
w('/* Generated by metrics/gen_unicode.py from the Unicode 15.0 UCD of Debian\'s unicode-data and, for the')
w(' * code points where Python\'s answers differ, Python %s (unicodedata %s) with regex %s. Do not edit.'
  % (sys.version.split()[0], unicodedata.unidata_version, regex.__version__))
w(' * props: general category (bits 0-4, UNI_CN..UNI_CO of ys_unicode.h), age bucket (5-6: 8.0, 9.0, 10.0-14.0,')
w(' * 15.0 or unassigned), grapheme break class (7-10), White_Space (11), Numeric_Type (12), Cased (13),')
w(' * Case_Ignorable (14), may change under the tokenizers\' Unicode 9.0 NFC (15), combining class (16-23). */')
w('#include "unicode_tables.h"\n')
w('const uni_run uni_runs[] = {')
for i in range(0, len(runs), 4):
    w('    ' + ' '.join('{0x%X, 0x%X},' % r for r in runs[i:i + 4]))
w('};')
w('const size_t uni_runs_len = %d;\n' % len(runs))


def fixes(name, d):
    w('const uni_fix %s[] = {' % name)
    items = sorted(d.items())
    for i in range(0, len(items), 6):
        w('    ' + ' '.join('{0x%X, %d},' % (c, GC.index(g)) for c, g in items[i:i + 6]))
    w('};')
    w('const size_t %s_len = %d;\n' % (name, len(items)))


w('/* general category in Unicode 8.0 / 9.0 where it differs from 15.0 (value: GC index) */')
fixes('uni_gc8_fix', UNICODE8_CATEGORY)
fixes('uni_gc9_fix', UNICODE9_CATEGORY)
w('/* Python answers that differ from the rule of ys_unicode.c (value: the bits to flip) */')
w('const uni_fix uni_py_fix[] = {')
for i in range(0, len(py_fix), 6):
    w('    ' + ' '.join('{0x%X, %d},' % f for f in py_fix[i:i + 6]))
w('};')
w('const size_t uni_py_fix_len = %d;\n' % len(py_fix))
w('const unsigned char uni_ascii_flags[128] = {')
for k in range(0, 128, 16):
    w('    ' + ', '.join(str(x) for x in ascii_flags[k:k + 16]) + ',')
w('};\n')

pool = []


def pooled(seq):
    off = len(pool)
    pool.extend(seq)
    return off


w('/* Unicode 15.0 full lower-case mapping (code point, offset in uni_pool, length) */')
ents = [(c, pooled(lower[c]), len(lower[c])) for c in sorted(lower)]
w('const uni_map uni_lower_map[] = {')
for i in range(0, len(ents), 5):
    w('    ' + ' '.join('{0x%X, %d, %d},' % e for e in ents[i:i + 5]))
w('};')
w('const size_t uni_lower_map_len = %d;\n' % len(ents))
w('/* Python 3.11\'s str.lower() where it differs from the rule (Unicode 15.0 up to 14.0 code points) */')
ents = [(c, pooled(t), len(t)) for c, t in py_lower_fix]
w('const uni_map uni_py_lower_fix[] = {')
for i in range(0, len(ents), 5):
    w('    ' + ' '.join('{0x%X, %d, %d},' % e for e in ents[i:i + 5]))
if not ents:
    w('    {0, 0, 0}, /* none: C has no empty arrays */')
w('};')
w('const size_t uni_py_lower_fix_len = %d;\n' % len(ents))
w('/* full canonical decompositions of Unicode 9.0 (Hangul syllables are algorithmic) */')
ents = [(c, pooled(d), len(d)) for c, d in decomps9]
w('const uni_map uni_decomp9[] = {')
for i in range(0, len(ents), 5):
    w('    ' + ' '.join('{0x%X, %d, %d},' % e for e in ents[i:i + 5]))
w('};')
w('const size_t uni_decomp9_len = %d;\n' % len(ents))
w('/* primary composites of Unicode 9.0: (first, second) -> composite, sorted */')
w('const uni_comp uni_comp9[] = {')
for i in range(0, len(pairs), 4):
    w('    ' + ' '.join('{0x%X, 0x%X, 0x%X},' % p for p in pairs[i:i + 4]))
w('};')
w('const size_t uni_comp9_len = %d;\n' % len(pairs))
w('const uint32_t uni_pool[] = {')
for i in range(0, len(pool), 10):
    w('    ' + ' '.join('0x%X,' % c for c in pool[i:i + 10]))
w('};')
with open(OUT, 'w') as f:
    f.write('\n'.join(lines) + '\n')
print('%s: %d runs, %d Python class fixes, %d Python lower fixes, %d lower, %d decompositions, %d compositions'
      % (OUT, len(runs), len(py_fix), len(py_lower_fix), len(lower), len(decomps9), len(pairs)), file=sys.stderr)
