"""Fit a per-class logit bias and a temperature on the validation domains, and store them in the model file.

A model trained on a mixture of sources inherits the mixture's class prior. Scored on another domain it leans
to the classes that prior favours: the "it always says neutral" failure. Post-hoc logit adjustment undoes this
(Menon et al., "Long-tail learning via logit adjustment", ICLR 2021): ``logits / T + b``, with ``T`` and ``b``
fitted by minimising the cross-entropy on the validation domains, each domain weighing the same. The bias
moves decisions between classes; the temperature (Guo et al., ICML 2017) only makes the scores honest.

Only validation splits are used: FERPlus PublicTest, the RAF-DB carve-out and AffectNet val. The result goes into
the ONNX file's metadata, so the runtime applies it (:class:`ferlite.runtime.LogitCalibration`).

Example::

    ferlite calibrate runs/export_mixture8_112/model.int8.onnx --out runs/export_mixture8_112/model.cal.int8.onnx
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UsageError
from ..core.taxonomy import subset_columns
from ..evaluation.evaluate import DOMAIN_SETS, VAL_DOMAINS, domain_metrics, load_domains, onnx_logits
from ..runtime.classifier import EmotionClassifier
from ..runtime.model_io import LogitCalibration

# A small pull of the biases towards 0: the cross-entropy only fixes bias differences within each domain's classes.
BIAS_L2 = 1e-3


def fit_logit_calibration(
    logits: Sequence[np.ndarray], labels: Sequence[np.ndarray], columns: Sequence[Sequence[int]], n_classes: int
) -> LogitCalibration:
    """The temperature and per-class bias that minimise the mean over domains of each domain's cross-entropy.

    Args:
        logits: per domain, raw logits (N_d, n_classes).
        labels: per domain, int labels into that domain's ``columns``.
        columns: per domain, the model columns of its classes (the softmax runs over those only).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 2000)
        >>> z = np.stack([np.zeros(2000), 2.0 * y - 1 + rng.normal(0, 1, 2000) + 1.5], 1)  # biased to class 1
        >>> cal = fit_logit_calibration([z], [y], [[0, 1]], 2)
        >>> bool(cal.bias[1] - cal.bias[0] < -0.5)  # the fitted bias takes the lean away
        True
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    if not (len(logits) == len(labels) == len(columns)) or not logits:
        raise ValueError("one logits array, one label array and one column list per domain")
    data = [(np.asarray(z, np.float64)[:, list(c)], np.asarray(y), list(c)) for z, y, c in zip(logits, labels, columns)]

    def loss(theta: np.ndarray) -> float:
        t, b = np.exp(theta[0]), theta[1:]
        total = 0.0
        for z, y, c in data:
            lp = log_softmax(z / t + b[c], axis=1)
            total -= lp[np.arange(len(y)), y].mean()
        return total / len(data) + BIAS_L2 * float(b @ b)

    theta = minimize(loss, np.zeros(n_classes + 1), method="L-BFGS-B").x
    return LogitCalibration(float(np.exp(theta[0])), tuple(float(v) for v in theta[1:]))


def calibrate_file(
    model: str | Path, out: str | Path, *, name: str | None = None, threads: int | None = None, strict: bool = False
) -> dict[str, Any]:
    """Fit the logit calibration of ``model`` on the validation domains and write the calibrated copy into the folder
    ``out`` (as ``name``, default the model's own file name; the model itself when ``out`` is its folder), with
    NAME.calibration.json beside it; the report.

    Example:
        >>> calibrate_file("runs/export_x/model.int8.onnx", "runs/export_x/calibrated")  # doctest: +SKIP
    """
    name = name or Path(model).name
    if not name.lower().endswith(".onnx"):
        raise UsageError(f"--name {name}: must end in .onnx")
    out = Path(out) / name
    clf = EmotionClassifier(model, threads=threads)
    domains = load_domains(VAL_DOMAINS, "val", clf.labels, strict, color=clf.spec.takes_colour)
    raw = {name: onnx_logits(clf, ds, calibrated=False) for name, ds in domains.items()}
    cal = fit_logit_calibration(
        [raw[n] for n in domains],
        [ds.labels for ds in domains.values()],
        [subset_columns(clf.labels, ds.classes) for ds in domains.values()],
        len(clf.labels),
    )
    report: dict[str, Any] = {
        "model": str(model),
        "temperature": cal.temperature,
        "bias": dict(zip(clf.labels, cal.bias)),
        "domains": {},
    }
    print(f"temperature {cal.temperature:.3f}; bias " + ", ".join(f"{c} {b:+.3f}" for c, b in zip(clf.labels, cal.bias)))
    print(
        "| domain | accuracy before / after | macro-F1 before / after | ECE before / after | largest share gap before / after |"
    )
    print("|---|---|---|---|---|")
    for name, ds in domains.items():
        before = domain_metrics(raw[name], ds, clf.labels)
        after = domain_metrics(cal.apply(raw[name].astype(np.float32)), ds, clf.labels)
        report["domains"][name] = {
            k: {
                "accuracy": m["accuracy"],
                "macro_f1": m["macro"]["f1"],
                "ece": m["ece"],
                "max_share_gap": m["max_share_gap"],
                "shares": m["shares"],
            }
            for k, m in (("before", before), ("after", after))
        }
        print(
            f"| {name} val | {before['accuracy']:.4f} / {after['accuracy']:.4f} | {before['macro']['f1']:.4f} / "
            f"{after['macro']['f1']:.4f} | {before['ece']:.4f} / {after['ece']:.4f} | "
            f"{before['max_share_gap']:.3f} / {after['max_share_gap']:.3f} |"
        )
    for k in ("before", "after"):
        report[f"mean_macro_f1_{k}"] = float(np.mean([d[k]["macro_f1"] for d in report["domains"].values()]))
    print(f"mean macro-F1 {report['mean_macro_f1_before']:.4f} before, {report['mean_macro_f1_after']:.4f} after")
    from .onnx import set_metadata

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.resolve() != Path(model).resolve():
        shutil.copyfile(model, out)
    meta = dict(clf.session.get_modelmeta().custom_metadata_map)
    set_metadata(out, {**meta, **cal.to_metadata(), "ferlite.calibrated_on": ",".join(f"{d} val" for d in DOMAIN_SETS["val"])})
    out.with_suffix(".calibration.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} (and {out.with_suffix('.calibration.json').name})")
    return report
