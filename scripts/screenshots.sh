#!/usr/bin/env bash
# Screenshots of the real till and kiosk windows under Xvfb, driven as a volunteer and a
# shopper drive them: taps (xdotool clicks at the layout's positions) and scans (keys typed
# as fast as a keyboard-wedge scanner types them). Writes docs/screenshots/*.png.
#   scripts/screenshots.sh [BINARY]     (default: target/release/fairpos, built if missing)
# Needs Xvfb, xdotool and imagemagick (scripts/setup.sh --test installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/fairpos}
[[ -x $bin ]] || (cd "$here" && cargo build --release --bin fairpos)
out=$here/docs/screenshots
mkdir -p "$out"
work=$(mktemp -d)
display=:97
Xvfb $display -nolisten tcp -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
app=""
cleanup() {
  [[ -n $app ]] && kill "$app" 2>/dev/null || true
  kill "$xvfb" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export DISPLAY=$display SLINT_BACKEND=winit-software
sleep 1

start() { # start DATA SIZE LANG [ARGS...]
  local data=$1 size=$2 lang=$3
  shift 3
  FAIRPOS_WINDOW=$size FAIRPOS_LANG=$lang "$bin" --data "$work/$data" "$@" >"$work/$data.log" 2>&1 &
  app=$!
  for _ in $(seq 50); do
    xdotool search --name "^fairpos" >/dev/null 2>&1 && break
    sleep 0.2
  done
  sleep 1.5
}
stop() { kill "$app" 2>/dev/null || true; wait "$app" 2>/dev/null || true; app=""; }
tap() { xdotool mousemove "$1" "$2" click 1; sleep 0.25; }
scan() { # type codes as a wedge scanner does, into the focused window
  xdotool windowfocus --sync "$(xdotool search --name "^fairpos" | head -1)"
  for c in "$@"; do xdotool type --delay 2 "$c"; xdotool key Return; sleep 0.2; done
}
shot() { sleep 0.6; import -window root -crop "$1+0+0" "$out/$2.png"; echo "  $2.png"; }

till_tour() { # LANG SUFFIX
  local lang=$1 sfx=$2
  start "till-$sfx" 1280x800 "$lang"
  shot 1280x800 "till-sign-in-$sfx"
  tap 388 152
  tap 1016 499; tap 863 368; tap 1170 368; tap 1016 238 # lead PIN 2468
  tap 1016 732
  tap 640 528; tap 640 640; tap 640 640 # float 200
  tap 640 732
  scan 6935780100128 2210025024006 6935780200156 6935781600139
  shot 1280x800 "till-sell-$sfx"
  tap 1099 690 # pay
  tap 846 307; tap 846 447; tap 846 447; tap 867 525 # WeChat 500
  tap 846 377; tap 846 447; tap 846 447; tap 700 525 # cash 200
  shot 1280x800 "till-pay-$sfx"
  tap 1006 722 # complete
  shot 1280x800 "till-done-$sfx"
  tap 790 565 # next sale
  tap 1115 754 # close shift
  tap 296 150; tap 296 150; tap 296 150 # 3 × 100
  tap 296 210 # 1 × 50
  tap 296 450 # 1 × 1
  shot 1280x800 "till-close-shift-$sfx"
  tap 1112 740 # confirm: the shift slip
  shot 1280x800 "till-shift-slip-$sfx"
  stop
}

echo "till, 中文 and English:"
till_tour zh zh
till_tour en en

echo "till at 1024×600:"
start till-small 1024x600 zh
tap 310 130
for xy in "812 382" "690 290" "936 290" "812 196"; do tap $xy; done
tap 805 534
tap 512 403; tap 512 465; tap 512 465
tap 512 532
scan 6935780100128 2110021007501
shot 1024x600 till-sell-1024x600
stop

echo "kiosk:"
start kiosk 1280x800 zh kiosk
shot 1280x800 kiosk-attract-zh
scan 6935780100128 6935782200109 2210025024006
shot 1280x800 kiosk-basket-zh
tap 985 548
shot 1280x800 kiosk-pay-qr-zh
tap 1080 748 # back
tap 985 658 # pay at the counter
shot 1280x800 kiosk-pay-counter-zh
tap 1147 32 # English
shot 1280x800 kiosk-pay-counter-en
stop
