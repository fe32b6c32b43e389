"""Image files as users hand them over: phone photos stored sideways, every format OpenCV decodes, and paths that are
not images at all."""

from __future__ import annotations

import os
import re
import struct
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_ferlite

from ferlite.core.errors import DataError
from ferlite.runtime.image import decode_image, image_size_from_header, read_image

FIXTURE = Path(__file__).parent / "fixtures" / "astronaut_nasa_512.png"


def exif_jpeg(pixels: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``pixels`` with an EXIF APP1 segment that holds only the Orientation tag (0x0112)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    jpeg = cv2.imencode(".jpg", np.ascontiguousarray(pixels), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def stored_as(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores for ``upright`` with EXIF ``orientation``: the inverse of what a viewer applies."""
    return {
        1: upright,
        2: upright[:, ::-1],
        3: upright[::-1, ::-1],
        4: upright[::-1],
        5: upright.transpose(1, 0, 2),
        6: cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE),
        7: upright[::-1, ::-1].transpose(1, 0, 2),
        8: cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE),
    }[orientation]


def test_every_exif_orientation_is_read_upright_with_boxes_in_upright_pixels(tmp_path):
    """A phone's portrait photo is stored sideways with orientation 6: read as stored, the astronaut was neutral (happy
    0.05) with the box in the wrong place; upright she is happy."""
    from ferlite.runtime import Recognizer

    upright = cv2.imread(str(FIXTURE))[:, 40:440]  # not square, so a wrong turn shows in the shape too
    rec = Recognizer(threads=1)
    reference = rec.predict(upright)
    assert len(reference) == 1 and reference.label[0] == "happy"
    for orientation in range(1, 9):
        path = tmp_path / f"orientation_{orientation}.jpg"
        path.write_bytes(exif_jpeg(stored_as(upright, orientation), orientation))
        image = read_image(path)
        assert image.shape == upright.shape, orientation
        assert np.abs(image.astype(int) - upright).mean() < 5, orientation
        faces = rec.predict(path)
        assert len(faces) == 1 and faces.label[0] == "happy", (orientation, faces.to_dicts())
        assert np.abs(faces.xyxy[0] - reference.xyxy[0]).max() < 6, (orientation, faces.xyxy, reference.xyxy)


def encodable_formats() -> list[str]:
    """Every extension this OpenCV build both writes and reads (EXR is off unless OPENCV_IO_ENABLE_OPENEXR is set)."""
    found = []
    for ext in (
        ".png",
        ".jpg",
        ".bmp",
        ".tiff",
        ".webp",
        ".jp2",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pam",
        ".pfm",
        ".sr",
        ".hdr",
        ".avif",
        ".gif",
    ):
        try:
            ok, buf = cv2.imencode(
                ext, np.zeros((120, 160, 3), np.uint8) if ext not in (".pgm", ".pbm") else np.zeros((120, 160), np.uint8)
            )
        except cv2.error:
            continue
        if ok and cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) is not None:
            found.append(ext)
    return found


def test_the_pixel_cap_holds_for_every_format_opencv_decodes():
    """OpenCV's own cap is read when OpenCV loads, so a module that imported it first left it at 2^30 pixels, and the
    header check read only five formats: a 1 MB TIFF of 20000x20000 cost 1.66 GB. Now every format's header is read,
    and data whose header is not is never decoded."""
    formats = encodable_formats()
    assert {".png", ".jpg", ".tiff", ".webp", ".jp2", ".pgm", ".hdr"} <= set(formats)
    for ext in formats:
        image = np.zeros((120, 160, 3), np.uint8) if ext not in (".pgm", ".pbm") else np.zeros((120, 160), np.uint8)
        if ext in (".pfm", ".hdr"):
            image = image.astype(np.float32)
        data = cv2.imencode(ext, image)[1].tobytes()
        assert image_size_from_header(data) == (160, 120), ext
        assert decode_image(data, ext).shape[:2] == (120, 160), ext
        with pytest.raises(DataError, match=r"160x120 pixels is over the cap of 10,000"):
            decode_image(data, ext, max_pixels=10_000)
        with pytest.raises(DataError, match="not a readable image"):  # a header cut short is refused, not guessed
            decode_image(data[:7], ext)


def test_a_tiff_bomb_is_refused_from_its_header_by_the_cli_whatever_imported_opencv_first(tmp_path):
    """The issue's reproduction, at 8000x8000 (64 Mpx, over the 40 Mpx cap) to keep the test quick: ferlite predict
    decoded it whole before."""
    bomb = tmp_path / "bomb.tif"
    cv2.imwrite(str(bomb), np.zeros((8000, 8000), np.uint8), [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    with pytest.raises(DataError, match="8000x8000 pixels is over the cap"):
        read_image(bomb)
    assert tracemalloc.get_traced_memory()[1] < 20_000_000
    tracemalloc.stop()
    proc = run_ferlite("predict", bomb, timeout=60)
    assert proc.returncode == 1 and "8000x8000 pixels is over the cap" in proc.stderr and "Traceback" not in proc.stderr


def test_paths_that_are_not_images_name_their_real_problem(tmp_path):
    """`predict photos/` said "file not found"; a broken symlink in a folder was skipped without a word."""
    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "a.png"), cv2.imread(str(FIXTURE)))
    os.symlink(tmp_path / "gone.png", tmp_path / "photos" / "broken.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    cases = {
        tmp_path / "photos": "is a folder, not an image (ferlite analyze reads folders)",
        tmp_path / "photos" / "broken.png": "broken symbolic link",
        tmp_path / "missing.png": "no such image",
        tmp_path / "empty.jpg": "empty file, not an image",
    }
    for path, message in cases.items():
        with pytest.raises(DataError, match=re.escape(message)):
            read_image(path)
    proc = run_ferlite("predict", tmp_path / "photos", timeout=60)
    assert proc.returncode == 1 and "is a folder" in proc.stderr and "not found" not in proc.stderr
    table = tmp_path / "t.csv"
    proc = run_ferlite("analyze", tmp_path / "photos", "-o", table, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "broken.png: broken symbolic link" in proc.stderr and "Traceback" not in proc.stderr


def test_video_sources_name_their_real_problem(tmp_path):
    """`watch photos/` said "video file not found", and `watch 0` without a camera "cannot open as a video"."""
    from ferlite.runtime import FrameSource

    with pytest.raises(DataError, match="is a folder, not a video"):
        FrameSource(tmp_path)
    (tmp_path / "junk.mp4").write_bytes(b"\0" * 1000)
    with pytest.raises(DataError, match="not a readable video"):
        FrameSource(tmp_path / "junk.mp4")
    proc = run_ferlite("watch", "97", "--show", "no", timeout=60)
    assert proc.returncode != 0 and "camera 97: no camera answers at this index" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_annotated_jpeg_stays_a_jpeg(tmp_path):
    """A 1.6 MB JPEG's annotated copy was a 10.3 MB PNG."""
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(cv2.imencode(".jpg", cv2.imread(str(FIXTURE)), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
    proc = run_ferlite("predict", photo, FIXTURE, "--annotate", tmp_path / "out", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut_ferlite.jpg", "astronaut_nasa_512_ferlite.png"]
    annotated = tmp_path / "out" / "astronaut_ferlite.jpg"
    assert annotated.read_bytes()[:2] == b"\xff\xd8" and annotated.stat().st_size < 2 * photo.stat().st_size


def test_pil_images_are_read_as_rgb_and_upright():
    """`predict` refused PIL images; PIL's pixels are RGB where ferlite's arrays are BGR."""
    from PIL import Image

    from ferlite.runtime import Recognizer

    upright = cv2.imread(str(FIXTURE))[:, 40:440]
    pil = Image.fromarray(cv2.cvtColor(upright, cv2.COLOR_BGR2RGB))
    faces = Recognizer(threads=1).predict(pil)
    assert len(faces) == 1 and faces.label[0] == "happy"
    sideways = Image.open(__import__("io").BytesIO(exif_jpeg(stored_as(upright, 6), 6)))
    turned = Recognizer(threads=1).predict(sideways)
    assert turned.label[0] == "happy" and np.abs(turned.xyxy[0] - faces.xyxy[0]).max() < 8


def test_version_names_the_terms_of_every_bundled_model():
    proc = run_ferlite("--version", timeout=60)
    assert proc.returncode == 0
    assert "model default: non-commercial research use only" in proc.stdout
    assert "model accurate: non-commercial research use only" in proc.stdout and "model fer2013: research use" in proc.stdout


def test_help_lists_the_runtime_commands_before_training():
    out = run_ferlite("--help", timeout=60).stdout
    commands = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and not line.startswith("     ")]
    assert commands.index("predict") == 0 and commands.index("watch") < commands.index("train") < commands.index("federate")


def test_output_folders_that_are_files_are_one_line(tmp_path):
    """`serve --static-only` onto a file or a link to one, and `personalize --out EXISTING_FILE`, were tracebacks."""
    target = tmp_path / "file.txt"
    target.write_text("x")
    os.symlink(target, tmp_path / "link")
    faces = tmp_path / "me" / "happy"
    faces.mkdir(parents=True)
    cv2.imwrite(str(faces / "a.png"), cv2.imread(str(FIXTURE)))
    for args in (
        ("serve", "--static-only", target),
        ("serve", "--static-only", tmp_path / "link"),
        ("personalize", "--faces", tmp_path / "me", "--out", target),
    ):
        proc = run_ferlite(*args, timeout=120)
        assert proc.returncode == 2 and "is a file, not a folder to write into" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert target.read_text() == "x"
