"""`TextCNNClassifier`: textcnn as a scikit-learn estimator.

    from sklearn.model_selection import GridSearchCV
    from textcnn.sklearn import TextCNNClassifier

    search = GridSearchCV(TextCNNClassifier(epochs=3), {"feature_maps": [50, 100]}, cv=3)
    search.fit(texts, labels)          # texts: list / array / pandas Series of str

It takes raw strings (the model tokenizes them itself), so it needs no vectorizer in a
`Pipeline`. Labels may be of any hashable type (str, int, ...): `classes_` holds them sorted, as
scikit-learn's classifiers do, and `predict_proba`'s columns follow `classes_`. A fitted estimator
pickles with its bundle inside.
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
        """Trains on texts `X` (str each) and labels `y`; returns self."""
        texts = _check_texts(X, "X")
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
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities `[len(X), len(classes_)]` (float32), columns in `classes_` order."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(_check_texts(X, "X"))[:, self._columns]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each text (a text without tokens gets the class the
        model's biases favour)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def save(self, path) -> None:
        """Writes the fitted bundle to `path` (for `textcnn predict`, `serve`, `textcnn.load`)."""
        check_is_fitted(self, "model_")
        self.model_.save(path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"X_types": ["string"], "requires_y": True}


def _all_str(classes: np.ndarray) -> bool:
    return all(isinstance(c, str) for c in classes)


def _as_array(classes: np.ndarray) -> np.ndarray:
    """Classes as a typed array when they share a NumPy type (ints stay ints)."""
    try:
        return np.array(classes.tolist())
    except Exception:
        return classes
