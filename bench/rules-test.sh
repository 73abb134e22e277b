#!/usr/bin/env bash
# `harrier rules test` vs `promtool test rules`: wall time over the shared promtool test files
# (../shared/conformance/promtool, every EXPECTED.tsv row) and the default rule packs' tests,
# each run RUNS times per tool, alternating. Prints the total wall time of each and the ratio.
#
#   bench/rules-test.sh [HARRIER_BINARY] [RUNS]     # defaults: target/release/harrier, 10
set -euo pipefail
cd "$(dirname "$0")/.."
harrier=${1:-target/release/harrier}
runs=${2:-10}
promtool=${PROMTOOL:-/usr/bin/promtool}
shared=../shared/conformance/promtool

# One line per invocation: the directory to run in, then the arguments after `test rules`.
cases=()
while IFS=$'\t' read -r file args _ _; do
  [ "$file" = file ] && continue
  [ "$args" = - ] && args=""
  cases+=("$shared|$args $file")
done < "$shared/EXPECTED.tsv"
cases+=("rules/tests|node_test.yml")

now() { date +%s.%N; }
run_all() { # harrier|promtool
  for c in "${cases[@]}"; do
    dir=${c%%|*}; args=${c#*|}
    # shellcheck disable=SC2086
    if [ "$1" = harrier ]; then
      (cd "$dir" && "$h_abs" rules test $args >/dev/null 2>&1) || true
    else
      (cd "$dir" && "$promtool" test rules $args >/dev/null 2>&1) || true
    fi
  done
}
h_total=0; p_total=0
h_abs=$(realpath "$harrier")
for _ in $(seq "$runs"); do
  t0=$(now); run_all harrier; t1=$(now)
  run_all promtool; t2=$(now)
  h_total=$(echo "$h_total + $t1 - $t0" | bc); p_total=$(echo "$p_total + $t2 - $t1" | bc)
done
n=${#cases[@]}
printf 'cases: %d x %d runs\nharrier rules test:  %.2f s total, %.1f ms per file\npromtool test rules: %.2f s total, %.1f ms per file\nratio: %.2fx\n' \
  "$n" "$runs" "$h_total" "$(echo "$h_total * 1000 / ($n * $runs)" | bc -l)" \
  "$p_total" "$(echo "$p_total * 1000 / ($n * $runs)" | bc -l)" "$(echo "$h_total / $p_total" | bc -l)"
