"""Every output names a face's fields the same way (ferlite.core.vocabulary): Python had ``tracker_id`` where CSV,
JSONL and REST had ``track_id``; ``/v1/predict`` took ``image`` and nested the box where ``/v1/analyze`` took
``files`` with flat columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import run_ferlite

from ferlite.core.vocabulary import BOX_FIELDS, FACE_FIELDS, UPLOAD_FIELD, WHERE_FIELDS

pytestmark = pytest.mark.needs_shared

PHOTO = Path(__file__).parent / "fixtures" / "astronaut_nasa_512.png"
# Names no output may use any more.
RETIRED = {"track_id", "box", "image"}


def check_face(d: dict) -> None:
    """A face record: the vocabulary's fields (tracker_id only where tracked), nothing retired."""
    assert set(FACE_FIELDS) - {"tracker_id"} <= set(d) and not RETIRED & set(d), sorted(d)


def check_columns(columns) -> None:
    assert list(columns[:11]) == [*WHERE_FIELDS, *FACE_FIELDS] and not RETIRED & set(columns), columns


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from ferlite.core.paths import find_shared

    return find_shared("media/faces_multi_event_ccby_640x480.mp4")


def test_python_faces(clip):
    from ferlite.runtime import FrameSource, Recognizer

    rec = Recognizer(threads=1)
    for d in rec.predict(PHOTO).to_dicts():
        check_face(d)
    _, _, faces = next(iter(rec.stream(FrameSource(clip))))
    assert faces.tracker_id is not None and all("tracker_id" in d for d in faces.to_dicts())
    assert list(faces.to_pandas().columns[:8]) == list(FACE_FIELDS)


@pytest.mark.slow
def test_command_line_outputs(clip, tmp_path):
    proc = run_ferlite("predict", PHOTO, timeout=120)
    record = json.loads(proc.stdout)
    assert "source" in record and not RETIRED & set(record)
    check_face(record["faces"][0])
    assert run_ferlite("watch", clip, "--records", tmp_path / "r.jsonl", "--max-frames", 3, timeout=120).returncode == 0
    for line in (tmp_path / "r.jsonl").read_text().splitlines():
        for d in json.loads(line)["faces"]:
            check_face(d)
            assert "tracker_id" in d
    assert run_ferlite("watch", clip, "--records", tmp_path / "r.csv", "--max-frames", 3, timeout=120).returncode == 0
    check_columns(next(csv.reader(open(tmp_path / "r.csv"))))
    for table in ("t.csv", "t.parquet"):
        assert run_ferlite("analyze", clip, "-o", tmp_path / table, "--no-progress", timeout=300).returncode == 0
    check_columns(next(csv.reader(open(tmp_path / "t.csv"))))
    import pyarrow.parquet as pq

    check_columns(pq.read_schema(tmp_path / "t.parquet").names)
    assert run_ferlite("analyze", PHOTO, "-o", tmp_path / "t.jsonl", "--no-progress", timeout=120).returncode == 0
    check_columns(list(json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])))


def test_rest_and_websocket_outputs(clip):
    from fastapi.testclient import TestClient

    from ferlite.apps.web.app import create_app
    from ferlite.runtime import Recognizer

    photo = PHOTO.read_bytes()
    with TestClient(create_app(Recognizer(threads=1), max_fps=1e6), base_url="http://127.0.0.1") as c:
        for route in ("/v1/predict", "/v1/analyze"):
            r = c.post(route, files=[(UPLOAD_FIELD, ("a.png", photo))])
            assert r.status_code == 200, (route, r.text)
        predicted = c.post("/v1/predict", files=[(UPLOAD_FIELD, ("a.png", photo))]).json()["images"][0]
        assert predicted["source"] == "a.png" and not RETIRED & set(predicted)
        check_face(predicted["faces"][0])
        rows = c.post("/v1/analyze", files=[(UPLOAD_FIELD, ("a.png", photo))]).json()["rows"]
        check_columns(list(rows[0]))
        with c.websocket_connect("ws://127.0.0.1/ws") as ws:
            ws.receive_json()
            ws.send_bytes(__import__("cv2").imencode(".jpg", __import__("cv2").imread(str(PHOTO)))[1].tobytes())
            reply = ws.receive_json()
        check_face(reply["faces"][0])
        assert "tracker_id" in reply["faces"][0]


def test_the_page_draws_from_the_vocabulary():
    """The page's own messages (on-device mode) and its drawing use the same names as the server's."""
    page = (Path(__file__).parents[1] / "src" / "ferlite" / "apps" / "web" / "static" / "app.js").read_text()
    assert "track_id" not in page and "f.tracker_id" in page and "{ x1, y1, x2, y2 } = f" in page


def test_mood_export(tmp_path, clip):
    db = tmp_path / "m.db"
    assert run_ferlite("mood", "record", clip, "--db", db, timeout=300).returncode == 0
    assert run_ferlite("mood", "report", db, "--out", tmp_path / "rep", timeout=300).returncode == 0
    header = next(csv.reader(open(tmp_path / "rep" / "samples.csv")))
    assert "tracker_id" in header and not RETIRED & set(header)


def test_box_fields_are_the_tables():
    assert BOX_FIELDS == ("x1", "y1", "x2", "y2") and UPLOAD_FIELD == "files"
