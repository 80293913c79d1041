#!/usr/bin/env python3
"""Accuracy table: textcnn's default model beside TF-IDF + logistic regression and fastText, on every
single-label set of the development suite (../shared/data/suite) and on IMDB, measured in one session.

usage: python bench/suite.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/suite] [--default-only]
                             [--sets sms,finphrase,...] [--no-imdb] [--no-baselines] [-- extra train flags]

For each set it runs `textcnn train --train SET/train.tsv --test SET/test.tsv --output OUT/SET` (defaults,
no other flags unless given after `--`), the same with `--arch kim` (the CNN alone) and `--arch ngram` (the
n-gram branch alone) into OUT/SET-kim and OUT/SET-ngram, and `../shared/bench/baselines_tsv.py` (`--cjk` for Chinese); for
IMDB the README's main job and `tfidf_lr_imdb.py` / `fasttext_imdb.py` (bigram, 10 epochs row). Prints one
markdown table: dataset, then for each model its test accuracy, seconds and peak memory.

Times and memory: every textcnn run and every baseline is a process of its own under GNU time
(/usr/bin/time -v). textcnn's seconds are the whole process (reading, training, test, report, bundle); a
suite baseline's are its own fit and predict as `baselines_tsv.py` times them (not Python's start or reading the
files); IMDB's TF-IDF + LR is the whole `tfidf_lr_imdb.py` process (its C search included), fastText its bigram
10-epoch row's training time. Memory is each process's peak resident set (for `fasttext_imdb.py`, the peak over
all its rows). Run on a quiet machine: the times are only comparable within one session.
Needs scikit-learn and fasttext-wheel in the Python running it (see ../shared/bench/README.md).
"""
import argparse
import json
import os
import re
import sys

from common import (HAN_SHARE_FOR_CJK, add_paths, baseline, check_baseline_modules, check_binary, fresh_output,
                    han_share, read_rows, suite_train_file, timed)

SETS = ["sms", "finphrase", "snips", "germeval", "waimai", "news20"]


def textcnn(args, name, train, test, inputs, extra_env=None, arch=None):
    out = fresh_output(args.out, name if arch is None else f"{name}-{arch}", inputs)
    env = dict(os.environ, **(extra_env or {}))
    cmd = [args.textcnn, "train", "--train", train, "--test", test, "--output", out] + args.extra
    if arch is not None:
        cmd += ["--arch", arch]
    log, wall, rss = timed(cmd, env)
    with open(os.path.join(out, "report.json")) as f:
        acc = json.load(f)["report"]["accuracy"]
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    ngram = cfg.get("ngram") or {}
    return acc, wall, rss, dict(ngram.get("validation", {}), mix=ngram.get("mix"))


def textcnn_row(args, name, train, test, inputs, extra_env=None):
    """The default, and unless --default-only the CNN alone (`--arch kim`) and the n-gram branch alone
    (`--arch ngram`), each with its defaults."""
    acc, wall, rss, val = textcnn(args, name, train, test, inputs, extra_env)
    row = {"set": name, "textcnn": acc, "textcnn_s": wall, "textcnn_mib": rss, "valid": val}
    if not args.default_only:
        for arch in ["kim", "ngram"]:
            acc, wall, rss, _ = textcnn(args, name, train, test, inputs, extra_env, arch)
            row[arch], row[arch + "_s"], row[arch + "_mib"] = acc, wall, rss
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_paths(ap, "suite")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--no-imdb", action="store_true")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--default-only", action="store_true",
                    help="only the default model (no --arch kim / --arch ngram columns)")
    ap.add_argument("extra", nargs="*", help="extra `textcnn train` flags (after --)")
    args = ap.parse_args()
    check_binary(args.textcnn)
    if not args.no_baselines:
        check_baseline_modules()
    suite = os.path.join(args.shared, "data/suite")
    bench = os.path.join(args.shared, "bench")
    rows = []
    names = [x for x in args.sets.split(",") if x]
    for s in names:
        if suite_train_file(args.shared, s) is None:
            raise SystemExit(f"--sets: {s!r} is not a set of {suite} (one of: {', '.join(SETS)})")
    for s in names:
        tr, te = os.path.join(suite, s, "train.tsv"), os.path.join(suite, s, "test.tsv")
        row = textcnn_row(args, s, tr, te, [tr, te])
        if not args.no_baselines:
            cjk = han_share(read_rows(tr)[1]) > HAN_SHARE_FOR_CJK  # waimai
            for method in ["tfidf+lr", "fasttext"]:
                acc, own_s, _, rss = baseline(args.shared, method, tr, te, cjk)
                row[method], row[method + "_s"], row[method + "_mib"] = acc, own_s, rss
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not args.no_imdb:
        imdb = os.path.join(args.shared, "data/imdb")
        row = textcnn_row(args, "imdb", "imdb:train", "imdb:test", [imdb], {"TEXTCNN_DATA_DIR": imdb})
        if not args.no_baselines:
            tar = os.path.join(imdb, "aclImdb_v1_labeled.tar.gz")
            log, wall_lr, rss = timed([sys.executable, os.path.join(bench, "tfidf_lr_imdb.py"), tar])
            m = re.search(r"RESULT tfidf12_logreg \S+ test_acc=(\S+)", log)
            row["tfidf+lr"], row["tfidf+lr_s"], row["tfidf+lr_mib"] = float(m.group(1)), wall_lr, rss
            log, _, rss = timed([sys.executable, os.path.join(bench, "fasttext_imdb.py"), tar])
            m = re.search(r"RESULT.*ngram2_ep10_lr0.5 .*?acc=(\S+).*?(?:train_s|time_s|wall_s)=(\S+)", log)
            if m:
                row["fasttext"], row["fasttext_s"], row["fasttext_mib"] = float(m.group(1)), float(m.group(2)), rss
        rows.append(row)
        print(json.dumps(row), flush=True)

    def cell(r, k):
        """Accuracy, seconds and peak MiB of model `k` in row `r`."""
        if k not in r:
            return "–"
        return f"{r[k]:.4f} · {r[k + '_s']:.1f} s · {r[k + '_mib']:.0f} MiB"

    # The baselines print four decimals: compare at that precision (685/697 is "0.9828" on both sides).
    def delta(r, k):
        return f"{100 * (round(r[k], 4) - r['tfidf+lr']):+.2f}" if k in r and "tfidf+lr" in r else "–"

    def ratio(r, k, base):
        return f"{r[k + '_s'] / r[base + '_s']:.2f}×" if k in r and base in r and r[base + "_s"] > 0 else "–"

    def mix(r):
        m = r["valid"].get("mix") or {}
        return f"{m['cnn']:g}/{m['ngram']:g}" if m else "–"

    print("\n| dataset | CNN alone (kim) | n-gram alone | default (ngram-cnn) | mix CNN/n-gram | TF-IDF + LR | fastText "
          "| Δ default vs TF-IDF | Δ CNN vs TF-IDF | default time / TF-IDF's | / fastText's |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {cell(r, 'kim')} | {cell(r, 'ngram')} | {cell(r, 'textcnn')} | {mix(r)} "
              f"| {cell(r, 'tfidf+lr')} | {cell(r, 'fasttext')} | {delta(r, 'textcnn')} | {delta(r, 'kim')} "
              f"| {ratio(r, 'textcnn', 'tfidf+lr')} | {ratio(r, 'textcnn', 'fasttext')} |")
    both = [r for r in rows if "tfidf+lr" in r]
    for k, what in [("textcnn", "default"), ("kim", "CNN alone"), ("ngram", "n-gram alone")]:
        have = [r for r in both if k in r]
        if have:
            mean = sum(round(r[k], 4) - r["tfidf+lr"] for r in have) / len(have)
            wins = sum(round(r[k], 4) >= r["tfidf+lr"] for r in have)
            print(f"{what}: mean difference to TF-IDF + LR over {len(have)} set(s) {100 * mean:+.2f} points, "
                  f">= it on {wins}")
    have = [r for r in rows if "ngram" in r]
    if have:
        gain = sum(r["textcnn"] - r["ngram"] for r in have) / len(have)
        print(f"default minus n-gram alone: {100 * gain:+.2f} points on average over {len(have)} set(s)")


if __name__ == "__main__":
    main()
