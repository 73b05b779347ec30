#!/bin/sh
# Sum the sessions of tests/fuzz/long.sh per harness: CPU seconds (user +
# system), executions (libFuzzer's final count, or for a session that was
# killed its last progress line), the last coverage line, and findings
# (crash, leak, timeout or OOM inputs; slow-unit reports are not counted).
dir=${YS_FUZZ_DIR:-/tmp/ys_fuzz}
printf '%-12s %8s %12s %8s %s\n' harness cpu_s executions corpus "last coverage (cov: edges, ft: features) / findings"
for log in "$dir"/*.log; do
  case "$log" in *.session.log) continue ;; esac
  h=$(basename "$log" .log)
  awk -v h="$h" -v corp="$(ls "$dir/corpus/$h" 2>/dev/null | wc -l)" '
    function close_session() { ex += (stat ? stat : last); stat = 0; last = 0 }
    /^session / { close_session() }
    /^cpu_seconds/ { cpu += $2 + $3 }
    /^stat::number_of_executed_units/ { stat = $2 }
    /^#[0-9]+/ { n = substr($1, 2) + 0; last = n; cov = $0; sub(/^#[0-9]+[ \t]+[A-Za-z]+[ \t]+/, "", cov); sub(/ lim:.*/, "", cov) }
    /Test unit written/ && !/slow-unit/ { found++ }
    END { close_session(); printf "%-12s %8.0f %12d %8d %s%s\n", h, cpu, ex, corp, cov, found ? "  FINDINGS: " found : "" }' "$log"
done
