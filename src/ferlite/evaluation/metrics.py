"""Classification metrics as plain data (scikit-learn), and their text and PNG renderings.

``classification_metrics`` is a pure function from labels to a JSON-ready dict; printing
and plotting live in separate functions so that reports, tests and the study share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from ..core.figures import pyplot


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class and macro/weighted precision, recall, F1, and the confusion matrix.

    Example:
        >>> m = classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])
        >>> round(m["accuracy"], 3), m["confusion_matrix"]
        (0.667, [[1, 0], [1, 1]])
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "classes": list(classes),
        "per_class": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return out


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int], bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence: the mean |accuracy - confidence| over ``bins`` equal-width
    confidence bins, weighted by their share of the faces (Guo et al., 2017).

    Example:
        >>> round(expected_calibration_error(np.array([[0.9, 0.1], [0.6, 0.4]]), [0, 1]), 3)
        0.35
    """
    probs, y_true = np.asarray(probs, np.float64), np.asarray(y_true)
    if len(y_true) == 0:
        return 0.0
    conf, pred = probs.max(1), probs.argmax(1)
    right = (pred == y_true).astype(np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            ece += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(ece)


def prediction_shares(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each class's share of the predictions beside its share of the labels: a model that sends faces to one
    class ("it always says neutral") shows it here first.

    Example:
        >>> prediction_shares([0, 0, 1, 1], [0, 0, 0, 1], ["a", "b"])["a"]
        {'predicted': 0.75, 'labels': 0.5}
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = max(len(y_true), 1)
    return {
        c: {"predicted": float((y_pred == i).sum() / n), "labels": float((y_true == i).sum() / n)} for i, c in enumerate(classes)
    }


def format_metrics(m: dict[str, Any]) -> str:
    """A printable report: the per-class table, the averages and the confusion matrix."""
    classes = m["classes"]
    w = max(10, *(len(c) for c in classes))
    lines = [f"accuracy {m['accuracy']:.4f} on {m['n']} faces", "", f"{'':<{w}} precision  recall      f1  support"]
    for c in classes:
        pc = m["per_class"][c]
        lines.append(f"{c:<{w}} {pc['precision']:9.4f} {pc['recall']:7.4f} {pc['f1']:7.4f} {pc['support']:8d}")
    for avg in ("macro", "weighted"):
        a = m[avg]
        lines.append(f"{avg + ' avg':<{w}} {a['precision']:9.4f} {a['recall']:7.4f} {a['f1']:7.4f} {m['n']:8d}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)", " " * w + " " + " ".join(f"{c[:7]:>7}" for c in classes)]
    for c, row in zip(classes, m["confusion_matrix"]):
        lines.append(f"{c:<{w}} " + " ".join(f"{v:7d}" for v in row))
    if "shares" in m:
        lines += [
            "",
            "share of predictions / share of labels",
            " ".join(f"{c} {v['predicted']:.1%}/{v['labels']:.1%}" for c, v in m["shares"].items()),
        ]
    if "ece" in m:
        lines.append(f"expected calibration error {m['ece']:.4f}")
    return "\n".join(lines)


def plot_confusion_matrix(m: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Save the row-normalised confusion matrix, with counts, as a PNG."""
    plt = pyplot("train")
    cm = np.asarray(m["confusion_matrix"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    classes = m["classes"]
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2, 1.0 * len(classes) + 1.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(title or f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro']['f1']:.3f}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
