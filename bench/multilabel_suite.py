#!/usr/bin/env python3
"""Multi-label table: textcnn's default model (and `--arch kim`) beside the one-vs-rest TF-IDF + logistic regression
baseline (bench/multilabel_baseline.py), on the multi-label set of the development suite (reuters, ModApte, 90
labels), measured in one session. All figures are on the test split; textcnn chooses everything (epochs, C, mixture,
thresholds) on a validation split carved from train.

usage: python bench/multilabel_suite.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/multilabel]
                                        [--no-kim] [-- extra train flags]

Needs scikit-learn in the Python running it.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from common import fresh_output


def run(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout, time.time() - t0


def textcnn(args, name, train, test, flags):
    out = fresh_output(args.out, name, [train, test])
    _, wall = run([args.textcnn, "train", "--train", train, "--test", test, "--output", out, "--quiet"] + flags)
    with open(os.path.join(out, "report.json")) as f:
        r = json.load(f)["report"]
    return r["micro_avg"]["f1"], r["macro_avg"]["f1"], r["subset_accuracy"], wall


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser()
    ap.add_argument("--textcnn", default=os.path.join(root, "target/release/textcnn"))
    ap.add_argument("--shared", default=os.path.join(root, "../shared"))
    ap.add_argument("--out", default=os.path.join(root, "runs/multilabel"))
    ap.add_argument("--no-kim", action="store_true")
    ap.add_argument("extra", nargs="*", help="extra `textcnn train` flags (after --)")
    args = ap.parse_args()
    data = os.path.join(args.shared, "data/suite/reuters")
    train, test = os.path.join(data, "train.jsonl"), os.path.join(data, "test.jsonl")
    rows = []
    m = textcnn(args, "reuters", train, test, args.extra)
    rows.append(("textcnn (ngram-cnn, the default)", "`textcnn train --train reuters/train.jsonl --test reuters/test.jsonl`") + m)
    if not args.no_kim:
        m = textcnn(args, "reuters-kim", train, test, ["--arch", "kim"] + args.extra)
        rows.append(("textcnn --arch kim", "same, `--arch kim`") + m)
    out, wall = run([sys.executable, os.path.join(here, "multilabel_baseline.py"), train, test, "--json"])
    b = json.loads(out.strip().splitlines()[-1])
    rows.append(("one-vs-rest TF-IDF 1-2-grams + LR (C = 1, threshold 0.5)",
                 "`python bench/multilabel_baseline.py reuters/train.jsonl reuters/test.jsonl`",
                 b["micro_f1"], b["macro_f1"], b["subset_accuracy"], wall))
    print("| model | command | micro-F1 | macro-F1 | subset accuracy | s |")
    print("|---|---|---|---|---|---|")
    for name, cmd, mi, ma, sa, s in rows:
        print(f"| {name} | {cmd} | {mi:.4f} | {ma:.4f} | {sa:.4f} | {s:.0f} |")
    base = rows[-1][2]
    print(f"\ntextcnn default micro-F1 {rows[0][2]:.4f} vs baseline {base:.4f}: {100 * (rows[0][2] - base):+.2f} points")


if __name__ == "__main__":
    main()
