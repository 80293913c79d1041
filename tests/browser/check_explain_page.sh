#!/usr/bin/env bash
# Browser test of the explanation on the page at `/` (not run by `cargo test`): starts
# `textcnn serve`, lets headless Chromium load /?text=... (the page submits the text, then asks
# /v1/explain), and checks that the label, the probability bars, the highlighted words (one
# <mark> per token, as many as /v1/explain returns tokens) and the list of top windows are in the
# rendered DOM. Also saves a screenshot.
#
#   tests/browser/check_explain_page.sh MODEL_DIR [TEXT] [SCREENSHOT.png]
#
# Needs Debian's chromium (apt-get install chromium) and a release build
# (cargo build --release). Exits 0 when the result appears.
set -euo pipefail

model=${1:?usage: check_explain_page.sh MODEL_DIR [TEXT] [SCREENSHOT.png]}
text=${2:-"A wonderful, moving film with superb acting. I loved every minute of it."}
shot=${3:-/tmp/textcnn-explain-page.png}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${TEXTCNN_BIN:-$root/target/release/textcnn}
chromium=${CHROMIUM:-chromium}

work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --model "$model" --port 0 >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/stdout")
[[ -n $base ]] || { echo "server did not start:"; cat "$work/stderr"; exit 1; }

# What the API says for the same text: the page must show this label.
body=$(python3 -c 'import json,sys; print(json.dumps({"texts":[sys.argv[1]]}))' "$text")
expected=$(curl -sf -X POST "$base/v1/predict" -d "$body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["predictions"][0]["label"])')
body=$(python3 -c 'import json,sys; print(json.dumps({"text":sys.argv[1]}))' "$text")
n_tokens=$(curl -sf -X POST "$base/v1/explain" -d "$body" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["explanation"]["tokens"]))')
query=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))' "$text")
url="$base/?text=$query"

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --virtual-time-budget=5000)
"$chromium" "${flags[@]}" --user-data-dir="$work/profile-dom" --dump-dom "$url" \
    >"$work/dom.html" 2>"$work/chromium.log"
"$chromium" "${flags[@]}" --user-data-dir="$work/profile-shot" --window-size=1000,1100 \
    --screenshot="$shot" "$url" >/dev/null 2>>"$work/chromium.log"

label=$(python3 - "$work/dom.html" <<'PY'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<span id="label">([^<]*)</span>', dom)
bars = len(re.findall(r'class="bar" style="width: [0-9.]+%', dom))
hidden = re.search(r'<div id="result" hidden', dom) is not None
why = re.search(r'<div id="why-text">(.*?)</div>', dom, re.S)
marks = len(re.findall(r'<mark [^>]*style="background: rgba\(', why.group(1))) if why else 0
why_hidden = re.search(r'<div id="why" hidden', dom) is not None
windows = len(re.findall(r'<li><span class="num"', dom))
print(f"{m.group(1) if m else ''}\t{bars}\t{hidden}\t{marks}\t{why_hidden}\t{windows}")
PY
)
IFS=$'\t' read -r shown bars hidden marks why_hidden windows <<<"$label"
echo "API label: $expected; page label: ${shown:-<none>}; bars: $bars; result hidden: $hidden; highlighted tokens: $marks (API: $n_tokens); explanation hidden: $why_hidden; windows listed: $windows; screenshot: $shot"
if [[ $shown == "$expected" && $bars -ge 2 && $hidden == False && $marks == "$n_tokens" && $why_hidden == False && $windows -ge 1 ]]; then
    echo "PASS"
else
    echo "FAIL"; grep -o '<div id="why-text">.\{0,600\}' "$work/dom.html"; exit 1
fi
