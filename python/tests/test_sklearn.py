"""TextCNNClassifier: the parts of scikit-learn's estimator contract that apply to a classifier of
raw strings (clone, get/set_params, fit/predict/predict_proba/score, Pipeline,
cross_val_score, GridSearchCV, pickling)."""

import json
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

import textcnn  # noqa: E402
from conftest import topics  # noqa: E402
from textcnn.sklearn import TextCNNClassifier  # noqa: E402

SMALL = dict(epochs=2, emb_dim=16, feature_maps=8, max_len=120, seed=5, threads=2)


@pytest.fixture(scope="module")
def reviews(imdb):
    rows = [json.loads(l) for l in open(imdb["train"], encoding="utf-8")]
    rows = rows[::5]  # 400 reviews, both classes
    test = imdb["test_rows"][::4]
    return ([r["text"] for r in rows], np.array([r["label"] for r in rows]),
            [r["text"] for r in test], np.array([r["label"] for r in test]))


def test_params_clone_and_unfitted_errors():
    est = TextCNNClassifier(epochs=3, region_sizes=(2, 3))
    params = est.get_params()
    assert params["epochs"] == 3 and params["region_sizes"] == (2, 3) and params["arch"] == "ngram-cnn"
    est.set_params(epochs=4, lr=0.01)
    assert est.epochs == 4 and est.lr == 0.01
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(epochz=1)
    # Every `textcnn train` setting the estimator names reaches the run's settings; None keeps
    # the library's default (word dropout: automatic).
    assert "word_dropout" not in est._settings()
    assert est.set_params(word_dropout=0.25)._settings()["word_dropout"] == 0.25
    with pytest.raises(sklearn.exceptions.NotFittedError):
        est.predict(["text"])
    assert textcnn.TextCNNClassifier is TextCNNClassifier


def test_fit_predict_score_and_pickle(reviews):
    X, y, Xt, yt = reviews
    est = TextCNNClassifier(**SMALL, word_dropout=0.1).fit(X, y)
    assert list(est.classes_) == ["neg", "pos"]
    assert est.model_.config["training"]["config"]["word_dropout"] == pytest.approx(0.1)
    proba = est.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2)
    pred = est.predict(Xt)
    np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert est.score(Xt, yt) == pytest.approx((pred == yt).mean())
    assert est.score(Xt, yt) > 0.6
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(Xt), proba)
    assert again.get_params() == est.get_params()
    # Bad input to a fitted estimator.
    with pytest.raises(TypeError, match=r"X\[0\] is int"):
        est.predict([1, 2])
    with pytest.raises(ValueError, match="empty list"):
        est.predict([])
    with pytest.raises(ValueError, match="one label per text"):
        TextCNNClassifier(**SMALL).fit(X, y[:-1])
    with pytest.raises(ValueError, match="1 class"):
        TextCNNClassifier(**SMALL).fit(X[:3], ["a", "a", "a"])


def test_integer_labels_keep_their_type_and_numeric_order(reviews):
    X, y, Xt, _ = reviews
    # Labels 2 and 10: as strings the bundle orders them "10" < "2"; classes_ is numeric.
    yi = np.where(y == "pos", 10, 2)
    est = TextCNNClassifier(**SMALL).fit(X, yi)
    assert est.classes_.tolist() == [2, 10] and est.classes_.dtype.kind == "i"
    proba = est.predict_proba(Xt)
    native = est.model_.predict_proba(Xt)  # columns "10", "2"
    assert est.model_.labels == ["10", "2"]
    np.testing.assert_array_equal(proba, native[:, [1, 0]])
    assert set(est.predict(Xt).tolist()) <= {2, 10}


def test_pipeline_cross_val_score_and_grid_search(reviews):
    X, y, _, _ = reviews
    pipe = Pipeline([("strip", FunctionTransformer(lambda xs: [x.strip() for x in xs])),
                     ("cnn", TextCNNClassifier(**SMALL))])
    cv = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=cv)
    assert scores.shape == (2,) and (scores > 0.55).all(), scores
    # The architecture matters (the README's example): the two candidates score differently.
    search = GridSearchCV(TextCNNClassifier(**SMALL), {"arch": ["kim", "ngram-cnn"]}, cv=cv)
    search.fit(X, y)
    means = search.cv_results_["mean_test_score"]
    assert len(means) == 2 and means[0] != means[1], means
    assert search.best_estimator_.arch == search.best_params_["arch"]


def test_multi_label_y_as_label_lists_or_indicator_matrix():
    texts, labels = topics(300, 1)
    test, truth = topics(60, 2)
    settings = dict(SMALL, epochs=6, lr=0.01, region_sizes=(2, 3))
    est = TextCNNClassifier(**settings).fit(texts, labels)
    assert est.multilabel_ and est.classes_.tolist() == ["money", "politics", "sport"]
    proba = est.predict_proba(test)
    assert proba.shape == (60, 3)
    pred = est.predict(test)
    assert pred.shape == (60, 3) and set(np.unique(pred)) <= {0, 1}
    thresholds = est.model_.thresholds
    np.testing.assert_array_equal(pred, (proba >= thresholds).astype(int))
    score = est.score(test, truth)
    indicator = np.array([[int(c in t) for c in est.classes_] for t in truth])
    assert score == pytest.approx((pred == indicator).all(axis=1).mean())
    assert score > 0.7, score
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(test), pred)
    # The same data as an indicator matrix: classes 0..2 in its column order.
    columns = ["sport", "politics", "money"]
    y = np.array([[int(c in t) for c in columns] for t in labels])
    est2 = TextCNNClassifier(**settings).fit(texts, y)
    assert est2.classes_.tolist() == [0, 1, 2]
    # The bundle names the columns "0", "1", "2"; predict_proba follows classes_.
    assert est2.model_.labels == ["0", "1", "2"]
    np.testing.assert_array_equal(est2.predict_proba(test), est2.model_.predict_proba(test))
    y_test = np.array([[int(c in t) for c in columns] for t in truth])
    assert est2.score(test, y_test) > 0.7
    with pytest.raises(ValueError, match="0 or 1"):
        TextCNNClassifier(**settings).fit(texts, y * 2)
    with pytest.raises(ValueError, match="list of labels for every text"):
        TextCNNClassifier(**settings).fit(texts[:2], [["a"], "b"])


def test_sample_weight_constant_per_class_is_class_weight(reviews):
    X, y, Xt, _ = reviews
    settings = dict(SMALL, arch="kim")
    w = np.where(y == "pos", 3.0, 1.0)
    by_weight = TextCNNClassifier(**settings).fit(X, y, sample_weight=w)
    by_class = TextCNNClassifier(class_weight={"pos": 3, "neg": 1}, **settings).fit(X, y)
    assert by_class.model_.config["training"]["class_weights"] == {"neg": 1.0, "pos": 3.0}
    assert by_weight.model_.config["training"]["class_weights"] == {"neg": 1.0, "pos": 3.0}
    np.testing.assert_array_equal(by_weight.predict_proba(Xt), by_class.predict_proba(Xt))
    plain = TextCNNClassifier(**settings).fit(X, y)
    assert not np.array_equal(plain.predict_proba(Xt), by_class.predict_proba(Xt))
    # "balanced" is the CLI's --class-weight balanced.
    balanced = TextCNNClassifier(class_weight="balanced", **settings).fit(X, y)
    weights = balanced.model_.config["training"]["class_weights"]
    assert set(weights) == {"neg", "pos"} and all(v > 0 for v in weights.values())
    with pytest.raises(ValueError, match="no weight for the classes"):
        TextCNNClassifier(class_weight={"pos": 2}, **settings).fit(X, y)


def test_integer_sample_weight_repeats_texts(reviews):
    X, y, Xt, _ = reviews
    settings = dict(SMALL, arch="kim")
    w = np.array([(i % 3) for i in range(len(X))])  # 0, 1, 2: out, once, twice
    weighted = TextCNNClassifier(**settings).fit(X, y, sample_weight=w)
    Xr = [x for x, k in zip(X, w) for _ in range(k)]
    yr = np.repeat(y, w)
    repeated = TextCNNClassifier(**settings).fit(Xr, yr)
    np.testing.assert_array_equal(weighted.predict_proba(Xt), repeated.predict_proba(Xt))
    with pytest.raises(ValueError, match="sample_weight has 3 values"):
        TextCNNClassifier(**settings).fit(X, y, sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="finite and >= 0"):
        TextCNNClassifier(**settings).fit(X, y, sample_weight=-np.ones(len(X)))


def test_threads_and_n_jobs_are_one_setting(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert TextCNNClassifier()._threads() == 0
    assert TextCNNClassifier(n_jobs=-1)._threads() == 0
    assert TextCNNClassifier(n_jobs=2)._threads() == 2
    assert TextCNNClassifier(threads=1)._threads() == 1
    assert TextCNNClassifier(threads=2, n_jobs=2)._threads() == 2
    with pytest.raises(ValueError, match="disagree"):
        TextCNNClassifier(threads=1, n_jobs=2)._threads()
    with pytest.raises(ValueError, match="n_jobs must be"):
        TextCNNClassifier(n_jobs=-3)._threads()
    # Inside a joblib worker that limits threads (GridSearchCV(n_jobs=2)), its limit.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert TextCNNClassifier()._threads() == 1
    assert TextCNNClassifier(n_jobs=2)._threads() == 2


def test_warns_about_parameters_the_model_did_not_use(reviews):
    X, y, _, _ = reviews
    with pytest.warns(textcnn.sklearn.TextCNNParameterWarning, match=r"^feature_maps=8 had no effect on the fitted model: arch='ngram' has no CNN"):
        TextCNNClassifier(arch="ngram", feature_maps=8, seed=5, threads=2).fit(X, y)
    est = TextCNNClassifier(**SMALL)
    import warnings as w

    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        est.fit(X, y)
    unused = [str(c.message) for c in caught if issubclass(c.category, textcnn.sklearn.TextCNNParameterWarning)]
    # Warned exactly when the mixture gave the CNN weight 0.
    assert bool(unused) == (est.model_.config["ngram"]["mix"]["cnn"] == 0), unused
