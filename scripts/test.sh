#!/usr/bin/env bash
# Sets up what the tests need and runs the whole suite: formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
