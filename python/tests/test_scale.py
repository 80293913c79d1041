"""The Spark and Ray recipes of the README on 400 IMDB test reviews: the labels and
probabilities equal `textcnn predict`'s on the same texts."""

import json
import os
import shutil
import sys

import numpy as np
import pytest

from conftest import run_cli


def cli_labels(model_dir, rows, tmp_path):
    src = tmp_path / "reviews.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": r["text"]}) + "\n"
                           for i, r in enumerate(rows)), encoding="utf-8")
    out = run_cli("predict", "--model", model_dir, "--input", src, "--format", "jsonl")
    got = [json.loads(l) for l in out.splitlines()]
    assert [g["id"] for g in got] == list(range(len(rows)))
    return [g["label"] for g in got], np.array([g["probability"] for g in got])


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("Spark needs Java: install Debian's default-jre-headless (.ci/run does)")
    from pyspark.sql import SparkSession

    # Spark's Python workers run `python3` from PATH unless told otherwise: use this
    # interpreter, the one with textcnn, pandas and pyarrow installed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    s = (SparkSession.builder.master("local[2]").appName("textcnn-test")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "128")
         .getOrCreate())
    yield s
    s.stop()


def test_spark_pandas_udf_equals_the_cli(spark, model_dir, imdb, tmp_path):
    from textcnn.spark import predict_udf

    rows = imdb["test_rows"]
    expected_labels, expected_p = cli_labels(model_dir, rows, tmp_path)
    df = spark.createDataFrame([(i, r["text"]) for i, r in enumerate(rows)], "id long, text string")
    df = df.repartition(2)
    predict = predict_udf(str(model_dir), threads=1)
    out = (df.withColumn("p", predict("text"))
             .select("id", "p.label", "p.probability", "p.probabilities")
             .orderBy("id").collect())
    assert [r["id"] for r in out] == list(range(len(rows)))
    assert [r["label"] for r in out] == expected_labels
    np.testing.assert_allclose([r["probability"] for r in out], expected_p, atol=1e-6)
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-5 for r in out)


def test_spark_udf_gives_null_for_null_and_empty_texts(spark, model_dir):
    from textcnn.spark import predict_udf

    df = spark.createDataFrame([(0, None), (1, ""), (2, "A wonderful, moving film.")],
                               "id long, text string")
    out = df.withColumn("p", predict_udf(str(model_dir))("text")).orderBy("id").collect()
    assert out[0]["p"]["label"] is None and out[1]["p"]["label"] is None
    assert out[2]["p"]["label"] in ("neg", "pos")


def test_rdd_pipe_through_the_streaming_cli(spark, model_dir, imdb, cli, tmp_path):
    """`RDD.pipe` feeds each partition to `textcnn predict` on its standard input."""
    rows = imdb["test_rows"][:100]
    expected, _ = cli_labels(model_dir, rows, tmp_path)
    texts = [" ".join(r["text"].split()) for r in rows]  # one line per review
    rdd = spark.sparkContext.parallelize(texts, 2)
    out = rdd.pipe(f"{cli} predict --model {model_dir} --threads 1").collect()
    assert [line.split("\t")[0] for line in out] == expected


def test_ray_map_batches_equals_the_cli(model_dir, imdb, tmp_path):
    ray = pytest.importorskip("ray")
    import pandas as pd
    from textcnn.ray import TextCNNPredictor

    rows = imdb["test_rows"]
    expected_labels, expected_p = cli_labels(model_dir, rows, tmp_path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        frame = pd.DataFrame({"id": range(len(rows)), "text": [r["text"] for r in rows]})
        # Two blocks, one per actor. (No repartition: its tasks would wait for the CPUs that the
        # two actors hold on this 2-CPU cluster.)
        half = len(frame) // 2
        ds = ray.data.from_pandas([frame.iloc[:half], frame.iloc[half:]])
        out = ds.map_batches(
            TextCNNPredictor,
            fn_constructor_kwargs={"path": str(model_dir), "threads": 1},
            batch_size=100,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=2),
        ).to_pandas().sort_values("id")
    finally:
        ray.shutdown()
    assert out["id"].tolist() == list(range(len(rows)))
    assert out["label"].tolist() == expected_labels
    np.testing.assert_allclose(out["probability"].to_numpy(), expected_p, atol=1e-6)
