"""Ray Data recipe: classify a dataset with `map_batches` and an actor per worker that loads the
bundle once.

    import ray
    from textcnn.ray import TextCNNPredictor

    ds = ray.data.read_json("reviews.jsonl")               # a "text" column
    out = ds.map_batches(
        TextCNNPredictor,
        fn_constructor_kwargs={"path": "runs/imdb", "threads": 1},
        batch_size=256,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=2),
    )

Each actor loads the bundle when it starts and adds the columns `label` (None for a text without
tokens), `probability` and `probabilities` (every label's, in the bundle's label order) to the
batches it is given. The bundle folder must be readable by every worker (a shared file system on
a multi-node cluster).
"""

from __future__ import annotations

from . import load

__all__ = ["TextCNNPredictor"]


class TextCNNPredictor:
    """A callable class for `Dataset.map_batches`: pandas batches in, the same batches with
    `label`, `probability` and `probabilities` columns out (the input `text_column` is kept)."""

    def __init__(self, path: str, threads: int = 1, text_column: str = "text"):
        self.classifier = load(path, threads=threads)
        self.text_column = text_column

    def __call__(self, batch):
        clf = self.classifier
        texts = batch[self.text_column].tolist()
        probs, n_tokens, _, _ = clf._probabilities(texts)
        best = probs.argmax(axis=1)
        labels = clf.labels
        out = batch.copy()
        out["label"] = [labels[j] if n else None for j, n in zip(best, n_tokens)]
        out["probability"] = [float(p[j]) for p, j in zip(probs, best)]
        out["probabilities"] = [p.tolist() for p in probs]
        return out
