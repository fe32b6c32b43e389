"""Batch-level MixUp and CutMix for training.

These act on a whole batch (pairs of faces and their targets), after the per-image
albumentations preset. The maintained implementations (``torchvision.transforms.v2.MixUp`` /
``CutMix``, ``timm.data.Mixup``) both need torchvision, which has no CPU-only wheel, so this
small one follows the papers: MixUp (Zhang et al., ICLR 2018) and CutMix (Yun et al., ICCV 2019).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def check_mixing(mixup_alpha: float, cutmix_alpha: float, prob: float) -> None:
    """Raise ValueError unless both alphas are >= 0 and ``prob`` is in [0, 1]."""
    if mixup_alpha < 0 or cutmix_alpha < 0 or not 0 <= prob <= 1:
        raise ValueError(f"the alphas must be >= 0 and the probability in [0, 1], got {mixup_alpha}, {cutmix_alpha}, {prob}")


class MixupCutmix:
    """Mix each batch with a shuffled copy of itself; targets become class distributions.

    With both alphas set, each batch gets one of the two at random (half and half). ``prob`` is
    the chance that a batch is mixed at all. Hard labels (N,) and soft targets (N, C) are both
    accepted; the output targets are always (N, C) and each row sums to 1.

    Example:
        >>> mixer = MixupCutmix(num_classes=7, cutmix_alpha=1.0, seed=0)
        >>> x, y = mixer(torch.zeros(8, 3, 96, 96), torch.arange(8) % 7)
        >>> tuple(y.shape)
        (8, 7)
    """

    def __init__(
        self, num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, prob: float = 1.0, seed: int = 0
    ) -> None:
        check_mixing(mixup_alpha, cutmix_alpha, prob)
        self.num_classes, self.mixup_alpha, self.cutmix_alpha, self.prob = num_classes, mixup_alpha, cutmix_alpha, prob
        self.reseed(seed)

    @property
    def active(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def reseed(self, seed: int) -> None:
        """Restart the random stream (per epoch, so that a resumed run mixes as an uninterrupted one)."""
        self._rng = np.random.default_rng(seed)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        target = F.one_hot(y, self.num_classes).to(x.dtype) if y.ndim == 1 else y.to(x.dtype)
        if not self.active or self._rng.random() >= self.prob:
            return x, target
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or self._rng.random() < 0.5)
        lam = float(self._rng.beta(*(2 * [self.cutmix_alpha if use_cutmix else self.mixup_alpha])))
        perm = torch.from_numpy(self._rng.permutation(x.shape[0])).to(x.device)
        if use_cutmix:
            h, w = x.shape[-2:]
            cut_h, cut_w = int(round(h * np.sqrt(1 - lam))), int(round(w * np.sqrt(1 - lam)))
            cy, cx = int(self._rng.integers(h)), int(self._rng.integers(w))
            y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
            x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
            x = x.clone()
            x[:, :, y1:y2, x1:x2] = x[perm, :, y1:y2, x1:x2]
            lam = 1 - (y2 - y1) * (x2 - x1) / (h * w)  # the share of the image each face really keeps
        else:
            x = lam * x + (1 - lam) * x[perm]
        return x, lam * target + (1 - lam) * target[perm]
