"""``ferlite prune``: structured channel pruning of a MobileNetV2 checkpoint, then fine-tuning."""

from __future__ import annotations

import argparse

from ..training.prune import prune_checkpoint


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite prune",
        description="Structured channel pruning of a MobileNetV2 checkpoint (the hidden channels of every "
        "inverted-residual block), then fine-tuning on the checkpoint's training data. Writes the pruned "
        "checkpoint; export it with 'ferlite export' to measure its speed.",
        add_help=add_help,
    )
    p.add_argument("checkpoint", help="a MobileNetV2 checkpoint from ferlite train")
    p.add_argument("--ratio", type=float, required=True, help="fraction of hidden channels to remove, e.g. 0.3")
    p.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs after pruning (default 2; 0: none)")
    p.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate (default 2e-4)")
    p.add_argument("--out", required=True, help="run folder for the pruned model")
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars (--no-progress for logs)"
    )
    return p


def main(args: argparse.Namespace) -> int:
    prune_checkpoint(args.checkpoint, args.ratio, args.out, epochs=args.epochs, lr=args.lr, progress=args.progress)
    return 0
