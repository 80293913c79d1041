"""textcnn.load / Classifier / textcnn.train against the CLI on the same bundle and texts."""

import json
import os
import pickle
import shutil
import threading
import time

import numpy as np
import pytest

import textcnn
from conftest import FAST, run_cli, topics


def cli_probabilities(model_dir, texts, tmp_path):
    """`textcnn predict --json` probabilities, [texts, labels] in the bundle's label order."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)),
                   encoding="utf-8")
    labels = textcnn.load(model_dir).labels
    out = run_cli("predict", "--model", model_dir, "--input", src, "--format", "jsonl",
                  "--top-k", len(labels))
    rows = [json.loads(l) for l in out.splitlines()]
    assert [r["id"] for r in rows] == list(range(len(texts)))
    probs = np.zeros((len(texts), len(labels)))
    for i, r in enumerate(rows):
        for t in r["top_k"]:
            probs[i, labels.index(t["label"])] = t["probability"]
    return probs


def test_predict_proba_equals_the_cli(model_dir, imdb, tmp_path):
    texts = [r["text"] for r in imdb["test_rows"]]
    clf = textcnn.load(model_dir)
    assert clf.labels == ["neg", "pos"]
    assert list(clf.classes_) == ["neg", "pos"]
    p = clf.predict_proba(texts)
    assert p.shape == (400, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    expected = cli_probabilities(model_dir, texts, tmp_path)
    assert np.abs(p - expected).max() <= 1e-6
    # The model learned something: well above chance on held-out reviews.
    truth = np.array([r["label"] for r in imdb["test_rows"]])
    acc = (clf.classes_[p.argmax(axis=1)] == truth).mean()
    assert acc > 0.75, acc


def test_projection_cache_size_does_not_change_predictions(model_dir, imdb):
    texts = [r["text"] for r in imdb["test_rows"]]
    with_cache = textcnn.load(model_dir).predict_proba(texts)
    without = textcnn.load(model_dir, proj_cache_mb=0).predict_proba(texts)
    assert np.abs(with_cache - without).max() <= 1e-5
    assert (with_cache.argmax(axis=1) == without.argmax(axis=1)).all()
    with pytest.raises(ValueError, match="proj_cache_mb must be an int >= 0"):
        textcnn.load(model_dir, proj_cache_mb=-1)


def test_predict_top_k_threshold_and_text_without_tokens(model_dir):
    clf = textcnn.load(model_dir)
    texts = ["A wonderful, moving film. Loved it.", "Dull, boring and far too long.", "<br />"]
    p = clf.predict_proba(texts)
    top2 = clf.predict(texts, k=2)
    for row, pairs in zip(p[:2], top2[:2]):
        order = np.argsort(-row, kind="stable")
        assert [l for l, _ in pairs] == [clf.labels[j] for j in order]
        assert [q for _, q in pairs] == [float(row[j]) for j in order]
    assert top2[2] == []  # no token: no label, as `textcnn predict` gives an error record
    assert clf.predict(texts[0]) == top2[0][:1]  # one str -> one list
    # A threshold above the second label's probability keeps only the first.
    second = top2[0][1][1]
    assert clf.predict(texts[0], k=2, threshold=second + 1e-6) == top2[0][:1]
    assert clf.predict_label(texts) == [top2[0][0][0], top2[1][0][0], None]


def test_bad_input_raises_clear_exceptions(model_dir, tmp_path):
    clf = textcnn.load(model_dir)
    with pytest.raises(TypeError, match=r"texts\[1\] is int, not str"):
        clf.predict_proba(["fine", 3])
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType"):
        clf.predict([None])
    with pytest.raises(ValueError, match="empty list"):
        clf.predict_proba([])
    with pytest.raises(TypeError, match="not bytes"):
        clf.predict(b"bytes")
    with pytest.raises(TypeError, match="not int"):
        clf.predict(5)
    for unordered in [{"a text": 1}, {"a text"}]:
        with pytest.raises(TypeError, match="pass a list"):
            clf.predict_proba(unordered)
        with pytest.raises(TypeError, match="pass a list"):
            clf.onnx_inputs(unordered)
    with pytest.raises(ValueError, match="k must be"):
        clf.predict(["x"], k=0)
    with pytest.raises(ValueError, match="threshold"):
        clf.predict(["x"], threshold=2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        textcnn.load(tmp_path / "no-such-model")
    # A bundle with a damaged file is refused with the library's message naming the file.
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "vocab.txt").write_text("pad\t0\n")
    with pytest.raises(textcnn.TextCNNError, match="vocab.txt"):
        textcnn.load(broken)
    with pytest.raises(ValueError, match="threads"):
        textcnn.load(model_dir, threads=-1)


def test_threads_and_the_gil_is_released(model_dir, imdb):
    clf = textcnn.load(model_dir, threads=1)
    assert clf.threads == 1
    texts = [r["text"] for r in imdb["test_rows"]] * 5
    expected = clf.predict_proba(texts)
    clf.threads = 2
    assert clf.threads == 2
    np.testing.assert_allclose(clf.predict_proba(texts), expected, atol=1e-6)
    with pytest.raises(ValueError):
        clf.threads = -1
    # While one thread classifies, this one keeps running Python code.
    done = threading.Event()
    result = {}

    def work():
        result["p"] = clf.predict_proba(texts)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    spins = 0
    while not done.is_set():
        spins += 1
    t.join()
    np.testing.assert_allclose(result["p"], expected, atol=1e-6)
    assert spins > 1000, spins


def test_pickle_and_save_round_trip(model_dir, imdb, tmp_path):
    clf = textcnn.load(model_dir)
    texts = [r["text"] for r in imdb["test_rows"][:50]]
    blob = pickle.dumps(clf)
    assert len(blob) > sum(os.path.getsize(model_dir / f) for f in ("model.safetensors", "vocab.txt"))
    again = pickle.loads(blob)
    assert again.labels == clf.labels
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))
    # save() writes the CLI's bundle: same files, byte for byte, and the CLI reads it.
    out = tmp_path / "saved"
    again.save(out)
    for name in ("config.json", "model.safetensors", "vocab.txt", "ngram.safetensors"):
        assert (out / name).read_bytes() == (model_dir / name).read_bytes()
    cli = run_cli("predict", "--model", out, "--json", input="A wonderful film.\n")
    assert json.loads(cli)["label"] == clf.predict("A wonderful film.")[0][0]
    with pytest.raises(FileExistsError, match="already holds a model"):
        again.save(out)


def test_train_from_lists_with_callback_matches_the_cli(imdb, tmp_path):
    rows = [json.loads(l) for l in open(imdb["train"], encoding="utf-8")][::3]
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    epochs = []
    settings = dict(FAST, arch="kim", epochs=2, patience=5)
    clf = textcnn.train(train=(texts, labels), output=tmp_path / "py", callback=epochs.append,
                        **settings)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(0.0 <= e["valid_acc"] <= 1.0 and e["train_loss"] > 0 for e in epochs)
    assert clf.path == str(tmp_path / "py")
    # The same data and settings through the CLI give the same model (training is
    # deterministic given the seed and thread count).
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = tmp_path / "c.toml"
    cfg.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    run_cli("train", "--train", data, "--config", cfg, "--output", tmp_path / "cli", "--quiet")
    assert (tmp_path / "cli" / "model.safetensors").read_bytes() == \
        (tmp_path / "py" / "model.safetensors").read_bytes()
    # pandas columns and a DataFrame work too; output=None keeps the model in memory.
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"review": texts, "sentiment": labels})
    mem = textcnn.train(train=df, text_column="review", label_column="sentiment", **settings)
    assert mem.path is None
    np.testing.assert_array_equal(mem.predict_proba(texts[:20]), clf.predict_proba(texts[:20]))


def test_train_bad_input(tmp_path, imdb):
    with pytest.raises(textcnn.TextCNNError, match="epochz"):
        textcnn.train(train=(["a b", "c d"], ["x", "y"]), epochz=3)
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        textcnn.train(train=(["a", "b"], ["x"]))
    with pytest.raises(TypeError, match=r"train texts\[1\] is int"):
        textcnn.train(train=(["a", 1], ["x", "y"]))
    with pytest.raises(ValueError, match="train texts is an empty list"):
        textcnn.train(train=([], []))
    with pytest.raises(textcnn.TextCNNError, match="no such file"):
        textcnn.train(train=str(tmp_path / "missing.jsonl"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(textcnn.TextCNNError, match="is a directory that is not empty"):
        textcnn.train(train=str(imdb["train"]), output=tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_explain_matches_the_cli_and_adds_up(model_dir, imdb):
    clf = textcnn.load(model_dir)
    text = imdb["test_rows"][0]["text"]
    [e] = clf.explain(text)
    # The predicted label, explained exactly: windows + bias give the logit.
    assert e["label"] == clf.predict(text)[0][0]
    total = sum(w["contribution"] for w in e["windows"]) + e["bias"]
    assert abs(total - e["logit"]) <= 1e-4 * (1 + abs(e["logit"]))
    # The same object as `textcnn explain --json` (one line for the text).
    [cli] = [json.loads(l) for l in run_cli("explain", "--model", model_dir, "--text", text,
                                            "--json").splitlines()]
    assert cli["label"] == e["label"] and cli["explained"] == e["explained"]
    assert abs(cli["logit"] - e["logit"]) < 1e-6
    other = [l for l in clf.labels if l != e["label"]][0]
    assert clf.explain(text, label=other)[0]["label"] == other
    with pytest.raises(TypeError):
        clf.explain(3)
    with pytest.raises(ValueError):
        clf.explain(text, label="no such label")


def test_multi_label_training_from_label_lists_predicts_and_pickles(tmp_path):
    texts, labels = topics(300, 1)
    clf = textcnn.train(train=(texts, labels), output=tmp_path / "m", epochs=6,
                        emb_dim=16, feature_maps=8, region_sizes=[2, 3], lr=0.01, seed=3,
                        threads=2)
    assert clf.head == "multi-label" and clf.multi_label
    assert clf.labels == ["money", "politics", "sport"]
    assert clf.training_summary["head"] == "multi-label"
    thresholds = clf.thresholds
    assert thresholds.shape == (3,) and ((thresholds > 0) & (thresholds < 1)).all()
    test, truth = topics(60, 2)
    p = clf.predict_proba(test)
    assert p.shape == (60, 3)
    # One sigmoid per label: the rows do not sum to 1 (two topics: both near 1).
    assert p.sum(axis=1).max() > 1.5
    decided = clf.predict(test)
    for row, got in zip(p, decided):
        want = sorted([(clf.labels[j], float(row[j])) for j in range(3) if row[j] >= thresholds[j]],
                      key=lambda x: -x[1])
        assert [g[0] for g in got] == [w[0] for w in want]
    hits = sum(sorted(l for l, _ in d) == sorted(t) for d, t in zip(decided, truth))
    assert hits / len(test) > 0.8, hits
    assert clf.predict_label(test[:3]) == [[l for l, _ in d] for d in decided[:3]]
    # k caps the labels, threshold replaces the tuned ones; the CLI decides the same.
    assert all(len(d) <= 1 for d in clf.predict(test, k=1))
    assert all(len(d) == 3 for d in clf.predict(test[:5], threshold=0.0))
    src = tmp_path / "in.txt"
    src.write_text("\n".join(test[:10]) + "\n", encoding="utf-8")
    cli = [json.loads(l) for l in run_cli("predict", "--model", tmp_path / "m", "--input", src,
                                          "--json").splitlines()]
    assert [[x["label"] for x in c["labels"]] for c in cli] == [[l for l, _ in d] for d in decided[:10]]
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(test), p)
    assert again.predict(test) == decided
    # Every decided label is explained, each with its own logit.
    explained = clf.explain(test[3])
    assert [e["label"] for e in explained] == [l for l, _ in decided[3]] or not decided[3]
    assert all(e["explained"].startswith("logit z_c of the label's sigmoid") for e in explained)


def test_multi_label_training_checks_what_the_cli_checks(tmp_path):
    texts, labels = topics(40, 1)
    with pytest.raises(ValueError, match=r"labels \[0\] holds a missing label"):
        textcnn.train(train=(texts, [[None]] + labels[1:]))
    with pytest.raises(textcnn.TextCNNError, match="empty label name"):
        textcnn.train(train=(texts, [[" "]] + labels[1:]))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(textcnn.TextCNNError, match="is a directory that is not empty"):
        textcnn.train(train=(texts, labels), output=tmp_path / "busy")
    with pytest.raises(ValueError, match="head"):
        textcnn.train(train=(texts, labels), head="ordinal")


def test_keep_checkpoint_keeps_it_and_the_default_drops_it(tmp_path, imdb):
    settings = dict(FAST, epochs=1)
    textcnn.train(train=str(imdb["train"]), output=str(tmp_path / "dropped"), **settings)
    assert not (tmp_path / "dropped" / "checkpoint").exists()
    assert (tmp_path / "dropped" / "config.json").is_file()
    textcnn.train(train=str(imdb["train"]), output=str(tmp_path / "kept"), keep_checkpoint=True,
                  **settings)
    kept = tmp_path / "kept" / "checkpoint"
    assert (kept / "kept").is_file()
    assert any(p.suffix == ".safetensors" for p in kept.iterdir())
