"""``ferlite federate``: a Flower federation from a TOML file (top-level keys: the federation; ``[train]``: the
clients' training), into :func:`ferlite.training.federated.run_federated`."""

from __future__ import annotations

import argparse

from ..core.options import call_with_options
from ..training.config import add_dataclass_args
from ..training.federated import FederateConfig, load_federate_config, read_federate_config


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite federate",
        description="Federated learning with Flower, simulated on this machine: each client trains with ferlite's own "
        "fit on its share of the faces, the server aggregates (FedAvg or FedProx, optionally with differential "
        "privacy and SecAgg+) and scores the global model on the cross-domain validation set every round. "
        "--strategy centralized trains the same budget in one place. Needs pip install 'ferlite[federated]'.",
        add_help=add_help,
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="TOML",
        help="the federation's options (top-level keys, e.g. rounds = 5) and the clients' training options (a [train] "
        "table, as in ferlite train's recipes); options given on the command line win",
    )
    add_dataclass_args(p, FederateConfig)
    return p


def parse_args(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Two passes, as ``ferlite train``: the file's federation options become the defaults, the command line wins."""
    parser = parser or get_args_parser()
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", default=None)
    known, _ = first.parse_known_args(argv)
    if known.config:
        parser.set_defaults(**read_federate_config(known.config)[0])
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    from ..training.federated import run_federated

    _, train = load_federate_config(args.config)
    run_federated(call_with_options(FederateConfig, args), train)
    return 0
