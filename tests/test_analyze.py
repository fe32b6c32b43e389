"""ferlite analyze: photos, folders, globs and videos into one table, in the format the extension names."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ferlite.paths import find_shared

FIXTURES = Path(__file__).parent / "fixtures"
EVENT = "media/faces_multi_event_ccby_640x480.mp4"  # 90 frames, 4 to 5 faces


def _ferlite(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ferlite", *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    (root / "photos" / "sub").mkdir(parents=True)
    shutil.copy(FIXTURES / "astronaut_nasa_512.png", root / "photos" / "astronaut.png")
    shutil.copy(FIXTURES / "astronaut_nasa_512.png", root / "photos" / "sub" / "again.png")
    (root / "photos" / "blank.png").write_bytes(
        __import__("cv2").imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    )
    (root / "photos" / "notes.txt").write_text("not an image")
    return root


def test_analyze_writes_a_row_per_face_and_keeps_faceless_inputs(inputs, tmp_path):
    out = tmp_path / "t.csv"
    proc = _ferlite("analyze", inputs / "photos", find_shared(EVENT), "-o", out, "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out)))
    photos = [r for r in rows if r["source"].endswith(".png")]
    assert sorted(Path(r["source"]).name for r in photos) == ["again.png", "astronaut.png", "blank.png"]  # recursive
    blank = next(r for r in photos if r["source"].endswith("blank.png"))
    assert blank["face"] == "" and blank["label"] == "" and blank["happy"] == ""  # kept, with empty face columns
    astronaut = next(r for r in photos if r["source"].endswith("astronaut.png"))
    assert astronaut["label"] == "happy" and astronaut["model"] == "emotion_default.int8.onnx" and astronaut["ferlite_version"]
    labels = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"]
    assert abs(sum(float(astronaut[c]) for c in labels) - 1) < 1e-3
    video = [r for r in rows if r["source"].endswith(".mp4")]
    assert {int(r["frame"]) for r in video} == set(range(90))  # every frame has at least one row
    assert all(r["track_id"] != "" for r in video if r["face"] != "")
    assert float(video[-1]["time_s"]) == pytest.approx(89 / 29.97, abs=0.01)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_analyze_json_formats_follow_the_extension(inputs, tmp_path, suffix):
    out = tmp_path / f"t{suffix}"
    proc = _ferlite("analyze", str(inputs / "photos" / "*.png"), "-o", out, "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    rows = json.loads(text) if suffix == ".json" else [json.loads(line) for line in text.splitlines()]
    assert isinstance(rows, list) and {Path(r["source"]).name for r in rows} == {"astronaut.png", "blank.png"}  # the glob


def test_analyze_refuses_an_unknown_format_and_a_missing_input(inputs, tmp_path):
    proc = _ferlite("analyze", inputs / "photos", "-o", tmp_path / "t.xlsx")
    assert proc.returncode == 2 and "unknown table format" in proc.stderr and not (tmp_path / "t.xlsx").exists()
    proc = _ferlite("analyze", tmp_path / "nothing_here", "-o", tmp_path / "t.csv")
    assert proc.returncode == 2 and "nothing_here: no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_python_analyze_and_faces_to_pandas_agree(inputs):
    pd = pytest.importorskip("pandas")
    import ferlite
    from ferlite.runtime import Recognizer

    df = ferlite.analyze(inputs / "photos" / "astronaut.png", threads=1)
    assert isinstance(df, pd.DataFrame) and list(df.label) == ["happy"]
    faces = Recognizer(threads=1).predict(inputs / "photos" / "astronaut.png")
    table = faces.to_pandas()
    assert table.label.tolist() == ["happy"] and table.happy.iloc[0] == pytest.approx(df.happy.iloc[0], abs=1e-4)
    assert json.loads(faces.to_json())[0]["label"] == "happy"
