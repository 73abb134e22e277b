#!/usr/bin/env bash
# Runs every Harrier test, installing first what the tests need (Debian packages of the real
# peers the end-to-end tests talk to). Safe to run repeatedly; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v openssl >/dev/null || need+=(openssl)   # certificates for the router's HTTPS tests
if ((${#need[@]})); then
  echo "installing test peers: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The email receiver's tests talk to a real SMTP server (aiosmtpd, from PyPI).
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install --quiet aiosmtpd

# Debian's packages start their services where systemd runs; the tests start their own
# instances on free loopback ports, so stray ones do not matter.

if [ "${HARRIER_TEST_LINT:-1}" = 1 ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
fi
# The end-to-end tests run the `harrier` binary cargo builds for them (CARGO_BIN_EXE_harrier).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"
# One closing line over every test binary (cargo's own last line is the doc-tests').
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
