#!/bin/sh
# Sum the sessions of tests/fuzz/long.sh per harness: CPU seconds (user +
# system), executions, the last coverage line, crashes.
dir=${YS_FUZZ_DIR:-/tmp/ys_fuzz}
printf '%-12s %10s %12s %9s %s\n' harness cpu_s executions corpus "last coverage / crashes"
for log in "$dir"/*.log; do
  case "$log" in *.session.log) continue ;; esac
  h=$(basename "$log" .log)
  awk -v h="$h" -v corp="$(ls "$dir/corpus/$h" 2>/dev/null | wc -l)" '
    /^cpu_seconds/ { cpu += $2 + $3 }
    /^stat::number_of_executed_units/ { ex += $2 }
    /cov:/ { cov = $0; sub(/^#[0-9]+[ \t]+[A-Z]+[ \t]+/, "", cov); sub(/ exec\/s.*/, "", cov) }
    /SUMMARY|Test unit written/ { crash++ }
    END { printf "%-12s %10.0f %12d %9d %s%s\n", h, cpu, ex, corp, cov, crash ? "  CRASHES: " crash : "" }' "$log"
done
