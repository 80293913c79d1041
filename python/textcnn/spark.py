"""Spark recipe: classify a DataFrame column with a pandas UDF that loads the bundle once per
Python worker process (Spark reuses its Python workers, so once per executor core in practice).

    from pyspark.sql import SparkSession
    from textcnn.spark import predict_udf

    spark = SparkSession.builder.master("local[2]").getOrCreate()
    df = spark.read.json("reviews.jsonl")                  # a "text" column
    predict = predict_udf("runs/imdb", threads=1)
    out = df.withColumn("p", predict("text")).select("text", "p.label", "p.probability")

The bundle folder must be readable at the same path on every executor: a shared file system, or
ship it with `spark.sparkContext.addFile("runs/imdb", recursive=True)` and give
`predict_udf("imdb", spark_files=True)`, which resolves the name with `SparkFiles.get` on the
executor. Each executor runs the model with `threads` threads; Spark already runs one task per
core, so 1 is the right value unless executors have spare cores.
"""


import threading

from . import Classifier, load

__all__ = ["predict_udf", "cached_classifier", "RESULT_TYPE"]

#: The UDF's Spark SQL type: the most probable label, its probability, and every label's
#: probability in the bundle's label order.
RESULT_TYPE = "label string, probability float, probabilities array<float>"

_cache: dict = {}
_lock = threading.Lock()


def cached_classifier(path: str, threads: int = 1, spark_files: bool = False) -> Classifier:
    """The classifier of bundle `path`, loaded once per process (and reused by every batch)."""
    key = (path, threads, spark_files)
    with _lock:
        clf = _cache.get(key)
        if clf is None:
            where = path
            if spark_files:
                from pyspark import SparkFiles

                where = SparkFiles.get(path)
            clf = load(where, threads=threads)
            _cache[key] = clf
        return clf


def predict_udf(path: str, threads: int = 1, spark_files: bool = False):
    """A pandas UDF mapping a string column to `struct<label, probability, probabilities>`
    (see `RESULT_TYPE`). A null or token-less text gets a null label (and null probability)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(RESULT_TYPE)
    def textcnn_predict(texts: pd.Series) -> pd.DataFrame:
        clf = cached_classifier(path, threads, spark_files)
        labels = clf.labels
        missing = texts.isna().to_numpy()
        items = ["" if m else t for t, m in zip(texts.tolist(), missing)]
        probs, n_tokens, _, _ = clf._probabilities(items)
        best = probs.argmax(axis=1)
        has = [(n > 0) and not m for n, m in zip(n_tokens, missing)]
        return pd.DataFrame(
            {
                "label": [labels[j] if ok else None for j, ok in zip(best, has)],
                "probability": [float(p[j]) if ok else None for p, j, ok in zip(probs, best, has)],
                "probabilities": [p.tolist() if ok else None for p, ok in zip(probs, has)],
            }
        )

    return textcnn_predict
