#!/usr/bin/env python3
"""Validation screen of training flags: mean validation accuracy over seeds and suite sets, test files unread.

usage: python bench/variants.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/variants]
                                [--sets sms,finphrase,snips,germeval,waimai,news20] [--seeds 1,2,3]
                                NAME -- TRAIN_FLAGS...

Each set's `train.tsv` is split once into fixed 90/10 train/validation files (stratified by label, seed 42,
written to OUT/splits/SET/; the same for every variant, so variants differ only in their flags). Each
(set, seed) is one `textcnn train --train SPLIT/train.tsv --valid SPLIT/valid.tsv --seed S TRAIN_FLAGS`. The
score of a run is the best epoch's validation accuracy (`metrics.jsonl`), or, for models with the n-gram branch,
the mixture's validation accuracy (`config.json`). Prints one JSON line per set and a markdown row:
NAME | per-set means | mean over the sets. This is how the "CNN variants" table of docs/results.md was made,
e.g. `python bench/variants.py kim-small -- --arch kim --emb-dim 256 --region-sizes 1,2,3,4,5 --patience 4`.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
from collections import defaultdict

from common import add_paths, check_binary, suite_train_file

SETS = "sms,finphrase,snips,germeval,waimai,news20"


def split(shared, name, out):
    """OUT/splits/NAME/{train,valid}.tsv: a stratified 10 % of each label's rows (seed 42) for validation."""
    folder = os.path.join(out, "splits", name)
    train, valid = os.path.join(folder, "train.tsv"), os.path.join(folder, "valid.tsv")
    if os.path.isfile(train) and os.path.isfile(valid):
        return train, valid
    source = suite_train_file(shared, name)
    if source is None:
        raise SystemExit(f"{name}: not a set of {shared}/data/suite")
    with open(source, encoding="utf-8") as f:
        lines = f.read().split("\n")
    head, rows = lines[0], [r for r in lines[1:] if r]
    by_label = defaultdict(list)
    for i, r in enumerate(rows):
        by_label[r.split("\t", 1)[0]].append(i)
    rng, held = random.Random(42), set()
    for label in sorted(by_label):
        idx = by_label[label][:]
        rng.shuffle(idx)
        held |= set(idx[: max(1, round(0.1 * len(idx)))])
    os.makedirs(folder, exist_ok=True)
    for path, keep in ((train, False), (valid, True)):
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + "\n" + "".join(r + "\n" for i, r in enumerate(rows) if (i in held) == keep))
    return train, valid


def score(run_dir):
    """The run's validation accuracy: the mixture's when it has an n-gram branch, else the best epoch's."""
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        mixed = ((json.load(f).get("ngram") or {}).get("validation") or {}).get("mixed")
    if mixed is not None:
        return mixed
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return max(json.loads(line)["valid_acc"] for line in f if line.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_paths(ap, "variants")
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("name")
    ap.add_argument("flags", nargs="*", help="`textcnn train` flags (after --)")
    args = ap.parse_args()
    check_binary(args.textcnn)
    seeds = [int(s) for s in args.seeds.split(",")]
    means = {}
    for name in args.sets.split(","):
        train, valid = split(args.shared, name, args.out)
        values = []
        for seed in seeds:
            run = os.path.join(args.out, args.name, f"{name}.{seed}")
            shutil.rmtree(run, ignore_errors=True)
            cmd = [args.textcnn, "train", "--train", train, "--valid", valid, "--output", run,
                   "--seed", str(seed)] + args.flags
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"{name} seed {seed}: {' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
            values.append(score(run))
        means[name] = statistics.mean(values)
        print(json.dumps({"variant": args.name, "set": name, "mean": round(means[name], 4),
                          "values": [round(v, 4) for v in values]}), flush=True)
    cells = " | ".join(f"{means[s]:.4f}" for s in means)
    print(f"| {args.name} | {cells} | {statistics.mean(means.values()):.4f} |")


if __name__ == "__main__":
    main()
