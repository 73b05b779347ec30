#!/bin/sh
# Build the libFuzzer harnesses with clang and run each: first every input
# of its committed corpus (tests/fuzz/corpus/NAME: seeds and the regression
# inputs of crashes once found), then SECONDS of fuzzing from that corpus.
# Any crash, sanitizer report, leak, timeout (-timeout) or out-of-memory
# fails the script; the input is left in BUILD/fuzz-artifacts/.
#
#   sh tests/fuzz/run.sh [SECONDS [BUILD_DIR [HARNESS...]]]   (default 20, build-fuzz, all)
#
# New inputs the fuzzer finds go to a throw-away folder, not the committed
# corpus (add an input there by hand when it matters).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-20}
build=${2:-build-fuzz}
[ $# -gt 2 ] && shift 2 || set --
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2
if [ $# -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); set -- "$@" "${n#fuzz_}"; done
fi
targets=""
for h in "$@"; do targets="$targets fuzz_$h"; done
CC=${CC_FUZZ:-clang} cmake -S . -B "$build" -DYS_FUZZ=ON -DYS_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $targets
mkdir -p "$build/fuzz-artifacts"
status=0
for h in "$@"; do
  bin="$build/tests/fuzz/fuzz_$h"
  corpus="tests/fuzz/corpus/$h"
  work=$(mktemp -d)
  log="$build/fuzz-artifacts/$h.log"
  echo "== fuzz_$h: $(ls "$corpus" | wc -l) committed inputs, then ${secs}s"
  # -runs=0: execute the corpus (every committed input) and stop
  if ! "$bin" -runs=0 -close_fd_mask=2 -timeout=60 -artifact_prefix="$build/fuzz-artifacts/$h-" "$corpus" >"$log" 2>&1 ||
     ! "$bin" -max_total_time="$secs" -close_fd_mask=2 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
         -artifact_prefix="$build/fuzz-artifacts/$h-" "$work" "$corpus" >>"$log" 2>&1; then
    echo "fuzz_$h FAILED: see $log"; tail -40 "$log"; status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$log" | tail -2
  fi
  rm -rf "$work"
done
exit $status
