#!/usr/bin/env bash
# harrier-ab.sh: two Harrier builds side by side on the agent-e2e load (100 targets x 1,000 series
# every 5 s), each writing to its own receiver, for SECONDS. Both run at once, so the machine's
# noise (other processes, CPU frequency) hits them alike; run it twice with the builds swapped.
# Prints each agent's CPU seconds (utime+stime) and peak RSS, and the samples each receiver got.
#
# usage: bench/harrier-ab.sh BINARY_A BINARY_B [SECONDS=60]
#   A binary may be a wrapper script (to set environment variables, say).
# Environment: TARGET_DIR (default: $CARGO_TARGET_DIR or target) for bench-targets and
# bench-receiver. Build them with `cargo build --release -p harrier-bench`.
set -u
a_bin=$1
b_bin=$2
secs=${3:-60}
target_dir=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
d=$(mktemp -d -t harrier-ab.XXXXXX)
"$target_dir/release/bench-targets" --targets 100 --series 1000 --scrape-config "$d/sc.yml" \
  --file-sd "$d/t.json" >"$d/targets.out" 2>"$d/targets.log" &
helpers=($!)
for x in a b; do
  "$target_dir/release/bench-receiver" --name "$x" --addr-file "$d/$x.addr" --stats-file "$d/$x.json" \
    >"$d/$x-receiver.out" 2>&1 &
  helpers+=($!)
done
while [[ ! -s $d/sc.yml || ! -s $d/a.addr || ! -s $d/b.addr ]]; do sleep 0.2; done
for x in a b; do
  {
    printf 'global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\n'
    cat "$d/sc.yml"
    printf 'remote_write:\n  - url: http://%s/api/v1/write\n' "$(cat "$d/$x.addr")"
  } >"$d/$x.yml"
done
"$a_bin" agent --config "$d/a.yml" --listen 127.0.0.1:0 --data-dir "$d/a-data" >"$d/a.log" 2>&1 &
a_pid=$!
"$b_bin" agent --config "$d/b.yml" --listen 127.0.0.1:0 --data-dir "$d/b-data" >"$d/b.log" 2>&1 &
b_pid=$!
sleep "$secs"
report() { # report NAME PID
  local stat fields cpu hwm
  stat=$(<"/proc/$2/stat")
  read -ra fields <<<"${stat##*) }"
  cpu=$(awk -v t=$(( fields[11] + fields[12] )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$2/status")
  printf '%s: cpu_s=%s peak_rss_mib=%s\n' "$1" "$cpu" "$hwm"
}
report "A $a_bin" "$a_pid"
report "B $b_bin" "$b_pid"
kill "$a_pid" "$b_pid"
sleep 1
kill "${helpers[@]}"
sleep 0.5
for x in a b; do
  printf 'samples received by %s: %s\n' "$x" \
    "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["samples"])' "$d/$x.json")"
done
echo "dir=$d"
