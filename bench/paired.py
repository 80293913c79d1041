#!/usr/bin/env python3
"""Paired comparison on a suite set's test split: is textcnn's difference to TF-IDF + logistic regression
larger than that split's noise?

usage: python bench/paired.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/paired]
                              SET ... [-- extra train flags]

For each suite set (a folder name of ../shared/data/suite) it trains textcnn's default
(`textcnn train --train SET/train.tsv --test SET/test.tsv --output OUT/SET`, plus any flags after `--`),
predicts every test text with `textcnn predict`, and fits the TF-IDF + LR baseline of
`../shared/bench/baselines_tsv.py` (its configuration, C chosen on the same 10 % split) to get that
baseline's prediction for every test text too. The baseline's accuracy is checked against
`baselines_tsv.tfidf`'s own figure, and textcnn's against its training report, so both columns are the
figures `bench/suite.py` prints. OUT/SET is deleted first (refused when it would hold the set's files).

Prints one markdown row per set: test texts, how many each model gets right, how many only one of them gets
right (the discordant pairs b and c), and the two-sided exact McNemar p-value, 2·P(X ≤ min(b, c)) for
X ~ Binomial(b + c, 1/2) (McNemar 1947; the exact form as in Dietterich 1998, "Approximate statistical tests
for comparing supervised classification learning algorithms"). A p-value well above 0.05 means the test
split cannot tell the two models apart; `bench/suite_cv.py` then measures the gap on other partitions.
Needs scikit-learn (see ../shared/bench/README.md).
"""
import argparse
import importlib
import json
import os
import random
import subprocess
import sys
from math import comb

from common import (HAN_SHARE_FOR_CJK, add_paths, check_baseline_modules, check_binary, fresh_output, han_share,
                    read_rows, run, suite_train_file)


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value for b and c discordant pairs (1.0 when there are none).

    >>> mcnemar_exact(0, 5)  # 2 · (1/2)^5
    0.0625
    >>> round(mcnemar_exact(24, 27), 3)
    0.78
    """
    n = b + c
    return min(1.0, 2 * sum(comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n) if n else 1.0


def tfidf_predictions(texts, labels, test_texts, cjk):
    """Test predictions of `baselines_tsv.tfidf`'s model: the same vectorizer, the same 10 % split
    (`random.Random(1)`) to choose C from (1, 10, 100), then a refit on every training text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def vectorizer():
        return TfidfVectorizer(analyzer="char" if cjk else "word", ngram_range=(1, 3) if cjk else (1, 2),
                               sublinear_tf=True, min_df=1, token_pattern=None if cjk else r"(?u)\b\w+\b|[^\w\s]")

    idx = list(range(len(texts)))
    random.Random(1).shuffle(idx)
    k = len(idx) // 10
    va, tr = idx[:k], idx[k:]
    v = vectorizer()
    a = v.fit_transform([texts[i] for i in tr])
    b = v.transform([texts[i] for i in va])
    best = max((LogisticRegression(C=c, max_iter=2000).fit(a, [labels[i] for i in tr])
                .score(b, [labels[i] for i in va]), c) for c in (1, 10, 100))
    v = vectorizer()
    model = LogisticRegression(C=best[1], max_iter=2000).fit(v.fit_transform(texts), labels)
    return list(model.predict(v.transform(test_texts)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_paths(ap, "paired")
    ap.add_argument("sets", nargs="+", help="suite set names; extra `textcnn train` flags after --")
    argv, extra = sys.argv[1:], []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = ap.parse_args(argv)
    check_binary(args.textcnn)
    check_baseline_modules()
    if len(set(args.sets)) != len(args.sets):
        raise SystemExit("a set is named twice")
    baselines_file = os.path.join(args.shared, "bench", "baselines_tsv.py")
    if not os.path.isfile(baselines_file):
        raise SystemExit(f"{baselines_file}: not found (--shared must hold bench/baselines_tsv.py)")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise SystemExit(f"{args.out} is a file, not an output folder: use another --out")
    # Every set's files are checked before anything is trained.
    sets = []
    for name in args.sets:
        train = suite_train_file(args.shared, name)
        if train is None:
            raise SystemExit(f"{name}: not a set of {os.path.join(args.shared, 'data/suite')}")
        test = os.path.join(os.path.dirname(train), "test.tsv")
        _, train_rows = read_rows(train)  # errors name file:line
        read_rows(test)
        sets.append((name, train, test, han_share(train_rows) > HAN_SHARE_FOR_CJK))
    sys.path.insert(0, os.path.dirname(baselines_file))
    baselines = importlib.import_module("baselines_tsv")
    rows = []
    for name, train, test, cjk in sets:
        texts, labels = baselines.read(train)  # the baseline's own reading of the files
        test_texts, gold = baselines.read(test)
        out = fresh_output(args.out, name, [os.path.dirname(train)])
        run([args.textcnn, "train", "--train", train, "--test", test, "--output", out] + extra)
        with open(os.path.join(out, "report.json")) as f:
            reported = json.load(f)["report"]["accuracy"]
        texts_file = os.path.join(args.out, f"{name}.test.txt")
        with open(texts_file, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in test_texts))
        pred = subprocess.run([args.textcnn, "predict", "--model", out, "--input", texts_file],
                              capture_output=True, text=True)
        lines = pred.stdout.splitlines()
        ours = [line.split("\t")[0] for line in lines]
        if pred.returncode != 0 or len(ours) != len(gold) or any(line.startswith("error\t") for line in lines):
            raise SystemExit(f"{name}: textcnn predict failed or gave {len(ours)} lines for {len(gold)} test texts:\n"
                             + pred.stderr[-2000:])
        right_ours = [o == y for o, y in zip(ours, gold)]
        if round(sum(right_ours) / len(gold), 4) != round(reported, 4):
            raise SystemExit(f"{name}: predict's accuracy {sum(right_ours) / len(gold):.4f} differs from the "
                             f"training report's {reported:.4f}")
        try:
            theirs = tfidf_predictions(texts, labels, test_texts, cjk)
            own, _, _ = baselines.tfidf("cjk" if cjk else "word", texts, labels, test_texts, gold)
        except ValueError as e:  # scikit-learn on too few rows or a single class in the 90 % part
            raise SystemExit(f"{name}: the TF-IDF + LR baseline cannot be fitted on {train} ({e})")
        right_theirs = [t == y for t, y in zip(theirs, gold)]
        if round(own, 4) != round(sum(right_theirs) / len(gold), 4):
            raise SystemExit(f"{name}: the reproduced TF-IDF + LR scores {sum(right_theirs) / len(gold):.4f}, "
                             f"baselines_tsv.py {own:.4f}")
        b = sum(o and not t for o, t in zip(right_ours, right_theirs))
        c = sum(t and not o for o, t in zip(right_ours, right_theirs))
        rows.append((name, len(gold), sum(right_ours), sum(right_theirs), b, c, mcnemar_exact(b, c)))
        print(json.dumps(dict(zip(("set", "texts", "textcnn", "tfidf+lr", "only_textcnn", "only_tfidf", "p"),
                                  rows[-1]))), flush=True)
    print("\nTest splits: texts right (accuracy), discordant pairs, exact McNemar p\n")
    print("| dataset | texts | textcnn | TF-IDF + LR | only textcnn right | only TF-IDF right | p |")
    print("|---|---|---|---|---|---|---|")
    for name, n, a, t, b, c, p in rows:
        shown = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
        print(f"| {name} | {n} | {a} ({a / n:.4f}) | {t} ({t / n:.4f}) | {b} | {c} | {shown} |")


if __name__ == "__main__":
    main()
