#!/bin/sh
# Peak memory on one huge field (issue 15's memory class): `yardstick
# tokenize --file` of an N MB text and `yardstick run` on a TSV document
# whose field is N MB, with the bundled tiny model (its window: 1024
# tokens), measured by GNU time's maximum resident set size.
#
#   sh bench/bench_long_field.sh [MB (20)] [BINARY (build/eval/yardstick)]
#
# A whole-text encoding keeps per-word scratch for the whole text (about 38
# bytes per input byte); since the long-text encoders (engine/tokenizer.h)
# only a piece of about 1 MB is encoded at a time, and a context longer
# than the window is encoded from a checked cut.
set -eu
cd "$(dirname "$0")/.."
mb=${1:-20}
bin=$(realpath "${2:-build/eval/yardstick}")
tiny=$(realpath tests/data/models/tiny)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$mb" "$dir" <<'PY'
import random, sys
mb, d = int(sys.argv[1]), sys.argv[2]
random.seed(1)
words = ["alpha", "beta", "gamma", "the", "of", "Z\u00fcrich", "42", "--", "x.", "don't", "   ", "\u2014"]
parts, n = [], 0
while n < mb * 1000000:
    w = random.choice(words)
    parts.append(w)
    n += len(w.encode()) + 1
text = " ".join(parts)
open(d + "/big.txt", "w").write(text)
import os
os.makedirs(d + "/specs"); os.makedirs(d + "/data/d")
open(d + "/data/d/dev.tsv", "w").write("sentence\tlabel\n" + text + "\t1\n")
open(d + "/specs/longf.json", "w").write('{"name": "longf", "dataset": {"format": "tsv", "header": true, '
    '"eval_split": "validation", "files": {"validation": "d/dev.tsv"}, "samples": {"validation": "d/dev.tsv"}}, '
    '"output_type": "multiple_choice", "doc_to_text": "{{sentence}}", "doc_to_choice": ["a", "b"], '
    '"doc_to_target": "{{label}}", "metrics": [{"metric": "acc"}]}\n')
PY
peak() { /usr/bin/time -f "%M %e" "$@" 2>&1 >/dev/null | tail -1; }
echo "field ${mb} MB, $bin"
set -- $(peak "$bin" tokenize --model "$tiny" --file "$dir/big.txt")
echo "tokenize --file:              peak RSS $(($1 / 1024)) MB, $2 s"
set -- $(peak "$bin" run --model "$tiny" --include-path "$dir/specs" --data-dir "$dir/data" --tasks longf --no-db)
echo "run (no store):               peak RSS $(($1 / 1024)) MB, $2 s"
set -- $(cd "$dir" && peak "$bin" run --model "$tiny" --include-path specs --data-dir data --tasks longf \
  --db r.db --output o.json --log-samples)
echo "run (store, --log-samples):   peak RSS $(($1 / 1024)) MB, $2 s"
