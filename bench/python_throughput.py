"""Throughput of the Python recipes beside the CLI on the same texts and model (issue 17).

    python bench/python_throughput.py MODEL_DIR TEXTS.jsonl [--threads 2] [--skip-ray]

TEXTS.jsonl holds {"text": ...} lines (e.g. `textcnn data split imdb:test --fraction 0.4
--first /dev/null ...`). Rows, each on all the texts, measured back to back:

- `textcnn predict` (the CLI, streaming, --threads T), texts on standard input, first and last;
- `textcnn.load(...).predict_proba` in this process (T threads);
- Spark local[T]: the pandas UDF of `textcnn.spark.predict_udf` (threads=1 per task, T tasks), on a
  DataFrame of T partitions, timed from the first action after caching the input;
- Ray Data: `map_batches(TextCNNPredictor)` with T actors of 1 thread (unless --skip-ray).

Also checks that every row gives the CLI's labels. Prints a Markdown table.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("texts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "textcnn"))
    args = ap.parse_args()
    with open(args.texts, encoding="utf-8") as f:
        texts = [" ".join(json.loads(l)["text"].split()) for l in f if l.strip()]
    n = len(texts)
    rows = []

    def run_cli():
        t = time.perf_counter()
        p = subprocess.run([args.cli, "predict", "--model", args.model, "--threads", str(args.threads)],
                           input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
        return time.perf_counter() - t, [l.split("\t")[0] for l in p.stdout.splitlines()]

    cli_s, cli_labels = run_cli()
    assert len(cli_labels) == n
    rows.append(("`textcnn predict` (CLI, load included), first", cli_s, True))

    import textcnn

    t = time.perf_counter()
    clf = textcnn.load(args.model, threads=args.threads)
    probs = clf.predict_proba(texts)
    py_s = time.perf_counter() - t
    py_labels = [clf.labels[j] for j in probs.argmax(axis=1)]
    rows.append(("Python `predict_proba` (load included)", py_s, py_labels == cli_labels))

    from pyspark.sql import SparkSession
    from textcnn.spark import predict_udf

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers need textcnn, pandas, pyarrow
    spark = (SparkSession.builder.master(f"local[{args.threads}]").appName("textcnn-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.createDataFrame([(i, s) for i, s in enumerate(texts)], "id long, text string")
    df = df.repartition(args.threads).cache()
    df.count()
    predict = predict_udf(args.model, threads=1)
    t = time.perf_counter()
    out = df.withColumn("p", predict("text")).select("id", "p.label").collect()
    spark_s = time.perf_counter() - t
    spark_labels = [r["label"] for r in sorted(out, key=lambda r: r["id"])]
    rows.append((f"Spark local[{args.threads}] pandas UDF (first run: worker start + bundle load)",
                 spark_s, spark_labels == cli_labels))
    t = time.perf_counter()
    out = df.withColumn("p", predict("text")).select("id", "p.label").collect()
    spark2_s = time.perf_counter() - t
    spark_labels = [r["label"] for r in sorted(out, key=lambda r: r["id"])]
    rows.append((f"Spark local[{args.threads}] pandas UDF (second run, bundle cached)",
                 spark2_s, spark_labels == cli_labels))
    spark.stop()

    if not args.skip_ray:
        import pandas as pd
        import ray
        from textcnn.ray import TextCNNPredictor

        ray.init(num_cpus=args.threads, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        ds = ray.data.from_pandas(pd.DataFrame({"id": range(n), "text": texts}))
        ds = ds.repartition(args.threads * 4).materialize()
        t = time.perf_counter()
        res = ds.map_batches(TextCNNPredictor, fn_constructor_kwargs={"path": args.model, "threads": 1},
                             batch_size=512, batch_format="pandas",
                             compute=ray.data.ActorPoolStrategy(size=args.threads)
                             ).to_pandas().sort_values("id")
        ray_s = time.perf_counter() - t
        rows.append((f"Ray Data map_batches, {args.threads} actors (actor start included)", ray_s,
                     res["label"].tolist() == cli_labels))
        ray.shutdown()

    # The CLI again, last: the machine's load may have changed meanwhile.
    cli_s, again = run_cli()
    rows.append(("`textcnn predict` (CLI, load included), last", cli_s, again == cli_labels))

    print(f"{n} texts, model {args.model}, {args.threads} threads/cores\n")
    print("| run | seconds | texts/s | same labels as the CLI |")
    print("|---|---:|---:|---|")
    for name, s, same in rows:
        print(f"| {name} | {s:.2f} | {n / s:,.0f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    sys.exit(main())
