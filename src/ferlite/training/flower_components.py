"""The Flower App's components, for ``flwr run`` (flower_app/pyproject.toml names them): ferlite's ServerApp and
ClientApp, their federation read from the run config's ``config`` key (a ``ferlite federate`` TOML file).
A module of its own because importing it imports flwr; ``ferlite federate`` builds the same apps in memory."""

from __future__ import annotations

from .federated import make_client_app, make_server_app

server_app = make_server_app()
client_app = make_client_app()
