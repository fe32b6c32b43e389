"""``TrainConfig``: every option of a training run, in one dataclass that is also the command line and the TOML file.

Each field declares its default, its help and its group once; ``ferlite train``'s parser is built from the fields,
and a TOML recipe's keys are the same names (``input-size = 112``), checked against the fields' types before any
data loads. The command line wins over the file (timm's two-pass parse: the file's values become the defaults).

Example:
    >>> config = TrainConfig(dataset="ferplus", classes="ferplus8", epochs=2, out="runs/x")
    >>> config.lr, config.model
    (0.001, 'mobilenetv2_fer')
    >>> _ = Path("recipe.toml").write_text('dataset = "ferplus"\\ninput-size = 112\\nepochs = 20\\n')
    >>> load_config("recipe.toml", epochs=3).epochs
    3
"""

from __future__ import annotations

import argparse
import json
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.options import DATA_HELP, FINETUNE_MODES
from ..core.spec import COLOR_MODES, TTA_MODES

SCHEDULES = ("cosine", "onecycle", "none")
OPTIMIZERS = ("adam", "adamw")
SELECT_METRICS = ("macro_f1", "accuracy")
# Options of one sitting, never of a recipe: a TOML file may not set them.
RUN_ONLY = ("resume", "stop_after")


def option(default: Any, group: str, help: str, *, choices: tuple | None = None, metavar: str | None = None) -> Any:
    """A TrainConfig field with its command-line help."""
    return field(default=default, metadata={"group": group, "help": help, "choices": choices, "metavar": metavar})


@dataclass
class TrainConfig:
    """One training run. ``ferlite.training.fit(config)`` runs it; ``ferlite train`` builds it from argv."""

    # model
    model: str = option("mobilenetv2_fer", "model", "architecture: mobilenetv2_fer or cnn_small")
    mode: str | None = option(
        None,
        "model",
        "MobileNetV2: head (frozen backbone), top (last --top-blocks blocks + head) or full",
        choices=FINETUNE_MODES,
    )
    top_blocks: int | None = option(None, "model", "feature blocks trained in --mode top (MobileNetV2 has 19; default 5)")
    pretrained: str = option(
        "auto",
        "model",
        "initial backbone weights: 'auto' (the shared ImageNet file for MobileNetV2), 'none', a torchvision "
        "state_dict, or a ferlite checkpoint of the same architecture (its classifier is replaced)",
    )
    input_size: int | None = option(None, "model", "square input side, 24 to 224 (default: --init's, else 224)")
    color_mode: str | None = option(
        None,
        "model",
        "gray2rgb: every face made gray; rgb: colour faces (RAF-DB's, a folder's) keep their colours, gray ones are "
        "repeated (default: --init's, else gray2rgb)",
        choices=COLOR_MODES,
    )
    dropout: float | None = option(
        None, "model", "dropout before the classifier (default: the architecture's, 0.2 for MobileNetV2, 0.5 for the CNN)"
    )
    init: str | None = option(
        None,
        "model",
        "start from this checkpoint's architecture and weights; the classes both share keep their classifier rows, "
        "other classes get new rows",
        metavar="CHECKPOINT",
    )
    # data
    dataset: str = option("fer2013", "data", DATA_HELP["dataset"])
    data_path: str | None = option(None, "data", DATA_HELP["data_path"])
    classes: str | None = option(None, "data", DATA_HELP["classes"])
    per_class: int = option(1000, "data", "augment classes below this count up to it; 0 turns balancing off")
    cap: bool = option(False, "data", "also subsample classes above --per-class down to it")
    min_count: int = option(0, "data", "drop classes with fewer real training images than this")
    soft_targets: bool = option(False, "data", "train on vote distributions (FERPlus) instead of majority labels")
    mixture: str | None = option(
        None,
        "data",
        "with --dataset mixture: sources and their share of each epoch, e.g. ferplus:0.3,rafdb:0.4,affectnet:0.3 "
        "(FERPlus keeps its vote distributions as targets); the model is then selected on the cross-domain "
        "validation set, by the mean of the domains' macro-F1",
        metavar="SPEC",
    )
    class_balance: float = option(
        0.5,
        "data",
        "with --mixture: draw an item of a class with n_c items with weight n_c**-B within its source (0: as is, 1: classes equal)",
    )
    epoch_size: int | None = option(None, "data", "with --mixture: faces drawn per epoch (default: all)")
    downscale_prob: float = option(
        0.0, "data", "probability of shrinking a training face to 32-64 px and back (robustness to tiny faces)"
    )
    augment: bool = option(
        True, "data", "augment training faces (flip, affine, brightness/contrast, erasing); --no-augment only resizes"
    )
    val_fraction: float = option(0.15, "data", DATA_HELP["val_fraction"])
    strict: bool = option(False, "data", DATA_HELP["strict"])
    # optimisation
    epochs: int = option(10, "optimisation", "epochs of the schedule")
    batch_size: int = option(64, "optimisation", "global batch size (split over the processes under torchrun)")
    opt: str = option("adam", "optimisation", "adam (as the reference) or adamw", choices=OPTIMIZERS)
    lr: float = option(1e-3, "optimisation", "peak learning rate")
    weight_decay: float = option(0.0, "optimisation", "weight decay")
    sched: str = option("cosine", "optimisation", "per-step learning-rate schedule", choices=SCHEDULES)
    warmup_epochs: float = option(0.5, "optimisation", "linear warm-up for the cosine schedule")
    label_smoothing: float = option(0.0, "optimisation", "label smoothing of the cross-entropy")
    mixup: float = option(
        0.0, "optimisation", "MixUp with Beta(ALPHA, ALPHA) mixing weights (0: off; 0.2 is usual)", metavar="ALPHA"
    )
    cutmix: float = option(
        0.0, "optimisation", "CutMix with Beta(ALPHA, ALPHA) patch areas (0: off; 1.0 is usual)", metavar="ALPHA"
    )
    mix_prob: float = option(1.0, "optimisation", "share of batches mixed when --mixup or --cutmix is on")
    class_weights: str = option(
        "none", "optimisation", "weight the loss by inverse class frequency", choices=("none", "balanced")
    )
    patience: int = option(0, "optimisation", "stop after this many epochs without a better val score (0: never)")
    select_metric: str = option("macro_f1", "optimisation", "val metric for best.pth and early stopping", choices=SELECT_METRICS)
    tta: str = option(
        "none", "optimisation", "validate with this test-time augmentation (see ferlite evaluate --help)", choices=TTA_MODES
    )
    ema: float = option(
        0.0,
        "optimisation",
        "keep an exponential moving average of the weights (e.g. 0.999) and validate and save it (0: off)",
        metavar="DECAY",
    )
    qat: bool = option(
        False,
        "optimisation",
        "quantization-aware training (MobileNetV2): train under the int8 export's rounding, weights per channel and "
        "activations per tensor, so that the int8 file loses less; meant for a short fine-tune from --init",
    )
    teacher: str | None = option(
        None,
        "optimisation",
        "knowledge distillation: a trained ferlite checkpoint on the same classes (any architecture and input size), "
        "or several separated by commas, whose softened predictions are averaged (an ensemble teacher)",
        metavar="CHECKPOINT",
    )
    teacher_targets: str | None = option(
        None,
        "optimisation",
        "offline distillation: a file of per-face teacher probabilities (tools/teacher_targets.py: each mixture source "
        "scored by its own teacher), blended into the training targets with weight --distill-alpha",
        metavar="NPZ",
    )
    distill_alpha: float = option(
        0.5, "optimisation", "weight of the teacher's term in the loss (or of --teacher-targets in the targets)"
    )
    distill_temperature: float = option(2.0, "optimisation", "softmax temperature of the distillation term")
    proximal_mu: float = option(
        0.0,
        "optimisation",
        "FedProx's proximal term: mu/2 times the squared distance of the weights from their starting point (--init), "
        "which keeps a federated client near the global model (0: off)",
    )
    # run
    out: str = option("runs/train", "run", "run folder: last.pth, best.pth, log.jsonl")
    resume: bool = option(False, "run", "continue from OUT/last.pth if it exists")
    stop_after: int | None = option(
        None,
        "run",
        "stop once this many epochs of the --epochs schedule are done (the rest later, with --resume)",
        metavar="EPOCHS",
    )
    seed: int = option(0, "run", DATA_HELP["seed"])
    workers: int | None = option(None, "run", "DataLoader workers per process (default: cores - 1, at most 8)")
    threads: int | None = option(
        None,
        "run",
        "torch threads (default on the CPU: OMP_NUM_THREADS where set, else all cores, split between DDP processes; 2 on CUDA)",
    )
    device: str | None = option(None, "run", "cpu or cuda (default: cuda if available)")
    amp: bool = option(
        False,
        "run",
        "bfloat16 autocast, on CUDA or on a CPU with native bfloat16 (AVX512-BF16 or AMX; elsewhere it is emulated and slower)",
    )
    progress: bool = option(True, "run", "progress bars (--no-progress for logs)")

    def to_toml(self) -> str:
        """The options as a TOML recipe that :func:`load_config` reads back (unset and run-only options left out)."""
        lines = []
        for key, value in asdict(self).items():
            if value is None or key in RUN_ONLY:
                continue
            lines.append(f"{key.replace('_', '-')} = {str(value).lower() if isinstance(value, bool) else json.dumps(value)}")
        return "\n".join(lines)


def _field_type(f, cls: type | None = None) -> type:
    """The field's value type (``int | None`` -> int) in dataclass ``cls`` (default TrainConfig)."""
    hint = typing.get_type_hints(cls or TrainConfig)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    return args[0]


def add_train_args(parser: argparse.ArgumentParser) -> None:
    """Add every TrainConfig field to ``parser`` as an option (booleans as ``--x / --no-x``)."""
    add_dataclass_args(parser, TrainConfig)


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add every field of ``cls`` (a dataclass whose fields come from :func:`option`) to ``parser``."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields(cls):
        meta = f.metadata
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        kind = _field_type(f, cls)
        kwargs: dict[str, Any] = {"default": f.default, "help": meta["help"] + " (default: %(default)s)"}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = kind
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            if meta["metavar"]:
                kwargs["metavar"] = meta["metavar"]
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def read_config(path: str | Path) -> dict[str, Any]:
    """The options a TOML recipe sets, by field name, each checked against TrainConfig: an unknown key, a run-only
    key or a value of the wrong type is a UsageError naming the file, the key and the problem.

    Example:
        >>> _ = Path("recipe.toml").write_text('dataset = "ferplus"\\ninput-size = 112\\n')
        >>> read_config("recipe.toml")
        {'dataset': 'ferplus', 'input_size': 112}
    """
    return check_options(read_toml(path), str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's table; a missing or malformed file is one UsageError naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a valid TOML file ({e})") from None


def check_options(table: dict[str, Any], source: str, cls: type | None = None) -> dict[str, Any]:
    """``table`` (keys as in TOML, ``input-size``) as field values of ``cls`` (default TrainConfig); a UsageError
    naming ``source`` and the key for an unknown key or a wrong type or value."""
    cls = cls or TrainConfig
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        f = known.get(name)
        if f is None or name in RUN_ONLY:
            raise UsageError(f"{source}: unknown option {key!r}")
        kind = _field_type(f, cls)
        if kind is bool:
            ok, want = isinstance(value, bool), "true or false"
        elif kind is int:
            ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif kind is float:
            ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        else:
            ok, want = isinstance(value, str), "a string"
        if not ok:
            raise UsageError(f"{source}: option {key!r} must be {want}, got {value!r}")
        choices = f.metadata["choices"]
        if choices is not None and value not in choices:
            raise UsageError(f"{source}: option {key!r} must be one of {', '.join(map(str, choices))}, got {value!r}")
        out[name] = float(value) if kind is float else value
    return out


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a TOML recipe, then ``overrides`` (field names, run-only ones included), which win.

    Example:
        >>> _ = Path("recipe.toml").write_text('dataset = "cew"\\n')
        >>> load_config("recipe.toml", out="runs/eyes").out
        'runs/eyes'
    """
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise UsageError(f"unknown training option {', '.join(unknown)}")
    return TrainConfig(**{**(read_config(path) if path else {}), **overrides})
