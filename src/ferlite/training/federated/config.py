"""How a federation runs: :class:`FederateConfig`, read from a TOML file with the clients' :class:`TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ...core.errors import UsageError
from ...data.partition import parse_partition
from ..config import TrainConfig, check_options, option, read_toml

STRATEGIES = ("fedavg", "fedprox", "centralized")


@dataclass
class FederateConfig:
    """How a federation runs. ``ferlite federate`` builds it from a TOML file's top-level keys and the command line
    (which wins); the file's ``[train]`` table is the clients' :class:`TrainConfig`."""

    clients: int = option(3, "federation", "number of clients (simulated SuperNodes)")
    partition: str = option(
        "by-dataset",
        "federation",
        "how the training faces are split among the clients: iid, by-dataset (one client per mixture source: "
        "FER2013/FERPlus, RAF-DB, AffectNet) or dirichlet:ALPHA (each class shared by Dirichlet(ALPHA) proportions; "
        "small ALPHA: non-IID users)",
    )
    rounds: int = option(5, "federation", "federated rounds")
    local_epochs: int = option(1, "federation", "local epochs per round (each of [train] epoch-size faces)")
    strategy: str = option(
        "fedavg",
        "federation",
        "fedavg, fedprox (with --proximal-mu) or centralized (the same budget trained on all the data in one place)",
        choices=STRATEGIES,
    )
    proximal_mu: float = option(0.01, "federation", "FedProx's mu (fedprox only)")
    fraction_fit: float = option(1.0, "federation", "share of the clients sampled each round (client sampling)")
    noise_multiplier: float = option(
        0.0,
        "privacy",
        "differential privacy: Gaussian noise of this many clipping norms (std) added to the sum of the clipped "
        "updates (0: off; needs --clipping-norm)",
    )
    clipping_norm: float = option(0.0, "privacy", "differential privacy: each client's update clipped to this L2 norm")
    delta: float = option(1e-5, "privacy", "the delta of the (epsilon, delta) reported for differential privacy")
    secagg: bool = option(False, "privacy", "SecAgg+ secure aggregation: the server sees only the sum of the updates")
    secagg_shares: int = option(3, "privacy", "SecAgg+: shares of each client's secret (at most --clients)")
    secagg_threshold: int = option(2, "privacy", "SecAgg+: shares needed to reconstruct a dropped client's mask")
    val_limit: int = option(
        600, "run", "faces per validation domain scored each round (0: all); the final model is scored on all"
    )
    out: str = option("runs/federated", "run", "run folder: log.jsonl, final.pth, summary.json, clients/")
    seed: int = option(0, "run", "seed of the partition and of the clients' local training")

    @property
    def clients_per_round(self) -> int:
        return max(1, round(self.fraction_fit * self.clients))

    def check(self) -> None:
        """Impossible values as one UsageError each, before anything loads."""
        parse_partition(self.partition)
        for name in ("clients", "rounds", "local_epochs"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.fraction_fit <= 1:
            raise UsageError(f"--fraction-fit must be in (0, 1], got {self.fraction_fit}")
        if self.noise_multiplier < 0 or self.clipping_norm < 0:
            raise UsageError("--noise-multiplier and --clipping-norm must not be negative")
        if self.noise_multiplier > 0 and self.clipping_norm <= 0:
            raise UsageError("--noise-multiplier needs --clipping-norm: noise is calibrated to the clipped updates")
        if not 0 < self.delta < 1:
            raise UsageError(f"--delta must be in (0, 1), got {self.delta}")
        if self.secagg and not 2 <= self.secagg_threshold <= self.secagg_shares <= self.clients_per_round:
            raise UsageError(
                "--secagg needs 2 <= --secagg-threshold <= --secagg-shares <= the clients sampled per round "
                f"({self.clients_per_round}), got {self.secagg_threshold} and {self.secagg_shares}"
            )
        if self.strategy == "centralized" and (self.secagg or self.noise_multiplier):
            raise UsageError("--strategy centralized has no clients: drop --secagg and --noise-multiplier")


def read_federate_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The federation options (top-level keys) and the clients' training options (the ``[train]`` table) of a TOML
    file, each checked like a training recipe (an unknown key or a wrong type is a UsageError naming the file)."""
    table = read_toml(path)
    train = table.pop("train", {})
    if not isinstance(train, dict):
        raise UsageError(f"{path}: 'train' must be a table ([train]) of training options")
    return check_options(table, str(path), FederateConfig), check_options(train, f"{path} [train]")


def load_federate_config(path: str | Path | None = None, **overrides: Any) -> tuple[FederateConfig, TrainConfig]:
    """``(FederateConfig, TrainConfig)`` from a TOML file, then ``overrides`` (federation options), which win."""
    fed, train = read_federate_config(path) if path else ({}, {})
    unknown = sorted(set(overrides) - {f.name for f in fields(FederateConfig)})
    if unknown:
        raise UsageError(f"unknown federation option {', '.join(unknown)}")
    train_config = TrainConfig(**train)
    if train_config.color_mode is None and train_config.init:
        # Resolved once, as fit resolves it, so that clients' data, the server's validation and the model agree.
        from ...models.checkpoint import load_checkpoint
        from ..trainer import resolve_color_mode

        train_config.color_mode = resolve_color_mode(train_config, load_checkpoint(train_config.init))
    return FederateConfig(**{**fed, **overrides}), train_config


def configs_of_run(run_config: dict[str, Any]) -> tuple[FederateConfig, TrainConfig]:
    path = run_config.get("config")
    if not path:
        raise UsageError("the run config has no 'config' (a federate TOML file): flwr run APP --run-config 'config=\"F\"'")
    overrides = {k.replace("-", "_"): v for k, v in run_config.items() if k != "config"}
    return load_federate_config(str(path), **overrides)
