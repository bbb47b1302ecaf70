#!/usr/bin/env bash
# Sets up what the tests need and runs the whole suite: formatting, lints, the layout's
# rules, every test (with a PostgreSQL server of their own), the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
# The disk left for the build, in the log: a full disk shows up as a linker crash.
df -h . | tail -1
cargo fmt --all -- --check
python3 scripts/check-layout.py
scripts/check-deps.sh
cargo clippy --workspace --all-targets -- -D warnings
# A till without the touchscreen builds on its own (headquarters is its own crate).
cargo check -p fairpos --no-default-features --bins
# A throwaway PostgreSQL server for the PostgreSQL backend's tests, stopped however the
# run ends; with FAIRPOS_REQUIRE_POSTGRES those tests fail rather than skip without it.
# (Assigned first: a failed start then stops the run, which `eval "$(…)"` would not.)
postgres=$(scripts/postgres.sh start)
eval "$postgres"
trap 'scripts/postgres.sh stop' EXIT
export FAIRPOS_REQUIRE_POSTGRES=1
# Every test binary runs though one fails, so that a run shows every failure at once.
cargo test --workspace --no-fail-fast
# What the build took, and the disk left for the fuzz build.
du -sh target
df -h . | tail -1
# Every fuzz target from its corpus, for a bounded time.
scripts/fuzz.sh 20
