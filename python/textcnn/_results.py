"""What `textcnn.train` and `Classifier.evaluate` / `test` return: the run's figures per branch,
and the report of `textcnn eval`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class EvalReport:
    """A model's scores on labelled data, as `textcnn eval` prints them (`str(report)` is that
    text) and `textcnn eval --json` writes them (`report`).

    `figures`: the headline figures by name (`accuracy`, `macro F1`, `weighted F1`; multi-label:
    `micro F1`, `macro F1`, `subset accuracy`, ...), each in [0, 1]; `score` is the first.
    `examples`: texts scored; `skipped_rows`: texts left out (no text, or no token after
    tokenization); `loss`: the head's mean loss.
    """

    data: str
    examples: int
    skipped_rows: int
    loss: float
    report: Dict[str, Any]
    text: str
    figures: Dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """The main figure: accuracy (single-label) or micro-F1 (multi-label)."""
        return next(iter(self.figures.values()))

    @property
    def accuracy(self) -> Optional[float]:
        """Accuracy (single-label) or subset accuracy (multi-label)."""
        for key in ("accuracy", "subset accuracy"):
            if key in self.figures:
                return self.figures[key]
        return None

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "EvalReport":
        report = d["report"]
        return cls(
            data=d.get("data", ""),
            examples=int(d["examples"]),
            skipped_rows=int(d.get("skipped_rows", 0)),
            loss=float(d["loss"]),
            report=report,
            text=d.get("text", ""),
            figures={k: float(v) for k, v in d["figures"].items()} if "figures" in d else _figures(report),
        )


def _figures(report: Dict[str, Any]) -> Dict[str, float]:
    """Headline figures of a report as `textcnn eval --json` writes it."""
    out: Dict[str, float] = {}
    if "micro_avg" in report:  # multi-label
        out["micro F1"] = float(report["micro_avg"]["f1"])
        out["macro F1"] = float(report["macro_avg"]["f1"])
        if "subset_accuracy" in report:
            out["subset accuracy"] = float(report["subset_accuracy"])
        return out
    if "accuracy" in report:
        out["accuracy"] = float(report["accuracy"])
    if "macro_avg" in report:
        out["macro F1"] = float(report["macro_avg"]["f1"])
    if "weighted_avg" in report:
        out["weighted F1"] = float(report["weighted_avg"]["f1"])
    return out


@dataclass
class TrainResult:
    """The figures of a training run, for every branch of the model.

    `valid`: the validation figure (accuracy; multi-label micro-F1) of each branch by name:
    `cnn` (the kept epoch's CNN), `ngram` (the n-gram branch alone) and `mixed` (their mixture,
    the model's figure) for `ngram-cnn`; `cnn` alone for CNN architectures, `ngram` alone for
    `--arch ngram`. `test`: with test data, each branch's test figures by name (`accuracy`,
    `macro F1`, `weighted F1`; multi-label `micro F1`, ...), the same keys. `test_report`: the
    model's full test report (`report.json`). `best_epoch`: the kept epoch's `metrics.jsonl`
    record; `history`: every epoch's. `stop`: `completed`, `early_stopped` or `interrupted`.
    `written`: the files written beside the bundle (`tensorboard`, `report`). `cnn_note`: set
    when the mixture gave the CNN weight 0 (every prediction is then the n-gram branch's), the
    sentence `textcnn train` prints.
    """

    stop: str
    head: str
    valid: Dict[str, float]
    test: Dict[str, Dict[str, float]]
    best_epoch: Optional[Dict[str, Any]]
    history: List[Dict[str, Any]]
    test_report: Optional[Dict[str, Any]]
    seconds: float
    written: Dict[str, str]
    warnings: List[str]
    cnn_note: Optional[str] = None

    def __str__(self) -> str:
        lines = [f"{self.head} model, {self.stop.replace('_', ' ')} in {self.seconds:.1f} s"]
        if self.best_epoch:
            lines.append(f"best epoch {self.best_epoch.get('epoch')}")
        if self.valid:
            lines.append("valid: " + ", ".join(f"{k} {v:.4f}" for k, v in self.valid.items()))
        for branch, figures in self.test.items():
            lines.append(f"test {branch}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
        if self.cnn_note:
            lines.append(f"note: {self.cnn_note}")
        return "\n".join(lines)
