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
file with a header line; a file named `train.tsv` takes its folder's name, any other its own stem, and the
folds go to OUT/NAME (deleted first). Every row must hold one tab, a label without surrounding spaces and a
non-blank text, so that textcnn and the baselines score the same rows; each fold's textcnn report is checked
against the number of held-out rows. `--cjk` (automatic for files whose text is more than 30 % Han characters,
such as waimai) runs the Chinese baselines (character 1–3-grams). Folds are shuffled, not stratified. The
fastText baseline is not deterministic (a few tenths of a point between runs).
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
import statistics
import sys

from common import (HAN_SHARE_FOR_CJK, add_paths, check_baseline_modules, check_binary, fresh_output, han_share,
                    read_rows, run, suite_train_file)


def partitions(path, rows, k, seed):
    """The k (held-out, training) row partitions: rows shuffled with `random.Random(seed)`, fold i holding out
    rows i, i+k, i+2k, ...; exits when a held-out label is missing from its training part."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    parts = []
    for i in range(k):
        held = rows[i::k]
        rest = [r for j, r in enumerate(rows) if j % k != i]
        unseen = sorted({r.split("\t")[0] for r in held} - {r.split("\t")[0] for r in rest})
        if unseen:
            raise SystemExit(f"{path}, fold {i}: label(s) {', '.join(unseen)} only in the held-out part; "
                             f"each label needs more rows (or use fewer --folds)")
        parts.append((held, rest))
    return parts


def write_fold(out, i, head, held, rest):
    """Writes OUT/fold{i}/train.tsv and test.tsv; returns the folder."""
    d = os.path.join(out, f"fold{i}")
    os.makedirs(d, exist_ok=True)
    for name, part in (("train.tsv", rest), ("test.tsv", held)):
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write("\n".join([head] + part) + "\n")
    return d


def source(s, shared):
    """(name, path) of a set name or TSV file; exits if neither."""
    if os.path.isfile(s):
        path = os.path.abspath(s)
        base = os.path.basename(path)
        name = os.path.basename(os.path.dirname(path)) if base == "train.tsv" else os.path.splitext(base)[0]
        return name, path
    path = suite_train_file(shared, s)
    if path is None:
        raise SystemExit(f"{s}: neither a TSV file nor a set of {os.path.join(shared, 'data/suite')}")
    return s, path


def scored(report_path):
    with open(report_path) as f:
        report = json.load(f)["report"]
    return report["accuracy"], sum(map(sum, report["confusion"]["counts"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_paths(ap, "cv")
    ap.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    ap.add_argument("--seed", type=int, default=7,
                    help="seed of the fold shuffle (default 7); textcnn's own --seed goes after --")
    ap.add_argument("--cjk", action="store_true",
                    help="Chinese baselines for every input (default: for inputs whose text is more than 30%% "
                         "Han characters, such as waimai)")
    ap.add_argument("--no-baselines", action="store_true", help="textcnn only")
    ap.add_argument("sets", nargs="+", help="suite set names or TSV files; extra `textcnn train` flags after --")
    argv, extra = sys.argv[1:], []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = ap.parse_args(argv)
    if args.folds < 2:
        raise SystemExit("--folds must be at least 2")
    check_binary(args.textcnn)
    if not args.no_baselines:
        check_baseline_modules()
    sources = [source(s, args.shared) for s in args.sets]
    names = [n for n, _ in sources]
    if len(set(names)) != len(names):
        raise SystemExit(f"two inputs share a name ({', '.join(names)}): their folds would overwrite each other")
    # Every input is read and partitioned before anything is trained.
    plans = []
    for name, path in sources:
        head, rows = read_rows(path)
        if len(rows) < args.folds:
            raise SystemExit(f"{path}: {len(rows)} rows, fewer than --folds {args.folds}")
        cjk = args.cjk or han_share(rows) > HAN_SHARE_FOR_CJK
        plans.append((name, path, head, cjk, partitions(path, rows, args.folds, args.seed)))
    table = []
    for name, path, head, cjk, parts in plans:
        out = fresh_output(args.out, name, [path])
        scores = {"textcnn": [], "tfidf+lr": [], "fasttext": []}
        for i, (held, rest) in enumerate(parts):
            d = write_fold(out, i, head, held, rest)
            tr, te = os.path.join(d, "train.tsv"), os.path.join(d, "test.tsv")
            run([args.textcnn, "train", "--train", tr, "--test", te, "--output", os.path.join(d, "model")] + extra)
            acc, n = scored(os.path.join(d, "model", "report.json"))
            if n != len(held):
                raise SystemExit(f"fold {i}: textcnn scored {n} of the {len(held)} held-out rows")
            scores["textcnn"].append(acc)
            if not args.no_baselines:
                log, _ = run([sys.executable, os.path.join(args.shared, "bench", "baselines_tsv.py"), tr, te]
                             + (["--cjk"] if cjk else []))
                found = dict((m.group(1), float(m.group(2)))
                             for m in re.finditer(r"RESULT baseline=(\S+) test_acc=(\S+)", log))
                if set(found) != {"tfidf+lr", "fasttext"}:
                    raise SystemExit(f"fold {i}: baselines_tsv.py printed {sorted(found)}, not tfidf+lr and fasttext")
                for k, v in found.items():
                    scores[k].append(v)
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
