"""Training that reports (progress, TensorBoard, pictures, report.html, every branch's figures)
and evaluation (`Classifier.evaluate` / `test`), compared with the CLI's numbers and text."""

import io
import json

import numpy as np
import pytest

import textcnn
from conftest import FAST, run_cli


@pytest.fixture(scope="module")
def reported(imdb, tmp_path_factory):
    """An ngram-cnn run with test data, TensorBoard and the report, its progress snapshots kept."""
    out = tmp_path_factory.mktemp("reported") / "run"
    snapshots = []
    clf = textcnn.train(train=str(imdb["train"]), test=str(imdb["test"]), output=out,
                        tensorboard=True, report=True, progress=snapshots.append, **FAST)
    return clf, out, snapshots


def cli_eval(model, data):
    return json.loads(run_cli("eval", "--model", model, "--data", data, "--json"))


def test_result_has_every_branch_on_valid_and_test(reported, imdb):
    clf, out, _ = reported
    r = clf.result
    assert isinstance(r, textcnn.TrainResult)
    validation = clf.config["ngram"]["validation"]
    assert r.valid == {"cnn": validation["cnn"], "ngram": validation["ngram"],
                       "mixed": validation["mixed"]}
    assert set(r.test) == {"cnn", "ngram", "mixed"}
    # The model's test figures are report.json's and the CLI's.
    cli = cli_eval(out, imdb["test"])
    assert r.test["mixed"]["accuracy"] == pytest.approx(cli["report"]["accuracy"], abs=1e-12)
    saved = json.load(open(out / "report.json", encoding="utf-8"))
    assert r.test["mixed"]["accuracy"] == pytest.approx(saved["report"]["accuracy"], abs=1e-12)
    # Each branch alone, as evaluate(branch=...) scores it.
    for branch in ("cnn", "ngram"):
        assert r.test[branch] == pytest.approx(clf.test(imdb["test"], branch=branch).figures)
    mix = clf.config["ngram"]["mix"]
    if mix["cnn"] == 0:  # the mixture is the n-gram branch's softmax, sharpened: same argmax
        assert r.test["mixed"]["accuracy"] == r.test["ngram"]["accuracy"]
        assert "weight 0" in r.cnn_note and "note: " in str(r)
    else:
        assert r.cnn_note is None
    assert r.best_epoch["epoch"] == clf.config["best"]["epoch"]
    assert [e["epoch"] for e in r.history] == list(range(1, len(r.history) + 1))
    assert "valid: cnn" in str(r) and "test mixed: accuracy" in str(r)


def test_tensorboard_pictures_and_report_are_written(reported):
    _, out, _ = reported
    events = list((out / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 100
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<svg" in page
    for name in ("learning_curves", "confusion_matrix", "per_class_f1"):
        assert (out / "plots" / f"{name}.svg").read_text(encoding="utf-8").startswith("<svg")


def test_progress_snapshots_follow_the_run(reported):
    clf, _, snapshots = reported
    fit = [s for s in snapshots if s.get("stage") == "fit" and "loss" in s]
    assert fit, snapshots[:3]
    assert all(1 <= s["epoch"] <= s["max_epochs"] and 0 <= s["step"] <= s["steps"] for s in fit)
    assert all(np.isfinite(s["loss"]) and s["examples_per_s"] >= 0 for s in fit)
    stages = [s.get("stage") for s in snapshots]
    assert stages[-1] == "final report"  # the last stage started
    last, recorded = snapshots[-1]["last_epoch"], clf.result.history[-1]
    assert last["lr"] == pytest.approx(recorded["lr"])  # f32 in one, its shortest decimal in the other
    assert {k: v for k, v in last.items() if k != "lr"} == {k: v for k, v in recorded.items() if k != "lr"}


def test_progress_printer_draws_a_bar_and_epoch_lines():
    stream = io.StringIO()
    bar = textcnn.ProgressPrinter(stream=stream, min_interval=0.0)
    bar({"stage": "prepare data"})
    bar({"stage": "fit", "epoch": 1, "max_epochs": 4, "step": 6, "steps": 12, "epoch_loss": 0.5,
         "epoch_acc": 0.75, "examples_per_s": 100.0, "train_examples": 1200})
    bar({"stage": "fit", "epoch": 1, "max_epochs": 4, "step": 12, "steps": 12, "improved": True,
         "last_epoch": {"epoch": 1, "train_loss": 0.5, "train_acc": 0.75, "valid_loss": 0.25,
                        "valid_acc": 0.875, "seconds": 12.0}})
    bar.close()
    # 6 of 12 steps: half the bar; 6 steps of 100 examples left at 100 examples/s: 6 s.
    assert stream.getvalue() == (
        "prepare data ...\n"
        "\repoch 1/4 [############............] 6/12 loss 0.5000 acc 0.7500 100 ex/s ETA 0:06\n"
        "\repoch 1/4: train loss 0.5000 acc 0.7500 | valid loss 0.2500 acc 0.8750 | 12.0 s *\n"
    )


def test_evaluate_and_test_give_the_cli_report(reported, imdb):
    clf, out, _ = reported
    rows = imdb["test_rows"]
    cli = cli_eval(out, imdb["test"])
    by_path = clf.test(imdb["test"])
    by_lists = clf.evaluate([r["text"] for r in rows], [r["label"] for r in rows])
    for rep in (by_path, by_lists):
        assert isinstance(rep, textcnn.EvalReport)
        assert rep.report == cli["report"]
        assert rep.loss == pytest.approx(cli["loss"], rel=1e-12)
        assert rep.examples == cli["examples"] == len(rows)
        assert rep.accuracy == rep.score == cli["report"]["accuracy"]
    # str(report) is the text `textcnn eval` prints under its header line.
    text = run_cli("eval", "--model", out, "--data", imdb["test"])
    assert text.split("\n", 2)[2] == str(by_path)
    with pytest.raises(ValueError, match="branch"):
        clf.test(imdb["test"], branch="tree")


def test_evaluate_writes_the_eval_pictures(reported, imdb, tmp_path):
    clf, _, _ = reported
    clf.test(imdb["test"], plots=tmp_path / "ev")
    assert (tmp_path / "ev" / "report.html").exists()
    assert (tmp_path / "ev" / "plots" / "confusion_matrix.svg").exists()


def test_report_needs_an_output_folder():
    with pytest.raises(ValueError, match="output"):
        textcnn.train(train=(["a b", "c d"], ["x", "y"]), report=True)
    with pytest.raises(ValueError, match="output"):
        textcnn.train(train=(["a b", "c d"], ["x", "y"]), tensorboard=True)
