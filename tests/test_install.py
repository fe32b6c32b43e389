"""`pip install ferlite` alone gives a working runtime: no torch, bundled models, clear hints."""

import subprocess
import sys
from pathlib import Path

from ferlite.core.paths import find_shared

ROOT = Path(__file__).resolve().parents[1]


def test_runtime_only_install_predicts_without_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([venv / "bin" / "pip", "install", "-q", str(ROOT)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    ferlite = venv / "bin" / "ferlite"
    out = subprocess.run(
        [ferlite, "predict", ROOT / "tests" / "fixtures" / "astronaut_nasa_512.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert '"label": "happy"' in out.stdout
    no_torch = subprocess.run([venv / "bin" / "python", "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0
    drive = subprocess.run(
        [
            ferlite,
            "drive",
            find_shared("media/face1_emotions_pexels_640x480.mp4"),
            "--max-frames",
            "30",
            "--events",
            tmp_path / "events.jsonl",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert drive.returncode == 0, drive.stderr  # the bundled eye-state model ships with the runtime
    assert '"event": "microsleep"' in (tmp_path / "events.jsonl").read_text()
    serve = subprocess.run([ferlite, "serve"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert serve.returncode == 2 and "ferlite[apps]" in serve.stderr and "Traceback" not in serve.stderr
    train = subprocess.run([ferlite, "train"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert train.returncode == 2 and "ferlite[train]" in train.stderr and "Traceback" not in train.stderr


def test_the_readme_is_a_front_door():
    """At most 120 lines, and the two commands are in it."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    assert len(text.splitlines()) <= 120
    assert "make demo" in text and "make test" in text
