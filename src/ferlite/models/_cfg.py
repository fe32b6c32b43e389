"""The preprocessing config that travels with a model's weights (timm's ``PretrainedCfg``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Plain [0, 1] scaling for networks trained from scratch: a mean of 0.5 keeps inputs centred.
UNIT_MEAN = (0.5, 0.5, 0.5)
UNIT_STD = (0.5, 0.5, 0.5)


@dataclass
class ModelCfg:
    """Everything needed to turn a face crop into the model's input tensor.

    Attributes:
        input_size: square side in pixels the face is resized to.
        mean, std: per-channel normalisation applied after scaling pixels to [0, 1].
        color_mode: ``"gray2rgb"``: the grayscale face is repeated over 3 channels.
        label_names: class names in output order.
        classifier: module path of the final layer (swapped when the class count changes).

    Example:
        >>> ModelCfg(input_size=96).to_dict()["input_size"]
        96
    """

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    color_mode: str = "gray2rgb"
    label_names: tuple[str, ...] = field(default_factory=tuple)
    classifier: str = "classifier.1"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"], d["label_names"] = list(self.mean), list(self.std), list(self.label_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelCfg:
        return cls(
            input_size=int(d["input_size"]),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            color_mode=str(d.get("color_mode", "gray2rgb")),
            label_names=tuple(str(v) for v in d.get("label_names", ())),
            classifier=str(d.get("classifier", "classifier.1")),
        )
