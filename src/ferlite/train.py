"""Train an emotion classifier: a plain ``train_one_epoch`` / ``evaluate`` / ``main``.

Example::

    ferlite train --model mobilenetv2_fer --mode full --classes ref5 --input-size 96 \\
        --epochs 12 --out runs/ref5_full

The run folder gets ``last.pth`` (full state, rewritten every epoch, for ``--resume``),
``best.pth`` (best on the validation split, by macro-F1 unless told otherwise) and
``log.jsonl`` (one line per epoch).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from .checkpoint import keep_classes, load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from .data import DataError, apply_balance, balance_classes, load_dataset
from .data.loader import make_loader
from .data.mixing import MixupCutmix, check_mixing
from .data.mixture import build_mixture, parse_mixture
from .data.transforms import ClassificationPresetTrain
from .errors import UsageError
from .evaluate import VAL_DOMAINS, evaluate_domains, load_domains
from .models import MODES, ModelCfg, count_parameters, create_model, list_models
from .runtime.classifier import TTA_MODES
from .taxonomy import PRESETS, parse_classes

_logger = logging.getLogger(__name__)

SCHEDULES = ("cosine", "onecycle", "none")
OPTIMIZERS = ("adam", "adamw")
SELECT_METRICS = ("macro_f1", "accuracy")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite train",
        description="Train an emotion classifier with Adam and cross-entropy. Trains on the train split, "
        "selects the best epoch on the val split (FER2013 PublicTest) and never touches the test split. "
        "Interrupted runs continue with --resume.",
        add_help=add_help,
    )
    g = p.add_argument_group("model")
    g.add_argument("--model", default="mobilenetv2_fer", help=f"architecture: {', '.join(list_models())}")
    g.add_argument(
        "--mode",
        default=None,
        choices=MODES,
        help="MobileNetV2: head (frozen backbone), top (last --top-blocks blocks + head) or full (default)",
    )
    g.add_argument(
        "--top-blocks", type=int, default=None, help="feature blocks trained in --mode top (MobileNetV2 has 19; default 5)"
    )
    g.add_argument(
        "--pretrained",
        default="auto",
        help="initial backbone weights: 'auto' (the shared ImageNet file for MobileNetV2), 'none', a torchvision "
        "state_dict, or a ferlite checkpoint of the same architecture (its classifier is replaced)",
    )
    g.add_argument(
        "--input-size", type=int, default=None, help="square input side, 24 to 224 (default: 224 as the reference, or --init's)"
    )
    g.add_argument(
        "--init",
        default=None,
        metavar="CHECKPOINT",
        help="start from this checkpoint's architecture and weights (e.g. a pruned model to fine-tune); the "
        "classes both share keep their classifier rows (a 7-class model starts a 5-class one), other classes "
        "get new rows",
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset", default="fer2013", help="fer2013, ferplus, rafdb, affectnet, folder, cew (eye patches) or mixture"
    )
    g.add_argument("--data-path", default=None, help="dataset file or folder (default: the shared fer2013.npz)")
    g.add_argument("--classes", default=None, help="a preset (ref5, fer7, ferplus8) or a comma list (default: all)")
    g.add_argument(
        "--per-class",
        type=int,
        default=1000,
        help="augment classes below this count up to it; 0 turns balancing off (default 1000)",
    )
    g.add_argument(
        "--cap", action=argparse.BooleanOptionalAction, default=False, help="also subsample classes above --per-class down to it"
    )
    g.add_argument("--min-count", type=int, default=0, help="drop classes with fewer real training images than this")
    g.add_argument(
        "--soft-targets",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="train on vote distributions (FERPlus) instead of majority labels",
    )
    g.add_argument(
        "--mixture",
        default=None,
        metavar="SPEC",
        help="with --dataset mixture: sources and their share of each epoch, e.g. "
        "ferplus:0.3,rafdb:0.4,affectnet:0.3 (FERPlus keeps its vote distributions as targets); the model "
        "is then selected on the cross-domain validation set, by the mean of the domains' macro-F1",
    )
    g.add_argument(
        "--class-balance",
        type=float,
        default=0.5,
        help="with --mixture: draw an item of a class with n_c items with weight n_c**-B within its source "
        "(0: as is, 1: classes equal; default 0.5)",
    )
    g.add_argument("--epoch-size", type=int, default=None, help="with --mixture: faces drawn per epoch (default: all)")
    g.add_argument(
        "--downscale-prob",
        type=float,
        default=0.0,
        help="probability of shrinking a training face to 32-64 px and back (robustness to tiny faces)",
    )
    g.add_argument("--val-fraction", type=float, default=0.15, help="held-out fraction for folder datasets")
    g.add_argument("--strict", action="store_true", help="stop at the first corrupt row or image instead of skipping it")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--opt", default="adam", choices=OPTIMIZERS, help="adam (as the reference) or adamw")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--sched", default="cosine", choices=SCHEDULES, help="per-step learning-rate schedule")
    g.add_argument("--warmup-epochs", type=float, default=0.5, help="linear warm-up for the cosine schedule")
    g.add_argument("--label-smoothing", type=float, default=0.0)
    g.add_argument(
        "--mixup",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="MixUp with Beta(ALPHA, ALPHA) mixing weights (0: off; 0.2 is usual)",
    )
    g.add_argument(
        "--cutmix",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="CutMix with Beta(ALPHA, ALPHA) patch areas (0: off; 1.0 is usual)",
    )
    g.add_argument(
        "--mix-prob", type=float, default=1.0, help="share of batches mixed when --mixup or --cutmix is on (default 1)"
    )
    g.add_argument(
        "--class-weights", default="none", choices=("none", "balanced"), help="weight the loss by inverse class frequency"
    )
    g.add_argument("--patience", type=int, default=0, help="stop after this many epochs without a better val score (0: never)")
    g.add_argument(
        "--select-metric", default="macro_f1", choices=SELECT_METRICS, help="val metric for best.pth and early stopping"
    )
    g.add_argument(
        "--tta", default="none", choices=TTA_MODES, help="validate with this test-time augmentation (see ferlite evaluate --help)"
    )
    g.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="keep an exponential moving average of the weights (e.g. 0.999) and validate and save it (0: off)",
    )
    g.add_argument(
        "--teacher",
        default=None,
        metavar="CHECKPOINT",
        help="knowledge distillation: a trained ferlite checkpoint on the same classes (any architecture and input size)",
    )
    g.add_argument("--distill-alpha", type=float, default=0.5, help="weight of the teacher's term in the loss (default 0.5)")
    g.add_argument(
        "--distill-temperature", type=float, default=2.0, help="softmax temperature of the distillation term (default 2)"
    )
    g = p.add_argument_group("run")
    g.add_argument(
        "--config",
        default=None,
        metavar="TOML",
        help="read options from a TOML file (keys are option names, e.g. input-size = 112); they become the "
        "defaults, and options given on the command line always win",
    )
    g.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved options (the file's, then the command line's) as TOML and exit",
    )
    g.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/last.pth if it exists")
    g.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="EPOCHS",
        help="stop once this many epochs of the --epochs schedule are done (the rest later, with --resume); for "
        "runs longer than one sitting",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: cores - 1, at most 8)")
    g.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: all cores on the CPU; 2 on CUDA, leaving the cores to the DataLoader workers)",
    )
    g.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    g.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="bfloat16 autocast, on CUDA or on a CPU with native bfloat16 (AVX512-BF16 or AMX; elsewhere it is "
        "emulated and slower). With --mode top it about doubles the CPU's 224 px training speed",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    return p


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The options a TOML file sets, by ``dest``, each checked against ``parser``: an unknown key or a value of the
    wrong type is a UsageError naming the file, the key and the problem, before any data loads.

    Example:
        >>> read_config("configs/mixture8_112.toml", get_args_parser())["input_size"]  # doctest: +SKIP
        112
    """
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a valid TOML file ({e})") from None
    actions = {a.dest: a for a in parser._actions}
    out = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None or dest in ("config", "resume", "print_config", "help", "stop_after"):
            raise UsageError(f"{path}: unknown option {key!r}")
        if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
            ok, want = isinstance(value, bool), "true or false"
        elif action.type is int:
            ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif action.type is float:
            ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        else:
            ok, want = isinstance(value, str), "a string"
        if not ok:
            raise UsageError(f"{path}: option {key!r} must be {want}, got {value!r}")
        if action.choices is not None and value not in action.choices:
            raise UsageError(f"{path}: option {key!r} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
        out[dest] = float(value) if action.type is float else value
    return out


def parse_args(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse a ``ferlite train`` command line; the ``--config`` file's values become the defaults, so an option
    typed on the command line always wins over the file, even when it equals the built-in default (timm's
    two-pass parse).

    Example:
        >>> args = parse_args(["--config", "configs/mixture8_112.toml", "--lr", "1e-3", "--epochs", "2"])  # doctest: +SKIP
        >>> args.lr, args.epochs, args.input_size  # doctest: +SKIP
        (0.001, 2, 112)
    """
    parser = parser or get_args_parser()
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", default=None)
    known, _ = first.parse_known_args(argv)
    if known.config:
        parser.set_defaults(**read_config(known.config, parser))
    args = parser.parse_args(argv)
    args.config_resolved = True
    return args


def format_config(args: argparse.Namespace) -> str:
    """The resolved options as a TOML file that ``--config`` reads back (unset options left out)."""
    lines = []
    for key, value in sorted(vars(args).items()):
        if value is None or key in ("config", "config_resolved", "print_config", "resume", "stop_after"):
            continue
        lines.append(f"{key.replace('_', '-')} = {json.dumps(value) if not isinstance(value, bool) else str(value).lower()}")
    return "\n".join(lines)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _pretrained_arg(args: argparse.Namespace) -> bool | str:
    if args.pretrained in ("none", "false", "0", ""):
        return False
    if args.pretrained == "auto":
        return args.model.startswith("mobilenet")
    return args.pretrained


def build_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if args.opt == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.opt == "adamw":
        return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    raise ValueError(f"unknown optimizer {args.opt!r}; supported: {', '.join(OPTIMIZERS)}")


def build_scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace, steps_per_epoch: int):
    total = max(1, args.epochs * steps_per_epoch)
    if args.sched == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total)
    if args.sched == "cosine":
        warmup = int(args.warmup_epochs * steps_per_epoch)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _warmup_cosine(s, warmup, total))
    if args.sched == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    raise ValueError(f"unknown schedule {args.sched!r}; supported: {', '.join(SCHEDULES)}")


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


class Distiller(nn.Module):
    """Blends a teacher's softened predictions into the loss (Hinton et al., 2015).

    The teacher sees the student's augmented batch, resized to its own input size; both use the
    same normalisation. Loss: ``(1 - alpha) * task_loss + alpha * T^2 * KL(teacher_T || student_T)``.

    Example:
        >>> teacher, cfg, _ = model_from_checkpoint("runs/ferplus8_128/best.pth")  # doctest: +SKIP
        >>> distiller = Distiller(teacher, cfg.input_size, alpha=0.5, temperature=2.0)  # doctest: +SKIP
        >>> loss = distiller(x, model(x), criterion(model(x), y))  # doctest: +SKIP
    """

    def __init__(self, teacher: nn.Module, input_size: int, alpha: float, temperature: float) -> None:
        super().__init__()
        self.teacher = teacher.eval().requires_grad_(False)
        self.input_size, self.alpha, self.temperature = input_size, alpha, temperature

    def forward(self, x: torch.Tensor, student_logits: torch.Tensor, task_loss: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if x.shape[-1] != self.input_size:
                x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
            teacher_logits = self.teacher(x)
        t = self.temperature
        kd = F.kl_div(
            F.log_softmax(student_logits / t, 1), F.log_softmax(teacher_logits / t, 1), reduction="batchmean", log_target=True
        )
        return (1 - self.alpha) * task_loss + self.alpha * t * t * kd


def train_one_epoch(
    model,
    criterion,
    optimizer,
    scheduler,
    loader,
    device,
    epoch: int,
    progress: bool = True,
    ema=None,
    distiller: Distiller | None = None,
    mixer: MixupCutmix | None = None,
    amp: bool = False,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss, accuracy and images/s.

    Training accuracy is against each (possibly mixed) target's largest class. Inputs are channels-last,
    as the model should be. ``amp`` runs the forward pass under bfloat16 autocast (bfloat16 needs no loss scaling).
    """
    model.train()
    seen, loss_sum, correct = 0, 0.0, 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=not progress, leave=False, dynamic_ncols=True)
    for x, y in bar:
        x, y = x.to(device, non_blocking=True, memory_format=torch.channels_last), y.to(device, non_blocking=True)
        if mixer is not None:
            x, y = mixer(x, y)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x).float()
            loss = criterion(logits, y)
            if distiller is not None:
                loss = distiller(x, logits, loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        n = x.shape[0]
        seen += n
        loss_sum += loss.item() * n
        hard = y.argmax(1) if y.ndim == 2 else y
        correct += (logits.argmax(1) == hard).sum().item()
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", img_s=f"{seen / (time.perf_counter() - start):.0f}")
    seconds = time.perf_counter() - start
    return {
        "train_loss": loss_sum / max(seen, 1),
        "train_acc": correct / max(seen, 1),
        "images_per_s": seen / seconds,
        "epoch_seconds": seconds,
    }


def _model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: v
        for k, v in {"mode": args.mode, "top_blocks": args.top_blocks, "input_size": args.input_size}.items()
        if v is not None
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``args`` say; returns the best validation metrics and the run's totals.

    ``args`` come from :func:`parse_args` (which resolves ``--config``) or from ``get_args_parser().parse_args``
    without a config file.
    """
    if args.config and not getattr(args, "config_resolved", False):
        raise UsageError(f"{args.config}: resolve the config file with ferlite.train.parse_args, not parse_args of the parser")
    if getattr(args, "print_config", False):
        print(format_config(args))
        return {}
    init = load_checkpoint(args.init) if args.init else None
    if args.input_size is None:
        args.input_size = init["cfg"]["input_size"] if init else 224
    if not 24 <= args.input_size <= 224:
        raise UsageError(f"--input-size must be between 24 and 224, got {args.input_size}")
    try:  # before any data loads
        check_mixing(args.mixup, args.cutmix, args.mix_prob)
    except ValueError as e:
        raise UsageError(f"--mixup / --cutmix / --mix-prob: {e}") from None
    _seed_everything(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    # On CUDA the main process only feeds the GPU and validates; all-core torch threads there starve the workers.
    torch.set_num_threads(args.threads or (2 if device.type == "cuda" else os.cpu_count() or 1))
    workers = args.workers if args.workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    classes = parse_classes(args.classes)
    train_ds, val_sets, sample_weights, balance = _load_data(args, classes)
    classes = train_ds.classes
    skipped = train_ds.skipped + sum(v.skipped for v in val_sets.values())
    print(
        f"train {len(train_ds)} faces, val {', '.join(f'{k} {len(v)}' for k, v in val_sets.items())} faces"
        + (f", {skipped} corrupt items skipped" if skipped else "")
    )

    model_kwargs = _model_kwargs(args)
    if init:
        if init["arch"] != args.model or not set(classes) & set(init["cfg"]["label_names"]):
            raise DataError(
                f"{args.init}: is {init['arch']} on {', '.join(init['cfg']['label_names'])}; it can start "
                f"{args.model} on classes it shares with them, not on {', '.join(classes)}"
            )
        model_kwargs = {**init["model_kwargs"], **model_kwargs}
    model = create_model(args.model, num_classes=len(classes), pretrained=_pretrained_arg(args) and not init, **model_kwargs)
    if init:
        # Shared classes keep their trained rows; new ones (a 7-class model from a 5-class one) keep fresh rows.
        model.load_state_dict(keep_classes(init, classes, new_rows=model.state_dict()))
    model.pretrained_cfg.label_names = classes
    cfg = model.pretrained_cfg
    model.to(device)
    # Channels-last (NHWC) convolutions are faster in cuDNN and in oneDNN on the CPU: MobileNetV2 at 224 px trains
    # 1.36x faster on the 2-core VM (benchmarks/train_speed.py).
    model.to(memory_format=torch.channels_last)
    amp = args.amp
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    print(
        f"{args.model} ({getattr(model, 'finetune_mode', 'full')}): {count_parameters(model):,} parameters, "
        f"{count_parameters(model, trainable_only=True):,} trainable; input {cfg.input_size}px; {torch.get_num_threads()} threads, {workers} workers"
    )

    train_tf = ClassificationPresetTrain(cfg, downscale_prob=args.downscale_prob)
    train_tf.transform.set_random_seed(args.seed)
    loader = make_loader(
        train_ds,
        train_tf,
        args.batch_size,
        True,
        workers,
        args.seed,
        soft=args.soft_targets or sample_weights is not None,
        sample_weights=sample_weights,
        samples_per_epoch=args.epoch_size,
    )
    weight = None
    if args.class_weights == "balanced":
        counts = np.bincount(train_ds.labels, minlength=len(classes)).astype(np.float64)
        weight = torch.tensor(counts.sum() / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=args.label_smoothing)
    distiller = _load_distiller(args, cfg, device) if args.teacher else None
    mixer = MixupCutmix(len(classes), args.mixup, args.cutmix, args.mix_prob, args.seed)
    mixer = mixer if mixer.active else None
    optimizer = build_optimizer(model, args)
    scheduler = build_scheduler(optimizer, args, len(loader))
    # The EMA copy (BatchNorm statistics included) is what gets validated and saved as best.pth.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    scored = ema.module if ema is not None else model

    start_epoch, best, bad_epochs, train_seconds = 0, None, 0, 0.0
    last_path, best_path, log_path = out / "last.pth", out / "best.pth", out / "log.jsonl"
    if args.resume and last_path.is_file():
        state = load_checkpoint(last_path)
        if state.get("arch") != args.model or state["cfg"]["label_names"] != list(classes):
            raise DataError(
                f"{last_path}: was trained as {state.get('arch')} on {state['cfg']['label_names']}; cannot resume as {args.model} on {list(classes)}"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["lr_scheduler"])
        if ema is not None:
            if "ema" not in state:
                raise DataError(f"{last_path}: was trained without --ema; resume without it")
            ema.load_state_dict(state["ema"])
        start_epoch, best, bad_epochs = state["epoch"] + 1, state.get("best"), state.get("bad_epochs", 0)
        train_seconds = state.get("train_seconds", 0.0)
        torch.set_rng_state(state["rng_state"])
        if best is not None and not best_path.is_file():
            print(f"{best_path} is missing: the best epoch so far ({best['epoch']}) is lost; the next epoch writes a new one")
            best = None
        print(
            f"resumed from {last_path} after epoch {state['epoch']} (best {args.select_metric} so far: "
            f"{'none' if best is None else format(best['score'], '.4f')})"
        )
        _truncate_log(log_path, start_epoch)
    elif log_path.exists():
        log_path.unlink()

    for epoch in range(start_epoch, args.epochs):
        epoch_seed = args.seed * 1000 + epoch  # the shuffle and mixing of epoch k are the same after a resume
        loader.generator.manual_seed(epoch_seed)
        # Augmentation draws restart from the epoch's seed too (in the main process, and in workers, which the
        # loader starts afresh each epoch from its generator): a resumed run repeats an uninterrupted one.
        train_tf.transform.set_random_seed(epoch_seed)
        np.random.seed(epoch_seed)
        if mixer is not None:
            mixer.reseed(epoch_seed)
        stats = train_one_epoch(
            model, criterion, optimizer, scheduler, loader, device, epoch, progress, ema, distiller, mixer, amp
        )
        train_seconds += stats["epoch_seconds"]
        m = evaluate_domains(scored, val_sets, cfg, batch_size=256, tta=args.tta)
        per = m["domains"]
        val_acc = float(np.mean([d["accuracy"] for d in per.values()]))
        score = m["mean_macro_f1"] if args.select_metric == "macro_f1" else val_acc
        improved = best is None or score > best["score"]
        record = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            **{k: round(v, 5) for k, v in stats.items()},
            "val_accuracy": round(val_acc, 5),
            "val_macro_f1": round(m["mean_macro_f1"], 5),
            **(
                {
                    f"val_{k}_{q}": round(d[q] if q == "accuracy" else d["macro"]["f1"], 5)
                    for k, d in per.items()
                    for q in ("accuracy", "macro_f1")
                }
                if len(per) > 1
                else {}
            ),
            "train_seconds": round(train_seconds, 1),
            "best": improved,
        }
        domains = " ".join(f"{k} {d['accuracy']:.4f}/{d['macro']['f1']:.4f}" for k, d in per.items()) if len(per) > 1 else ""
        print(
            f"epoch {epoch}: loss {stats['train_loss']:.4f} train acc {stats['train_acc']:.4f} | "
            f"val acc {val_acc:.4f} macro-F1 {m['mean_macro_f1']:.4f} {domains}| {stats['images_per_s']:.0f} images/s, "
            f"{stats['epoch_seconds']:.0f} s" + (" *" if improved else ""),
            flush=True,
        )
        meta = {"args": vars(args), "train_seconds": train_seconds, "classes": list(classes), "balance": balance}
        if improved:
            best = {"score": score, "epoch": epoch, "val_accuracy": val_acc, "val_macro_f1": m["mean_macro_f1"]}
            bad_epochs = 0
            save_checkpoint(best_path, make_checkpoint(scored, args.model, model_kwargs, epoch=epoch, best=best, **meta))
        else:
            bad_epochs += 1
        save_checkpoint(
            last_path,
            make_checkpoint(
                model,
                args.model,
                model_kwargs,
                epoch=epoch,
                best=best,
                bad_epochs=bad_epochs,
                optimizer=optimizer.state_dict(),
                lr_scheduler=scheduler.state_dict(),
                rng_state=torch.get_rng_state(),
                **({"ema": ema.state_dict()} if ema is not None else {}),
                **meta,
            ),
        )
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if args.stop_after and epoch + 1 >= args.stop_after and epoch + 1 < args.epochs:
            print(f"stopped after epoch {epoch} of {args.epochs} (--stop-after); continue with --resume")
            break
        if args.patience and bad_epochs >= args.patience:
            print(f"early stop: no better val {args.select_metric} for {args.patience} epochs")
            break
    if best is None:
        raise DataError("no epoch was trained (is --epochs larger than the epochs already done?)")
    print(f"best val {args.select_metric} {best['score']:.4f} at epoch {best['epoch']}; checkpoint {best_path}")
    return {"best": best, "train_seconds": train_seconds, "best_path": str(best_path), "classes": list(classes)}


def _load_data(args: argparse.Namespace, classes: tuple[str, ...] | None):
    """The training set, the validation domains, per-item sampling weights (mixtures only) and the balance record."""
    if args.dataset == "mixture":
        if not args.mixture:
            raise UsageError("--dataset mixture needs --mixture, e.g. ferplus:0.3,rafdb:0.4,affectnet:0.3")
        sources = parse_mixture(args.mixture)  # before any data loads
        classes = classes or PRESETS["ferplus8"]
        mixed = build_mixture(sources, "train", classes, args.strict)
        weights = mixed.sampling_weights(args.class_balance)
        shares = mixed.shares(weights)
        print(
            "mixture, expected share of each epoch by source and by class (class balance "
            f"{args.class_balance}): " + ", ".join(f"{k} {v:.1%}" for k, v in shares["source"].items())
        )
        print("  " + ", ".join(f"{k} {v:.1%}" for k, v in shares["class"].items()))
        return mixed.data, load_domains(VAL_DOMAINS, "val", classes, args.strict), weights, shares
    train_ds = load_dataset(args.dataset, "train", args.data_path, classes, args.strict, args.val_fraction, args.seed)
    val_ds = load_dataset(args.dataset, "val", args.data_path, classes, args.strict, args.val_fraction, args.seed)
    plan = balance_classes(train_ds.labels, train_ds.classes, args.per_class or None, args.cap, args.min_count, args.seed)
    print(f"training classes, per-class counts before and after balancing (target {args.per_class or 'off'}, cap {args.cap}):")
    print(plan.table())
    if plan.dropped:
        print(f"dropped for having fewer than {args.min_count} images: {', '.join(plan.dropped)}")
    train_ds = apply_balance(train_ds, plan)
    val_ds = val_ds.select_classes(plan.classes)
    if len(val_ds) == 0:
        raise DataError(f"{args.dataset}: the val split has no faces of classes {', '.join(plan.classes)}")
    return train_ds, {args.dataset: val_ds}, None, {"before": plan.before, "after": plan.after}


def _load_distiller(args: argparse.Namespace, cfg: ModelCfg, device: torch.device) -> Distiller:
    if not 0 < args.distill_alpha <= 1 or args.distill_temperature <= 0:  # before loading anything
        raise UsageError("--distill-alpha must be in (0, 1] and --distill-temperature above 0")
    teacher, tcfg, state = model_from_checkpoint(args.teacher)
    if tuple(tcfg.label_names) != tuple(cfg.label_names):
        raise DataError(
            f"{args.teacher}: the teacher's classes {list(tcfg.label_names)} differ from the student's {list(cfg.label_names)}"
        )
    if tuple(tcfg.mean) != tuple(cfg.mean) or tuple(tcfg.std) != tuple(cfg.std):
        raise DataError(
            f"{args.teacher}: the teacher normalises with mean {tcfg.mean} / std {tcfg.std}, the student with {cfg.mean} / {cfg.std}"
        )
    print(
        f"distilling from {args.teacher} ({state['arch']}, {tcfg.input_size}px, {count_parameters(teacher):,} parameters), "
        f"alpha {args.distill_alpha}, temperature {args.distill_temperature}"
    )
    return Distiller(teacher.to(device), tcfg.input_size, args.distill_alpha, args.distill_temperature)


def _truncate_log(log_path: Path, start_epoch: int) -> None:
    """Keep the log lines of the epochs a resumed run has already finished."""
    if not log_path.exists():
        return
    kept = []
    for ln in log_path.read_text().splitlines():
        try:
            if json.loads(ln)["epoch"] < start_epoch:
                kept.append(ln)
        except (ValueError, KeyError, TypeError):  # a line half-written when the run was killed: dropped
            _logger.warning("%s: dropped an unreadable line: %.80s", log_path, ln)
    log_path.write_text("".join(ln + "\n" for ln in kept))
