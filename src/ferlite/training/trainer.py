"""``fit(config)``: one training run, in named steps (data, model, optimiser, resume, loop).

The run folder gets ``last.pth`` (the full state, rewritten every epoch, for ``resume``), ``best.pth`` (the best
epoch on the validation split or domains, by macro-F1 unless told otherwise) and ``log.jsonl`` (one line per epoch).
A resumed run repeats an uninterrupted one: each epoch's shuffle, augmentation and mixing restart from its seed.

Example::

    from ferlite.training import fit, load_config
    result = fit(load_config("configs/eyes_cew.toml", epochs=2, out="runs/eyes"))
    result.best_path, result.best["score"]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..core.errors import DataError, UsageError
from ..core.spec import ModelSpec
from ..core.system import compute_threads
from ..core.taxonomy import PRESETS, parse_classes
from ..data import FaceDataset, apply_balance, balance_classes, load_dataset
from ..data.loader import make_loader
from ..data.mixing import MixupCutmix, check_mixing
from ..data.mixture import build_mixture, parse_mixture
from ..data.transforms import ClassificationPresetEval, ClassificationPresetTrain
from ..evaluation.evaluate import VAL_DOMAINS, evaluate_domains, load_domains
from ..models import count_parameters, create_model
from ..models.checkpoint import keep_classes, load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from ..models.qat import activation_ranges, load_activation_ranges, load_plain_state_dict, simulate_int8
from .config import TrainConfig
from .distributed import (
    DistContext,
    broadcast_from_main,
    init_distributed,
    per_rank_batch,
    shutdown_distributed,
)
from .engine import Distiller, build_optimizer, build_scheduler, train_one_epoch
from .teacher_targets import blend_teacher_targets

_logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run left behind: its best epoch (``score``, ``epoch``, ``val_accuracy``, ``val_macro_f1``), the total
    training seconds, the best checkpoint's path and the classes in output order."""

    best: dict[str, Any]
    train_seconds: float
    best_path: str
    classes: list[str]


@dataclass
class TrainData:
    """What ``fit`` trains on. ``val`` may be empty (a federated client: the server validates the aggregate), and
    then every epoch counts as the best."""

    train: FaceDataset
    val: dict[str, FaceDataset]
    sample_weights: np.ndarray | None  # per training item, mixtures only
    balance: dict[str, Any]  # what balancing or mixing did, for the checkpoint's record
    source: np.ndarray | None = None  # per training item, the mixture source's index (mixtures only)

    def subset(self, index: np.ndarray, validate: bool = False) -> TrainData:
        """The items ``index`` (sampling weights renormalised); the validation domains only if ``validate``."""
        weights = None
        if self.sample_weights is not None:
            weights = self.sample_weights[index] / self.sample_weights[index].sum()
        source = self.source[index] if self.source is not None else None
        return TrainData(self.train.subset(index), self.val if validate else {}, weights, self.balance, source)


@dataclass
class TrainState:
    """The model and everything the loop updates; ``scored`` is what is validated and saved as best (the EMA copy
    when there is one)."""

    model: nn.Module
    model_kwargs: dict[str, Any]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ema: AveragedModel | None
    start_epoch: int = 0
    best: dict[str, Any] | None = None
    bad_epochs: int = 0
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model


def fit(config: TrainConfig, data: TrainData | None = None) -> TrainResult:
    """Train as ``config`` says and return the best epoch (see the module docstring). Under ``torchrun`` every
    process calls it; each trains on its share of the global batch and only rank 0 prints and writes files.
    ``data``: already loaded training data (a federated client's partition); default: as ``config`` says."""
    check_config(config)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ctx, device = init_distributed(device)
    try:
        if ctx.is_main:
            return _fit(config, ctx, device, data)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return _fit(config, ctx, device, data)
    finally:
        shutdown_distributed(ctx)


def _fit(config: TrainConfig, ctx: DistContext, device: torch.device, data: TrainData | None = None) -> TrainResult:
    init = load_checkpoint(config.init) if config.init else None
    # Resolved on a copy: the caller's config stays as it gave it.
    input_size = config.input_size
    if input_size is None:
        input_size = ModelSpec.from_dict(init["spec"]).input_size if init else 224
    config = replace(config, input_size=input_size, color_mode=resolve_color_mode(config, init))
    if not 24 <= config.input_size <= 224:
        raise UsageError(f"--input-size must be between 24 and 224, got {config.input_size}")
    _seed_everything(config.seed)
    # The processes of one machine share its cores. OMP_NUM_THREADS counts for a single process only: torchrun sets it
    # to 1 in every process it starts unless told otherwise, which would leave a DDP run one thread per process.
    cores = compute_threads() if ctx.world_size == 1 else max(1, (os.cpu_count() or 1) // ctx.world_size)
    # On CUDA the main process only feeds the GPU and validates; all-core torch threads there starve the workers.
    torch.set_num_threads(config.threads or (2 if device.type == "cuda" else cores))
    workers = config.workers if config.workers is not None else min(8, max(0, cores - 1))
    per_rank_batch(config.batch_size, ctx)  # a UsageError before any data loads
    progress = config.progress and ctx.is_main
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    data = data or build_data(config)
    classes = data.train.classes
    model, model_kwargs = build_model(config, classes, init, device)
    print(
        f"{config.model} ({getattr(model, 'finetune_mode', 'full')}): {count_parameters(model):,} parameters, "
        f"{count_parameters(model, trainable_only=True):,} trainable; input {model.spec.input_size}px; "
        f"{torch.get_num_threads()} threads, {workers} workers"
        + (f"; {ctx.world_size} processes (DistributedDataParallel)" if ctx.distributed else "")
    )
    if config.augment:
        train_tf = ClassificationPresetTrain(model.spec, downscale_prob=config.downscale_prob)
    else:
        train_tf = ClassificationPresetEval(model.spec)
    train_tf.transform.set_random_seed(config.seed)
    loader = make_loader(
        data.train,
        train_tf,
        config.batch_size,
        True,
        workers,
        config.seed,
        soft=config.soft_targets or data.sample_weights is not None or bool(config.teacher_targets),
        sample_weights=data.sample_weights,
        samples_per_epoch=config.epoch_size,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    criterion = build_criterion(config, data.train, device)
    if config.proximal_mu:
        criterion = ProximalLoss(criterion, model, config.proximal_mu)
    distiller = build_distiller(config, model.spec, device) if config.teacher else None
    mixer = MixupCutmix(len(classes), config.mixup, config.cutmix, config.mix_prob, config.seed)
    mixer = mixer if mixer.active else None
    state = build_training_state(config, model, model_kwargs, len(loader))
    state.extra = {"args": asdict(config), "classes": list(classes), "balance": data.balance}
    resume(config, state, classes, out, writes=ctx.is_main)
    train_model = state.model
    if ctx.distributed:
        train_model = DistributedDataParallel(state.model, device_ids=[device.index] if device.type == "cuda" else None)

    best_path, last_path, log_path = out / "best.pth", out / "last.pth", out / "log.jsonl"
    for epoch in range(state.start_epoch, config.epochs):
        epoch_seed = config.seed * 1000 + epoch  # the shuffle and mixing of epoch k are the same after a resume
        loader.generator.manual_seed(epoch_seed)
        # Augmentation draws restart from the epoch's seed too (in the main process, and in workers, which the
        # loader starts afresh each epoch from its generator): a resumed run repeats an uninterrupted one.
        train_tf.transform.set_random_seed(epoch_seed)
        np.random.seed(epoch_seed)
        if mixer is not None:
            mixer.reseed(epoch_seed)
        stats = train_one_epoch(
            train_model,
            criterion,
            state.optimizer,
            state.scheduler,
            loader,
            device,
            epoch,
            progress,
            state.ema,
            distiller,
            mixer,
            config.amp,
        )
        state.train_seconds += stats["epoch_seconds"]
        # Rank 0 validates and writes; the other ranks take its verdict, so that all stop at the same epoch.
        record = None
        if ctx.is_main:
            record = validate_epoch(config, state, data.val, epoch, stats) if data.val else train_only_epoch(state, epoch, stats)
        state.best, state.bad_epochs = broadcast_from_main((state.best, state.bad_epochs), ctx)
        if ctx.is_main:
            save_epoch(state, config.model, epoch, record["best"], best_path, last_path)
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if config.stop_after and epoch + 1 >= config.stop_after and epoch + 1 < config.epochs:
            print(f"stopped after epoch {epoch} of {config.epochs} (stop_after); continue with --resume")
            break
        if config.patience and state.bad_epochs >= config.patience:
            print(f"early stop: no better val {config.select_metric} for {config.patience} epochs")
            break
    if state.best is None:
        raise DataError("no epoch was trained (is --epochs larger than the epochs already done?)")
    if state.best["val_macro_f1"] is None:
        print(f"trained to epoch {state.best['epoch']} without validation; checkpoint {best_path}")
    else:
        print(f"best val {config.select_metric} {state.best['score']:.4f} at epoch {state.best['epoch']}; checkpoint {best_path}")
    return TrainResult(state.best, state.train_seconds, str(best_path), list(classes))


def resolve_color_mode(config: TrainConfig, init: dict[str, Any] | None) -> str:
    """The run's colour mode: ``--color-mode``, else ``init``'s (a checkpoint's), else gray2rgb."""
    return config.color_mode or (ModelSpec.from_dict(init["spec"]).color_mode if init else "gray2rgb")


def check_config(config: TrainConfig) -> None:
    """The checks that need no data: a bad value is a UsageError before anything loads."""
    try:
        check_mixing(config.mixup, config.cutmix, config.mix_prob)
    except ValueError as e:
        raise UsageError(f"--mixup / --cutmix / --mix-prob: {e}") from None
    if config.dataset == "mixture" and not config.mixture:
        raise UsageError("--dataset mixture needs --mixture, e.g. ferplus:0.3,rafdb:0.4,affectnet:0.3")
    if config.mixture:
        parse_mixture(config.mixture)
    if (config.teacher or config.teacher_targets) and (not 0 < config.distill_alpha <= 1 or config.distill_temperature <= 0):
        raise UsageError("--distill-alpha must be in (0, 1] and --distill-temperature above 0")
    if config.epochs < 1 or config.batch_size < 1:
        raise UsageError(f"--epochs and --batch-size must be at least 1, got {config.epochs} and {config.batch_size}")
    if config.qat and config.model != "mobilenetv2_fer":
        raise UsageError(f"--qat simulates the int8 export of a MobileNetV2 (mobilenetv2_fer), not of {config.model}")


def build_data(config: TrainConfig, with_val: bool = True) -> TrainData:
    """The training set, the validation domains, per-item sampling weights (mixtures only) and the balance record.
    ``with_val=False`` leaves a mixture's validation domains unloaded (a federated client's data)."""
    classes = parse_classes(config.classes)
    color = config.color_mode == "rgb"  # colour faces stay BGR for rgb models; None (not yet resolved): gray
    if config.dataset == "mixture":
        classes = classes or PRESETS["ferplus8"]
        mixed = build_mixture(parse_mixture(config.mixture), "train", classes, config.strict, color)
        weights = mixed.sampling_weights(config.class_balance)
        shares = mixed.shares(weights)
        print(
            "mixture, expected share of each epoch by source and by class (class balance "
            f"{config.class_balance}): " + ", ".join(f"{k} {v:.1%}" for k, v in shares["source"].items())
        )
        print("  " + ", ".join(f"{k} {v:.1%}" for k, v in shares["class"].items()))
        val = load_domains(VAL_DOMAINS, "val", classes, config.strict, color) if with_val else {}
        data = TrainData(mixed.data, val, weights, shares, mixed.source)
    else:
        args = (config.data_path, classes, config.strict, config.val_fraction, config.seed, color)
        train_ds, val_ds = load_dataset(config.dataset, "train", *args), load_dataset(config.dataset, "val", *args)
        plan = balance_classes(
            train_ds.labels, train_ds.classes, config.per_class or None, config.cap, config.min_count, config.seed
        )
        print(
            f"training classes, per-class counts before and after balancing (target {config.per_class or 'off'}, cap {config.cap}):"
        )
        print(plan.table())
        if plan.dropped:
            print(f"dropped for having fewer than {config.min_count} images: {', '.join(plan.dropped)}")
        val_ds = val_ds.select_classes(plan.classes)
        if len(val_ds) == 0:
            raise DataError(f"{config.dataset}: the val split has no faces of classes {', '.join(plan.classes)}")
        data = TrainData(
            apply_balance(train_ds, plan), {config.dataset: val_ds}, None, {"before": plan.before, "after": plan.after}
        )
    if config.teacher_targets:
        blended_train, n = blend_teacher_targets(data.train, config.teacher_targets, config.distill_alpha)
        data = replace(data, train=blended_train)
        print(
            f"teacher targets from {config.teacher_targets} blended into {n} of {len(data.train)} faces (alpha {config.distill_alpha})"
        )
    skipped = data.train.skipped + sum(v.skipped for v in data.val.values())
    print(
        f"train {len(data.train)} faces, val {', '.join(f'{k} {len(v)}' for k, v in data.val.items())} faces"
        + (f", {skipped} corrupt items skipped" if skipped else "")
    )
    return data


def build_model(
    config: TrainConfig, classes: tuple[str, ...], init: dict[str, Any] | None, device: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """The network on ``device`` (channels-last), from ImageNet weights, from scratch or from ``init``'s weights."""
    model_kwargs = {
        k: v
        for k, v in {
            "mode": config.mode,
            "top_blocks": config.top_blocks,
            "input_size": config.input_size,
            "dropout": config.dropout,
        }.items()
        if v is not None
    }
    if init:
        init_labels = ModelSpec.from_dict(init["spec"]).labels
        if init["arch"] != config.model or not set(classes) & set(init_labels):
            raise DataError(
                f"{config.init}: is {init['arch']} on {', '.join(init_labels)}; it can start "
                f"{config.model} on classes it shares with them, not on {', '.join(classes)}"
            )
        model_kwargs = {**init["model_kwargs"], **model_kwargs}
    pretrained: bool | str = False
    if config.pretrained == "auto":
        pretrained = config.model.startswith("mobilenet") and not init
    elif config.pretrained not in ("none", "false", "0", "") and not init:
        pretrained = config.pretrained
    model = create_model(config.model, num_classes=len(classes), pretrained=pretrained, **model_kwargs)
    if init:
        # Shared classes keep their trained rows; new ones (a 7-class model from a 5-class one) keep fresh rows.
        model.load_state_dict(keep_classes(init, classes, new_rows=model.state_dict()))
    model.spec = replace(model.spec.with_labels(classes), color_mode=resolve_color_mode(config, init))
    if config.qat:
        simulate_int8(model)
    model.to(device)
    # Channels-last (NHWC) convolutions are faster in cuDNN and in oneDNN on the CPU: MobileNetV2 at 224 px trains
    # 1.36x faster on the 2-core VM (benchmarks/train_speed.py).
    model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    return model, model_kwargs


def build_criterion(config: TrainConfig, train: FaceDataset, device: torch.device) -> nn.Module:
    """Cross-entropy, with label smoothing and, if asked, inverse-frequency class weights."""
    weight = None
    if config.class_weights == "balanced":
        counts = np.bincount(train.labels, minlength=len(train.classes)).astype(np.float64)
        weight = torch.tensor(counts.sum() / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


class ProximalLoss(nn.Module):
    """FedProx (Li et al., 2020): the task loss plus ``mu / 2 * ||w - w0||^2``, ``w0`` being the weights the run
    started from (for a federated client, the global model of the round)."""

    def __init__(self, criterion: nn.Module, model: nn.Module, mu: float) -> None:
        super().__init__()
        self.criterion, self.mu = criterion, mu
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.start = [p.detach().clone() for p in self.params]

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        drift = sum(((p - p0) ** 2).sum() for p, p0 in zip(self.params, self.start))
        return self.criterion(logits, target) + 0.5 * self.mu * drift


def build_distiller(config: TrainConfig, spec: ModelSpec, device: torch.device) -> Distiller:
    """The teacher (or the ensemble of teachers, comma-separated) of ``config.teacher``, each checked to share the
    student's classes and normalisation; a gray teacher of a colour student sees the faces' luma."""
    teachers, sizes, gray = [], [], []
    for path in (p.strip() for p in str(config.teacher).split(",")):
        teacher, tspec, state = model_from_checkpoint(path)
        if tuple(tspec.labels) != tuple(spec.labels):
            raise DataError(f"{path}: the teacher's classes {list(tspec.labels)} differ from the student's {list(spec.labels)}")
        if tuple(tspec.mean) != tuple(spec.mean) or tuple(tspec.std) != tuple(spec.std):
            raise DataError(
                f"{path}: the teacher normalises with mean {tspec.mean} / std {tspec.std}, the student with {spec.mean} / {spec.std}"
            )
        if tspec.takes_colour and not spec.takes_colour:
            # A colour teacher would see gray faces, unlike those it learnt from; a gray one sees the batch's luma.
            raise DataError(f"{path}: the teacher takes colour (rgb) faces, the student {spec.color_mode} ones")
        print(f"distilling from {path} ({state['arch']}, {tspec.input_size}px, {count_parameters(teacher):,} parameters)")
        teachers.append(teacher.to(device))
        sizes.append(tspec.input_size)
        gray.append(tspec.color_mode != spec.color_mode)
    print(f"  alpha {config.distill_alpha}, temperature {config.distill_temperature}, {len(teachers)} teacher(s) averaged")
    return Distiller(teachers, sizes, config.distill_alpha, config.distill_temperature, gray, spec.mean, spec.std)


def build_training_state(config: TrainConfig, model: nn.Module, model_kwargs: dict[str, Any], steps_per_epoch: int) -> TrainState:
    """The optimiser, the per-step schedule and the EMA copy (which is validated and saved as best.pth)."""
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True) if config.ema else None
    return TrainState(model, model_kwargs, optimizer, scheduler, ema)


def resume(config: TrainConfig, state: TrainState, classes: tuple[str, ...], out: Path, writes: bool = True) -> None:
    """With ``config.resume`` and a ``last.pth`` in ``out``: continue after its epoch; otherwise start a new log.
    ``writes``: this process owns the run folder (rank 0 under torchrun)."""
    last_path, best_path, log_path = out / "last.pth", out / "best.pth", out / "log.jsonl"
    if not (config.resume and last_path.is_file()):
        if writes and log_path.exists():
            log_path.unlink()
        return
    saved = load_checkpoint(last_path)
    saved_labels = list(ModelSpec.from_dict(saved["spec"]).labels)
    if saved.get("arch") != config.model or saved_labels != list(classes):
        raise DataError(
            f"{last_path}: was trained as {saved.get('arch')} on {saved_labels}; cannot resume as {config.model} on {list(classes)}"
        )
    saved_qat = bool(saved.get("args", {}).get("qat"))
    if saved_qat != config.qat:
        raise DataError(f"{last_path}: was trained {'with' if saved_qat else 'without'} --qat; resume it the same way")
    load_plain_state_dict(state.model, saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["lr_scheduler"])
    if state.ema is not None:
        if "ema" not in saved:
            raise DataError(f"{last_path}: was trained without --ema; resume without it")
        state.ema.load_state_dict(saved["ema"])
    if config.qat:
        _resume_int8_ranges(state, saved, last_path)
    state.start_epoch, state.best, state.bad_epochs = saved["epoch"] + 1, saved.get("best"), saved.get("bad_epochs", 0)
    state.train_seconds = saved.get("train_seconds", 0.0)
    torch.set_rng_state(saved["rng_state"])
    if state.best is not None and not best_path.is_file():
        print(f"{best_path} is missing: the best epoch so far ({state.best['epoch']}) is lost; the next epoch writes a new one")
        state.best = None
    print(
        f"resumed from {last_path} after epoch {saved['epoch']} (best {config.select_metric} so far: "
        f"{'none' if state.best is None else format(state.best['score'], '.4f')})"
    )
    if writes:
        _truncate_log(log_path, state.start_epoch)


def _resume_int8_ranges(state: TrainState, saved: dict[str, Any], last_path: Path) -> None:
    ranges = saved.get("int8_ranges")
    if ranges is None:  # a --qat checkpoint written before the ranges were saved
        if state.ema is not None:
            state.ema.n_averaged.zero_()  # the next update copies the trained network, its learnt ranges included
            print(f"{last_path}: holds no activation ranges; the EMA copy restarts from the trained weights")
        return
    load_activation_ranges(state.model, ranges["model"])
    if state.ema is not None:
        load_activation_ranges(state.ema.module, ranges["ema"])


def validate_epoch(
    config: TrainConfig, state: TrainState, val: dict[str, FaceDataset], epoch: int, stats: dict[str, float]
) -> dict[str, Any]:
    """Score the epoch on every validation domain, update the best epoch, print a line; the log record."""
    m = evaluate_domains(state.scored, val, state.scored.spec, batch_size=256, tta=config.tta)
    per = m["domains"]
    val_acc = float(np.mean([d["accuracy"] for d in per.values()]))
    score = m["mean_macro_f1"] if config.select_metric == "macro_f1" else val_acc
    improved = state.best is None or score > state.best["score"]
    if improved:
        state.best = {"score": score, "epoch": epoch, "val_accuracy": val_acc, "val_macro_f1": m["mean_macro_f1"]}
        state.bad_epochs = 0
    else:
        state.bad_epochs += 1
    domains = " ".join(f"{k} {d['accuracy']:.4f}/{d['macro']['f1']:.4f}" for k, d in per.items()) if len(per) > 1 else ""
    print(
        f"epoch {epoch}: loss {stats['train_loss']:.4f} train acc {stats['train_acc']:.4f} | "
        f"val acc {val_acc:.4f} macro-F1 {m['mean_macro_f1']:.4f} {domains}| {stats['images_per_s']:.0f} images/s, "
        f"{stats['epoch_seconds']:.0f} s" + (" *" if improved else ""),
        flush=True,
    )
    per_domain = (
        {
            f"val_{k}_{q}": round(d[q] if q == "accuracy" else d["macro"]["f1"], 5)
            for k, d in per.items()
            for q in ("accuracy", "macro_f1")
        }
        if len(per) > 1
        else {}
    )
    return {
        "epoch": epoch,
        "lr": state.optimizer.param_groups[0]["lr"],
        **{k: round(v, 5) for k, v in stats.items()},
        "val_accuracy": round(val_acc, 5),
        "val_macro_f1": round(m["mean_macro_f1"], 5),
        **per_domain,
        "train_seconds": round(state.train_seconds, 1),
        "best": improved,
    }


def train_only_epoch(state: TrainState, epoch: int, stats: dict[str, float]) -> dict[str, Any]:
    """An epoch without validation domains (a federated client): it becomes the best; a line and the log record."""
    state.best = {"score": stats["train_acc"], "epoch": epoch, "val_accuracy": None, "val_macro_f1": None}
    print(
        f"epoch {epoch}: loss {stats['train_loss']:.4f} train acc {stats['train_acc']:.4f} (no validation) | "
        f"{stats['images_per_s']:.0f} images/s, {stats['epoch_seconds']:.0f} s",
        flush=True,
    )
    return {
        "epoch": epoch,
        "lr": state.optimizer.param_groups[0]["lr"],
        **{k: round(v, 5) for k, v in stats.items()},
        "train_seconds": round(state.train_seconds, 1),
        "best": True,
    }


def save_epoch(state: TrainState, arch: str, epoch: int, improved: bool, best_path: Path, last_path: Path) -> None:
    """best.pth when the epoch improved (the scored weights), and last.pth always (everything ``resume`` needs)."""
    meta = {**state.extra, "train_seconds": state.train_seconds}
    if improved:
        save_checkpoint(best_path, make_checkpoint(state.scored, arch, state.model_kwargs, epoch=epoch, best=state.best, **meta))
    save_checkpoint(
        last_path,
        make_checkpoint(
            state.model,
            arch,
            state.model_kwargs,
            epoch=epoch,
            best=state.best,
            bad_epochs=state.bad_epochs,
            optimizer=state.optimizer.state_dict(),
            lr_scheduler=state.scheduler.state_dict(),
            rng_state=torch.get_rng_state(),
            **({"ema": state.ema.state_dict()} if state.ema is not None else {}),
            **({"int8_ranges": _int8_ranges(state)} if hasattr(state.model, "int8_simulation") else {}),
            **meta,
        ),
    )


def _int8_ranges(state: TrainState) -> dict[str, dict[str, torch.Tensor]]:
    """The simulated activation ranges of the trained network and of its EMA copy (``--qat``): ``state_dict`` leaves
    them out, and an EMA copy resumed without them would average its ranges up from zero and round with a fraction
    of them."""
    return {
        "model": activation_ranges(state.model),
        **({"ema": activation_ranges(state.ema.module)} if state.ema is not None else {}),
    }


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
