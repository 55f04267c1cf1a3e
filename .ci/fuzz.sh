#!/usr/bin/env bash
# The fuzz smoke runs: each cargo-fuzz target (fuzz/) for FUZZ_SECONDS (default 60) on its seed corpus,
# when a nightly toolchain is there (cargo-fuzz is installed from crates.io when missing); new inputs go
# to a temporary directory, not into the repository. Prints each target's executions; a finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "ci: no nightly toolchain: the fuzz smoke runs are skipped (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
work=$(mktemp -d /tmp/kitting-fuzz.XXXXXX)
found=/tmp/kitting-fuzz-artifacts
mkdir -p "$found"
trap 'rm -rf "$work"' EXIT
targets=$(cd fuzz && cargo +nightly fuzz list)
(cd fuzz && cargo +nightly fuzz build -O)
for t in $targets; do
  mkdir -p "$work/$t"
  (cd fuzz && cargo +nightly fuzz run -O "$t" "$work/$t" "corpus/$t" -- -max_total_time="$seconds" \
    -artifact_prefix="$found/$t-" -print_final_stats=1) >"$work/$t.log" 2>&1 || {
    tail -40 "$work/$t.log"
    echo "ci: fuzz target $t found a failure (its input: $found/$t-*)" >&2
    exit 1
  }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo "?")
  echo "ci: fuzz $t: $runs executions in ${seconds}s, no failure"
done
