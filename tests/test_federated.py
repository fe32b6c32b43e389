"""Federated learning with Flower: partitions, the FedProx term, a real simulation, and a real SuperLink with two
SuperNodes as separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import free_ports, run_ferlite, wait_for_port

from ferlite.core.errors import UsageError
from ferlite.core.paths import find_shared
from ferlite.data.partition import partition_indices
from ferlite.training.federated import load_federate_config

pytestmark = pytest.mark.needs_shared

# A tiny federation on the real mixture: 48 px, 128 faces per local epoch, 60 validation faces per domain per round.
TINY = """
clients = 3
partition = "by-dataset"
rounds = 2
val-limit = 60
out = "{out}"

[train]
input-size = 48
dataset = "mixture"
classes = "ferplus8"
mixture = "ferplus:0.4,rafdb:0.45,affectnet:0.15"
epoch-size = 128
batch-size = 32
lr = 1e-3
sched = "none"
"""


def test_partitions_give_every_face_to_exactly_one_client():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 5000)
    source = rng.integers(0, 3, 5000)
    for spec, clients in (("iid", 4), ("by-dataset", 3), ("dirichlet:0.3", 5), ("dirichlet:100", 5)):
        parts = partition_indices(spec, clients, labels, source, seed=1)
        assert len(parts) == clients
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(5000)), spec
    by_source = partition_indices("by-dataset", 3, labels, source)
    assert all(len(np.unique(source[p])) == 1 for p in by_source)


def test_small_dirichlet_alpha_skews_the_clients_classes():
    labels = np.repeat(np.arange(8), 500)

    def skew(alpha: float) -> float:
        parts = partition_indices(f"dirichlet:{alpha}", 5, labels, seed=0)
        shares = [np.bincount(labels[p], minlength=8) / len(p) for p in parts]
        return float(np.mean([s.max() for s in shares]))  # the dominant class's share, on average

    assert skew(0.1) > 0.4 > 0.2 > skew(100.0)


@pytest.mark.parametrize(
    "spec, clients, message",
    [
        ("dirichlet:0", 3, "ALPHA above 0"),
        ("by-class", 3, "iid, by-dataset or dirichlet"),
        ("by-dataset", 2, "--clients 3"),
        ("iid", 0, "at least 1"),
    ],
)
def test_impossible_partitions_are_one_clear_error(spec, clients, message):
    labels, source = np.zeros(30, int), np.repeat([0, 1, 2], 10)
    with pytest.raises(UsageError, match=message):
        partition_indices(spec, clients, labels, source)


def test_federate_config_checks_keys_types_and_combinations(tmp_path):
    path = tmp_path / "fed.toml"
    path.write_text("rounds = 2\nsecret = 1\n")
    with pytest.raises(UsageError, match="unknown option 'secret'"):
        load_federate_config(path)
    path.write_text('rounds = "two"\n')
    with pytest.raises(UsageError, match="'rounds' must be an integer"):
        load_federate_config(path)
    path.write_text("[train]\nlr = 1e-3\nwings = 2\n")
    with pytest.raises(UsageError, match=r"\[train\]: unknown option 'wings'"):
        load_federate_config(path)
    path.write_text("clients = 3\n")
    fed, _ = load_federate_config(path, noise_multiplier=1.0)
    with pytest.raises(UsageError, match="needs --clipping-norm"):
        fed.check()
    fed, _ = load_federate_config(path, secagg=True, secagg_shares=4)
    with pytest.raises(UsageError, match="--secagg needs"):
        fed.check()


def test_federate_command_errors_are_one_line(tmp_path):
    path = tmp_path / "fed.toml"
    path.write_text("rounds = 2\n[train]\nepoch-size = 64\n")
    r = run_ferlite("federate", "--config", path, "--partition", "by-class")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "--partition must be iid, by-dataset or dirichlet" in r.stderr


def test_proximal_term_is_zero_at_the_start_and_grows_with_drift():
    from torch import nn

    from ferlite.training.trainer import ProximalLoss

    model = nn.Linear(4, 3)
    loss = ProximalLoss(nn.CrossEntropyLoss(), model, mu=0.5)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    assert torch.isclose(loss(model(x), y), nn.CrossEntropyLoss()(model(x), y))
    with torch.no_grad():
        model.weight += 1.0  # a drift of 1 in each of 12 weights: mu/2 * 12 = 3
    assert torch.isclose(loss(model(x), y) - nn.CrossEntropyLoss()(model(x), y), torch.tensor(3.0))


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one local Ray instance at a time
def test_two_round_flower_simulation_trains_a_global_model(tmp_path):
    """ferlite federate: three clients (FER2013/FERPlus, RAF-DB, AffectNet), two FedAvg rounds on Ray, the global
    model validated every round and written at the end."""
    out = tmp_path / "fedavg"
    config = tmp_path / "fed.toml"
    config.write_text(TINY.format(out=out))
    r = run_ferlite("federate", "--config", config, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    # Each of Flower's lines was printed twice: in colour by its own handler, and plain by the root's.
    assert not [line for line in r.stderr.splitlines() if line.startswith(("INFO flwr:", "WARNING flwr:"))]
    rounds = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [x["round"] for x in rounds] == [0, 1, 2]
    summary = _summary(out)
    assert summary["faces_trained"] == 2 * 3 * 128 and summary["epsilon"] is None
    assert 0 <= summary["val"]["mean_macro_f1"] <= 1 and set(summary["val"]) >= {"ferplus", "rafdb", "affectnet"}
    final = torch.load(out / "final.pth", weights_only=False)
    for k in range(3):  # every client trained from the global model of a round
        assert (out / "clients" / f"client_{k}" / "best.pth").is_file()
    start = torch.load(out / "clients" / "client_0" / "round_start.pth", weights_only=False)["model"]
    assert any(not torch.equal(final["model"][k], start[k]) for k in start if start[k].is_floating_point())


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_fedprox_with_secure_aggregation_and_differential_privacy(tmp_path):
    """One round with Flower's SecAgg+ workflow and client-side clipping with noise: the masking protocol runs,
    the updates are clipped, noise is added, and epsilon is reported."""
    out = tmp_path / "private"
    config = tmp_path / "fed.toml"
    config.write_text(TINY.format(out=out))
    r = run_ferlite(
        "federate",
        "--config",
        config,
        "--rounds",
        "1",
        "--strategy",
        "fedprox",
        "--secagg",
        "--clipping-norm",
        "2",
        "--noise-multiplier",
        "0.001",
        timeout=600,
    )
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "Secure aggregation completed" in log and "clipped by value: 2.0" in log and "central DP noise" in log
    summary = _summary(out)
    assert summary["epsilon"] > 0 and summary["delta"] == 1e-5
    assert summary["federation"]["strategy"] == "fedprox"


@pytest.mark.slow
def test_superlink_and_two_supernodes_complete_two_rounds(tmp_path):
    """For real: a SuperLink and two SuperNodes as separate processes on localhost, the run submitted with
    ``flwr run`` from the bundled Flower App; each SuperNode trains its own IID half of RAF-DB."""
    bin_dir = Path(sys.executable).parent
    serverappio, fleet, control, node0, node1 = free_ports(5)
    out = tmp_path / "deployment"
    config = tmp_path / "fed.toml"
    config.write_text(
        TINY.format(out=out)
        .replace("clients = 3", "clients = 2")
        .replace('"by-dataset"', '"iid"')
        .replace("ferplus:0.4,rafdb:0.45,affectnet:0.15", "rafdb:1")
    )
    home = tmp_path / "flwr"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "here"\n\n[superlink.here]\naddress = "127.0.0.1:{control}"\ninsecure = true\n'
    )
    env = {
        **os.environ,
        "FLWR_HOME": str(home),
        "FERLITE_SHARED": str(find_shared("data/fer2013.npz").parent.parent),
        # the SuperLink and SuperNodes start flower-superexec by name: CI runs pytest without the venv on PATH
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    superlink_log = tmp_path / "superlink.log"
    procs = [
        subprocess.Popen(
            [bin_dir / "flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
             "--serverappio-api-address", f"127.0.0.1:{serverappio}", "--fleet-api-address", f"127.0.0.1:{fleet}",
             "--control-api-address", f"127.0.0.1:{control}"],
            env=env, stdout=superlink_log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )
    ]  # fmt: skip
    try:
        wait_for_port(control, 60, procs[0], superlink_log)  # seconds on a loaded machine; a fixed sleep was flaky
        for k, port in enumerate((node0, node1)):
            procs.append(
                subprocess.Popen(
                    [bin_dir / "flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{fleet}",
                     "--clientappio-api-address", f"127.0.0.1:{port}",
                     "--node-config", f"partition-id={k} num-partitions=2"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path, start_new_session=True,
                )
            )  # fmt: skip
        app = Path(__import__("ferlite").__file__).parent / "training" / "flower_app"
        run = subprocess.run(
            [bin_dir / "flwr", "run", app, "here", "--run-config", f'config="{config}"', "--stream"],
            env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        deadline = time.time() + 60
        while not (out / "summary.json").is_file() and time.time() < deadline:
            time.sleep(1)
        rounds = [json.loads(line)["round"] for line in (out / "log.jsonl").read_text().splitlines()]
        assert rounds == [0, 1, 2]
        assert _summary(out)["federation"]["clients"] == 2
        assert (out / "clients" / "client_0" / "best.pth").is_file() and (out / "clients" / "client_1" / "best.pth").is_file()
    finally:  # each process leads its own group: the SuperLink's ServerApp and the SuperNodes' ClientApps go too
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
