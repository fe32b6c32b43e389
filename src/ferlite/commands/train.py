"""``ferlite train``: the options of :class:`ferlite.training.TrainConfig`, a TOML recipe as their defaults."""

from __future__ import annotations

import argparse

from ..core.options import call_with_options
from ..training.config import TrainConfig, add_train_args, read_config


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite train",
        description="Train an emotion classifier with Adam and cross-entropy. Trains on the train split, selects the "
        "best epoch on the val split (or, for a mixture, on the cross-domain validation set) and never touches a test "
        "split. Interrupted runs continue with --resume.",
        add_help=add_help,
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="TOML",
        help="read options from a TOML recipe (keys are option names, e.g. input-size = 112); they become the "
        "defaults, and options given on the command line always win",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved options as a TOML recipe and exit")
    add_train_args(p)
    return p


def parse_args(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Two passes (timm's): the ``--config`` file's values become the parser's defaults, so an option typed on the
    command line always wins over the file, even when it equals the built-in default.

    Example:
        >>> from pathlib import Path
        >>> _ = Path("recipe.toml").write_text("lr = 0.0003\\nepochs = 18\\ninput-size = 112\\n")
        >>> args = parse_args(["--config", "recipe.toml", "--lr", "1e-3", "--epochs", "2"])
        >>> args.lr, args.epochs, args.input_size
        (0.001, 2, 112)
    """
    parser = parser or get_args_parser()
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", default=None)
    known, _ = first.parse_known_args(argv)
    if known.config:
        parser.set_defaults(**read_config(known.config))
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return call_with_options(TrainConfig, args)


def main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.print_config:
        print(config.to_toml())
        return 0
    from ..training import fit  # torch only once there is something to train

    fit(config)
    return 0
