"""The training loop's parts, in the torchvision references' plain form: ``train_one_epoch``, the optimizer and the
learning-rate schedule, and knowledge distillation."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data.mixing import MixupCutmix
from ..models.ensemble import at_input_size
from .config import OPTIMIZERS, SCHEDULES, TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.opt == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.opt == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.opt!r}; supported: {', '.join(OPTIMIZERS)}")


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    if config.sched == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total)
    if config.sched == "cosine":
        warmup = int(config.warmup_epochs * steps_per_epoch)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _warmup_cosine(s, warmup, total))
    if config.sched == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    raise ValueError(f"unknown schedule {config.sched!r}; supported: {', '.join(SCHEDULES)}")


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


# ITU-R BT.601 luma in RGB order: the weights of cv2.COLOR_BGR2GRAY, with which gray models' faces were made.
LUMA_RGB = (0.299, 0.587, 0.114)


def gray_input(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """A normalised RGB batch as a gray (``gray2rgb``) model sees the same faces: their luma on three channels.

    Example:
        >>> x = torch.randn(2, 3, 8, 8)
        >>> g = gray_input(x, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        >>> g.shape, bool((g[:, 0] == g[:, 2]).all())
        (torch.Size([2, 3, 8, 8]), True)
    """
    m, s = x.new_tensor(mean).view(1, 3, 1, 1), x.new_tensor(std).view(1, 3, 1, 1)
    luma = ((x * s + m) * x.new_tensor(LUMA_RGB).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return (luma - m) / s


class Distiller(nn.Module):
    """Blends a teacher's softened predictions into the loss (Hinton et al., 2015).

    The teacher sees the student's augmented batch, resized to its own input size; both use the
    same normalisation. A gray teacher of a colour student (``gray_teacher``, with the normalisation's ``mean`` and
    ``std``) sees the batch's luma, as it was trained to. Loss: ``(1 - alpha) * task_loss + alpha * T^2 * KL(teacher_T || student_T)``.
    Several teachers (each with its own input size) form an ensemble: their softened probabilities are averaged,
    which is a better target than any one of them when they err on different faces.

    Example:
        >>> teacher, cfg, _ = model_from_checkpoint("runs/ferplus8_128/best.pth")  # doctest: +SKIP
        >>> distiller = Distiller(teacher, cfg.input_size, alpha=0.5, temperature=2.0)  # doctest: +SKIP
        >>> loss = distiller(x, model(x), criterion(model(x), y))  # doctest: +SKIP
    """

    def __init__(
        self,
        teacher: nn.Module | list[nn.Module],
        input_size: int | list[int],
        alpha: float,
        temperature: float,
        gray_teacher: list[bool] | None = None,
        mean: tuple[float, ...] = (0.0, 0.0, 0.0),
        std: tuple[float, ...] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        teachers = teacher if isinstance(teacher, list) else [teacher]
        sizes = input_size if isinstance(input_size, list) else [input_size]
        gray = gray_teacher or [False] * len(teachers)
        if not len(teachers) == len(sizes) == len(gray):
            raise ValueError(f"{len(teachers)} teachers but {len(sizes)} input sizes and {len(gray)} gray flags")
        self.teachers = nn.ModuleList(t.eval().requires_grad_(False) for t in teachers)
        self.input_sizes, self.alpha, self.temperature = sizes, alpha, temperature
        self.gray_teacher, self.mean, self.std = gray, tuple(mean), tuple(std)

    @torch.no_grad()
    def teacher_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log of the teachers' mean probabilities at the distillation temperature."""
        per_teacher = []
        for teacher, size, gray in zip(self.teachers, self.input_sizes, self.gray_teacher):
            seen = gray_input(x, self.mean, self.std) if gray else x
            per_teacher.append(F.log_softmax(teacher(at_input_size(seen, size)).float() / self.temperature, 1))
        return torch.logsumexp(torch.stack(per_teacher), 0) - math.log(len(per_teacher))

    def forward(self, x: torch.Tensor, student_logits: torch.Tensor, task_loss: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        kd = F.kl_div(F.log_softmax(student_logits / t, 1), self.teacher_log_probs(x), reduction="batchmean", log_target=True)
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
