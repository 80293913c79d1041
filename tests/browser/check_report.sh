#!/usr/bin/env bash
# Browser test of a run's report (not run by `cargo test`): headless Chromium renders
# RUN_DIR/report.html and each RUN_DIR/plots/*.svg; checks that the page's pictures, per-class
# table and examples are in the rendered DOM and that every SVG parses as an image; saves
# screenshots (the page and one per picture) in SHOT_DIR.
#
#   tests/browser/check_report.sh RUN_DIR [SHOT_DIR]
#
# Needs Debian's chromium (apt-get install chromium). Exits 0 when everything rendered.
set -euo pipefail

run=$(cd "${1:?usage: check_report.sh RUN_DIR [SHOT_DIR]}" && pwd)
shots=${2:-/tmp/textcnn-report}
chromium=${CHROMIUM:-chromium}
mkdir -p "$shots"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --hide-scrollbars)
page="file://$run/report.html"
"$chromium" "${flags[@]}" --user-data-dir="$work/p1" --dump-dom "$page" >"$work/dom.html" 2>"$work/log"
"$chromium" "${flags[@]}" --user-data-dir="$work/p2" --window-size=1100,2400 \
    --screenshot="$shots/report.png" "$page" >/dev/null 2>>"$work/log"

fail=0
python3 - "$work/dom.html" <<'PY' || fail=1
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
svgs = len(re.findall(r"<svg ", dom))
rows = len(re.findall(r"<tr>", dom.split('id="per-class"', 1)[1].split("</table>", 1)[0])) if 'id="per-class"' in dom else 0
cells = len(re.findall(r'class="cell"', dom))
examples = len(re.findall(r'<td class="text">', dom))
print(f"report.html: {svgs} SVGs, {rows} per-class table rows, {cells} confusion cells, {examples} examples")
sys.exit(0 if svgs >= 3 and rows >= 3 and cells >= 4 and examples >= 1 else 1)
PY

# Each SVG on its own, wrapped in an <img> so that a parse error shows as a broken image
# (naturalWidth 0), which the DOM dump reports.
for svg in "$run"/plots/*.svg; do
    name=$(basename "$svg" .svg)
    cat >"$work/$name.html" <<HTML
<!doctype html><html><body style="margin:0"><img id="i" src="file://$svg">
<script>const i=document.getElementById("i");i.decode().then(()=>{document.title="ok "+i.naturalWidth+"x"+i.naturalHeight}).catch(()=>{document.title="broken"});</script></body></html>
HTML
    "$chromium" "${flags[@]}" --allow-file-access-from-files --user-data-dir="$work/p-$name" \
        --virtual-time-budget=3000 --dump-dom "file://$work/$name.html" >"$work/$name.dom" 2>>"$work/log"
    title=$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' "$work/$name.dom")
    size=$(python3 -c 'import re,sys; s=open(sys.argv[1]).read(); m=re.search(r"width=\"(\d+)\" height=\"(\d+)\"", s); print(f"{m.group(1)},{m.group(2)}")' "$svg")
    "$chromium" "${flags[@]}" --user-data-dir="$work/q-$name" --window-size="$size" \
        --screenshot="$shots/$name.png" "file://$svg" >/dev/null 2>>"$work/log"
    echo "$name.svg: ${title:-no title}; screenshot $shots/$name.png"
    [[ $title == ok* ]] || fail=1
done
if [[ $fail == 0 ]]; then echo PASS; else echo FAIL; tail -20 "$work/log"; exit 1; fi
