#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz with libFuzzer) for a bounded time, starting
# from its committed corpus. On the stable toolchain, without a sanitizer (`-s none`): Rust's
# own checks (bounds, overflow in debug, assertions in the targets) are what trips.
#   scripts/fuzz.sh [SECONDS]   seconds per target, 20 by default
# A crash fails the run and leaves the input under fuzz/artifacts/TARGET/; turn it into a
# regression test beside the code it found, and add the input to fuzz/corpus/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
# Unoptimised: a third of the release build's time, and bounds and overflow checks on.
cargo fuzz build -s none --dev
# An assignment, so that a failing `cargo fuzz list` stops the run (set -e).
targets=$(cargo fuzz list)
[[ -n $targets ]] || { echo "no fuzz targets found" >&2; exit 1; }
scratch="" log=""
trap 'rm -rf "$scratch" "$log"' EXIT
for target in $targets; do
  # New inputs go to a scratch directory; the committed corpus is only read.
  scratch=$(mktemp -d)
  log=$(mktemp)
  echo "fuzzing $target for ${seconds} s"
  status=0
  cargo fuzz run -s none --dev "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^stat::(number_of_executed_units|new_units_added)|panicked|ERROR|SUMMARY|Test unit' \
    "$log" || true
  if ((status != 0)); then
    tail -n 40 "$log" >&2
    echo "fuzz target $target failed: see fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
  rm -rf "$scratch" "$log"
done
