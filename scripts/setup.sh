#!/usr/bin/env bash
# Installs what fairpos needs from Debian's packages, skipping what is already there.
#   scripts/setup.sh          what the till needs to build and run
#   scripts/setup.sh --test   also what the test suite needs
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Each need: a command that shows it is met, and the Debian package that meets it.
needs=("pkg-config:pkg-config")
if [[ ${1:-} == --test ]]; then
  needs+=("socat:socat" "node:nodejs" "npm:npm")
fi

missing=()
for need in "${needs[@]}"; do
  command -v "${need%%:*}" >/dev/null 2>&1 || missing+=("${need##*:}")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The JavaScript automerge-repo peers of the interop test and the sync benchmark.
if [[ ${1:-} == --test && ! -d $here/interop/node_modules/@automerge/automerge-repo ]]; then
  echo "installing the npm packages of interop/"
  # `npm ci` trips over optional native packages that npm leaves out of the lockfile; the
  # lockfile and the exact versions in package.json still pin what is installed.
  npm install --prefix "$here/interop" --no-save --no-audit --no-fund --loglevel=error
fi

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
