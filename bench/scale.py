#!/usr/bin/env python3
"""Scale benchmark: wall time, peak memory and test accuracy as the training set grows, for textcnn's default,
`--arch kim` and `--arch ngram` beside TF-IDF + logistic regression and fastText, in one session.

usage: python bench/scale.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/scale]
                             [--sizes 50000,150000,500000] [--test-size 20000] [--methods default,kim,ngram,tfidf+lr,fasttext]

Texts: IMDB's 50,000 labelled reviews (train and test archives together) split into sentences (`<br />` and
whitespace runs become one space; a sentence ends at `.`, `!` or `?` followed by a space; sentences of fewer than
three words dropped), each labelled by its review (pos/neg). The reviews, not the sentences, are split: a seeded
10 % of the reviews give the test sentences (`--test-size` of them, sampled), the other 90 % the training pool
(about 480,000 sentences), shuffled once; the first N of the pool is the training set of size N, so a larger set
holds every smaller one. The task is hard (a sentence often carries no sentiment), which is the point: many short
texts.

Each run is one process under `/usr/bin/time -v` (wall time and peak resident memory of the whole command, reading
included): `textcnn train --train TRAIN_N.tsv --test TEST.tsv --output OUT/...` (+ `--arch kim|ngram`), and the
TF-IDF + LR and fastText functions of `../shared/bench/baselines_tsv.py` (word 1–2-grams, C from {1, 10, 100} on a
10 % split; fastText bigrams, 25 epochs, 2 threads), each in its own Python process. Prints one JSON line per run
and, at the end, a markdown table with the growth exponent of time and memory between the smallest and the largest
size (log ratio of time over log ratio of size: 1.0 is linear). Needs scikit-learn and fasttext-wheel in the
Python running it (see ../shared/bench/README.md) and GNU time at /usr/bin/time.
"""
import argparse
import json
import math
import os
import random
import re
import sys

from common import add_paths, baseline, check_baseline_modules, check_binary, fresh_output, timed

METHODS = ["default", "kim", "ngram", "tfidf+lr", "fasttext"]
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

def sentences(text):
    text = " ".join(text.replace("<br />", " ").split())
    return [s for s in SENTENCE_END.split(text) if len(s.split()) >= 3 and "\t" not in s]


def build_data(shared, out, sizes, test_size, seed=13):
    """Writes OUT/data/train_N.tsv for each size and OUT/data/test.tsv; returns their paths."""
    sys.path.insert(0, os.path.join(shared, "bench"))
    from imdb_data import load_imdb

    data_dir = os.path.join(out, "data")
    train_paths = {n: os.path.join(data_dir, f"train_{n}.tsv") for n in sizes}
    test_path = os.path.join(data_dir, "test.tsv")
    if all(os.path.isfile(p) for p in list(train_paths.values()) + [test_path]):
        return train_paths, test_path
    os.makedirs(data_dir, exist_ok=True)
    imdb = load_imdb(os.path.join(shared, "data/imdb/aclImdb_v1_labeled.tar.gz"))
    reviews = imdb["train"] + imdb["test"]
    rng = random.Random(seed)
    rng.shuffle(reviews)
    k = len(reviews) // 10
    label = {0: "neg", 1: "pos"}
    test = [(label[y], s) for t, y in reviews[:k] for s in sentences(t)]
    pool = [(label[y], s) for t, y in reviews[k:] for s in sentences(t)]
    rng.shuffle(test)
    rng.shuffle(pool)
    if max(sizes) > len(pool):
        raise SystemExit(f"--sizes: the training pool holds {len(pool)} sentences, fewer than {max(sizes)}")

    def write(path, rows):
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write("label\ttext\n")
            for y, s in rows:
                f.write(f"{y}\t{s}\n")
        os.replace(path + ".tmp", path)

    write(test_path, test[:test_size])
    for n in sizes:
        write(train_paths[n], pool[:n])
    print(f"# {len(reviews)} reviews: {len(pool)} training-pool sentences, {len(test)} test sentences "
          f"({test_size} used)", file=sys.stderr, flush=True)
    return train_paths, test_path


def run_method(args, method, n, train, test):
    if method in ("default", "kim", "ngram"):
        out = fresh_output(args.out, f"{method}_{n}", [train, test])
        arch = [] if method == "default" else ["--arch", method]
        log, wall, rss = timed([args.textcnn, "train", "--train", train, "--test", test, "--output", out,
                                "--quiet"] + arch)
        with open(os.path.join(out, "report.json")) as f:
            acc = json.load(f)["report"]["accuracy"]
    else:
        acc, _, wall, rss = baseline(args.shared, method, train, test)
    return {"method": method, "n": n, "acc": acc, "wall_s": round(wall, 1), "peak_mib": round(rss)}


def exponent(rows, key):
    """Growth exponent of `key` between the smallest and the largest size measured."""
    rows = sorted(rows, key=lambda r: r["n"])
    if len(rows) < 2 or rows[0][key] <= 0:
        return None
    a, b = rows[0], rows[-1]
    return math.log(b[key] / a[key]) / math.log(b["n"] / a["n"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_paths(ap, "scale")
    ap.add_argument("--sizes", default="50000,150000,500000")
    ap.add_argument("--test-size", type=int, default=20000)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(",") if x)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"--methods: {m!r} is not one of {', '.join(METHODS)}")
    if any(m in ("default", "kim", "ngram") for m in methods):
        check_binary(args.textcnn)
    if any(m in ("tfidf+lr", "fasttext") for m in methods):
        check_baseline_modules()
    train_paths, test_path = build_data(args.shared, args.out, sizes, args.test_size)
    rows = []
    for n in sizes:
        for m in methods:
            row = run_method(args, m, n, train_paths[n], test_path)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| method | {' | '.join(f'{n:,} texts: acc, s, MiB' for n in sizes)} | growth exponent: time, memory |")
    print(f"|---|{'---|' * len(sizes)}---|")
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        cells = [f"{r['acc']:.4f}, {r['wall_s']:.0f}, {r['peak_mib']}" for r in mine]
        et, em = exponent(mine, "wall_s"), exponent(mine, "peak_mib")
        grow = "n/a" if et is None else f"{et:.2f}, {em:.2f}"
        print(f"| {m} | {' | '.join(cells)} | {grow} |")


if __name__ == "__main__":
    main()
