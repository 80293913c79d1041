"""Shared fixtures: the CLI binary, a few hundred IMDB reviews cut from the archive by the CLI
(`textcnn data split`), and a small model trained once per session through `textcnn.train`."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_path() -> Path:
    return Path(os.environ.get("TEXTCNN_BIN", ROOT / "target" / "release" / "textcnn"))


def data_dir() -> Path:
    return Path(os.environ.get("TEXTCNN_DATA_DIR", ROOT.parent / "shared" / "data" / "imdb"))


def run_cli(*args, input=None):
    """Runs the textcnn CLI; returns its standard output (fails the test on a non-zero exit)."""
    env = dict(os.environ, TEXTCNN_DATA_DIR=str(data_dir()))
    p = subprocess.run([str(cli_path()), *map(str, args)], input=input, capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, f"textcnn {' '.join(map(str, args))}: {p.stderr}"
    return p.stdout


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


#: Model settings small enough for a few seconds of training on 2 cores.
FAST = dict(epochs=3, emb_dim=32, feature_maps=16, max_len=200, seed=7, threads=2)


@pytest.fixture(scope="session")
def cli():
    path = cli_path()
    if not path.exists():
        pytest.fail(f"{path} is missing: run `cargo build --release` first (or set TEXTCNN_BIN)")
    return path


@pytest.fixture(scope="session")
def imdb(tmp_path_factory, cli):
    """2,000 training reviews and 400 test reviews (stratified samples) as JSONL files."""
    d = tmp_path_factory.mktemp("imdb")
    run_cli("data", "split", "imdb:train", "--fraction", "0.08", "--seed", "3",
            "--first", d / "rest_train.jsonl", "--second", d / "train.jsonl")
    run_cli("data", "split", "imdb:test", "--fraction", "0.016", "--seed", "3",
            "--first", d / "rest_test.jsonl", "--second", d / "test.jsonl")
    (d / "rest_train.jsonl").unlink()
    (d / "rest_test.jsonl").unlink()
    return {"train": d / "train.jsonl", "test": d / "test.jsonl",
            "test_rows": read_jsonl(d / "test.jsonl")}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, imdb):
    """A default-architecture (ngram-cnn) bundle trained on the 2,000 reviews."""
    import textcnn

    out = tmp_path_factory.mktemp("model") / "imdb-small"
    textcnn.train(train=str(imdb["train"]), output=str(out), **FAST)
    return out


TOPICS = [("sport", ["goal", "match", "striker"]), ("politics", ["election", "senate", "vote"]),
          ("money", ["bank", "shares", "profit"])]
FILLER = ["the", "today", "report", "said", "a", "new", "city", "people", "week", "news"]


def topics(n, seed):
    """`n` synthetic texts, each with the cue words of any subset of three topics (the empty
    one included): `(texts, label lists)`, as `tests/it/multilabel_cli.rs` makes them."""
    texts, labels = [], []
    for i in range(n):
        mask, k = (i * 5 + seed) % 8, i * 7 + seed * 3
        words = [FILLER[(k + j * 3) % len(FILLER)] for j in range(6 + k % 5)]
        mine = []
        for t, (name, cues) in enumerate(TOPICS):
            if mask & (1 << t):
                words.insert((k + t) % len(words), cues[(k + t) % 3])
                mine.append(name)
        texts.append(" ".join(words))
        labels.append(mine)
    return texts, labels
