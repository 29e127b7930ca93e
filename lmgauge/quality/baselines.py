"""Classical classifiers on frozen features, and the scores they are judged by."""

from __future__ import annotations

import numpy as np

CLASSIFIERS = ("svm-rbf", "logistic-regression")
SEED = 0
QUICK_TRAIN_SENTENCES = 800
"""Training sentences of the quick tier's frozen baseline: a stratified, seeded subset of the
train split (lmgauge.sources.data.stratified_rows), scored on the whole validation and test
splits. Its figures carry `train_sentences` and have thresholds of their own; the baseline on the
whole train split runs in the slow tier."""


def make_classifier(name: str):
    """An unfitted scikit-learn classifier: RBF-kernel SVM (C=1) or logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "svm-rbf":
        return SVC(kernel="rbf", C=1.0, random_state=SEED)
    if name == "logistic-regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=SEED))
    raise ValueError(f"unknown classifier '{name}'; known: {', '.join(CLASSIFIERS)}")


def scores(truth, predicted) -> dict:
    """accuracy, precision, recall and F1 of the positive class (label 1), each a fraction in
    [0, 1], and the confusion matrix [[true neg, false pos], [false neg, true pos]] (counts)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", pos_label=1, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "confusion": confusion_matrix(truth, predicted, labels=[0, 1]).tolist(),
    }


def fit_and_score(name: str, train_x, train_y, evaluations: dict) -> dict:
    """Fit classifier `name` on the training features; scores for each (x, y) in evaluations."""
    model = make_classifier(name).fit(train_x, np.asarray(train_y))
    return {split: scores(np.asarray(y), model.predict(x)) for split, (x, y) in evaluations.items()}
