"""ONNX export: ONNX Runtime (from PyPI) gives the probabilities of `predict_proba` within 1e-5 on
the development suite's test texts, for every architecture and head with an ONNX form: the
default (ngram-cnn) in English and in Chinese (character n-grams, max-mean pooling), the CNN alone
(`kim`), the n-gram branch alone (`ngram`) and a multi-label model (Reuters)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import textcnn
from conftest import FAST, ROOT, run_cli

ort = pytest.importorskip("onnxruntime")

SUITE = Path(os.environ.get("TEXTCNN_SUITE_DIR", ROOT.parent / "shared" / "data" / "suite"))
#: Texts per ONNX Runtime call: the n-gram counts are a dense [batch, features] tensor.
BATCH = 128


def suite_texts(name, split):
    """The texts of a suite set's TSV or JSONL split, in file order."""
    tsv = SUITE / name / f"{split}.tsv"
    if tsv.exists():
        lines = tsv.read_text(encoding="utf-8").splitlines()[1:]
        return [l.split("\t", 1)[1] for l in lines if l.strip()]
    with open(SUITE / name / f"{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(l)["text"] for l in f if l.strip()]


def onnx_probabilities(clf, path, texts):
    """Probabilities of `texts` by ONNX Runtime running the exported file at `path`."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(clf.onnx_inputs(texts[:1]))
    out = [sess.run(["probabilities"], clf.onnx_inputs(texts[i:i + BATCH]))[0]
           for i in range(0, len(texts), BATCH)]
    return np.concatenate(out)


def check_same(clf, tmp_path, texts):
    """Exports `clf`, runs the file on `texts` and compares with `predict_proba`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "model.onnx"
    size = clf.export_onnx(path)
    assert size == path.stat().st_size > 0
    got = onnx_probabilities(clf, path, texts)
    want = clf.predict_proba(texts)
    assert got.shape == want.shape == (len(texts), len(clf.labels))
    diff = float(np.abs(got - want).max())
    assert diff <= 1e-5, f"largest difference {diff}"
    # Not a vacuous comparison: the model tells the texts apart.
    assert float(want.std(axis=0).max()) > 0.05
    return path


def with_mix(clf, tmp_path, cnn, ngram):
    """A copy of `clf`'s bundle whose mixture weights are set to `(cnn, ngram)`: small test
    models give the CNN weight 0, and the mixture must be checked with both branches."""
    out = tmp_path / "mixed"
    shutil.copytree(clf.path, out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config["ngram"]["mix"] = {"cnn": cnn, "ngram": ngram}
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    mixed = textcnn.load(out)
    assert mixed.config["ngram"]["mix"] == {"cnn": cnn, "ngram": ngram}
    return mixed


def train_suite(tmp_path, name, **settings):
    train = SUITE / name / ("train.tsv" if (SUITE / name / "train.tsv").exists() else "train.jsonl")
    return textcnn.train(train=str(train), output=str(tmp_path / name), **{**FAST, **settings})


def char_input(clf):
    """`["char_ids"]` when the model's n-gram branch chose character n-grams on its validation
    split (a choice that may go either way on SMS), else `[]`."""
    return ["char_ids"] if clf.config["ngram"]["features"]["char_n"] > 0 else []


@pytest.fixture(scope="module")
def sms(tmp_path_factory):
    """The default architecture (ngram-cnn) trained on the suite's SMS spam set."""
    return train_suite(tmp_path_factory.mktemp("onnx"), "sms")


def test_default_model_matches_predict_on_sms_test_texts(sms, tmp_path):
    assert sms.config["ngram"] is not None
    path = check_same(sms, tmp_path, suite_texts("sms", "test"))
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert json.loads(meta.custom_metadata_map["labels"]) == sms.labels
    assert meta.custom_metadata_map["head"] == "single-label"
    assert meta.custom_metadata_map["architecture"] == "ngram-cnn"
    assert list(sms.onnx_inputs(["hi"])) == ["input_ids", "ngram_ids"] + char_input(sms)


def test_mixture_of_both_branches_matches(sms, tmp_path):
    mixed = with_mix(sms, tmp_path, 0.7, 1.3)
    texts = suite_texts("sms", "test")
    # The mixture differs from either branch alone, so the comparison checks the mixing.
    assert float(np.abs(mixed.predict_proba(texts) - sms.predict_proba(texts)).max()) > 1e-3
    check_same(mixed, tmp_path, texts)


def test_cli_export_writes_the_same_file_as_python(sms, tmp_path):
    a, b = tmp_path / "py.onnx", tmp_path / "cli.onnx"
    sms.export_onnx(a)
    out = run_cli("export", "--model", sms.path, "--format", "onnx", "--output", b)
    assert "opset 13" in out and "input_ids, ngram_ids" in out
    assert a.read_bytes() == b.read_bytes()


def test_chinese_model_with_character_ngrams_and_max_mean_pooling(tmp_path):
    clf = train_suite(tmp_path, "waimai", epochs=1, pooling="max-mean")
    assert clf.config["ngram"]["features"]["char_n"] > 0
    assert list(clf.onnx_inputs(["好吃"])) == ["input_ids", "ngram_ids", "char_ids"]
    check_same(clf, tmp_path, suite_texts("waimai", "test"))


@pytest.mark.parametrize("arch", ["kim", "ngram"])
def test_cnn_alone_and_ngram_alone(arch, tmp_path):
    settings = {"arch": arch} if arch == "kim" else {"arch": arch, "seed": 7, "threads": 2}
    clf = textcnn.train(train=str(SUITE / "sms" / "train.tsv"), output=str(tmp_path / arch),
                        **({**FAST, **settings} if arch == "kim" else settings))
    names = list(clf.onnx_inputs(["hi"]))
    assert names == (["input_ids"] if arch == "kim" else ["ngram_ids"] + char_input(clf))
    check_same(clf, tmp_path, suite_texts("sms", "test"))


def test_multi_label_model_matches_on_reuters_test_texts(tmp_path):
    clf = train_suite(tmp_path, "reuters", epochs=2)
    assert clf.multi_label
    path = check_same(clf, tmp_path, suite_texts("reuters", "test"))
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert meta.custom_metadata_map["head"] == "multi-label"
    thresholds = json.loads(meta.custom_metadata_map["thresholds"])
    at_least_one = json.loads(meta.custom_metadata_map["at_least_one"])
    assert at_least_one == clf.config["multi_label"].get("at_least_one", False)
    # The documented rule on ONNX Runtime's probabilities decides the labels `predict` decides.
    texts = suite_texts("reuters", "test")
    probs = onnx_probabilities(clf, path, texts)
    t = np.float32(thresholds)
    compared = 0
    for row, decided in zip(probs, clf.predict(texts)):
        if np.abs(row - t).min() < 1e-5:
            continue  # within float rounding of a threshold: either side is right
        chosen = [i for i in range(len(t)) if row[i] >= t[i]]
        if not chosen and at_least_one:
            chosen = [int(np.argmax(row))]
        assert {clf.labels[i] for i in chosen} == {label for label, _ in decided}
        compared += 1
    assert compared > 0.95 * len(texts)
    np.testing.assert_array_equal(np.float32(thresholds), np.float32(clf.thresholds))
    check_same(with_mix(clf, tmp_path, 0.7, 1.3), tmp_path / "m", suite_texts("reuters", "test"))


def test_seed_architecture_is_refused(tmp_path):
    clf = textcnn.train(train=str(SUITE / "sms" / "train.tsv"), output=str(tmp_path / "seed"),
                        arch="seed", epochs=1, seed=7, threads=2, max_len=64)
    with pytest.raises(textcnn.TextCNNError, match="2-D CNN"):
        clf.export_onnx(tmp_path / "seed.onnx")
    assert not (tmp_path / "seed.onnx").exists()


def test_python_export_checks_the_path_as_the_cli_does(sms, tmp_path):
    bundle = Path(sms.path)
    before = {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()}
    for inside in [bundle / "model.safetensors", bundle / "config.json", bundle / "x.onnx"]:
        with pytest.raises(textcnn.TextCNNError, match="inside the model bundle"):
            sms.export_onnx(inside)
    assert {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()} == before
    with pytest.raises(textcnn.TextCNNError, match="is a directory"):
        sms.export_onnx(tmp_path)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"mine")
    with pytest.raises(textcnn.TextCNNError, match="force=True"):
        sms.export_onnx(out)
    assert out.read_bytes() == b"mine"
    assert sms.export_onnx(out, force=True) == out.stat().st_size > 4
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(textcnn.TextCNNError, match="not a regular file"):
        sms.export_onnx(fifo, force=True)
