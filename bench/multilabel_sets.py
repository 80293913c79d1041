#!/usr/bin/env python3
"""Builds the two extra multi-label sets that `multilabel_suite.py --set` checks besides the suite's reuters, from
git snapshots of public repositories (Python 3 standard library only; no network):

  semeval    SemEval-2018 Task 1 E-c, English tweets, 11 emotions (Mohammad et al. 2018): the official train file
             (6,838 tweets) for training, the official dev file (886) as the test split (the test file's gold
             labels are not in the snapshot); 3 % of the tweets have no emotion.
             Source `mithunpaul08/twitter_psentiment_multi_label` @ 76515852e78e7e69711fbad96e705f98f0117e01,
             `2018-E-c-En-{train,dev}.txt` (ID, Tweet, 11 0/1 columns).
  goemotions GoEmotions, Reddit comments, 27 emotions + neutral (Demszky et al. 2020): original train (43,410) and
             test (5,427) splits; every comment has at least one label.
             Source `monologg/GoEmotions-pytorch` @ b75f9d3a8b76bc1060687925b04ca98a1b8ea66b,
             `data/original/{train,test,labels}.tsv|txt` (text, comma-separated label indices, id).

usage: python bench/multilabel_sets.py --mirror DIR --out DIR

`--mirror` holds one git directory per source at `<owner>+<name>/repo` (a clone at the pinned commit works too).
Writes OUT/semeval/{train,test}.jsonl and OUT/goemotions/{train,test}.jsonl, one `{"text", "labels"}` object per
line (labels sorted), texts as in the source.
"""
import argparse
import json
import os
import subprocess

SOURCES = {
    "semeval": ("mithunpaul08+twitter_psentiment_multi_label", "76515852e78e7e69711fbad96e705f98f0117e01"),
    "goemotions": ("monologg+GoEmotions-pytorch", "b75f9d3a8b76bc1060687925b04ca98a1b8ea66b"),
}


def show(mirror, name, path):
    repo, commit = SOURCES[name]
    git_dir = os.path.join(mirror, repo, "repo")
    if not os.path.isdir(git_dir):
        git_dir = os.path.join(mirror, repo)
    return subprocess.run(["git", "-C", git_dir, "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout.decode()


def semeval(mirror, split):
    lines = show(mirror, "semeval", f"2018-E-c-En-{split}.txt").splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        rows.append((cells[1], sorted(h for h, v in zip(header[2:], cells[2:]) if v.strip() == "1")))
    return rows


def goemotions(mirror, split):
    labels = show(mirror, "goemotions", "data/original/labels.txt").split()
    rows = []
    for line in show(mirror, "goemotions", f"data/original/{split}.tsv").splitlines():
        text, ids, _ = line.split("\t")
        rows.append((text, sorted(labels[int(i)] for i in ids.split(","))))
    return rows


def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w", encoding="utf-8") as f:
        for text, labels in rows:
            f.write(json.dumps({"text": text, "labels": labels}) + "\n")
    os.replace(path + ".part", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default=os.environ.get("MIRROR"), required="MIRROR" not in os.environ)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    for split, source in (("train", "train"), ("test", "dev")):
        write(os.path.join(args.out, "semeval", f"{split}.jsonl"), semeval(args.mirror, source))
    for split in ("train", "test"):
        write(os.path.join(args.out, "goemotions", f"{split}.jsonl"), goemotions(args.mirror, split))


if __name__ == "__main__":
    main()
