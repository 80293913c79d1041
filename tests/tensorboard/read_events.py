"""Reads a textcnn run's TensorBoard log with the reference readers (not run by `cargo test`):
tbparse's SummaryReader (scalars, hparams, text) and TensorBoard's own EventAccumulator, and
checks that the epoch scalars equal the run's metrics.jsonl.

    python -m venv /tmp/tbvenv && /tmp/tbvenv/bin/pip install tbparse tensorboard
    /tmp/tbvenv/bin/python tests/tensorboard/read_events.py RUN_DIR [TB_DIR]

Exits 0 and prints PASS when every check holds.
"""

import json
import math
import sys
from pathlib import Path

from tbparse import SummaryReader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = Path(sys.argv[1])
tb = Path(sys.argv[2]) if len(sys.argv) > 2 else run / "tb"
history = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]

reader = SummaryReader(str(tb), extra_columns={"wall_time"})
scalars = reader.scalars
tags = sorted(scalars["tag"].unique())
print("tbparse scalar tags:", ", ".join(tags))
ok = True
for key in ["train_loss", "train_acc", "valid_loss", "valid_acc", "valid_macro_f1", "lr"]:
    rows = scalars[scalars["tag"] == f"epoch/{key}"].sort_values("step")
    got = list(zip(rows["step"].tolist(), rows["value"].tolist()))
    want = [(m["epoch"], m[key]) for m in history]
    same = len(got) == len(want) and all(
        s == e and math.isclose(v, w, rel_tol=1e-6, abs_tol=1e-7) for (s, v), (e, w) in zip(got, want)
    )
    print(f"epoch/{key}: {len(got)} points, {'equal to' if same else 'DIFFERENT from'} metrics.jsonl")
    ok &= same
steps = scalars[scalars["tag"] == "step/train_loss"]
print(f"step/train_loss: {len(steps)} points, steps {steps['step'].min()}..{steps['step'].max()}")
ok &= len(steps) > 0
hp = reader.hparams
print("tbparse hparams:", len(hp), "values, e.g.", dict(zip(hp["tag"], hp["value"]))
      .get("batch_size"), "batch size")
ok &= len(hp) > 5
text = reader.text
print("tbparse text tags:", list(text["tag"].unique()))
ok &= len(text) == 1

files = sorted(tb.glob("*tfevents*"))
acc = EventAccumulator(str(files[-1]), size_guidance={"scalars": 0})
acc.Reload()
scalar_tags = acc.Tags()["scalars"]
print("EventAccumulator scalar tags:", len(scalar_tags), "; valid_acc:",
      [round(e.value, 4) for e in acc.Scalars("epoch/valid_acc")])
ok &= "epoch/valid_acc" in scalar_tags
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
