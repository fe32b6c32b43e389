"""`pip install ferlite` alone gives a working runtime: no torch, bundled models, clear hints."""

import subprocess
import sys
from pathlib import Path

import pytest

from ferlite.core.paths import find_shared

pytestmark = pytest.mark.needs_shared

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_runtime_only_install_predicts_without_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ferlite = venv / "bin" / "ferlite"
    photo = ROOT / "tests" / "fixtures" / "astronaut_nasa_512.png"
    # Without the cpu or gpu extra: OpenCV's DNN module runs the models, and ferlite says how to be faster.
    pip = subprocess.run([venv / "bin" / "pip", "install", "-q", str(ROOT)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    out = subprocess.run([ferlite, "predict", photo], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0 and '"label": "happy"' in out.stdout, out.stderr
    assert out.stderr.count('pip install "ferlite[cpu]"') == 1
    pip = subprocess.run([venv / "bin" / "pip", "install", "-q", f"{ROOT}[cpu]"], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    out = subprocess.run([ferlite, "predict", photo], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0 and '"label": "happy"' in out.stdout and "OpenCV" not in out.stderr, out.stderr
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


def onnxruntimes_installed_by(extras: str) -> list[str]:
    """The ONNX Runtime distributions that ``pip install ".[EXTRAS]"`` would install into an empty environment."""
    import json

    report = ROOT / ".pytest_cache" / f"dry_run_{extras.replace(',', '_')}.json"
    report.parent.mkdir(exist_ok=True)
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "-q",
            "--report",
            report,
            f"{ROOT}[{extras}]",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    names = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
    return sorted(n for n in names if n.startswith("onnxruntime"))


@pytest.mark.slow
def test_every_extra_installs_exactly_one_onnxruntime():
    """`pip install --dry-run ".[gpu]"` listed both onnxruntime and onnxruntime-gpu, which write the same module."""
    assert onnxruntimes_installed_by("gpu") == ["onnxruntime-gpu"]
    assert onnxruntimes_installed_by("cpu") == ["onnxruntime"]
    assert onnxruntimes_installed_by("gpu,apps,video,train,scale") == ["onnxruntime-gpu"]


def test_the_readme_is_a_front_door():
    """At most 120 lines, and the two commands are in it."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    assert len(text.splitlines()) <= 120
    assert "make demo" in text and "make test" in text


def test_make_demo_installs_the_runtime_without_torch_ray_or_flower(tmp_path):
    """`make demo` built a 2.4 GB environment with torch, Ray and Flower to run the runtime."""
    plan = subprocess.run(["make", "-n", "-B", "demo", f"VENV={tmp_path}/venv"], capture_output=True, text=True, cwd=ROOT)
    assert plan.returncode == 0, plan.stderr
    installs = [line for line in plan.stdout.splitlines() if "pip install" in line]
    assert installs and all(w not in line for line in installs for w in ("torch", "train", "scale", "federated")), installs
    assert any('".[cpu,video]"' in line for line in installs)


def test_the_readmes_python_snippet_prints_what_its_comments_say(tmp_path):
    """The snippet's comment showed results that the verbatim run did not print. It runs here as written, on the
    bundled photo (photo.jpg), a crop of it (face.png) and the demo clip (clip.mp4), and every ``print(...)  # X``
    line's comment must be what it printed."""
    import re
    import shutil

    import cv2

    text = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    photo = cv2.imread(str(ROOT / "tests" / "fixtures" / "astronaut_nasa_512.png"))
    cv2.imwrite(str(tmp_path / "photo.jpg"), photo)
    cv2.imwrite(str(tmp_path / "face.png"), photo[100:400, 150:400])
    shutil.copy(find_shared("media/face1_emotions_pexels_640x480.mp4"), tmp_path / "clip.mp4")
    (tmp_path / "snippet.py").write_text(snippet)
    run = subprocess.run([sys.executable, "snippet.py"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    said = [line.split("#", 1)[1].split("   (")[0].strip() for line in snippet.splitlines() if line.startswith("print(")]
    assert said and run.stdout.splitlines() == said, (run.stdout, said)
