"""Shared fixtures: the real shared data, and a synthetic drawn-faces dataset.

The synthetic faces encode their class in mouth and brow shape, so a model that trains
for seconds must learn them well above chance. Tests that use ../shared fail (not skip)
when it is missing: CI always has it beside the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# make test runs a pytest-xdist worker per core: a worker's torch (and the ferlite processes it starts) then takes one
# core, not all. Two workers' OpenMP pools of two threads each on two cores spin against each other: the study test
# took 51 s instead of 7. Set before torch is first imported; ferlite's trainer honours it (core.system.compute_threads).
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

import cv2
import numpy as np
import pytest

from ferlite.apps.web.headless import free_ports, wait_for_port
from ferlite.core.paths import find_shared

SYNTH_CLASSES = ("angry", "happy", "sad", "surprise")


def run_ferlite(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m ferlite ARGS`` in a fresh process, output captured as text."""
    return subprocess.run([sys.executable, "-m", "ferlite", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server the test starts)."""
    return free_ports(1)[0]


def serve_page(port: int, *extra: str) -> subprocess.Popen:
    """``ferlite serve`` on ``port`` in another process (one ONNX Runtime thread), listening when this returns."""
    server = subprocess.Popen(
        [sys.executable, "-m", "ferlite", "serve", "--port", str(port), "--threads", "1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=server)
    return server


def train_run(config, **changes) -> dict:
    """``fit(dataclasses.replace(config, **changes))`` in this process, its result as a dict."""
    from dataclasses import asdict, replace

    from ferlite.training import fit

    return asdict(fit(replace(config, **changes)))


@pytest.fixture
def tiny_run(synthetic_faces, tmp_path):
    """A training run of seconds: the small CNN from scratch at 48 px on the synthetic faces, one epoch, in this
    process (no loader workers, no progress bar), into ``tmp_path/run``. Tests vary it with ``dataclasses.replace``
    or :func:`train_run`'s keywords."""
    from ferlite.training import TrainConfig

    return TrainConfig(
        dataset="folder", data_path=str(synthetic_faces), input_size=48, per_class=0, model="cnn_small",
        pretrained="none", epochs=1, workers=0, progress=False, out=str(tmp_path / "run"),
    )  # fmt: skip


@pytest.fixture
def eyes_run(tmp_path):
    """A short run on CEW's eye patches (real data): the small CNN from scratch at 24 px, selected on accuracy."""
    from ferlite.training import TrainConfig

    return TrainConfig(
        dataset="cew", model="cnn_small", pretrained="none", input_size=24, per_class=0, batch_size=64, lr=2e-3,
        select_metric="accuracy", workers=0, threads=2, progress=False, out=str(tmp_path / "eyes"),
    )  # fmt: skip


def run_training(args) -> dict:
    """Train as parsed ``ferlite train`` options say (``ferlite.commands.train.parse_args``); the result as a dict."""
    from dataclasses import asdict

    from ferlite.commands.train import config_from_args
    from ferlite.training import fit

    return asdict(fit(config_from_args(args)))


@dataclass
class Release:
    sdist: Path
    wheel: Path
    venv: Path  # a fresh virtual environment with the wheel installed, [cpu] extra


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Release:
    """The release files built as a user or PyPI would get them: an sdist from a clean copy of the checkout (tracked
    and new files, never git-ignored ones such as the vendored onnxruntime-web), the wheel built from that sdist by
    ``python -m build``, and the wheel installed into a fresh virtual environment. Slow: the slow tests share it."""
    import shutil

    root = Path(__file__).resolve().parents[1]
    tmp = tmp_path_factory.mktemp("release")
    checkout = tmp / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True
    )
    for name in listed.stdout.splitlines():
        if (root / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, checkout / name)
    assert not (checkout / "src/ferlite/apps/web/static/vendor").exists()  # git-ignored: the build must bring it
    dist = tmp / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", dist, checkout], capture_output=True, text=True, timeout=1200
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (sdist,), (wheel,) = dist.glob("ferlite-*.tar.gz"), dist.glob("ferlite-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = subprocess.run([venv / "bin" / "pip", "install", "-q", f"{wheel}[cpu]"], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return Release(sdist=sdist, wheel=wheel, venv=venv)


@pytest.fixture(scope="session")
def fer2013_npz() -> Path:
    return find_shared("data/fer2013.npz")


@pytest.fixture(scope="session")
def ferplus_csv() -> Path:
    return find_shared("data/fer2013new.csv")


def draw_face(label: str, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A 48x48 grayscale cartoon face whose mouth and brows say ``label``."""
    img = np.full((size, size), rng.integers(20, 60), np.uint8)
    cx, cy = size // 2 + rng.integers(-2, 3), size // 2 + rng.integers(-2, 3)
    cv2.ellipse(img, (int(cx), int(cy)), (17, 21), 0, 0, 360, int(rng.integers(150, 200)), -1)
    for ex in (cx - 7, cx + 7):
        cv2.circle(img, (int(ex), int(cy - 5)), 2, 30, -1)
    dark = int(rng.integers(10, 50))
    # Brows: angry slopes down to the middle, sad up to the middle, surprise raised high.
    for side in (-1, 1):
        x0, x1 = cx + side * 3, cx + side * 11
        if label == "angry":
            y0, y1 = cy - 10, cy - 13
        elif label == "sad":
            y0, y1 = cy - 13, cy - 10
        elif label == "surprise":
            y0, y1 = cy - 15, cy - 15
        else:
            y0, y1 = cy - 11, cy - 11
        cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), dark, 2)
    my = cy + 9
    if label == "happy":
        cv2.ellipse(img, (int(cx), int(my - 3)), (8, 5), 0, 0, 180, dark, 2)
    elif label == "sad":
        cv2.ellipse(img, (int(cx), int(my + 3)), (8, 5), 0, 180, 360, dark, 2)
    elif label == "surprise":
        cv2.ellipse(img, (int(cx), int(my)), (4, 6), 0, 0, 360, dark, -1)
    else:
        cv2.line(img, (int(cx - 7), int(my)), (int(cx + 7), int(my)), dark, 2)
    noise = rng.normal(0, 8, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def write_synthetic_folder(root: Path, per_class: int, seed: int = 0, classes=SYNTH_CLASSES) -> Path:
    rng = np.random.default_rng(seed)
    for label in classes:
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(d / f"{label}_{i:03d}.png"), draw_face(label, rng))
    return root


@pytest.fixture(scope="session")
def synthetic_faces(tmp_path_factory) -> Path:
    """``root/<class>/*.png``: 80 drawn faces per class, 4 classes."""
    return write_synthetic_folder(tmp_path_factory.mktemp("synth"), per_class=80)
