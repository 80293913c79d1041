#!/usr/bin/env python3
"""Multi-label table: textcnn's default model beside the tuned baselines of `../shared/bench/multilabel_baselines.py`
(one-vs-rest TF-IDF word 1-2-grams + logistic regression, and fastText `-loss ova`, each with C / one global
threshold chosen by micro-F1 on a seeded 10 % validation split), measured in one session on each set. All figures
are on the test split; textcnn chooses everything (epochs, C, mixture, thresholds) on a validation split carved from
train.

usage: python bench/multilabel_suite.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/multilabel]
                                        [--set NAME=TRAIN,TEST ...] [--python PY] [--kim] [--no-fasttext]
                                        [--skip-baselines | --reuse-textcnn] [--baseline-results NAME=FILE ...]
                                        [-- extra train flags]

Sets: the development suite's reuters (`SHARED/data/suite/reuters/{train,test}.jsonl`) and every `--set`, files in
JSONL (`{"text", "labels"}`) or fastText (`__label__a __label__b text`) format. `--kim` adds `--arch kim`. The
baselines run with `--python` (default: this interpreter), which needs numpy, scikit-learn and fasttext-wheel.
Prints one markdown table (micro-F1, macro-F1, Jaccard over samples, subset accuracy, wall seconds of each whole
command) and, per set, whether the default reaches both baselines on micro-F1 and Jaccard and is not below them on
macro-F1.

The baselines take 10-30 minutes a set on 2 cores: to run both sides side by side, call it once with
--skip-baselines (textcnn only), run the shared script on each set meanwhile (the RESULT lines to a file), then once
more with --reuse-textcnn --baseline-results NAME=FILE for the table.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

from common import ROOT, add_paths, fresh_output

FIGURES = ("micro_f1", "macro_f1", "jaccard", "subset_acc")
# fasttext-wheel 0.9.2 builds its probabilities with `np.array(probs, copy=False)`, which NumPy 2 refuses; the
# shared script runs unchanged with that call given NumPy 1's meaning (copy when needed).
SHIM = """import sys, runpy, numpy, fasttext.FastText as F
class _NP:
    def __getattr__(self, name): return getattr(numpy, name)
    def array(self, a, copy=None, **kw): return numpy.asarray(a, **kw) if copy is False else numpy.array(a, **kw)
F.np = _NP()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout, time.time() - t0


def textcnn(args, name, train, test, flags):
    """The test figures of one `textcnn train` run, with its wall seconds (kept in OUT/NAME.wall_s); with
    --reuse-textcnn, those of the run already in OUT/NAME."""
    out = os.path.realpath(os.path.join(args.out, name))
    if args.reuse_textcnn:
        with open(out + ".wall_s") as f:
            wall = float(f.read())
    else:
        out = fresh_output(args.out, name, [train, test])
        _, wall = run([args.textcnn, "train", "--train", train, "--test", test, "--output", out, "--quiet"] + flags)
        with open(out + ".wall_s", "w") as f:
            f.write(f"{wall:.1f}\n")
    with open(os.path.join(out, "report.json")) as f:
        r = json.load(f)["report"]
    return dict(micro_f1=r["micro_avg"]["f1"], macro_f1=r["macro_avg"]["f1"], jaccard=r["jaccard_samples"],
                subset_acc=r["subset_accuracy"], wall_s=wall)


def baselines(args, train, test):
    """`name -> figures` of every RESULT line of the shared baselines script."""
    script = os.path.join(args.shared, "bench/multilabel_baselines.py")
    cmd = [args.python, "-c", SHIM, script, train, test] + (["--no-fasttext"] if args.no_fasttext else [])
    out, _ = run(cmd)
    return parse_results(out)


def parse_results(out):
    """`name -> figures` of the RESULT lines of the shared baselines script."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            kv = dict(re.findall(r"(\w+)=(\S+)", line))
            rows[kv["baseline"]] = {k: float(kv[k]) for k in FIGURES + ("wall_s",)} | {
                "extra": " ".join(f"{k}={kv[k]}" for k in ("C", "threshold") if k in kv)}
    return rows


def main():
    ap = argparse.ArgumentParser()
    add_paths(ap, "multilabel")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=TRAIN,TEST")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--kim", action="store_true")
    ap.add_argument("--no-fasttext", action="store_true")
    ap.add_argument("--skip-baselines", action="store_true", help="train and score textcnn only")
    ap.add_argument("--reuse-textcnn", action="store_true",
                    help="read textcnn's figures from the runs an earlier --skip-baselines call left in --out")
    ap.add_argument("--baseline-results", action="append", default=[], metavar="NAME=FILE",
                    help="the RESULT lines of the baselines script run on set NAME earlier in the same session "
                         "(they take ~10-30 min a set on 2 cores), instead of running it")
    ap.add_argument("extra", nargs="*", help="extra `textcnn train` flags (after --)")
    args = ap.parse_args()
    args.baseline_results = dict(s.split("=", 1) for s in args.baseline_results)
    reuters = os.path.join(args.shared, "data/suite/reuters")
    sets = [("reuters", os.path.join(reuters, "train.jsonl"), os.path.join(reuters, "test.jsonl"))]
    for s in args.set:
        name, files = s.split("=", 1)
        train, test = files.split(",")
        sets.append((name, train, test))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, textcnn {os.path.relpath(args.textcnn, ROOT)}, "
          f"extra flags {args.extra or 'none'}", flush=True)
    table, checks = [], []
    for name, train, test in sets:
        rows = [(name, "**textcnn (default)**", textcnn(args, name, train, test, args.extra))]
        if args.kim:
            rows.append((name, "textcnn `--arch kim`", textcnn(args, name + "-kim", train, test,
                                                                ["--arch", "kim"] + args.extra)))
        if args.skip_baselines:
            base = {}
        elif name in args.baseline_results:
            with open(args.baseline_results[name]) as f:
                base = parse_results(f.read())
        else:
            base = baselines(args, train, test)
        names = {"tfidf_lr_ovr": "one-vs-rest TF-IDF + LR (tuned)", "fasttext_ova": "fastText `-loss ova` (tuned)"}
        for key, b in base.items():
            rows.append((name, f"{names.get(key, key)} {b['extra']}", b))
        for row in rows:
            print("RESULT set={} model={} ".format(row[0], row[1].replace(" ", "_")) +
                  " ".join(f"{k}={row[2][k]:.4f}" for k in FIGURES + ("wall_s",)), flush=True)
        table.extend(rows)
        d = rows[0][2]
        ok = all(d["micro_f1"] >= b["micro_f1"] and d["jaccard"] >= b["jaccard"] and d["macro_f1"] >= b["macro_f1"]
                 for b in base.values())
        if base:
            checks.append(f"{name}: default {'reaches' if ok else 'does NOT reach'} every baseline on micro-F1, "
                          "Jaccard and macro-F1")
    print("\n| set | model | micro-F1 | macro-F1 | Jaccard | subset acc. | s |")
    print("|---|---|---|---|---|---|---|")
    for name, model, f in table:
        print(f"| {name} | {model} | " + " | ".join(f"{f[k]:.4f}" for k in FIGURES) + f" | {f['wall_s']:.0f} |")
    print()
    print("\n".join(checks))


if __name__ == "__main__":
    main()
