"""A federation on this machine (a Flower simulation), or its centralized baseline with the same budget."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...core.errors import UsageError
from ..config import TrainConfig
from .client import make_client_app
from .config import FederateConfig
from .server import make_server_app, summary_of
from .weights import limited_domains, training_data


def run_centralized(fed: FederateConfig, train: TrainConfig) -> dict[str, Any]:
    """The baseline on the same budget: every face in one place, rounds x sampled clients x local epochs epochs."""
    from ...evaluation.evaluate import evaluate_domains
    from ...models.checkpoint import model_from_checkpoint
    from ..trainer import fit

    started = time.perf_counter()
    data = training_data(train, with_val=True)
    whole = data.val  # each epoch is validated on the limited set, the final model on all of it
    data = replace(data, val=limited_domains(whole, fed.val_limit, fed.seed))
    epochs = fed.rounds * fed.clients_per_round * fed.local_epochs
    config = replace(train, epochs=epochs, out=str(Path(fed.out)), resume=False, seed=fed.seed, progress=False)
    result = fit(config, data)
    model, _, _ = model_from_checkpoint(str(Path(fed.out) / "last.pth"))
    m = evaluate_domains(model, whole, model.spec)
    print(f"centralized: best epoch {result.best['epoch']} on the limited val set; the final epoch is reported")
    return summary_of(fed, train, m, str(Path(fed.out) / "last.pth"), time.perf_counter() - started)


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
