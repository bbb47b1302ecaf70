#!/usr/bin/env bash
# Installs what fairpos needs from Debian's packages, skipping what is already there.
#   scripts/setup.sh          what the till needs to build and run (its window included)
#   scripts/setup.sh --test   also what the test suite needs (Xvfb, chromium, socat, node,
#                             openssl for the TLS test's certificates, a C++ compiler for
#                             libFuzzer, PostgreSQL's server for the PostgreSQL backend's
#                             tests, HAProxy and nginx for the load balancer's and the
#                             reverse proxy's tests)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Each need: a shell test that shows it is met, and the Debian package that meets it.
have() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg -s "$1" >/dev/null 2>&1; }
cjk_font() { ls /usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc >/dev/null 2>&1; }
# Debian keeps PostgreSQL's server programs out of PATH, and HAProxy and nginx in /usr/sbin, which
# is in root's PATH only.
pg_server() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
haproxy_installed() { [[ -x /usr/sbin/haproxy ]] || have haproxy; }
nginx_installed() { [[ -x /usr/sbin/nginx ]] || have nginx; }
needs=("have pkg-config|pkg-config" "cjk_font|fonts-noto-cjk")
# What the till's window (winit on X11, Slint's software renderer) loads at run time.
for lib in libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1 libfontconfig1; do
  needs+=("installed $lib|$lib")
done
if [[ ${1:-} == --test ]]; then
  needs+=("have socat|socat" "have node|nodejs" "have npm|npm" "have chromium|chromium"
          "have Xvfb|xvfb" "have xdotool|xdotool" "have import|imagemagick"
          "have openssl|openssl" "have c++|g++" "pg_server|postgresql"
          "haproxy_installed|haproxy" "nginx_installed|nginx")
fi

missing=()
for need in "${needs[@]}"; do
  eval "${need%%|*}" || missing+=("${need##*|}")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The JavaScript automerge-repo peers of the interop test and the sync benchmark, and
# playwright-core, which drives chromium in the dashboard test.
if [[ ${1:-} == --test && ! ( -d $here/interop/node_modules/@automerge/automerge-repo && -d $here/interop/node_modules/playwright-core ) ]]; then
  echo "installing the npm packages of interop/"
  # `npm ci` trips over optional native packages that npm leaves out of the lockfile; the
  # lockfile and the exact versions in package.json still pin what is installed.
  npm install --prefix "$here/interop" --no-save --no-audit --no-fund --loglevel=error
fi

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
