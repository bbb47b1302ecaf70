#!/usr/bin/env bash
# Sets up the demo till (device T01 at stall S01 of the demo fair) and rings up a morning of
# sales from the command line, then prints the reports. Runs again without harm.
#   FAIRPOS_DATA   where the till keeps its data (default: ~/.local/share/fairpos-demo)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet --bin fairpos
fairpos() { ./target/release/fairpos "$@"; }
export FAIRPOS_DATA=${FAIRPOS_DATA:-$HOME/.local/share/fairpos-demo}

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
