#!/usr/bin/env python3
"""Multi-label baseline: one-vs-rest TF-IDF (word 1-2-grams, sublinear tf) + logistic regression (scikit-learn,
C = 1, max_iter 1000), every label predicted at probability >= 0.5; scores on the test split.

usage: python bench/multilabel_baseline.py TRAIN.jsonl TEST.jsonl [--json]

Reads JSONL rows {"text": ..., "labels": [...]} (the suite's reuters/train.jsonl and test.jsonl). Prints micro- and
macro-F1 (scikit-learn's f1_score on the label indicator matrices, labels = those of the training file), subset
accuracy and wall seconds, as one `RESULT` line (or one JSON object with --json).
"""
import json
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer


def read(path):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                labels.append(row["labels"])
    return texts, labels


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    t0 = time.time()
    x_train, y_train = read(args[0])
    x_test, y_test = read(args[1])
    mlb = MultiLabelBinarizer()
    mlb.fit(y_train)
    known = set(mlb.classes_)
    y_tr = mlb.transform(y_train)
    y_te = mlb.transform([[l for l in ls if l in known] for ls in y_test])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    a = vec.fit_transform(x_train)
    model = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=1000), n_jobs=1).fit(a, y_tr)
    pred = (model.predict_proba(vec.transform(x_test)) >= 0.5).astype(int)
    result = {
        "micro_f1": f1_score(y_te, pred, average="micro", zero_division=0),
        "macro_f1": f1_score(y_te, pred, average="macro", zero_division=0),
        "subset_accuracy": accuracy_score(y_te, pred),
        "wall_s": time.time() - t0,
    }
    if "--json" in sys.argv:
        print(json.dumps(result))
    else:
        print("RESULT baseline=ovr-tfidf-lr " + " ".join(f"{k}={v:.4f}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
