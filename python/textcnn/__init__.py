"""Convolutional text classifiers from Python: the textcnn library (Rust) through PyO3.

    import textcnn
    clf = textcnn.load("runs/imdb")                  # a bundle written by `textcnn train`
    clf.predict(["A wonderful, moving film."], k=2)  # [[("pos", 0.998), ("neg", 0.002)]]
    clf.predict_proba(texts)                         # NumPy [len(texts), len(clf.classes_)]

    clf = textcnn.train(train=(texts, labels), output="runs/mine", epochs=5)
    clf = textcnn.train(train="imdb:train", output="runs/imdb")   # same specs as the CLI
    tags = textcnn.train(train=(texts, [["economy"], [], ["economy", "politics"]]))  # multi-label
    tags.predict(texts)          # the labels over their thresholds: [[("economy", 0.93)], [], ...]

`TextCNNClassifier` (in `textcnn.sklearn`, also importable from here when scikit-learn is
installed) is the scikit-learn estimator; `textcnn.spark` and `textcnn.ray` hold the recipes for
running at scale. Probabilities are those of `textcnn predict` (the same Rust code path), and
every computation releases the GIL.
"""

from __future__ import annotations

import collections.abc
import json
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native
from ._native import TextCNNError
from ._progress import ProgressPrinter, progress_callback
from ._results import EvalReport, TrainResult

__all__ = [
    "Classifier",
    "EvalReport",
    "ProgressPrinter",
    "TextCNNError",
    "TrainResult",
    "load",
    "train",
    "TextCNNClassifier",
    "__version__",
]
__version__ = _native.__version__

#: Files of a bundle written by `textcnn train` that `save` and pickling carry (the
#: `checkpoint/` folder, only needed to resume training, is left out).
_CONFIG_FILE = "config.json"
_METRICS_FILE = "metrics.jsonl"

PathLike = Union[str, "os.PathLike[str]"]


def _check_texts(texts: Any, what: str = "texts") -> list:
    """`texts` as a list of str: one str, or a list / tuple / NumPy array / pandas Series of str.

    Raises TypeError naming the first item that is not a str, and ValueError for an empty list.
    """
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError(f"{what} must be str or a list of str, not bytes; decode it first")
    if isinstance(texts, (collections.abc.Mapping, set, frozenset)):
        # A dict would give its keys and a set no order: the outputs could not be matched to inputs.
        raise TypeError(
            f"{what} must be str or a list of str, not {type(texts).__name__} (its order or "
            "items would be ambiguous); pass a list"
        )
    if hasattr(texts, "tolist") and not isinstance(texts, list):  # NumPy arrays, pandas Series
        texts = texts.tolist()
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(
            f"{what} must be str or a list of str, not {type(texts).__name__}"
        ) from None
    if not items:
        raise ValueError(f"{what} is an empty list; give at least one text")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] is {type(t).__name__}, not str: {t!r:.60}")
    return items


def _read_bundle(path: str) -> dict:
    """The bundle's top-level files, name -> bytes."""
    files = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isfile(full) and not name.startswith("."):
            with open(full, "rb") as f:
                files[name] = f.read()
    return files


def _write_bundle(files: Mapping[str, bytes], path: PathLike) -> None:
    """Writes bundle files atomically (temporary name, flush, rename), config.json last, into
    `path`, which must not hold a bundle already."""
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, _CONFIG_FILE)):
        raise FileExistsError(f"{path} already holds a model bundle (config.json); give a new folder")
    os.makedirs(path, exist_ok=True)
    order = sorted(files, key=lambda n: (n == _CONFIG_FILE, n))
    for name in order:
        final = os.path.join(path, name)
        tmp = os.path.join(path, f".{name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(files[name])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)


class Classifier:
    """A trained model bundle, ready to classify text.

    `classes_` / `labels` are the class names in the column order of `predict_proba`. `threads`
    is the number of threads running the model (0 = all cores). Instances pickle with the bundle
    inside (so Spark and Ray can ship them to workers) and may be shared by threads. A
    multi-label model (`head == "multi-label"`) gives one sigmoid per label and predicts every
    label whose probability reaches its threshold (`thresholds`).
    """

    def __init__(self, native: "_native.NativeClassifier", files: Mapping[str, bytes], path: Optional[str] = None):
        self._native = native
        self._files = dict(files)
        #: Where the bundle was loaded from (None when it lives only in memory).
        self.path = path
        #: The figures of the run that trained this model (`textcnn.train` only, else None).
        self.result: Optional[TrainResult] = None
        #: The native summary of that run (a dict), None for a loaded bundle.
        self.training_summary: Optional[dict] = None

    @property
    def labels(self) -> list:
        """Class names, in the column order of `predict_proba`."""
        return self._native.labels

    @property
    def classes_(self) -> np.ndarray:
        """Class names as a NumPy array (scikit-learn's attribute)."""
        return np.array(self._native.labels, dtype=object)

    @property
    def head(self) -> str:
        """`"single-label"` (softmax, one label per text) or `"multi-label"` (one sigmoid per
        label, any number of labels per text)."""
        return self._native.head

    @property
    def multi_label(self) -> bool:
        """Whether the model gives each text a set of labels."""
        return self.head == "multi-label"

    @property
    def thresholds(self) -> Optional[np.ndarray]:
        """A multi-label model's decision threshold of each label (float32, `labels` order);
        None for a single-label model."""
        m = self.config.get("multi_label")
        return None if m is None else np.asarray(m["thresholds"], dtype=np.float32)

    @property
    def threads(self) -> int:
        """Threads running the model; 0 = all cores."""
        return self._native.threads

    @threads.setter
    def threads(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {n!r}")
        self._native.threads = n

    @property
    def config(self) -> dict:
        """The bundle's settings (`config.json`): architecture, tokenizer, labels, training."""
        return json.loads(self._native.config_json())

    def _probabilities(self, texts: Any):
        items = _check_texts(texts)
        raw, n_tokens, n_oov, truncated = self._native.probabilities(items)
        probs = np.frombuffer(raw, dtype="<f4").reshape(len(items), len(self.labels))
        return probs, n_tokens, n_oov, truncated

    def predict_proba(self, texts: Any) -> np.ndarray:
        """Probabilities, float32 `[len(texts), len(classes_)]`, columns in `classes_` order
        (softmax; multi-label models: one sigmoid per label); the same values as `textcnn
        predict`."""
        return self._probabilities(texts)[0].copy()

    def predict(self, texts: Any, k: Optional[int] = None, threshold: Optional[float] = None) -> list:
        """The `k` most probable `(label, probability)` pairs of each text whose probability is at
        least `threshold`, most probable first (ties in label order) — fastText's `predict`
        (default k 1, threshold 0). A multi-label model gives every label whose probability
        reaches its own threshold (or `threshold` when given), at most `k` (default: all).

        Returns one list per text (a single str gives a single list). A text with no token after
        tokenization (empty, only markup or stop words) gets an empty list, as `textcnn predict`
        gives it an error record rather than the label the biases alone would give.
        """
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        if self.multi_label:
            items = _check_texts(texts)
            thr = None if threshold is None else float(threshold)
            out = [d[:k] for d in self._native.decided(items, thr)]
            return out[0] if isinstance(texts, str) else out
        k = 1 if k is None else k
        threshold = 0.0 if threshold is None else threshold
        probs, n_tokens, _, _ = self._probabilities(texts)
        labels = self.labels
        out = []
        for row, n in zip(probs, n_tokens):
            if n == 0:
                out.append([])
                continue
            # Stable sort by descending probability: ties keep label order.
            order = sorted(range(len(labels)), key=lambda j: -float(row[j]))[:k]
            out.append([(labels[j], float(row[j])) for j in order if row[j] >= threshold])
        return out[0] if isinstance(texts, str) else out

    def explain(self, text: str, label: Optional[str] = None) -> list:
        """Why `text` got its label: a list with one dict per explained label (`label` when
        given, else the predicted one; every label over its threshold for a multi-label model),
        the fields of `textcnn explain --json`: `label`, `probability`, `logit` (what `explained`
        names), `bias`, `windows` (each with `text`, `tokens`, character `start`/`end`,
        `contribution`, `source`), `tokens` (each with its `contribution`), `method`.
        Contributions plus `bias` add up to `logit` (exact methods)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        if label is not None and not isinstance(label, str):
            raise TypeError(f"label must be a str or None, not {type(label).__name__}")
        return json.loads(self._native.explain(text, label))

    def predict_label(self, texts: Any) -> list:
        """The most probable label of each text (`None` for a text without tokens); for a
        multi-label model the list of labels over their thresholds."""
        if self.multi_label:
            return [[label for label, _ in d] for d in self._native.decided(_check_texts(texts))]
        probs, n_tokens, _, _ = self._probabilities(texts)
        labels = self.labels
        return [labels[int(np.argmax(row))] if n else None for row, n in zip(probs, n_tokens)]

    def evaluate(
        self,
        texts: Any,
        labels: Any,
        *,
        branch: str = "model",
        plots: Optional[PathLike] = None,
    ) -> EvalReport:
        """Scores the model on `texts` and their `labels` (one label per text; a list of labels
        per text for a multi-label model): the report of `textcnn eval` (`str(report)` prints
        it; `report.figures`, `report.accuracy`, `report.report` for the numbers). Texts without
        tokens and labels the model lacks are left out, as the CLI does. `branch`: `"model"`
        (the model as it predicts), `"cnn"` or `"ngram"` (one branch of an `ngram-cnn` model
        alone; ValueError when the model lacks it). `plots`: a folder for `plots/*.svg` and
        `report.html`, as `textcnn eval --plots`."""
        data = _data_source((texts, labels), "evaluate", "text", "label")
        return self._evaluate(data, branch, plots)

    def test(
        self,
        path: PathLike,
        *,
        branch: str = "model",
        plots: Optional[PathLike] = None,
        text_column: str = "text",
        label_column: str = "label",
        format: Optional[str] = None,
        data_dir: Optional[PathLike] = None,
    ) -> EvalReport:
        """fastText's `test`: scores the model on a labelled dataset read as `textcnn eval
        --data` reads it (`"imdb:test"`, a CSV/TSV/JSONL/fastText file, a folder); the same
        report as `evaluate`."""
        return self._evaluate(
            os.fspath(path), branch, plots, text_column=text_column, label_column=label_column,
            format=format, data_dir=os.fspath(data_dir) if data_dir is not None else None,
        )

    def _evaluate(self, data: Any, branch: str, plots: Optional[PathLike], **read: Any) -> EvalReport:
        out = self._native.evaluate(
            data, branch, os.fspath(plots) if plots is not None else None, **read
        )
        parsed = json.loads(out)
        if parsed is None:
            raise ValueError(f"this model has no {branch!r} branch (architecture {self.config.get('arch')!r})")
        return EvalReport.from_json(parsed)

    def onnx_inputs(self, texts: Any) -> dict:
        """The inputs of this model's ONNX graph (`export_onnx`) for `texts`: a dict of int64
        arrays `[len(texts), width]` by input name (`input_ids`; `ngram_ids` and `char_ids`
        for a model with an n-gram branch), made by the bundle's tokenizer as `predict` makes
        them. Feed it to ONNX Runtime: `session.run(["probabilities"], clf.onnx_inputs(texts))`."""
        items = _check_texts(texts)
        return {
            name: np.frombuffer(raw, dtype="<i8").reshape(rows, cols).copy()
            for name, rows, cols, raw in self._native.onnx_inputs(items)
        }

    def export_onnx(self, path: PathLike, force: bool = False) -> int:
        """Writes the model as an ONNX file (`textcnn export --format onnx`): token ids in
        (`onnx_inputs`), `probabilities` out, the same as `predict_proba` within float
        rounding. Returns the file's size in bytes. Raises `TextCNNError` for the 2-D CNN
        (`seed`, `conv2d`), which has no ONNX form, and, as the CLI, for a `path` inside the
        model's bundle (or any bundle), a directory or device, or an existing file unless
        `force` is true."""
        return self._native.export_onnx(os.fspath(path), bool(force))

    def save(self, path: PathLike) -> None:
        """Writes the bundle to the folder `path` (created; refused if it holds a bundle): the
        same files as `textcnn train --output`, readable by the CLI and `textcnn.load`."""
        _write_bundle(self._files, path)

    def bundle_bytes(self) -> dict:
        """The bundle's files, name -> bytes (what pickling carries)."""
        return dict(self._files)

    @classmethod
    def from_bundle_bytes(cls, files: Mapping[str, bytes], threads: int = 0) -> "Classifier":
        """A classifier from `bundle_bytes()` (checked as `load` checks a folder)."""
        tmp = tempfile.mkdtemp(prefix="textcnn-")
        try:
            bundle = os.path.join(tmp, "bundle")
            _write_bundle(files, bundle)
            native = _native.NativeClassifier(bundle, threads)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return cls(native, files)

    def __getstate__(self) -> dict:
        return {"files": self._files, "threads": self.threads, "path": self.path}

    def __setstate__(self, state: dict) -> None:
        other = Classifier.from_bundle_bytes(state["files"], state.get("threads", 0))
        self._native = other._native
        self._files = other._files
        self.path = state.get("path")

    def __repr__(self) -> str:
        where = f" from {self.path!r}" if self.path else ""
        return f"<textcnn.Classifier labels={self.labels!r}{where}>"


def load(path: PathLike, threads: int = 0, proj_cache_mb: int = 256) -> Classifier:
    """Loads the bundle in folder `path` (written by `textcnn train`, `Classifier.save` or
    `textcnn.train`), checking every file as the CLI does. `proj_cache_mb` caps the memory of
    the projection cache of the most frequent words (Kim models: faster inference on large
    inputs; 0 = none), as `textcnn predict --proj-cache-mb`.

    Raises FileNotFoundError when `path` is not a folder, and TextCNNError (a ValueError) when
    the bundle fails a check; the message names the file at fault.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        what = "is a file, not a folder" if os.path.exists(path) else "does not exist"
        raise FileNotFoundError(f"model bundle {path!r} {what}; give the --output folder of `textcnn train`")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {threads!r}")
    if isinstance(proj_cache_mb, bool) or not isinstance(proj_cache_mb, int) or proj_cache_mb < 0:
        raise ValueError(f"proj_cache_mb must be an int >= 0 (0 = no cache), got {proj_cache_mb!r}")
    native = _native.NativeClassifier(path, threads, proj_cache_mb)
    return Classifier(native, _read_bundle(path), path)


def _label_set(y: Any, where: str) -> list:
    """One text's labels (a list / tuple / set / array of labels) as a list of str."""
    if hasattr(y, "tolist"):
        y = y.tolist()
    items = list(y)
    for label in items:
        if label is None or isinstance(label, float) and label != label:
            raise ValueError(f"{where} holds a missing label (None/NaN)")
    return [str(label) for label in items]


def _is_label_set(y: Any) -> bool:
    """Whether a label is a set of labels (a list, tuple, set or array, not a str)."""
    return isinstance(y, (list, tuple, set, frozenset)) or (hasattr(y, "ndim") and y.ndim == 1)


def _data_source(data: Any, role: str, text_column: str, label_column: str):
    """A dataset for the native trainer: a spec string, or `(texts, labels)` lists (one label
    per text, or a list of labels per text)."""
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    columns = getattr(data, "columns", None)
    if columns is not None:  # a pandas DataFrame
        for c in (text_column, label_column):
            if c not in columns:
                raise ValueError(
                    f"{role}: the DataFrame has no column {c!r} (columns: {list(columns)}); "
                    "set text_column= / label_column="
                )
        texts, labels = data[text_column], data[label_column]
    elif isinstance(data, Mapping):
        texts, labels = data.get(text_column), data.get(label_column)
        if texts is None or labels is None:
            raise ValueError(f"{role}: the mapping needs keys {text_column!r} and {label_column!r}")
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        texts, labels = data
    else:
        raise TypeError(
            f"{role} must be a path or dataset spec (str), a (texts, labels) pair, a mapping or "
            f"a pandas DataFrame, not {type(data).__name__}"
        )
    texts = _check_texts(texts, f"{role} texts")
    if hasattr(labels, "tolist"):
        labels = labels.tolist()
    labels = list(labels)
    if len(labels) != len(texts):
        raise ValueError(f"{role}: {len(texts)} texts but {len(labels)} labels; give one label per text")
    if any(_is_label_set(y) for y in labels):
        return (texts, [_label_set(y, f"{role}: labels [{i}]") for i, y in enumerate(labels)])
    bad = [i for i, y in enumerate(labels) if y is None or isinstance(y, float) and y != y]
    if bad:
        raise ValueError(f"{role}: label [{bad[0]}] is missing (None/NaN)")
    return (texts, [str(y) for y in labels])


def _poll_metrics(path: str, seen: int, callback: Optional[Callable[[dict], Any]]) -> int:
    """Calls `callback` with every epoch line of `metrics.jsonl` after the first `seen`."""
    if callback is None:
        return seen
    try:
        with open(os.path.join(path, _METRICS_FILE), encoding="utf-8") as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except OSError:
        return seen
    for line in lines[seen:]:
        callback(json.loads(line))
    return max(seen, len(lines))


def train(
    train: Any,
    valid: Any = None,
    output: Optional[PathLike] = None,
    *,
    test: Any = None,
    callback: Optional[Callable[[dict], Any]] = None,
    text_column: str = "text",
    label_column: str = "label",
    format: Optional[str] = None,
    data_dir: Optional[PathLike] = None,
    head: Optional[str] = None,
    multi_label: bool = False,
    label_sep: Optional[str] = None,
    label_columns: Optional[Sequence[str]] = None,
    label_column_prefix: Optional[str] = None,
    progress: Any = None,
    tensorboard: Union[bool, PathLike, None] = None,
    tensorboard_every: int = 20,
    report: bool = False,
    keep_checkpoint: bool = False,
    **settings: Any,
) -> Classifier:
    """Trains a model as `textcnn train` does and returns it; its figures, every branch's
    validation and test scores, are in `clf.result` (a `TrainResult`; `print(clf.result)`).

    `train`, `valid`, `test`: a dataset spec as on the command line (`"imdb:train"`, a CSV/TSV/
    JSONL/fastText file, a folder), a `(texts, labels)` pair of sequences (lists, NumPy arrays,
    pandas columns), a mapping or a pandas DataFrame with `text_column` and `label_column`.
    Each label may be a list of labels (multi-label data; an empty list for a text without any).
    Without `valid`, `valid_fraction` of `train` (default 0.1) is held out (stratified by label
    for one label per text).

    `head`: `"single-label"` or `"multi-label"`; by default multi-label when the data holds
    label sets (lists of labels, fastText lines with several labels, JSONL label lists) or
    `multi_label`, `label_sep`, `label_columns` or `label_column_prefix` (the CLI's flags of the
    same names, for CSV/TSV files) is given, as `textcnn train` decides.

    `output`: the folder that receives the bundle (new or empty); None keeps the model only in
    memory (`Classifier.save` writes it later).

    `settings`: the keys of a `textcnn train --config` file, e.g. `arch="kim"`, `epochs=5`,
    `lr=1e-3`, `region_sizes=[3, 4, 5]`, `feature_maps=100`, `max_len=400`, `seed=42`,
    `threads=2`, `tokenizer={"lowercase": True}`. An unknown key raises TextCNNError.

    `callback(metrics)` is called (in this thread) with each epoch's metrics as they are written
    to `metrics.jsonl`: `epoch`, `train_loss`, `train_acc`, `valid_loss`, `valid_acc`,
    `valid_macro_f1` (multi-label: `valid_micro_f1`, accuracies are subset accuracies), `lr`,
    `seconds`, `examples_per_s`. Ctrl-C stops after the current batch (at once in the n-gram
    stage) and raises KeyboardInterrupt; the output then holds a checkpoint, not a model. Warnings about the data (skipped rows, tiny classes) are issued with
    `warnings.warn`.

    `progress`: None (the default) shows a progress bar on standard error when it is a terminal,
    as `textcnn train` does (the epoch, a bar of its steps, loss, accuracy, examples/s, ETA, and
    a line per epoch); True always, False never; a callable instead gets each snapshot of the
    run's state (a dict: `stage`, `epoch`, `max_epochs`, `step`, `steps`, `loss`, `epoch_loss`,
    `epoch_acc`, `lr`, `examples_per_s`, and after an epoch `last_epoch`, `improved`) about ten
    times a second.

    `tensorboard`: True writes TensorBoard event files to `output/tb` (as the CLI does by
    default), a path writes them there (`tensorboard_every`: steps between step scalars).
    `report`: writes `output/plots/*.svg` and `output/report.html` (the CLI's run report). Both
    need `output`, or a path for `tensorboard`.

    `keep_checkpoint`: keep `output/checkpoint/` (parameters and optimizer state) when the run
    finishes, as `textcnn train --keep-checkpoint` does; by default it is dropped, leaving the
    bundle and its reports only.
    """
    import warnings

    clean = {k: v for k, v in settings.items() if v is not None}
    train_src = _data_source(train, "train", text_column, label_column)
    if train_src is None:
        raise ValueError("train data is required")
    valid_src = _data_source(valid, "valid", text_column, label_column)
    test_src = _data_source(test, "test", text_column, label_column)
    if report and output is None:
        raise ValueError("report=True writes report.html into the output folder: give output=")
    if tensorboard is True:
        if output is None:
            raise ValueError("tensorboard=True writes into output/tb: give output= or a folder")
        tb_dir: Optional[str] = os.path.join(os.fspath(output), "tb")
    elif tensorboard is None or tensorboard is False:
        tb_dir = None
    else:
        tb_dir = os.fspath(tensorboard)
    show = progress_callback(progress)
    tmp = None
    if output is None:
        tmp = tempfile.mkdtemp(prefix="textcnn-train-")
        out = os.path.join(tmp, "bundle")
    else:
        out = os.fspath(output)
    try:
        job = _native.TrainJob(
            train_src,
            out,
            json.dumps(clean),
            valid=valid_src,
            test=test_src,
            text_column=text_column,
            label_column=label_column,
            format=format,
            data_dir=os.fspath(data_dir) if data_dir is not None else None,
            head=head,
            multi_label=multi_label,
            label_sep=label_sep,
            label_columns=list(label_columns) if label_columns is not None else None,
            label_column_prefix=label_column_prefix,
            tensorboard=tb_dir,
            tensorboard_every=int(tensorboard_every),
            report=bool(report),
            keep_checkpoint=bool(keep_checkpoint),
        )
        result: dict = {}

        def run() -> None:
            try:
                result["summary"] = json.loads(job.run())
            except BaseException as e:  # handed to the calling thread
                result["error"] = e

        worker = threading.Thread(target=run, name="textcnn-train", daemon=True)
        worker.start()
        seen = 0
        try:
            while worker.is_alive():
                worker.join(0.1)
                seen = _poll_metrics(out, seen, callback)
                if show is not None:
                    show(json.loads(job.progress()))
        except KeyboardInterrupt:
            job.stop()
            worker.join()
            raise
        finally:
            if show is not None:
                show(json.loads(job.progress()))
                if hasattr(show, "close"):
                    show.close()
        seen = _poll_metrics(out, seen, callback)
        if "error" in result:
            raise result["error"]
        summary = result["summary"]
        for w in summary.get("warnings", []):
            warnings.warn(w, stacklevel=2)
        if summary.get("stop") == "interrupted":
            raise KeyboardInterrupt(
                "training stopped before it ended: the output holds its checkpoint, not a model "
                "(refused until `textcnn train --resume OUTPUT` finishes a run trained from files)"
            )
        clf = Classifier(_native.NativeClassifier(out, int(clean.get("threads", 0))), _read_bundle(out),
                         None if tmp else out)
        clf.training_summary = summary
        clf.result = _train_result(summary, clf.config, _read_history(out))
        return clf
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _read_history(path: str) -> list:
    """Every epoch's record of the bundle's `metrics.jsonl`."""
    try:
        with open(os.path.join(path, _METRICS_FILE), encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []


def _train_result(summary: dict, config: dict, history: list) -> TrainResult:
    """The run's figures per branch from the native summary and the bundle's `config.json`."""
    valid: dict = {}
    best = summary.get("best")
    ngram = config.get("ngram") or {}
    branch_valid = ngram.get("validation") or {}
    if best is not None:
        figure = best.get("valid_micro_f1")
        valid["cnn"] = float(figure if figure is not None else best["valid_acc"])
    for name in ("cnn", "ngram", "mixed"):
        if isinstance(branch_valid.get(name), (int, float)):
            valid[name] = float(branch_valid[name])
    if "mixed" not in valid and summary.get("ngram_valid") is not None:
        valid["mixed" if best is not None else "ngram"] = float(summary["ngram_valid"])
    branches = summary.get("test_branches") or {}
    test = {k: {n: float(v) for n, v in branches[k].items()} for k in ("cnn", "ngram", "mixed") if k in branches}
    if best is None or not ngram:
        # One branch: its test figures are the model's.
        only = "cnn" if best is not None else "ngram"
        if "mixed" in test:
            test = {only: test["mixed"]}
    return TrainResult(
        stop=summary.get("stop", ""),
        head=summary.get("head", ""),
        valid=valid,
        test=test,
        best_epoch=best,
        history=history,
        test_report=summary.get("test"),
        seconds=float(summary.get("seconds", 0.0)),
        written={k: str(v) for k, v in (summary.get("written") or {}).items()},
        warnings=list(summary.get("warnings", [])),
        cnn_note=summary.get("cnn_note"),
    )


def __getattr__(name: str):
    # `textcnn.TextCNNClassifier` without importing scikit-learn for users who do not need it.
    if name == "TextCNNClassifier":
        from .sklearn import TextCNNClassifier

        return TextCNNClassifier
    raise AttributeError(f"module 'textcnn' has no attribute {name!r}")
