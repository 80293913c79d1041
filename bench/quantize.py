#!/usr/bin/env python3
"""Size and accuracy of quantized bundles: for each set, the f32 bundle of `textcnn train` (defaults) beside
`textcnn quantize --dtype f16` and `--dtype int8`, all evaluated on the same test file with `textcnn eval`.

usage: python3 bench/quantize.py [--textcnn target/release/textcnn] [--shared ../shared] [--out runs/quantize]
                                 [--sets sms,finphrase,...] [--imdb-model DIR]

For a suite set it trains `OUT/SET` unless that folder already holds a model (delete it to retrain);
`--imdb-model DIR` adds IMDB with an already trained bundle (the README's main job, `runs/imdb`), evaluated on
`imdb:test` (needs TEXTCNN_DATA_DIR). Prints one markdown table: set, dtype, bytes of the model files
(weights, vocabulary, n-gram branch, config), test accuracy, and the change in points against f32.
Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys

SETS = ["sms", "finphrase", "snips", "germeval", "waimai", "news20"]
MODEL_FILES = ["model.safetensors", "vocab.txt", "config.json", "ngram.safetensors", "ngram_tokens.txt"]


def model_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in MODEL_FILES if os.path.exists(os.path.join(d, f)))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def accuracy(textcnn, model, data):
    return json.loads(run([textcnn, "eval", "--model", model, "--data", data, "--json"]))["report"]["accuracy"]


def rows_for(args, name, model, test):
    rows = []
    base = None
    for dtype in ["f32", "f16", "int8"]:
        d = model
        if dtype != "f32":
            d = os.path.join(args.out, f"{name}-{dtype}")
            if not os.path.exists(os.path.join(d, "config.json")):
                run([args.textcnn, "quantize", "--model", model, "--output", d, "--dtype", dtype])
        acc = accuracy(args.textcnn, d, test)
        base = acc if base is None else base
        rows.append((name, dtype, model_bytes(d), acc, 100 * (acc - base)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--textcnn", default="target/release/textcnn")
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="runs/quantize")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--imdb-model")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    if args.imdb_model:
        rows += rows_for(args, "imdb", args.imdb_model, "imdb:test")
    for name in [s for s in args.sets.split(",") if s]:
        src = os.path.join(args.shared, "data", "suite", name)
        model = os.path.join(args.out, name)
        if not os.path.exists(os.path.join(model, "config.json")):
            run([args.textcnn, "train", "--train", os.path.join(src, "train.tsv"), "--output", model, "--quiet"])
        rows += rows_for(args, name, model, os.path.join(src, "test.tsv"))
    print("| set | dtype | model files (MB) | test accuracy | change (points) |")
    print("|---|---|---:|---:|---:|")
    for name, dtype, size, acc, delta in rows:
        print(f"| {name} | {dtype} | {size / 1e6:.2f} | {acc:.4f} | {delta:+.2f} |")


if __name__ == "__main__":
    main()
