#!/usr/bin/env python3
"""k-fold cross-validation on training files: textcnn's default beside TF-IDF + logistic regression and
fastText, on the same folds, in one session.

A suite set's test split is one draw of a few hundred to a few thousand texts: on waimai (1,197 test texts)
one percentage point is 12 texts, and two models half a point apart can swap places on another split. This
script measures the gap on k other held-out partitions of the *training* file (the test file is never read),
so defaults can be compared without looking at any test split.

usage: python bench/suite_cv.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/cv]
                                [--folds 5] [--seed 7] [--cjk] [--no-baselines] SET_OR_TSV ... [-- flags]

SET_OR_TSV is a suite set name (`waimai`: ../shared/data/suite/waimai/train.tsv) or any `label<TAB>text`
file with a header line. `--cjk` (automatic for waimai) runs the Chinese baseline (character 1–3-grams).
For each fold i the file's rows, shuffled with `random.Random(seed)`, are split into rows i, i+k, i+2k, ...
(held out) and the rest (training); textcnn trains with `--seed 42` (its default) plus any extra flags and
is scored on the held-out rows, as are `../shared/bench/baselines_tsv.py`'s two baselines. Prints one
markdown row per set: mean accuracy of each system over the folds and the mean difference to TF-IDF + LR
with its standard error over folds. Needs scikit-learn and fasttext-wheel (see ../shared/bench/README.md).
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys

CJK = {"waimai"}


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout + p.stderr


def folds(path, k, seed, out):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    head, rows = lines[0], [line for line in lines[1:] if line]
    random.Random(seed).shuffle(rows)
    for i in range(k):
        d = os.path.join(out, f"fold{i}")
        os.makedirs(d, exist_ok=True)
        held = rows[i::k]
        rest = [r for j, r in enumerate(rows) if j % k != i]
        for name, part in (("train.tsv", rest), ("test.tsv", held)):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write("\n".join([head] + part) + "\n")
        yield d


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap.add_argument("--textcnn", default=os.path.join(root, "target/release/textcnn"))
    ap.add_argument("--shared", default=os.path.join(root, "../shared"))
    ap.add_argument("--out", default=os.path.join(root, "runs/cv"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cjk", action="store_true")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("sets", nargs="+", help="suite set names or TSV files; extra `textcnn train` flags after --")
    argv, extra = sys.argv[1:], []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = ap.parse_args(argv)
    if args.folds < 2:
        raise SystemExit("--folds must be at least 2")
    table = []
    for s in args.sets:
        path = s if os.path.isfile(s) else os.path.join(args.shared, "data/suite", s, "train.tsv")
        if not os.path.isfile(path):
            raise SystemExit(f"{s}: neither a file nor a suite set ({path} not found)")
        name = os.path.splitext(os.path.basename(path))[0] if os.path.isfile(s) else s
        cjk = args.cjk or name in CJK
        out = os.path.join(args.out, name)
        shutil.rmtree(out, ignore_errors=True)
        scores = {"textcnn": [], "tfidf+lr": [], "fasttext": []}
        for i, d in enumerate(folds(path, args.folds, args.seed, out)):
            tr, te = os.path.join(d, "train.tsv"), os.path.join(d, "test.tsv")
            run([args.textcnn, "train", "--train", tr, "--test", te, "--output", os.path.join(d, "model")] + extra)
            with open(os.path.join(d, "model", "report.json")) as f:
                scores["textcnn"].append(json.load(f)["report"]["accuracy"])
            if not args.no_baselines:
                log = run([sys.executable, os.path.join(args.shared, "bench", "baselines_tsv.py"), tr, te]
                          + (["--cjk"] if cjk else []))
                for m in re.finditer(r"RESULT baseline=(\S+) test_acc=(\S+)", log):
                    scores[m.group(1)].append(float(m.group(2)))
            print(json.dumps({"set": name, "fold": i, **{k: v[-1] for k, v in scores.items() if v}}), flush=True)
        table.append((name, scores))

    def mean(v):
        return f"{statistics.mean(v):.4f}" if v else "–"

    print(f"\n{args.folds}-fold cross-validation on the training files (held-out folds; test files unread)\n")
    print("| dataset | textcnn | TF-IDF + LR | fastText | Δ vs TF-IDF (points, ± s.e.) |")
    print("|---|---|---|---|---|")
    for name, sc in table:
        if sc["tfidf+lr"]:
            diffs = [100 * (a - b) for a, b in zip(sc["textcnn"], sc["tfidf+lr"])]
            se = statistics.stdev(diffs) / len(diffs) ** 0.5
            delta = f"{statistics.mean(diffs):+.2f} ± {se:.2f}"
        else:
            delta = "–"
        print(f"| {name} | {mean(sc['textcnn'])} | {mean(sc['tfidf+lr'])} | {mean(sc['fasttext'])} | {delta} |")


if __name__ == "__main__":
    main()
