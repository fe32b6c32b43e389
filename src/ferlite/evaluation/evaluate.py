"""Evaluate any checkpoint on any supported dataset and split.

Writes a text report, a JSON report and a confusion-matrix PNG. Example::

    ferlite evaluate runs/ref5_full/best.pth --dataset fer2013 --split test --classes ref5
    ferlite evaluate runs/fer7/best.pth --split val --classes ref5   # a 7-class model on the 5-class task
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.spec import ModelSpec
from ..core.taxonomy import parse_classes, subset_columns
from ..data import DataError, FaceDataset, load_dataset
from ..data.loader import make_loader
from ..data.transforms import ClassificationPresetEval
from ..evaluation.metrics import format_metrics, plot_confusion_matrix
from ..models.checkpoint import model_from_checkpoint
from ..runtime.classifier import EmotionClassifier
from ..runtime.model_io import tta_views
from .metrics import classification_metrics

_logger = logging.getLogger(__name__)


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    ds: FaceDataset,
    cfg: ModelSpec,
    batch_size: int = 256,
    workers: int = 0,
    tta: str = "none",
) -> np.ndarray:
    """Logits (N, classes) for every face of ``ds``, with the model's eval preprocessing.

    ``tta`` averages the logits of several views of each face (see :func:`ferlite.runtime.tta_views`).

    Example:
        >>> logits = predict_logits(model, val, model.spec)  # doctest: +SKIP
    """
    model.eval()
    device = next(model.parameters()).device  # a model being trained on the GPU is validated there
    loader = make_loader(ds, ClassificationPresetEval(cfg), batch_size, shuffle=False, workers=workers)
    out = []
    for x, _ in loader:
        views = tta_views(x.numpy(), tta)
        logits = sum(model(torch.from_numpy(v).to(device)) for v in views) / len(views)
        out.append(logits.float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(cfg.labels)), np.float32)


def evaluate_model(
    model: nn.Module, ds: FaceDataset, cfg: ModelSpec, batch_size: int = 256, workers: int = 0, tta: str = "none"
) -> dict[str, Any]:
    """Metrics of ``model`` on ``ds`` (see :func:`ferlite.evaluation.metrics.classification_metrics`).

    ``ds`` may hold a subset of the model's classes: the model is then scored on that task, its prediction being
    the best of those classes.
    """
    columns = subset_columns(cfg.labels, ds.classes)
    start = time.perf_counter()
    logits = predict_logits(model, ds, cfg, batch_size, workers, tta)
    seconds = time.perf_counter() - start
    m = classification_metrics(ds.labels, logits[:, columns].argmax(1), ds.classes)
    m["images_per_s"] = len(ds) / seconds if seconds > 0 else 0.0
    return m


# The cross-domain validation set that selects models trained on a mixture: FERPlus PublicTest (48 px web crops),
# the RAF-DB val carve-out (aligned in-the-wild photos) and AffectNet val (in-the-wild crops rich in the rare
# classes). The selection metric is the mean of their macro-F1 scores.
VAL_DOMAINS = ("ferplus", "rafdb", "affectnet")


def load_domains(
    names: tuple[str, ...], split: str, classes: tuple[str, ...], strict: bool = False, color: bool = False
) -> dict[str, FaceDataset]:
    """One split of each named dataset, restricted to the classes it shares with ``classes``; ``color`` keeps
    colour faces in BGR (for ``rgb`` models).

    Example:
        >>> domains = load_domains(VAL_DOMAINS, "val", PRESETS["ferplus8"])  # doctest: +SKIP
        >>> {k: len(v) for k, v in domains.items()}  # doctest: +SKIP
        {'ferplus': 3579, 'rafdb': 1228, 'affectnet': 3508}
    """
    out = {}
    for name in names:
        ds = load_dataset(name, split, strict=strict, color=color)
        out[name] = ds.select_classes(tuple(c for c in ds.classes if c in classes))
    return out


# The final reports of a mixture-trained model: RAF-DB test (7 classes), AffectNet test (8), FERPlus PrivateTest
# under the official majority rule and under plurality, and FER2013 PrivateTest with its original 7 labels (an
# 8-class model's argmax restricted to those 7: contempt is never predicted there).
TEST_DOMAINS = ("rafdb", "affectnet", "ferplus-majority", "ferplus", "fer2013")
DOMAIN_SETS = {"val": VAL_DOMAINS, "test": TEST_DOMAINS}


def onnx_logits(clf: EmotionClassifier, ds: FaceDataset, calibrated: bool = True, batch_size: int = 256) -> np.ndarray:
    """Logits (N, model classes) of an ONNX classifier for every face of ``ds``, with its runtime preprocessing;
    ``calibrated=False`` leaves out the file's logit calibration."""
    from ..runtime.model_io import preprocess_faces

    out = [
        clf.predict_logits(preprocess_faces([ds.images[i] for i in range(s, min(len(ds), s + batch_size))], clf.spec), calibrated)
        for s in range(0, len(ds), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, len(clf.labels)), np.float32)


def onnx_metrics(model: str | Path | EmotionClassifier, ds: FaceDataset, threads: int | None = None) -> dict[str, Any]:
    """Accuracy etc. of an ONNX model (a path, or an open classifier) on dataset faces given as crops.

    ``ds`` may hold a subset of the model's classes (see :func:`evaluate_model`).
    """
    clf = model if isinstance(model, EmotionClassifier) else EmotionClassifier(model, threads=threads)
    logits = onnx_logits(clf, ds)[:, subset_columns(clf.labels, ds.classes)]
    return classification_metrics(ds.labels, logits.argmax(1), ds.classes)


def domain_metrics(logits: np.ndarray, ds: FaceDataset, model_classes: tuple[str, ...]) -> dict[str, Any]:
    """Metrics of logits over ``model_classes`` on ``ds``, plus the prediction shares, the largest gap between a
    class's share of the predictions and of the labels, and the expected calibration error.

    The prediction is the best of the dataset's classes (see :func:`evaluate_model`), and so are the
    probabilities the ECE reads.
    """
    from ..runtime.model_io import softmax
    from .metrics import expected_calibration_error, prediction_shares

    z = logits[:, subset_columns(model_classes, ds.classes)]
    pred = z.argmax(1)
    m = classification_metrics(ds.labels, pred, ds.classes)
    m["shares"] = prediction_shares(ds.labels, pred, ds.classes)
    m["max_share_gap"] = max(abs(v["predicted"] - v["labels"]) for v in m["shares"].values())
    m["ece"] = expected_calibration_error(softmax(z), ds.labels)
    return m


def evaluate_domains(
    model: nn.Module, domains: dict[str, FaceDataset], cfg: ModelSpec, batch_size: int = 256, tta: str = "none"
) -> dict[str, Any]:
    """Metrics of ``model`` on each domain and ``mean_macro_f1``, the mean of their macro-F1 scores.

    A domain without some of the model's classes (RAF-DB has no contempt) is scored on its own classes, the
    prediction being the best of those (see :func:`evaluate_model`).
    """
    per = {name: evaluate_model(model, ds, cfg, batch_size, 0, tta) for name, ds in domains.items()}
    return {"domains": per, "mean_macro_f1": float(np.mean([m["macro"]["f1"] for m in per.values()]))}


def evaluate_file(
    checkpoint: str | Path,
    *,
    dataset: str = "fer2013",
    data_path: str | None = None,
    split: str = "val",
    classes: str | None = None,
    tta: str = "none",
    domains: str | None = None,
    batch_size: int = 256,
    workers: int = 0,
    threads: int | None = None,
    strict: bool = False,
    val_fraction: float = 0.15,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score ``checkpoint`` (.pth or .onnx) on one dataset split, or on every domain of ``domains`` ('val' or 'test'); reports go to ``out``."""
    if threads:
        torch.set_num_threads(threads)
    is_onnx = str(checkpoint).lower().endswith(".onnx")
    if is_onnx:
        classifier = EmotionClassifier(checkpoint, threads=threads, tta=tta)
        labels = classifier.labels
    else:
        model, cfg, _ = model_from_checkpoint(checkpoint)
        labels = tuple(cfg.labels)
    color = (classifier.spec if is_onnx else cfg).takes_colour
    if domains:
        return _report_domains(
            checkpoint,
            domains,
            tta,
            strict,
            batch_size,
            workers,
            out,
            classifier if is_onnx else None,
            None if is_onnx else (model, cfg),
            labels,
            color,
        )
    classes = parse_classes(classes) or labels
    subset_columns(labels, classes)  # a clear error before any data loads
    ds = load_dataset(dataset, split, data_path, classes, strict, val_fraction, seed, color)
    if len(ds) == 0:
        raise DataError(f"{dataset} {split}: no faces of classes {', '.join(classes)}")
    if is_onnx:
        m = onnx_metrics(classifier, ds)
    else:
        m = evaluate_model(model, ds, cfg, batch_size, workers, tta)
    m.update(checkpoint=str(checkpoint), dataset=dataset, split=split, tta=tta, skipped=ds.skipped)
    out = Path(out) if out else Path(checkpoint).parent / f"eval_{dataset}_{split}"
    out.mkdir(parents=True, exist_ok=True)
    text = format_metrics(m)
    (out / "report.txt").write_text(text + "\n")
    (out / "report.json").write_text(json.dumps(m, indent=2) + "\n")
    plot_confusion_matrix(
        m, out / "confusion.png", f"{dataset} {split}: acc {m['accuracy']:.3f}, macro-F1 {m['macro']['f1']:.3f}"
    )
    print(text)
    if ds.skipped:
        print(f"skipped {ds.skipped} corrupt items")
    print(f"reports written to {out}/ (report.txt, report.json, confusion.png)")
    return m


def _report_domains(
    checkpoint: str | Path,
    split: str,
    tta: str,
    strict: bool,
    batch_size: int,
    workers: int,
    out: str | Path | None,
    classifier,
    torch_model,
    labels: tuple[str, ...],
    color: bool,
) -> dict[str, Any]:
    domains = load_domains(DOMAIN_SETS[split], split, labels, strict, color)
    out = Path(out) if out else Path(checkpoint).parent / f"eval_domains_{split}"
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"checkpoint": str(checkpoint), "split": split, "tta": tta, "domains": {}}
    rows, texts = [], []
    for name, ds in domains.items():
        if classifier is not None:
            logits = onnx_logits(classifier, ds)
        else:
            logits = predict_logits(torch_model[0], ds, torch_model[1], batch_size, workers, tta)
        m = domain_metrics(logits, ds, labels)
        report["domains"][name] = m
        rows.append(
            f"| {name} {split} | {m['n']} | {m['accuracy']:.4f} | {m['macro']['f1']:.4f} | {m['ece']:.4f} | "
            f"{m['max_share_gap']:.3f} |"
        )
        texts.append(f"## {name} {split}\n\n```\n{format_metrics(m)}\n```\n")
        plot_confusion_matrix(
            m, out / f"confusion_{name}.png", f"{name} {split}: acc {m['accuracy']:.3f}, macro-F1 {m['macro']['f1']:.3f}"
        )
    report["mean_macro_f1"] = float(np.mean([m["macro"]["f1"] for m in report["domains"].values()]))
    table = "\n".join(["| domain | faces | accuracy | macro-F1 | ECE | largest share gap |", "|---|---|---|---|---|---|", *rows])
    text = f"{table}\n\nmean macro-F1 {report['mean_macro_f1']:.4f}\n\n" + "\n".join(texts)
    (out / "report.md").write_text(f"# {checkpoint}: {split} domains\n\n{text}")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    print(f"reports written to {out}/ (report.md, report.json, confusion_*.png)")
    return report
