#!/bin/bash
# The long fuzzing runs (issue 15: an hour of CPU per harness), on a shared
# machine: every fuzzer runs under `nice -n 19`, so it takes only CPU no one
# else wants, and is resumable — its corpus lives in $YS_FUZZ_DIR/corpus/NAME
# (default /tmp/ys_fuzz) and grows over sessions; each session appends its
# executions, CPU seconds and coverage to $YS_FUZZ_DIR/NAME.log, and
# tests/fuzz/long_summary.sh adds them up.
#
#   tests/fuzz/long.sh SECONDS [BUILD_DIR [HARNESS...]]   (build with run.sh first)
#
# All harnesses run at once (each a single process); SECONDS is each one's
# wall-clock budget (-max_total_time). A crash stops that harness and
# leaves the input as $YS_FUZZ_DIR/crash-NAME-*.
set -u
cd "$(dirname "$0")/../.."
secs=${1:?seconds}
build=${2:-build-fuzz}
[ $# -gt 2 ] && shift 2 || set --
if [ $# -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); set -- "$@" "${n#fuzz_}"; done
fi
dir=${YS_FUZZ_DIR:-/tmp/ys_fuzz}
mkdir -p "$dir/corpus"
src=$(pwd)
for h in "$@"; do
  mkdir -p "$dir/corpus/$h"
  (
    cd "$dir" || exit 1
    start=$(date -u +%FT%TZ)
    TIMEFORMAT="cpu_seconds %U %S"
    # -timeout is wall-clock: at nice 19 on a busy machine a process can
    # wait minutes for a CPU, so only a very long wait counts as a hang
    # (run.sh, on an idle CI machine, uses 60 s)
    { time nice -n 19 "$src/$build/tests/fuzz/fuzz_$h" -max_total_time="$secs" -close_fd_mask=2 -timeout=1800 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/crash-$h-" \
        "$dir/corpus/$h" "$src/tests/fuzz/corpus/$h" >"$dir/$h.session.log" 2>&1; echo "exit $?"; } \
      >"$dir/$h.session.time" 2>&1
    {
      echo "session $start .. $(date -u +%FT%TZ) budget ${secs}s"
      grep -E "^#[0-9]+.*(DONE|cov:)" "$dir/$h.session.log" | tail -1
      grep -E "^stat::" "$dir/$h.session.log"
      cat "$dir/$h.session.time"
      grep -E "SUMMARY|ERROR: libFuzzer|Test unit written" "$dir/$h.session.log" | head -3
    } >>"$dir/$h.log"
  ) &
done
wait
