"""The web app: the WebSocket protocol and its limits, and the real page in headless Chromium with a fake camera."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import free_port, serve_page
from fastapi.testclient import TestClient

from ferlite.apps.web.app import create_app
from ferlite.apps.web.headless import open_chromium
from ferlite.core.paths import find_shared
from ferlite.runtime import FrameSource, Recognizer
from ferlite.runtime.video import video_to_y4m

pytestmark = [pytest.mark.needs_shared, pytest.mark.browser]

FACE1 = find_shared("media/face1_emotions_pexels_640x480.mp4")
WS = "ws://127.0.0.1/ws"  # the TestClient names its own host for WebSockets; the server answers to local names only


@pytest.fixture(scope="module")
def client():
    app = create_app(Recognizer(threads=1), max_fps=1e6)  # no cap here: the cap has its own test
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def _frame_at(seconds: float) -> bytes:
    source = FrameSource(FACE1)
    for index, frame in source:
        if index >= seconds * source.info.fps:
            return cv2.imencode(".jpg", frame)[1].tobytes()


def test_page_and_health(client):
    page = client.get("/")
    assert page.status_code == 200 and "getUserMedia" not in page.text and 'src="static/app.js"' in page.text
    assert "getUserMedia" in client.get("/static/app.js").text
    health = client.get("/health").json()
    assert health["labels"] == list(Recognizer().labels) and health["model"] == "emotion_default.int8.onnx"
    assert health["terms"].startswith("non-commercial research use only")  # nobody uses it without being told


def test_websocket_answers_real_frames_with_emotions(client):
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["max_bytes"] > 0
        ws.send_bytes(_frame_at(13.0))
        reply = ws.receive_json()
        assert reply["type"] == "faces" and len(reply["faces"]) == 1
        assert reply["faces"][0]["label"] == "happy" and reply["faces"][0]["tracker_id"] >= 1


def test_a_viewers_corrections_personalize_only_their_own_stream(client):
    """Keys 1-8 send {"type": "correct", "label": ...}: the largest face of the last frame is learned for this visit;
    with two classes learned, that client's scores move toward them, and another client's do not."""
    smiling, crying = _frame_at(13.0), _frame_at(1.0)
    with client.websocket_connect(WS) as me, client.websocket_connect(WS) as other:
        me.receive_json(), other.receive_json()
        me.send_text('{"type": "correct", "label": "happy"}')
        assert me.receive_json() == {"type": "error", "message": "no face in the last frame to correct"}
        me.send_bytes(crying)
        me.receive_json()
        me.send_text('{"type": "correct", "label": "bored"}')
        assert "unknown class 'bored'" in me.receive_json()["message"]
        me.send_text('{"type": "correct", "label": "angry"}')  # a deliberate "mistake": the crying face is angry
        assert me.receive_json() == {"type": "personalized", "label": "angry", "examples": 1, "active": False}
        me.send_bytes(smiling)
        me.receive_json()
        me.send_text('{"type": "correct", "label": "happy"}')
        assert me.receive_json()["active"] is True
        for ws in (me, other):
            ws.send_bytes(crying)
        mine, theirs = me.receive_json()["faces"][0], other.receive_json()["faces"][0]
        assert mine["scores"]["angry"] > theirs["scores"]["angry"] + 0.2 and mine["label"] == "angry", (mine, theirs)


def test_malformed_and_oversized_messages_get_errors_and_the_server_keeps_serving(client):
    with client.websocket_connect(WS) as bad, client.websocket_connect(WS) as good:
        bad.receive_json(), good.receive_json()
        bad.send_text("hello?")
        assert "binary" in bad.receive_json()["message"]
        bad.send_bytes(b"\x00garbage" * 10)
        assert "not a decodable" in bad.receive_json()["message"]
        bad.send_bytes(b"x" * 2_000_001)
        assert "over the limit" in bad.receive_json()["message"]
        huge = cv2.imencode(".png", np.zeros((1500, 2000, 3), np.uint8))[1].tobytes()
        bad.send_bytes(huge)
        assert "larger than" in bad.receive_json()["message"]
        good.send_bytes(_frame_at(13.0))
        assert good.receive_json()["type"] == "faces"
        bad.send_bytes(_frame_at(13.0))  # the erring client itself is still served
        assert bad.receive_json()["type"] == "faces"


def test_frame_rate_is_capped_per_client():
    app = create_app(Recognizer(threads=1), max_fps=2)
    with TestClient(app, base_url="http://127.0.0.1") as c, c.websocket_connect(WS) as ws:
        ws.receive_json()
        frame = _frame_at(13.0)
        ws.send_bytes(frame)
        assert ws.receive_json()["type"] == "faces"
        ws.send_bytes(frame)
        assert "too many frames" in ws.receive_json()["message"]


def test_real_page_in_headless_chromium_shows_happy_while_she_smiles(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    y4m = tmp_path / "smiling.y4m"
    video_to_y4m(FACE1, y4m, 10.0, 16.0)  # the smiling segment (shared/media/README.md)
    port = free_port()
    server = serve_page(port)
    driver = None
    try:
        driver = open_chromium(y4m)
        driver.get(f"http://127.0.0.1:{port}/?mode=server")  # the server mode (on-device: test_web_on_device.py)
        body = driver.find_element(By.TAG_NAME, "body")
        assert driver.switch_to.active_element.get_attribute("id") == "start"  # keyboard-ready on load
        driver.switch_to.active_element.send_keys("c")  # the advertised keys work at once, focus on the button
        assert not driver.find_element(By.ID, "caption").is_displayed()
        driver.switch_to.active_element.send_keys("c")
        assert driver.find_element(By.ID, "caption").is_displayed()
        first = driver.execute_script("return document.querySelector('a[href], button, input, [tabindex]').className")
        assert first == "skip"  # the skip link comes first
        contrast = driver.execute_script(
            """const lum = (hex) => { const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
                 .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
               return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
               return Object.fromEntries(Object.entries(COLORS).map(([k, v]) => [k, (lum(v) + 0.05) / 0.05]));"""
        )
        assert min(contrast.values()) >= 4.5, contrast  # every label colour on the black behind it
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico").status == 200
        driver.execute_script(
            """window.captionChanges = 0;
               new MutationObserver(() => window.captionChanges++).observe(
                 document.getElementById('caption'), {childList: true, characterData: true, subtree: true});"""
        )
        driver.switch_to.active_element.send_keys(Keys.ENTER)  # keyboard only: no mouse
        deadline, captions = time.time() + 60, []
        while time.time() < deadline:
            captions.append(driver.find_element(By.ID, "caption").text)
            if body.get_attribute("data-mood") == "happy" and captions[-1] == "Person 1: happy":
                break
            time.sleep(0.5)
        assert captions[-1] == "Person 1: happy", captions[-10:]
        changes = driver.execute_script("return window.captionChanges")
        time.sleep(5)  # she keeps smiling: the aria-live caption must not be rewritten (announced) again and again
        assert driver.execute_script("return window.captionChanges") - changes <= 2
        assert body.get_attribute("data-mood") == "happy"  # the emotion-aware theme followed
        size = driver.execute_script("return getComputedStyle(document.getElementById('caption')).fontSize")
        assert float(size.rstrip("px")) >= 32  # large captions
        shot = Path(os.environ.get("FERLITE_SCREENSHOT_DIR", tmp_path)) / "serve_page.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        body.send_keys("c")
        assert not driver.find_element(By.ID, "caption").is_displayed()  # captions toggle from the keyboard
        body.send_keys("2")  # "this face is <the second label>": a correction, learned by the server for this visit
        second = driver.execute_script("return state.labels[1]")
        deadline = time.time() + 10
        while time.time() < deadline and "Learned" not in driver.find_element(By.ID, "personal").text:
            time.sleep(0.2)
        assert f"Learned: this face is {second} (1 correction(s)" in driver.find_element(By.ID, "personal").text
    finally:
        if driver:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with almost no data: a decompression bomb's shape."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_an_image_bomb_is_refused_from_its_header_and_the_server_keeps_serving(client):
    import time

    with client.websocket_connect(WS) as ws:
        assert ws.receive_json()["type"] == "hello"
        start = time.perf_counter()
        ws.send_bytes(_png_bomb(30000, 30000))
        reply = ws.receive_json()
        assert reply["type"] == "error" and "30000x30000" in reply["message"] and time.perf_counter() - start < 2
        ws.send_bytes(_frame_at(12.0))
        assert ws.receive_json()["type"] == "faces"


def test_foreign_hosts_and_origins_are_refused(client):
    from starlette.websockets import WebSocketDisconnect

    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    with (
        pytest.raises(WebSocketDisconnect) as e,
        client.websocket_connect(WS, headers={"origin": "https://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert e.value.code == 1008
    with client.websocket_connect(WS, headers={"origin": "http://127.0.0.1"}) as ws:  # the server's own page
        assert ws.receive_json()["type"] == "hello"


def test_concurrent_clients_are_capped():
    from starlette.websockets import WebSocketDisconnect

    app = create_app(Recognizer(threads=1), max_clients=1)
    with TestClient(app, base_url="http://127.0.0.1") as c, c.websocket_connect(WS) as first:
        assert first.receive_json()["type"] == "hello"
        with pytest.raises(WebSocketDisconnect) as e, c.websocket_connect(WS) as second:
            second.receive_json()
        assert e.value.code == 1013


def test_rest_predict_and_analyze_with_an_api_key(tmp_path):
    photo = (Path(__file__).parent / "fixtures" / "astronaut_nasa_512.png").read_bytes()
    app = create_app(Recognizer(threads=1), api_key="s3cret", max_upload_bytes=3_000_000)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.post("/v1/predict", files={"files": ("a.png", photo)}).status_code == 401
        key = {"X-API-Key": "s3cret"}
        r = c.post("/v1/predict", files={"files": ("a.png", photo)}, headers=key)
        assert r.status_code == 200, r.text
        (body,) = r.json()["images"]
        assert (body["width"], body["height"]) == (512, 512) and body["faces"][0]["label"] == "happy"
        assert body["source"] == "a.png" and r.json()["model"] == "emotion_default.int8.onnx"
        clip = FACE1.read_bytes()  # 1.3 MB
        r = c.post("/v1/analyze", files=[("files", ("a.png", photo)), ("files", ("b.png", photo))], headers=key)
        assert r.status_code == 200 and [row["source"] for row in r.json()["rows"]] == ["a.png", "b.png"]
        r = c.post("/v1/analyze", files=[("files", ("clip.mp4", FACE1.read_bytes()))], headers=key)
        assert r.status_code == 200 and len({row["frame"] for row in r.json()["rows"]}) == 472
        # A file it cannot read was dropped without a word; now it is named beside the rows of the others.
        r = c.post("/v1/analyze", files=[("files", ("a.png", photo)), ("files", ("bad.jpg", b"junk" * 10))], headers=key)
        assert r.status_code == 200 and [row["source"] for row in r.json()["rows"]] == ["a.png"]
        assert [e["file"] for e in r.json()["errors"]] == ["bad.jpg"] and "not a readable image" in r.json()["errors"][0]["error"]
        assert c.post("/v1/predict", files={"files": ("x.png", b"junk")}, headers=key).status_code == 422
        assert c.post("/v1/predict", files={"files": ("x.png", _png_bomb(30000, 30000))}, headers=key).status_code == 422
        assert c.post("/v1/analyze", files=[("files", ("big.mp4", clip * 3))], headers=key).status_code == 413
        assert c.get("/docs", headers=key).status_code == 200 and "/v1/predict" in c.get("/openapi.json", headers=key).text


def test_the_api_key_covers_everything_but_the_page_itself():
    """With --api-key, /ws answered `hello`, and /models/*, /docs and /health gave 200, without the key."""
    from starlette.websockets import WebSocketDisconnect

    app = create_app(Recognizer(threads=1), api_key="s3cret")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        for path in ("/", "/static/app.js", "/favicon.svg"):
            assert c.get(path).status_code == 200, path
        for path in ("/health", "/config.json", "/models/emotion.onnx", "/docs", "/openapi.json"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200, path
            assert c.get(path + "?key=s3cret").status_code == 200, path
            assert c.get(path + "?key=wrong").status_code == 401, path
        with pytest.raises(WebSocketDisconnect) as e, c.websocket_connect(WS) as ws:
            ws.receive_json()
        assert e.value.code == 1008
        with c.websocket_connect(WS + "?key=s3cret") as ws:  # the page passes on its own ?key=
            assert ws.receive_json()["type"] == "hello"


def test_rest_calls_from_another_sites_page_are_refused(client):
    """Any web page could make a local server decode its images or tie up the one inference worker with videos."""
    photo = (Path(__file__).parent / "fixtures" / "astronaut_nasa_512.png").read_bytes()
    evil = client.post("/v1/predict", files={"files": ("a.png", photo)}, headers={"origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["detail"] == "origin not allowed"
    own = client.post("/v1/predict", files={"files": ("a.png", photo)}, headers={"origin": "http://127.0.0.1"})
    assert own.status_code == 200 and own.json()["images"][0]["faces"][0]["label"] == "happy"


def test_an_upload_over_the_cap_is_refused_before_it_is_read():
    """A 200 MB upload was read whole before its 413. Declared or streamed, it now stops at the cap (a real server and
    socket: the test client would read a streamed body whole before sending it)."""
    import socket

    app = create_app(Recognizer(threads=1), max_upload_bytes=1_000_000)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        declared = c.post("/v1/predict", content=b"\0" * 3_000_000, headers={"content-type": "multipart/form-data; boundary=x"})
        assert declared.status_code == 413 and "over the limit of 1000000 bytes" in declared.text
    port = free_port()
    server = serve_page(port, "--max-upload-bytes", "1000000")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            head = (
                "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n\r\n"
            )
            part = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
            s.sendall(head.encode() + b"%x\r\n" % len(part) + part + b"\r\n")
            sent, answer = 0, b""
            s.settimeout(0.05)
            while sent < 200 and not answer:  # up to 200 MB, 1 MB a chunk, until the server answers
                try:
                    s.sendall(b"%x\r\n" % 1_000_000 + b"\0" * 1_000_000 + b"\r\n")
                    sent += 1
                    answer = s.recv(200)
                except (TimeoutError, BlockingIOError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
            s.settimeout(10)
            answer = answer or s.recv(200)
            answer += s.recv(2000)
        assert answer.startswith(b"HTTP/1.1 413") and sent < 20, (answer, sent)
    finally:
        server.terminate()
        server.wait()


def test_idle_websockets_are_closed():
    """Eight idle sockets held every client slot and locked the real page out."""
    from starlette.websockets import WebSocketDisconnect

    app = create_app(Recognizer(threads=1), idle_timeout=0.5)
    with TestClient(app, base_url="http://127.0.0.1") as c, c.websocket_connect(WS) as ws:
        assert ws.receive_json()["type"] == "hello"
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 1001


def test_a_client_slower_than_the_header_timeout_is_disconnected():
    """Headers left unfinished for 70 s kept the socket open; the server now closes it after HEADER_TIMEOUT_S."""
    import socket

    from ferlite.apps.web.guard import HEADER_TIMEOUT_S

    port = free_port()
    server = serve_page(port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S + 20) as slow:
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            start = time.monotonic()
            assert slow.recv(100) == b""  # closed by the server
            assert time.monotonic() - start < HEADER_TIMEOUT_S + 5
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as ok:  # others are still served
            assert ok.status == 200
    finally:
        server.terminate()
        server.wait()


def test_serve_names_bad_tls_files_in_one_line(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    proc = subprocess.run(
        [sys.executable, "-m", "ferlite", "serve", "--ssl-certfile", cert, "--ssl-keyfile", key, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "not a PEM certificate and its private key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_beyond_localhost_needs_an_api_key(capsys):
    from ferlite.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "8799"]) == 2
    assert "--api-key" in capsys.readouterr().err
