#!/usr/bin/env bash
# Opens the till's touchscreen on the demo fair (device T01 at stall S01; the demo till is set
# up on first start, lead PIN 2468). `--kiosk` opens the self-checkout kiosk instead;
# `--cli` rings up a morning of sales from the command line and prints the reports.
#   FAIRPOS_DATA   where the till keeps its data (default: ~/.local/share/fairpos-demo)
#   FAIRPOS_LANG   en for English (default: Chinese)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet --bin fairpos
fairpos() { ./target/release/fairpos "$@"; }
export FAIRPOS_DATA=${FAIRPOS_DATA:-$HOME/.local/share/fairpos-demo}

case ${1:-} in
  ""|--kiosk)
    if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
      echo "no display to open the till's window on (DISPLAY is not set)." >&2
      echo "On a headless machine: Xvfb :99 & DISPLAY=:99 $0   (or $0 --cli)" >&2
      exit 1
    fi
    echo "the till's data: $FAIRPOS_DATA (sign in as any seller with the lead PIN 2468)"
    if [[ ${1:-} == --kiosk ]]; then exec ./target/release/fairpos kiosk; fi
    exec ./target/release/fairpos
    ;;
  --cli) ;;
  *) echo "usage: $0 [--kiosk | --cli]" >&2; exit 2 ;;
esac

if ! fairpos status >/dev/null 2>&1; then
  fairpos init --demo --lead-pin 2468
fi
if fairpos status --json | grep -q '"shift":null'; then
  fairpos shift open --seller V003 --float 200.00
fi

echo "== a morning at stall S01"
fairpos sell --seller V003 6935780100128 6935780100128 GZ-MJ-200 --pay cash:400
fairpos sell --seller V004 2110021007501 2210025024006 --pay wechat          # scale labels
fairpos sell --seller V004 XP-CZY-5L*2 --unit 12430000444883027E --pay on_account
fairpos sell --seller V005 FH-JT-300*3 --pay voucher:50 cash:30
fairpos sales

echo "== net sales by county"
fairpos report --by county
echo "== by payment method"
fairpos report --by payment
echo "== the ledger"
fairpos ledger verify
echo
echo "The till lives in $FAIRPOS_DATA; try: FAIRPOS_DATA=$FAIRPOS_DATA target/release/fairpos --help"
