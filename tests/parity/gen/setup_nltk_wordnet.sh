#!/bin/sh
# Build an NLTK_DATA folder whose corpora/wordnet/ points at Debian's
# wordnet-base files (WordNet 3.0), so NLTK's wordnet reader works offline.
# Debian does not ship the `lexnames` file NLTK reads; it is derived here from
# the table in the lexnames(5WN) man page (file number, file name, and the
# syntactic category code 1-4 implied by the name's prefix).
#
# Usage: tests/parity/gen/setup_nltk_wordnet.sh [NLTK_DATA_DIR]   (default /tmp/nltk_data)
set -eu
DEST=${1:-/tmp/nltk_data}
WN_SRC=${WORDNET_DIR:-/usr/share/wordnet}
MAN=/usr/share/man/man5/lexnames.5WN.gz
PY=/usr/bin/python3

[ -f "$WN_SRC/index.noun" ] || { echo "no WordNet files in $WN_SRC: apt-get install wordnet-base" >&2; exit 1; }
[ -f "$MAN" ] || { echo "missing $MAN (part of wordnet-base)" >&2; exit 1; }

OUT="$DEST/corpora/wordnet"
mkdir -p "$OUT"
for f in "$WN_SRC"/*; do
    ln -sf "$f" "$OUT/$(basename "$f")"
done

# Table rows in the man page look like "NN<TAB>pos.name<TAB>description".
zcat "$MAN" | awk -F'\t' '
    /^[0-9][0-9]\t/ {
        name = $2; gsub(/[ ]+$/, "", name)
        split(name, parts, ".")
        cat = parts[1] == "noun" ? 1 : parts[1] == "verb" ? 2 : parts[1] == "adj" ? 3 : parts[1] == "adv" ? 4 : 0
        if (cat == 0) { print "unknown category for " name > "/dev/stderr"; exit 1 }
        printf "%s\t%s\t%d\n", $1, name, cat
    }' > "$OUT/lexnames.tmp"
n=$(wc -l < "$OUT/lexnames.tmp")
[ "$n" -eq 45 ] || { echo "expected 45 lexnames rows, got $n" >&2; exit 1; }
rm -f "$OUT/lexnames"
mv "$OUT/lexnames.tmp" "$OUT/lexnames"

NLTK_DATA="$DEST" "$PY" - <<'PYEOF'
from nltk.corpus import wordnet as wn
assert wn.get_version() == "3.0", wn.get_version()
dog = wn.synsets("dog")
assert dog and dog[0].name() == "dog.n.01", dog
print("NLTK WordNet", wn.get_version(), "ready:", len(dog), "synsets for 'dog'")
PYEOF
echo "export NLTK_DATA=$DEST"
