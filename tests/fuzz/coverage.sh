#!/bin/sh
# Line coverage of the parsers by the fuzz corpora: builds the harnesses
# with llvm-cov instrumentation (build-fuzzcov), runs each over its corpus
# (committed inputs plus the long runs' corpus in $YS_FUZZ_DIR, default
# /tmp/ys_fuzz, when present) without fuzzing, and prints llvm-cov's
# per-file report for the files that parse outside input.
#
#   sh tests/fuzz/coverage.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build-fuzzcov}
dir=${YS_FUZZ_DIR:-/tmp/ys_fuzz}
jobs=2
CC=clang cmake -S . -B "$build" -DYS_FUZZ=ON -DYS_FUZZ_COVERAGE=ON -DYS_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=""
for f in tests/fuzz/fuzz_*.c; do targets="$targets $(basename "$f" .c)"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $targets >/dev/null
prof="$build/profiles"
rm -rf "$prof" && mkdir -p "$prof"
objects=""
for t in $targets; do
  h=${t#fuzz_}
  set -- "tests/fuzz/corpus/$h"
  [ -d "$dir/corpus/$h" ] && set -- "$@" "$dir/corpus/$h"
  LLVM_PROFILE_FILE="$prof/$h.profraw" "$build/tests/fuzz/$t" -runs=0 -close_fd_mask=3 -timeout=600 "$@" \
    >/dev/null 2>&1 || echo "$t: the corpus run failed" >&2
  if [ -z "$objects" ]; then objects="$build/tests/fuzz/$t"; else objects="$objects -object $build/tests/fuzz/$t"; fi
done
llvm-profdata merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
# shellcheck disable=SC2086
llvm-cov report -instr-profile "$prof/all.profdata" $objects \
  metrics/ys_json.c eval/jsonl_line.c engine/checkpoint.c engine/ckpt_safetensors.c engine/lora.c \
  engine/model_load.c engine/encoder.c engine/seq2seq_load.c engine/tok_load.c engine/tok_steps.c engine/tokenizer.c \
  engine/tok_bpe.c engine/tok_unigram.c engine/tok_wordpiece.c tasks/task.c tasks/dataset.c tasks/prompt.c \
  tasks/lmeval_docs.c tasks/registry.c results/runs.c eval/cmd_score.c metrics/scorer.c
