#!/usr/bin/env bash
# harrier-alone.sh: the agent-e2e load (100 targets x 1,000 series every 5 s) on Harrier alone,
# for quick A/B runs of two builds and for profiling. Prints CPU seconds (utime+stime), peak RSS
# and thread count of the agent after SECONDS of running, and keeps the run directory (configs,
# logs, receiver totals, perf.data).
#
# usage: bench/harrier-alone.sh HARRIER_BINARY [SECONDS=40] [perf]
#   perf: record `perf record -F "${PERF_FREQ:-299}" --call-graph dwarf,16384` on the agent for SECONDS, after 12 s.
# Environment: TARGET_DIR (default: $CARGO_TARGET_DIR or target) for bench-targets and
# bench-receiver. Build them with `cargo build --release -p harrier-bench`.
set -u
bin=$1
secs=${2:-40}
mode=${3:-}
target_dir=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
d=$(mktemp -d -t harrier-alone.XXXXXX)
"$target_dir/release/bench-targets" --targets 100 --series 1000 --scrape-config "$d/sc.yml" \
  --file-sd "$d/t.json" >"$d/targets.out" 2>"$d/targets.log" &
targets_pid=$!
"$target_dir/release/bench-receiver" --name h --addr-file "$d/recv.addr" --stats-file "$d/recv.json" \
  >"$d/recv.out" 2>&1 &
receiver_pid=$!
while [[ ! -s $d/sc.yml || ! -s $d/recv.addr ]]; do sleep 0.2; done
{
  printf 'global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\n'
  cat "$d/sc.yml"
  printf 'remote_write:\n  - url: http://%s/api/v1/write\n' "$(cat "$d/recv.addr")"
} >"$d/h.yml"
"$bin" agent --config "$d/h.yml" --listen 127.0.0.1:0 --data-dir "$d/data" >"$d/h.log" 2>&1 &
agent_pid=$!
if [[ $mode == perf ]]; then
  sleep 12
  perf record -F "${PERF_FREQ:-299}" --call-graph dwarf,16384 -o "$d/perf.data" -p "$agent_pid" -- sleep "$secs" >"$d/perf.log" 2>&1
else
  sleep "$secs"
fi
stat=$(<"/proc/$agent_pid/stat")
read -ra fields <<<"${stat##*) }"
cpu=$(awk -v t=$(( fields[11] + fields[12] )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$agent_pid/status")
echo "dir=$d cpu_s=$cpu peak_rss_mib=$hwm threads=$(ls "/proc/$agent_pid/task" | wc -l)"
kill "$agent_pid"
sleep 1
kill "$targets_pid" "$receiver_pid"
