#!/usr/bin/env python3
"""ONNX export beside the bundle: exports each model with `Classifier.export_onnx`, runs the file with ONNX
Runtime on a test file's texts and prints one markdown table: texts, the largest probability difference from
`predict_proba`, how many predicted labels differ, the file size, and throughput (texts/s, encoding included)
of ONNX Runtime and of textcnn with the same thread count.

usage: python3 bench/onnx.py MODEL_DIR:TEST_FILE [MODEL_DIR:TEST_FILE ...] [--threads 2] [--batch 128]
                             [--limit N]

TEST_FILE: a TSV with a `text` column (the suite's test.tsv), a JSONL file with a "text" field, or a text
file with one text per line. Needs the textcnn package and onnxruntime (`pip install "textcnn[onnx]"`).
"""
import argparse
import csv
import json
import os
import sys
import tempfile
import time

import numpy as np


def read_texts(path):
    if path.endswith(".tsv"):
        with open(path, encoding="utf-8", newline="") as f:
            csv.field_size_limit(sys.maxsize)
            return [r["text"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    if path.endswith(".jsonl"):
        return [json.loads(l)["text"] for l in lines]
    return lines


def best_of(n, fn):
    """The smallest wall time of `n` calls of `fn` (seconds) and its last result."""
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", metavar="MODEL_DIR:TEST_FILE")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128, help="texts per ONNX Runtime call")
    ap.add_argument("--limit", type=int, default=0, help="first N texts only (0 = all)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each engine (the best is kept)")
    args = ap.parse_args()
    import onnxruntime as ort
    import textcnn

    print(f"onnxruntime {ort.__version__}, {args.threads} threads, batches of {args.batch} texts\n")
    print("| model | texts | max abs diff | labels differing | ONNX MB | ONNX Runtime texts/s | textcnn texts/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for pair in args.pairs:
        model, test = pair.split(":", 1)
        texts = read_texts(test)
        if args.limit:
            texts = texts[: args.limit]
        clf = textcnn.load(model, threads=args.threads)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            size = clf.export_onnx(path)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

            def run_onnx():
                return np.concatenate([
                    sess.run(["probabilities"], clf.onnx_inputs(texts[i:i + args.batch]))[0]
                    for i in range(0, len(texts), args.batch)
                ])

            t_onnx, got = best_of(args.repeats, run_onnx)
        t_ours, want = best_of(args.repeats, lambda: clf.predict_proba(texts))
        diff = float(np.abs(got - want).max())
        differ = int((got.argmax(1) != want.argmax(1)).sum())
        print(f"| {os.path.basename(os.path.normpath(model))} | {len(texts)} | {diff:.1e} | {differ} | "
              f"{size / 1e6:.1f} | {len(texts) / t_onnx:,.0f} | {len(texts) / t_ours:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
