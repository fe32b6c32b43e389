"""Federated learning on Flower: the clients train with ferlite's own ``fit``, the server aggregates and validates.

``run_federated(fed, train)`` runs a Flower simulation on this machine (Ray backend, one client per CPU at a time);
the same ``ClientApp`` and ``ServerApp`` run for real under a SuperLink and SuperNodes (``flwr run``; see
docs/FEDERATED.md and ``flower_app/pyproject.toml``). ``fed`` says how the federation runs (clients, partition,
rounds, strategy, privacy), ``train`` how each client trains locally (a :class:`TrainConfig`; one local epoch is its
``epoch_size`` faces drawn from the client's own partition).

- Strategies: FedAvg, FedProx (the clients add ``mu/2 ||w - w_global||^2``, ``TrainConfig.proximal_mu``), and
  ``centralized``: the same budget (rounds x sampled clients x local epochs) trained in one place, for comparison.
- Privacy, with Flower's own building blocks: client-side fixed clipping with Gaussian noise on the aggregate
  (``DifferentialPrivacyClientSideFixedClipping`` + ``fixedclipping_mod``: client-level differential privacy, its
  epsilon for ``delta`` from Opacus's RDP accountant), and SecAgg+ secure aggregation (``SecAggPlusWorkflow`` +
  ``secaggplus_mod``: the server sees only the sum of the clients' updates).
- Every round the server scores the global model on the cross-domain validation set (at most ``val_limit`` faces
  per domain) and writes ``log.jsonl``; at the end, ``final.pth`` (the last global model), its scores on the whole
  validation set and ``summary.json``.

Example::

    from ferlite.training.federated import load_federate_config, run_federated
    fed, train = load_federate_config("configs/federated.toml", rounds=2)
    summary = run_federated(fed, train)
    summary["val"]["mean_macro_f1"]
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UsageError
from ..data.partition import parse_partition, partition_indices
from .config import TrainConfig, check_options, option, read_toml

STRATEGIES = ("fedavg", "fedprox", "centralized")
_logger = logging.getLogger(__name__)


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
        from ..models.checkpoint import load_checkpoint
        from .trainer import resolve_color_mode

        train_config.color_mode = resolve_color_mode(train_config, load_checkpoint(train_config.init))
    return FederateConfig(**{**fed, **overrides}), train_config


# --- the model's weights as the list of arrays Flower sends ------------------------------------------------------


def model_arrays(model: Any) -> list[np.ndarray]:
    """The floating-point entries of ``model.state_dict()`` (weights and batch-norm statistics), in order."""
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values() if v.is_floating_point()]


def set_model_arrays(model: Any, arrays: list[np.ndarray]) -> None:
    """Load arrays from :func:`model_arrays` back into ``model`` (integer entries, batch counters, kept)."""
    import torch

    state = model.state_dict()
    keys = [k for k, v in state.items() if v.is_floating_point()]
    if len(keys) != len(arrays):
        raise ValueError(f"expected {len(keys)} weight arrays, got {len(arrays)}")
    for k, a in zip(keys, arrays):
        value = torch.from_numpy(np.asarray(a, dtype=np.float32)).reshape(state[k].shape)
        if k.endswith("running_var"):  # differential privacy's noise may push a small variance below zero
            value = value.clamp_(min=0.0)
        state[k] = value
    model.load_state_dict(state)


def _global_model(train: TrainConfig, classes: tuple[str, ...]) -> Any:
    """The model every client and the server agree on: ``train.init``'s, else from ImageNet weights."""
    import torch

    from ..models.checkpoint import load_checkpoint
    from .trainer import build_model

    init = load_checkpoint(train.init) if train.init else None
    model, kwargs = build_model(train, classes, init, torch.device("cpu"))
    model.model_kwargs = kwargs
    return model


def _save_global(model: Any, train: TrainConfig, path: Path, **meta: Any) -> Path:
    from ..models.checkpoint import make_checkpoint, save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, make_checkpoint(model, train.model, model.model_kwargs, **meta))
    return path


# --- data: loaded once per process, then each client's share ----------------------------------------------------

_DATA_CACHE: dict[str, Any] = {}


def _training_data(train: TrainConfig, with_val: bool) -> Any:
    from .trainer import build_data

    key = json.dumps(
        [train.dataset, train.data_path, train.mixture, train.classes, train.class_balance, train.color_mode, with_val]
    )
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = build_data(train, with_val=with_val)
    return _DATA_CACHE[key]


def client_data(fed: FederateConfig, train: TrainConfig, partition_id: int) -> Any:
    """Client ``partition_id``'s share of the training set (no validation: the server validates)."""
    data = _training_data(train, with_val=False)
    parts = partition_indices(fed.partition, fed.clients, data.train.labels, data.source, fed.seed)
    return data.subset(parts[partition_id])


def _limited(domains: dict[str, Any], limit: int, seed: int) -> dict[str, Any]:
    return {k: (v.sample(limit, seed) if limit and len(v) > limit else v) for k, v in domains.items()}


# --- the client --------------------------------------------------------------------------------------------------


def local_fit(
    fed: FederateConfig, train: TrainConfig, partition_id: int, arrays: list[np.ndarray], server_round: int, mu: float
) -> tuple[list[np.ndarray], int, dict[str, float]]:
    """One client's round: ``fit`` from the global weights on its own faces; its new weights, its face count (the
    FedAvg weight) and its training accuracy."""
    from ..models.checkpoint import load_checkpoint
    from .trainer import fit

    data = client_data(fed, train, partition_id)
    folder = Path(fed.out) / "clients" / f"client_{partition_id}"
    model = _global_model(replace(train, init=None, pretrained="none"), data.train.classes)
    set_model_arrays(model, arrays)
    start = _save_global(model, train, folder / "round_start.pth")
    local = replace(
        train,
        init=str(start),
        pretrained="none",
        epochs=fed.local_epochs,
        out=str(folder),
        resume=False,
        proximal_mu=mu,
        # The seed differs by client and round, so that clients do not draw the same faces in the same order.
        seed=fed.seed * 10_000 + server_round * 100 + partition_id,
        threads=train.threads or 1,
        workers=0,
        progress=False,
        ema=0.0,  # the global model is the average; a client's EMA would lag its own updates
    )
    result = fit(local, data)
    trained = load_checkpoint(result.best_path)
    set_model_arrays(model, [v.numpy() for v in trained["model"].values() if v.is_floating_point()])
    return model_arrays(model), len(data.train), {"train_accuracy": float(result.best["score"])}


def make_client_app(fed: FederateConfig | None = None, train: TrainConfig | None = None) -> Any:
    """A Flower ``ClientApp``. Without configs it reads them from the run config's ``config`` key (a federate TOML
    path), as under ``flwr run``. Its partition comes from the node config (``partition-id``)."""
    from flwr.client import ClientApp, NumPyClient
    from flwr.client.mod import fixedclipping_mod, secaggplus_mod

    class FerliteClient(NumPyClient):
        def __init__(self, fed: FederateConfig, train: TrainConfig, partition_id: int) -> None:
            self.fed, self.train, self.partition_id = fed, train, partition_id

        def fit(self, parameters, config):  # type: ignore[no-untyped-def]
            return local_fit(
                self.fed,
                self.train,
                self.partition_id,
                parameters,
                int(config.get("server_round", 0)),
                float(config.get("proximal_mu", 0.0)),
            )

    def client_fn(context: Any) -> Any:
        f, t = (fed, train) if fed is not None and train is not None else _configs_of(context.run_config)
        partition_id = int(context.node_config["partition-id"])
        num_partitions = int(context.node_config.get("num-partitions", f.clients))
        if num_partitions != f.clients or not 0 <= partition_id < f.clients:
            raise UsageError(f"node partition {partition_id} of {num_partitions}: the federation has {f.clients} clients")
        return FerliteClient(f, t, partition_id).to_client()

    def privacy_mod(msg: Any, ctxt: Any, call_next: Any) -> Any:
        """Flower's own mods, as the federation asks: SecAgg+ masking, and the clipping that differential privacy
        needs. The order matters: a reply passes through the mods from the last to the first, and the update must
        be clipped before SecAgg+ masks it."""
        f = fed if fed is not None else _configs_of(ctxt.run_config)[0]
        mods = ([secaggplus_mod] if f.secagg else []) + ([fixedclipping_mod] if f.clipping_norm > 0 else [])

        def chain(i: int, m: Any, c: Any) -> Any:
            return call_next(m, c) if i == len(mods) else mods[i](m, c, lambda m2, c2: chain(i + 1, m2, c2))

        return chain(0, msg, ctxt)

    return ClientApp(client_fn=client_fn, mods=[privacy_mod])


def _configs_of(run_config: dict[str, Any]) -> tuple[FederateConfig, TrainConfig]:
    path = run_config.get("config")
    if not path:
        raise UsageError("the run config has no 'config' (a federate TOML file): flwr run APP --run-config 'config=\"F\"'")
    overrides = {k.replace("-", "_"): v for k, v in run_config.items() if k != "config"}
    return load_federate_config(str(path), **overrides)


# --- the server --------------------------------------------------------------------------------------------------


class GlobalValidation:
    """The server's ``evaluate_fn``: the global model of each round on the cross-domain validation set."""

    def __init__(self, fed: FederateConfig, train: TrainConfig, classes: tuple[str, ...], domains: dict[str, Any]) -> None:
        self.fed, self.train, self.classes = fed, train, classes
        self.whole_domains = domains  # the final model is scored on all of them (finish)
        self.domains = _limited(domains, fed.val_limit, fed.seed)
        self.model = _global_model(replace(train, init=None, pretrained="none"), classes)
        self.log = Path(fed.out) / "log.jsonl"
        self.started = time.perf_counter()
        self.last: list[np.ndarray] | None = None

    def __call__(self, server_round: int, arrays: list[np.ndarray], config: dict[str, Any]) -> tuple[float, dict[str, float]]:
        from ..evaluation.evaluate import evaluate_domains

        set_model_arrays(self.model, arrays)
        self.last = arrays
        m = evaluate_domains(self.model, self.domains, self.model.spec)
        per = {f"{k}_macro_f1": round(d["macro"]["f1"], 5) for k, d in m["domains"].items()}
        record = {
            "round": server_round,
            "val_macro_f1": round(m["mean_macro_f1"], 5),
            **per,
            "seconds": round(time.perf_counter() - self.started, 1),
        }
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(
            f"round {server_round}: global model, val mean macro-F1 {m['mean_macro_f1']:.4f} ("
            + ", ".join(f"{k} {d['macro']['f1']:.4f}" for k, d in m["domains"].items())
            + f"), {record['seconds']:.0f} s",
            flush=True,
        )
        return 1.0 - m["mean_macro_f1"], {"val_macro_f1": m["mean_macro_f1"]}


def build_strategy(fed: FederateConfig, initial: list[np.ndarray], evaluate_fn: GlobalValidation) -> Any:
    """FedAvg or FedProx over the sampled clients, wrapped for client-side differential privacy if asked."""
    from flwr.common import ndarrays_to_parameters
    from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, FedProx

    mu = fed.proximal_mu if fed.strategy == "fedprox" else 0.0
    common = {
        "fraction_fit": fed.fraction_fit,
        "fraction_evaluate": 0.0,  # the server validates; clients hold no validation faces
        "min_fit_clients": fed.clients_per_round,
        "min_evaluate_clients": 0,
        "min_available_clients": fed.clients,
        "evaluate_fn": evaluate_fn,
        "on_fit_config_fn": lambda r: {"server_round": r, "proximal_mu": mu},
        "initial_parameters": ndarrays_to_parameters(initial),
        "accept_failures": False,
    }
    strategy = FedProx(proximal_mu=mu, **common) if fed.strategy == "fedprox" else FedAvg(**common)
    if fed.noise_multiplier > 0:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy, fed.noise_multiplier, fed.clipping_norm, num_sampled_clients=fed.clients_per_round
        )
    elif fed.clipping_norm > 0:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy, 0.0, fed.clipping_norm, num_sampled_clients=fed.clients_per_round
        )
    return strategy


def make_server_app(fed: FederateConfig | None = None, train: TrainConfig | None = None, state: dict | None = None) -> Any:
    """A Flower ``ServerApp`` (legacy workflows, so that SecAgg+ can wrap the fit rounds). Without configs it reads
    them from the run config, as under ``flwr run``. ``state`` (a dict) receives the validator at the end."""
    from flwr.server import LegacyContext, ServerApp, ServerConfig
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        f, t = (fed, train) if fed is not None and train is not None else _configs_of(context.run_config)
        Path(f.out).mkdir(parents=True, exist_ok=True)
        (Path(f.out) / "log.jsonl").unlink(missing_ok=True)
        from ..core.taxonomy import PRESETS, parse_classes
        from ..evaluation.evaluate import VAL_DOMAINS, load_domains

        classes = parse_classes(t.classes) or PRESETS["ferplus8"]
        validator = GlobalValidation(f, t, classes, load_domains(VAL_DOMAINS, "val", classes, t.strict, t.color_mode == "rgb"))
        initial = model_arrays(_global_model(t, classes))
        strategy = build_strategy(f, initial, validator)
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=f.rounds), strategy=strategy)
        fit_workflow = None
        if f.secagg:
            # SecAgg+ clips every value to +-clipping_range and quantises it before masking. MobileNetV2's largest
            # weights and batch-norm variances reach about 56, so the range is 64 (the default 8 would clip them),
            # with 2**26 levels (a step of 2e-6; three clients' sums stay below the 2**32 modulus). Each client's
            # values are scaled by its face count / max_weight, which must exceed the largest partition.
            fit_workflow = SecAggPlusWorkflow(
                num_shares=f.secagg_shares,
                reconstruction_threshold=f.secagg_threshold,
                max_weight=100_000,
                clipping_range=64.0,
                quantization_range=2**26,
            )
        DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)
        if state is not None:
            state["validator"] = validator
        finish(f, t, validator)

    return app


def dp_epsilon(fed: FederateConfig) -> float | None:
    """The client-level (epsilon, delta) guarantee's epsilon after ``fed.rounds`` rounds (Opacus's RDP accountant,
    sampling rate = sampled clients / clients); None without noise."""
    if fed.noise_multiplier <= 0:
        return None
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(fed.rounds):
        accountant.step(noise_multiplier=fed.noise_multiplier, sample_rate=fed.clients_per_round / fed.clients)
    return float(accountant.get_epsilon(fed.delta))


def finish(fed: FederateConfig, train: TrainConfig, validator: GlobalValidation) -> dict[str, Any]:
    """Score the last global model on the whole validation set; write final.pth and summary.json."""
    from ..evaluation.evaluate import evaluate_domains

    if validator.last is None:
        raise UsageError("no round finished")
    model = validator.model
    set_model_arrays(model, validator.last)
    m = evaluate_domains(model, validator.whole_domains, model.spec)
    final = _save_global(model, train, Path(fed.out) / "final.pth", epoch=fed.rounds - 1)
    return _summary(fed, train, m, str(final), time.perf_counter() - validator.started)


def _summary(fed: FederateConfig, train: TrainConfig, m: dict[str, Any], final: str, seconds: float) -> dict[str, Any]:
    summary = {
        "federation": asdict(fed),
        "train": {k: v for k, v in asdict(train).items() if v is not None},
        "faces_trained": fed.rounds * fed.clients_per_round * fed.local_epochs * (train.epoch_size or 0),
        "val": {
            "mean_macro_f1": round(m["mean_macro_f1"], 5),
            **{k: {"accuracy": round(d["accuracy"], 5), "macro_f1": round(d["macro"]["f1"], 5)} for k, d in m["domains"].items()},
        },
        "epsilon": dp_epsilon(fed),
        "delta": fed.delta if fed.noise_multiplier > 0 else None,
        "final_checkpoint": final,
        "seconds": round(seconds, 1),
    }
    (Path(fed.out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    eps = f"; client-level DP epsilon {summary['epsilon']:.2f} at delta {fed.delta:g}" if summary["epsilon"] else ""
    print(
        f"final model, whole val set: mean macro-F1 {m['mean_macro_f1']:.4f} ("
        + ", ".join(f"{k} {d['macro']['f1']:.4f}" for k, d in m["domains"].items())
        + f"){eps}; {Path(fed.out) / 'summary.json'}",
        flush=True,
    )
    return summary


def run_centralized(fed: FederateConfig, train: TrainConfig) -> dict[str, Any]:
    """The baseline on the same budget: every face in one place, rounds x sampled clients x local epochs epochs."""
    from ..evaluation.evaluate import evaluate_domains
    from ..models.checkpoint import model_from_checkpoint
    from .trainer import fit

    started = time.perf_counter()
    data = _training_data(train, with_val=True)
    whole = data.val  # each epoch is validated on the limited set, the final model on all of it
    data = replace(data, val=_limited(whole, fed.val_limit, fed.seed))
    epochs = fed.rounds * fed.clients_per_round * fed.local_epochs
    config = replace(train, epochs=epochs, out=str(Path(fed.out)), resume=False, seed=fed.seed, progress=False)
    result = fit(config, data)
    model, _, _ = model_from_checkpoint(str(Path(fed.out) / "last.pth"))
    m = evaluate_domains(model, whole, model.spec)
    print(f"centralized: best epoch {result.best['epoch']} on the limited val set; the final epoch is reported")
    return _summary(fed, train, m, str(Path(fed.out) / "last.pth"), time.perf_counter() - started)


def run_federated(fed: FederateConfig, train: TrainConfig) -> dict[str, Any]:
    """Run the federation as a Flower simulation on this machine (or the centralized baseline) and return the
    summary (also in ``fed.out``/summary.json)."""
    fed.check()
    if train.dataset != "mixture" and fed.partition == "by-dataset":
        raise UsageError('--partition by-dataset needs [train] dataset = "mixture" (the datasets are the clients)')
    if not train.epoch_size:
        raise UsageError("[train] needs epoch-size: the faces of one local epoch")
    Path(fed.out).mkdir(parents=True, exist_ok=True)
    if fed.strategy == "centralized":
        return run_centralized(fed, train)
    from flwr.simulation import run_simulation

    # Flower's logger has a console handler of its own; passed on to the root's as well, each line printed twice.
    logging.getLogger("flwr").propagate = False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    state: dict[str, Any] = {}
    cpus = os.cpu_count() or 1
    run_simulation(
        server_app=make_server_app(fed, train, state),
        client_app=make_client_app(fed, train),
        num_supernodes=fed.clients,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": cpus, "include_dashboard": False},
        },
    )
    summary_path = Path(fed.out) / "summary.json"
    if "validator" not in state or not summary_path.is_file():
        raise UsageError(f"the Flower simulation did not finish (see the log above); {summary_path} was not written")
    return json.loads(summary_path.read_text())
