"""The client: a local :func:`~ferlite.training.fit` on its own partition, from the global weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import UsageError
from ..config import TrainConfig
from .config import FederateConfig, configs_of_run
from .weights import client_data, global_model, model_arrays, save_global, set_model_arrays

# --- the client --------------------------------------------------------------------------------------------------


def local_fit(
    fed: FederateConfig, train: TrainConfig, partition_id: int, arrays: list[np.ndarray], server_round: int, mu: float
) -> tuple[list[np.ndarray], int, dict[str, float]]:
    """One client's round: ``fit`` from the global weights on its own faces; its new weights, its face count (the
    FedAvg weight) and its training accuracy."""
    from ...models.checkpoint import load_checkpoint
    from ..trainer import fit

    data = client_data(fed, train, partition_id)
    folder = Path(fed.out) / "clients" / f"client_{partition_id}"
    model = global_model(replace(train, init=None, pretrained="none"), data.train.classes)
    set_model_arrays(model, arrays)
    start = save_global(model, train, folder / "round_start.pth")
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
        f, t = (fed, train) if fed is not None and train is not None else configs_of_run(context.run_config)
        partition_id = int(context.node_config["partition-id"])
        num_partitions = int(context.node_config.get("num-partitions", f.clients))
        if num_partitions != f.clients or not 0 <= partition_id < f.clients:
            raise UsageError(f"node partition {partition_id} of {num_partitions}: the federation has {f.clients} clients")
        return FerliteClient(f, t, partition_id).to_client()

    def privacy_mod(msg: Any, ctxt: Any, call_next: Any) -> Any:
        """Flower's own mods, as the federation asks: SecAgg+ masking, and the clipping that differential privacy
        needs. The order matters: a reply passes through the mods from the last to the first, and the update must
        be clipped before SecAgg+ masks it."""
        f = fed if fed is not None else configs_of_run(ctxt.run_config)[0]
        mods = ([secaggplus_mod] if f.secagg else []) + ([fixedclipping_mod] if f.clipping_norm > 0 else [])

        def chain(i: int, m: Any, c: Any) -> Any:
            return call_next(m, c) if i == len(mods) else mods[i](m, c, lambda m2, c2: chain(i + 1, m2, c2))

        return chain(0, msg, ctxt)

    return ClientApp(client_fn=client_fn, mods=[privacy_mod])
