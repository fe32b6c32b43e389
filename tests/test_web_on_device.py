"""The web page's on-device mode: the runtime's pipeline in JavaScript (static/ferlite.js on onnxruntime-web), in real
headless Chromium, against the Python runtime on the same frames; the live page with a fake camera and no WebSocket;
the static folder of ``ferlite serve --static-only``."""

import base64
import contextlib
import json
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest
from conftest import free_port, run_ferlite, serve_page, wait_for_port

from ferlite.apps.web import on_device_blocker, web_config, write_static_site
from ferlite.apps.web.headless import open_chromium, wait_until_ready
from ferlite.core.paths import find_shared
from ferlite.runtime import FrameSource, Recognizer
from ferlite.runtime.tracker import box_iou
from ferlite.runtime.video import video_to_y4m

pytestmark = [pytest.mark.needs_shared, pytest.mark.browser]

FACE1 = find_shared("media/face1_emotions_pexels_640x480.mp4")
# Frames for parity: one face through six expressions, then the two group clips (several faces, small and turned).
PARITY_CLIPS = {
    "face1_emotions_pexels_640x480.mp4": 20,
    "faces_multi_hikers_ccby_640x480.mp4": 10,
    "faces_multi_event_ccby_640x480.mp4": 5,
}
# Stated tolerances (docs/EDGE.md). The two pipelines crop bit-exactly from the same boxes; the boxes differ in their
# last digits only because YuNet runs on another build of ONNX Runtime (onnxruntime-web in the page), and
# the int8 emotion model turns that into small score differences.
MIN_TOP_LABEL_AGREEMENT = 0.98
MAX_SCORE_DIFFERENCE = 0.1
MIN_BOX_IOU = 0.9


def _parity_frames() -> list[tuple[str, int, np.ndarray]]:
    frames = []
    for name, every in PARITY_CLIPS.items():
        for index, frame in FrameSource(find_shared(f"media/{name}")):
            if index % every == 0:
                frames.append((name, index, frame))
    return frames


def _python_faces(rec: Recognizer, bgr: np.ndarray):
    """What the page's ``analyze`` mirrors: one frame at video's detection size, the confident faces classified."""
    faces = rec.detector.detect(bgr)
    return rec.classify(bgr, faces[faces.confidence >= rec.photo_min_confidence])


ANALYZE = """const [b64, width, height, done] = arguments;
const bytes = Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));
window.ferliteDevice.analyze({ data: bytes, width, height })
  .then((faces) => done(faces.map((f) => ({ box: f.box, confidence: f.confidence, scores: f.scores }))))
  .catch((err) => done({ error: String(err) }));"""


@contextlib.contextmanager
def static_page_on_device(site):
    """``site`` (a folder written by ``serve --static-only``) behind a plain static server (no ferlite behind it),
    open in headless Chromium with the page's on-device recognizer loaded: the driver."""
    port = free_port()
    host = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", site],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    driver = None
    try:
        wait_for_port(port)
        driver = open_chromium()
        driver.set_script_timeout(120)
        driver.get(f"http://127.0.0.1:{port}/")
        assert wait_until_ready(driver) == "Ready: runs on this device."
        loaded = driver.execute_async_script(
            "const done = arguments[0]; loadDevice().then(() => done(state.provider), (e) => done(String(e)));"
        )
        assert loaded.startswith("WebAssembly"), loaded
        yield driver
    finally:
        if driver:
            driver.quit()
        host.terminate()
        host.wait(timeout=10)


def test_web_config_mirrors_the_python_runtime():
    rec = Recognizer(threads=1)
    config = web_config(rec)
    assert config["on_device"] == {"available": True, "reason": None, "onnxruntime_web": "vendor/onnxruntime-web"}
    clf = config["classifier"]
    assert clf["labels"] == list(rec.labels) and clf["input_size"] == rec.classifier.spec.input_size
    assert clf["color_mode"] == rec.classifier.spec.color_mode
    assert clf["temperature"] == pytest.approx(rec.classifier.calibration.temperature) and len(clf["bias"]) == len(rec.labels)
    assert config["detector"]["max_side"] == rec.detector.max_side == 320
    assert config["detector"]["score_threshold"] == pytest.approx(0.4) and config["detector"]["photo_min_confidence"] == 0.7
    assert config["tracker"]["lost_track_buffer"] == rec.tracker.lost_track_buffer
    assert config["smoother"]["smoothing"] == rec.smoother.smoothing
    assert "test-time augmentation none or flip, not shift-flip" in on_device_blocker(Recognizer("fer2013", threads=1))


def test_server_serves_the_models_and_isolates_the_page():
    from fastapi.testclient import TestClient

    from ferlite.apps.web.app import create_app

    rec = Recognizer(threads=1)
    with TestClient(create_app(rec), base_url="http://127.0.0.1") as c:
        page = c.get("/")
        assert page.headers["cross-origin-opener-policy"] == "same-origin"
        assert page.headers["cross-origin-embedder-policy"] == "require-corp"  # WebAssembly threads need both
        assert c.get("/config.json").json()["classifier"]["name"] == "emotion_default.int8.onnx"
        assert c.get("/models/emotion.onnx").content == rec.classifier.model_path.read_bytes()
        assert c.get("/models/yunet.onnx").status_code == 200
        assert c.get("/models/..%2F..%2Fapp.py").status_code == 404 and c.get("/models/other.onnx").status_code == 404
        assert c.get("/static/vendor/onnxruntime-web/ort.wasm.min.mjs").status_code == 200
        assert c.get("/health").json()["connections"] == 0


def test_the_page_gets_the_servers_own_yunet_file_and_none_for_another_detector(tmp_path):
    import onnx

    from ferlite.apps.web import model_files
    from ferlite.runtime.detector import HaarDetector, YuNetDetector, bundled_yunet_path

    model = onnx.load(bundled_yunet_path())
    model.doc_string = "a user's own YuNet file"  # the same network, other bytes
    own = tmp_path / "my_yunet.onnx"
    onnx.save(model, own)
    rec = Recognizer(detector=YuNetDetector(own, score_threshold=0.5), threads=1)
    assert model_files(rec)["models/yunet.onnx"] == own
    site = tmp_path / "site"
    write_static_site(site, rec)
    assert (site / "models" / "yunet.onnx").read_bytes() == own.read_bytes() != bundled_yunet_path().read_bytes()
    assert json.loads((site / "config.json").read_text())["detector"]["score_threshold"] == pytest.approx(0.5)
    haar = Recognizer(detector=HaarDetector(), threads=1)
    assert "models/yunet.onnx" not in model_files(haar) and "YuNet only" in on_device_blocker(haar)


def test_static_only_refuses_a_used_folder_and_a_model_the_browser_cannot_run(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    r = run_ferlite("serve", "--static-only", tmp_path / "used")
    assert r.returncode == 2 and "folder is not empty" in r.stderr and "Traceback" not in r.stderr
    r = run_ferlite("serve", "--static-only", tmp_path / "new", "--model", "fer2013")
    assert r.returncode == 2 and "test-time augmentation" in r.stderr and "Traceback" not in r.stderr


def _as_colour_model(path, out):
    """The file at ``path`` declaring colour input (``rgb``): the page must then crop each of R, G and B as Python
    crops the colour frame. (The network itself was trained gray; only the pipeline is under test.)"""
    import onnx

    model = onnx.load(str(path))
    next(p for p in model.metadata_props if p.key == "ferlite.color_mode").value = "rgb"
    onnx.save(model, str(out))
    return str(out)


# accurate: an ensemble graph (two networks, a Resize); colour: a model that takes colour faces
@pytest.mark.parametrize("model", ["default", "accurate", "colour"])
def test_static_page_runs_the_pipeline_in_the_browser_as_python_does(tmp_path, model):
    """Parity on the same frames: the static folder served by a plain static server (no ferlite behind it), the page's
    on-device recognizer run on each frame's pixels, compared with the Python runtime."""
    if model == "colour":
        model = _as_colour_model(Recognizer(threads=1).classifier.model_path, tmp_path / "colour.onnx")
        assert Recognizer(model, threads=1).classifier.spec.takes_colour
    site = tmp_path / "site"
    r = run_ferlite("serve", "--static-only", site, "--model", model)
    assert r.returncode == 0, r.stderr
    assert json.loads((site / "config.json").read_text())["server"] is False
    assert "non-commercial research" in (site / "models" / "README.md").read_text()  # the model's terms travel with it
    assert "Cross-Origin-Embedder-Policy: require-corp" in (site / "_headers").read_text()
    with static_page_on_device(site) as driver:
        assert not driver.find_element("id", "mode-server").is_displayed()  # no server to run on
        assert "never leave it" in driver.find_element("id", "privacy").text

        rec = Recognizer(model, threads=1)
        labels = list(rec.labels)
        faces_total = agree = 0
        diffs, unmatched = [], []
        for name, index, bgr in _parity_frames():
            rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
            got = driver.execute_async_script(ANALYZE, base64.b64encode(rgba.tobytes()).decode(), bgr.shape[1], bgr.shape[0])
            assert not isinstance(got, dict), got
            want = _python_faces(rec, bgr)
            js_boxes = np.array([f["box"] for f in got], np.float32).reshape(-1, 4)
            iou = box_iou(want.xyxy, js_boxes)
            matched = set()
            for i in range(len(want)):
                j = int(np.argmax(iou[i])) if len(js_boxes) else -1
                if j < 0 or iou[i, j] < MIN_BOX_IOU or j in matched:
                    unmatched.append((name, index, "python", float(want.confidence[i])))
                    continue
                matched.add(j)
                faces_total += 1
                js_scores = np.asarray(got[j]["scores"], np.float32)
                agree += labels[int(np.argmax(js_scores))] == want.label[i]
                diffs.append(float(np.abs(js_scores - want.scores[i]).max()))
            unmatched += [(name, index, "page", got[j]["confidence"]) for j in range(len(got)) if j not in matched]
        assert faces_total >= 150, faces_total  # enough faces for a 98% statement to mean something
        # Same faces found: a face only one side reports sits on the confidence threshold, where the engines' last
        # digits decide.
        assert len(unmatched) <= 0.02 * faces_total and all(abs(c - 0.7) < 0.02 for *_, c in unmatched), unmatched
        assert agree / faces_total >= MIN_TOP_LABEL_AGREEMENT, (agree, faces_total)
        assert max(diffs) <= MAX_SCORE_DIFFERENCE, sorted(diffs)[-5:]
        print(
            f"parity: {faces_total} faces, {len(unmatched)} unmatched, top label {agree / faces_total:.3f}, max score difference {max(diffs):.4f}"
        )


def test_live_page_runs_on_the_device_with_no_websocket(tmp_path):
    """``ferlite serve``'s page picks the on-device mode by itself; with the fake camera showing her smile it says
    happy, learns a correction in the page, and opens no WebSocket (Chromium's own network log, and the server's
    count); every file comes from the server's origin (no CDN)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    y4m = tmp_path / "smiling.y4m"
    video_to_y4m(FACE1, y4m, 10.0, 16.0)  # the smiling segment (shared/media/README.md)
    port = free_port()
    server = serve_page(port)
    driver = None
    origin = f"http://127.0.0.1:{port}"
    try:
        driver = open_chromium(y4m, network_log=True)
        driver.get(origin + "/")
        body = driver.find_element(By.TAG_NAME, "body")
        wait_until_ready(driver)
        assert driver.find_element(By.ID, "mode-device").is_selected()  # the default where the browser can
        assert driver.execute_script("return crossOriginIsolated")  # so WebAssembly may use threads
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        deadline, caption = time.time() + 90, ""
        while time.time() < deadline:
            caption = driver.find_element(By.ID, "caption").text
            if body.get_attribute("data-mood") == "happy" and caption == "Person 1: happy":
                break
            time.sleep(0.5)
        assert caption == "Person 1: happy", (caption, driver.find_element(By.ID, "status").text)
        assert "on this device (WebAssembly" in driver.find_element(By.ID, "status").text
        deadline = time.time() + 30  # one analysis per new camera frame: the fake camera plays at the clip's pace
        while time.time() < deadline and len(driver.execute_script("return window.ferliteStats.frames")) < 10:
            time.sleep(0.5)
        assert len(driver.execute_script("return window.ferliteStats.frames")) >= 10
        assert "never leave it" in driver.find_element(By.ID, "privacy").text
        body.send_keys("2")  # "this face is <the second label>": learned in the page, for this visit
        second = driver.execute_script("return state.labels[1]")
        deadline = time.time() + 20
        while time.time() < deadline and "Learned" not in driver.find_element(By.ID, "personal").text:
            time.sleep(0.2)
        assert f"Learned: this face is {second} (1 correction(s)" in driver.find_element(By.ID, "personal").text
        events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        assert not [e for e in events if e["method"].startswith("Network.webSocket")]
        urls = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
        assert any(u.endswith("/models/emotion.onnx") for u in urls) and any(u.endswith(".wasm") for u in urls)
        assert all(u.startswith((origin, "data:", "blob:")) for u in urls), [u for u in urls if not u.startswith(origin)]
        assert json.loads(urllib.request.urlopen(origin + "/health").read())["connections"] == 0
    finally:
        if driver:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.xdist_group("release")  # shares the build with tests/test_release.py
def test_a_wheel_built_from_a_clean_checkout_carries_the_on_device_page(release, tmp_path):
    """`pip install .` had no on-device page: `serve --static-only` said to run `make web-vendor`, which a pip user
    does not have, and the wheel was 9.7 or 20.7 MB depending on whether that had run. The build now fetches the
    pinned onnxruntime-web and checks its hash (setup.py); the wheel (built from the sdist, as PyPI users get it),
    installed into a fresh environment, writes the page, which runs on the device in Chromium."""
    import zipfile
    from pathlib import Path

    vendor = "ferlite/apps/web/static/vendor/onnxruntime-web"
    names = set(zipfile.ZipFile(release.wheel).namelist())
    assert {f"{vendor}/ort.wasm.min.mjs", f"{vendor}/ort-wasm-simd-threaded.wasm", f"{vendor}/LICENSE"} <= names
    venv = release.venv
    site = tmp_path / "site"
    wrote = subprocess.run(
        [venv / "bin" / "ferlite", "serve", "--static-only", site], capture_output=True, text=True, timeout=300
    )
    assert wrote.returncode == 0, wrote.stderr
    with static_page_on_device(site) as driver:
        rgba = cv2.cvtColor(cv2.imread(str(Path(__file__).parent / "fixtures" / "astronaut_nasa_512.png")), cv2.COLOR_BGR2RGBA)
        faces = driver.execute_async_script(ANALYZE, base64.b64encode(rgba.tobytes()).decode(), 512, 512)
        labels = json.loads((site / "config.json").read_text())["classifier"]["labels"]
        assert len(faces) == 1 and labels[int(np.argmax(faces[0]["scores"]))] == "happy", faces
