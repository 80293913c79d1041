"""`TextCNNClassifier`: textcnn as a scikit-learn estimator.

    from sklearn.model_selection import GridSearchCV
    from textcnn.sklearn import TextCNNClassifier

    search = GridSearchCV(TextCNNClassifier(epochs=3), {"feature_maps": [50, 100]}, cv=3)
    search.fit(texts, labels)          # texts: list / array / pandas Series of str

It takes raw strings (the model tokenizes them itself), so it needs no vectorizer in a
`Pipeline`. Labels may be of any hashable type (str, int, ...): `classes_` holds them sorted, as
scikit-learn's classifiers do, and `predict_proba`'s columns follow `classes_`. A fitted estimator
pickles with its bundle inside.

Multi-label: `y` as a binary indicator matrix `[n_texts, n_labels]` (`classes_` is then
`arange(n_labels)`) or as a list of label lists (`classes_`: their labels, sorted, as
`MultiLabelBinarizer`) trains a multi-label model (one sigmoid per label, thresholds tuned on the
validation split); `predict` then gives an indicator matrix, as `OneVsRestClassifier` does, and
`score` the subset accuracy.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from . import Classifier, _check_texts, train

__all__ = ["TextCNNClassifier"]


class TextCNNClassifier(ClassifierMixin, BaseEstimator):
    """Kim (2014)'s CNN, with the n-gram TF-IDF branch by default (`arch="ngram-cnn"`), as a
    scikit-learn classifier of raw text.

    The parameters are `textcnn train`'s settings of the same names (see `textcnn train --help`);
    None keeps the library's default. `settings` holds any other key of a `--config` file (e.g.
    `{"tokenizer": {"lowercase": False}}`). `valid_fraction` of the training data (stratified) is
    held out for early stopping and for fitting the branches' mixture. `callback` receives each
    epoch's metrics (see `textcnn.train`).
    """

    def __init__(
        self,
        arch: str = "ngram-cnn",
        epochs: Optional[int] = None,
        batch_size: Optional[int] = None,
        lr: Optional[float] = None,
        dropout: Optional[float] = None,
        emb_dim: Optional[int] = None,
        region_sizes: Optional[Sequence[int]] = None,
        feature_maps: Optional[int] = None,
        max_len: Optional[int] = None,
        vocab_size: Optional[int] = None,
        min_count: Optional[int] = None,
        patience: Optional[int] = None,
        valid_fraction: Optional[float] = None,
        seed: int = 42,
        threads: int = 0,
        settings: Optional[dict] = None,
        callback: Any = None,
    ):
        self.arch = arch
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dropout = dropout
        self.emb_dim = emb_dim
        self.region_sizes = region_sizes
        self.feature_maps = feature_maps
        self.max_len = max_len
        self.vocab_size = vocab_size
        self.min_count = min_count
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.seed = seed
        self.threads = threads
        self.settings = settings
        self.callback = callback

    def _settings(self) -> dict:
        s = dict(self.settings or {})
        for name in (
            "arch", "epochs", "batch_size", "lr", "dropout", "emb_dim", "feature_maps", "max_len",
            "vocab_size", "min_count", "patience", "valid_fraction", "seed", "threads",
        ):
            value = getattr(self, name)
            if value is not None:
                s[name] = value
        if self.region_sizes is not None:
            s["region_sizes"] = [int(h) for h in self.region_sizes]
        return s

    def fit(self, X: Any, y: Any) -> "TextCNNClassifier":
        """Trains on texts `X` (str each) and labels `y` (one per text; or, multi-label, an
        indicator matrix or a list of label lists); returns self."""
        texts = _check_texts(X, "X")
        multi = _multi_label_targets(y, len(texts))
        if multi is not None:
            return self._fit_multi_label(texts, *multi)
        y = np.asarray(y.tolist() if hasattr(y, "tolist") else list(y), dtype=object)
        if y.ndim != 1 or len(y) != len(texts):
            raise ValueError(f"X has {len(texts)} texts but y has shape {y.shape}; give one label per text")
        classes = np.array(sorted(set(y.tolist())), dtype=object)
        if len(classes) < 2:
            raise ValueError(f"y has {len(classes)} class(es); a classifier needs at least 2")
        names = [str(c) for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"the classes {classes.tolist()} are not distinct once written as str")
        model = train(train=(texts, [str(v) for v in y]), callback=self.callback, **self._settings())
        # The bundle orders its labels as strings; scikit-learn orders classes_ by value.
        position = {label: j for j, label in enumerate(model.labels)}
        self.model_ = model
        self.classes_ = classes if _all_str(classes) else _as_array(classes)
        self._columns = np.array([position[n] for n in names], dtype=np.intp)
        self.n_features_in_ = 1
        self.multilabel_ = False
        return self

    def _fit_multi_label(self, texts: list, sets: list, classes: np.ndarray) -> "TextCNNClassifier":
        """Trains a multi-label model on label sets `sets` (indices into `classes`)."""
        names = [str(c) for c in classes.tolist()]
        if len(set(names)) != len(names):
            raise ValueError(f"the labels {classes.tolist()} are not distinct once written as str")
        if len(names) < 2:
            raise ValueError(f"y has {len(names)} label(s); a multi-label model needs at least 2")
        labels = [[names[j] for j in s] for s in sets]
        model = train(train=(texts, labels), callback=self.callback, head="multi-label",
                      **self._settings())
        position = {label: j for j, label in enumerate(model.labels)}
        missing = [n for n in names if n not in position]
        if missing:
            raise ValueError(f"labels {missing} have no training text in y")
        self.model_ = model
        self.classes_ = classes
        self._columns = np.array([position[n] for n in names], dtype=np.intp)
        self.n_features_in_ = 1
        self.multilabel_ = True
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities `[len(X), len(classes_)]` (float32), columns in `classes_` order."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(_check_texts(X, "X"))[:, self._columns]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each text (a text without tokens gets the class the
        model's biases favour). Multi-label: the indicator matrix `[len(X), len(classes_)]` of
        the labels whose probability reaches their threshold."""
        proba = self.predict_proba(X)
        if getattr(self, "multilabel_", False):
            thresholds = self.model_.thresholds[self._columns]
            return (proba >= thresholds).astype(np.int64)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (multi-label: subset accuracy, `y` as given to `fit`)."""
        if getattr(self, "multilabel_", False):
            from sklearn.metrics import accuracy_score

            check_is_fitted(self, "model_")
            truth = _indicator(y, self.classes_, len(_check_texts(X, "X")))
            return float(accuracy_score(truth, self.predict(X), sample_weight=sample_weight))
        return super().score(X, y, sample_weight=sample_weight)

    def save(self, path) -> None:
        """Writes the fitted bundle to `path` (for `textcnn predict`, `serve`, `textcnn.load`)."""
        check_is_fitted(self, "model_")
        self.model_.save(path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"X_types": ["string"], "requires_y": True}


def _multi_label_targets(y: Any, n: int):
    """`(label sets as index lists, classes_)` when `y` is multi-label — a 2-D indicator matrix
    or a sequence of label lists — else None."""
    if hasattr(y, "toarray"):  # a scipy sparse indicator matrix
        y = y.toarray()
    arr = np.asarray(y) if hasattr(y, "ndim") or hasattr(y, "shape") else None
    if arr is not None and arr.ndim == 2:
        if arr.shape[0] != n:
            raise ValueError(f"X has {n} texts but y has shape {arr.shape}; give one row per text")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("a 2-D y is an indicator matrix: every value must be 0 or 1")
        sets = [list(np.flatnonzero(row)) for row in arr]
        return sets, np.arange(arr.shape[1])
    items = list(y.tolist() if hasattr(y, "tolist") else y)
    if not items or not any(isinstance(v, (list, tuple, set, frozenset)) for v in items):
        return None
    if len(items) != n:
        raise ValueError(f"X has {n} texts but y has {len(items)} label lists; give one per text")
    for i, v in enumerate(items):
        if not isinstance(v, (list, tuple, set, frozenset)):
            raise ValueError(f"y[{i}] is {v!r}; give a list of labels for every text")
    classes = sorted({label for v in items for label in v})
    index = {c: j for j, c in enumerate(classes)}
    sets = [sorted({index[label] for label in v}) for v in items]
    return sets, np.array(classes, dtype=object) if not _all_int(classes) else np.array(classes)


def _indicator(y: Any, classes: np.ndarray, n: int) -> np.ndarray:
    """`y` (an indicator matrix or label lists) as an indicator matrix over `classes`."""
    multi = _multi_label_targets(y, n)
    if multi is None:
        raise ValueError("a multi-label model is scored on multi-label y (label lists or indicators)")
    sets, seen = multi
    position = {c: j for j, c in enumerate(classes.tolist())}
    seen = seen.tolist()
    out = np.zeros((n, len(classes)), dtype=np.int64)
    for i, s in enumerate(sets):
        for j in s:
            if seen[j] not in position:
                raise ValueError(f"y holds label {seen[j]!r}, which the model does not know")
            out[i, position[seen[j]]] = 1
    return out


def _all_int(values: list) -> bool:
    return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)


def _all_str(classes: np.ndarray) -> bool:
    return all(isinstance(c, str) for c in classes)


def _as_array(classes: np.ndarray) -> np.ndarray:
    """Classes as a typed array when they share a NumPy type (ints stay ints)."""
    try:
        return np.array(classes.tolist())
    except Exception:
        return classes
