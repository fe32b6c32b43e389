"""Average the weights of ferlite checkpoints of one architecture (a "model soup", Wortsman et al., 2022): the
uniform mean of every floating-point entry; a checkpoint with EMA weights (a last.pth) gives those. The result keeps
the first checkpoint's spec and can be scored with ``ferlite evaluate OUT --domains val``.

    python tools/average_checkpoints.py runs/soup.pth runs/mixture8_112_c2/best.pth runs/mixture8_112_c3/best.pth
"""

from __future__ import annotations

import argparse

import torch

from ferlite.models.checkpoint import load_checkpoint, save_checkpoint
from ferlite.models.qat import plain_name


def weights(checkpoint: dict) -> dict[str, torch.Tensor]:
    ema = checkpoint.get("ema")
    if ema:  # AveragedModel's state: the EMA weights under "module." (a --qat run's under their parametrized names)
        return {plain_name(k[len("module.") :]): v for k, v in ema.items() if k.startswith("module.")}
    return checkpoint["model"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the averaged checkpoint to write")
    p.add_argument("checkpoints", nargs="+", help="checkpoints of the same architecture and classes")
    args = p.parse_args()
    loaded = [load_checkpoint(path) for path in args.checkpoints]
    first = loaded[0]
    averaged = {
        k: (sum(weights(c)[k].float() for c in loaded) / len(loaded)) if v.is_floating_point() else v
        for k, v in first["model"].items()
    }
    kept = {k: v for k, v in first.items() if k not in ("model", "ema", "optimizer", "lr_scheduler", "rng_state")}
    save_checkpoint(args.out, {**kept, "model": averaged})
    print(f"wrote {args.out}: the mean of {len(loaded)} checkpoints")


if __name__ == "__main__":
    main()
