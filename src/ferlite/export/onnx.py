"""Export a checkpoint to ONNX, verify it against PyTorch, and quantize it to int8.

Example::

    ferlite export runs/ref5_full/best.pth --out exported/ref5 --int8

writes ``model.onnx`` (fp32, dynamic batch, opset 17) and ``model.int8.onnx`` (ONNX
Runtime static quantization, QDQ, per-channel int8 weights, calibrated on real training
faces). The preprocessing goes into the ONNX metadata, so each file describes itself.
Both are checked on real faces of the validation split.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from ..core.errors import UsageError
from ..core.spec import EMBEDDING_OUTPUT, META_PREFIX, ModelSpec
from ..data import FaceDataset, load_dataset
from ..evaluation.evaluate import VAL_DOMAINS, load_domains, onnx_metrics
from ..models.checkpoint import model_from_checkpoint
from ..runtime.classifier import EmotionClassifier, time_inference
from ..runtime.model_io import preprocess_faces

_logger = logging.getLogger(__name__)

OPSET = 17


def set_metadata(path: Path, meta: dict[str, str]) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))


def export_onnx(model: torch.nn.Module, spec: ModelSpec, out_path: str | Path, opset: int = OPSET) -> Path:
    """Write ``model`` as a single-file ONNX graph with a dynamic batch axis and its spec in the metadata.

    Example:
        >>> export_onnx(model, model.spec, "model.onnx")  # doctest: +SKIP
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    dummy = torch.zeros(1, 3, spec.input_size, spec.input_size)
    # The TorchScript exporter gives a plain, self-contained graph that ONNX Runtime's
    # quantization tools handle well; the dynamo exporter needs onnxscript.
    torch.onnx.export(
        model,
        (dummy,),
        str(out_path),
        dynamo=False,
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )
    set_metadata(out_path, spec.to_metadata())
    onnx.checker.check_model(str(out_path))
    return out_path


class FaceCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over real faces, preprocessed like at run time."""

    def __init__(self, faces: FaceDataset, spec: ModelSpec, input_name: str, batch_size: int = 32) -> None:
        self.faces, self.spec, self.input_name, self.batch_size = faces, spec, input_name, batch_size
        self._start = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._start >= len(self.faces):
            return None
        crops = [self.faces.images[i] for i in range(self._start, min(len(self.faces), self._start + self.batch_size))]
        self._start += self.batch_size
        return {self.input_name: preprocess_faces(crops, self.spec)}

    def rewind(self) -> None:
        self._start = 0


def quantize_int8(fp32_path: str | Path, out_path: str | Path, calibration: FaceDataset, method: str = "minmax") -> Path:
    """Static int8 quantization: QDQ format, per-channel int8 weights, uint8 activations.

    Dynamic quantization is slower than fp32 for convnets on ONNX Runtime's CPU provider;
    static QDQ is what makes MobileNetV2 fast. Calibration uses real faces.
    """
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise UsageError('int8 export quantizes with ONNX Runtime: pip install "ferlite[cpu]" (or "ferlite[gpu]")') from None

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    clf = EmotionClassifier(fp32_path)
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32_path), str(prepped), skip_symbolic_shape=True)
        quantize_static(
            str(prepped),
            str(out_path),
            FaceCalibrationReader(calibration, clf.spec, clf.input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=methods[method],
        )
    meta = clf.session.get_modelmeta().custom_metadata_map
    set_metadata(out_path, {**meta, META_PREFIX + "quantization": "int8 static QDQ per-channel"})
    return out_path


def parity(model: torch.nn.Module, onnx_path: str | Path, ds: FaceDataset, n: int = 256) -> dict[str, float]:
    """Compare PyTorch and ONNX Runtime logits on the first ``n`` real faces of ``ds``."""
    clf = EmotionClassifier(onnx_path, tta="none")
    x = preprocess_faces([ds.images[i] for i in range(min(n, len(ds)))], clf.spec)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    got = clf.predict_logits(x)
    return {
        "max_abs_diff": float(np.abs(ref - got).max()),
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
        "n": len(x),
    }


def latency_ms(model_path: str | Path, batch: int, threads: int, runs: int = 50) -> float:
    """Median milliseconds per call of an ONNX model at a batch size."""
    return 1000 * float(np.median(time_inference(EmotionClassifier(model_path, threads=threads), batch, runs)))


def export_checkpoint(
    checkpoint: str | Path,
    *,
    out: str | Path | None = None,
    name: str = "model",
    int8: bool = False,
    calib_size: int = 512,
    calib_method: str = "minmax",
    dataset: str = "fer2013",
    mixture: str | None = None,
    data_path: str | None = None,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Export ``checkpoint`` to ONNX fp32 (and int8), check both on the validation faces, write NAME.export.json; the report."""
    model, cfg, state = model_from_checkpoint(checkpoint)
    classes = tuple(cfg.labels)
    out = Path(out) if out else Path(checkpoint).parent
    vals, calibration_pool = _check_and_calibration_data(
        checkpoint, dataset, data_path, mixture, calib_size, seed, state, classes, cfg.takes_colour
    )
    fp32 = export_onnx(model, cfg, out / f"{name}.onnx")
    first = next(iter(vals.values()))
    report: dict[str, Any] = {"fp32": {"path": str(fp32), "bytes": fp32.stat().st_size, "parity": parity(model, fp32, first)}}
    print(
        f"wrote {fp32} ({fp32.stat().st_size / 1e6:.2f} MB); PyTorch parity on {report['fp32']['parity']['n']} real faces: "
        f"max |diff| {report['fp32']['parity']['max_abs_diff']:.2e}, top-1 agreement {report['fp32']['parity']['top1_agreement']:.4f}"
    )
    paths = {"fp32": fp32}
    if int8:
        calibration = calibration_pool()
        paths["int8"] = quantize_int8(fp32, out / f"{name}.int8.onnx", calibration, calib_method)
        report["int8"] = {
            "path": str(paths["int8"]),
            "bytes": paths["int8"].stat().st_size,
            "calibration_faces": len(calibration),
        }
        print(
            f"wrote {paths['int8']} ({paths['int8'].stat().st_size / 1e6:.2f} MB), calibrated on {len(calibration)} real training faces"
        )
    for kind, path in paths.items():
        per = {domain: onnx_metrics(path, ds) for domain, ds in vals.items()}
        report[kind]["domains"] = {
            domain: {"accuracy": m["accuracy"], "macro_f1": m["macro"]["f1"], "n": m["n"]} for domain, m in per.items()
        }
        report[kind]["val_accuracy"] = float(np.mean([m["accuracy"] for m in per.values()]))
        report[kind]["val_macro_f1"] = float(np.mean([m["macro"]["f1"] for m in per.values()]))
        report[kind]["latency_ms_b1"] = latency_ms(path, 1, threads)
    print(
        f"\nvalidation ({', '.join(f'{k} val, {len(v)} faces' for k, v in vals.items())}), latency at batch 1 with {threads} thread(s):"
    )
    for kind, r in report.items():
        domains = (
            "  ".join(f"{k} {d['accuracy']:.4f}/{d['macro_f1']:.4f}" for k, d in r["domains"].items()) if len(vals) > 1 else ""
        )
        print(
            f"  {kind:5s} accuracy {r['val_accuracy']:.4f}  macro-F1 {r['val_macro_f1']:.4f}  {r['latency_ms_b1']:.2f} ms/face  "
            f"{r['bytes'] / 1e6:.2f} MB  {domains}"
        )
    if "int8" in report:
        for domain in vals:
            a8, a32 = report["int8"]["domains"][domain]["accuracy"], report["fp32"]["domains"][domain]["accuracy"]
            print(f"  int8 - fp32 accuracy on {domain} val: {100 * (a8 - a32):+.2f} points")
    for path in paths.values():  # the embedding output, for on-device personalization (the logits are unchanged)
        add_embedding_output(path)
    (out / f"{name}.export.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _check_and_calibration_data(
    checkpoint: str | Path,
    dataset: str,
    data_path: str | None,
    mixture: str | None,
    calib_size: int,
    seed: int,
    state: dict[str, Any],
    classes: tuple[str, ...],
    color: bool,
):
    """The validation faces the export is checked on (one dataset, or the cross-domain set of a mixture-trained
    model), and a function drawing the int8 calibration faces from the training split; ``color`` keeps colour
    faces in BGR, as an ``rgb`` model takes them."""
    if dataset != "mixture":
        val = load_dataset(dataset, "val", data_path, classes, color=color)

        def pool() -> FaceDataset:
            return load_dataset(dataset, "train", data_path, classes, color=color).sample(calib_size, seed)

        return {dataset: val}, pool
    from ..data.mixture import build_mixture, parse_mixture

    trained = state.get("args", {})
    spec = mixture or trained.get("mixture")
    if not spec:
        raise UsageError(f"{checkpoint}: was not trained on a mixture; pass --mixture SPEC")
    sources = parse_mixture(spec)

    def pool() -> FaceDataset:
        # Calibration faces are drawn as training drew them, so each source and class weighs as it did there.
        mixed = build_mixture(sources, "train", classes, color=color)
        weights = mixed.sampling_weights(trained.get("class_balance", 0.0))
        pick = np.random.default_rng(seed).choice(len(weights), min(calib_size, len(weights)), replace=False, p=weights)
        return mixed.data.subset(np.sort(pick))

    return load_domains(VAL_DOMAINS, "val", classes, color=color), pool


def add_embedding_output(path: str | Path) -> Path:
    """Expose the face embedding, the classifier's input, as the model's second output ``embedding`` (N, D), in place.

    The graph is otherwise unchanged, so the logits stay what they were; on-device personalization
    (:mod:`ferlite.runtime.personalize`) fits a small head on these embeddings. A model that has it already is left
    as it is.

    Example:
        >>> add_embedding_output("runs/export_x/model.int8.onnx")  # doctest: +SKIP
    """
    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    if any(o.name == EMBEDDING_OUTPUT for o in graph.output):
        return path
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    if not gemms:
        raise UsageError(f"{path}: no final Gemm (classifier) node to take the embedding from")
    head = gemms[-1]
    producer = {o: n for n in graph.node for o in n.output}
    source = head.input[0]
    # In an int8 (QDQ) graph the classifier reads a dequantized copy; the float tensor before its Q/DQ pair is the
    # same values, and taking it leaves the quantized path the classifier runs untouched.
    node = producer.get(source)
    if node is not None and node.op_type == "DequantizeLinear":
        q = producer.get(node.input[0])
        if q is not None and q.op_type == "QuantizeLinear":
            source = q.input[0]
    weights = {t.name: t for t in graph.initializer}
    weight = head.input[1]
    if weight not in weights and weight in producer:  # QDQ weights: DequantizeLinear(int8 initializer)
        weight = producer[weight].input[0]
    transposed = any(a.name == "transB" and a.i == 1 for a in head.attribute)
    dims = list(weights[weight].dims)
    width = dims[1] if transposed else dims[0]
    graph.node.append(onnx.helper.make_node("Identity", [source], [EMBEDDING_OUTPUT], name="embedding_output"))
    graph.output.append(onnx.helper.make_tensor_value_info(EMBEDDING_OUTPUT, onnx.TensorProto.FLOAT, ["batch", width]))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
