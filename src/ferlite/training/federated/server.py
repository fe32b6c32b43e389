"""The server: the strategy (FedAvg, FedProx; client-side differential privacy, SecAgg+), validation of each
round's global model, and the summary at the end."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import UsageError
from ..config import TrainConfig
from .config import FederateConfig, configs_of_run
from .weights import global_model, limited_domains, model_arrays, save_global, set_model_arrays

# --- the server --------------------------------------------------------------------------------------------------


class GlobalValidation:
    """The server's ``evaluate_fn``: the global model of each round on the cross-domain validation set."""

    def __init__(self, fed: FederateConfig, train: TrainConfig, classes: tuple[str, ...], domains: dict[str, Any]) -> None:
        self.fed, self.train, self.classes = fed, train, classes
        self.whole_domains = domains  # the final model is scored on all of them (finish)
        self.domains = limited_domains(domains, fed.val_limit, fed.seed)
        self.model = global_model(replace(train, init=None, pretrained="none"), classes)
        self.log = Path(fed.out) / "log.jsonl"
        self.started = time.perf_counter()
        self.last: list[np.ndarray] | None = None

    def __call__(self, server_round: int, arrays: list[np.ndarray], config: dict[str, Any]) -> tuple[float, dict[str, float]]:
        from ...evaluation.evaluate import evaluate_domains

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
        f, t = (fed, train) if fed is not None and train is not None else configs_of_run(context.run_config)
        Path(f.out).mkdir(parents=True, exist_ok=True)
        (Path(f.out) / "log.jsonl").unlink(missing_ok=True)
        from ...core.taxonomy import PRESETS, parse_classes
        from ...evaluation.evaluate import VAL_DOMAINS, load_domains

        classes = parse_classes(t.classes) or PRESETS["ferplus8"]
        validator = GlobalValidation(f, t, classes, load_domains(VAL_DOMAINS, "val", classes, t.strict, t.color_mode == "rgb"))
        initial = model_arrays(global_model(t, classes))
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
    from ...evaluation.evaluate import evaluate_domains

    if validator.last is None:
        raise UsageError("no round finished")
    model = validator.model
    set_model_arrays(model, validator.last)
    m = evaluate_domains(model, validator.whole_domains, model.spec)
    final = save_global(model, train, Path(fed.out) / "final.pth", epoch=fed.rounds - 1)
    return summary_of(fed, train, m, str(final), time.perf_counter() - validator.started)


def summary_of(fed: FederateConfig, train: TrainConfig, m: dict[str, Any], final: str, seconds: float) -> dict[str, Any]:
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
