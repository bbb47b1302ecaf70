#!/usr/bin/env bash
# Installs what fairpos needs from Debian's packages, skipping what is already there.
#   scripts/setup.sh          what the till needs to build and run
#   scripts/setup.sh --test   also what the test suite needs
set -euo pipefail

run_packages=(pkg-config)
test_packages=(socat)

packages=("${run_packages[@]}")
if [[ ${1:-} == --test ]]; then
  packages+=("${test_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
