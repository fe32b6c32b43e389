"""OpenCV's DNN module as the emotion models' backend, where onnxruntime has no wheel.

The bundled int8 models are standard ONNX operators (QuantizeLinear, DequantizeLinear, Conv, Add,
GlobalAveragePool, Flatten, Gemm, Identity), which OpenCV's DNN module runs too, and OpenCV is already the runtime's
image library: with this backend the runtime needs numpy and OpenCV only. It gives the same top label as ONNX Runtime
on at least 97% of real faces (tested), at a lower speed. ``EmotionClassifier(backend="opencv")``, ``--backend
opencv``, or automatically when ``import onnxruntime`` fails.

:class:`OpenCVSession` offers the part of ``onnxruntime.InferenceSession`` the classifier uses; the model's metadata
(its ``ModelSpec``) is read from the ONNX file by a small protobuf reader, since OpenCV does not expose it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, memoryview | int]]:
    """(field number, wire type, value) of each field of a protobuf message; length-delimited values as views."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


@dataclass
class OnnxOutline:
    """What the classifier needs of an ONNX file besides the network: metadata and input and output names."""

    metadata: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def read_onnx_outline(path: str | Path) -> OnnxOutline:
    """The metadata (``ModelProto.metadata_props``) and the graph's input and output names of an ONNX file.

    Example:
        >>> from ferlite.core.paths import asset_path
        >>> outline = read_onnx_outline(asset_path("emotion_default.int8.onnx"))
        >>> outline.outputs, outline.metadata["ferlite.input_size"]
        (['logits', 'embedding'], '112')
    """
    buf = memoryview(Path(path).read_bytes())
    outline = OnnxOutline()
    initializers: set[str] = set()
    for number, wire, value in _fields(buf):
        if number == 14 and wire == 2:  # metadata_props: StringStringEntryProto {key = 1, value = 2}
            entry = {n: bytes(v).decode("utf-8") for n, w, v in _fields(value) if w == 2}  # type: ignore[arg-type]
            outline.metadata[entry.get(1, "")] = entry.get(2, "")
        elif number == 7 and wire == 2:  # graph: GraphProto {initializer = 5, input = 11, output = 12}
            for g_number, g_wire, g_value in _fields(value):  # type: ignore[arg-type]
                if g_wire != 2 or g_number not in (5, 11, 12):
                    continue
                name_field = 8 if g_number == 5 else 1  # TensorProto.name is field 8, ValueInfoProto.name field 1
                name = next((bytes(v).decode("utf-8") for n, w, v in _fields(g_value) if n == name_field and w == 2), "")  # type: ignore[arg-type]
                if g_number == 5:
                    initializers.add(name)
                elif g_number == 11:
                    outline.inputs.append(name)
                else:
                    outline.outputs.append(name)
    outline.inputs = [n for n in outline.inputs if n not in initializers]  # old exporters list weights as inputs
    return outline


@dataclass
class _Node:
    name: str
    shape: list


@dataclass
class _Meta:
    custom_metadata_map: dict[str, str]


class OpenCVSession:
    """An ONNX model on OpenCV's DNN module, answering the calls ``EmotionClassifier`` makes of an ONNX Runtime
    session (``run``, ``get_inputs``, ``get_outputs``, ``get_modelmeta``)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        """``threads`` is taken for the session's interface and not applied: OpenCV's thread pool is process-wide, and
        setting it for the classifier slowed the detector (YuNet, also OpenCV) too."""
        self.outline = read_onnx_outline(path)
        self.net = cv2.dnn.readNetFromONNX(str(path))
        size = int(self.outline.metadata.get("ferlite.input_size", "0") or 0)
        self._inputs = [_Node(self.outline.inputs[0] if self.outline.inputs else "input", [None, 3, size, size])]
        widths = []
        if size:
            probe = np.zeros((1, 3, size, size), np.float32)
            widths = [o.shape[-1] for o in self._forward(probe)]
        self._outputs = [_Node(n, [None, w]) for n, w in zip(self.outline.outputs, widths or [None] * len(self.outline.outputs))]

    def _forward(self, batch: np.ndarray) -> list[np.ndarray]:
        outs = []
        for i in range(len(batch)):  # one face per call: batches over 1 are not handled by every OpenCV DNN layer
            self.net.setInput(np.ascontiguousarray(batch[i : i + 1]))
            outs.append(self.net.forward(self.outline.outputs))
        return [np.concatenate([o[k] for o in outs]).astype(np.float32) for k in range(len(self.outline.outputs))]

    def run(self, names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = self._forward(next(iter(feeds.values())))
        if names is None:
            return outputs
        return [outputs[self.outline.outputs.index(n)] for n in names]

    def get_inputs(self) -> list[_Node]:
        return self._inputs

    def get_outputs(self) -> list[_Node]:
        return self._outputs

    def get_modelmeta(self) -> _Meta:
        return _Meta(dict(self.outline.metadata))
