"""The model spec: everything that turns a face crop into a model's input and its output into labels.

One torch-free value travels with the weights (timm's ``spec``): training sets it on the network
(``model.spec``), a checkpoint stores it as a dict, ``ferlite export`` writes it into the ONNX metadata
(``ferlite.*`` keys), and the runtime reads it back and checks it before any face is classified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .errors import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Plain [0, 1] scaling for networks trained from scratch: a mean of 0.5 keeps inputs centred.
UNIT_MEAN = (0.5, 0.5, 0.5)
UNIT_STD = (0.5, 0.5, 0.5)

# The colour modes the runtime can honour; a model declaring another is refused, never fed the wrong input.
# "gray2rgb": the face is made gray and repeated over 3 channels (every model trained on FER2013 alone);
# "rgb": a colour face's own channels, a gray one repeated (models trained where colour faces exist, RAF-DB).
COLOR_MODES = ("gray2rgb", "rgb")
# Test-time augmentation: the views of each face whose logits are averaged (see ferlite.runtime.tta_views).
TTA_MODES = ("none", "flip", "shift-flip")
# The name of an emotion model's second output: the face embedding, the classifier's input (personalization).
EMBEDDING_OUTPUT = "embedding"
# The key prefix of the spec (and of the logit calibration) in an ONNX file's metadata.
META_PREFIX = "ferlite."


@dataclass(frozen=True)
class ModelSpec:
    """How a face crop becomes the model's input, and what its outputs mean.

    Attributes:
        arch: the registered architecture (``ferlite.models.list_models()``); empty when unknown.
        input_size: square side in pixels the face is resized to.
        mean, std: per-channel normalisation applied after scaling pixels to [0, 1].
        color_mode: ``"gray2rgb"``: the face is made gray and repeated over 3 channels; ``"rgb"``: a colour
            face keeps its channels (in RGB order), a gray face is repeated over them.
        labels: class names in output order.
        tta: the test-time augmentation the model's published number used; its users get it by default.
        classifier: module path of the final layer (swapped when the class count changes).

    Example:
        >>> spec = ModelSpec(arch="mobilenetv2_fer", input_size=112, labels=("happy", "sad"))
        >>> ModelSpec.from_metadata(spec.to_metadata(), "model.onnx") == spec
        True
        >>> ModelSpec.from_dict({**spec.to_dict(), "std": [1.0]}).problem()
        'mean and std need one value per channel (3), got 3 and 1'
    """

    arch: str = ""
    input_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color_mode: str = "gray2rgb"
    labels: tuple[str, ...] = field(default_factory=tuple)
    tta: str = "none"
    classifier: str = "classifier.1"

    @property
    def takes_colour(self) -> bool:
        """Whether the model's input is the face in colour (``color_mode`` rgb) rather than made gray.

        >>> ModelSpec(color_mode="rgb").takes_colour, ModelSpec().takes_colour
        (True, False)
        """
        return self.color_mode == "rgb"

    def with_labels(self, labels: tuple[str, ...] | list[str]) -> ModelSpec:
        """The same spec for another set of classes."""
        return replace(self, labels=tuple(labels))

    def problem(self) -> str | None:
        """What makes this spec unusable, in a few words, or None."""
        if not 8 <= self.input_size <= 1024:
            return f"input size {self.input_size} is not 8-1024 px"
        if len(self.mean) != 3 or len(self.std) != 3:
            return f"mean and std need one value per channel (3), got {len(self.mean)} and {len(self.std)}"
        if min(self.std) <= 0:
            return f"std values must be above 0, got {list(self.std)}"
        if self.color_mode not in COLOR_MODES:
            return f"colour mode {self.color_mode!r} is not one the runtime honours ({', '.join(COLOR_MODES)})"
        if len(set(self.labels)) != len(self.labels):
            return f"labels must be distinct, got {list(self.labels)}"
        if self.tta not in TTA_MODES:
            return f"test-time augmentation {self.tta!r} is not one of {', '.join(TTA_MODES)}"
        return None

    def check_outputs(self, width: int, source: str) -> None:
        """Raise a CheckpointError naming ``source`` unless the model's output width equals the label count."""
        if width != len(self.labels):
            raise CheckpointError(f"{source}: the model has {width} outputs but its spec names {len(self.labels)} labels")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-like dict, as checkpoints store it."""
        d = asdict(self)
        d["mean"], d["std"], d["labels"] = list(self.mean), list(self.std), list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSpec:
        """Read :meth:`to_dict`'s form; also a checkpoint written before the spec existed (``labels``)."""
        return cls(
            arch=str(d.get("arch", "")),
            input_size=int(d["input_size"]),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            color_mode=str(d.get("color_mode", "gray2rgb")),
            labels=tuple(str(v) for v in d.get("labels", d.get("label_names", ()))),
            tta=str(d.get("tta", "none")),
            classifier=str(d.get("classifier", "classifier.1")),
        )

    def to_metadata(self) -> dict[str, str]:
        """The ONNX metadata entries (``ferlite.*``) that let the runtime use the model without torch."""
        return {
            META_PREFIX + "labels": json.dumps(list(self.labels)),
            META_PREFIX + "input_size": str(self.input_size),
            META_PREFIX + "mean": json.dumps(list(self.mean)),
            META_PREFIX + "std": json.dumps(list(self.std)),
            META_PREFIX + "color_mode": self.color_mode,
            META_PREFIX + "arch": self.arch,
            META_PREFIX + "tta": self.tta,
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], source: str) -> ModelSpec:
        """Read and check the spec in an ONNX file's metadata; a missing, garbled or inconsistent entry is a
        CheckpointError naming ``source``."""
        try:
            spec = cls(
                arch=meta.get(META_PREFIX + "arch", ""),
                input_size=int(meta[META_PREFIX + "input_size"]),
                mean=tuple(float(v) for v in json.loads(meta[META_PREFIX + "mean"])),
                std=tuple(float(v) for v in json.loads(meta[META_PREFIX + "std"])),
                color_mode=meta.get(META_PREFIX + "color_mode", "gray2rgb"),
                labels=tuple(str(v) for v in json.loads(meta[META_PREFIX + "labels"])),
                tta=meta.get(META_PREFIX + "tta", "none"),
            )
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(
                f"{source}: not a ferlite emotion model (ONNX metadata lacks or garbles {e}); export it with 'ferlite export'"
            ) from None
        problem = spec.problem() or (None if spec.labels else "it names no labels")
        if problem:
            raise CheckpointError(f"{source}: its metadata is inconsistent: {problem}")
        return spec
