"""Helpers shared by the accuracy scripts of bench/ (suite.py, suite_cv.py, paired.py, multilabel_suite.py)."""
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def add_paths(ap, out):
    """--textcnn, --shared and --out (default runs/OUT) arguments, relative to the checkout."""
    ap.add_argument("--textcnn", default=os.path.join(ROOT, "target/release/textcnn"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "../shared"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", out))


def suite_train_file(shared, name):
    """`SHARED/data/suite/NAME/train.tsv` when NAME is a set of the suite (a folder name, never a path:
    the scripts delete OUT/NAME before writing it), else None."""
    path = os.path.join(shared, "data/suite", name, "train.tsv")
    if os.sep in name or name in ("", ".", "..") or not os.path.isfile(path):
        return None
    return path


def fresh_output(out_root, name, inputs):
    """OUT/NAME, emptied for a new run: exits instead when that path is a file, or when any of `inputs`
    (files or folders the run reads) lies inside it or contains it (deleting it would delete the input)."""
    out = os.path.realpath(os.path.join(out_root, name))
    if os.path.exists(out) and not os.path.isdir(out):
        raise SystemExit(f"{out} is a file, not an output folder: use another --out")
    for path in inputs:
        p = os.path.realpath(path)
        if p == out or p.startswith(out + os.sep) or out.startswith(p.rstrip(os.sep) + os.sep):
            raise SystemExit(f"{path} lies inside (or holds) the output folder {out}, which is deleted first: "
                             "use another --out")
    shutil.rmtree(out, ignore_errors=True)
    return out


def check_binary(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SystemExit(f"{path}: no textcnn binary there (build it with `cargo build --release`, or pass --textcnn)")


def check_baseline_modules():
    """Exits naming the missing modules unless this Python can run ../shared/bench's baselines."""
    import importlib.util

    missing = [m for m in ("numpy", "sklearn", "fasttext") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"{sys.executable} lacks {', '.join(missing)}: run this script with the Python of the "
                         "venv from ../shared/bench/README.md (or pass --no-baselines)")


def run(cmd, env=None):
    """Runs `cmd`; returns (stdout + stderr, wall seconds). Exits with its output if it fails."""
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout + p.stderr, time.time() - t0


# Share of Han characters among a file's non-space characters above which the baselines run with --cjk,
# as textcnn's n-gram branch switches to character n-grams (train::ngram_stage).
HAN_SHARE_FOR_CJK = 0.3


def han_share(rows):
    han = total = 0
    for r in rows:
        for c in r.split("\t", 1)[1]:
            if not c.isspace():
                total += 1
                han += 0x4E00 <= ord(c) <= 0x9FFF or 0x3400 <= ord(c) <= 0x4DBF or 0xF900 <= ord(c) <= 0xFAFF
    return han / max(total, 1)


# Longest field Python's csv module reads by default (`csv.field_size_limit()`), as baselines_tsv.py does.
CSV_FIELD_LIMIT = 131072


def read_rows(path):
    """The header and `label<TAB>text` rows of `path`, checked: exits naming file:line on a bad row."""
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as e:
        raise SystemExit(f"{path}: not UTF-8 ({e})")
    except OSError as e:
        raise SystemExit(f"{path}: cannot be read ({e.strerror})")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines or lines[0].lstrip("\ufeff").split("\t") != ["label", "text"]:
        raise SystemExit(f"{path}:1: the header must be `label<TAB>text`")
    for n, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 2:
            raise SystemExit(f"{path}:{n}: {len(parts) - 1} tabs; a row is `label<TAB>text` with one tab")
        label, text = parts
        if not label or label != label.strip():
            raise SystemExit(f"{path}:{n}: label {label!r} is empty or has surrounding spaces")
        if not text.strip():
            raise SystemExit(f"{path}:{n}: the text is blank")
        if "\r" in line:
            raise SystemExit(f"{path}:{n}: a carriage return inside the row (the baselines would split it)")
        if len(text) > CSV_FIELD_LIMIT:
            raise SystemExit(f"{path}:{n}: a text of {len(text)} characters, above the {CSV_FIELD_LIMIT} that "
                             "../shared/bench/baselines_tsv.py's csv reader accepts")
    return lines[0], lines[1:]


def timed(cmd, env=None):
    """Runs `cmd` under GNU time (/usr/bin/time -v): (output, wall seconds, peak resident memory of the process
    in MiB). Exits with its output if it fails."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return p.stdout + p.stderr, wall, int(m.group(1)) / 1024 if m else float("nan")


BASELINE = """
import sys
sys.path.insert(0, {bench!r})
import baselines_tsv as b
Xtr, ytr = b.read({train!r}); Xte, yte = b.read({test!r})
acc, t, extra = b.{fn}({name!r}, Xtr, ytr, Xte, yte)
print(f"RESULT test_acc={{acc:.4f}} fit_s={{t:.1f}} {{extra}}")
"""


def baseline(shared, method, train, test, cjk=False):
    """One baseline of ../shared/bench/baselines_tsv.py ("tfidf+lr" or "fasttext"; `cjk`: its --cjk variant) in a
    Python process of its own under GNU time: (test accuracy, the method's own seconds as baselines_tsv.py times
    them (fit and predict, not reading), the process's wall seconds, its peak resident memory in MiB)."""
    fn = {"tfidf+lr": "tfidf", "fasttext": "ft"}[method]
    code = BASELINE.format(bench=os.path.join(shared, "bench"), train=train, test=test, fn=fn,
                           name="cjk" if cjk else "word")
    log, wall, rss = timed([sys.executable, "-c", code])
    m = re.search(r"RESULT test_acc=(\S+) fit_s=(\S+)", log)
    return float(m.group(1)), float(m.group(2)), wall, rss
