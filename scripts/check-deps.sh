#!/usr/bin/env bash
# Proves from `cargo tree` what the crates' layout promises:
#  - the domain crate has no database, async runtime, network or UI crate in its tree;
#  - headquarters (the `fairpos-hq` crate and binary) links no Slint, winit or X library.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
check() { # crate, forbidden pattern, what it means
  local found
  found=$(cargo tree -p "$1" -e normal --prefix none | grep -E "^($2) " | sort -u || true)
  if [[ -n $found ]]; then
    echo "$1 must not depend on $3, but its tree has:" >&2
    echo "$found" >&2
    fail=1
  else
    echo "$1: no $3"
  fi
}
check fairpos-domain "rusqlite|libsqlite3-sys|tokio|axum|hyper|reqwest|samod|tungstenite|tokio-tungstenite|slint|winit|i-slint-core|serialport" "database, async runtime, network or UI crate"
check fairpos-hq "slint|i-slint-core|i-slint-backend-winit|winit|x11-dl|x11rb|xkbcommon-dl|wayland-client" "Slint, winit or X library"
exit $fail
