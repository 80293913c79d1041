"""The progress bar of `textcnn.train`: a callback that prints a tqdm-style line to standard error
while a run trains (the default in a terminal), like `textcnn train` does."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, Optional, TextIO

#: What `train(progress=...)` accepts: None (a bar when standard error is a terminal), a bool, or a
#: callable that gets each progress snapshot (a dict, see `train`).
ProgressArg = Optional[object]


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = 0 if total <= 0 else min(width, int(width * done / total))
    return "#" * filled + "." * (width - filled)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    m, s = divmod(seconds, 60)
    return f"{m}:{s:02d}" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d}"


class ProgressPrinter:
    """Prints a run's progress to `stream` (standard error by default): while an epoch runs, one
    line redrawn in place (`\\r`), `epoch 2/10 [######......] 120/352 loss 0.4123 acc 0.8120
    1,234 ex/s ETA 0:12`; after each epoch, a line with its train and validation figures (`*`
    when it improved); the stages (n-gram branch, test) as they start.

    Call it with each snapshot of `TrainJob.progress()` (what `train(progress=callable)` gets);
    `close()` ends the line in progress.
    """

    def __init__(self, stream: Optional[TextIO] = None, min_interval: float = 0.1):
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._open_line = False
        self._epochs_shown = 0
        self._stage: Optional[str] = None
        self._last_line = ""

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream must not stop training
            pass

    def _end_line(self) -> None:
        if self._open_line:
            self._write("\n")
            self._open_line = False

    def __call__(self, p: Dict[str, Any]) -> None:
        stage = p.get("stage")
        last = p.get("last_epoch")
        if last is not None and last.get("epoch", 0) > self._epochs_shown:
            self._epochs_shown = last["epoch"]
            self._end_line()
            self._write(self._epoch_line(last, p) + "\n")
        if stage != self._stage:
            self._stage = stage
            if stage not in (None, "fit"):
                self._end_line()
                self._write(f"{stage} ...\n")
        if stage != "fit" or "step" not in p:
            return
        now = time.monotonic()
        if now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        step, steps = int(p.get("step", 0)), int(p.get("steps", 0))
        if step >= steps and steps and self._epochs_shown >= int(p.get("epoch", 0)):
            return
        speed = float(p.get("examples_per_s") or 0.0)
        eta = ""
        if speed > 0 and steps:
            # Steps of the epoch left, at the epoch's speed (examples per step from the totals).
            per_step = p.get("train_examples", 0) / steps if steps else 0
            if per_step:
                eta = f" ETA {_duration((steps - step) * per_step / speed)}"
        line = (
            f"\repoch {p.get('epoch', 0)}/{p.get('max_epochs', '?')} [{_bar(step, steps)}] "
            f"{step}/{steps} loss {float(p.get('epoch_loss', 0.0)):.4f} "
            f"acc {float(p.get('epoch_acc', 0.0)):.4f} {speed:,.0f} ex/s{eta}"
        )
        if line != self._last_line:  # validation after an epoch's last step: nothing new
            self._write(line)
            self._last_line = line
            self._open_line = True

    @staticmethod
    def _epoch_line(m: Dict[str, Any], p: Dict[str, Any]) -> str:
        valid = f"valid loss {m.get('valid_loss', float('nan')):.4f} acc {m.get('valid_acc', float('nan')):.4f}"
        if m.get("valid_micro_f1") is not None:
            valid += f" micro-f1 {m['valid_micro_f1']:.4f}"
        mark = " *" if p.get("improved") else ""
        return (
            f"\repoch {m.get('epoch')}/{p.get('max_epochs', '?')}: train loss "
            f"{m.get('train_loss', float('nan')):.4f} acc {m.get('train_acc', float('nan')):.4f} | "
            f"{valid} | {m.get('seconds', 0.0):.1f} s{mark}"
        )

    def close(self) -> None:
        self._end_line()


def progress_callback(progress: ProgressArg) -> Optional[Callable[[Dict[str, Any]], Any]]:
    """The callable for `train(progress=...)`: None when progress is off."""
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        progress = bool(isatty and isatty())
    if progress is True:
        return ProgressPrinter()
    if progress is False:
        return None
    if callable(progress):
        return progress  # type: ignore[return-value]
    raise TypeError(f"progress must be None, a bool or a callable, not {type(progress).__name__}")
