"""Rebuild a trainable checkpoint from an exported ONNX model (fp32 or int8 QDQ), BatchNorm unfolded.

Example::

    ferlite from-onnx src/ferlite/assets/emotion_accurate.int8.onnx --dataset ferplus --out runs/from_accurate/best.pth
    ferlite train --init runs/from_accurate/best.pth --dataset fer2013 --classes fer7 ...

What ships is the exported model; a training checkpoint lives only in ``runs/`` of the machine that trained it.
This turns a shipped model back into a checkpoint that ``ferlite train --init`` and ``ferlite evaluate`` take.

Export folds each BatchNorm into the convolution before it (``y = W'x + b'``), and int8 quantization stores
``W'`` as per-channel int8 with its scales. Dequantized ``W'`` goes back into the convolution. Setting the BatchNorm
to the identity would reproduce the network in eval mode, but training normalises with batch statistics, which
would then no longer match. So the BatchNorm is *unfolded*: each one gets the running mean ``m`` and variance
``v`` of its input measured on real training faces, ``gamma = sqrt(v + eps)`` and ``beta = b' + m``. In eval mode
that is exactly ``W'x + b'``; in training, batch statistics close to ``m`` and ``v`` keep the function nearly so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from ..core.errors import CheckpointError
from ..core.spec import META_PREFIX
from ..data import FaceDataset, load_dataset
from ..evaluation.evaluate import evaluate_model, onnx_metrics
from ..models import create_model
from ..models.checkpoint import make_checkpoint, model_from_checkpoint, save_checkpoint
from ..runtime.classifier import EmotionClassifier
from .onnx import FaceCalibrationReader


def onnx_parameters(path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """The weights of each Conv and Gemm node in graph order, as float32: ``(op_type, weight, bias or None)``.

    Weights stored as initializers or as ``DequantizeLinear`` of initializers (int8 QDQ models) are both read;
    activation quantization is ignored.

    Example:
        >>> params = onnx_parameters("src/ferlite/assets/emotion_default.int8.onnx")  # doctest: +SKIP
        >>> params[0][0], params[0][1].shape  # doctest: +SKIP
        ('Conv', (32, 3, 3, 3))
    """
    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # QDQ weights: DequantizeLinear(q, scale, zero_point) of initializers
        if node.op_type == "DequantizeLinear" and all(i in constants for i in node.input if i):
            q, scale = constants[node.input[0]], constants[node.input[1]]
            zero = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and q.ndim > 1:  # per-channel: broadcast along the axis
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            constants[node.output[0]] = ((q.astype(np.float64) - zero.astype(np.float64)) * scale).astype(np.float32)
    params = []
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        if node.input[1] not in constants:
            raise CheckpointError(f"{path}: {node.op_type} node {node.name!r} has weights computed at run time")
        weight = constants[node.input[1]]
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i == 1 for a in node.attribute):
            weight = weight.T  # torch's Linear stores (out, in)
        bias = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        params.append((node.op_type, weight, bias))
    return params


def _conv_batchnorm_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each convolution with the BatchNorm that follows it (module order is forward order in ferlite's models)."""
    pairs, conv = [], None
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if conv is not None:
                raise CheckpointError(f"{type(model).__name__}: convolution without a BatchNorm after it")
            conv = m
        elif isinstance(m, nn.BatchNorm2d) and conv is not None:
            pairs.append((conv, m))
            conv = None
    return pairs


@torch.no_grad()
def load_folded_weights(model: nn.Module, params: list[tuple[str, np.ndarray, np.ndarray | None]], source: str) -> None:
    """Put folded (conv + bias) weights into ``model``, each BatchNorm set to the identity plus the folded bias."""
    pairs = _conv_batchnorm_pairs(model)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    convs = [p for p in params if p[0] == "Conv"]
    gemms = [p for p in params if p[0] == "Gemm"]
    if len(convs) != len(pairs) or len(gemms) != len(linears):
        raise CheckpointError(
            f"{source}: {len(convs)} convolutions and {len(gemms)} dense layers; the model has {len(pairs)} and {len(linears)}"
        )
    for i, ((conv, bn), (_, weight, bias)) in enumerate(zip(pairs, convs)):
        if tuple(conv.weight.shape) != weight.shape:
            raise CheckpointError(f"{source}: convolution {i} has weights {weight.shape}, the model {tuple(conv.weight.shape)}")
        conv.weight.copy_(torch.tensor(weight))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
        bn.bias.copy_(torch.tensor(bias) if bias is not None else torch.zeros_like(bn.bias))
    for linear, (_, weight, bias) in zip(linears, gemms):
        if tuple(linear.weight.shape) != weight.shape:
            raise CheckpointError(f"{source}: dense layer weights {weight.shape}, the model {tuple(linear.weight.shape)}")
        linear.weight.copy_(torch.tensor(weight))
        linear.bias.copy_(torch.tensor(bias) if bias is not None else torch.zeros_like(linear.bias))


@torch.no_grad()
def unfold_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Give each identity BatchNorm (as :func:`load_folded_weights` leaves it) the statistics of its input.

    The eval-mode function does not change (``gamma = sqrt(v + eps)``, ``beta = bias + m``), so all layers'
    statistics come from one pass.
    """
    pairs = _conv_batchnorm_pairs(model)
    sums = {id(bn): [0.0, 0.0, 0] for _, bn in pairs}

    def record(bn: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...]) -> None:
        z = inputs[0].double()
        acc = sums[id(bn)]
        acc[0] = acc[0] + z.sum((0, 2, 3))
        acc[1] = acc[1] + (z * z).sum((0, 2, 3))
        acc[2] += z.numel() // z.shape[1]

    hooks = [bn.register_forward_pre_hook(record) for _, bn in pairs]
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    for _, bn in pairs:
        total, total_sq, n = sums[id(bn)]
        mean = total / n
        var = (total_sq / n - mean * mean).clamp_min(0.0)
        bn.bias.add_(mean.float())
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
        bn.weight.copy_(torch.sqrt(var.float() + bn.eps))


def checkpoint_from_onnx(path: str | Path, calibration: FaceDataset, batch_size: int = 64) -> dict[str, Any]:
    """A ferlite checkpoint (see :mod:`ferlite.models.checkpoint`) rebuilt from an exported model.

    ``calibration``: real faces (the training split) for the BatchNorm statistics.

    Example:
        >>> faces = load_dataset("ferplus", "train").sample(2048)  # doctest: +SKIP
        >>> state = checkpoint_from_onnx("src/ferlite/assets/emotion_accurate.int8.onnx", faces)  # doctest: +SKIP
        >>> save_checkpoint("runs/from_accurate/best.pth", state)  # doctest: +SKIP
    """
    clf = EmotionClassifier(path, tta="none")
    spec = clf.spec
    if not spec.arch:
        raise CheckpointError(f"{path}: its ONNX metadata names no architecture ({META_PREFIX}arch)")
    if spec.arch == "mobilenetv2_fer_ensemble":
        raise CheckpointError(f"{path}: an ensemble of several networks; rebuild a checkpoint from one member's file instead")
    model_kwargs = {"input_size": spec.input_size}
    model = create_model(spec.arch, num_classes=len(spec.labels), pretrained=False, **model_kwargs)
    model.spec = replace(spec, classifier=model.spec.classifier)  # the file's spec, TTA included
    load_folded_weights(model, onnx_parameters(path), str(path))
    reader = FaceCalibrationReader(calibration, spec, clf.input_name, batch_size)  # one batch in memory at a time
    unfold_batchnorm(model, (torch.from_numpy(feed[clf.input_name]) for feed in iter(reader.get_next, None)))
    return make_checkpoint(model, spec.arch, model_kwargs, source_onnx=str(path), calibration_faces=len(calibration))


def rebuild_checkpoint(
    onnx: str | Path,
    out: str | Path,
    *,
    dataset: str = "fer2013",
    data_path: str | None = None,
    calib_size: int = 2048,
    seed: int = 0,
) -> dict[str, Any]:
    """Rebuild ``onnx`` as the checkpoint ``out/best.pth`` (BatchNorm statistics from ``dataset``'s training faces) and
    check it against the ONNX model on the val split.

    Example:
        >>> rebuild_checkpoint("src/ferlite/assets/emotion_default.int8.onnx", "runs/from_default", dataset="affectnet")  # doctest: +SKIP
    """
    out = Path(out) / "best.pth"
    if not Path(onnx).is_file():
        raise CheckpointError(f"{onnx}: model file not found")
    color = EmotionClassifier(onnx, tta="none").spec.takes_colour  # an rgb model's faces stay in colour
    calibration = load_dataset(dataset, "train", data_path, None, color=color).sample(calib_size, seed)
    state = checkpoint_from_onnx(onnx, calibration)
    save_checkpoint(out, state)
    labels = tuple(state["spec"]["labels"])
    val = load_dataset(dataset, "val", data_path, labels, color=color)
    model, cfg, _ = model_from_checkpoint(out)
    rebuilt = evaluate_model(model, val, cfg, batch_size=128)
    original = onnx_metrics(onnx, val)
    print(
        f"wrote {out}: {state['arch']}, {len(labels)} classes ({', '.join(labels)}), {cfg.input_size}px, "
        f"BatchNorm statistics from {len(calibration)} {dataset} training faces"
    )
    print(
        f"{dataset} val ({len(val)} faces): checkpoint accuracy {rebuilt['accuracy']:.4f}, "
        f"the ONNX model {original['accuracy']:.4f}"
    )
    return {"out": str(out), "val_accuracy": rebuilt["accuracy"], "onnx_val_accuracy": original["accuracy"]}
