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

from .client import local_fit, make_client_app
from .config import STRATEGIES, FederateConfig, load_federate_config, read_federate_config
from .run import run_centralized, run_federated
from .server import GlobalValidation, build_strategy, dp_epsilon, make_server_app
from .weights import client_data, model_arrays, set_model_arrays

__all__ = [
    "STRATEGIES",
    "FederateConfig",
    "GlobalValidation",
    "build_strategy",
    "client_data",
    "dp_epsilon",
    "load_federate_config",
    "local_fit",
    "make_client_app",
    "make_server_app",
    "model_arrays",
    "read_federate_config",
    "run_centralized",
    "run_federated",
    "set_model_arrays",
]
