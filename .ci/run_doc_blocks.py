#!/usr/bin/env python3
"""Runs the code blocks of Markdown files as printed, from the repository root, the way a reader
copies them into one terminal: CI's check that every command of the README and docs/ works.

    python3 .ci/run_doc_blocks.py README.md docs/python.md ...   # in that order
    python3 .ci/run_doc_blocks.py --list README.md               # print what would run

Each file's blocks run in order in one bash process (so `export`, `cd` and background jobs of
one block carry to the next, as in a terminal), started at the repository root, with
`set -euo pipefail`: a failing command fails the file.

- ```sh and ```bash blocks run as they are.
- ```console blocks: the lines starting with `$ ` are run (a line ending in `\\` continues on
  the next); the other lines are the output shown, not compared (probabilities differ slightly
  between machines).
- ```python blocks run with `.venv/bin/python` (the virtual environment the install block
  creates), or `python3` when there is none, each as its own script.
- Other blocks (```rust, ```toml, ```text, ```json, indented text) are not run.

A block is left out when the line just before its opening fence is the HTML comment
`<!-- ci: skip REASON -->` (invisible on GitHub), e.g. a benchmark that runs for an hour or a
command that waits for Ctrl-C; REASON is required and printed. Every file must run at least one
block or skip all with a reason.

Exit status 0 when every file's blocks ran; otherwise the file and the block's line are named.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import List, NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*ci:\s*skip\s+(.+?)\s*-->\s*$")
RUN_LANGS = {"sh", "bash", "console", "python"}


class Block(NamedTuple):
    path: str
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    skip: Optional[str]


def blocks(path: Path) -> List[Block]:
    """The fenced blocks of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: List[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{path}:{start + 1}: code block never closed")
        prev = lines[start - 1].strip() if start > 0 else ""
        skip = SKIP.match(prev)
        out.append(Block(str(path), start + 1, lang, "\n".join(body) + "\n",
                         skip.group(1) if skip else None))
        i += 1
    return out


def console_commands(body: str) -> str:
    """The `$ ` commands of a console block (continuation lines kept)."""
    cmds, cont = [], False
    for line in body.splitlines():
        if cont or line.startswith("$ "):
            text = line if cont else line[2:]
            cmds.append(text)
            cont = text.rstrip().endswith("\\")
    return "\n".join(cmds) + "\n"


def script(file_blocks: List[Block]) -> str:
    """One bash script running a file's blocks in order, each announced."""
    parts = ["set -euo pipefail", f"cd {quote(str(ROOT))}",
             'PY=python3; [ -x .venv/bin/python ] && PY=.venv/bin/python']
    for b in file_blocks:
        if b.skip or b.lang not in RUN_LANGS:
            continue
        where = f"{b.path}:{b.line}"
        parts.append(f"echo '--- {where} ({b.lang})' >&2")
        parts.append(f"DOC_BLOCK={quote(where)}")
        if b.lang == "python":
            parts.append('{ [ -x .venv/bin/python ] && PY=.venv/bin/python; "$PY" - <<\'DOC_PY_EOF\'\n'
                         + b.body + "DOC_PY_EOF\n}")
        elif b.lang == "console":
            parts.append(console_commands(b.body))
        else:
            parts.append(b.body)
    return "\n".join(parts) + "\n"


def quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--list", action="store_true", help="print the blocks and exit")
    args = ap.parse_args()
    failed = 0
    for path in args.files:
        bs = blocks(path)
        ran = [b for b in bs if not b.skip and b.lang in RUN_LANGS]
        skipped = [b for b in bs if b.skip]
        if args.list:
            for b in bs:
                state = f"skip: {b.skip}" if b.skip else ("run" if b.lang in RUN_LANGS else "text")
                print(f"{b.path}:{b.line} {b.lang or '-'} {state}")
            continue
        for b in skipped:
            print(f"doc-blocks: {b.path}:{b.line} skipped: {b.skip}", file=sys.stderr)
        if not ran:
            print(f"doc-blocks: {path}: no block to run ({len(skipped)} skipped)", file=sys.stderr)
            continue
        start = time.monotonic()
        trap = 'trap \'echo "doc-blocks: failed in the block at $DOC_BLOCK" >&2; jobs -p | xargs -r kill 2>/dev/null\' ERR\n'
        p = subprocess.run(["bash", "-c", trap + script(bs) + "jobs -p | xargs -r kill 2>/dev/null || true\n"],
                           cwd=ROOT, env=dict(os.environ))
        took = time.monotonic() - start
        if p.returncode != 0:
            print(f"doc-blocks: {path}: FAILED (exit {p.returncode}) after {took:.0f} s", file=sys.stderr)
            failed += 1
            break
        print(f"doc-blocks: {path}: {len(ran)} blocks ran in {took:.0f} s, {len(skipped)} skipped",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
