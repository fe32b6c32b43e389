"""DistributedDataParallel under torchrun, on this CPU with gloo: the real launcher, two real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ferlite.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.needs_shared

TORCHRUN = Path(sys.executable).parent / "torchrun"


def _train(prefix: list[str], *argv) -> subprocess.CompletedProcess:
    proc = subprocess.run([*prefix, "-m", "ferlite", "train", *map(str, argv)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_two_gloo_processes_make_the_same_updates_as_one_and_resume(tmp_path, synthetic_faces):
    """Two processes with half of each global batch reach the weights one process reaches with the whole batch; the
    two-process run is interrupted after its first epoch and resumed."""
    common = ["--dataset", "folder", "--data-path", synthetic_faces, "--input-size", 48, "--per-class", 0]
    # --mode head keeps BatchNorm frozen (each process would otherwise normalise over its own half); --no-augment and
    # --dropout 0 keep each face's pixels and features independent of which process draws it.
    common += [
        "--mode",
        "head",
        "--no-augment",
        "--dropout",
        0,
        "--batch-size",
        32,
        "--lr",
        "3e-3",
        "--epochs",
        2,
        "--workers",
        0,
    ]
    common += ["--threads", 1, "--no-progress"]
    _train([sys.executable], *common, "--out", tmp_path / "one")
    two = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2"]
    first = _train(two, *common, "--stop-after", 1, "--out", tmp_path / "two")
    assert "2 processes (DistributedDataParallel)" in first.stdout and first.stdout.count("epoch 0:") == 1  # rank 0 only
    after_first = load_checkpoint(tmp_path / "two" / "last.pth")["model"]
    second = _train(two, *common, "--resume", "--out", tmp_path / "two")
    assert "resumed from" in second.stdout and "epoch 1:" in second.stdout

    one, both = load_checkpoint(tmp_path / "one" / "last.pth"), load_checkpoint(tmp_path / "two" / "last.pth")
    assert one["epoch"] == both["epoch"] == 1
    for name, w in one["model"].items():
        torch.testing.assert_close(both["model"][name], w, atol=2e-5, rtol=1e-4, msg=name)
    # The second epoch moved the classifier far more than the two runs differ: the comparison could fail.
    head = "classifier.1.weight"
    assert (both["model"][head] - after_first[head]).abs().max() > 100 * (both["model"][head] - one["model"][head]).abs().max()
