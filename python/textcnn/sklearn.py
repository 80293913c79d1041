"""`TextCNNClassifier`: textcnn as a scikit-learn estimator.

    from sklearn.model_selection import GridSearchCV
    from textcnn.sklearn import TextCNNClassifier

    search = GridSearchCV(TextCNNClassifier(), {"arch": ["ngram", "ngram-cnn"]}, cv=3)
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

`fit(X, y, sample_weight=...)` and `class_weight` weigh the training loss (see `fit`). A parameter
that the fitted model did not use is reported with a `UserWarning` (`TextCNNParameterWarning`):
e.g. `feature_maps` when the n-gram/CNN mixture gave the CNN weight 0, or with `arch="ngram"`.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from . import Classifier, _check_texts, train

__all__ = ["TextCNNClassifier", "TextCNNParameterWarning"]

#: Parameters that shape the CNN branch only: they do nothing when the fitted model does not
#: use the CNN (`arch="ngram"`, or an `ngram-cnn` mixture that gave the CNN weight 0).
_CNN_PARAMETERS = (
    "epochs", "batch_size", "lr", "dropout", "word_dropout", "emb_dim", "region_sizes",
    "feature_maps", "max_len", "vocab_size", "min_count", "patience",
)
#: Parameters of the Kim CNN that the 2-D architectures (`conv2d`, `seed`) do not read.
_KIM_ONLY_PARAMETERS = ("region_sizes", "feature_maps")


class TextCNNParameterWarning(UserWarning):
    """A parameter given to `TextCNNClassifier` had no effect on the fitted model."""


class TextCNNClassifier(ClassifierMixin, BaseEstimator):
    """Kim (2014)'s CNN, with the n-gram TF-IDF branch by default (`arch="ngram-cnn"`), as a
    scikit-learn classifier of raw text.

    The parameters are `textcnn train`'s settings of the same names (see `textcnn train --help`);
    None keeps the library's default. `settings` holds any other key of a `--config` file (e.g.
    `{"tokenizer": {"lowercase": False}}`). `valid_fraction` of the training data (stratified) is
    held out for early stopping and for fitting the branches' mixture. `callback` receives each
    epoch's metrics (see `textcnn.train`); `progress` shows a progress bar (off by default: a
    search fits many models).

    `threads` (textcnn's name) or `n_jobs` (scikit-learn's): the threads one fit uses. Give at
    most one (both, with different values, is a ValueError). `-1` or `0` means all cores; when
    neither is given, all cores unless the process runs inside a parallel scikit-learn worker
    that limits threads (`OMP_NUM_THREADS` set, as joblib's workers do), whose value is then used,
    so that `GridSearchCV(n_jobs=2)` does not run two fits of all cores each.

    `class_weight`: None, `"balanced"` (scikit-learn's `n / (k * n_c)`) or a mapping from class
    to weight naming every class; the weights scale each class's term of the training loss
    (single-label models; multi-label models: the weight of each label's positive term).
    """

    def __init__(
        self,
        arch: str = "ngram-cnn",
        epochs: Optional[int] = None,
        batch_size: Optional[int] = None,
        lr: Optional[float] = None,
        dropout: Optional[float] = None,
        word_dropout: Optional[float] = None,
        emb_dim: Optional[int] = None,
        region_sizes: Optional[Sequence[int]] = None,
        feature_maps: Optional[int] = None,
        max_len: Optional[int] = None,
        vocab_size: Optional[int] = None,
        min_count: Optional[int] = None,
        patience: Optional[int] = None,
        valid_fraction: Optional[float] = None,
        seed: int = 42,
        threads: Optional[int] = None,
        n_jobs: Optional[int] = None,
        class_weight: Union[None, str, Mapping[Any, float]] = None,
        settings: Optional[dict] = None,
        callback: Any = None,
        progress: Any = False,
    ):
        self.arch = arch
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dropout = dropout
        self.word_dropout = word_dropout
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
        self.n_jobs = n_jobs
        self.class_weight = class_weight
        self.settings = settings
        self.callback = callback
        self.progress = progress

    def _settings(self) -> dict:
        s = dict(self.settings or {})
        for name in (
            "arch", "epochs", "batch_size", "lr", "dropout", "word_dropout", "emb_dim",
            "feature_maps", "max_len", "vocab_size", "min_count", "patience", "valid_fraction",
            "seed",
        ):
            value = getattr(self, name)
            if value is not None:
                s[name] = value
        if self.region_sizes is not None:
            s["region_sizes"] = [int(h) for h in self.region_sizes]
        s["threads"] = self._threads()
        return s

    def _threads(self) -> int:
        """The threads of one fit, from `threads` and `n_jobs` (see the class's doc)."""
        def count(name: str, v: Any) -> Optional[int]:
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < -1:
                raise ValueError(f"{name} must be None, -1 or an int >= 0, got {v!r}")
            return 0 if v == -1 else int(v)

        threads, n_jobs = count("threads", self.threads), count("n_jobs", self.n_jobs)
        if threads is not None and n_jobs is not None and threads != n_jobs:
            raise ValueError(
                f"threads={self.threads!r} and n_jobs={self.n_jobs!r} disagree: they are the same "
                "setting (threads per fit); give one"
            )
        if threads is not None:
            return threads
        if n_jobs is not None:
            return n_jobs
        limit = os.environ.get("OMP_NUM_THREADS", "")
        return int(limit) if limit.isdigit() and int(limit) > 0 else 0

    def _weights(self, classes: Sequence[Any], sample_weight: Any, n: int,
                 tmp: str) -> Tuple[Optional[str], Optional[np.ndarray]]:
        """The `class_weight` setting (`"balanced"`, or a JSON file of label weights written in
        `tmp`) and the per-text repeat counts that `sample_weight` asks for (None: each once).

        Sample weights that are constant within each class are class weights (exact: each
        class's loss term is scaled); integer weights repeat each text that many times (exact
        for the training loss: a text of weight 2 counts twice); other weights are scaled so that
        the smallest positive one is 1 and rounded, with a warning. A text of weight 0 is left
        out.
        """
        names = [str(c) for c in classes]
        per_class: Optional[Dict[str, float]] = None
        cw = self.class_weight
        if isinstance(cw, str):
            if cw.lower() == "balanced":
                per_class = None
            elif cw.lower() != "none":
                raise ValueError(f"class_weight must be None, 'balanced' or a mapping, got {cw!r}")
        elif isinstance(cw, Mapping):
            given = {str(k): float(v) for k, v in cw.items()}
            missing = [n_ for n_ in names if n_ not in given]
            if missing:
                raise ValueError(f"class_weight has no weight for the classes {missing}")
            per_class = {n_: given[n_] for n_ in names}
        elif cw is not None:
            raise TypeError(f"class_weight must be None, 'balanced' or a mapping, not {type(cw).__name__}")
        repeat = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if w.shape[0] != n:
                raise ValueError(f"sample_weight has {w.shape[0]} values for {n} texts")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("sample_weight must be finite and >= 0")
            if not np.any(w > 0):
                raise ValueError("sample_weight is 0 for every text")
            repeat = w
        return (self._class_weight_value(per_class, cw, tmp), repeat)

    @staticmethod
    def _class_weight_value(per_class: Optional[Dict[str, float]], cw: Any, tmp: str) -> Optional[str]:
        if per_class is not None:
            path = os.path.join(tmp, "class_weight.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(per_class, f)
            return path
        if isinstance(cw, str) and cw.lower() == "balanced":
            return "balanced"
        return None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "TextCNNClassifier":
        """Trains on texts `X` (str each) and labels `y` (one per text; or, multi-label, an
        indicator matrix or a list of label lists); returns self.

        `sample_weight` (one value >= 0 per text) weighs the training loss: weights constant
        within each class become class weights (exact), integer weights repeat texts (exact
        for the training loss; the repeats also enter the validation split), other weights are
        scaled to a smallest positive weight of 1 and rounded (with a warning); weight 0 leaves
        a text out. Combined with `class_weight` by multiplication.
        """
        texts = _check_texts(X, "X")
        multi = _multi_label_targets(y, len(texts))
        if multi is not None:
            return self._fit_multi_label(texts, *multi, sample_weight=sample_weight)
        y = np.asarray(y.tolist() if hasattr(y, "tolist") else list(y), dtype=object)
        if y.ndim != 1 or len(y) != len(texts):
            raise ValueError(f"X has {len(texts)} texts but y has shape {y.shape}; give one label per text")
        classes = np.array(sorted(set(y.tolist())), dtype=object)
        if len(classes) < 2:
            raise ValueError(f"y has {len(classes)} class(es); a classifier needs at least 2")
        names = [str(c) for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"the classes {classes.tolist()} are not distinct once written as str")
        labels = [str(v) for v in y]
        with tempfile.TemporaryDirectory(prefix="textcnn-fit-") as tmp:
            settings = self._settings()
            texts, labels, class_weight = self._weighted(texts, labels, names, sample_weight, tmp)
            if class_weight is not None:
                settings["class_weight"] = class_weight
            model = train(train=(texts, labels), callback=self.callback, progress=self.progress,
                          **settings)
        # The bundle orders its labels as strings; scikit-learn orders classes_ by value.
        position = {label: j for j, label in enumerate(model.labels)}
        missing = [n for n in names if n not in position]
        if missing:
            raise ValueError(f"the classes {missing} have no text of positive sample_weight")
        self.model_ = model
        self.classes_ = classes if _all_str(classes) else _as_array(classes)
        self._columns = np.array([position[n] for n in names], dtype=np.intp)
        self.n_features_in_ = 1
        self.multilabel_ = False
        self._warn_unused()
        return self

    def _weighted(self, texts: List[str], labels: List[Any], names: List[str], sample_weight: Any,
                  tmp: str) -> Tuple[List[str], List[Any], Optional[str]]:
        """The training texts and labels with `sample_weight` applied, and the `class_weight`
        setting (see `fit`)."""
        class_weight, w = self._weights(names, sample_weight, len(texts), tmp)
        if w is None:
            return texts, labels, class_weight
        single = all(isinstance(l, str) for l in labels)
        if single and np.all(w > 0):
            per_label: Dict[str, set] = {}
            for label, v in zip(labels, w):
                per_label.setdefault(label, set()).add(float(v))
            if all(len(v) == 1 for v in per_label.values()):
                factors = {l: next(iter(v)) for l, v in per_label.items()}
                base = self._base_class_weights(labels, names)
                combined = {n: base[n] * factors.get(n, 1.0) for n in names}
                path = os.path.join(tmp, "class_weight.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(combined, f)
                return texts, labels, path
        if np.allclose(w, np.round(w)):
            counts = np.round(w).astype(np.int64)
        else:
            scale = 1.0 / float(w[w > 0].min())
            counts = np.round(w * scale).astype(np.int64)
            warnings.warn(
                f"sample_weight: weights that are neither integers nor constant per class are "
                f"scaled by {scale:.4g} and rounded to repeat counts (from {counts.min()} to "
                f"{counts.max()} times)", TextCNNParameterWarning, stacklevel=3)
        total = int(counts.sum())
        if total > 20 * len(texts):
            raise ValueError(
                f"sample_weight asks for {total} training texts (repeat counts) from {len(texts)}; "
                "give weights whose ratio is smaller (at most 20 times the texts in all)")
        keep = np.repeat(np.arange(len(texts)), counts)
        return [texts[i] for i in keep], [labels[i] for i in keep], class_weight

    def _base_class_weights(self, labels: List[str], names: List[str]) -> Dict[str, float]:
        """`class_weight` as a mapping over `names` (1 each when None; `"balanced"` computed
        on `labels` as scikit-learn does: n / (k * n_c))."""
        cw = self.class_weight
        if isinstance(cw, Mapping):
            return {n: float({str(k): v for k, v in cw.items()}[n]) for n in names}
        if isinstance(cw, str) and cw.lower() == "balanced":
            counts = {n: 0 for n in names}
            for l in labels:
                counts[l] += 1
            return {n: len(labels) / (len(names) * counts[n]) for n in names}
        return {n: 1.0 for n in names}

    def _warn_unused(self) -> None:
        """Warns (TextCNNParameterWarning) about each parameter the fitted model did not use."""
        config = self.model_.config
        arch = config.get("architecture", {})
        kind = arch.get("type") if isinstance(arch, dict) else arch
        kind = str(kind or self.arch)
        mix = ((config.get("ngram") or {}).get("mix") or {})
        given = [n for n in _CNN_PARAMETERS if getattr(self, n) is not None]
        why = None
        if kind == "ngram" or self.arch == "ngram":
            why = "arch='ngram' has no CNN"
        elif isinstance(mix.get("cnn"), (int, float)) and mix["cnn"] == 0:
            why = ("the n-gram/CNN mixture fitted on the validation split gave the CNN weight 0, "
                   "so the model's predictions do not depend on the CNN")
        if why is None and self.arch in ("conv2d", "seed"):
            given = [n for n in _KIM_ONLY_PARAMETERS if getattr(self, n) is not None]
            why = f"arch={self.arch!r} does not read them (see --conv2d-blocks)"
        if why is not None and given:
            names = ", ".join(f"{n}={getattr(self, n)!r}" for n in given)
            warnings.warn(f"{names} had no effect on the fitted model: {why}",
                          TextCNNParameterWarning, stacklevel=3)

    def _fit_multi_label(self, texts: list, sets: list, classes: np.ndarray,
                         sample_weight: Any = None) -> "TextCNNClassifier":
        """Trains a multi-label model on label sets `sets` (indices into `classes`)."""
        names = [str(c) for c in classes.tolist()]
        if len(set(names)) != len(names):
            raise ValueError(f"the labels {classes.tolist()} are not distinct once written as str")
        if len(names) < 2:
            raise ValueError(f"y has {len(names)} label(s); a multi-label model needs at least 2")
        labels: List[Any] = [[names[j] for j in s] for s in sets]
        with tempfile.TemporaryDirectory(prefix="textcnn-fit-") as tmp:
            settings = self._settings()
            texts, labels, class_weight = self._weighted(texts, labels, names, sample_weight, tmp)
            if class_weight is not None:
                settings["class_weight"] = class_weight
            model = train(train=(texts, labels), callback=self.callback, head="multi-label",
                          progress=self.progress, **settings)
        position = {label: j for j, label in enumerate(model.labels)}
        missing = [n for n in names if n not in position]
        if missing:
            raise ValueError(f"labels {missing} have no training text in y")
        self.model_ = model
        self.classes_ = classes
        self._columns = np.array([position[n] for n in names], dtype=np.intp)
        self.n_features_in_ = 1
        self.multilabel_ = True
        self._warn_unused()
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
